// Package faultstore wraps a backend and makes chosen operations fail, for
// testing how failures reach clients.
package faultstore

import (
	"context"
	"io"
	"iter"
	"sync"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// Store wraps a backend. Faults are set per operation: "stat", "list"
// (List and ListPrefix: every listing, wildcard or not), "open", "put",
// "append", "remove", "mkdir", "rmdir", "rename", "setmodtime". It is safe
// for concurrent use.
type Store struct {
	b      storage.Backend
	mu     sync.Mutex
	faults map[string]func(name string) error
	after  *failAfter
}

type failAfter struct {
	n   int64
	err error
}

// New wraps b with no faults.
func New(b storage.Backend) *Store {
	return &Store{b: b, faults: map[string]func(string) error{}}
}

// SetFault makes op fail with f's error when f returns one; nil clears it.
func (s *Store) SetFault(op string, f func(name string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		delete(s.faults, op)
		return
	}
	s.faults[op] = f
}

// FailPutAfter makes the next Put or Append fail with err once n bytes of
// the upload were read: the wrapped backend sees a failing reader, as it
// would if the store broke mid-transfer.
func (s *Store) FailPutAfter(n int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.after = &failAfter{n: n, err: err}
}

func (s *Store) fault(op, name string) error {
	s.mu.Lock()
	f := s.faults[op]
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(name)
}

func (s *Store) wrapUpload(r io.Reader) io.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.after == nil {
		return r
	}
	fa := s.after
	s.after = nil
	return &limitedFail{r: r, left: fa.n, err: fa.err}
}

type limitedFail struct {
	r    io.Reader
	left int64
	err  error
}

func (l *limitedFail) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, l.err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

var (
	_ storage.Backend       = (*Store)(nil)
	_ storage.Appender      = (*Store)(nil)
	_ storage.ModTimeSetter = (*Store)(nil)
	_ storage.PrefixLister  = (*Store)(nil)
	_ storage.Wrapper       = (*Store)(nil)
)

func (s *Store) Unwrap() storage.Backend { return s.b }

func (s *Store) Stat(ctx context.Context, name string) (storage.Entry, error) {
	if err := s.fault("stat", name); err != nil {
		return storage.Entry{}, err
	}
	return s.b.Stat(ctx, name)
}

func (s *Store) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	if err := s.fault("list", dir); err != nil {
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	return s.b.List(ctx, dir)
}

// ListPrefix fails as List does: the fault is "list", on dir.
func (s *Store) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	if err := s.fault("list", dir); err != nil {
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	pl, ok := storage.As[storage.PrefixLister](s.b)
	if !ok {
		err := storage.E("list", dir, storage.ErrNotSupported, nil)
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	return pl.ListPrefix(ctx, dir, prefix)
}

func (s *Store) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	if err := s.fault("open", name); err != nil {
		return nil, err
	}
	return s.b.Open(ctx, name, off)
}

func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	if err := s.fault("put", name); err != nil {
		return 0, err
	}
	return s.b.Put(ctx, name, s.wrapUpload(r), size)
}

func (s *Store) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	if err := s.fault("append", name); err != nil {
		return 0, err
	}
	a, ok := storage.As[storage.Appender](s.b)
	if !ok {
		return 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	return a.Append(ctx, name, off, s.wrapUpload(r))
}

func (s *Store) Remove(ctx context.Context, name string) error {
	if err := s.fault("remove", name); err != nil {
		return err
	}
	return s.b.Remove(ctx, name)
}

func (s *Store) Mkdir(ctx context.Context, name string) error {
	if err := s.fault("mkdir", name); err != nil {
		return err
	}
	return s.b.Mkdir(ctx, name)
}

func (s *Store) Rmdir(ctx context.Context, name string) error {
	if err := s.fault("rmdir", name); err != nil {
		return err
	}
	return s.b.Rmdir(ctx, name)
}

func (s *Store) Rename(ctx context.Context, from, to string) error {
	if err := s.fault("rename", from); err != nil {
		return err
	}
	return s.b.Rename(ctx, from, to)
}

func (s *Store) SetModTime(ctx context.Context, name string, t time.Time) error {
	if err := s.fault("setmodtime", name); err != nil {
		return err
	}
	m, ok := storage.As[storage.ModTimeSetter](s.b)
	if !ok {
		return storage.E("setmodtime", name, storage.ErrNotSupported, nil)
	}
	return m.SetModTime(ctx, name, t)
}
