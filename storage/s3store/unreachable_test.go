package s3store

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// TestListFailsOnceWhenStoreHangs: a listing by a user with interrupted
// uploads to show asks the store for their records first; when that
// request times out, the listing fails at once instead of asking the
// store again and waiting as long a second time.
func TestListFailsOnceWhenStoreHangs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reqs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.RawQuery)
		mu.Unlock()
		<-r.Context().Done() // a store that does not answer
	}))
	t.Cleanup(srv.Close)
	s := newTestStoreWith(t, Config{Bucket: "b", Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		StaleUploadAge: -1, Timeout: 200 * time.Millisecond})
	ctx := storage.WithUploader(t.Context(), storage.Uploader{User: "u", Session: "s1"})
	var lerr error
	for _, err := range s.List(ctx, "/d") {
		if err != nil {
			lerr = err
			break
		}
	}
	if !errors.Is(lerr, storage.ErrTransient) {
		t.Fatalf("listing with the store hanging: %v, want a transient error", lerr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 1 {
		t.Fatalf("requests: %q; want the one for the interrupted uploads' records", reqs)
	}
}
