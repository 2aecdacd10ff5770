package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
)

// brokenData fails as a data connection that broke.
type brokenData struct{}

func (brokenData) Read([]byte) (int, error) {
	return 0, fmt.Errorf("data connection reset: %w", storage.ErrInterrupted)
}

// localUsers is a user store over a new local directory, which keeps
// interrupted uploads.
func localUsers(t *testing.T) (string, *Store) {
	t.Helper()
	dir := t.TempDir()
	b, err := localstore.New(localstore.Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return dir, NewStore(StoreConfig{Backend: b})
}

// TestInterruptedUploadOverAFile: an interrupted upload its owner sees at
// a path (Partial) does not hide the file that appeared there meanwhile:
// without overwrite, neither a new STOR nor the continuation replaces
// it; with a quota, completing or removing the interrupted upload counts
// the file it replaces, and removing it frees nothing.
func TestInterruptedUploadOverAFile(t *testing.T) {
	t.Parallel()
	dir, s := localUsers(t)
	if err := s.SetUsers([]User{
		{Name: "w", PasswordHash: cheap(t, "pw"), Home: "/w", Permissions: []string{"list", "read", "write"}},
		{Name: "q", PasswordHash: cheap(t, "pw"), Home: "/q", QuotaBytes: 100},
	}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"w", "q"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// interrupt leaves an interrupted upload of n bytes by user at name,
	// then another writer puts a file of m bytes there.
	interrupt := func(a *Account, ctx context.Context, name string, n, m int) {
		t.Helper()
		_, err := a.FS.Put(ctx, name, io.MultiReader(strings.NewReader(strings.Repeat("k", n)), brokenData{}), -1)
		if !errors.Is(err, storage.ErrInterrupted) {
			t.Fatalf("the interrupted upload: %v", err)
		}
		if e, err := a.FS.Stat(ctx, name); err != nil || !e.Partial || e.Size != int64(n) {
			t.Fatalf("its owner's Stat: %+v, %v", e, err)
		}
		if err := os.WriteFile(filepath.Join(dir, a.User, name), []byte(strings.Repeat("o", m)), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	w := login(t, s, "w")
	wctx := storage.WithUploader(t.Context(), storage.Uploader{User: "w", Session: "s1"})
	interrupt(w, wctx, "/f", 4, 2)
	if _, err := w.FS.Put(wctx, "/f", strings.NewReader("new"), -1); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("STOR over the file without overwrite: %v, want ErrPermission", err)
	}
	app := w.FS.(storage.Appender)
	if _, err := app.Append(wctx, "/f", 4, strings.NewReader("rest")); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("the continuation over the file without overwrite: %v, want ErrPermission", err)
	}
	if got := other(t, dir, "w/f"); got != "oo" {
		t.Errorf("the file at the path: %q, want the other writer's", got)
	}
	// Where nothing appeared, the continuation needs no overwrite.
	if _, err := w.FS.Put(wctx, "/g", io.MultiReader(strings.NewReader("kk"), brokenData{}), -1); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatal(err)
	}
	if _, err := app.Append(wctx, "/g", 2, strings.NewReader("gg")); err != nil {
		t.Errorf("the continuation: %v", err)
	}

	q := login(t, s, "q")
	qctx := storage.WithUploader(t.Context(), storage.Uploader{User: "q", Session: "s2"})
	if err := put(t, q.FS, "/base", 40); err != nil { // usage 40
		t.Fatal(err)
	}
	interrupt(q, qctx, "/r", 10, 30) // the other writer's 30 bytes are not yet counted
	if _, err := q.FS.(storage.Appender).Append(qctx, "/r", 10, strings.NewReader(strings.Repeat("n", 50))); err != nil {
		t.Fatalf("the continuation: %v", err)
	}
	// /r is 60 bytes now, replacing 30 the usage never had: 40+60-30.
	if left := remaining(t, q); left != 30 {
		t.Errorf("after the continuation over a file: %d left, want 30", left)
	}
	interrupt(q, qctx, "/base", 5, 40) // /base rewritten at the same size
	if err := q.FS.Remove(qctx, "/base"); err != nil {
		t.Fatal(err)
	}
	if left := remaining(t, q); left != 30 {
		t.Errorf("after removing an interrupted upload: %d left, want 30 (nothing freed)", left)
	}
	if got := other(t, dir, "q/base"); len(got) != 40 {
		t.Errorf("the file under the removed interrupted upload: %d bytes, want 40", len(got))
	}
}

// TestInterruptedAppendResumes: a user without overwrite continues their
// own interrupted APPE (the file beneath is the one it began on), and a
// quota measured afresh (a restart) counts that file, not the kept bytes.
func TestInterruptedAppendResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"w", "q"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	users := []User{
		{Name: "w", PasswordHash: cheap(t, "pw"), Home: "/w", Permissions: []string{"list", "read", "write"}},
		{Name: "q", PasswordHash: cheap(t, "pw"), Home: "/q", QuotaBytes: 100},
	}
	start := func() *Store {
		t.Helper()
		b, err := localstore.New(localstore.Config{Root: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		s := NewStore(StoreConfig{Backend: b})
		if err := s.SetUsers(users); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := start()

	w := login(t, s, "w")
	wctx := storage.WithUploader(t.Context(), storage.Uploader{User: "w", Session: "s1"})
	if _, err := w.FS.Put(wctx, "/log", strings.NewReader("0123"), -1); err != nil {
		t.Fatal(err)
	}
	app := w.FS.(storage.Appender)
	if _, err := app.Append(wctx, "/log", 4, io.MultiReader(strings.NewReader("4567"), brokenData{})); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatalf("the interrupted APPE: %v", err)
	}
	if e, err := w.FS.Stat(wctx, "/log"); err != nil || !e.Partial || e.Size != 8 {
		t.Fatalf("its owner's Stat: %+v, %v", e, err)
	}
	if _, err := app.Append(wctx, "/log", 2, strings.NewReader("xx")); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("a continuation below the file's 4 bytes without overwrite: %v, want ErrPermission", err)
	}
	if _, err := app.Append(wctx, "/log", 8, strings.NewReader("89")); err != nil {
		t.Fatalf("the continuation of the user's own APPE: %v", err)
	}
	if got := other(t, dir, "w/log"); got != "0123456789" {
		t.Errorf("the file: %q", got)
	}

	q := login(t, s, "q")
	qctx := storage.WithUploader(t.Context(), storage.Uploader{User: "q", Session: "s2"})
	if _, err := q.FS.Put(qctx, "/big", strings.NewReader(strings.Repeat("b", 80)), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := q.FS.(storage.Appender).Append(qctx, "/big", 80, io.MultiReader(strings.NewReader("xx"), brokenData{})); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatal(err)
	}
	q = login(t, start(), "q") // a restart: the usage is measured again
	if left, _, err := q.QuotaRemaining(qctx); err != nil || left != 18 {
		t.Errorf("after a restart: %d left (%v), want 18: the 80-byte file and the interrupted APPE's 2 bytes count", left, err)
	}
}

// other is the content of the file at name under dir.
func other(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInterruptedUploadsCountInQuota: the user's interrupted uploads,
// kept for resuming, take quota space until they are completed or
// discarded: another upload that would go over the quota beside them gets
// the quota's refusal (and keeps nothing), AVBL's remainder leaves them
// out, and continuing or replacing one counts it once. It fails if cutting
// uploads off stores more than the quota allows (each kept whole beside
// the others).
func TestInterruptedUploadsCountInQuota(t *testing.T) {
	t.Parallel()
	dir, s := localUsers(t)
	var err error
	if err := s.SetUsers([]User{{Name: "q", PasswordHash: cheap(t, "pw"), Home: "/q", QuotaBytes: 100}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "q"), 0o755); err != nil {
		t.Fatal(err)
	}
	q := login(t, s, "q")
	ctx := storage.WithUploader(t.Context(), storage.Uploader{User: "q", Session: "s1"})
	app := q.FS.(storage.Appender)
	cut := func(name string, off int64, n int) error {
		t.Helper()
		r := io.MultiReader(strings.NewReader(strings.Repeat("k", n)), brokenData{})
		if off > 0 {
			_, err = app.Append(ctx, name, off, r)
		} else {
			_, err = q.FS.Put(ctx, name, r, -1)
		}
		return err
	}
	left := func(want int64) {
		t.Helper()
		if n, _, err := q.QuotaRemaining(ctx); err != nil || n != want {
			t.Errorf("quota left: %d, %v; want %d", n, err, want)
		}
	}
	kept := func(name string, size int64) {
		t.Helper()
		e, err := q.FS.Stat(ctx, name)
		if size < 0 && !errors.Is(err, storage.ErrNotFound) || size >= 0 && (err != nil || !e.Partial || e.Size != size) {
			t.Errorf("Stat %s: %+v, %v; want %d bytes kept", name, e, err, size)
		}
	}
	if err := cut("/a", 0, 60); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatal(err)
	}
	left(40)
	if err := cut("/b", 0, 60); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("an upload beyond the room the kept one leaves: %v, want ErrQuota", err)
	}
	kept("/b", -1)
	if err := cut("/b", 0, 30); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatal(err)
	}
	left(10)
	if _, err := q.FS.Put(ctx, "/f", strings.NewReader(strings.Repeat("f", 20)), -1); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("a file beyond the room: %v, want ErrQuota", err)
	}
	if _, err := q.FS.Put(ctx, "/f", strings.NewReader(strings.Repeat("f", 10)), -1); err != nil {
		t.Fatal(err)
	}
	left(0)
	// Continuing /a counts its kept 60 bytes once, beside /b's 30.
	if _, err := app.Append(ctx, "/a", 60, strings.NewReader("x")); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("continuing with no room: %v, want ErrQuota", err)
	}
	kept("/a", 60)
	if err := q.FS.Remove(ctx, "/b"); err != nil {
		t.Fatal(err)
	}
	left(30)
	if _, err := app.Append(ctx, "/a", 60, strings.NewReader(strings.Repeat("x", 30))); err != nil {
		t.Fatalf("continuing within the room: %v", err)
	}
	left(0)
	// A plain STOR over the user's own kept upload replaces it: only the
	// other kept bytes take room from it.
	if err := q.FS.Remove(ctx, "/a"); err != nil {
		t.Fatal(err)
	}
	if err := cut("/c", 0, 50); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatal(err)
	}
	if _, err := q.FS.Put(ctx, "/c", strings.NewReader(strings.Repeat("c", 90)), -1); err != nil {
		t.Fatalf("a STOR replacing the user's own kept upload: %v", err)
	}
	left(0)
	// An interrupted REST + STOR below a file's size counts every byte it
	// added after the offset, not only those beyond the file's end.
	if err := q.FS.Remove(ctx, "/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.FS.Put(ctx, "/g", strings.NewReader(strings.Repeat("g", 80)), -1); err != nil {
		t.Fatal(err)
	}
	if err := cut("/g", 1, 80); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatal(err)
	}
	kept("/g", 81)
	left(0)
}

