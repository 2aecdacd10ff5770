package auth

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// layout makes, under root, the directories dirs, then the files (path:
// content), then the symbolic links (path: target).
func layout(t *testing.T, root string, dirs []string, files, links map[string]string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for f, data := range files {
		if err := os.WriteFile(filepath.Join(root, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSymlinksStayInTheirHome: in a local directory, a symbolic link in
// one user's home that leads into another's (or anywhere out of the home)
// is not followed by any operation, while a link inside the home works
// and the link itself can be removed. Without the confinement, every one
// of these reaches bob's files.
func TestSymlinksStayInTheirHome(t *testing.T) {
	t.Parallel()
	dir, s := localUsers(t)
	all := []string{"list", "read", "write", "overwrite", "delete", "mkdir", "rename"}
	if err := s.SetUsers([]User{
		{Name: "alice", PasswordHash: cheap(t, "pw"), Home: "/alice", Permissions: all},
		{Name: "bob", PasswordHash: cheap(t, "pw"), Home: "/bob", Permissions: all},
	}); err != nil {
		t.Fatal(err)
	}
	layout(t, dir, []string{"alice/2025", "bob/sub"},
		map[string]string{"bob/secret.txt": "bob's", "bob/sub/inner.txt": "inner", "alice/2025/r.csv": "r"},
		map[string]string{
			"alice/tobob":   "../bob",            // a directory in another home
			"alice/secret":  "../bob/secret.txt", // a file there
			"alice/latest":  "2025",              // inside the home: followed
			"alice/2025/up": "../../bob/sub",     // deeper, climbing out
		})
	a := login(t, s, "alice")
	ctx := t.Context()
	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s through a link into bob's home: allowed", what)
		} else if !errors.Is(err, storage.ErrPermission) && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: %v, want a refusal", what, err)
		}
	}
	_, err := a.FS.Stat(ctx, "/tobob/secret.txt")
	refused("Stat", err)
	_, err = a.FS.Stat(ctx, "/secret")
	refused("Stat of a file link", err)
	if rc, err := a.FS.Open(ctx, "/secret", 0); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Errorf("Open of a file link read %q", b)
	}
	_, err = a.FS.Open(ctx, "/tobob/secret.txt", 0)
	refused("Open", err)
	_, err = a.FS.Open(ctx, "/2025/up/inner.txt", 0)
	refused("Open through a deeper link", err)
	for e, err := range a.FS.List(ctx, "/tobob") {
		if err == nil {
			t.Errorf("List of the link shows %q", e.Name)
		}
		break
	}
	for e, err := range a.FS.List(ctx, "/") {
		if err != nil {
			t.Fatal(err)
		}
		if e.Name == "tobob" || e.Name == "secret" {
			t.Errorf("List / shows the link %q (%+v)", e.Name, e)
		}
	}
	_, err = a.FS.Put(ctx, "/tobob/planted.txt", strings.NewReader("x"), 1)
	refused("Put", err)
	_, err = a.FS.Put(ctx, "/secret", strings.NewReader("over"), 4)
	if got, _ := os.ReadFile(filepath.Join(dir, "bob/secret.txt")); string(got) != "bob's" {
		t.Errorf("Put onto a file link changed bob's file to %q (%v)", got, err)
	}
	_, err = a.FS.(storage.Appender).Append(ctx, "/tobob/secret.txt", 5, strings.NewReader("+"))
	refused("Append", err)
	refused("Remove", a.FS.Remove(ctx, "/tobob/secret.txt"))
	refused("Mkdir", a.FS.Mkdir(ctx, "/tobob/newdir"))
	refused("Rmdir", a.FS.Rmdir(ctx, "/tobob/sub"))
	refused("Rename out of it", a.FS.Rename(ctx, "/tobob/secret.txt", "/stolen.txt"))
	refused("Rename into it", a.FS.Rename(ctx, "/2025/r.csv", "/tobob/r.csv"))
	refused("SetModTime", a.FS.(storage.ModTimeSetter).SetModTime(ctx, "/tobob/secret.txt", time.Unix(0, 0)))
	for _, p := range []string{"bob/secret.txt", "bob/sub/inner.txt"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s after the attempts: %v", p, err)
		}
	}
	for _, p := range []string{"bob/planted.txt", "bob/newdir", "bob/r.csv", "alice/stolen.txt"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after the attempts (%v)", p, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "bob/secret.txt")); fi.ModTime().Unix() == 0 {
		t.Error("SetModTime changed bob's file")
	}

	// A link inside the home is followed; a link out of it can be removed.
	if e, err := a.FS.Stat(ctx, "/latest/r.csv"); err != nil || e.Size != 1 {
		t.Errorf("Stat through a link inside the home: %+v %v", e, err)
	}
	if _, err := a.FS.Put(ctx, "/latest/new.csv", strings.NewReader("n"), 1); err != nil {
		t.Errorf("Put through a link inside the home: %v", err)
	}
	if err := a.FS.Remove(ctx, "/secret"); err != nil {
		t.Errorf("Remove of the link itself: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bob/secret.txt")); err != nil {
		t.Errorf("removing the link removed its target: %v", err)
	}
	// bob, whose home it is, still reaches it all.
	b := login(t, s, "bob")
	if e, err := b.FS.Stat(ctx, "/sub/inner.txt"); err != nil || e.Size != 5 {
		t.Errorf("bob's own file: %+v %v", e, err)
	}
}

