package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketftp/bucketftp/storage"
)

// Open streams an object from off: by default one GetObject with a Range
// from off, whose body is streamed as it arrives. With DownloadConcurrency
// set, the first GET covers one part and the rest of the object comes as
// part-sized ranged GETs, that many ahead of the client into part buffers:
// one S3 stream is bound by the store's latency, several at once reach
// close to the link's speed (rclone and the SDK's transfer manager download
// the same way). Every later range is pinned to the first response's ETag
// (If-Match), so a download reads one version of the object even if it is
// replaced meanwhile (that fails the download instead). Read-ahead never
// waits for the memory budget: without a free buffer the next range is
// fetched when the client reaches it.
func (s *Store) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	k, err := s.key("open", name)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithCancel(ctx)
	d := &download{s: s, ctx: dctx, cancel: cancel, name: name, key: k}
	to := off + s.cfg.PartSize - 1
	if s.cfg.DownloadConcurrency == 0 {
		to = -1 // no read-ahead: the whole rest in one GET
	}
	out, body, err := s.getRange(dctx, name, k, off, to, "")
	if err != nil {
		cancel()
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == 416 {
			return io.NopCloser(strings.NewReader("")), nil // at or past the end (or an empty object)
		}
		return nil, err
	}
	d.cur = body
	d.etag = aws.ToString(out.ETag)
	d.next = off + aws.ToInt64(out.ContentLength)
	d.end = d.next
	if total, ok := rangeTotal(aws.ToString(out.ContentRange)); ok {
		d.end = total
	}
	d.fill()
	return d, nil
}

// rangeTotal reads the object size from a Content-Range header
// ("bytes 0-99/1234").
func rangeTotal(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil
}

