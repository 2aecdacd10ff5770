package storagetest_test

import (
	"context"
	"io"

	"github.com/bucketftp/bucketftp/storage"
)

func (f *forwarding) PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (storage.Held, int64, error) {
	hp, ok := storage.As[storage.HeldPutter](f.b)
	if !ok {
		return nil, 0, storage.E("put", name, storage.ErrNotSupported, nil)
	}
	return hp.PutHeld(ctx, name, final, r, size)
}

func (f *forwarding) AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (storage.Held, int64, error) {
	hp, ok := storage.As[storage.HeldPutter](f.b)
	if !ok {
		return nil, 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	return hp.AppendHeld(ctx, name, final, off, r)
}
