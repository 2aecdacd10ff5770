package storage

import (
	"context"
	"errors"
	"time"
)

// ErrConflict reports a conditional write that lost a race: the document
// changed since it was read. It is not a Kind: callers read again and
// retry, it never reaches a client.
var ErrConflict = errors.New("changed concurrently")

// SharedDocs keeps small documents that several server processes on one
// store read and update: quota usage, bans. Names are relative slash
// paths ("quota/acme.json") in a reserved area that FTP users cannot see.
// A version is opaque (an ETag).
type SharedDocs interface {
	// ReadDoc returns a document and its version; ErrNotFound when there
	// is none.
	ReadDoc(ctx context.Context, name string) (b []byte, version string, err error)
	// SwapDoc stores b only if the document's version is still version
	// ("" means: only if there is none) and returns the new version. A
	// lost race is ErrConflict; a store that cannot write conditionally
	// reports ErrNotSupported.
	SwapDoc(ctx context.Context, name string, b []byte, version string) (string, error)
	// PutDoc stores b whatever is there.
	PutDoc(ctx context.Context, name string, b []byte) (string, error)
	// ListDocs lists the documents under dir ("bans/"), with their
	// versions and times, in one request per thousand.
	ListDocs(ctx context.Context, dir string) ([]DocInfo, error)
	// DeleteDoc removes a document; a missing one is no error.
	DeleteDoc(ctx context.Context, name string) error
}

// DocInfo describes one shared document.
type DocInfo struct {
	Name    string // relative to the area, like the names passed in
	Version string
	ModTime time.Time
}
