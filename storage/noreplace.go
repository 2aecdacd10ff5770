package storage

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrWouldReplace is the cause of the ErrExist a Put reports when it was
// asked not to replace a file (WithNoReplace) and a file is at the name.
var ErrWouldReplace = errors.New("a file exists at the name")

// A NoReplace is a request, carried by a Put's context, that the Put store
// its file only where no file exists: a store that can do that in the
// request that writes the file (S3's If-None-Match: *) saves asking first.
// A backend that does not take the request on ignores it, so the caller
// checks Taken before the first byte of the upload is read, and looks the
// name up itself when it is false.
type NoReplace struct{ taken atomic.Bool }

type noReplaceKey struct{}

// WithNoReplace returns ctx carrying a new request.
func WithNoReplace(ctx context.Context) (context.Context, *NoReplace) {
	nr := &NoReplace{}
	return context.WithValue(ctx, noReplaceKey{}, nr), nr
}

// Taken reports whether the backend took the request on.
func (nr *NoReplace) Taken() bool { return nr.taken.Load() }

// TakeNoReplace is called by a backend's Put before it reads from the
// upload: it reports whether ctx asks not to replace a file, and marks the
// request taken, so the Put must then fail with an error matching both
// ErrExist and ErrWouldReplace, storing nothing, when a file is there.
func TakeNoReplace(ctx context.Context) bool {
	nr, ok := ctx.Value(noReplaceKey{}).(*NoReplace)
	if !ok {
		return false
	}
	nr.taken.Store(true)
	return true
}
