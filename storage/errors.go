package storage

import (
	"context"
	"errors"
	"fmt"
)

// The kinds of failure a backend reports. The FTP front end turns each into
// one reply code (see ftp/errmap.go); a backend classifies its native errors
// into these once, at its edge.
var (
	ErrNotFound     = errors.New("not found")
	ErrExist        = errors.New("already exists")
	ErrNotEmpty     = errors.New("directory not empty")
	ErrPermission   = errors.New("permission denied")
	ErrQuota        = errors.New("quota exceeded")
	ErrNoSpace      = errors.New("out of storage space")
	ErrInvalidName  = errors.New("name not allowed")
	ErrNotSupported = errors.New("not supported")
	ErrTransient    = errors.New("temporarily unavailable")
	// ErrCrossDevice is a rename between two storages (a user's mounts),
	// which would have to copy: refused, as rename(2) refuses EXDEV.
	ErrCrossDevice = errors.New("across storages")
	// ErrBadOffset is a restart offset (REST + STOR, APPE) where the file
	// cannot continue: inside a part of an interrupted upload.
	ErrBadOffset = errors.New("restart offset not usable")
)

// ErrInterrupted marks the error of an upload's reader when the client's
// data connection broke or timed out: the bytes read so far are all the
// client sent, not the file. It is not a Kind (the front end replies for
// the broken connection); a store that can keep what it stored for the
// client to resume (s3store) keeps it instead of discarding it.
var ErrInterrupted = errors.New("transfer interrupted")

// Interrupted reports whether err ended an upload under ctx because its
// client went away (ErrInterrupted, or ctx ended: the session's end, the
// server's shutdown), rather than because it failed.
func Interrupted(ctx context.Context, err error) bool {
	return errors.Is(err, ErrInterrupted) || ctx.Err() != nil
}

// Kinds lists every kind with a short name for metrics and logs, in the
// order KindOf tries them: the outcomes a client can act on first.
var Kinds = []struct {
	Err  error
	Name string
}{
	{ErrQuota, "quota"}, {ErrNoSpace, "no_space"}, {ErrInvalidName, "invalid_name"},
	{ErrPermission, "permission"}, {ErrNotFound, "not_found"}, {ErrExist, "exists"},
	{ErrNotEmpty, "not_empty"}, {ErrNotSupported, "not_supported"}, {ErrTransient, "transient"},
	{ErrCrossDevice, "cross_device"}, {ErrBadOffset, "bad_offset"},
}

// KindOf returns the name of err's kind and the kind, or "" and nil when
// err has none of the kinds.
func KindOf(err error) (name string, kind error) {
	for _, k := range Kinds {
		if errors.Is(err, k.Err) {
			return k.Name, k.Err
		}
	}
	return "", nil
}

// Error records a failed operation: what was tried, on which path, the kind
// of failure and the backend's own error. errors.Is matches both the kind and
// anything in the cause chain.
type Error struct {
	Op   string // "stat", "put", "rename", ...
	Path string
	Kind error // one of the Err* sentinels
	Err  error // the backend's cause; may be nil
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Kind)
	}
	return fmt.Sprintf("%s %s: %v: %v", e.Op, e.Path, e.Kind, e.Err)
}

// Unwrap returns the kind and the cause, so errors.Is sees both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// E builds an *Error.
func E(op, path string, kind, cause error) error {
	return &Error{Op: op, Path: path, Kind: kind, Err: cause}
}
