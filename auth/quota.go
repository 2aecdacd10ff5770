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
}

// usage tracks the bytes one user stores. It is measured once, by walking
// the home, the first time it is needed, and then kept up to date by the
// scoped views, so uploads never list the whole home. Bytes of uploads
// still running count too, so parallel uploads cannot overshoot together.
//
// It is exact for changes made through bucketftp; changes made behind its
// back (another user whose home overlaps, the bucket edited directly) are
// seen only after a restart or when the user's home changes.
type usage struct {
	base storage.Backend
	home string

	mu       sync.Mutex // held during the first walk, so it happens once
	measured bool
	stored   int64
	inflight int64 // bytes read by running uploads, not yet in stored
}

// used reports the bytes stored in the home.
func (u *usage) used(ctx context.Context) (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.measured {
		n, err := walkSize(ctx, u.base, u.home)
		if err != nil {
			return 0, err
		}
		u.stored, u.measured = n, true
	}
	return u.stored, nil
}

// add records a change made outside an upload (a delete). Before the first
// measurement there is nothing to adjust: the walk will see the change.
func (u *usage) add(delta int64) {
	u.mu.Lock()
	if u.measured {
		u.stored = max(u.stored+delta, 0)
	}
	u.mu.Unlock()
}

// reserve counts n more bytes of an upload that will free freed bytes when
// it completes, unless that takes the total over limit.
func (u *usage) reserve(n, freed, limit int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stored+u.inflight+n-freed > limit {
		return false
	}
	u.inflight += n
	return true
}

// finish ends an upload that reserved reserved bytes; delta is the change
// in stored bytes when it succeeded, 0 when it did not.
func (u *usage) finish(reserved, delta int64) {
	u.mu.Lock()
	u.inflight -= reserved
	if u.measured {
		u.stored = max(u.stored+delta, 0)
	}
	u.mu.Unlock()
}

func walkSize(ctx context.Context, b storage.Backend, dir string) (int64, error) {
	var total int64
	var dirs []string
	for e, err := range b.List(ctx, dir) {
		if err != nil {
			return 0, err
		}
		if e.IsDir {
			dirs = append(dirs, path.Join(dir, e.Name))
		} else {
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
	r        io.Reader
	q        *quota
	op, name string // for the error, in the user's view
	freed    int64  // bytes the upload replaces
	reserved int64
	tripped  bool
}

func (r *quotaReader) Read(p []byte) (int, error) {
	if r.tripped {
		return 0, r.err()
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if !r.q.reserve(int64(n), r.freed, r.q.limit) {
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
