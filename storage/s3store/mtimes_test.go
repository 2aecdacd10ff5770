package s3store

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// fakeWrites is a fake S3 for the write path: every object key is absent
// (HEAD and GET 404, listings empty) unless exists says otherwise; it
// records each request as "METHOD key [conditions]".
type fakeWrites struct {
	mu     sync.Mutex
	reqs   []string
	exists map[string]bool
	noCond bool // answer NotImplemented to If-None-Match
}

func (f *fakeWrites) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	key := strings.TrimPrefix(r.URL.Path, "/b/")
	desc := r.Method + " " + key
	if r.URL.Query().Has("list-type") {
		desc = "LIST " + r.URL.Query().Get("prefix")
	}
	for _, h := range []string{"If-None-Match", "X-Amz-Copy-Source-If-Match", "X-Amz-Copy-Source"} {
		if v := r.Header.Get(h); v != "" {
			desc += " " + h + "=" + v
		}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, desc)
	exists := f.exists[key]
	f.mu.Unlock()
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			io.WriteString(w, `<Error><Code>`+code+`</Code><Message>m</Message></Error>`)
		}
	}
	switch {
	case r.URL.Query().Has("list-type"):
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`)
	case r.Method == http.MethodHead || r.Method == http.MethodGet:
		if !exists {
			fail(404, "NoSuchKey")
			return
		}
		w.Header().Set("ETag", `"old"`)
		w.Header().Set("Content-Length", "1")
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<CopyObjectResult><ETag>"copied"</ETag></CopyObjectResult>`)
	case r.Method == http.MethodPut && r.Header.Get("If-None-Match") != "":
		if f.noCond {
			fail(501, "NotImplemented")
			return
		}
		if exists {
			fail(412, "PreconditionFailed")
			return
		}
		w.Header().Set("ETag", `"new"`)
	case r.Method == http.MethodPut:
		w.Header().Set("ETag", `"new"`)
	}
}

func (f *fakeWrites) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

func newFakeWrites(t *testing.T, f *fakeWrites) *Store {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return newTestStore(t, srv.URL)
}

// TestSetModTimeAfterPut: the MFMT right after the store's own upload is
// one PUT of a zero-byte index entry whose key holds the time and the
// upload's ETag, and the front end's look-up before it (Stat) asks nothing;
// on another file a HEAD reads the ETag first. No copy, and nothing read or
// rewritten that grows with the directory. Stat of a file not just
// uploaded is its HEAD alone while the directory is known to have no
// index, and asks for its index entries alongside once it has one.
func TestSetModTimeAfterPut(t *testing.T) {
	t.Parallel()
	f := &fakeWrites{exists: map[string]bool{"d/g": true}}
	s := newFakeWrites(t, f)
	ctx := t.Context()
	if _, err := s.Put(ctx, "/d/f", strings.NewReader("x"), -1); err != nil {
		t.Fatal(err)
	}
	f.take()
	// The upload learned the directory: no index, and g no subdirectory.
	if _, err := s.Stat(ctx, "/d/g"); err != nil {
		t.Fatal(err)
	}
	if got := f.take(); !slices.Equal(got, []string{"HEAD d/g"}) {
		t.Fatalf("Stat of a file in a directory without an index: %q, want the HEAD alone", got)
	}
	if e, err := s.Stat(ctx, "/d/f"); err != nil || e.Size != 1 || e.IsDir {
		t.Fatalf("Stat right after Put: %+v %v", e, err)
	}
	if err := s.SetModTime(ctx, "/d/f", time.Unix(1234, 0)); err != nil {
		t.Fatal(err)
	}
	got := f.take()
	if len(got) != 1 || !strings.HasPrefix(got[0], "PUT d/.bucketftp-mtimes/f\t") || !strings.HasSuffix(got[0], "\t1234\tnew") {
		t.Fatalf("requests of Stat and MFMT after STOR: %q, want only the entry's PUT", got)
	}
	if e, err := s.Stat(ctx, "/d/f"); err != nil || e.ModTime.Unix() != 1234 {
		t.Fatalf("Stat after MFMT: %v %v", e.ModTime, err)
	}
	if got := f.take(); len(got) != 0 {
		t.Fatalf("Stat after MFMT of a file just uploaded: %q, want no request", got)
	}

	if err := s.SetModTime(ctx, "/d/g", time.Unix(99, 0)); err != nil {
		t.Fatal(err)
	}
	got = f.take()
	if len(got) != 2 || got[0] != "HEAD d/g" || !strings.HasPrefix(got[1], "PUT d/.bucketftp-mtimes/g\t") || !strings.HasSuffix(got[1], "\t99\told") {
		t.Fatalf("requests of MFMT on another file: %q", got)
	}
	if _, err := s.Stat(ctx, "/d/g"); err != nil {
		t.Fatal(err)
	}
	got = f.take()
	slices.Sort(got)
	if want := []string{"HEAD d/g", "LIST d/.bucketftp-mtimes/g\t"}; !slices.Equal(got, want) {
		t.Fatalf("Stat of a file in a directory with an index: %q, want %q", got, want)
	}
}

