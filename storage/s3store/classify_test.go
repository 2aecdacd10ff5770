package s3store

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bucketftp/bucketftp/storage"
)

// fakeS3 answers every request with the given status and S3 error code.
func fakeS3(t *testing.T, status int, code string) (*Store, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if code != "" && r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>m</Message><RequestId>1</RequestId></Error>`, code)
		}
	}))
	t.Cleanup(srv.Close)
	return newTestStore(t, srv.URL), &hits
}

func newTestStore(t *testing.T, endpoint string) *Store {
	t.Helper()
	return newTestStoreWith(t, Config{
		Bucket: "b", Endpoint: endpoint, Region: "us-east-1", PathStyle: true, StaleUploadAge: -1,
	})
}

// newTestStoreWith is New with static test credentials and a 2s timeout
// unless cfg sets one.
func newTestStoreWith(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider("k", "s", "")
	s, err := New(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestClassifyResponses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		code   string
		want   error
	}{
		{404, "NoSuchKey", storage.ErrNotFound},
		{404, "", storage.ErrNotFound},
		{403, "AccessDenied", storage.ErrPermission},
		{403, "", storage.ErrPermission},
		{503, "SlowDown", storage.ErrTransient},
		{500, "InternalError", storage.ErrTransient},
		{503, "", storage.ErrTransient},
		{400, "RequestTimeout", storage.ErrTransient},
		{507, "XMinioStorageFull", storage.ErrNoSpace},
		{400, "EntityTooLarge", storage.ErrQuota},
		{400, "KeyTooLongError", storage.ErrInvalidName},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.code), func(t *testing.T) {
			t.Parallel()
			s, _ := fakeS3(t, tc.status, tc.code)
			_, err := s.Open(t.Context(), "/f", 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want kind %v", err, tc.want)
			}
			var se *storage.Error
			if !errors.As(err, &se) {
				t.Fatalf("%v is not a *storage.Error", err)
			}
		})
	}
}

func TestUnreachableStoreIsTransient(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // connection refused from now on
	s := newTestStore(t, "http://"+addr)
	start := time.Now()
	_, err = s.Stat(t.Context(), "/f")
	if !errors.Is(err, storage.ErrTransient) {
		t.Fatalf("Stat on a dead store: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v; the timeout is 2s", d)
	}
}

func TestHangingStoreTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	s := newTestStore(t, srv.URL)
	start := time.Now()
	_, err := s.Stat(t.Context(), "/f")
	if !errors.Is(err, storage.ErrTransient) {
		t.Fatalf("Stat on a hanging store: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v; the timeout is 2s", d)
	}
}

func TestFailedPutAbortsMultipart(t *testing.T) {
	t.Parallel()
	var created, aborted, completed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodHead:
			w.WriteHeader(404)
		case r.Method == http.MethodGet: // ListObjectsV2 for the directory check
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodPost && q.Has("uploads"):
			created.Add(1)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>f</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodPut && q.Has("partNumber"):
			w.Header().Set("ETag", `"e"`)
		case r.Method == http.MethodDelete && q.Has("uploadId"):
			aborted.Add(1)
			w.WriteHeader(204)
		case r.Method == http.MethodPost && q.Has("uploadId"):
			completed.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	s := newTestStore(t, srv.URL)
	clientErr := errors.New("client went away")
	r := io.MultiReader(strings.NewReader(strings.Repeat("x", 20<<20)), errReader{clientErr})
	_, err := s.Put(t.Context(), "/f", r, -1)
	if !errors.Is(err, clientErr) {
		t.Fatalf("Put = %v, want the reader's error", err)
	}
	if created.Load() != 1 || aborted.Load() != 1 || completed.Load() != 0 {
		t.Fatalf("created %d, aborted %d, completed %d; want 1, 1, 0", created.Load(), aborted.Load(), completed.Load())
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestParseURL(t *testing.T) {
	t.Parallel()
	c, err := ParseURL("s3://bucket/some/prefix/?endpoint=http://minio:9000&region=eu-west-1&path_style=true&part_size=16777216&timeout=10s")
	if err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "bucket" || c.Prefix != "some/prefix" || c.Endpoint != "http://minio:9000" || c.Region != "eu-west-1" ||
		!c.PathStyle || c.PartSize != 16<<20 || c.Timeout != 10*time.Second {
		t.Fatalf("parsed %+v", c)
	}
	for _, bad := range []string{"s3://", "file:///x", "s3://b?part_size=1", "s3://b?nope=1", "s3://b?endpoint=ftp://x"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) succeeded", bad)
		}
	}
}

func TestPartSizesReach5TiB(t *testing.T) {
	t.Parallel()
	s := &Store{cfg: Config{PartSize: 6 << 20}}
	var total int64
	for n := 1; n <= maxParts; n++ {
		ps := s.partSize(n)
		if ps < minPartSize || ps > maxPartSize {
			t.Fatalf("part %d size %d", n, ps)
		}
		total += ps
	}
	if total < 5<<40 {
		t.Fatalf("10,000 parts hold %d bytes, less than 5 TiB", total)
	}
	for _, limit := range []int64{10 << 20, 10<<20 + 1, 64 << 20, maxPartSize} {
		for _, n := range []int64{5 << 20, 10<<20 + 1, 21 << 20, 5 << 30, 5<<30 + 1, 12 << 30} {
			var sum int64
			for _, r := range copyRanges(n, limit) {
				size := r[1] - r[0] + 1
				if size > limit || size < minPartSize {
					t.Fatalf("copyRanges(%d, %d): range size %d", n, limit, size)
				}
				sum += size
			}
			if sum != n {
				t.Fatalf("copyRanges(%d, %d) covers %d", n, limit, sum)
			}
		}
	}
}
