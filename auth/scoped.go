package auth

import (
	"context"
	"errors"
	"io"
	"iter"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// scoped is one user's view of the storage: their home is "/", their
// permissions are checked before the backend is touched or any upload
// byte read, and their quota is enforced.
//
// Errors it makes itself name the path as the user sees it; errors from
// the backend pass through unchanged (with the full path, which the front
// end logs but never sends to the client).
type scoped struct {
	base  storage.Backend
	home  string // clean, absolute
	perms Permission
	q     *quota // nil: no quota

	// written remembers the last files this login stored, so a user with
	// write but not overwrite may still set their time right after the
	// upload (FileZilla and WinSCP send MFMT after each one).
	wmu     sync.Mutex
	written []string
}

// maxWritten bounds the files a login remembers having written.
const maxWritten = 16

func (s *scoped) remember(name string) {
	name = path.Clean("/" + name)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.written = slices.DeleteFunc(s.written, func(n string) bool { return n == name })
	if len(s.written) == maxWritten {
		s.written = s.written[1:]
	}
	s.written = append(s.written, name)
}

func (s *scoped) forget(name string) {
	name = path.Clean("/" + name)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.written = slices.DeleteFunc(s.written, func(n string) bool { return n == name })
}

func (s *scoped) wrote(name string) bool {
	name = path.Clean("/" + name)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return slices.Contains(s.written, name)
}

var (
	_ storage.Backend       = (*scoped)(nil)
	_ storage.Appender      = (*scoped)(nil)
	_ storage.ModTimeSetter = (*scoped)(nil)
	_ storage.PrefixLister  = (*scoped)(nil)
	_ storage.Wrapper       = (*scoped)(nil)
)

func (s *scoped) Unwrap() storage.Backend { return s.base }

// confine tells the backend that links under the home must not lead out
// of it (storage.WithConfinement): a local directory's symbolic link from
// one home into another is not followed.
func (s *scoped) confine(ctx context.Context) context.Context {
	return storage.WithConfinement(ctx, s.home)
}

// full maps a name in the user's view to the backend. Names arrive clean;
// cleaning again means a front-end bug cannot climb out of the home.
func (s *scoped) full(name string) string {
	return path.Join(s.home, path.Clean("/"+name))
}

func (s *scoped) need(op, name string, p Permission) error {
	if !s.perms.Has(p) {
		return storage.E(op, name, storage.ErrPermission, nil)
	}
	return nil
}

func (s *scoped) Stat(ctx context.Context, name string) (storage.Entry, error) {
	ctx = s.confine(ctx)
	if err := s.needForChecksums(ctx, name); err != nil {
		return storage.Entry{}, err
	}
	e, err := s.base.Stat(ctx, s.full(name))
	if err == nil && path.Clean("/"+name) == "/" {
		e.Name = "/"
	}
	return e, err
}

func (s *scoped) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	ctx = s.confine(ctx)
	if err := s.need("list", dir, PermList); err != nil {
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	return s.base.List(ctx, s.full(dir))
}

// ListPrefix is List from a prefix: the same permission, the same names
// (relative to dir, so nothing of the home shows). A prefix holding "/"
// names no entry, so it never reaches the backend, whose directory it
// might otherwise leave.
func (s *scoped) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	ctx = s.confine(ctx)
	if err := s.need("list", dir, PermList); err != nil {
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	pl, ok := storage.As[storage.PrefixLister](s.base)
	if !ok {
		err := storage.E("list", dir, storage.ErrNotSupported, nil)
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	if strings.Contains(prefix, "/") {
		return func(func(storage.Entry, error) bool) {}
	}
	return pl.ListPrefix(ctx, s.full(dir), prefix)
}

func (s *scoped) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	ctx = s.confine(ctx)
	if err := s.need("open", name, PermRead); err != nil {
		return nil, err
	}
	return s.base.Open(ctx, s.full(name), off)
}

// found is what an upload or removal at a name meets.
type found struct {
	size int64 // of the file, when there is one
	file bool  // a file is there, as everyone sees the path
	// partial: what the user sees there is their interrupted upload,
	// not a file yet; extends: one that began as APPE or REST + STOR
	// onto that file, unchanged since, and keeps its first bytes.
	partial, extends bool
}

// existing is what is at name. A directory counts as no file: the backend
// refuses to replace it (ErrExist). Behind an interrupted upload of the
// user's, the file is the one everyone else sees at the path, which
// completing the upload would replace.
func (s *scoped) existing(ctx context.Context, name string) (found, error) {
	e, err := s.base.Stat(ctx, s.full(name))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return found{}, nil
	case err != nil:
		return found{}, err
	case e.Partial:
		f := found{partial: true, extends: e.Extends}
		if u, ok := storage.UploaderFrom(ctx); ok && u.User != "" {
			beneath, err := s.existing(asNobody(ctx), name)
			if err != nil {
				return found{}, err
			}
			f.size, f.file = beneath.size, beneath.file
		}
		return f, nil
	case e.IsDir:
		return found{}, nil
	}
	return found{size: e.Size, file: true}, nil
}

