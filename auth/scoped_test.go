package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

// snapshot lists everything under dir in b, to see whether an operation
// changed anything.
func snapshot(t *testing.T, b storage.Backend, dir string) []string {
	t.Helper()
	var out []string
	for e, err := range b.List(t.Context(), dir) {
		if err != nil {
			t.Fatal(err)
		}
		p := path.Join(dir, e.Name)
		out = append(out, fmt.Sprintf("%s dir=%v size=%d mtime=%d", p, e.IsDir, e.Size, e.ModTime.UnixNano()))
		if e.IsDir {
			out = append(out, snapshot(t, b, p)...)
		}
	}
	return out
}

// mustNotRead fails the test if an upload reads it.
type mustNotRead struct{ t *testing.T }

func (r mustNotRead) Read([]byte) (int, error) {
	r.t.Error("a refused upload read client data")
	return 0, io.ErrUnexpectedEOF
}

func permList(p Permission) []string { return strings.Split(p.String(), ",") }

func TestScopedPermissions(t *testing.T) {
	t.Parallel()
	// Each op runs in a home holding /f (3 bytes), /f2, /d (empty dir).
	tests := []struct {
		name string
		need Permission
		op   func(ctx context.Context, t *testing.T, fs storage.Backend, denied bool) error
	}{
		{"list", PermList, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			var names []string
			for e, err := range fs.List(ctx, "/") {
				if err != nil {
					return err
				}
				names = append(names, e.Name)
			}
			if !slices.Equal(names, []string{"d", "f", "f2"}) {
				t.Errorf("List(/) = %v", names)
			}
			return nil
		}},
		{"open", PermRead, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			rc, err := fs.Open(ctx, "/f", 1)
			if err != nil {
				return err
			}
			defer rc.Close()
			if b, _ := io.ReadAll(rc); string(b) != "ne" {
				t.Errorf("Open(/f, 1) read %q", b)
			}
			return nil
		}},
		{"put new file", PermWrite, func(ctx context.Context, t *testing.T, fs storage.Backend, denied bool) error {
			var r io.Reader = strings.NewReader("new")
			if denied {
				r = mustNotRead{t}
			}
			_, err := fs.Put(ctx, "/d/new", r, -1)
			return err
		}},
		{"put over a file", PermWrite | PermOverwrite, func(ctx context.Context, t *testing.T, fs storage.Backend, denied bool) error {
			var r io.Reader = strings.NewReader("two")
			if denied {
				r = mustNotRead{t}
			}
			_, err := fs.Put(ctx, "/f", r, 3)
			return err
		}},
		{"append", PermWrite, func(ctx context.Context, t *testing.T, fs storage.Backend, denied bool) error {
			var r io.Reader = strings.NewReader("!")
			if denied {
				r = mustNotRead{t}
			}
			_, err := fs.(storage.Appender).Append(ctx, "/f", 3, r)
			return err
		}},
		{"resume below the size", PermWrite | PermOverwrite, func(ctx context.Context, t *testing.T, fs storage.Backend, denied bool) error {
			var r io.Reader = strings.NewReader("!")
			if denied {
				r = mustNotRead{t}
			}
			_, err := fs.(storage.Appender).Append(ctx, "/f", 1, r)
			return err
		}},
		{"set mod time", PermWrite | PermOverwrite, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			return fs.(storage.ModTimeSetter).SetModTime(ctx, "/f", time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
		}},
		{"set mod time of own upload", PermWrite, func(ctx context.Context, t *testing.T, fs storage.Backend, denied bool) error {
			if _, err := fs.Put(ctx, "/d/own", strings.NewReader("mine"), 4); err != nil && !denied {
				return err
			}
			return fs.(storage.ModTimeSetter).SetModTime(ctx, "/d/own", time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
		}},
		{"remove", PermDelete, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			return fs.Remove(ctx, "/f")
		}},
		{"rmdir", PermDelete, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			return fs.Rmdir(ctx, "/d")
		}},
		{"mkdir", PermMkdir, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			return fs.Mkdir(ctx, "/d/e")
		}},
		{"rename to a new name", PermRename, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			return fs.Rename(ctx, "/f", "/d/g")
		}},
		{"rename over a file", PermRename | PermOverwrite, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			return fs.Rename(ctx, "/f", "/f2")
		}},
	}
	for _, tc := range tests {
		run := func(t *testing.T, perms Permission, denied bool) {
			t.Parallel()
			s, b := newStore(t, User{Name: "u", PasswordHash: cheap(t, "pw"), Home: "/home/u", Permissions: permList(perms)})
			ctx := t.Context()
			fs := login(t, s, "u").FS
			for _, f := range []string{"/home/u/f", "/home/u/f2"} {
				if _, err := b.Put(ctx, f, strings.NewReader("one"), 3); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Mkdir(ctx, "/home/u/d"); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, b, "/")
			err := tc.op(ctx, t, fs, denied)
			after := snapshot(t, b, "/")
			if !denied {
				if err != nil {
					t.Fatalf("with %v: %v", perms, err)
				}
				if strings.HasPrefix(tc.name, "list") || tc.name == "open" {
					return
				}
				if slices.Equal(before, after) {
					t.Fatalf("with %v: nothing changed", perms)
				}
				return
			}
			var se *storage.Error
			if !errors.Is(err, storage.ErrPermission) || !errors.As(err, &se) {
				t.Fatalf("with %v: %v; want ErrPermission", perms, err)
			}
			if strings.Contains(err.Error(), "/home") {
				t.Errorf("error shows the home: %v", err)
			}
			if !slices.Equal(before, after) {
				t.Errorf("refused op changed the backend:\nbefore %v\nafter  %v", before, after)
			}
		}
		t.Run(tc.name+"/allowed", func(t *testing.T) { run(t, tc.need, false) })
		for _, p := range permNames {
			if tc.need&p.p != 0 {
				t.Run(tc.name+"/without "+p.name, func(t *testing.T) { run(t, PermAll&^p.p, true) })
			}
		}
	}
}

