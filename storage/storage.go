// Package storage defines the interface between the FTP front end and the
// places files live (a local directory, memory, an S3 bucket).
//
// Names passed to a Backend are clean absolute slash-separated paths ("/",
// "/a", "/a/b.txt"): the front end resolves "..", duplicate slashes and the
// working directory before any adapter sees a name.
package storage

import (
	"context"
	"io"
	"iter"
	"time"
	"unicode/utf8"
)

// Printable reports whether s is valid UTF-8 without control characters or
// characters that reorder text: what FTP can carry in a path on the control
// connection and show in a listing line without forging or disguising one.
// Refused are C0 controls (NUL, CR, LF, ...), DEL, C1 controls
// (U+0080-U+009F) and the bidirectional embeddings, overrides and isolates
// (U+202A-U+202E, U+2066-U+2069).
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if Unprintable(r) {
			return false
		}
	}
	return true
}

// Unprintable reports whether r is one of the characters Printable refuses.
func Unprintable(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// Entry describes one file or directory.
type Entry struct {
	Name    string    // base name; "/" for the root
	Size    int64     // bytes; 0 for directories
	ModTime time.Time // zero when the backend does not know (e.g. an S3 common prefix)
	IsDir   bool
	// Partial marks an interrupted upload the store keeps for its owner
	// to resume: Size is what is stored so far, and it is not a file yet
	// (it counts toward no quota). Completing it replaces the file that
	// others see at the path, if any.
	Partial bool
	// Extends marks a Partial upload that began as APPE or REST + STOR
	// onto the file others see at the path, unchanged since: it keeps
	// that file's first bytes.
	Extends bool
	// Link marks an entry reached through a symbolic link (a local
	// directory), described as what it points to: a recursive listing
	// does not descend into it, as ls -R does not.
	Link bool
}

// Backend is the small set of operations every adapter implements. Rarer
// ones are optional interfaces (abilities.go).
//
// Conventions every adapter follows (storagetest checks them):
//   - An operation on the wrong kind of entry reports ErrNotFound (Open, Remove
//     or Stat-as-file of a directory; List or Rmdir of a file), except that
//     Mkdir and Put onto an existing entry of the other kind report ErrExist.
//   - List yields the entries of dir sorted by name in byte order, streaming
//     (a backend fetches pages lazily); it yields ErrNotFound when dir does
//     not exist.
//   - Open with off beyond the end returns a reader at EOF.
//   - Put reads r to EOF and makes the file visible only when all of it is
//     stored: on any error, including ctx being cancelled, no new or partial
//     file is visible and an existing file by that name is unchanged. size is
//     the expected length or -1 when unknown. It replaces an existing file.
//   - Rename moves a file or a whole directory; it replaces an existing file
//     at the target, and reports ErrExist when the target is a directory.
//   - Rmdir reports ErrNotEmpty when the directory has children.
//   - Errors are *Error values (or wrap them) whose Kind is one of the
//     sentinels below; context.Canceled and context.DeadlineExceeded pass
//     through unchanged.
type Backend interface {
	Stat(ctx context.Context, name string) (Entry, error)
	List(ctx context.Context, dir string) iter.Seq2[Entry, error]
	Open(ctx context.Context, name string, off int64) (io.ReadCloser, error)
	Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error)
	Remove(ctx context.Context, name string) error
	Mkdir(ctx context.Context, name string) error
	Rmdir(ctx context.Context, name string) error
	Rename(ctx context.Context, from, to string) error
}
