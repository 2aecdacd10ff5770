package integration

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// s3Recorder is a reverse proxy in front of MinIO that records every S3
// request by kind, so a test can assert what an FTP command costs. Point
// an s3store's endpoint at addr.
type s3Recorder struct {
	addr string // http://127.0.0.1:port

	mu       sync.Mutex
	reqs     []s3Request
	answered map[string]int  // by kind: requests whose reply the store has sent in full
	gate     func(s3Request) // called before each request goes on to the store; nil: none
}

// setGate has each request pass gate (which may block it) before it goes
// on to the store.
func (rec *s3Recorder) setGate(gate func(s3Request)) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.gate = gate
}

// s3Request is one request as the recorder saw it.
type s3Request struct {
	Kind string // HEAD, GET, GET-TAGGING, PUT-TAGGING, LIST, PUT, PUT-IF-NONE-MATCH, COPY, DELETE, DELETE-MULTI, MPU-CREATE, MPU-PART, MPU-COMPLETE, MPU-ABORT, OTHER
	Key  string // the object key, or the listing's prefix
	Size int64  // the request body's length (Content-Length)
}

func (r s3Request) String() string { return r.Kind + " " + r.Key }

func newS3Recorder(t testing.TB, target string) *s3Recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &s3Recorder{answered: map[string]int{}}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // keep the signed Host header
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		req := classifyS3(r)
		req.Size = max(r.ContentLength, 0)
		rec.reqs = append(rec.reqs, req)
		gate := rec.gate
		rec.mu.Unlock()
		if gate != nil {
			gate(req)
		}
		rp.ServeHTTP(w, r)
		rec.mu.Lock()
		rec.answered[req.Kind]++
		rec.mu.Unlock()
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec.addr = "http://" + l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return rec
}

// classifyS3 names a path-style S3 request's kind from its method, query
// and headers.
func classifyS3(r *http.Request) s3Request {
	q := r.URL.Query()
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/") // bucket/key
	kind := "OTHER"
	switch {
	case r.Method == http.MethodGet && q.Has("list-type"):
		kind, key = "LIST", q.Get("prefix")
	case r.Method == http.MethodHead:
		kind = "HEAD"
	case r.Method == http.MethodGet && q.Has("tagging"):
		kind = "GET-TAGGING"
	case r.Method == http.MethodGet:
		kind = "GET"
	case r.Method == http.MethodPut && q.Has("uploadId"):
		kind = "MPU-PART"
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		kind = "COPY"
	case r.Method == http.MethodPut && r.Header.Get("If-None-Match") != "":
		kind = "PUT-IF-NONE-MATCH"
	case r.Method == http.MethodPut && q.Has("tagging"):
		kind = "PUT-TAGGING"
	case r.Method == http.MethodPut:
		kind = "PUT"
	case r.Method == http.MethodPost && q.Has("uploads"):
		kind = "MPU-CREATE"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		kind = "MPU-COMPLETE"
	case r.Method == http.MethodPost && q.Has("delete"):
		kind = "DELETE-MULTI"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		kind = "MPU-ABORT"
	case r.Method == http.MethodDelete:
		kind = "DELETE"
	}
	return s3Request{Kind: kind, Key: key}
}

// take returns the requests recorded since the last take.
func (rec *s3Recorder) take() []s3Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.reqs
	rec.reqs = nil
	return r
}

// answeredCount is how many requests of kind the store has answered
// since the recorder started (take does not reset it): a request is
// recorded when it arrives, before the store has done it.
func (rec *s3Recorder) answeredCount(kind string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.answered[kind]
}

// count is how many of reqs are of one of kinds (all when none given).
func count(reqs []s3Request, kinds ...string) int {
	n := 0
	for _, r := range reqs {
		if len(kinds) == 0 || slices.Contains(kinds, r.Kind) {
			n++
		}
	}
	return n
}

// countFiles is count of the requests on files: those on the server's
// reserved keys (.bucketftp/: resume records, the outbox) left out.
func countFiles(reqs []s3Request, kinds ...string) int {
	n := 0
	for _, r := range reqs {
		if !strings.HasPrefix(r.Key, ".bucketftp/") && !strings.Contains(r.Key, "/.bucketftp/") {
			n += count([]s3Request{r}, kinds...)
		}
	}
	return n
}

// summary counts reqs by kind, for failure messages.
func summary(reqs []s3Request) string {
	m := map[string]int{}
	for _, r := range reqs {
		m[r.Kind]++
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}
