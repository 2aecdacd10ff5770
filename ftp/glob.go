package ftp

import (
	"context"
	"iter"
	"path"
	"strings"

	"github.com/bucketftp/bucketftp/storage"
)

// Wildcards in NLST, LIST and STAT, as vsftpd and ProFTPD expand them for
// clients' mget and mdelete: *, ? and [...] (with \ to escape) in the last
// component of the path only. An existing file or directory of that exact
// name always wins, so a real name with * or [ stays reachable.
//
// Matching is path.Match, which tries each star at most once per name
// position (no backtracking across stars), so its cost is bounded by the
// lengths of the pattern (at most 255 bytes) and the name.

// isPattern reports whether name has an unescaped *, ? or [, or an escaped
// one ("star\\*.txt" names the file "star*.txt").
func isPattern(name string) bool {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			if i+1 < len(name) && strings.IndexByte(`*?[]\`, name[i+1]) >= 0 {
				return true
			}
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// shellPattern turns the shell's negated class "[!...]" into path.Match's
// "[^...]"; clients' users type the shell's.
func shellPattern(pattern string) string {
	if !strings.Contains(pattern, "[!") {
		return pattern
	}
	b := []byte(pattern)
	for i := 0; i < len(b)-1; i++ {
		switch {
		case b[i] == '\\':
			i++
		case b[i] == '[' && b[i+1] == '!':
			b[i+1] = '^'
		}
	}
	return string(b)
}

// validPattern reports whether pattern is well-formed ("[[[" is not).
func validPattern(pattern string) bool {
	_, err := path.Match(pattern, "")
	return err == nil
}

// literalPrefix is the part of pattern before its first wildcard, with
// escapes removed: every match starts with it, so a store can list from it.
func literalPrefix(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?', '[':
			return b.String()
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteByte(pattern[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// globTarget says what a listing argument names when the exact path does
// not exist: a pattern in dir. ok is false when arg is no pattern, or one
// in an earlier component (not supported: taken as a name).
func globTarget(p string) (dir, pattern string, ok bool) {
	dir, pattern = path.Dir(p), shellPattern(path.Base(p))
	if p == "/" || !isPattern(pattern) || !validPattern(pattern) || isPattern(dir) {
		return "", "", false
	}
	return dir, pattern, true
}

// argDir is the directory part of a listing argument as the client gave
// it ("sub/" of "sub/*.csv"), which NLST puts before each matching name so
// that the names can be used in RETR as they are.
func argDir(arg string) string {
	if i := strings.LastIndex(arg, "/"); i >= 0 {
		return arg[:i+1]
	}
	return ""
}

// matching lists the entries of dir whose names match pattern. The store
// lists only from the pattern's literal prefix when it can.
func matching(ctx context.Context, fs storage.Backend, dir, pattern string) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		for e, err := range storage.ListFrom(ctx, fs, dir, literalPrefix(pattern)) {
			if err != nil {
				yield(e, err)
				return
			}
			if ok, _ := path.Match(pattern, e.Name); ok && !yield(e, nil) {
				return
			}
		}
	}
}