// TestEntryTime: Stat takes the newest entry with the file's ETag.
func TestEntryTime(t *testing.T) {
	t.Parallel()
	ipfx := indexPrefix("d/")
	var entries []indexEntry
	for _, k := range []string{indexKey("d/", "a", 1, 10, `"e1"`), indexKey("d/", "a", 3, 30, `"e2"`), indexKey("d/", "a", 2, 20, `"e1"`)} {
		e, _ := parseIndexKey(ipfx, k)
		entries = append(entries, e)
	}
	if got, ok := entryTime(entries, `"e1"`); !ok || got != 20 {
		t.Errorf("e1: %d %v, want 20", got, ok)
	}
	if _, ok := entryTime(entries, `"e3"`); ok {
		t.Error("an entry of another ETag applied")
	}
}

// TestPutNoReplace: a Put asked not to replace sends If-None-Match: * and
// reports a 412 as ErrWouldReplace; a store that answers NotImplemented
// to it, also once it is sent without the CRC32 (either header may be
// the one refused), gets a HEAD and a plain PUT from then on.
func TestPutNoReplace(t *testing.T) {
	t.Parallel()
	for _, noCond := range []bool{false, true} {
		f := &fakeWrites{exists: map[string]bool{"old": true}, noCond: noCond}
		s := newFakeWrites(t, f)
		put := func(name string) error {
			ctx, nr := storage.WithNoReplace(t.Context())
			_, err := s.Put(ctx, name, strings.NewReader("x"), -1)
			if !nr.Taken() {
				t.Fatal("the store did not take the no-replace request")
			}
			return err
		}
		if err := put("/old"); !errors.Is(err, storage.ErrWouldReplace) || !errors.Is(err, storage.ErrExist) {
			t.Fatalf("noCond=%v: Put over a file: %v", noCond, err)
		}
		if err := put("/new"); err != nil {
			t.Fatalf("noCond=%v: Put of a new file: %v", noCond, err)
		}
		var puts []string
		for _, r := range f.take() {
			if !strings.HasPrefix(r, "LIST") {
				puts = append(puts, r)
			}
		}
		want := "PUT old If-None-Match=*,PUT new If-None-Match=*"
		if noCond {
			want = "PUT old If-None-Match=*,PUT old If-None-Match=*,HEAD old,HEAD new,PUT new"
		}
		if strings.Join(puts, ",") != want {
			t.Errorf("noCond=%v: requests %q, want %q", noCond, puts, want)
		}
	}
}

// TestPageTimes: the newest entry with the file's current ETag wins;
// entries that do not apply are stale once a minute old.
func TestPageTimes(t *testing.T) {
	t.Parallel()
	now := time.Unix(10000, 0)
	old, young := now.Add(-2*time.Minute).UnixNano(), now.Add(-time.Second).UnixNano()
	ipfx := indexPrefix("d/")
	var entries []indexEntry
	for _, k := range []string{
		indexKey("d/", "a", old, 1, `"e1"`),
		indexKey("d/", "a", old+1, 2, `"e1"`), // newer, same ETag: wins
		indexKey("d/", "b", old, 3, `"gone"`), // b was replaced
		indexKey("d/", "c", young, 4, `"x"`),  // no such file yet: too young to delete
		indexKey("d/", "z", old, 5, `"x"`),    // no such file
	} {
		e, ok := parseIndexKey(ipfx, k)
		if !ok {
			t.Fatalf("unparsable %q", k)
		}
		entries = append(entries, e)
	}
	var stale []string
	times := pageTimes(entries, map[string]string{"a": `"e1"`, "b": `"e2"`}, now, &stale)
	if len(times) != 1 || times["a"] != 2 {
		t.Errorf("times %v", times)
	}
	if want := []string{entries[0].key, entries[2].key, entries[4].key}; strings.Join(stale, "|") != strings.Join(want, "|") {
		t.Errorf("stale %q, want %q", stale, want)
	}
	if _, ok := parseIndexKey(ipfx, ipfx+"a\tnot-a-number\t1\te"); ok {
		t.Error("a damaged key parsed")
	}
}
