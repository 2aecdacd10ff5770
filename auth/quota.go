package auth

import (
	"context"
	"io"
	"path"
	"sync"

	"github.com/bucketftp/bucketftp/storage"
)

// quota is one session's view of its user's quota: the limit as of login
// (a reload changes it for later logins, like permissions) and the usage,
// which every session of the user shares.
type quota struct {
	limit int64
	*usage
	base storage.Backend // the store, which counts the user's kept uploads
}

// usage tracks the bytes one user stores. It is measured once, by walking
// the home, the first time it is needed, and then kept up to date by the
// scoped views, so uploads never list the whole home. Bytes of uploads
// still running count too, so parallel uploads cannot overshoot together.
//
// With a shared ledger (several server processes on one bucket), the
// measurement and every change live in a document in the store that all
// processes update with conditional writes, and a process holds space in
// it before it accepts an upload's bytes (ledger.go).
//
// It is exact for changes made through bucketftp; changes made behind its
// back (another user whose home overlaps, the bucket edited directly) are
// seen only after a new measurement: a restart without a ledger, removing
// the ledger's document with one.
type usage struct {
	base   storage.Backend
	home   string
	shared *ledger // nil: this process's own count

	mu       sync.Mutex // held during the first walk, so it happens once
	measured bool
	stored   int64
	inflight int64 // bytes read by running uploads, not yet in stored

	// onto are the names (the store's) that uploads of this process are
	// running onto, each with the bytes its file counts for now. Of two
	// uploads onto one name, the second to complete replaces what the
	// first stored, not the file both found: each counts as replaced
	// what is counted at its end, so the old file's bytes are freed once.
	onto map[string]*counted
}

// counted is a name with uploads running onto it.
type counted struct {
	size    int64 // the bytes the name's file counts for
	uploads int
}

// begin registers an upload onto name, whose file it found at old bytes
// (0: none); where another upload onto name began earlier, what that one
// found or stored since stays the count (now).
func (u *usage) begin(name string, old int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.onto[name]
	if c == nil {
		if u.onto == nil {
			u.onto = map[string]*counted{}
		}
		c = &counted{size: old}
		u.onto[name] = c
	}
	c.uploads++
}

// now is what name's file counts for, while uploads run onto it; def
// otherwise.
func (u *usage) now(name string, def int64) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := u.onto[name]; c != nil {
		return c.size
	}
	return def
}

// recount records that name's file now has size bytes after a change
// that is not an upload (a delete, a rename), where uploads run onto it;
// it returns what the file counted for before: def where none run.
func (u *usage) recount(name string, def, size int64) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c := u.onto[name]; c != nil {
		def, c.size = c.size, size
	}
	return def
}

// used reports the bytes stored in the home.
func (u *usage) used(ctx context.Context) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.shared.on() {
		return u.shared.used(ctx, u)
	}
	if !u.measured {
		// Links out of the home are not followed (scoped.confine), so
		// another user's files never count in this one's usage.
		n, err := walkSize(storage.WithConfinement(ctx, u.home), u.base, u.home)
		if err != nil {
			return 0, err
		}
		u.stored, u.measured = n, true
	}
	return u.stored, nil
}

// add records a change made outside an upload (a delete). Before the first
// measurement there is nothing to adjust: the walk will see the change.
func (u *usage) add(ctx context.Context, delta int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.apply(ctx, delta)
}

// reserve counts n more bytes of an upload that will free freed bytes when
// it completes, unless that takes the total over limit.
func (u *usage) reserve(ctx context.Context, n, freed, limit int64) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.shared.on() {
		ok, err := u.shared.hold(ctx, u, u.inflight+n-freed, limit)
		if ok {
			u.inflight += n
		}
		return ok, err
	}
	if u.stored+u.inflight+n-freed > limit {
		return false, nil
	}
	u.inflight += n
	return true, nil
}

// finish ends an upload onto name (begin) that reserved reserved bytes.
// When it stored the file, size bytes, that replaces what the file
// counted for, which finish returns.
func (u *usage) finish(ctx context.Context, name string, reserved int64, stored bool, size int64) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.inflight -= reserved
	c := u.onto[name]
	replaced := c.size
	var delta int64
	if stored {
		delta = size - c.size
		c.size = size
	}
	if c.uploads--; c.uploads == 0 {
		delete(u.onto, name)
	}
	u.apply(ctx, delta)
	return replaced
}

// apply changes the stored bytes by delta; u.mu is held.
func (u *usage) apply(ctx context.Context, delta int64) {
	if u.shared.on() {
		u.shared.change(ctx, u, delta)
		return
	}
	if u.measured {
		u.stored = max(u.stored+delta, 0)
	}
}

// walkSize is the size of the files under dir, as everyone sees them (an
// interrupted upload counts once it is complete).
func walkSize(ctx context.Context, b storage.Backend, dir string) (int64, error) {
	ctx = asNobody(ctx)
	var total int64
	var dirs []string
	for e, err := range b.List(ctx, dir) {
		if err != nil {
			return 0, err
		}
		switch {
		case e.Link:
			// A link's target is counted where it is (in the home), or
			// not at all (out of it): never twice, never in a loop.
		case e.IsDir:
			dirs = append(dirs, path.Join(dir, e.Name))
		case !e.Partial:
			total += e.Size
		}
	}
	for _, d := range dirs {
		n, err := walkSize(ctx, b, d)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// quotaReader passes an upload through until it would take the user over
// the limit, then fails with ErrQuota so the backend stores nothing. What
// the upload frees (freed) is asked again every recheckEvery bytes and at
// the end, where the check is made once more even for an upload of no
// bytes: other uploads onto the same name may have completed, and the
// user's other interrupted uploads (kept, which count) come and go while
// it runs.
type quotaReader struct {
	ctx      context.Context
	r        io.Reader
	q        *quota
	op, name string       // for the error, in the user's view
	freed    func() int64 // bytes the upload frees when it completes
	reserved int64
	cached   *int64 // freed, as last asked
	unsure   int64  // bytes reserved since
	tripped  bool
	failed   error // from the shared usage
}

const recheckEvery = 1 << 20

func (r *quotaReader) Read(p []byte) (int, error) {
	if r.tripped {
		return 0, r.err()
	}
	if r.failed != nil {
		return 0, r.failed
	}
	n, err := r.r.Read(p)
	if n > 0 || err == io.EOF {
		if ferr := r.reserve(int64(n), err == io.EOF); ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

// reserve holds n more bytes under the quota (and checks, with n 0, that
// the upload still fits when it ends).
func (r *quotaReader) reserve(n int64, end bool) error {
	r.unsure += n
	ok, err := r.q.reserve(r.ctx, n, r.freedNow(end), r.q.limit)
	if err != nil {
		// The shared usage could not be read or written: the upload
		// fails as the store does, nothing is stored.
		r.failed = err
		return err
	}
	if !ok {
		r.tripped = true
		return r.err()
	}
	r.reserved += n
	return nil
}

// freedNow is what the upload frees, asked again when due.
func (r *quotaReader) freedNow(end bool) int64 {
	if end || r.unsure >= recheckEvery || r.cached == nil {
		v := r.freed()
		r.cached, r.unsure = &v, 0
	}
	return *r.cached
}

func (r *quotaReader) err() error {
	return storage.E(r.op, r.name, storage.ErrQuota, nil)
}

// reserveLocal is reserve's check without a ledger, for a ledger that
// found its store cannot share: need is this process's total; u.mu is held.
func (u *usage) reserveLocal(need, limit int64) bool {
	return u.stored+need <= limit
}
