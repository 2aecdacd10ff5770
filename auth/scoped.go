package auth

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// scoped is one user's view of the storage: their home is "/", their
// permissions are checked before the backend is touched or any upload
// byte read, and their quota is enforced.
type scoped struct {
	base  storage.Backend
	home  string
	perms Permission
	q     *quota // nil: no quota
}

var (
	_ storage.Backend       = (*scoped)(nil)
	_ storage.Appender      = (*scoped)(nil)
	_ storage.ModTimeSetter = (*scoped)(nil)
	_ storage.Wrapper       = (*scoped)(nil)
)

func (s *scoped) Unwrap() storage.Backend { return s.base }

func (s *scoped) full(name string) string {
	switch {
	case s.home == "/":
		return name
	case name == "/":
		return s.home
	}
	return s.home + name
}

func (s *scoped) need(op, name string, p Permission) error {
	if !s.perms.Has(p) {
		return storage.E(op, name, storage.ErrPermission, nil)
	}
	return nil
}

func (s *scoped) Stat(ctx context.Context, name string) (storage.Entry, error) {
	e, err := s.base.Stat(ctx, s.full(name))
	if err == nil && name == "/" {
		e.Name = "/"
	}
	return e, err
}

func (s *scoped) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	if err := s.need("list", dir, PermList); err != nil {
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	return s.base.List(ctx, s.full(dir))
}

func (s *scoped) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	if err := s.need("open", name, PermRead); err != nil {
		return nil, err
	}
	return s.base.Open(ctx, s.full(name), off)
}

// existing is the size of the file name replaces, and whether there is one.
func (s *scoped) existing(ctx context.Context, name string) (int64, bool, error) {
	e, err := s.base.Stat(ctx, s.full(name))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	case e.IsDir:
		return 0, false, nil // the backend reports ErrExist
	}
	return e.Size, true, nil
}

func (s *scoped) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	if err := s.need("put", name, PermWrite); err != nil {
		return 0, err
	}
	old, exists, err := s.existing(ctx, name)
	if err != nil {
		return 0, err
	}
	if exists {
		if err := s.need("put", name, PermOverwrite); err != nil {
			return 0, err
		}
	}
	return s.withQuota(ctx, name, r, old, func(r io.Reader) (int64, error) {
		return s.base.Put(ctx, s.full(name), r, size)
	})
}

func (s *scoped) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	if err := s.need("append", name, PermWrite); err != nil {
		return 0, err
	}
	a, ok := s.base.(storage.Appender)
	if !ok {
		return 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	old, _, err := s.existing(ctx, name)
	if err != nil {
		return 0, err
	}
	// The file becomes off+n bytes: it frees old-off of its current bytes.
	return s.withQuota(ctx, name, r, old-off, func(r io.Reader) (int64, error) {
		return a.Append(ctx, s.full(name), off, r)
	})
}

// withQuota runs an upload through the quota, when the user has one, and
// updates the usage by what it added.
func (s *scoped) withQuota(ctx context.Context, name string, r io.Reader, freed int64, put func(io.Reader) (int64, error)) (int64, error) {
	if s.q == nil {
		return put(r)
	}
	if _, err := s.q.used(ctx); err != nil {
		return 0, err
	}
	qr := &quotaReader{r: r, q: s.q, name: name, freed: freed}
	n, err := put(qr)
	qr.done()
	if qr.tripped {
		return n, qr.err()
	}
	if err == nil {
		s.q.add(n - freed)
	}
	return n, err
}

func (s *scoped) Remove(ctx context.Context, name string) error {
	if err := s.need("remove", name, PermDelete); err != nil {
		return err
	}
	var size int64
	if s.q != nil {
		size, _, _ = s.existing(ctx, name)
	}
	err := s.base.Remove(ctx, s.full(name))
	if err == nil && s.q != nil {
		s.q.add(-size)
	}
	return err
}

func (s *scoped) Mkdir(ctx context.Context, name string) error {
	if err := s.need("mkdir", name, PermMkdir); err != nil {
		return err
	}
	return s.base.Mkdir(ctx, s.full(name))
}

func (s *scoped) Rmdir(ctx context.Context, name string) error {
	if err := s.need("rmdir", name, PermDelete); err != nil {
		return err
	}
	return s.base.Rmdir(ctx, s.full(name))
}

func (s *scoped) Rename(ctx context.Context, from, to string) error {
	if err := s.need("rename", from, PermRename); err != nil {
		return err
	}
	replaced, exists, err := s.existing(ctx, to)
	if err != nil {
		return err
	}
	if exists {
		if err := s.need("rename", to, PermOverwrite); err != nil {
			return err
		}
	}
	err = s.base.Rename(ctx, s.full(from), s.full(to))
	if err == nil && exists && s.q != nil {
		s.q.add(-replaced)
	}
	return err
}

func (s *scoped) SetModTime(ctx context.Context, name string, t time.Time) error {
	if err := s.need("setmodtime", name, PermWrite); err != nil {
		return err
	}
	m, ok := s.base.(storage.ModTimeSetter)
	if !ok {
		return storage.E("setmodtime", name, storage.ErrNotSupported, nil)
	}
	return m.SetModTime(ctx, s.full(name), t)
}