// getRange GETs bytes [from, to] of key (to may pass the end; -1: to the
// end), with If-Match etag when etag is set. The returned body ends the
// request when no data comes for the store timeout.
func (s *Store) getRange(ctx context.Context, name, key string, from, to int64, etag string) (*s3.GetObjectOutput, io.ReadCloser, error) {
	rctx, cancel := context.WithCancel(ctx)
	rng := fmt.Sprintf("bytes=%d-", from)
	if to >= 0 {
		rng += strconv.FormatInt(to, 10)
	}
	in := &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key, Range: &rng}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	hctx, hcancel := context.WithTimeout(rctx, s.cfg.Timeout)
	stop := context.AfterFunc(hctx, func() {
		if errors.Is(hctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	out, err := s.c.GetObject(rctx, in)
	stop()
	timedOut := errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	hcancel()
	if err != nil {
		cancel()
		if timedOut { // our own bound on the request, not the caller giving up
			return nil, nil, storage.E("open", name, storage.ErrTransient, err)
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == 416 {
			return nil, nil, err
		}
		return nil, nil, classify("open", name, err)
	}
	return out, &stallReader{rc: out.Body, cancel: cancel, timeout: s.cfg.Timeout, name: name}, nil
}

// download is an object being read: the range being streamed or served
// from a buffer, and the ranges fetched ahead.
type download struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc
	name   string
	key    string
	etag   string
	next   int64 // first byte not yet scheduled
	end    int64 // object size

	cur     io.ReadCloser // a range streamed straight from the store
	buf     *rangeFetch   // a fetched range being served
	bufPos  int
	pending []*rangeFetch // in order
	err     error         // sticky
}

// rangeFetch is one range [from, to); buffered ones are fetched ahead.
type rangeFetch struct {
	from, to int64
	buf      []byte // nil: fetch when reached, streaming
	release  func()
	data     []byte
	err      error
	done     chan struct{}
}

// fill schedules ranges until DownloadConcurrency are fetched ahead or no
// buffer is free.
func (d *download) fill() {
	for d.next < d.end && len(d.pending) < d.s.cfg.DownloadConcurrency {
		if n := len(d.pending); n > 0 && d.pending[n-1].buf == nil {
			return // an unbuffered range is waiting: fetch nothing past it yet
		}
		f := &rangeFetch{from: d.next, to: min(d.next+d.s.cfg.PartSize, d.end), done: make(chan struct{})}
		d.next = f.to
		d.pending = append(d.pending, f)
		buf, release, ok := d.s.tryBuffer(d.s.cfg.PartSize)
		if !ok {
			close(f.done)
			continue
		}
		f.buf, f.release = buf, release
		go d.fetch(f)
	}
}

func (d *download) fetch(f *rangeFetch) {
	defer close(f.done)
	_, body, err := d.s.getRange(d.ctx, d.name, d.key, f.from, f.to-1, d.etag)
	if err != nil {
		f.err = d.rangeErr(err)
		return
	}
	defer body.Close()
	n, err := io.ReadFull(body, f.buf[:f.to-f.from])
	if err != nil {
		f.err = d.rangeErr(err)
		return
	}
	f.data = f.buf[:n]
}

// rangeErr classifies a failure of a later range. A 416 or a short body
// there means the object changed or was cut under the download.
func (d *download) rangeErr(err error) error {
	var se *storage.Error
	if errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return err
	}
	return storage.E("read", d.name, storage.ErrTransient, fmt.Errorf("object changed during the download: %w", err))
}

func (d *download) Read(p []byte) (int, error) {
	for d.err == nil {
		if d.cur != nil {
			n, err := d.cur.Read(p)
			if err == io.EOF {
				d.cur.Close()
				d.cur = nil
				err = nil
				if n == 0 {
					continue
				}
			}
			if err != nil {
				d.err = err
			}
			return n, err
		}
		if d.buf != nil {
			if d.bufPos < len(d.buf.data) {
				n := copy(p, d.buf.data[d.bufPos:])
				d.bufPos += n
				return n, nil
			}
			d.buf.release()
			d.buf = nil
			d.fill()
			continue
		}
		if len(d.pending) == 0 {
			d.fill()
			if len(d.pending) == 0 {
				return 0, io.EOF
			}
		}
		f := d.pending[0]
		d.pending = d.pending[1:]
		<-f.done
		switch {
		case f.err != nil:
			if f.release != nil {
				f.release()
			}
			d.err = f.err
		case f.buf == nil: // no buffer was free: stream this range
			_, body, err := d.s.getRange(d.ctx, d.name, d.key, f.from, f.to-1, d.etag)
			if err != nil {
				d.err = d.rangeErr(err)
				break
			}
			d.cur = &limitedBody{ReadCloser: body, left: f.to - f.from}
			d.fill()
		default:
			d.buf, d.bufPos = f, 0
			d.fill()
		}
	}
	return 0, d.err
}

// Close ends the download: requests in flight are cancelled and their
// buffers returned.
func (d *download) Close() error {
	d.cancel()
	if d.cur != nil {
		d.cur.Close()
	}
	if d.buf != nil {
		d.buf.release()
		d.buf = nil
	}
	for _, f := range d.pending {
		<-f.done
		if f.release != nil {
			f.release()
		}
	}
	d.pending = nil
	return nil
}

// limitedBody is a streamed range that must hold exactly left bytes.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left != 0 {
		err = storage.E("read", "", storage.ErrTransient, io.ErrUnexpectedEOF)
	}
	return n, err
}

// stallReader ends a download whose body stops flowing for longer than the
// timeout (a store that hangs mid-transfer), instead of waiting forever.
type stallReader struct {
	rc      io.ReadCloser
	cancel  context.CancelFunc
	timeout time.Duration
	name    string
	stalled atomic.Bool
	timer   *time.Timer
}

func (r *stallReader) Read(p []byte) (int, error) {
	if r.timer == nil {
		r.timer = time.AfterFunc(r.timeout, func() {
			r.stalled.Store(true)
			r.cancel()
		})
	} else {
		r.timer.Reset(r.timeout)
	}
	n, err := r.rc.Read(p)
	r.timer.Stop()
	if err != nil && err != io.EOF {
		if r.stalled.Load() {
			err = fmt.Errorf("no data for %v: %w", r.timeout, context.DeadlineExceeded)
		}
		return n, classify("read", r.name, err)
	}
	return n, err
}

func (r *stallReader) Close() error {
	if r.timer != nil {
		r.timer.Stop()
	}
	r.cancel()
	return r.rc.Close()
}
