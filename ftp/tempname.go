package ftp

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

// Temp-name uploads: clients upload to a temporary name and rename it
// into place (lftp's ".in.NAME" with xfer:use-temp-file, "NAME.part",
// ...). When the storage can hold an upload back (storage.HeldPutter), a
// session's upload whose name matches one of the patterns is held: to the
// session it is a normal file (SIZE, LIST, MDTM, MFMT, DELE; RETR and APPE
// publish it under its name first), to everyone else nothing is there.
// RNTO then publishes it under the final name, which on S3 costs no copy
// and no delete, and the upload's one event is for the final name. When
// the rename does not come in time (TempNameHold), or the session ends,
// the file is published under the temp name, as without holding.

// DefaultTempNamePatterns are the temp-name patterns used when
// Config.TempNamePatterns is nil. The one "*" stands for the final name.
var DefaultTempNamePatterns = []string{".in.*", "*.part", "*.filepart", "*.tmp", "*.partial"}

// DefaultTempNameHold is how long a held temp-name upload waits for its
// rename when Config.TempNameHold is 0.
const DefaultTempNameHold = 5 * time.Minute

// maxHeldPerSession bounds the uploads one session holds (a held small
// upload keeps up to one part in memory); beyond it uploads are stored
// as usual.
const maxHeldPerSession = 4

// publishTimeout bounds publishing a held upload when the session is gone.
const publishTimeout = 5 * time.Minute

// ValidTempNamePattern reports whether p is a usable pattern: a file name
// (no "/") with exactly one "*" and something besides it.
func ValidTempNamePattern(p string) bool {
	return strings.Count(p, "*") == 1 && len(p) > 1 && !strings.Contains(p, "/")
}

// tempFinal returns the final name a temp name stands for under one of
// patterns: "/d/.in.a.csv" is "/d/a.csv" for ".in.*".
func tempFinal(name string, patterns []string) (string, bool) {
	dir, base := path.Split(name)
	for _, p := range patterns {
		pre, suf, ok := strings.Cut(p, "*")
		if !ok || len(base) <= len(pre)+len(suf) || !strings.HasPrefix(base, pre) || !strings.HasSuffix(base, suf) {
			continue
		}
		final := base[len(pre) : len(base)-len(suf)]
		if final == "." || final == ".." {
			continue
		}
		return dir + final, true
	}
	return "", false
}

// tempView is a session's view of its storage that holds its temp-name
// uploads. It is a storage wrapper (every ability passes through).
type tempView struct {
	base     storage.Backend
	patterns []string
	hold     time.Duration
	// published is told of a held upload made visible under name, with
	// what the store reported; its error is the rename's.
	published func(ctx context.Context, f *heldFile, name string, u *storage.Uploaded) error

	mu   sync.Mutex
	held map[string]*heldFile // by name in the user's view
}

// heldFile is one held upload.
type heldFile struct {
	h      storage.Held
	name   string
	size   int64
	mtime  time.Time
	heldAt time.Time
	timer  *time.Timer
	ev     *Event // the upload's event, sent when it is published
	home   string // the user's home, for the event's path
}

var (
	_ storage.Backend       = (*tempView)(nil)
	_ storage.Wrapper       = (*tempView)(nil)
	_ storage.Appender      = (*tempView)(nil)
	_ storage.ModTimeSetter = (*tempView)(nil)
	_ storage.PrefixLister  = (*tempView)(nil)
	_ storage.HeldPutter    = (*tempView)(nil)
)

