package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// kubeletVolume lays a directory out as the kubelet does for a Secret or
// ConfigMap volume, and updates it the same way:
//
//	dir/..2026_12_02_10_00_00.000000001/users.yaml
//	dir/..data -> ..2026_12_02_10_00_00.000000001
//	dir/users.yaml -> ..data/users.yaml
//
// An update writes a new timestamped directory, points a ..data_tmp
// symlink at it, renames ..data_tmp over ..data (the atomic step) and
// removes the old directory.
type kubeletVolume struct {
	t   testing.TB
	dir string
	n   int
	cur string // the timestamped directory ..data points to
}

func newKubeletVolume(t testing.TB) *kubeletVolume {
	return &kubeletVolume{t: t, dir: t.TempDir()}
}

// File is the path a pod is given: dir/users.yaml.
func (v *kubeletVolume) File() string { return filepath.Join(v.dir, "users.yaml") }

func (v *kubeletVolume) update(content string) {
	v.t.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_12_02_10_00_00.%09d", v.n)
	must := func(err error) {
		v.t.Helper()
		if err != nil {
			v.t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(v.dir, ts), 0o755))
	must(os.WriteFile(filepath.Join(v.dir, ts, "users.yaml"), []byte(content), 0o644))
	must(os.Symlink(ts, filepath.Join(v.dir, "..data_tmp")))
	must(os.Rename(filepath.Join(v.dir, "..data_tmp"), filepath.Join(v.dir, "..data")))
	if v.cur == "" {
		must(os.Symlink(filepath.Join("..data", "users.yaml"), v.File()))
	} else {
		must(os.RemoveAll(filepath.Join(v.dir, v.cur)))
	}
	v.cur = ts
}

// usersYAML is a users file with a user "pw"-password for each name.
func usersYAML(t testing.TB, names ...string) string {
	var b strings.Builder
	b.WriteString("users:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    password_hash: %q\n", n, cheap(t, "pw"))
	}
	return b.String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

func canLogIn(t *testing.T, s *Store, name string) bool {
	t.Helper()
	_, err := s.Authenticate(t.Context(), name, "pw", netip.MustParseAddr("127.0.0.1"))
	if err != nil && !errors.Is(err, ErrLoginFailed) {
		t.Fatal(err)
	}
	return err == nil
}

// TestReloaderKubeletSwap: each ..data swap is one reload; polls that see
// no change reload nothing; a broken version keeps the users and is
// reported once however often it is polled, again when forced; a vanished
// file is reported once per outage; a fixed version loads.
func TestReloaderKubeletSwap(t *testing.T) {
	t.Parallel()
	vol := newKubeletVolume(t)
	vol.update(usersYAML(t, "ann"))
	var logs syncBuffer
	s, _ := newStore(t)
	r := NewUsersReloader(s, FileSource(vol.File()), vol.File(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err := r.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !canLogIn(t, s, "ann") || canLogIn(t, s, "bob") {
		t.Fatal("start-up load")
	}
	reloads := func(wantOK, wantFailed int64) {
		t.Helper()
		if ok, failed := r.Reloads(); ok != wantOK || failed != wantFailed {
			t.Fatalf("reloads ok=%d failed=%d, want %d and %d\n%s", ok, failed, wantOK, wantFailed, logs.b.String())
		}
	}
	r.Check(t.Context())
	reloads(0, 0)

	vol.update(usersYAML(t, "ann", "bob"))
	r.Check(t.Context())
	r.Check(t.Context())
	reloads(1, 0)
	if !canLogIn(t, s, "bob") {
		t.Fatal("bob not added by the swap")
	}

	vol.update("users:\n  - name: carl\n    password_hash: nope\n")
	for range 3 {
		r.Check(t.Context())
	}
	reloads(1, 1)
	if n := logs.count("users file not reloaded"); n != 1 {
		t.Fatalf("broken version logged %d times, want once", n)
	}
	if !canLogIn(t, s, "ann") || !canLogIn(t, s, "bob") || canLogIn(t, s, "carl") {
		t.Fatal("a broken version changed the users")
	}
	r.Reload(t.Context(), "sighup")
	reloads(1, 2)

	// The volume vanishes (an unmounted Secret), then comes back.
	os.Rename(vol.dir, vol.dir+".gone")
	for range 3 {
		r.Check(t.Context())
	}
	reloads(1, 3)
	os.Rename(vol.dir+".gone", vol.dir)
	r.Check(t.Context())
	reloads(1, 3)
	if logs.count("users file readable again") != 1 {
		t.Fatalf("recovery not logged:\n%s", logs.b.String())
	}

	vol.update(usersYAML(t, "carl"))
	r.Check(t.Context())
	reloads(2, 3)
	if !canLogIn(t, s, "carl") || canLogIn(t, s, "ann") {
		t.Fatal("the fixed version was not loaded")
	}
	if strings.Contains(logs.b.String(), "$argon2id$") {
		t.Fatal("a hash reached the log")
	}
}

// TestFileSourceSettles: a file whose content changes between the two
// reads of a Fetch (written in place while polled) is not taken; the same
// content twice is.
func TestFileSourceSettles(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, file, "one")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // keeps rewriting the file, as a slow in-place writer does
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				os.WriteFile(file, []byte(fmt.Sprint("v", i)), 0o600)
			}
		}
	}()
	_, v, changed, err := FileSource(file).Fetch(t.Context(), "")
	close(stop)
	<-done
	if err != nil || changed || v != "" {
		t.Fatalf("a file being written was taken: changed=%v version=%q err=%v", changed, v, err)
	}
	b, v, changed, err := FileSource(file).Fetch(t.Context(), "")
	if err != nil || !changed || v == "" || len(b) == 0 {
		t.Fatalf("a settled file: changed=%v version=%q err=%v", changed, v, err)
	}
	if _, v2, changed, _ := FileSource(file).Fetch(t.Context(), v); changed || v2 != v {
		t.Fatal("the same content counted as a change")
	}
}
