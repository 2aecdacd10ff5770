package auth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// TestQuotaRemovePartialDuringUpload: removing the user's own kept upload
// at a name while another upload runs onto it frees nothing: the file
// beneath stays, and still counts when that upload fails.
func TestQuotaRemovePartialDuringUpload(t *testing.T) {
	t.Parallel()
	dir, q1, q2, ctx1, ctx2 := twoQuotaSessions(t)
	if _, err := q1.FS.Put(ctx1, "/f", strings.NewReader(strings.Repeat("o", 90)), -1); err != nil {
		t.Fatal(err)
	}
	// a kept interrupted upload at /f
	if _, err := q1.FS.Put(ctx1, "/f", io.MultiReader(strings.NewReader("kk"), brokenData{}), -1); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatal(err)
	}
	up := startPutEnding(t, q2.FS, ctx2, "/f")
	if err := q1.FS.Remove(ctx1, "/f"); err != nil { // removes the kept upload
		t.Fatal(err)
	}
	broken := errors.New("reset")
	_ = up(0, broken)
	if b, _ := os.ReadFile(filepath.Join(dir, "q", "f")); len(b) != 90 {
		t.Fatalf("/f holds %d bytes, want the 90 of before", len(b))
	}
	if left := remaining(t, q1); left != 10 {
		t.Errorf("a file of 90 stays but %d left, want 10", left)
	}
}

// heldMem is memstore with held uploads kept in memory.
type heldMem struct{ *memstore.Store }

type memHeld struct {
	b    *heldMem
	data []byte
}

func (h *memHeld) Publish(ctx context.Context, name string) error {
	_, err := h.b.Put(ctx, name, bytes.NewReader(h.data), -1)
	return err
}
func (h *memHeld) Abort(context.Context) error { return nil }

func (b *heldMem) PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (storage.Held, int64, error) {
	d, err := io.ReadAll(r)
	if err != nil {
		return nil, int64(len(d)), err
	}
	return &memHeld{b: b, data: d}, int64(len(d)), nil
}
func (b *heldMem) AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (storage.Held, int64, error) {
	return nil, 0, storage.ErrNoHeldUpload
}

// TestQuotaHeldPublishOntoRunningUpload: a held temp-name upload published
// onto a name an upload is running onto is what that upload replaces when
// it completes, not the file both found (whose bytes were freed once).
func TestQuotaHeldPublishOntoRunningUpload(t *testing.T) {
	t.Parallel()
	b := &heldMem{memstore.New()}
	s := NewStore(StoreConfig{Backend: b})
	if err := s.SetUsers([]User{{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100}}); err != nil {
		t.Fatal(err)
	}
	a1, a2 := login(t, s, "q"), login(t, s, "q")
	ctx := t.Context()
	if err := put(t, a1.FS, "/f", 50); err != nil {
		t.Fatal(err)
	}
	up := startPut(t, a1.FS, ctx, "/f")
	hp, ok := storage.As[storage.HeldPutter](a2.FS)
	if !ok {
		t.Fatal("no HeldPutter")
	}
	h, _, err := hp.PutHeld(ctx, "/.in.f", "/f", strings.NewReader(strings.Repeat("h", 10)), -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Publish(ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	if err := up(28); err != nil {
		t.Fatal(err)
	}
	wantSize(t, b, "/q/f", 30)
	if left := remaining(t, a1); left != 70 {
		t.Errorf("file of 30: %d left, want 70", left)
	}
}

// TestQuotaContinuationCountsOnce: a continuation's new bytes, written in
// place into the kept file on a local directory, count once in another
// upload's end check (as the continuation's reservation), not also as
// kept bytes.
func TestQuotaContinuationCountsOnce(t *testing.T) {
	t.Parallel()
	dir, q1, q2, ctx1, ctx2 := twoQuotaSessions(t)
	if _, err := q1.FS.Put(ctx1, "/a", io.MultiReader(strings.NewReader(strings.Repeat("k", 40)), brokenData{}), -1); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatal(err)
	}
	b := startPutEnding(t, q2.FS, ctx2, "/b") // begins before the continuation's bytes
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := q1.FS.(storage.Appender).Append(ctx1, "/a", 40, pr)
		done <- err
	}()
	pw.Write([]byte(strings.Repeat("n", 50)))
	pw.Write([]byte("n")) // the 50 were taken through the quota and are being written
	// Wait (bounded) for the kept file on disk to hold them.
	deadline := time.Now().Add(10 * time.Second)
	for keptOnDisk(t, dir) < 90 {
		if time.Now().After(deadline) {
			t.Fatal("the continuation's bytes never reached the kept file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 40 kept + 51 new + 5 = 96 <= 100
	if err := b(3, nil); err != nil {
		t.Errorf("5 bytes beside a continuation to 91: %v", err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// keptOnDisk is the size of the largest kept upload's data on disk.
func keptOnDisk(t *testing.T, dir string) int64 {
	var most int64
	_ = filepath.WalkDir(filepath.Join(dir, ".bucketftp-tmp", "resume"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".data") {
			if fi, err := d.Info(); err == nil {
				most = max(most, fi.Size())
			}
		}
		return nil
	})
	return most
}

// twoQuotaSessions logs user q (home /q, quota 100) in twice on a new
// local directory that keeps interrupted uploads, each login with its own
// session's context.
func twoQuotaSessions(t *testing.T) (dir string, q1, q2 *Account, ctx1, ctx2 context.Context) {
	t.Helper()
	dir, s := localUsers(t)
	if err := s.SetUsers([]User{{Name: "q", PasswordHash: cheap(t, "pw"), Home: "/q", QuotaBytes: 100}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "q"), 0o755); err != nil {
		t.Fatal(err)
	}
	q1, q2 = login(t, s, "q"), login(t, s, "q")
	ctx1 = storage.WithUploader(t.Context(), storage.Uploader{User: "q", Session: "s1"})
	ctx2 = storage.WithUploader(t.Context(), storage.Uploader{User: "q", Session: "s2"})
	return dir, q1, q2, ctx1, ctx2
}