// holdTempNames puts the login's storage behind a tempView, when the
// storage can hold uploads and patterns are configured.
func (s *session) holdTempNames() {
	pats := s.srv.cfg.TempNamePatterns
	if pats == nil {
		pats = DefaultTempNamePatterns
	}
	if len(pats) == 0 || !storage.Has[storage.HeldPutter](s.acct.FS) {
		return
	}
	v := &tempView{base: s.acct.FS, patterns: pats, hold: s.srv.cfg.TempNameHold, held: map[string]*heldFile{}}
	if v.hold <= 0 {
		v.hold = DefaultTempNameHold
	}
	// The hold timer publishes from its own goroutine, maybe after REIN
	// or a new USER: the view it locates names in is this login's, not
	// the session's account of the moment.
	loc, canLocate := storage.As[storage.Locator](s.acct.FS)
	v.published = func(ctx context.Context, f *heldFile, name string, u *storage.Uploaded) error {
		if f.ev == nil {
			return nil
		}
		e := *f.ev
		e.Path = path.Join(f.home, name)
		if canLocate {
			if l, err := loc.Locate(name); err == nil {
				e.Bucket, e.Key = l.Bucket, l.Key // the final object's, not the temp name's
			}
		}
		e.End = time.Now()
		if etag, vid, sums := u.Result(); etag != "" || vid != "" {
			e.ETag, e.VersionID = etag, vid
			for k, v := range sums {
				if e.Checksums == nil {
					e.Checksums = map[string]string{}
				}
				if _, ok := e.Checksums[k]; !ok {
					e.Checksums[k] = v
				}
			}
		}
		return s.emit(ctx, e, "Renamed")
	}
	s.acct.FS = v
	s.temp = v
}

// releaseHeld publishes what the session still holds under the temp
// names: the session ends.
func (s *session) releaseHeld() {
	if s.temp == nil {
		return
	}
	s.temp.release()
	s.temp = nil
}

// uploadedOrHeld is uploaded for an upload the view did not hold; a held
// one's event waits for its publication.
func (s *session) uploadedOrHeld(x *transfer) error {
	f := s.temp.get(x.path)
	if f == nil {
		return s.uploaded(x)
	}
	x.stored.Store(true)
	if s.srv.cfg.Events == nil {
		return nil
	}
	e := s.event(EventUploadCompleted, x.path)
	e.Start, e.Size, e.Code = x.started, x.size, codeTransferComplete
	e.ETag, e.VersionID, e.Checksums = x.up.Result()
	e.Checksums = s.uploadSums(e.Checksums) // this upload's, as uploaded's event has them
	s.temp.mu.Lock()
	f.ev, f.home = &e, s.acct.Home()
	s.temp.mu.Unlock()
	return nil
}

// isHeld reports whether name is a held upload.
func (v *tempView) isHeld(name string) bool { return v.get(name) != nil }

func (v *tempView) get(name string) *heldFile {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.held[path.Clean("/"+name)]
}

// take removes name's held upload from the view and returns it.
func (v *tempView) take(name string) *heldFile {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	name = path.Clean("/" + name)
	f := v.held[name]
	if f != nil {
		delete(v.held, name)
		f.timer.Stop()
	}
	return f
}

// publish makes f visible under name; on failure it is held again (under
// its own name) unless the store lost it.
func (v *tempView) publish(ctx context.Context, f *heldFile, name string) error {
	pctx, u := storage.WithUploaded(ctx)
	if err := f.h.Publish(pctx, name); err != nil {
		v.mu.Lock()
		_, taken := v.held[f.name]
		again := !taken && !errors.Is(err, storage.ErrNotFound)
		if again {
			v.held[f.name] = f
			f.timer.Reset(v.hold)
		}
		v.mu.Unlock()
		if !again {
			_ = f.h.Abort(context.WithoutCancel(ctx)) // what it holds goes back (memory, parts)
		}
		return err
	}
	if !f.mtime.IsZero() {
		if m, ok := storage.As[storage.ModTimeSetter](v.base); ok {
			_ = m.SetModTime(ctx, name, f.mtime)
		}
	}
	return v.published(ctx, f, name, u)
}

// flush publishes name's held upload under its own name.
func (v *tempView) flush(ctx context.Context, name string) error {
	f := v.take(name)
	if f == nil {
		return nil
	}
	return v.publish(ctx, f, f.name)
}

// release publishes every held upload under its own name.
func (v *tempView) release() {
	v.mu.Lock()
	fs := make([]*heldFile, 0, len(v.held))
	for _, f := range v.held {
		f.timer.Stop()
		fs = append(fs, f)
	}
	clear(v.held)
	v.mu.Unlock()
	for _, f := range fs {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		_ = v.publish(ctx, f, f.name)
		cancel()
	}
}

func (v *tempView) Unwrap() storage.Backend { return v.base }

