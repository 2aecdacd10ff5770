package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage/s3store"
)

// s3Proxy stands between bucketftp and MinIO: a stable address across
// container restarts, and a place to inject throttling.
type s3Proxy struct {
	target   atomic.Pointer[url.URL]
	throttle atomic.Pointer[func(*http.Request) bool] // requests answered 503 SlowDown
	srv      *http.Server
	addr     string
}

func newS3Proxy(t *testing.T, target string) *s3Proxy {
	t.Helper()
	p := &s3Proxy{}
	p.setTarget(t, target)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(p.target.Load())
		r.Out.Host = r.In.Host // keep the signed Host header
	}}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := p.throttle.Load(); f != nil && (*f)(r) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = "http://" + l.Addr().String()
	go p.srv.Serve(l)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *s3Proxy) setTarget(t *testing.T, target string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p.target.Store(u)
}

func (p *s3Proxy) setThrottle(f func(*http.Request) bool) {
	if f == nil {
		p.throttle.Store(nil)
		return
	}
	p.throttle.Store(&f)
}

// faultEnv is a MinIO of its own, a proxy, and a bucketftp on S3 through it.
type faultEnv struct {
	t      *testing.T
	minio  *minioServer
	proxy  *s3Proxy
	store  *s3store.Store
	bucket string
	addr   string
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	m, err := startMinio(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	// Runs before m.stop: a test that failed mid-pause must not leave a
	// paused container behind, which could not be stopped and removed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = exec.CommandContext(ctx, "docker", "unpause", m.c.GetContainerID()).Run()
	})
	bucket := m.newBucket(t)
	proxy := newS3Proxy(t, m.endpoint)
	viaProxy := *m
	viaProxy.endpoint = proxy.addr
	store := viaProxy.newStore(t, bucket, "", func(c *s3store.Config) { c.Timeout = 2 * time.Second })

	addr := startFTP(t, store)
	return &faultEnv{t: t, minio: m, proxy: proxy, store: store, bucket: bucket, addr: addr}
}

func (f *faultEnv) docker(args ...string) {
	f.t.Helper()
	args = append(args, f.minio.c.GetContainerID())
	if out, err := exec.CommandContext(f.t.Context(), "docker", args...).CombinedOutput(); err != nil {
		f.t.Fatalf("docker %v: %v %s", args, err, out)
	}
}

