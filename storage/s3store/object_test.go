package s3store

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/bucketftp/bucketftp/storage"
)

// TestObjectFetch: the first Fetch GETs the object, later ones send its
// ETag as If-None-Match and a 304 is "unchanged"; a new ETag returns the
// new content; a missing key is ErrNotFound; an object over the limit is
// refused.
func TestObjectFetch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	body, etag := "v1", `"e1"`
	var conditions []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodGet || r.URL.Path != "/b/conf/users.yaml" {
			w.WriteHeader(404)
			return
		}
		conditions = append(conditions, r.Header.Get("If-None-Match"))
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	newObject := func(key string, max int64) *Object {
		o, err := NewObject(t.Context(), Config{Bucket: "b", Prefix: key, Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
			Timeout: 2 * time.Second, Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}, max, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o
	}
	o := newObject("conf/users.yaml", 10)
	fetch := func(prev string) (string, string, bool) {
		t.Helper()
		b, v, changed, err := o.Fetch(t.Context(), prev)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), v, changed
	}
	if b, v, changed := fetch(""); b != "v1" || v != `"e1"` || !changed {
		t.Fatalf("first fetch: %q %q %v", b, v, changed)
	}
	if b, v, changed := fetch(`"e1"`); b != "" || v != `"e1"` || changed {
		t.Fatalf("unchanged fetch: %q %q %v", b, v, changed)
	}
	mu.Lock()
	body, etag = "v2", `"e2"`
	mu.Unlock()
	if b, v, changed := fetch(`"e1"`); b != "v2" || v != `"e2"` || !changed {
		t.Fatalf("fetch after a change: %q %q %v", b, v, changed)
	}
	mu.Lock()
	if got := strings.Join(conditions, ","); got != `,"e1","e1"` {
		t.Errorf("If-None-Match sent: %s", got)
	}
	body, etag = "much too long", `"e3"`
	mu.Unlock()
	if _, _, _, err := o.Fetch(t.Context(), `"e2"`); err == nil || !strings.Contains(err.Error(), "larger than 10 bytes") {
		t.Fatalf("oversized object: %v", err)
	}

	if _, _, _, err := newObject("conf/other.yaml", 10).Fetch(t.Context(), ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := NewObject(t.Context(), Config{Bucket: "b"}, 10, nil); err == nil {
		t.Fatal("an object without a key was accepted")
	}
}
