package storage

import "context"

// KeptCounter is implemented by stores that keep interrupted uploads for
// their owners to resume: KeptBytes is how many bytes the user under ctx
// (UploaderFrom) keeps in them, leaving out their kept upload of except
// ("" leaves out none). Kept uploads are no files, but they take space:
// a quota counts them (auth).
type KeptCounter interface {
	KeptBytes(ctx context.Context, except string) int64
}

// KeptBytes asks the store under b for KeptCounter.KeptBytes, through the
// wrappers over it; 0 when it keeps no interrupted uploads. Names are the
// store's own: b must be the store or a wrapper that passes names on
// unchanged (metrics, faults), not a user's view of it.
func KeptBytes(ctx context.Context, b Backend, except string) int64 {
	for b != nil {
		if c, ok := b.(KeptCounter); ok {
			return c.KeptBytes(ctx, except)
		}
		w, ok := b.(Wrapper)
		if !ok {
			break
		}
		b = w.Unwrap()
	}
	return 0
}