func (v *tempView) entry(f *heldFile) storage.Entry {
	mt := f.mtime // set by MFMT; else when the upload was held
	if mt.IsZero() {
		mt = f.heldAt
	}
	return storage.Entry{Name: path.Base(f.name), Size: f.size, ModTime: mt}
}

func (v *tempView) Stat(ctx context.Context, name string) (storage.Entry, error) {
	if f := v.get(name); f != nil {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.entry(f), nil
	}
	return v.base.Stat(ctx, name)
}

// heldIn returns the entries of the uploads held in dir whose names start
// with prefix, sorted by name.
func (v *tempView) heldIn(dir, prefix string) []storage.Entry {
	dir = path.Clean("/" + dir)
	v.mu.Lock()
	defer v.mu.Unlock()
	var es []storage.Entry
	for n, f := range v.held {
		if path.Dir(n) == dir && strings.HasPrefix(path.Base(n), prefix) {
			es = append(es, v.entry(f))
		}
	}
	slices.SortFunc(es, func(a, b storage.Entry) int { return strings.Compare(a.Name, b.Name) })
	return es
}

// withHeld adds the held entries to a listing (in place of a stored file
// of the same name).
func withHeld(list iter.Seq2[storage.Entry, error], held []storage.Entry) iter.Seq2[storage.Entry, error] {
	if len(held) == 0 {
		return list
	}
	return func(yield func(storage.Entry, error) bool) {
		for e, err := range list {
			if err == nil && slices.ContainsFunc(held, func(h storage.Entry) bool { return h.Name == e.Name }) {
				continue
			}
			if !yield(e, err) {
				return
			}
			if err != nil {
				return
			}
		}
		for _, h := range held {
			if !yield(h, nil) {
				return
			}
		}
	}
}

func (v *tempView) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return withHeld(v.base.List(ctx, dir), v.heldIn(dir, ""))
}

func (v *tempView) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	pl, ok := storage.As[storage.PrefixLister](v.base)
	if !ok {
		err := storage.E("list", dir, storage.ErrNotSupported, nil)
		return func(yield func(storage.Entry, error) bool) { yield(storage.Entry{}, err) }
	}
	return withHeld(pl.ListPrefix(ctx, dir, prefix), v.heldIn(dir, prefix))
}

// Open of a held upload publishes it under its name first: a held file
// cannot be read back.
func (v *tempView) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	if err := v.flush(ctx, name); err != nil {
		return nil, err
	}
	return v.base.Open(ctx, name, off)
}

// Put holds an upload whose name is a temp name (while the session holds
// fewer than maxHeldPerSession); a new upload to a held name replaces it.
func (v *tempView) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	if f := v.take(name); f != nil {
		_ = f.h.Abort(ctx)
	}
	final, ok := tempFinal(path.Clean("/"+name), v.patterns)
	v.mu.Lock()
	full := len(v.held) >= maxHeldPerSession
	v.mu.Unlock()
	hp, can := storage.As[storage.HeldPutter](v.base)
	if !ok || full || !can {
		return v.base.Put(ctx, name, r, size)
	}
	h, n, err := hp.PutHeld(ctx, name, final, r, size)
	if err != nil {
		return n, err
	}
	v.keep(h, name, n)
	return n, nil
}

// keep holds h, of size bytes, under name, until its rename or the hold
// time.
func (v *tempView) keep(h storage.Held, name string, size int64) {
	f := &heldFile{h: h, name: path.Clean("/" + name), size: size, heldAt: time.Now()}
	f.timer = time.AfterFunc(v.hold, func() {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		v.mu.Lock()
		mine := v.held[f.name] == f
		if mine {
			delete(v.held, f.name)
		}
		v.mu.Unlock()
		if mine {
			_ = v.publish(ctx, f, f.name)
		}
	})
	v.mu.Lock()
	v.held[f.name] = f
	v.mu.Unlock()
}

