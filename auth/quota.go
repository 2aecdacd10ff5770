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
	if u.shared.on() {
		u.shared.change(ctx, u, delta)
		return
	}
	if u.measured {
		u.stored = max(u.stored+delta, 0)
	}
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

// finish ends an upload that reserved reserved bytes; delta is the change
// in stored bytes when it succeeded, 0 when it did not.
func (u *usage) finish(ctx context.Context, reserved, delta int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.inflight -= reserved
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
// the limit, then fails with ErrQuota so the backend stores nothing.
type quotaReader struct {
	ctx      context.Context
	r        io.Reader
	q        *quota
	op, name string // for the error, in the user's view
	freed    int64  // bytes the upload replaces
	reserved int64
	tripped  bool
	failed   error // from the shared usage
}

func (r *quotaReader) Read(p []byte) (int, error) {
	if r.tripped {
		return 0, r.err()
	}
	if r.failed != nil {
		return 0, r.failed
	}
	n, err := r.r.Read(p)
	if n > 0 {
		ok, err := r.q.reserve(r.ctx, int64(n), r.freed, r.q.limit)
		if err != nil {
			// The shared usage could not be read or written: the upload
			// fails as the store does, nothing is stored.
			r.failed = err
			return 0, err
		}
		if !ok {
			r.tripped = true
			return 0, r.err()
		}
		r.reserved += int64(n)
	}
	return n, err
}

func (r *quotaReader) err() error {
	return storage.E(r.op, r.name, storage.ErrQuota, nil)
}

// reserveLocal is reserve's check without a ledger, for a ledger that
// found its store cannot share: need is this process's total; u.mu is held.
func (u *usage) reserveLocal(need, limit int64) bool {
	return u.stored+need <= limit
}
