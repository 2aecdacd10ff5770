package localstore_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

func newStore(t *testing.T) (*localstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := localstore.New(localstore.Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func TestContract(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		s, _ := newStore(t)
		return s
	})
}

func TestSymlinksCannotEscape(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(t.Context(), "/link/secret", 0); err == nil {
		t.Fatal("read through a symlink pointing outside the root")
	}
	if _, err := s.Put(t.Context(), "/link/planted", strings.NewReader("x"), 1); err == nil {
		t.Fatal("wrote through a symlink pointing outside the root")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file planted outside the root: %v", err)
	}
}

func TestTempDirHiddenAndCleaned(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	for e, err := range s.List(t.Context(), "/") {
		if err != nil || strings.HasPrefix(e.Name, ".bucketftp") {
			t.Fatalf("List / shows %q (%v)", e.Name, err)
		}
	}
	if _, err := s.Put(t.Context(), "/.bucketftp-tmp/x", strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidName) {
		t.Fatalf("Put into the temp dir: %v", err)
	}
	_, err := s.Put(t.Context(), "/f", io.MultiReader(strings.NewReader("part"), failing{}), -1)
	if err == nil {
		t.Fatal("failing Put succeeded")
	}
	left, _ := os.ReadDir(filepath.Join(dir, ".bucketftp-tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %d", len(left))
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("boom") }

// TestEndCheck: an upload read whole is renamed into place only if the
// front end's end check (storage.WithEndCheck), asked after the last
// byte, lets it: a client gone by then leaves no file and no temp file.
func TestEndCheck(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	gone := errors.New("the client went away")
	for _, tc := range []struct {
		name string
		err  error
	}{{"/kept", nil}, {"/gone", gone}} {
		r := strings.NewReader("the data")
		asked := 0
		ctx := storage.WithEndCheck(t.Context(), func() error {
			asked++
			if r.Len() != 0 {
				t.Errorf("%s: the end check was asked with %d bytes unread", tc.name, r.Len())
			}
			return tc.err
		})
		_, err := s.Put(ctx, tc.name, r, -1)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Fatalf("Put %s: %v, want %v", tc.name, err, tc.err)
		}
		if asked != 1 {
			t.Errorf("Put %s asked the end check %d times, want once", tc.name, asked)
		}
		_, serr := os.Stat(filepath.Join(dir, tc.name))
		if (serr == nil) != (tc.err == nil) {
			t.Errorf("%s: stat %v after Put %v", tc.name, serr, err)
		}
	}
	left, _ := os.ReadDir(filepath.Join(dir, ".bucketftp-tmp"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %d", len(left))
	}
}

// TestListMarksLinks: an entry reached through a symbolic link says so
// (Entry.Link), described as its target; others do not.
func TestListMarksLinks(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	if err := os.MkdirAll(filepath.Join(dir, "d/real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "d/loop")); err != nil {
		t.Fatal(err)
	}
	got := map[string]storage.Entry{}
	for e, err := range s.List(t.Context(), "/d") {
		if err != nil {
			t.Fatal(err)
		}
		got[e.Name] = e
	}
	if e := got["loop"]; !e.IsDir || !e.Link {
		t.Errorf("the link: %+v, want a directory marked Link", e)
	}
	if e := got["real"]; !e.IsDir || e.Link {
		t.Errorf("the directory: %+v, want no Link", e)
	}
}
