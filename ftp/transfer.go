package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

type countingInt = atomic.Int64

// transfer is one data transfer (RETR, STOR, LIST, ...) running in its own
// goroutine while the session keeps reading the control connection.
type transfer struct {
	verb, path string
	ctx        context.Context
	cancel     context.CancelFunc
	setup      *dataSetup
	done       chan error
	started    time.Time
	bytes      countingInt
	size       int64             // an upload's stored file: its offset plus what it stored
	up         *storage.Uploaded // an upload's record of what the store did
	preText    string            // text of the 1xx reply
	okText     string            // text of the 226 reply
	sent1xx    atomic.Bool
	aborted    atomic.Bool
	stored     atomic.Bool // an upload's file is stored (its event is emitted before 226)
	raw        *eofWatch   // a TLS data connection's TCP connection, nil without TLS
	// noCloseNotify: the end without close_notify was logged.
	noCloseNotify atomic.Bool

	mu   sync.Mutex
	conn net.Conn
}

// newTransfer takes the prepared data connection; pre-checks then run under
// x.ctx so ABOR and shutdown reach them too.
func (s *session) newTransfer(ctx context.Context, verb, path string) *transfer {
	xctx, cancel := context.WithCancel(ctx)
	x := &transfer{
		verb: verb, path: path, ctx: xctx, cancel: cancel,
		setup:   s.data,
		done:    make(chan error, 1),
		started: time.Now(),
		preText: "Opening data connection.",
		okText:  "Transfer complete.",
	}
	s.data = nil
	s.prepared = x
	return x
}

// discard gives up a transfer that failed its pre-checks.
func (x *transfer) discard() {
	x.cancel()
	x.setup.close()
}

// run starts fn in the background; serve picks up its result.
func (s *session) run(x *transfer, fn func(x *transfer) error) {
	s.xfer = x
	go func() {
		growStack()
		var err error
		defer func() {
			x.closeConn()
			x.setup.close()
			x.done <- err
		}()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in transfer", "verb", x.verb, "panic", p)
				err = errors.New("internal error")
			}
		}()
		err = fn(x)
	}()
}

// open establishes the data connection and sends the 1xx reply.
func (s *session) open(x *transfer) (net.Conn, error) {
	c, already, err := s.openData(x.ctx, x.setup)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	x.conn = c
	x.mu.Unlock()
	if x.aborted.Load() {
		return nil, errAborted
	}
	if already && x.verb == "STOU" {
		s.reply(codeAlreadyOpen, x.preText) // RFC 1123 4.1.2.9: the 1xx names the file
	} else if already {
		s.reply(codeAlreadyOpen, "Data connection already open; transfer starting.")
	} else {
		s.reply(codeAboutToOpen, x.preText)
	}
	x.sent1xx.Store(true)
	if s.protP {
		raw := &eofWatch{Conn: c}
		x.raw = raw
		tc := tls.Server(raw, s.dataTLS())
		hctx, cancel := context.WithTimeout(x.ctx, s.srv.cfg.DataTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return nil, &dataConnError{opening: true, err: err}
		}
		if s.srv.cfg.SessionReuse == ReuseRequire && !tc.ConnectionState().DidResume {
			s.log.Warn("data connection refused: it did not resume the control connection's TLS session", "peer", c.RemoteAddr().String())
			return nil, errNoReuse
		}
		x.mu.Lock()
		x.conn = tc
		x.mu.Unlock()
		c = tc
	}
	return s.throttle(x.ctx, &deadlineConn{Conn: c, timeout: s.srv.cfg.StallTimeout}), nil
}

func (x *transfer) closeConn() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.conn != nil {
		x.conn.Close()
	}
}

// abortTransfer stops the running transfer and waits for it; its result is
// then given to finishTransfer by the caller.
func (s *session) abortTransfer(byRequest bool) error {
	x := s.xfer
	x.aborted.Store(byRequest)
	x.cancel()
	x.closeConn()
	x.setup.close()
	err := <-x.done
	x.done <- err // finishTransfer reads it again
	return err
}

// finishTransfer sends the transfer's final reply and logs it.
func (s *session) finishTransfer(ctx context.Context, err error) {
	x := s.xfer
	if x == nil {
		return
	}
	select {
	case e := <-x.done:
		err = e
	default:
	}
	s.xfer = nil
	x.cancel()
	var code int
	switch {
	case err == nil:
		code = codeTransferComplete
		s.reply(codeTransferComplete, x.okText)
	case x.aborted.Load():
		code = s.replyError(ctx, x.verb, fmt.Errorf("%w: %w", errAborted, err), x.sent1xx.Load())
	default:
		code = s.replyError(ctx, x.verb, err, x.sent1xx.Load())
	}
	in, out := int64(0), x.bytes.Load()
	if x.verb == "STOR" || x.verb == "APPE" || x.verb == "STOU" {
		in, out = out, 0
	}
	if isUpload(x.verb) && code != codeTransferComplete {
		s.uploadFailed(ctx, x, code)
	}
	s.srv.cfg.Observer.Transfer(x.verb, code, in, out, time.Since(x.started))
	s.xferlog(x, code, in+out)
	s.log.Info("transfer", "op", x.verb, "path", x.path, "bytes", x.bytes.Load(),
		"duration", time.Since(x.started).Round(time.Millisecond), "code", code)
}

