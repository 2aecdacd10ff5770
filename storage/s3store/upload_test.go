package s3store

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

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
