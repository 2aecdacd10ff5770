package ftp

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// A wait for tokens ends with the transfer's context: ABOR must not wait
// for the bucket to fill.
func TestThrottleWaitIsCancellable(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"read", "write"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			a, b := net.Pipe()
			t.Cleanup(func() { a.Close(); b.Close() })
			go io.Copy(io.Discard, b)                           // the peer reads everything
			go func() { _, _ = b.Write(make([]byte, 1<<20)) }() // and has plenty to send
			l := rate.NewLimiter(10, 1000)                      // 1000 bytes take 100 s once the burst is spent
			l.AllowN(time.Now(), 1000)
			ctx, cancel := context.WithCancel(t.Context())
			c := &throttledConn{Conn: a, ctx: ctx, up: []*rate.Limiter{l}, down: []*rate.Limiter{l}}
			done := make(chan error, 1)
			go func() {
				var err error
				if dir == "read" {
					_, err = c.Read(make([]byte, 1000))
				} else {
					_, err = c.Write(make([]byte, 1000))
				}
				done <- err
			}()
			time.Sleep(50 * time.Millisecond) // let it wait; the test holds either way
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("%s after cancel: %v, want context.Canceled", dir, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s still waiting for tokens 10 s after its context ended", dir)
			}
		})
	}
}

// recorder is a net.Conn that records the sizes of the reads and writes
// asked of it.
type recorder struct {
	net.Conn
	reads, writes []int
}

func (r *recorder) Read(p []byte) (int, error) {
	r.reads = append(r.reads, len(p))
	return len(p), nil
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, len(p))
	return len(p), nil
}

// A buffer larger than a bucket's burst is moved in burst-sized chunks
// (rate.Limiter.WaitN refuses more than the burst at once), through the
// smallest burst of the user's and the address's buckets.
func TestThrottleChunksBigBuffers(t *testing.T) {
	t.Parallel()
	user := rate.NewLimiter(rate.Inf, 0) // a lifted limit: no wait, no chunking of its own
	addr := rate.NewLimiter(1<<30, 4096)
	r := &recorder{}
	c := &throttledConn{Conn: r, ctx: t.Context(), up: []*rate.Limiter{user, addr}, down: []*rate.Limiter{user, addr}}
	n, err := c.Write(make([]byte, 10000))
	if err != nil || n != 10000 {
		t.Fatalf("Write: %d %v", n, err)
	}
	if want := []int{4096, 4096, 1808}; !slices.Equal(r.writes, want) {
		t.Fatalf("writes %v, want %v", r.writes, want)
	}
	if n, err := c.Read(make([]byte, 1<<20)); err != nil || n != 4096 {
		t.Fatalf("Read of 1 MiB: %d %v, want 4096 (the burst)", n, err)
	}
}
