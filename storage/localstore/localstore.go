// Package localstore keeps files in a local directory. Every path is
// resolved through an os.Root, so neither ".." nor a symbolic link can
// reach outside the directory. Uploads go to a temporary file that is
// renamed into place only when complete; one whose client went away is
// kept for its owner to continue (resume.go).
package localstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// tmpDir holds uploads in progress. It is hidden from listings and
// refused as a name; leftovers from a crash are removed at start, but
// for the interrupted uploads kept in resumeDir.
const tmpDir = ".bucketftp-tmp"

// Config configures a Store.
type Config struct {
	Root string // the directory; created when missing
	// ResumeWindow is how long an interrupted upload is kept for its
	// owner to continue (resume.go): 0 means 24h, negative none.
	ResumeWindow time.Duration
}

// Store is a storage.Backend over a local directory.
type Store struct {
	root   *os.Root
	window time.Duration
	busy   names // kept uploads being continued

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

var (
	_ storage.Backend       = (*Store)(nil)
	_ storage.Appender      = (*Store)(nil)
	_ storage.ModTimeSetter = (*Store)(nil)
)

// New opens (creating if needed) the directory cfg.Root.
func New(cfg Config) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("localstore: no root directory")
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, err
	}
	if err := cleanTmp(root); err != nil {
		root.Close()
		return nil, err
	}
	s := &Store{root: root, window: cfg.ResumeWindow, stop: make(chan struct{}), done: make(chan struct{})}
	if s.window == 0 {
		s.window = 24 * time.Hour
	}
	if s.window < 0 {
		_ = root.RemoveAll(resumeDir)
		close(s.done)
		return s, nil
	}
	s.expire()
	go func() {
		defer close(s.done)
		s.cleanupLoop(s.stop)
	}()
	return s, nil
}

// cleanTmp empties tmpDir (creating it when missing) but for resumeDir.
func cleanTmp(root *os.Root) error {
	if err := root.Mkdir(tmpDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if fi, err := root.Lstat(tmpDir); err != nil || !fi.IsDir() {
		if err := root.RemoveAll(tmpDir); err != nil {
			return err
		}
		return root.Mkdir(tmpDir, 0o700)
	}
	ents, err := root.FS().(fs.ReadDirFS).ReadDir(tmpDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if p := path.Join(tmpDir, e.Name()); p != resumeDir || !e.IsDir() {
			if err := root.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close stops the cleanup and releases the directory. Later calls do
// nothing.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		err = s.root.Close()
	})
	return err
}

// rel turns a clean absolute name into a path relative to the root.
func rel(op, name string) (string, error) {
	if name == "/" {
		return ".", nil
	}
	r := strings.TrimPrefix(name, "/")
	if first, _, _ := strings.Cut(r, "/"); first == tmpDir {
		return "", storage.E(op, name, storage.ErrInvalidName, errors.New("reserved name"))
	}
	return r, nil
}

// view is where a name is resolved: the storage's root, or the
// directory the name is confined to (storage.WithConfinement: a user's
// home), opened as a root of its own so that no symbolic link under it
// leads out of it. name is the name relative to root, rel relative to the
// storage's root, and dir the confining directory relative to the
// storage's root ("" for none). close releases root.
type view struct {
	root      *os.Root
	name, rel string
	dir       string
}

func (v view) close() {
	if v.dir != "" {
		v.root.Close()
	}
}

// in is the name r (relative to the storage's root) relative to v's root,
// and false when r is outside it.
func (v view) in(r string) (string, bool) {
	if v.dir == "" {
		return r, true
	}
	if r == v.dir {
		return ".", true
	}
	return strings.CutPrefix(r, v.dir+"/")
}

// view resolves name (rel: its reserved names refused) in the directory
// ctx confines names to, when it is under it, else in the storage's root.
func (s *Store) view(ctx context.Context, op, name string) (view, error) {
	r, err := rel(op, name)
	if err != nil {
		return view{}, err
	}
	dir, ok := storage.ConfinementFrom(ctx)
	d := strings.TrimPrefix(dir, "/")
	if !ok || d == "" || (r != d && !strings.HasPrefix(r, d+"/")) {
		return view{root: s.root, name: r, rel: r}, nil
	}
	sub, err := s.root.OpenRoot(d)
	if err != nil {
		return view{}, mapErr(op, name, err)
	}
	v := view{root: sub, rel: r, dir: d}
	v.name, _ = v.in(r)
	return v, nil
}

// place renames tmp (relative to the storage's root) into place at v's
// name. In a confined view the target's directory is
// opened through it just now and the file renamed into that open
// directory (placeInto), so a link swapped into the path while the upload
// ran (alice renaming her link to bob's home where her upload's directory
// was) cannot carry the file out of the home.
func (s *Store) place(v view, tmp string) error {
	if v.dir == "" {
		return s.root.Rename(tmp, v.rel)
	}
	return placeInto(s.root, tmp, v.root, v.name, v.rel)
}

// mapErr classifies an OS error.
func mapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	kind := errUnclassified
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		kind = storage.ErrNotFound
	case errors.Is(err, syscall.ENOTEMPTY):
		kind = storage.ErrNotEmpty
	case errors.Is(err, fs.ErrExist):
		kind = storage.ErrExist
	case errors.Is(err, fs.ErrPermission):
		kind = storage.ErrPermission
	case errors.Is(err, syscall.ENOSPC):
		kind = storage.ErrNoSpace
	case errors.Is(err, syscall.EDQUOT):
		kind = storage.ErrQuota
	case errors.Is(err, syscall.ENAMETOOLONG), errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.EILSEQ):
		kind = storage.ErrInvalidName
	case strings.Contains(err.Error(), "path escapes from parent"):
		kind = storage.ErrPermission // a symlink pointing outside the root
	}
	return storage.E(op, name, kind, err)
}