// lazyData is the reader a backend's Put pulls the upload from. The data
// connection is opened, and 150 sent, on the first Read: a backend that
// refuses the upload before reading (permission, bad name) gets a plain
// 5xx reply with no data connection opened.
type lazyData struct {
	s    *session
	x    *transfer
	conn io.Reader
	err  error // the first data-connection failure, reported over the backend's wrapping
	eof  bool  // the client's data ended
}

// drainMax bounds what drain reads.
const drainMax = 64 << 20

// drain reads and discards the rest of an upload that was refused while
// its data was still coming (over the quota; onto a file, refused by the
// store's conditional write), up to drainMax, so that the client sends
// it all and then reads the refusal. Closing the connection with data
// unread resets it, and clients such as lftp take a reset for a broken
// network and send the file again, and again.
func (r *lazyData) drain() {
	if r.conn == nil || r.err != nil || r.eof {
		return
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r.conn, drainMax+1))
	if err == nil && n <= drainMax {
		r.eof = true
	}
}

func (r *lazyData) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.conn == nil {
		c, err := r.s.open(r.x)
		if err != nil {
			r.err = err
			return 0, err
		}
		r.conn = c
	}
	n, err := r.conn.Read(p)
	r.x.bytes.Add(int64(n))
	if err != nil && err != io.EOF {
		if r.x.ctx.Err() != nil {
			err = errAborted
		}
		r.err = &dataConnError{err: err}
		return n, r.err
	}
	if err == io.EOF {
		r.eof = true
		if cerr := r.confirmEnd(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

// confirmEnd reports a client gone (killed, or its link cut) as an
// interruption, kept for resuming where the store can: the end of its
// data is not known to be the end of the file. Read asks it at the data
// connection's end, and the backend again (storage.WithEndCheck) just
// before the upload becomes final: a killed client's two connections
// end together but in no set order, so the data connection's end can
// come first and pass the check in Read.
func (r *lazyData) confirmEnd() error {
	if r.err == nil && peerClosed(r.s.conn) {
		r.err = &dataConnError{err: errClientGone}
	}
	if r.err == nil && r.x.raw != nil && r.x.raw.ended.Load() {
		// The TLS stream ended at a TCP close, without close_notify.
		if r.s.srv.cfg.TLSStrictEOF {
			r.err = &dataConnError{err: errNoCloseNotify}
		} else if r.x.noCloseNotify.CompareAndSwap(false, true) {
			r.s.log.Info("upload over TLS ended without close_notify; taken as the end of the file (--tls-strict-eof refuses it)", "path", r.x.path)
		}
	}
	return r.err
}

// errNoCloseNotify ends an upload whose TLS data connection closed without
// the client's close_notify, with TLSStrictEOF.
var errNoCloseNotify = errors.New("the TLS data connection ended without close_notify: the upload may be cut short")

// eofWatch is a TLS data connection's TCP connection: it notes the end of
// the TCP stream. crypto/tls reports io.EOF both for the client's
// close_notify (after which it reads no further) and for a TCP close
// between records; only in the second case has the TCP stream ended
// underneath.
type eofWatch struct {
	net.Conn
	ended atomic.Bool
}

func (c *eofWatch) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.ended.Store(true)
	}
	return n, err
}

// errClientGone ends an upload whose client closed the control connection
// before the data connection.
var errClientGone = errors.New("the client closed the control connection before the end of the upload")

// deadlineConn bounds every read and write on a data connection, so a
// stalled client cannot hold a transfer forever.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// xferlog writes the transfer's line in xferlog(5) format: time, seconds,
// remote host, bytes, file, type (a/b), action (_), direction (o/i),
// access mode (r), user, service, auth method, auth user id, completion
// (c complete, i incomplete). Listings are not file transfers and are
// left out, as classic servers do.
func (s *session) xferlog(x *transfer, code int, n int64) {
	w := s.srv.cfg.TransferLog
	if w == nil || x.verb == "LIST" || x.verb == "NLST" || x.verb == "MLSD" {
		return
	}
	typ, dir, done, user := "b", "o", "c", "-"
	if !s.binary {
		typ = "a"
	}
	if x.verb != "RETR" {
		dir = "i"
	}
	if code != codeTransferComplete {
		done = "i"
	}
	if s.acct != nil {
		user = s.acct.User
	}
	secs := max(int64(time.Since(x.started).Round(time.Second)/time.Second), 1)
	name := strings.NewReplacer(" ", "_", "\n", "_", "\r", "_").Replace(x.path)
	line := fmt.Sprintf("%s %d %s %d %s %s _ %s r %s ftp 0 * %s\n",
		time.Now().Format("Mon Jan _2 15:04:05 2006"), secs, s.remote.Addr(), n, name, typ, dir, user, done)
	s.srv.xferMu.Lock()
	defer s.srv.xferMu.Unlock()
	_, _ = io.WriteString(w, line)
}
