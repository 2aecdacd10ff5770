package s3store

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestStaleCleanupSparesRunningUploads: an upload begun before the age
// but with a part stored since is still running (one longer than the age,
// or another replica's with a short age) and is left alone; one with no
// recent part is aborted.
func TestStaleCleanupSparesRunningUploads(t *testing.T) {
	t.Parallel()
	old := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339)
	recent := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var mu sync.Mutex
	var aborted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "application/xml")
		switch {
		case r.Method == http.MethodGet && q.Has("uploads"):
			fmt.Fprintf(w, `<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>false</IsTruncated>`+
				`<Upload><Key>running.bin</Key><UploadId>run</UploadId><Initiated>%s</Initiated></Upload>`+
				`<Upload><Key>left.bin</Key><UploadId>left</UploadId><Initiated>%s</Initiated></Upload>`+
				`</ListMultipartUploadsResult>`, old, old)
		case r.Method == http.MethodGet && q.Has("uploadId"):
			last := old
			if q.Get("uploadId") == "run" {
				last = recent
			}
			fmt.Fprintf(w, `<ListPartsResult><Bucket>b</Bucket><UploadId>%s</UploadId><IsTruncated>false</IsTruncated>`+
				`<Part><PartNumber>1</PartNumber><LastModified>%s</LastModified><ETag>"e"</ETag><Size>5242880</Size></Part>`+
				`<Part><PartNumber>2</PartNumber><LastModified>%s</LastModified><ETag>"e"</ETag><Size>5242880</Size></Part>`+
				`</ListPartsResult>`, q.Get("uploadId"), old, last)
		case r.Method == http.MethodGet && q.Has("list-type"):
			fmt.Fprint(w, `<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated></ListBucketResult>`)
		case r.Method == http.MethodDelete && q.Has("uploadId"):
			mu.Lock()
			aborted = append(aborted, q.Get("uploadId"))
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	s := newTestStore(t, srv.URL)
	n, err := s.AbortStaleUploads(t.Context(), 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("AbortStaleUploads = %d, %v; want 1", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(aborted, []string{"left"}) {
		t.Fatalf("aborted %q, want only the upload with no part for two days", aborted)
	}
}
