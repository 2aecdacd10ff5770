package metrics

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

var _ storage.HeldPutter = (*timed)(nil)

// PutHeld counts as "put"; publishing the held file counts as "rename"
// (it is the rename a temp-name upload ends with).
func (t *timed) PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (storage.Held, int64, error) {
	hp, ok := storage.As[storage.HeldPutter](t.b)
	if !ok {
		return nil, 0, storage.E("put", name, storage.ErrNotSupported, nil)
	}
	start := time.Now()
	h, n, err := hp.PutHeld(ctx, name, final, r, size)
	t.m.observe("put", start, err)
	if err != nil {
		return nil, n, err
	}
	return &timedHeld{t: t, h: h}, n, nil
}

// AppendHeld counts as "append".
func (t *timed) AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (storage.Held, int64, error) {
	hp, ok := storage.As[storage.HeldPutter](t.b)
	if !ok {
		return nil, 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	start := time.Now()
	h, n, err := hp.AppendHeld(ctx, name, final, off, r)
	if errors.Is(err, storage.ErrNoHeldUpload) {
		return nil, 0, err // nothing was done: the Append that follows counts
	}
	t.m.observe("append", start, err)
	if err != nil {
		return nil, n, err
	}
	return &timedHeld{t: t, h: h}, n, nil
}

type timedHeld struct {
	t *timed
	h storage.Held
}

func (h *timedHeld) Publish(ctx context.Context, name string) error {
	start := time.Now()
	err := h.h.Publish(ctx, name)
	h.t.m.observe("rename", start, err)
	return err
}

func (h *timedHeld) Abort(ctx context.Context) error {
	start := time.Now()
	err := h.h.Abort(ctx)
	h.t.m.observe("remove", start, err)
	return err
}
