package faultstore

import (
	"context"
	"io"

	"github.com/bucketftp/bucketftp/storage"
)

var _ storage.HeldPutter = (*Store)(nil)

// PutHeld fails as Put does ("put" on name); publishing fails as a rename
// does ("rename" on the published name).
func (s *Store) PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (storage.Held, int64, error) {
	if err := s.fault("put", name); err != nil {
		return nil, 0, err
	}
	hp, ok := storage.As[storage.HeldPutter](s.b)
	if !ok {
		return nil, 0, storage.E("put", name, storage.ErrNotSupported, nil)
	}
	h, n, err := hp.PutHeld(ctx, name, final, s.wrapUpload(r), size)
	if err != nil {
		return nil, n, err
	}
	return &faultHeld{s: s, h: h}, n, nil
}

// AppendHeld fails as Append does ("append" on name).
func (s *Store) AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (storage.Held, int64, error) {
	hp, ok := storage.As[storage.HeldPutter](s.b)
	if !ok {
		return nil, 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	if err := s.fault("append", name); err != nil {
		return nil, 0, err
	}
	// The upload's fault (FailAfter) is taken at the first read: where
	// there is nothing to continue, the Append that follows gets it.
	h, n, err := hp.AppendHeld(ctx, name, final, off, &lazyUpload{s: s, r: r})
	if err != nil {
		return nil, n, err
	}
	return &faultHeld{s: s, h: h}, n, nil
}

// lazyUpload is wrapUpload of r at its first read.
type lazyUpload struct {
	s       *Store
	r       io.Reader
	wrapped bool
}

func (l *lazyUpload) Read(p []byte) (int, error) {
	if !l.wrapped {
		l.r, l.wrapped = l.s.wrapUpload(l.r), true
	}
	return l.r.Read(p)
}

type faultHeld struct {
	s *Store
	h storage.Held
}

func (h *faultHeld) Publish(ctx context.Context, name string) error {
	if err := h.s.fault("rename", name); err != nil {
		return err
	}
	return h.h.Publish(ctx, name)
}

func (h *faultHeld) Abort(ctx context.Context) error { return h.h.Abort(ctx) }
