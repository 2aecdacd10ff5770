package metrics

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

func TestBackendKeepsAbilities(t *testing.T) {
	t.Parallel()
	m := New(func() int64 { return 0 })
	storagetest.CheckWrap(t, m.Backend)
}

// TestWildcardListingsCountAsList: a listing from a prefix is op "list",
// like any listing, so the op label keeps one value per kind of operation.
func TestWildcardListingsCountAsList(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := New(nil)
	mem := memstore.New()
	if _, err := mem.Put(ctx, "/ab", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	b := m.Backend(mem)
	for range 2 {
		for _, err := range storage.ListFrom(ctx, b, "/", "a") {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, err := range storage.ListFrom(ctx, b, "/missing", "a") {
		_ = err
	}
	for range b.List(ctx, "/") {
	}
	rec := httptest.NewRecorder()
	m.Handler(func(context.Context) error { return nil }).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`bucketftp_backend_operations_total{op="list",result="ok"} 3`, // two wildcard listings, one List
		`bucketftp_backend_operations_total{op="list",result="not_found"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if ops := regexp.MustCompile(`(?m)^bucketftp_backend_operations_total\{op="([^"]*)"`).FindAllStringSubmatch(body, -1); len(ops) != 2 {
		t.Errorf("backend operations have %d series, want 2 (list ok and not_found): %v", len(ops), ops)
	}
}
