package auth

import (
	"context"
	"io"
	"path"
	"sync"
	"sync/atomic"

	"github.com/bucketftp/bucketftp/storage"
)

// quota tracks one user's usage. It is measured once, by walking the home,
// the first time it is needed, and then kept up to date by the scoped
// view, so uploads never list the whole home. Bytes of uploads still
// running count too, so parallel uploads cannot overshoot together.
type quota struct {
	base storage.Backend
	home string

	limit    int64
	mu       sync.Mutex
	measured bool
	usage    int64
	inflight atomic.Int64
}

func (q *quota) setLimit(n int64) {
	q.mu.Lock()
	q.limit = n
	q.mu.Unlock()
}

// used reports the bytes stored in the home.
func (q *quota) used(ctx context.Context) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.measured {
		n, err := walkSize(ctx, q.base, q.home)
		if err != nil {
			return 0, err
		}
		q.usage, q.measured = n, true
	}
	return q.usage, nil
}

func (q *quota) add(delta int64) {
	q.mu.Lock()
	q.usage = max(q.usage+delta, 0)
	q.mu.Unlock()
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
	r       io.Reader
	q       *quota
	name    string
	freed   int64 // bytes the upload replaces
	n       int64
	tripped bool
}

func (r *quotaReader) Read(p []byte) (int, error) {
	if r.tripped {
		return 0, r.err()
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	total := r.q.inflight.Add(int64(n))
	r.q.mu.Lock()
	over := r.q.usage+total-r.freed > r.q.limit
	r.q.mu.Unlock()
	if over {
		r.tripped = true
		return 0, r.err()
	}
	return n, err
}

func (r *quotaReader) err() error {
	return storage.E("put", r.name, storage.ErrQuota, nil)
}

// done ends the upload's in-flight accounting.
func (r *quotaReader) done() { r.q.inflight.Add(-r.n) }
