package s3store

import (
	"context"
	"sync"
)

// Part buffers are the bulk of an upload's memory. On Linux they are
// allocated outside the Go heap (anonymous mappings, buffers_linux.go): a
// few large, long-lived buffers on the heap would raise the garbage
// collector's target in step (it lets the heap grow to twice what is
// live), so resident memory would be about twice the buffers.
//
// Buffers are never freed, only reused: the HTTP client may still read a
// request body after the request returned (a store that answers before
// reading the whole body), and a freed buffer would then be read after free.
// Instead, a released buffer beyond what one upload needs is dropped from
// memory (its pages given back to the system, reading zeros if touched)
// and kept for reuse. The memory budget bounds how many exist at all.

// bufferPool hands out part buffers of a few sizes.
type bufferPool struct {
	keep int // released buffers per size kept resident; others are dropped

	mu   sync.Mutex
	free map[int64][]*partBuffer
}

type partBuffer struct {
	b        []byte
	mapped   bool // outside the Go heap: its pages can be dropped
	resident bool
}

func newBufferPool(keep int) *bufferPool {
	return &bufferPool{keep: keep, free: map[int64][]*partBuffer{}}
}

// get returns a buffer of size bytes, reusing a released one (resident
// ones first) or making a new one.
func (p *bufferPool) get(size int64) *partBuffer {
	p.mu.Lock()
	list := p.free[size]
	var pb *partBuffer
	if n := len(list); n > 0 {
		pb = list[n-1]
		p.free[size] = list[:n-1]
	}
	p.mu.Unlock()
	if pb == nil {
		b, mapped := allocBuffer(int(size))
		pb = &partBuffer{b: b, mapped: mapped}
	}
	pb.resident = true
	return pb
}

// put releases pb for reuse. Resident buffers stay at the end of the free
// list so get takes them first.
func (p *bufferPool) put(pb *partBuffer) {
	size := int64(len(pb.b))
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.free[size]
	resident := 0
	for _, f := range list {
		if f.resident {
			resident++
		}
	}
	if resident >= p.keep && pb.mapped {
		dropBuffer(pb.b)
		pb.resident = false
		p.free[size] = append([]*partBuffer{pb}, list...)
		return
	}
	p.free[size] = append(list, pb)
}

// buffer takes a part buffer, first waiting for room in the memory budget.
func (s *Store) buffer(ctx context.Context, size int64) ([]byte, func(), error) {
	weight := min(size, s.cfg.MemoryBudget)
	if err := s.budget.Acquire(ctx, weight); err != nil {
		return nil, nil, err
	}
	b, release := s.takeBuffer(size, weight)
	return b, release, nil
}

// tryBuffer is buffer without waiting: ok is false when the memory budget
// has no room now.
func (s *Store) tryBuffer(size int64) (buf []byte, release func(), ok bool) {
	weight := min(size, s.cfg.MemoryBudget)
	if !s.budget.TryAcquire(weight) {
		return nil, nil, false
	}
	buf, release = s.takeBuffer(size, weight)
	return buf, release, true
}

// takeBuffer hands out a buffer whose weight was acquired from the budget;
// release gives both back, once.
func (s *Store) takeBuffer(size, weight int64) ([]byte, func()) {
	pb := s.bufs.get(size)
	var once sync.Once
	return pb.b, func() {
		once.Do(func() {
			s.bufs.put(pb)
			s.budget.Release(weight)
		})
	}
}