// asNobody is ctx as no user's: the store shows the path as everyone
// sees it, without the user's interrupted uploads.
func asNobody(ctx context.Context) context.Context {
	u, ok := storage.UploaderFrom(ctx)
	if !ok || u.User == "" {
		return ctx
	}
	u.User = ""
	return storage.WithUploader(ctx, u)
}

// replaces looks up the file an upload or rename onto name would replace,
// and refuses when that needs PermOverwrite the user lacks. It only asks
// the backend when the answer matters.
func (s *scoped) replaces(ctx context.Context, op, name string) (int64, bool, error) {
	if s.perms.Has(PermOverwrite) && s.q == nil {
		return 0, false, nil
	}
	f, err := s.existing(ctx, name)
	if err != nil {
		return 0, false, err
	}
	if f.file {
		if err := s.need(op, name, PermOverwrite); err != nil {
			return 0, false, err
		}
	}
	return f.size, f.file, nil
}

func (s *scoped) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	ctx = s.confine(ctx)
	if err := s.need("put", name, PermWrite); err != nil {
		return 0, err
	}
	var old int64
	if s.perms.Has(PermOverwrite) {
		var err error
		if old, _, err = s.replaces(ctx, "put", name); err != nil {
			return 0, err
		}
	} else {
		// Without overwrite an existing file is refused, and so nothing is
		// freed. A backend that takes the no-replace request on refuses it
		// in the request that stores the upload; for any other, the name
		// is looked up before the first byte is read.
		var nr *storage.NoReplace
		ctx, nr = storage.WithNoReplace(ctx)
		r = &checkFirst{r: r, check: func() error {
			if nr.Taken() {
				return nil
			}
			_, _, err := s.replaces(ctx, "put", name)
			return err
		}}
	}
	n, _, err := s.withQuota(ctx, "put", name, r, old, 0, func(r io.Reader) (int64, error) {
		return s.base.Put(ctx, s.full(name), r, size)
	})
	if errors.Is(err, storage.ErrWouldReplace) {
		return 0, storage.E("put", name, storage.ErrPermission, storage.ErrWouldReplace)
	}
	if err == nil {
		s.remember(name)
	}
	return n, err
}

// checkFirst runs check before the first read from r; its error is the
// read's, so the backend stores nothing.
type checkFirst struct {
	r     io.Reader
	check func() error
	err   error
	done  bool
}

func (c *checkFirst) Read(p []byte) (int, error) {
	if !c.done {
		c.done, c.err = true, c.check()
	}
	if c.err != nil {
		return 0, c.err
	}
	return c.r.Read(p)
}

func (s *scoped) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	ctx = s.confine(ctx)
	if err := s.need("append", name, PermWrite); err != nil {
		return 0, err
	}
	a, ok := storage.As[storage.Appender](s.base)
	if !ok {
		return 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	var old int64
	own := true // the file is this login's upload once appended to
	if s.q != nil || !s.perms.Has(PermOverwrite) {
		f, err := s.existing(ctx, name)
		if err != nil {
			return 0, err
		}
		old = f.size
		// Appending to a file someone else stored does not make it this
		// login's (to rename or time with write alone).
		own = !f.file || s.wrote(name)
		// Without overwrite, a change must keep every byte the file has:
		// an append, or a resume at exactly its size. Writing from an
		// earlier offset replaces bytes, as STOR over the file would; so
		// does completing an interrupted upload over a file that it did
		// not begin on (one that appeared at its path meanwhile).
		if f.file && (off < old || (f.partial && !f.extends)) {
			if err := s.need("append", name, PermOverwrite); err != nil {
				return 0, err
			}
		}
	}
	// The file ends up off+n bytes: the upload replaces its old size and
	// adds off of the kept bytes back.
	n, _, err := s.withQuota(ctx, "append", name, r, old, off, func(r io.Reader) (int64, error) {
		return a.Append(ctx, s.full(name), off, r)
	})
	if err == nil && own {
		s.remember(name)
	}
	return n, err
}

