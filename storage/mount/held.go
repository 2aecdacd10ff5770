package mount

import (
	"context"
	"fmt"
	"io"

	"github.com/bucketftp/bucketftp/storage"
)

var _ storage.HeldPutter = (*Router)(nil)

// PutHeld holds an upload in the backend owning name. A final name on
// another storage is no prediction the backend can use.
func (r *Router) PutHeld(ctx context.Context, name, final string, rd io.Reader, size int64) (storage.Held, int64, error) {
	return r.hold("put", name, final, func(hp storage.HeldPutter, inner, innerFinal string) (storage.Held, int64, error) {
		return hp.PutHeld(ctx, inner, innerFinal, rd, size)
	})
}

// AppendHeld continues a held upload in the backend owning name.
func (r *Router) AppendHeld(ctx context.Context, name, final string, off int64, rd io.Reader) (storage.Held, int64, error) {
	return r.hold("append", name, final, func(hp storage.HeldPutter, inner, innerFinal string) (storage.Held, int64, error) {
		return hp.AppendHeld(ctx, inner, innerFinal, off, rd)
	})
}

// hold runs op (PutHeld, AppendHeld) in the backend owning name, with the
// names inside it.
func (r *Router) hold(op, name, final string, do func(hp storage.HeldPutter, inner, innerFinal string) (storage.Held, int64, error)) (storage.Held, int64, error) {
	if r.isMountOrAbove(name) {
		return nil, 0, refuse(op, name, storage.ErrExist, "a directory (mount point) is in the way")
	}
	b, inner, m := r.route(name)
	hp, ok := storage.As[storage.HeldPutter](b)
	if !ok {
		return nil, 0, storage.E(op, name, storage.ErrNotSupported, nil)
	}
	innerFinal := inner
	if _, fi, fm := r.route(final); fm == m && !r.isMountOrAbove(final) {
		innerFinal = fi
	}
	h, n, err := do(hp, inner, innerFinal)
	if err != nil {
		return nil, n, err
	}
	return &routedHeld{r: r, h: h, mount: m}, n, nil
}

type routedHeld struct {
	r     *Router
	h     storage.Held
	mount string
}

// Publish publishes within the storage that holds the upload.
func (h *routedHeld) Publish(ctx context.Context, name string) error {
	if h.r.isMountOrAbove(name) {
		return refuse("rename", name, storage.ErrExist, "a directory (mount point) is in the way")
	}
	_, inner, m := h.r.route(name)
	if m != h.mount {
		return storage.E("rename", name, storage.ErrCrossDevice, fmt.Errorf("%s is on another storage", name))
	}
	return h.h.Publish(ctx, inner)
}

func (h *routedHeld) Abort(ctx context.Context) error { return h.h.Abort(ctx) }
