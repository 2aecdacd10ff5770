package ftp

import (
	"fmt"
	"strings"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage"
)

// lsLine renders an entry as `ls -l` does, the form FTP clients parse.
func lsLine(e storage.Entry, now time.Time) string {
	mode := "-rw-r--r--"
	if e.IsDir {
		mode = "drwxr-xr-x"
	}
	t := e.ModTime
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	t = t.UTC()
	stamp := t.Format("Jan _2 15:04")
	if age := now.Sub(t); age > 182*24*time.Hour || age < -time.Hour {
		stamp = t.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s 1 ftp ftp %12d %s %s", mode, e.Size, stamp, e.Name)
}

// factSet is the MLST/MLSD facts a session asked for (RFC 3659 7.9).
type factSet uint8

const (
	factType factSet = 1 << iota
	factSize
	factModify
	factPerm

	defaultFacts = factType | factSize | factModify | factPerm
)

var factNames = []struct {
	name string
	f    factSet
}{{"type", factType}, {"size", factSize}, {"modify", factModify}, {"perm", factPerm}}

func parseFacts(s string) factSet {
	var f factSet
	for _, part := range strings.Split(s, ";") {
		for _, fn := range factNames {
			if strings.EqualFold(strings.TrimSpace(part), fn.name) {
				f |= fn.f
			}
		}
	}
	return f
}

func (f factSet) String() string {
	var b strings.Builder
	for _, fn := range factNames {
		if f&fn.f != 0 {
			b.WriteString(fn.name + ";")
		}
	}
	return b.String()
}

// featMLST is FEAT's MLST line: every fact, '*' marking those enabled.
func featMLST(enabled factSet) string {
	var b strings.Builder
	b.WriteString("MLST ")
	for _, fn := range factNames {
		b.WriteString(fn.name)
		if enabled&fn.f != 0 {
			b.WriteString("*")
		}
		b.WriteString(";")
	}
	return b.String()
}

// mlsxLine renders one RFC 3659 fact line, without the leading space.
func mlsxLine(e storage.Entry, typ string, facts factSet, perms auth.Permission) string {
	var b strings.Builder
	if facts&factType != 0 {
		b.WriteString("type=" + typ + ";")
	}
	if facts&factSize != 0 && !e.IsDir {
		fmt.Fprintf(&b, "size=%d;", e.Size)
	}
	if facts&factModify != 0 && !e.ModTime.IsZero() {
		b.WriteString("modify=" + formatMDTM(e.ModTime) + ";")
	}
	if facts&factPerm != 0 {
		b.WriteString("perm=" + permFact(e.IsDir, perms) + ";")
	}
	b.WriteString(" ")
	b.WriteString(e.Name)
	return b.String()
}

// permFact is the perm fact (RFC 3659 7.5.5) for the user's permissions.
func permFact(dir bool, p auth.Permission) string {
	var b strings.Builder
	add := func(ok bool, c string) {
		if ok {
			b.WriteString(c)
		}
	}
	if dir {
		add(true, "e")
		add(p.Has(auth.PermList), "l")
		add(p.Has(auth.PermWrite), "c")
		add(p.Has(auth.PermMkdir), "m")
		add(p.Has(auth.PermDelete), "d")
		add(p.Has(auth.PermRename), "f")
		add(p.Has(auth.PermDelete), "p")
		return b.String()
	}
	add(p.Has(auth.PermWrite), "a")
	add(p.Has(auth.PermDelete), "d")
	add(p.Has(auth.PermRename), "f")
	add(p.Has(auth.PermRead), "r")
	add(p.Has(auth.PermWrite|auth.PermOverwrite), "w")
	return b.String()
}

// formatMDTM renders a time as RFC 3659's YYYYMMDDHHMMSS, in UTC.
func formatMDTM(t time.Time) string { return t.UTC().Format("20060102150405") }

// parseMDTM reads YYYYMMDDHHMMSS[.sss] in UTC.
func parseMDTM(s string) (time.Time, error) {
	base, frac, hasFrac := strings.Cut(s, ".")
	if len(base) != 14 || (hasFrac && (frac == "" || len(frac) > 9)) {
		return time.Time{}, fmt.Errorf("time %q: want YYYYMMDDHHMMSS", s)
	}
	layout := "20060102150405"
	if hasFrac {
		layout += "." + strings.Repeat("0", len(frac))
	}
	return time.Parse(layout, s)
}
