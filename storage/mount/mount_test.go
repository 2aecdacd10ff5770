package mount_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
	"github.com/bucketftp/bucketftp/storage/memstore"
	"github.com/bucketftp/bucketftp/storage/mount"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

func newRouter(t *testing.T, root storage.Backend, mounts ...mount.Mount) *mount.Router {
	t.Helper()
	r, err := mount.New(root, mounts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func local(t *testing.T) storage.Backend {
	t.Helper()
	s, err := localstore.New(localstore.Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sub is the tree under dir of b, so the contract suite, which works from
// "/", runs inside a mount.
type sub struct {
	b   storage.Backend
	dir string
}

func (s sub) full(name string) string { return path.Join(s.dir, name) }
func (s sub) Stat(ctx context.Context, name string) (storage.Entry, error) {
	e, err := s.b.Stat(ctx, s.full(name))
	if name == "/" {
		e.Name = "/"
	}
	return e, err
}
func (s sub) List(ctx context.Context, dir string) iter.Seq2[storage.Entry, error] {
	return s.b.List(ctx, s.full(dir))
}
func (s sub) Open(ctx context.Context, name string, off int64) (io.ReadCloser, error) {
	return s.b.Open(ctx, s.full(name), off)
}
func (s sub) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	return s.b.Put(ctx, s.full(name), r, size)
}
func (s sub) Remove(ctx context.Context, name string) error { return s.b.Remove(ctx, s.full(name)) }
func (s sub) Mkdir(ctx context.Context, name string) error  { return s.b.Mkdir(ctx, s.full(name)) }
func (s sub) Rmdir(ctx context.Context, name string) error  { return s.b.Rmdir(ctx, s.full(name)) }
func (s sub) Rename(ctx context.Context, from, to string) error {
	return s.b.Rename(ctx, s.full(from), s.full(to))
}
func (s sub) Append(ctx context.Context, name string, off int64, r io.Reader) (int64, error) {
	return s.b.(storage.Appender).Append(ctx, s.full(name), off, r)
}
func (s sub) SetModTime(ctx context.Context, name string, t time.Time) error {
	return s.b.(storage.ModTimeSetter).SetModTime(ctx, s.full(name), t)
}
func (s sub) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	return s.b.(storage.PrefixLister).ListPrefix(ctx, s.full(dir), prefix)
}
func (s sub) Unwrap() storage.Backend { return s.b }

// The contract holds for the root part of a tree with mounts elsewhere
// (mounts out of the suite's way), and inside a mount, for memory and
// local-directory backends.
func TestContract(t *testing.T) {
	t.Parallel()
	for _, kind := range []struct {
		name string
		new  func(t *testing.T) storage.Backend
	}{
		{"memory", func(t *testing.T) storage.Backend { return memstore.New() }},
		{"local", local},
	} {
		t.Run(kind.name+"/no mounts", func(t *testing.T) {
			t.Parallel()
			storagetest.Run(t, func(t *testing.T) storage.Backend { return newRouter(t, kind.new(t)) })
		})
		t.Run(kind.name+"/inside a mount", func(t *testing.T) {
			t.Parallel()
			storagetest.Run(t, func(t *testing.T) storage.Backend {
				r := newRouter(t, kind.new(t), mount.Mount{Path: "/mnt/data", Backend: kind.new(t)})
				return sub{b: r, dir: "/mnt/data"}
			})
		})
	}
}

// The router passes on the root's abilities, as every wrapper must.
func TestKeepsAbilities(t *testing.T) {
	t.Parallel()
	storagetest.CheckWrap(t, func(b storage.Backend) storage.Backend {
		r, err := mount.New(b, []mount.Mount{{Path: "/archive", Backend: memstore.New()}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

func names(t *testing.T, b storage.Backend, dir string) []string {
	t.Helper()
	var out []string
	for e, err := range b.List(t.Context(), dir) {
		if err != nil {
			t.Fatalf("List %s: %v", dir, err)
		}
		s := e.Name
		if e.IsDir {
			s += "/"
		}
		out = append(out, s)
	}
	return out
}

func put(t *testing.T, b storage.Backend, name, data string) {
	t.Helper()
	if _, err := b.Put(t.Context(), name, strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put %s: %v", name, err)
	}
}

func read(t *testing.T, b storage.Backend, name string) string {
	t.Helper()
	rc, err := b.Open(t.Context(), name, 0)
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	defer rc.Close()
	data, _ := io.ReadAll(rc)
	return string(data)
}

func TestRouting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	home, archive, deep := memstore.New(), memstore.New(), local(t)
	r := newRouter(t, home,
		mount.Mount{Path: "/archive", Backend: archive},
		mount.Mount{Path: "/archive/2024", Backend: deep}, // inside another mount
		mount.Mount{Path: "/x/y/z", Backend: memstore.New()},
	)
	put(t, r, "/a.txt", "home")
	put(t, r, "/archive/b.txt", "archive")
	put(t, r, "/archive/2024/c.txt", "deep")
	put(t, home, "/zz", "after the mounts")
	put(t, home, "/archive", "hidden by the mount point") // a file the mount point hides

	t.Run("each name goes to the backend of its longest mount path", func(t *testing.T) {
		if got := read(t, home, "/a.txt"); got != "home" {
			t.Fatal(got)
		}
		if got := read(t, archive, "/b.txt"); got != "archive" {
			t.Fatal(got)
		}
		if got := read(t, deep, "/c.txt"); got != "deep" {
			t.Fatal(got)
		}
		if got := read(t, r, "/archive/2024/c.txt"); got != "deep" {
			t.Fatal(got)
		}
	})
	t.Run("listings show mount points as directories, in order", func(t *testing.T) {
		if got, want := names(t, r, "/"), []string{"a.txt", "archive/", "x/", "zz"}; !slices.Equal(got, want) {
			t.Fatalf("List / = %v, want %v", got, want)
		}
		if got, want := names(t, r, "/archive"), []string{"2024/", "b.txt"}; !slices.Equal(got, want) {
			t.Fatalf("List /archive = %v, want %v", got, want)
		}
		// /x and /x/y exist in no backend: only on the way to /x/y/z.
		if got, want := names(t, r, "/x"), []string{"y/"}; !slices.Equal(got, want) {
			t.Fatalf("List /x = %v, want %v", got, want)
		}
		if got, want := names(t, r, "/x/y/z"), []string(nil); !slices.Equal(got, want) {
			t.Fatalf("List /x/y/z = %v, want %v", got, want)
		}
		for _, n := range []string{"/archive", "/x", "/x/y", "/x/y/z", "/archive/2024"} {
			if e, err := r.Stat(ctx, n); err != nil || !e.IsDir || e.Name != path.Base(n) {
				t.Errorf("Stat %s = %+v %v, want a directory", n, e, err)
			}
		}
		var got []string
		for e, err := range storage.ListFrom(ctx, r, "/", "a") {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.Name)
		}
		if !slices.Equal(got, []string{"a.txt", "archive"}) {
			t.Fatalf("ListFrom / a = %v", got)
		}
	})
	t.Run("renames stay within one storage", func(t *testing.T) {
		for _, rn := range [][2]string{{"/a.txt", "/archive/a.txt"}, {"/archive/b.txt", "/b.txt"}, {"/archive/b.txt", "/archive/2024/b.txt"}} {
			if err := r.Rename(ctx, rn[0], rn[1]); !errors.Is(err, storage.ErrCrossDevice) {
				t.Errorf("Rename %s %s: %v, want ErrCrossDevice", rn[0], rn[1], err)
			}
		}
		if err := r.Rename(ctx, "/archive/b.txt", "/archive/b2.txt"); err != nil {
			t.Fatal(err)
		}
		if got := read(t, archive, "/b2.txt"); got != "archive" {
			t.Fatal(got)
		}
		if err := r.Rename(ctx, "/archive", "/elsewhere"); !errors.Is(err, storage.ErrPermission) {
			t.Errorf("moving a mount point: %v", err)
		}
		if err := r.Rename(ctx, "/x", "/w"); !errors.Is(err, storage.ErrPermission) {
			t.Errorf("moving a directory holding a mount point: %v", err)
		}
		if err := r.Rename(ctx, "/a.txt", "/archive"); !errors.Is(err, storage.ErrExist) {
			t.Errorf("renaming onto a mount point: %v", err)
		}
	})
	t.Run("mount points are directories that stay", func(t *testing.T) {
		if err := r.Rmdir(ctx, "/archive"); !errors.Is(err, storage.ErrPermission) {
			t.Errorf("Rmdir of a mount point: %v", err)
		}
		if err := r.Rmdir(ctx, "/x/y"); !errors.Is(err, storage.ErrNotEmpty) {
			t.Errorf("Rmdir above a mount point: %v", err)
		}
		if err := r.Mkdir(ctx, "/archive"); !errors.Is(err, storage.ErrExist) {
			t.Errorf("Mkdir of a mount point: %v", err)
		}
		if _, err := r.Put(ctx, "/x/y", strings.NewReader("x"), 1); !errors.Is(err, storage.ErrExist) {
			t.Errorf("Put onto a mount point's parent: %v", err)
		}
		if err := r.Remove(ctx, "/archive"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Remove of a mount point: %v", err)
		}
	})
	t.Run("abilities go to the backend owning the name", func(t *testing.T) {
		a, ok := storage.As[storage.Appender](r)
		if !ok {
			t.Fatal("the router hides Appender")
		}
		if _, err := a.Append(ctx, "/archive/2024/c.txt", 4, strings.NewReader("+")); err != nil {
			t.Fatal(err)
		}
		if got := read(t, deep, "/c.txt"); got != "deep+" {
			t.Fatalf("appended in the wrong place: %q", got)
		}
		when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		m, _ := storage.As[storage.ModTimeSetter](r)
		if err := m.SetModTime(ctx, "/archive/b2.txt", when); err != nil {
			t.Fatal(err)
		}
		if e, err := archive.Stat(ctx, "/b2.txt"); err != nil || !e.ModTime.Equal(when) {
			t.Fatalf("mtime in the mount: %+v %v", e, err)
		}
	})
}

func TestNewRefusesBadMounts(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/", "relative", "/a/../b", "/a/"} {
		if _, err := mount.New(memstore.New(), []mount.Mount{{Path: p, Backend: memstore.New()}}); err == nil {
			t.Errorf("mount at %q accepted", p)
		}
	}
	if _, err := mount.New(memstore.New(), []mount.Mount{{Path: "/a", Backend: memstore.New()}, {Path: "/a", Backend: memstore.New()}}); err == nil {
		t.Error("two mounts at one path accepted")
	}
}
