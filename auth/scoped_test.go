package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path"
	"slices"
	"strings"
	"sync"
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
		{"list from a prefix", PermList, func(ctx context.Context, t *testing.T, fs storage.Backend, _ bool) error {
			var names []string
			for e, err := range fs.(storage.PrefixLister).ListPrefix(ctx, "/", "f") {
				if err != nil {
					return err
				}
				names = append(names, e.Name)
			}
			if !slices.Equal(names, []string{"f", "f2"}) {
				t.Errorf("ListPrefix(/, f) = %v", names)
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

// prefixRecorder is memstore recording the ListPrefix calls it gets.
type prefixRecorder struct {
	*memstore.Store
	mu    sync.Mutex
	calls []string // "dir prefix"
}

func (r *prefixRecorder) ListPrefix(ctx context.Context, dir, prefix string) iter.Seq2[storage.Entry, error] {
	r.mu.Lock()
	r.calls = append(r.calls, dir+" "+prefix)
	r.mu.Unlock()
	return r.Store.ListPrefix(ctx, dir, prefix)
}

func (r *prefixRecorder) took() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// TestScopedListPrefix: a wildcard's listing is the user's directory from
// the prefix, under the same permission as List, and never leaves it.
func TestScopedListPrefix(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := &prefixRecorder{Store: memstore.New()}
	s := NewStore(StoreConfig{Backend: b})
	if err := s.SetUsers([]User{
		{Name: "u", PasswordHash: cheap(t, "pw"), Home: "/home/u"},
		{Name: "nolist", PasswordHash: cheap(t, "pw"), Home: "/home/u", Permissions: permList(PermAll &^ PermList)},
	}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/home", "/home/u", "/home/u/sub"} {
		if err := b.Mkdir(ctx, d); err != nil && !errors.Is(err, storage.ErrExist) {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"/home/u/abc", "/home/u/abd", "/home/u/x", "/home/u/sub/abz", "/home/abc-outside"} {
		if _, err := b.Put(ctx, f, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	u, nolist := login(t, s, "u").FS, login(t, s, "nolist").FS
	listed := func(fs storage.Backend, dir, prefix string) (string, error) {
		var names []string
		for e, err := range fs.(storage.PrefixLister).ListPrefix(ctx, dir, prefix) {
			if err != nil {
				return "", err
			}
			names = append(names, e.Name)
		}
		return strings.Join(names, ","), nil
	}
	for _, tc := range []struct {
		dir, prefix, want string
		call              string // what the backend is asked; "": nothing
	}{
		{"/", "ab", "abc,abd", "/home/u ab"},
		{"/sub", "a", "abz", "/home/u/sub a"},
		{"/..", "ab", "abc,abd", "/home/u ab"}, // a name that slipped through uncleaned
		{"/", "../abc", "", ""},                // a prefix with a slash names nothing
		{"/sub", "../ab", "", ""},
		{"/", "zz", "", "/home/u zz"},
	} {
		got, err := listed(u, tc.dir, tc.prefix)
		if err != nil || got != tc.want {
			t.Errorf("ListPrefix(%s, %q) = %q, %v; want %q", tc.dir, tc.prefix, got, err, tc.want)
		}
		calls := b.took()
		if want := []string{tc.call}; tc.call == "" && len(calls) > 0 || tc.call != "" && !slices.Equal(calls, want) {
			t.Errorf("ListPrefix(%s, %q) asked the backend %q, want %q", tc.dir, tc.prefix, calls, tc.call)
		}
	}

	// Wildcards list through ListFrom, which finds the backend's ListPrefix
	// under the scoped view.
	var names []string
	for e, err := range storage.ListFrom(ctx, u, "/", "ab") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if calls := b.took(); !slices.Equal(names, []string{"abc", "abd"}) || !slices.Equal(calls, []string{"/home/u ab"}) {
		t.Errorf("ListFrom(/, ab) = %v asking the backend %q; want [abc abd] from ListPrefix(/home/u, ab)", names, calls)
	}

	_, err := listed(nolist, "/", "ab")
	var se *storage.Error
	if !errors.Is(err, storage.ErrPermission) || !errors.As(err, &se) || strings.Contains(err.Error(), "/home") {
		t.Errorf("ListPrefix without list: %v; want ErrPermission naming the user's path", err)
	}
	if calls := b.took(); len(calls) > 0 {
		t.Errorf("a refused ListPrefix asked the backend %q", calls)
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
		if storage.Has[storage.Appender](fs) != tc.has || storage.Has[storage.ModTimeSetter](fs) != tc.has ||
			storage.Has[storage.PrefixLister](fs) != tc.has {
			t.Errorf("%s: Has reports the wrong abilities", tc.name)
		}
		_, aerr := fs.(storage.Appender).Append(ctx, "/f", 0, strings.NewReader("x"))
		merr := fs.(storage.ModTimeSetter).SetModTime(ctx, "/f", time.Now())
		var lerr error
		for _, err := range fs.(storage.PrefixLister).ListPrefix(ctx, "/", "f") {
			lerr = err
		}
		if tc.has {
			if aerr != nil || merr != nil || lerr != nil {
				t.Errorf("%s: Append %v, SetModTime %v, ListPrefix %v", tc.name, aerr, merr, lerr)
			}
		} else if !errors.Is(aerr, storage.ErrNotSupported) || !errors.Is(merr, storage.ErrNotSupported) ||
			!errors.Is(lerr, storage.ErrNotSupported) {
			t.Errorf("%s: Append %v, SetModTime %v, ListPrefix %v; want ErrNotSupported", tc.name, aerr, merr, lerr)
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
