package ftp

import (
	"path"
	"strings"
	"unicode/utf8"

	"github.com/bucketftp/bucketftp/storage"
)

const (
	maxNameLen = 255
	maxPathLen = 4096
)

// resolvePath joins arg onto cwd and cleans the result. The result is
// always absolute and never climbs above "/" (the user's home): ".." at the
// top stays at the top. Only '/' separates; backslashes and percent signs
// are ordinary characters. Control characters, invalid UTF-8 and over-long
// names are refused with ErrInvalidName (553).
func resolvePath(cwd, arg string) (string, error) {
	bad := func() (string, error) {
		return "", storage.E("resolve", arg, storage.ErrInvalidName, nil)
	}
	if !utf8.ValidString(arg) {
		return bad()
	}
	for i := 0; i < len(arg); i++ {
		if arg[i] < 0x20 || arg[i] == 0x7f {
			return bad()
		}
	}
	p := arg
	if !strings.HasPrefix(p, "/") {
		p = cwd + "/" + p
	}
	p = path.Clean("/" + p)
	if len(p) > maxPathLen {
		return bad()
	}
	for _, part := range strings.Split(p, "/") {
		if len(part) > maxNameLen {
			return bad()
		}
	}
	return p, nil
}

// quotePath quotes a path for a 257 reply, doubling embedded quotes (RFC
// 959 appendix II).
func quotePath(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}