var errUnclassified = errors.New("local storage error")

func entryOf(name string, fi fs.FileInfo) storage.Entry {
	e := storage.Entry{Name: path.Base(name), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if !e.IsDir {
		e.Size = fi.Size()
	}
	return e
}

func (s *Store) Stat(ctx context.Context, name string) (storage.Entry, error) {
	v, err := s.view(ctx, "stat", name)
	if err != nil {
		return storage.Entry{}, err
	}
	defer v.close()
	fi, err := v.root.Stat(v.name)
	if user, ok := s.owner(ctx); ok && name != "/" && (err != nil || !fi.IsDir()) {
		if k := s.lookup(user, name); k != nil {
			return k.entry(fi), nil
		}
	}
	if err != nil {
		return storage.Entry{}, mapErr("stat", name, err)
	}
	return entryOf(name, fi), nil
}

func (s *Store) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		v, err := s.view(ctx, "list", dir)
		if err != nil {
			yield(storage.Entry{}, err)
			return
		}
		defer v.close()
		f, err := v.root.Open(v.name)
		if err != nil {
			yield(storage.Entry{}, mapErr("list", dir, err))
			return
		}
		defer f.Close()
		var names []string
		links := map[string]bool{}
		for {
			batch, err := f.ReadDir(1024)
			for _, d := range batch {
				if dir == "/" && d.Name() == tmpDir {
					continue
				}
				names = append(names, d.Name())
				if d.Type()&fs.ModeSymlink != 0 {
					links[d.Name()] = true
				}
			}
			if err == io.EOF || (err == nil && len(batch) == 0) {
				break
			}
			if err != nil {
				yield(storage.Entry{}, mapErr("list", dir, err))
				return
			}
			if ctx.Err() != nil {
				yield(storage.Entry{}, ctx.Err())
				return
			}
		}
		var partial map[string]*kept // the owner's interrupted uploads here
		if user, ok := s.owner(ctx); ok {
			partial = s.keptIn(user, dir)
			for n := range partial {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
		slices.Sort(names)
		for _, n := range names {
			fi, err := v.root.Stat(path.Join(v.name, n))
			if k := partial[n]; k != nil && (err != nil || !fi.IsDir()) {
				if !yield(k.entry(fi), nil) {
					return
				}
				continue
			}
			if err != nil {
				continue // vanished, or a link pointing outside the root or the home
			}
			e := entryOf(n, fi)
			e.Link = links[n]
			if !yield(e, nil) {
				return
			}
		}
	}
}

func (s *Store) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	v, err := s.view(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	defer v.close()
	f, err := v.root.Open(v.name)
	if err != nil {
		return nil, mapErr("open", name, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = fs.ErrNotExist
	}
	if err == nil && off > 0 {
		_, err = f.Seek(off, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, mapErr("open", name, err)
	}
	return f, nil
}

func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	return s.write(ctx, "put", name, 0, r)
}

func (s *Store) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	return s.write(ctx, "append", name, off, r)
}

// write stores the first off bytes of the existing file followed by r in a
// temporary file, then renames it into place.
func (s *Store) write(ctx context.Context, op, name string, off int64, r io.Reader) (n int64, err error) {
	if name == "/" {
		return 0, storage.E(op, name, storage.ErrExist, nil)
	}
	v, err := s.view(ctx, op, name)
	if err != nil {
		return 0, err
	}
	defer v.close()
	if fi, err := v.root.Stat(path.Dir(v.name)); err != nil || !fi.IsDir() {
		if merr := mapErr(op, name, err); errors.Is(merr, storage.ErrPermission) {
			return 0, merr // a link out of the root or the home
		}
		return 0, storage.E(op, name, storage.ErrNotFound, err)
	}
	cur, serr := v.root.Stat(v.name)
	if serr == nil && cur.IsDir() {
		return 0, storage.E(op, name, storage.ErrExist, errors.New("is a directory"))
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(tmpDir, hex.EncodeToString(rnd[:]))
	user, resumable := s.owner(ctx)
	var prior *kept // the owner's interrupted upload of name
	held := false   // name's busy slot, for an APPE
	if resumable {
		if op == "append" {
			// One continuation at a time: a second one (the client
			// reconnected while its first session still runs) waits for
			// the first to end.
			base := keptBase(user, name)
			if !s.busy.take(base) {
				return 0, storage.E(op, name, storage.ErrTransient, errors.New("the upload is being continued by another session"))
			}
			defer s.busy.drop(base)
			held = true
		}
		prior = s.lookup(user, name)
	}
	created := time.Now()
	var over *fileState // the file whose first bytes this upload keeps
	if off > 0 && cur != nil && cur.Mode().IsRegular() {
		over = stateOf(cur)
		over.Kept = off
	}
	var f *os.File
	continuing := prior != nil && op == "append"
	if continuing && held {
		s.busy.began(prior.base, prior.size)
	}
	if continuing {
		// The continuation writes into the kept bytes in place, so that
		// a crash meanwhile loses none of them.
		tmp = prior.data()
		f, err = s.resume(op, name, prior, off)
		if err != nil {
			return 0, err
		}
		created, over = prior.rec.Created, prior.rec.Over
		if over != nil {
			o := *over
			o.Kept = min(o.Kept, off) // a restart before the copy's end keeps less of it
			over = &o
		}
	} else {
		f, err = s.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return 0, mapErr(op, name, err)
		}
	}
	defer func() {
		if err == nil {
			return
		}
		if resumable && storage.Interrupted(ctx, err) && s.keep(ctx, user, name, tmp, f, created, over, held) {
			return
		}
		if f != nil {
			f.Close()
		}
		if continuing {
			if n == 0 {
				// Nothing of the continuation was written (the data
				// connection never opened, the first read failed): the
				// kept upload stays as it was, for another try.
				return
			}
			s.discard(prior) // a continuation that failed keeps nothing
			return
		}
		_ = s.root.Remove(tmp)
	}()
	var body io.Reader = ctxReader{ctx: ctx, r: r}
	if off > 0 {
		// The kept bytes: copied from the old file, or already in place
		// for a continuation. Either way they are read through the
		// upload's hashes, when it has any (the front end hashes no
		// upload that keeps bytes: auth/checksum.go), so that its
		// checksums are the whole file's.
		from, src, dst := v.root, v.name, io.Writer(f)
		if continuing {
			from, src, dst = s.root, prior.data(), io.Discard
		}
		if h := storage.HashingFrom(ctx); h != nil || !continuing {
			old, err := from.Open(src)
			if err != nil {
				return 0, mapErr(op, name, err)
			}
			defer old.Close()
			whole := io.MultiReader(&exactly{r: old, left: off}, body)
			if h != nil {
				whole = h.Reader(whole)
			}
			copied, err := io.CopyN(dst, whole, off)
			if err != nil || copied != off {
				return 0, storage.E(op, name, storage.ErrNotSupported, errors.New("offset beyond the end of the file"))
			}
			body = whole
		}
	}
	if continuing && off < prior.size {
		// The kept bytes after off are cut once the client sends its
		// first byte, not before: a continuation that gets none keeps
		// them.
		body = &beforeFirstByte{r: body, do: func() error { return f.Truncate(off) }}
	}
	n, err = io.Copy(f, body)
	if err != nil {
		return n, err
	}
	if err = f.Sync(); err != nil {
		return n, mapErr(op, name, err)
	}
	err, f = f.Close(), nil
	if err != nil {
		return n, mapErr(op, name, err)
	}
	if err = storage.CheckEnd(ctx); err != nil {
		return n, err // the client went away: its data's end may not be the file's
	}
	if err = s.place(v, tmp); err != nil {
		return n, mapErr(op, name, err)
	}
	// The rename itself survives a crash of the machine too (best
	// effort: the file is in place either way).
	_ = s.syncDir(path.Dir(v.rel))
	if prior != nil {
		// Its record goes with a continuation; a plain STOR replaces
		// the interrupted upload.
		s.discard(prior)
	}
	return n, nil
}

// resume continues prior, the owner's interrupted upload of name, at off:
// the returned file writes from off (write cuts the bytes after it at the
// client's first byte). The record's window starts again, so that it does
// not expire meanwhile.
func (s *Store) resume(op, name string, prior *kept, off int64) (*os.File, error) {
	if off > prior.size {
		return nil, storage.E(op, name, storage.ErrBadOffset, fmt.Errorf("offset %d beyond the %d bytes stored", off, prior.size))
	}
	if err := s.touch(prior); err != nil {
		return nil, mapErr(op, name, err)
	}
	f, err := s.root.OpenFile(prior.data(), os.O_WRONLY, 0o644)
	if err != nil {
		return nil, mapErr(op, name, err)
	}
	if _, err = f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, mapErr(op, name, err)
	}
	return f, nil
}