// TestQuotaCountsKeptUploadsToTheEnd: the user's interrupted uploads kept
// while an upload runs count against it when it ends, and a continuation
// of no bytes is checked too. (Kept bytes used to be read once, when an
// upload began, and an upload of no bytes was never checked: sessions
// that began together, were interrupted in turn and then completed with
// REST n + STOR of nothing stored a quota's worth each.)
func TestQuotaCountsKeptUploadsToTheEnd(t *testing.T) {
	t.Parallel()
	_, q1, q2, ctx1, ctx2 := twoQuotaSessions(t)
	remaining(t, q1)
	broken := fmt.Errorf("data connection reset: %w", storage.ErrInterrupted)

	// Two uploads begin together; each is cut after 60 bytes in turn.
	k1, k2 := startPutEnding(t, q1.FS, ctx1, "/k1"), startPutEnding(t, q2.FS, ctx2, "/k2")
	if err := k1(58, broken); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatalf("first cut: %v", err)
	}
	if err := k2(58, broken); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatalf("second cut: %v", err)
	}
	// Completing either with no more bytes would store 60 beside the
	// other's 60 kept.
	for i, c := range []struct {
		fs   *Account
		ctx  context.Context
		name string
	}{{q1, ctx1, "/k1"}, {q2, ctx2, "/k2"}} {
		if _, err := c.fs.FS.(storage.Appender).Append(c.ctx, c.name, 60, strings.NewReader("")); !errors.Is(err, storage.ErrQuota) {
			t.Errorf("continuation %d with 120 bytes kept: %v, want ErrQuota", i+1, err)
		}
	}
	if err := q2.FS.Remove(ctx2, "/k2"); err != nil { // the kept upload is given up
		t.Fatal(err)
	}
	if _, err := q1.FS.(storage.Appender).Append(ctx1, "/k1", 60, strings.NewReader("")); err != nil {
		t.Fatalf("continuation with the other given up: %v", err)
	}
	// An upload that began before another was kept meets it at its end.
	up := startPutEnding(t, q1.FS, ctx1, "/late")
	if err := keepThirty(t, q2, ctx2); err != nil {
		t.Fatal(err)
	}
	if err := up(28, nil); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("an upload of 30 with 60 stored and 30 kept since it began: %v, want ErrQuota", err)
	}
	if left := remaining(t, q1); left != 40 {
		t.Fatalf("%d left, want 40 (the kept bytes are not stored)", left)
	}
}

// keepThirty leaves an interrupted upload of 30 bytes at /k3.
func keepThirty(t *testing.T, a *Account, ctx context.Context) error {
	t.Helper()
	_, err := a.FS.Put(ctx, "/k3", io.MultiReader(strings.NewReader(strings.Repeat("k", 30)), brokenData{}), -1)
	if errors.Is(err, storage.ErrInterrupted) {
		return nil
	}
	return fmt.Errorf("the interrupted upload: %v", err)
}
