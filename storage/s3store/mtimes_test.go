package s3store

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestRecordMtimeWithoutConditionalWrites: a store that answers
// NotImplemented to If-None-Match/If-Match gets a plain write of the index.
func TestRecordMtimeWithoutConditionalWrites(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var puts []string // "cond" or "plain"
	var stored string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(404)
			io.WriteString(w, `<Error><Code>NoSuchKey</Code><Message>m</Message></Error>`)
		case http.MethodPut:
			if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Match") != "" {
				puts = append(puts, "cond")
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(501)
				io.WriteString(w, `<Error><Code>NotImplemented</Code><Message>m</Message></Error>`)
				return
			}
			puts = append(puts, "plain")
			stored = string(b)
			w.Header().Set("ETag", `"e"`)
		}
	}))
	t.Cleanup(srv.Close)
	s := newTestStore(t, srv.URL)
	if err := s.recordMtime(t.Context(), "/d/f", "d/f", 1234, `"x"`); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(puts, ",") != "cond,plain" {
		t.Fatalf("writes: %v", puts)
	}
	if !strings.Contains(stored, `"f":{"t":1234,"etag":"\"x\""}`) {
		t.Fatalf("index %s", stored)
	}
}
