package metrics

import (
	"context"
	"io"
	"iter"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// Backend times a backend's operations into m.
func (m *Metrics) Backend(b storage.Backend) storage.Backend {
	return &timed{b: b, m: m}
}

type timed struct {
	b storage.Backend
	m *Metrics
}

var (
	_ storage.Backend       = (*timed)(nil)
	_ storage.Appender      = (*timed)(nil)
	_ storage.ModTimeSetter = (*timed)(nil)
	_ storage.PrefixLister  = (*timed)(nil)
	_ storage.Wrapper       = (*timed)(nil)
)

func (t *timed) Unwrap() storage.Backend { return t.b }

func (t *timed) Stat(ctx context.Context, name string) (storage.Entry, error) {
	start := time.Now()
	e, err := t.b.Stat(ctx, name)
	t.m.observe("stat", start, err)
	return e, err
}

func (t *timed) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return t.list(t.b.List(ctx, dir))
}

// ListPrefix counts as "list": a wildcard listing is a listing to the
// store (one ListObjectsV2 from a prefix on S3), and op keeps one value
// per kind of operation.
func (t *timed) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	pl, ok := storage.As[storage.PrefixLister](t.b)
	if !ok {
		err := storage.E("list", dir, storage.ErrNotSupported, nil)
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	return t.list(pl.ListPrefix(ctx, dir, prefix))
}

// list times a listing from its first page to its last entry (or until
// the reader stops) as one "list" operation.
func (t *timed) list(entries iter.Seq2[storage.Entry, error]) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		start := time.Now()
		var lerr error
		for e, err := range entries {
			lerr = err
			if !yield(e, err) {
				break
			}
		}
		t.m.observe("list", start, lerr)
	}
}

func (t *timed) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := t.b.Open(ctx, name, off)
	t.m.observe("open", start, err)
	return rc, err
}

func (t *timed) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	start := time.Now()
	n, err := t.b.Put(ctx, name, r, size)
	t.m.observe("put", start, err)
	return n, err
}

func (t *timed) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	a, ok := storage.As[storage.Appender](t.b)
	if !ok {
		return 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	start := time.Now()
	n, err := a.Append(ctx, name, off, r)
	t.m.observe("append", start, err)
	return n, err
}

func (t *timed) Remove(ctx context.Context, name string) error {
	start := time.Now()
	err := t.b.Remove(ctx, name)
	t.m.observe("remove", start, err)
	return err
}

func (t *timed) Mkdir(ctx context.Context, name string) error {
	start := time.Now()
	err := t.b.Mkdir(ctx, name)
	t.m.observe("mkdir", start, err)
	return err
}

func (t *timed) Rmdir(ctx context.Context, name string) error {
	start := time.Now()
	err := t.b.Rmdir(ctx, name)
	t.m.observe("rmdir", start, err)
	return err
}

func (t *timed) Rename(ctx context.Context, from, to string) error {
	start := time.Now()
	err := t.b.Rename(ctx, from, to)
	t.m.observe("rename", start, err)
	return err
}

func (t *timed) SetModTime(ctx context.Context, name string, mt time.Time) error {
	m, ok := storage.As[storage.ModTimeSetter](t.b)
	if !ok {
		return storage.E("setmodtime", name, storage.ErrNotSupported, nil)
	}
	start := time.Now()
	err := m.SetModTime(ctx, name, mt)
	t.m.observe("setmodtime", start, err)
	return err
}