// withQuota runs an upload through the user's quota, when they have one,
// and updates the usage: the file ends up kept+n bytes and replaces old
// (as the upload found it). It also returns the bytes the upload was
// counted as replacing: old, unless another upload onto the name changed
// it meanwhile.
func (s *scoped) withQuota(ctx context.Context, op, name string, r io.Reader, old, kept int64, upload func(io.Reader) (int64, error)) (int64, int64, error) {
	r, err := hashed(ctx, op, name, kept, r) // checksum.go: every upload passes here
	if err != nil {
		return 0, 0, err
	}
	if s.q == nil {
		n, err := upload(r)
		return n, old, err
	}
	if _, err := s.q.used(ctx); err != nil {
		return 0, 0, err
	}
	full := s.full(name)
	s.q.begin(full, old)
	qr := &quotaReader{ctx: ctx, r: r, q: s.q, op: op, name: name, freed: func() int64 {
		// The user's other interrupted uploads, kept for resuming, take
		// space too (their own one at name is continued or replaced by
		// this one).
		return s.q.now(full, old) - kept - storage.KeptBytes(ctx, s.base, full)
	}}
	finished := false
	defer func() {
		if !finished { // the backend panicked: the name's count and the reservation still go
			s.q.finish(ctx, full, qr.reserved, false, 0)
		}
	}()
	n, err := upload(qr)
	stored := err == nil && !qr.tripped
	replaced := s.q.finish(ctx, full, qr.reserved, stored, kept+n)
	finished = true
	if qr.tripped {
		// Whatever the backend made of the reader's error, the cause is
		// the quota.
		return 0, replaced, qr.err()
	}
	return n, replaced, err
}

func (s *scoped) Remove(ctx context.Context, name string) error {
	ctx = s.confine(ctx)
	if err := s.need("remove", name, PermDelete); err != nil {
		return err
	}
	var size int64
	partial := false
	if s.q != nil {
		// On error the backend's Remove reports it. Removing an
		// interrupted upload frees nothing: it was never counted, and
		// the file beneath it stays.
		if f, err := s.existing(ctx, name); err == nil {
			size, partial = f.size, f.partial
		}
	}
	err := s.base.Remove(ctx, s.full(name))
	if err == nil {
		s.forget(name)
		if s.q != nil && !partial {
			s.q.add(ctx, -s.q.recount(s.full(name), size, 0))
		}
	}
	return err
}

func (s *scoped) Mkdir(ctx context.Context, name string) error {
	ctx = s.confine(ctx)
	if err := s.need("mkdir", name, PermMkdir); err != nil {
		return err
	}
	return s.base.Mkdir(ctx, s.full(name))
}

func (s *scoped) Rmdir(ctx context.Context, name string) error {
	ctx = s.confine(ctx)
	if err := s.need("rmdir", name, PermDelete); err != nil {
		return err
	}
	if path.Clean("/"+name) == "/" {
		// The home itself: removing it would strand the user's sessions.
		return storage.E("rmdir", name, storage.ErrPermission, nil)
	}
	return s.base.Rmdir(ctx, s.full(name))
}

func (s *scoped) Rename(ctx context.Context, from, to string) error {
	ctx = s.confine(ctx)
	if !s.MayRename(from) {
		return storage.E("rename", from, storage.ErrPermission, nil)
	}
	if path.Clean("/"+from) == "/" {
		return storage.E("rename", from, storage.ErrPermission, nil)
	}
	replaced, exists, err := s.replaces(ctx, "rename", to)
	if err != nil {
		return err
	}
	var moved int64
	if s.q != nil {
		if f, err := s.existing(ctx, from); err == nil && !f.partial {
			moved = f.size
		}
	}
	err = s.base.Rename(ctx, s.full(from), s.full(to))
	if err == nil {
		// A file this login uploaded stays its own under the new name
		// (temp-name uploads rename, then set the time); one renamed
		// onto a name it wrote does not.
		own := s.wrote(from)
		s.forget(from)
		s.forget(to)
		if own {
			s.remember(to)
		}
		if s.q != nil {
			// The moved bytes stay in the home; the replaced ones go.
			// Uploads running onto either name find the change.
			s.q.recount(s.full(from), 0, 0)
			if replaced = s.q.recount(s.full(to), replaced, moved); exists {
				s.q.add(ctx, -replaced)
			}
		}
	}
	return err
}

// Wrote reports whether this login has just uploaded name (one of the
// last files it stored, kept under a rename): what a drop box may still
// look up (the front end).
func (s *scoped) Wrote(name string) bool { return s.wrote(name) }

// MayRename reports whether the login may rename name: with the rename
// permission, or with write for a file it has just uploaded, so that a
// drop box (write alone) takes uploads to a temporary name renamed into
// place (lftp's .in.NAME, NAME.part). Replacing a file there still needs
// overwrite.
func (s *scoped) MayRename(name string) bool {
	return s.perms.Has(PermRename) || s.perms.Has(PermWrite) && s.wrote(name)
}

func (s *scoped) SetModTime(ctx context.Context, name string, t time.Time) error {
	ctx = s.confine(ctx)
	if err := s.need("setmodtime", name, PermWrite); err != nil {
		return err
	}
	m, ok := storage.As[storage.ModTimeSetter](s.base)
	if !ok {
		return storage.E("setmodtime", name, storage.ErrNotSupported, nil)
	}
	// Changing an existing file's time needs overwrite, except for a file
	// this login has just uploaded.
	if !s.perms.Has(PermOverwrite) && !s.wrote(name) {
		if err := s.need("setmodtime", name, PermOverwrite); err != nil {
			return err
		}
	}
	return m.SetModTime(ctx, s.full(name), t)
}
