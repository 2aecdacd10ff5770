package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

func TestReadinessAndBackendMetrics(t *testing.T) {
	t.Parallel()
	m := New(func() int64 { return 3 })
	var readyErr error
	srv := httptest.NewServer(m.Handler(func(context.Context) error { return readyErr }))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("ready: %d", code)
	}
	readyErr = errors.New("storage unreachable")
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "storage unreachable") {
		t.Fatalf("not ready: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz while not ready: %d", code)
	}

	b := m.Backend(memstore.New())
	ctx := t.Context()
	b.Stat(ctx, "/missing")
	b.Put(ctx, "/f", strings.NewReader("x"), 1)
	if !storage.Has[storage.Appender](b) {
		t.Fatal("the timed backend hides Appender")
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`bucketftp_backend_operations_total{op="stat",result="not_found"} 1`,
		`bucketftp_backend_operations_total{op="put",result="ok"} 1`,
		`bucketftp_multipart_uploads_aborted_total 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