// AppendHeld passes the ability on, untouched by the view.
func (v *tempView) AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (storage.Held, int64, error) {
	hp, ok := storage.As[storage.HeldPutter](v.base)
	if !ok {
		return nil, 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	return hp.AppendHeld(ctx, name, final, off, r)
}

// PutHeld passes the ability on, untouched by the view.
func (v *tempView) PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (storage.Held, int64, error) {
	hp, ok := storage.As[storage.HeldPutter](v.base)
	if !ok {
		return nil, 0, storage.E("put", name, storage.ErrNotSupported, nil)
	}
	return hp.PutHeld(ctx, name, final, r, size)
}

// Locate passes the ability on, untouched by the view.
func (v *tempView) Locate(name string) (storage.Location, error) {
	l, ok := storage.As[storage.Locator](v.base)
	if !ok {
		return storage.Location{}, storage.E("locate", name, storage.ErrNotSupported, nil)
	}
	return l.Locate(name)
}

// Append to a held upload publishes it under its name first. Append at
// an offset to a temp name the session does not hold continues the
// upload held there before its client went away (a broken connection,
// then REST + STOR or APPE from a new session), held again, when the
// storage kept one; else it is an Append as any.
func (v *tempView) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	a, ok := storage.As[storage.Appender](v.base)
	if !ok {
		return 0, storage.E("append", name, storage.ErrNotSupported, nil)
	}
	if off > 0 && !v.isHeld(name) {
		final, isTemp := tempFinal(path.Clean("/"+name), v.patterns)
		if hp, can := storage.As[storage.HeldPutter](v.base); isTemp && can {
			h, n, err := hp.AppendHeld(ctx, name, final, off, r)
			if !errors.Is(err, storage.ErrNoHeldUpload) {
				if err != nil {
					return n, err
				}
				v.keep(h, name, off+n)
				return n, nil
			}
		}
	}
	if err := v.flush(ctx, name); err != nil {
		return 0, err
	}
	return a.Append(ctx, name, off, r)
}

// Remove of a held upload discards it (and a stored file under the same
// name, which the held one hid).
func (v *tempView) Remove(ctx context.Context, name string) error {
	f := v.take(name)
	if f == nil {
		return v.base.Remove(ctx, name)
	}
	if err := f.h.Abort(ctx); err != nil {
		return err
	}
	if err := v.base.Remove(ctx, name); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

func (v *tempView) Mkdir(ctx context.Context, name string) error { return v.base.Mkdir(ctx, name) }
func (v *tempView) Rmdir(ctx context.Context, name string) error { return v.base.Rmdir(ctx, name) }

// renameChecker is a view that tells whether the login may rename a
// name (auth's scoped view, the mount router, tempView).
type renameChecker interface{ MayRename(name string) bool }

// MayRename: a held upload is the login's own, just uploaded; for other
// names the view beneath answers (auth).
func (v *tempView) MayRename(name string) bool {
	if v.isHeld(name) {
		return true
	}
	m, ok := v.base.(renameChecker)
	return ok && m.MayRename(name)
}

// uploadChecker is a view that tells whether the login has just uploaded
// a name (auth's scoped view, the mount router, tempView).
type uploadChecker interface{ Wrote(name string) bool }

// Wrote: a held upload is the login's own, just uploaded; for other names
// the view beneath answers (auth).
func (v *tempView) Wrote(name string) bool {
	if v.isHeld(name) {
		return true
	}
	m, ok := v.base.(uploadChecker)
	return ok && m.Wrote(name)
}

// Rename of a held upload publishes it under the new name. A held upload
// renamed over is discarded.
func (v *tempView) Rename(ctx context.Context, from, to string) error {
	if g := v.take(to); g != nil && path.Clean("/"+from) != path.Clean("/"+to) {
		_ = g.h.Abort(ctx)
	}
	f := v.take(from)
	if f == nil {
		return v.base.Rename(ctx, from, to)
	}
	return v.publish(ctx, f, path.Clean("/"+to))
}

// SetModTime of a held upload is kept and set once it is published.
func (v *tempView) SetModTime(ctx context.Context, name string, t time.Time) error {
	m, ok := storage.As[storage.ModTimeSetter](v.base)
	if !ok {
		return storage.E("setmodtime", name, storage.ErrNotSupported, nil)
	}
	if f := v.get(name); f != nil {
		v.mu.Lock()
		f.mtime = t
		v.mu.Unlock()
		return nil
	}
	return m.SetModTime(ctx, name, t)
}