// restart starts the stopped container and points the proxy at its
// (possibly new) port.
func (f *faultEnv) restart() {
	f.t.Helper()
	f.docker("start")
	ctx, cancel := context.WithTimeout(f.t.Context(), time.Minute)
	defer cancel()
	hostPort, err := f.minio.c.ConnectionString(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	f.proxy.setTarget(f.t, "http://"+hostPort)
	f.minio.endpoint = "http://" + hostPort
	client, err := newMinioClient(hostPort)
	if err != nil {
		f.t.Fatal(err)
	}
	f.minio.client = client
	for {
		if _, err := client.BucketExists(ctx, f.bucket); err == nil {
			return
		}
		if ctx.Err() != nil {
			f.t.Fatal("MinIO did not come back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clean checks what the issue promises after a fault: no object by that
// name and no multipart upload left open (waiting for background aborts).
func (f *faultEnv) clean(name string) {
	f.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for f.minio.openUploads(f.t, f.bucket) != 0 {
		if time.Now().After(deadline) {
			f.t.Fatalf("multipart uploads still open after %s failed", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, ok := f.minio.objects(f.t, f.bucket)[name]; ok {
		f.t.Fatalf("partial object %s is visible", name)
	}
}

// rawFTP is a minimal control connection for exact reply codes.
type rawFTP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (f *faultEnv) login() *rawFTP {
	f.t.Helper()
	c, err := net.DialTimeout("tcp", f.addr, 10*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	r := &rawFTP{t: f.t, c: c, r: bufio.NewReader(c)}
	r.expect(220)
	r.must("USER u", 331)
	r.must("PASS pw", 230)
	r.must("TYPE I", 200)
	return r
}

func (r *rawFTP) reply() (int, string) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(90 * time.Second))
	var text string
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			r.t.Fatalf("reading reply: %v", err)
		}
		text += line
		if len(line) >= 4 && line[3] == ' ' {
			code, _ := strconv.Atoi(line[:3])
			return code, strings.TrimSpace(text)
		}
	}
}

func (r *rawFTP) expect(codes ...int) int {
	r.t.Helper()
	code, text := r.reply()
	for _, c := range codes {
		if code == c {
			return code
		}
	}
	r.t.Fatalf("got %q, want one of %v", text, codes)
	return 0
}

func (r *rawFTP) must(cmd string, codes ...int) int {
	r.t.Helper()
	fmt.Fprintf(r.c, "%s\r\n", cmd)
	return r.expect(codes...)
}

func (r *rawFTP) pasv() net.Conn {
	r.t.Helper()
	fmt.Fprintf(r.c, "EPSV\r\n")
	_, text := r.reply()
	i, j := strings.Index(text, "(|||"), strings.LastIndex(text, "|)")
	d, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", text[i+4:j]), 10*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { d.Close() })
	return d
}

// storWithFault uploads size bytes, calling fault after half of them, and
// returns the final reply code. The client keeps sending until the server
// stops reading.
func (r *rawFTP) storWithFault(name string, size int, fault func()) int {
	r.t.Helper()
	d := r.pasv()
	fmt.Fprintf(r.c, "STOR %s\r\n", name)
	r.expect(125, 150)
	chunk := make([]byte, 256<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		if sent == size/2 {
			fault()
		}
		d.SetWriteDeadline(time.Now().Add(60 * time.Second))
		if _, err := d.Write(chunk); err != nil {
			break // the server gave up on the upload
		}
	}
	d.Close()
	code, _ := r.reply()
	return code
}

func (r *rawFTP) retrWithFault(name string, fault func()) int {
	r.t.Helper()
	d := r.pasv()
	fmt.Fprintf(r.c, "RETR %s\r\n", name)
	r.expect(125, 150)
	buf := make([]byte, 1<<20)
	d.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(d, buf); err != nil {
		r.t.Fatal(err)
	}
	fault()
	d.SetReadDeadline(time.Now().Add(60 * time.Second))
	io.Copy(io.Discard, d)
	code, _ := r.reply()
	return code
}

func TestStoreFaults(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	c := f.login()
	const size = 24 << 20 // three 8 MiB parts

	t.Run("paused mid-upload", func(t *testing.T) {
		code := c.storWithFault("paused.bin", size, func() { f.docker("pause") })
		f.docker("unpause")
		if code != 451 {
			t.Fatalf("STOR while paused: %d, want 451", code)
		}
		f.clean("paused.bin")
	})
	t.Run("serves again after a pause", func(t *testing.T) {
		if code := c.storWithFault("after-pause.bin", size, func() {}); code != 226 {
			t.Fatalf("STOR after unpause: %d", code)
		}
	})
	t.Run("paused mid-download", func(t *testing.T) {
		// Larger than every buffer between MinIO and the client together.
		big := io.LimitReader(zeros{}, 128<<20)
		if _, err := f.store.Put(t.Context(), "/big.bin", big, -1); err != nil {
			t.Fatal(err)
		}
		code := c.retrWithFault("big.bin", func() { f.docker("pause") })
		f.docker("unpause")
		if code != 451 && code != 426 {
			t.Fatalf("RETR while paused: %d, want 451", code)
		}
	})
	t.Run("throttled", func(t *testing.T) {
		f.proxy.setThrottle(func(*http.Request) bool { return true })
		// A file this server has not just uploaded (that one's size is
		// known without asking the store for a few seconds).
		c.must("SIZE never-stored.bin", 450)
		d := c.pasv()
		fmt.Fprintf(c.c, "STOR throttled.bin\r\n")
		// 450 before the data when the STOR asks the store first; when the
		// directory is known from the last few seconds (docs/s3.md) the
		// first request is the upload's own, and the throttle fails it
		// after the 150.
		if code := c.expect(450, 125, 150); code != 450 {
			d.Write([]byte("some bytes"))
			d.Close()
			c.expect(450, 451)
		}
		d.Close()
		// Only part uploads throttled: the upload fails after 150, and is aborted.
		f.proxy.setThrottle(func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Query().Has("partNumber") })
		if code := c.storWithFault("throttled.bin", size, func() {}); code != 451 {
			t.Fatalf("STOR with throttled parts: %d, want 451", code)
		}
		f.proxy.setThrottle(nil)
		f.clean("throttled.bin")
		if code := c.storWithFault("after-throttle.bin", size, func() {}); code != 226 {
			t.Fatalf("STOR after throttling ended: %d", code)
		}
	})
	t.Run("stopped mid-upload", func(t *testing.T) {
		code := c.storWithFault("stopped.bin", size, func() { f.docker("stop", "-t", "1") })
		if code != 451 {
			t.Fatalf("STOR while stopped: %d, want 451", code)
		}
		start := time.Now()
		c.must("SIZE after-pause.bin", 450)
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("reply with the store down took %v", d)
		}
		f.restart()
		f.clean("stopped.bin")
		c.must("SIZE after-pause.bin", 213)
		if code := c.storWithFault("after-stop.bin", size, func() {}); code != 226 {
			t.Fatalf("STOR after restart: %d", code)
		}
	})
	t.Run("stopped mid-download", func(t *testing.T) {
		start := time.Now()
		code := c.retrWithFault("big.bin", func() { f.docker("stop", "-t", "1") })
		if code != 451 && code != 426 {
			t.Fatalf("RETR while stopped: %d, want 451 or 426", code)
		}
		if d := time.Since(start); d > 60*time.Second {
			t.Fatalf("RETR with the store going down took %v", d)
		}
		f.restart()
		d := c.pasv()
		fmt.Fprintf(c.c, "RETR big.bin\r\n")
		c.expect(125, 150)
		d.SetReadDeadline(time.Now().Add(60 * time.Second))
		n, err := io.Copy(io.Discard, d)
		d.Close()
		if err != nil || n != 128<<20 {
			t.Fatalf("RETR after restart: %d bytes, %v", n, err)
		}
		c.expect(226)
	})
	if errors.Is(t.Context().Err(), context.Canceled) {
		return
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