// exactly reads the first left bytes of r, and fails when r ends before.
type exactly struct {
	r    io.Reader
	left int64
}

func (e *exactly) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n, err := e.r.Read(p[:min(int64(len(p)), e.left)])
	e.left -= int64(n)
	if errors.Is(err, io.EOF) && e.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// ctxReader stops an upload when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *Store) Remove(ctx context.Context, name string) error {
	if user, ok := s.owner(ctx); ok {
		if k := s.lookup(user, name); k != nil {
			s.discard(k) // DELE discards the owner's interrupted upload
			return nil
		}
	}
	v, err := s.view(ctx, "remove", name)
	if err != nil {
		return err
	}
	defer v.close()
	fi, err := v.root.Lstat(v.name)
	if err == nil && fi.IsDir() {
		err = fs.ErrNotExist
	}
	if err == nil {
		err = v.root.Remove(v.name)
	}
	return mapErr("remove", name, err)
}

func (s *Store) Mkdir(ctx context.Context, name string) error {
	v, err := s.view(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	defer v.close()
	return mapErr("mkdir", name, v.root.Mkdir(v.name, 0o755))
}

func (s *Store) Rmdir(ctx context.Context, name string) error {
	if name == "/" {
		return storage.E("rmdir", name, storage.ErrPermission, nil)
	}
	v, err := s.view(ctx, "rmdir", name)
	if err != nil {
		return err
	}
	defer v.close()
	fi, err := v.root.Lstat(v.name)
	if err == nil && !fi.IsDir() {
		err = fs.ErrNotExist
	}
	if err == nil {
		err = v.root.Remove(v.name)
		if errors.Is(err, fs.ErrExist) {
			err = syscall.ENOTEMPTY
		}
	}
	return mapErr("rmdir", name, err)
}

func (s *Store) Rename(ctx context.Context, from, to string) error {
	v, err := s.view(ctx, "rename", from)
	if err != nil {
		return err
	}
	defer v.close()
	rt, err := rel("rename", to)
	if err != nil {
		return err
	}
	rt, ok := v.in(rt)
	if !ok {
		return storage.E("rename", to, storage.ErrPermission, errors.New("outside the confining directory"))
	}
	src, err := v.root.Lstat(v.name)
	if err != nil {
		return mapErr("rename", from, err)
	}
	if dst, err := v.root.Lstat(rt); err == nil && (dst.IsDir() || src.IsDir()) {
		return storage.E("rename", to, storage.ErrExist, nil)
	}
	if err := v.root.Rename(v.name, rt); err != nil {
		return mapErr("rename", from, err)
	}
	// The file renamed onto to replaces what its owner had there, an
	// interrupted upload included, as a STOR would.
	if user, ok := s.owner(ctx); ok {
		if k := s.lookup(user, to); k != nil {
			s.discard(k)
		}
	}
	return nil
}

func (s *Store) SetModTime(ctx context.Context, name string, t time.Time) error {
	v, err := s.view(ctx, "setmodtime", name)
	if err != nil {
		return err
	}
	defer v.close()
	return mapErr("setmodtime", name, v.root.Chtimes(v.name, t, t))
}

// beforeFirstByte reads r, running do once before the first byte it
// returns; do's error ends the reading.
type beforeFirstByte struct {
	r    io.Reader
	do   func() error
	done bool
}

func (b *beforeFirstByte) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 && !b.done {
		b.done = true
		if derr := b.do(); derr != nil {
			return 0, derr
		}
	}
	return n, err
}
