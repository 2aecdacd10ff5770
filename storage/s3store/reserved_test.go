package s3store

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
)

// TestHiddenDirIsInvisible: PREFIX/.bucketftp/, where the server keeps
// its event outbox, is not listed, and nothing in it can be read, written,
// renamed away, made or removed through the store's names; ".bucketftp" deeper
// down and names that only start like it are ordinary.
func TestHiddenDirIsInvisible(t *testing.T) {
	t.Parallel()
	f := &listS3{keys: []string{"p/.bucketftp/events/pending/x.json", "p/.bucketftp-other", "p/.bucketftpx/f", "p/a", "p/d/.bucketftp/y"}}
	slices.Sort(f.keys)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s := newTestStoreWith(t, Config{Bucket: "b", Prefix: "p", Endpoint: srv.URL, Region: "us-east-1", PathStyle: true, StaleUploadAge: -1})
	ctx := t.Context()

	var names []string
	for e, err := range s.List(ctx, "/") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if want := []string{".bucketftp-other", ".bucketftpx", "a", "d"}; !slices.Equal(names, want) {
		t.Errorf("List(/) = %q, want %q", names, want)
	}
	names = nil
	for e, err := range s.ListPrefix(ctx, "/", ".b") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if slices.Contains(names, ".bucketftp") {
		t.Errorf("ListPrefix(/, .b) = %q: shows the hidden directory", names)
	}

	for _, name := range []string{"/.bucketftp", "/.bucketftp/events", "/.bucketftp/events/pending/x.json"} {
		for op, call := range map[string]func() error{
			"stat":   func() error { _, err := s.Stat(ctx, name); return err },
			"open":   func() error { _, err := s.Open(ctx, name, 0); return err },
			"put":    func() error { _, err := s.Put(ctx, name, strings.NewReader("x"), -1); return err },
			"append": func() error { _, err := s.Append(ctx, name, 0, strings.NewReader("x")); return err },
			"remove": func() error { return s.Remove(ctx, name) },
			"mkdir":  func() error { return s.Mkdir(ctx, name) },
			"rmdir":  func() error { return s.Rmdir(ctx, name) },
			"from":   func() error { return s.Rename(ctx, name, "/b") },
			"list": func() error {
				for _, err := range s.List(ctx, name) {
					return err
				}
				return nil
			},
		} {
			if err := call(); !errors.Is(err, storage.ErrInvalidName) {
				t.Errorf("%s %s: %v, want ErrInvalidName", op, name, err)
			}
		}
	}
}