func TestScopedPaths(t *testing.T) {
	t.Parallel()
	s, b := newStore(t,
		User{Name: "u", PasswordHash: cheap(t, "pw"), Home: "/home/u", Permissions: []string{"mkdir"}},
		User{Name: "all", PasswordHash: cheap(t, "pw"), Home: "/home/all"},
		User{Name: "root", PasswordHash: cheap(t, "pw"), Home: "/"},
	)
	ctx := t.Context()
	u, all, root := login(t, s, "u").FS, login(t, s, "all").FS, login(t, s, "root").FS

	// Stat needs no permission, and names are the user's.
	if _, err := b.Put(ctx, "/home/u/f", strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	if e, err := u.Stat(ctx, "/f"); err != nil || e.Name != "f" || e.Size != 3 {
		t.Errorf("Stat(/f) = %+v, %v", e, err)
	}
	for _, fs := range []storage.Backend{u, root} {
		if e, err := fs.Stat(ctx, "/"); err != nil || e.Name != "/" || !e.IsDir {
			t.Errorf("Stat(/) = %+v, %v", e, err)
		}
	}
	if _, err := u.Stat(ctx, "/missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(/missing) = %v", err)
	}

	// Names are under the home, even if one slipped through uncleaned.
	for _, name := range []string{"/x", "/../x", "/a/../../x"} {
		if _, err := all.Put(ctx, name, strings.NewReader("x"), 1); err != nil {
			t.Fatalf("Put(%s): %v", name, err)
		}
	}
	if _, err := b.Stat(ctx, "/home/all/x"); err != nil {
		t.Error("upload not in the home")
	}
	if _, err := b.Stat(ctx, "/x"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("upload escaped the home: %v", err)
	}
	if _, err := root.Stat(ctx, "/home/all/x"); err != nil {
		t.Errorf("a user whose home is / sees everything: %v", err)
	}

	// The home itself cannot be removed or renamed away.
	if err := all.Rmdir(ctx, "/"); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("Rmdir(/) = %v", err)
	}
	if err := all.Rename(ctx, "/", "/y"); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("Rename(/, /y) = %v", err)
	}
	if _, err := b.Stat(ctx, "/home/all"); err != nil {
		t.Errorf("home gone: %v", err)
	}
}

// plain hides memstore's optional interfaces.
type plain struct{ storage.Backend }

func TestScopedOptionalInterfaces(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		base storage.Backend
		has  bool
	}{
		{"memstore", memstore.New(), true},
		{"without append and mtime", plain{memstore.New()}, false},
	} {
		s := NewStore(StoreConfig{Backend: tc.base})
		if err := s.SetUsers([]User{{Name: "u", PasswordHash: cheap(t, "pw")}}); err != nil {
			t.Fatal(err)
		}
		fs := login(t, s, "u").FS
		if w, ok := fs.(storage.Wrapper); !ok || w.Unwrap() != tc.base {
			t.Fatalf("%s: Unwrap does not return the base", tc.name)
		}
		if storage.Has[storage.Appender](fs) != tc.has || storage.Has[storage.ModTimeSetter](fs) != tc.has {
			t.Errorf("%s: Has reports the wrong abilities", tc.name)
		}
		_, aerr := fs.(storage.Appender).Append(ctx, "/f", 0, strings.NewReader("x"))
		merr := fs.(storage.ModTimeSetter).SetModTime(ctx, "/f", time.Now())
		if tc.has {
			if aerr != nil || merr != nil {
				t.Errorf("%s: Append %v, SetModTime %v", tc.name, aerr, merr)
			}
		} else if !errors.Is(aerr, storage.ErrNotSupported) || !errors.Is(merr, storage.ErrNotSupported) {
			t.Errorf("%s: Append %v, SetModTime %v; want ErrNotSupported", tc.name, aerr, merr)
		}
	}
}

// TestScopedKeepsAbilities checks the forwarding of abilities, for users
// who may use them (permissions are TestScopedPermissions's).
func TestScopedKeepsAbilities(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		user User
	}{
		{"every permission", User{Name: "u", PasswordHash: cheap(t, "pw")}},
		{"quota", User{Name: "u", PasswordHash: cheap(t, "pw"), QuotaBytes: 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storagetest.CheckWrap(t, func(b storage.Backend) storage.Backend {
				s := NewStore(StoreConfig{Backend: b})
				if err := s.SetUsers([]User{tc.user}); err != nil {
					t.Fatal(err)
				}
				return login(t, s, "u").FS
			})
		})
	}
}
