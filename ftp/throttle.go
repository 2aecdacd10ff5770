package ftp

import (
	"context"
	"net"

	"golang.org/x/time/rate"
)

// throttledConn holds a data connection to the login's bandwidth (the
// user's token buckets, shared by all their sessions, and the client
// address's): reads wait on the up buckets, writes on the down ones.
//
// The waits happen between reads and writes of the connection under it,
// a deadlineConn, which sets its stall deadline at each call: waiting for
// tokens never counts as a stall. They end with ctx, the transfer's, so
// ABOR and shutdown stop a throttled transfer at once.
type throttledConn struct {
	net.Conn
	ctx      context.Context
	up, down []*rate.Limiter
}

// throttle wraps c when the login has a limit.
func (s *session) throttle(ctx context.Context, c net.Conn) net.Conn {
	if s.acct == nil || (len(s.acct.Bandwidth.Up) == 0 && len(s.acct.Bandwidth.Down) == 0) {
		return c
	}
	return &throttledConn{Conn: c, ctx: ctx, up: s.acct.Bandwidth.Up, down: s.acct.Bandwidth.Down}
}

// Read reads at most a bucket's burst, then waits for the bytes read.
func (c *throttledConn) Read(p []byte) (int, error) {
	if len(c.up) == 0 {
		return c.Conn.Read(p)
	}
	p = p[:min(len(p), chunk(c.up))]
	n, err := c.Conn.Read(p)
	if n > 0 {
		if werr := waitAll(c.ctx, c.up, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// Write waits for each burst-sized chunk before writing it.
func (c *throttledConn) Write(p []byte) (int, error) {
	if len(c.down) == 0 {
		return c.Conn.Write(p)
	}
	total := 0
	for len(p) > 0 {
		k := min(len(p), chunk(c.down))
		if err := waitAll(c.ctx, c.down, k); err != nil {
			return total, err
		}
		n, err := c.Conn.Write(p[:k])
		total += n
		if err != nil {
			return total, err
		}
		p = p[k:]
	}
	return total, nil
}

// chunk is the most one wait may ask of every bucket in ls.
func chunk(ls []*rate.Limiter) int {
	n := 1 << 20
	for _, l := range ls {
		if l.Limit() != rate.Inf {
			n = min(n, max(l.Burst(), 1))
		}
	}
	return n
}

// waitAll takes n tokens from each bucket in turn, in pieces no larger
// than its burst (rate.Limiter refuses more at once). A reload may shrink
// a burst between the look and the wait; the piece is then retried
// smaller.
func waitAll(ctx context.Context, ls []*rate.Limiter, n int) error {
	for _, l := range ls {
		for left, tries := n, 0; left > 0; {
			k := min(left, max(l.Burst(), 1))
			if err := l.WaitN(ctx, k); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if tries++; tries > 3 {
					return err
				}
				continue
			}
			left -= k
		}
	}
	return nil
}
