package auth

import (
	"context"
	"io"
	"path"

	"github.com/bucketftp/bucketftp/storage"
)

var _ storage.HeldPutter = (*scoped)(nil)

// PutHeld is Put held back (storage.HeldPutter): the same permission and
// quota checks, and the usage counts the upload as stored under name at
// once. Publishing it under another name is a rename (PermRename, and
// PermOverwrite to replace a file); aborting it gives its bytes back.
func (s *scoped) PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (storage.Held, int64, error) {
	ctx = s.confine(ctx)
	if err := s.need("put", name, PermWrite); err != nil {
		return nil, 0, err
	}
	hp, ok := storage.As[storage.HeldPutter](s.base)
	if !ok {
		return nil, 0, storage.E("put", name, storage.ErrNotSupported, nil)
	}
	// Without overwrite an existing file is refused before any byte is
	// read; with it, the bytes it frees count once the held file is
	// published over it.
	old, _, err := s.replaces(ctx, "put", name)
	if err != nil {
		return nil, 0, err
	}
	return s.hold(ctx, "put", name, r, old, 0, func(r io.Reader) (storage.Held, int64, error) {
		return hp.PutHeld(ctx, s.full(name), s.full(final), r, size)
	})
}

// hold runs a held upload of name (put, of r) under the quota: the file
// replaces old bytes and keeps kept of its own.
func (s *scoped) hold(ctx context.Context, op, name string, r io.Reader, old, kept int64, put func(io.Reader) (storage.Held, int64, error)) (storage.Held, int64, error) {
	var h storage.Held
	n, replaced, err := s.withQuota(ctx, op, name, r, old, kept, func(r io.Reader) (int64, error) {
		var n int64
		var err error
		h, n, err = put(r)
		return n, err
	})
	if err != nil {
		if h != nil {
			_ = h.Abort(context.WithoutCancel(ctx))
		}
		return nil, n, err
	}
	s.remember(name)
	return &scopedHeld{s: s, h: h, name: path.Clean("/" + name), n: kept + n, old: replaced}, n, nil
}

// AppendHeld is Append held back: the checks of Append, and the usage
// counts the whole file (the kept bytes and the new ones) as stored under
// name, as PutHeld does.
func (s *scoped) AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (storage.Held, int64, error) {
	ctx = s.confine(ctx)
	if err := s.need("append", name, PermWrite); err != nil {
		return nil, 0, err
	}
	hp, ok := storage.As[storage.HeldPutter](s.base)
	if !ok {
		return nil, 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	// An interrupted upload is no file (existing): nothing under name is
	// replaced, so neither overwrite nor the quota's freed bytes apply.
	return s.hold(ctx, "append", name, r, 0, off, func(r io.Reader) (storage.Held, int64, error) {
		return hp.AppendHeld(ctx, s.full(name), s.full(final), off, r)
	})
}

// scopedHeld is a held upload in a user's view.
type scopedHeld struct {
	s    *scoped
	h    storage.Held
	name string // as put, in the user's view
	n    int64  // bytes held
	old  int64  // the size of the file under name it replaces (counted as freed)
}

func (h *scopedHeld) Publish(ctx context.Context, to string) error {
	s := h.s
	to = path.Clean("/" + to)
	if to == h.name {
		return h.h.Publish(ctx, s.full(to))
	}
	if !s.MayRename(h.name) {
		return storage.E("rename", h.name, storage.ErrPermission, nil)
	}
	replaced, exists, err := s.replaces(ctx, "rename", to)
	if err != nil {
		return err
	}
	if err := h.h.Publish(ctx, s.full(to)); err != nil {
		return err
	}
	s.forget(h.name)
	s.forget(to)
	s.remember(to)
	if s.q != nil {
		// The file under the temp name was not replaced after all; the
		// one under to was. Uploads running onto either name find the
		// change, as after a rename.
		s.q.recount(s.full(h.name), 0, 0)
		replaced = s.q.recount(s.full(to), replaced, h.n)
		delta := h.old
		if exists {
			delta -= replaced
		}
		s.q.add(ctx, delta)
	}
	return nil
}

func (h *scopedHeld) Abort(ctx context.Context) error {
	err := h.h.Abort(ctx)
	h.s.forget(h.name)
	if h.s.q != nil {
		h.s.q.add(ctx, h.old-h.n)
	}
	return err
}
