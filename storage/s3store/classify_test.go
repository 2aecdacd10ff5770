package s3store

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

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
		{400, "XMinioInvalidResourceName", storage.ErrInvalidName},
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
