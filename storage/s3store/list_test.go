package s3store

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/faultstore"
)

// listS3 serves ListObjectsV2 of bucket "b" over a fixed set of keys as S3
// does (prefix, delimiter, pages of at most max-keys, continuation
// tokens), recording each request; other requests get 404 NoSuchKey. Like
// MinIO, it refuses a prefix whose last component is "." or "..".
type listS3 struct {
	keys []string // sorted

	mu       sync.Mutex
	requests []listRequest
}

type listRequest struct {
	prefix, delimiter, token string
	returned                 int // keys and common prefixes in the reply
}

type xmlListResult struct {
	XMLName               xml.Name    `xml:"ListBucketResult"`
	Name                  string      `xml:"Name"`
	Prefix                string      `xml:"Prefix"`
	KeyCount              int         `xml:"KeyCount"`
	MaxKeys               int         `xml:"MaxKeys"`
	IsTruncated           bool        `xml:"IsTruncated"`
	NextContinuationToken string      `xml:"NextContinuationToken,omitempty"`
	Contents              []xmlObject `xml:"Contents"`
	CommonPrefixes        []xmlPrefix `xml:"CommonPrefixes"`
}

type xmlObject struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

type xmlPrefix struct {
	Prefix string `xml:"Prefix"`
}

func (f *listS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method != http.MethodGet || r.URL.Path != "/b" || q.Get("list-type") != "2" {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>m</Message></Error>`)
		return
	}
	prefix, delim, token := q.Get("prefix"), q.Get("delimiter"), q.Get("continuation-token")
	if last := prefix[strings.LastIndex(prefix, "/")+1:]; last == "." || last == ".." {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusBadRequest) // as MinIO
		fmt.Fprint(w, `<Error><Code>XMinioInvalidResourceName</Code><Message>Resource name contains bad components such as ".." or ".".</Message></Error>`)
		return
	}
	maxKeys := 1000
	if m, err := strconv.Atoi(q.Get("max-keys")); err == nil && m < maxKeys {
		maxKeys = m
	}
	res := xmlListResult{Name: "b", Prefix: prefix, MaxKeys: maxKeys}
	last := ""
	for _, k := range f.keys {
		if !strings.HasPrefix(k, prefix) || (token != "" && k <= token) {
			continue
		}
		entry := k
		if i := strings.Index(k[len(prefix):], delim); delim != "" && i >= 0 {
			entry = k[:len(prefix)+i+len(delim)]
			if entry == last || (token != "" && entry <= token) {
				continue // a common prefix already given
			}
		}
		if res.KeyCount == maxKeys {
			res.IsTruncated, res.NextContinuationToken = true, last
			break
		}
		if entry == k {
			res.Contents = append(res.Contents, xmlObject{Key: k, LastModified: "2024-01-02T03:04:05.000Z", ETag: `"e"`, Size: 1})
		} else {
			res.CommonPrefixes = append(res.CommonPrefixes, xmlPrefix{Prefix: entry})
		}
		res.KeyCount++
		last = entry
	}
	f.mu.Lock()
	f.requests = append(f.requests, listRequest{prefix: prefix, delimiter: delim, token: token, returned: res.KeyCount})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	fmt.Fprint(w, xml.Header)
	xml.NewEncoder(w).Encode(res)
}

func (f *listS3) took() []listRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests
	f.requests = nil
	return r
}

// TestListPrefixAsksForThePrefix: a wildcard listing of a directory of
// 2,000 files asks S3 only for the keys from the pattern's literal prefix
// (ListObjectsV2 Prefix), through a wrapper too, and pages through a prefix
// that matches more than one page.
func TestListPrefixAsksForThePrefix(t *testing.T) {
	t.Parallel()
	f := &listS3{keys: []string{"p/dir/", "p/dir/..dots", "p/dir/.hidden", "p/dir/sub/x", "p/other"}}
	for i := range 2000 {
		f.keys = append(f.keys, fmt.Sprintf("p/dir/file-%04d", i))
	}
	slices.Sort(f.keys)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s := newTestStoreWith(t, Config{Bucket: "b", Prefix: "p", Endpoint: srv.URL, Region: "us-east-1", PathStyle: true, StaleUploadAge: -1})
	ctx := t.Context()

	list := func(b storage.Backend, prefix string) []string {
		t.Helper()
		var names []string
		for e, err := range storage.ListFrom(ctx, b, "/dir", prefix) {
			if err != nil {
				t.Fatalf("ListFrom(/dir, %q): %v", prefix, err)
			}
			names = append(names, e.Name)
		}
		return names
	}
	for _, tc := range []struct {
		name   string
		b      storage.Backend
		prefix string
		want   int // entries listed
		asked  []listRequest
	}{
		// A listing from a prefix cannot see whether the directory has a
		// modification-time index, so it reads the index from the same
		// prefix too: one request for the whole listing, as it is empty.
		{"one page", s, "file-19", 100, []listRequest{{"p/dir/file-19", "/", "", 100}, {"p/dir/.bucketftp-mtimes/file-19", "", "", 0}}},
		{"through a wrapper", faultstore.New(s), "file-19", 100, []listRequest{{"p/dir/file-19", "/", "", 100}, {"p/dir/.bucketftp-mtimes/file-19", "", "", 0}}},
		{"a directory", s, "su", 1, []listRequest{{"p/dir/su", "/", "", 1}}},
		{"no match", s, "zz", 0, []listRequest{{"p/dir/zz", "/", "", 0}}},
		{"two pages", s, "file-", 2000, []listRequest{
			{"p/dir/file-", "/", "", 1000},
			{"p/dir/.bucketftp-mtimes/file-", "", "", 0},
			{"p/dir/file-", "/", "p/dir/file-0999", 1000},
		}},
		{"without PrefixLister: the whole directory", struct{ storage.Backend }{s}, "file-19", 100, []listRequest{
			{"p/dir/", "/", "", 1000},
			{"p/dir/", "/", "p/dir/file-0996", 1000},
			{"p/dir/", "/", "p/dir/file-1996", 4},
		}},
		// MinIO refuses the prefixes "p/dir/." and "p/dir/..".
		{"dot: the whole directory", s, ".", 2, []listRequest{
			{"p/dir/", "/", "", 1000},
			{"p/dir/", "/", "p/dir/file-0996", 1000},
			{"p/dir/", "/", "p/dir/file-1996", 4},
		}},
		{"dot dot", s, "..", 1, []listRequest{
			{"p/dir/", "/", "", 1000},
			{"p/dir/", "/", "p/dir/file-0996", 1000},
			{"p/dir/", "/", "p/dir/file-1996", 4},
		}},
		{"dot and more", s, ".h", 1, []listRequest{{"p/dir/.h", "/", "", 1}, {"p/dir/.bucketftp-mtimes/.h", "", "", 0}}},
		{"a slash: nothing to ask", s, "../other", 0, nil},
	} {
		names := list(tc.b, tc.prefix)
		if len(names) != tc.want {
			t.Errorf("%s: listed %d entries, want %d", tc.name, len(names), tc.want)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, tc.prefix) {
				t.Errorf("%s: listed %q, which does not start with %q", tc.name, n, tc.prefix)
				break
			}
		}
		if got := f.took(); !slices.Equal(got, tc.asked) {
			t.Errorf("%s: ListObjectsV2 requests\n%+v\nwant\n%+v", tc.name, got, tc.asked)
		}
	}
}
