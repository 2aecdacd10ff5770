package ftp

import (
	"path"
	"strings"

	"github.com/bucketftp/bucketftp/storage"
)

// Limits on the names a client may use, as on common Unix file systems
// (NAME_MAX, PATH_MAX).
const (
	maxNameLen = 255  // bytes in one path component
	maxPathLen = 4096 // bytes in a whole path, as sent and as resolved
)

// resolvePath turns a path sent by the client into the clean absolute path
// the storage sees. cwd is the session's working directory, itself clean and
// absolute; arg is absolute or relative to it ("" and "." are cwd).
//
// "/" is the user's home, and the result never leaves it: ".." at the top
// stays at the top, as on a Unix root. Only '/' separates components;
// backslashes and percent signs are ordinary characters (no decoding), so
// "..\\x" and "%2e%2e" are odd names inside cwd, not ways out.
//
// Refused with storage.ErrInvalidName (553): ASCII control characters
// (including NUL, CR and LF), invalid UTF-8, a component longer than 255
// bytes, and an argument or result longer than 4096 bytes.
func resolvePath(cwd, arg string) (string, error) {
	invalid := func() (string, error) {
		return "", storage.E("resolve", arg, storage.ErrInvalidName, nil)
	}
	if len(arg) > maxPathLen || !storage.Printable(arg) || !validComponents(arg) {
		return invalid()
	}
	p := arg
	if !strings.HasPrefix(p, "/") {
		p = cwd + "/" + p
	}
	// Cleaning a rooted path removes "." and "..", and ".." cannot climb
	// above the root.
	p = path.Clean("/" + p)
	if len(p) > maxPathLen || !validComponents(p) {
		return invalid()
	}
	return p, nil
}

// validComponents reports whether no '/'-separated part of p is longer than
// maxNameLen.
func validComponents(p string) bool {
	for part := range strings.SplitSeq(p, "/") {
		if len(part) > maxNameLen {
			return false
		}
	}
	return true
}

// quotePath renders a path for a 257 reply: in double quotes, with each
// embedded quote doubled (RFC 959 appendix II).
func quotePath(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}

// resolve is resolvePath against the working directory, refused (550) when
// the user lacks the running command's permission at the path: the
// dispatcher checked it against everything the user may do somewhere, and
// inside a mount, or outside it, the permissions may be fewer. Refused
// before any look-up, so the reply tells nothing of what is there.
func (s *session) resolve(arg string) (string, error) {
	p, err := resolvePath(s.cwd, arg)
	if err != nil {
		return "", err
	}
	if s.cmdPerm != 0 && !s.acct.PermsAt(p).Has(s.cmdPerm) {
		return "", errDenied
	}
	return p, nil
}

// errDenied is the answer to a command the user may not run, there or at
// all (the dispatcher's, resolve's and the handlers' own checks).
var errDenied = refuse(codeActionNotTaken, "Permission denied.")
