package s3store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
)

// rangeS3 serves one object "b/obj" with Range and If-Match as S3 does,
// counting GETs; fail, when set, decides which ranges get a 500.
type rangeS3 struct {
	mu   sync.Mutex
	data []byte
	etag string
	gets int
	fail func(from int64) bool
}

func (f *rangeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	data, etag, fail := f.data, f.etag, f.fail
	f.gets++
	f.mu.Unlock()
	s3err := func(status int, code string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<Error><Code>%s</Code><Message>m</Message></Error>`, code)
	}
	if r.URL.Path != "/b/obj" {
		s3err(404, "NoSuchKey")
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && m != etag {
		s3err(412, "PreconditionFailed")
		return
	}
	var from, to int64
	a, b, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("Range"), "bytes="), "-")
	from, err1 := strconv.ParseInt(a, 10, 64)
	to, err2 := strconv.ParseInt(b, 10, 64)
	if b == "" {
		to, err2 = int64(len(data)), nil
	}
	if err1 != nil || err2 != nil {
		s3err(400, "InvalidArgument")
		return
	}
	size := int64(len(data))
	if from >= size {
		s3err(416, "InvalidRange")
		return
	}
	if fail != nil && fail(from) {
		s3err(500, "InternalError")
		return
	}
	to = min(to, size-1)
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Length", strconv.FormatInt(to-from+1, 10))
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, size))
	w.WriteHeader(http.StatusPartialContent)
	w.Write(data[from : to+1])
}

func newRangeStore(t *testing.T, size int, tune func(*Config)) (*Store, *rangeS3) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	f := &rangeS3{data: data, etag: `"v1"`}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := Config{Bucket: "b", Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		PartSize: 5 << 20, MemoryBudget: 64 << 20, StaleUploadAge: -1}
	if tune != nil {
		tune(&cfg)
	}
	s := newTestStoreWith(t, cfg)
	return s, f
}

func TestDownloadRanges(t *testing.T) {
	t.Parallel()
	const part = 5 << 20
	size := 3*part + part/2
	for _, tc := range []struct {
		name string
		tune func(*Config)
	}{
		{"read-ahead", func(c *Config) { c.DownloadConcurrency = 2 }},
		{"no free buffer", func(c *Config) { c.DownloadConcurrency = 2; c.MemoryBudget = part }},
		{"no read-ahead", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, f := newRangeStore(t, size, tc.tune)
			if tc.name == "no free buffer" { // the budget is taken by an upload
				_, release, _ := s.tryBuffer(part)
				defer release()
			}
			for _, off := range []int64{0, 1, part - 1, part, 2*part + 5, int64(size) - 1, int64(size), int64(size) + 10} {
				rc, err := s.Open(t.Context(), "/obj", off)
				if err != nil {
					t.Fatalf("Open at %d: %v", off, err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatalf("read from %d: %v", off, err)
				}
				if want := f.data[min(off, int64(size)):]; !bytes.Equal(got, want) {
					t.Fatalf("from %d: got %d bytes, want %d", off, len(got), len(want))
				}
			}
			f.mu.Lock()
			gets := f.gets
			f.mu.Unlock()
			// One GET per part-sized range: 4+4+3+3+2+1+1+1 for the offsets
			// above; without read-ahead one per offset.
			want := 19
			if tc.name == "no read-ahead" {
				want = 8
			}
			if gets != want {
				t.Errorf("%d GETs, want %d", gets, want)
			}
			if !s.budget.TryAcquire(s.cfg.MemoryBudget - map[bool]int64{true: part}[tc.name == "no free buffer"]) {
				t.Error("buffers not returned to the memory budget")
			}
		})
	}
}

func TestDownloadFailures(t *testing.T) {
	t.Parallel()
	const part = 5 << 20
	readAhead := func(c *Config) { c.DownloadConcurrency = 2 }
	read := func(s *Store) error {
		rc, err := s.Open(t.Context(), "/obj", 0)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		return err
	}
	t.Run("a later range fails", func(t *testing.T) {
		t.Parallel()
		s, f := newRangeStore(t, 4*part, readAhead)
		f.fail = func(from int64) bool { return from == 2*part }
		if err := read(s); !errors.Is(err, storage.ErrTransient) {
			t.Fatalf("got %v, want a transient error", err)
		}
		if !s.budget.TryAcquire(s.cfg.MemoryBudget) {
			t.Fatal("buffers not returned to the memory budget")
		}
	})
	t.Run("the object is replaced during the download", func(t *testing.T) {
		t.Parallel()
		s, f := newRangeStore(t, 6*part, readAhead)
		rc, err := s.Open(t.Context(), "/obj", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.CopyN(io.Discard, rc, part); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.etag = `"v2"`
		f.mu.Unlock()
		if _, err := io.Copy(io.Discard, rc); !errors.Is(err, storage.ErrTransient) {
			t.Fatalf("got %v, want a transient error", err)
		}
	})
	t.Run("closed early", func(t *testing.T) {
		t.Parallel()
		s, _ := newRangeStore(t, 8*part, readAhead)
		rc, err := s.Open(t.Context(), "/obj", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, rc, part+10); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if !s.budget.TryAcquire(s.cfg.MemoryBudget) {
			t.Fatal("buffers not returned to the memory budget")
		}
	})
	t.Run("missing object", func(t *testing.T) {
		t.Parallel()
		s, _ := newRangeStore(t, 1, nil)
		if _, err := s.Open(t.Context(), "/other", 0); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
	})
}