// gate is an upload body that sends its first bytes, then waits for
// release before it ends.
type gate struct {
	first   []byte
	started chan struct{}
	release chan struct{}
	sent    bool
}

func (g *gate) Read(p []byte) (int, error) {
	if !g.sent {
		g.sent = true
		close(g.started)
		return copy(p, g.first), nil
	}
	<-g.release
	return 0, io.EOF
}

// TestSymlinkSwappedDuringUpload: a link moved into the path of a running
// upload (its directory renamed away, the link to bob's home renamed to
// its name: FTP renames alice may make) does not carry the file out of
// the home when the upload ends.
func TestSymlinkSwappedDuringUpload(t *testing.T) {
	t.Parallel()
	dir, s := localUsers(t)
	all := []string{"list", "read", "write", "overwrite", "delete", "mkdir", "rename"}
	if err := s.SetUsers([]User{
		{Name: "alice", PasswordHash: cheap(t, "pw"), Home: "/alice", Permissions: all},
	}); err != nil {
		t.Fatal(err)
	}
	layout(t, dir, []string{"alice/up", "bob"}, nil, map[string]string{"alice/tobob": "../bob"})
	a := login(t, s, "alice")
	ctx := t.Context()
	g := &gate{first: []byte("alice's"), started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := a.FS.Put(ctx, "/up/x", g, -1)
		done <- err
	}()
	select {
	case <-g.started:
	case err := <-done:
		t.Fatalf("the upload ended early: %v", err)
	}
	if err := a.FS.Rename(ctx, "/up", "/up2"); err != nil {
		t.Fatal(err)
	}
	if err := a.FS.Rename(ctx, "/tobob", "/up"); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	err := <-done
	if _, serr := os.Lstat(filepath.Join(dir, "bob/x")); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("the upload landed in bob's home (Put: %v)", err)
	}
	if err == nil {
		t.Fatal("the upload succeeded through the swapped-in link")
	}
}

// TestQuotaSkipsLinksOutOfTheHome: the first measure of a user's usage
// walks the home without following a link into another's, whose bytes
// would count against this user's quota, and counts what links inside the
// home lead to once (a link to "." would count the home again and again).
func TestQuotaSkipsLinksOutOfTheHome(t *testing.T) {
	t.Parallel()
	dir, s := localUsers(t)
	if err := s.SetUsers([]User{
		{Name: "q", PasswordHash: cheap(t, "pw"), Home: "/q", QuotaBytes: 1000},
	}); err != nil {
		t.Fatal(err)
	}
	layout(t, dir, []string{"q", "bob"},
		map[string]string{"bob/big": strings.Repeat("b", 600), "q/own": strings.Repeat("q", 100)},
		map[string]string{
			"q/tobob": "../bob",
			// Links inside the home: their targets count once, where they are.
			"q/loop":  ".",
			"q/again": "own",
		})
	a := login(t, s, "q")
	left, limited, err := a.QuotaRemaining(t.Context())
	if err != nil || !limited || left != 900 {
		t.Fatalf("quota left %d (limited %v, %v), want 900: bob's bytes counted", left, limited, err)
	}
}
