package storage

import "context"

type endCheckKey struct{}

// WithEndCheck returns ctx carrying check, the front end's answer to
// whether the end of an upload's data was the end of the file: nil while
// the client is still there, else an error that is ErrInterrupted (the
// client went away, and its data connection's end may have been its
// death). A killed client's connections end together, in no set order,
// so the end of the data can arrive before any sign that the client is
// gone; asking again just before the upload becomes final gives that sign
// the time the last of the upload took to store.
func WithEndCheck(ctx context.Context, check func() error) context.Context {
	return context.WithValue(ctx, endCheckKey{}, check)
}

// CheckEnd is called by a backend once it has read the whole upload and
// stored what it must, at the last moment before the upload becomes final
// (the PUT of a file read whole, the completion of a multipart upload, an
// upload held back as complete, the rename of a file written aside). It
// returns nil to go on; otherwise the upload fails with the error
// returned, as if its reader had: ctx's cause when ctx is done, or the
// front end's check (WithEndCheck).
func CheckEnd(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if check, ok := ctx.Value(endCheckKey{}).(func() error); ok {
		return check()
	}
	return nil
}
