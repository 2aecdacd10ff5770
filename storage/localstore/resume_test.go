package localstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
)

// as is ctx as a session of user uploads under it.
func as(ctx context.Context, user string) context.Context {
	return storage.WithUploader(ctx, storage.Uploader{User: user, Client: "127.0.0.1:1", Session: "s-" + user})
}

// cut reads data, then fails as a broken data connection does.
func cut(data string) io.Reader {
	return io.MultiReader(strings.NewReader(data), brokenConn{})
}

type brokenConn struct{}

func (brokenConn) Read([]byte) (int, error) {
	return 0, fmt.Errorf("data connection reset: %w", storage.ErrInterrupted)
}

// resumeFiles lists what the store keeps under .bucketftp-tmp/resume.
func resumeFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(filepath.Join(dir, ".bucketftp-tmp", "resume"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// recordOf returns the path and the fields of the record of the kept
// upload of name in dir.
func recordOf(t *testing.T, dir, name string) (string, map[string]any) {
	t.Helper()
	for _, p := range resumeFiles(t, dir) {
		if !strings.HasSuffix(p, ".json") {
			continue
		}
		b, err := os.ReadFile(p)
		var rec map[string]any
		if err != nil || json.Unmarshal(b, &rec) != nil {
			t.Fatalf("record %s: %q, %v", p, b, err)
		}
		if rec["name"] == name {
			return p, rec
		}
	}
	t.Fatalf("no record of %s", name)
	return "", nil
}

// ageRecord moves the record of the kept upload of name in dir past the
// window.
func ageRecord(t *testing.T, dir, name string) {
	t.Helper()
	p, rec := recordOf(t, dir, name)
	rec["updated"] = time.Now().Add(-25 * time.Hour)
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// continueFrom starts a continuation of name at off that reads what the
// returned writer sends; done has its result once the writer is closed.
func continueFrom(ctx context.Context, s *localstore.Store, name string, off int64) (*io.PipeWriter, <-chan error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, name, off, pr)
		done <- err
	}()
	return pw, done
}

// noneAside fails the test when the store keeps anything aside in dir.
func noneAside(t *testing.T, dir string) {
	t.Helper()
	if f := resumeFiles(t, dir); len(f) != 0 {
		t.Errorf("left aside: %v", f)
	}
}

func statOf(t *testing.T, s *localstore.Store, ctx context.Context, name string) (storage.Entry, error) {
	t.Helper()
	return s.Stat(ctx, name)
}

func listOf(t *testing.T, s *localstore.Store, ctx context.Context, dir string) map[string]storage.Entry {
	t.Helper()
	out := map[string]storage.Entry{}
	for e, err := range s.List(ctx, dir) {
		if err != nil {
			t.Fatalf("List %s: %v", dir, err)
		}
		out[e.Name] = e
	}
	return out
}

// TestResumeInterrupted: an upload whose client went away keeps its bytes
// for its owner, who alone sees them (Stat, List: Partial, the stored
// length) and continues them with Append at that length; the file appears
// whole only then, and nothing is left aside.
func TestResumeInterrupted(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	u, v := as(t.Context(), "u"), as(t.Context(), "v")
	if err := s.Mkdir(u, "/in"); err != nil {
		t.Fatal(err)
	}
	ctx, up := storage.WithUploaded(u)
	n, err := s.Put(ctx, "/in/a.bin", cut("first half, "), -1)
	if !errors.Is(err, storage.ErrInterrupted) || n != 12 {
		t.Fatalf("interrupted Put: %d, %v", n, err)
	}
	if up.Kept() != 12 {
		t.Errorf("Kept() = %d, want 12", up.Kept())
	}
	if _, err := os.Stat(filepath.Join(dir, "in", "a.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the interrupted upload is at its path: %v", err)
	}
	e, err := statOf(t, s, u, "/in/a.bin")
	if err != nil || !e.Partial || e.Size != 12 || e.Name != "a.bin" {
		t.Fatalf("the owner's Stat: %+v, %v; want Partial, 12 bytes", e, err)
	}
	for who, ctx := range map[string]context.Context{"another user": v, "no user": t.Context()} {
		if _, err := s.Stat(ctx, "/in/a.bin"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat by %s: %v, want ErrNotFound", who, err)
		}
		if l := listOf(t, s, ctx, "/in"); len(l) != 0 {
			t.Errorf("List by %s shows %v", who, l)
		}
	}
	if l := listOf(t, s, u, "/in"); len(l) != 1 || !l["a.bin"].Partial || l["a.bin"].Size != 12 {
		t.Errorf("the owner's List: %v", l)
	}
	if l := listOf(t, s, u, "/"); len(l) != 1 || l["in"].Partial {
		t.Errorf("the owner's List of /: %v", l)
	}
	if _, err := s.Open(u, "/in/a.bin", 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open of the interrupted upload: %v, want ErrNotFound", err)
	}
	if _, err := s.Append(v, "/in/a.bin", 12, strings.NewReader("x")); err == nil {
		t.Error("another user continued the upload")
	}

	n, err = s.Append(u, "/in/a.bin", 12, strings.NewReader("second half"))
	if err != nil || n != 11 {
		t.Fatalf("the continuation: %d, %v", n, err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "in", "a.bin"))
	if err != nil || string(got) != "first half, second half" {
		t.Fatalf("the file after the continuation: %q, %v", got, err)
	}
	if e, err := s.Stat(v, "/in/a.bin"); err != nil || e.Partial || e.Size != 23 {
		t.Errorf("Stat after the continuation: %+v, %v", e, err)
	}
	noneAside(t, dir)
}

// TestResumeEnds: a plain Put and a Remove by the owner discard the kept
// upload; a failure other than an interruption, an upload with no user, a
// negative window keep nothing; a continuation cut again is kept again.
func TestResumeEnds(t *testing.T) {
	t.Parallel()
	u := as(t.Context(), "u")
	t.Run("put", func(t *testing.T) {
		t.Parallel()
		s, dir := newStore(t)
		_, _ = s.Put(u, "/f", cut("old"), -1)
		if _, err := s.Put(u, "/f", strings.NewReader("new file"), -1); err != nil {
			t.Fatal(err)
		}
		if e, err := s.Stat(u, "/f"); err != nil || e.Partial || e.Size != 8 {
			t.Fatalf("Stat after a plain Put: %+v, %v", e, err)
		}
		noneAside(t, dir)
	})
	t.Run("remove", func(t *testing.T) {
		t.Parallel()
		s, dir := newStore(t)
		_, _ = s.Put(u, "/f", cut("old"), -1)
		if err := s.Remove(as(t.Context(), "v"), "/f"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Remove by another user: %v", err)
		}
		if err := s.Remove(u, "/f"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(u, "/f"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat after Remove: %v", err)
		}
		noneAside(t, dir)
	})
	t.Run("not kept", func(t *testing.T) {
		t.Parallel()
		s, dir := newStore(t)
		off, err := localstore.New(localstore.Config{Root: t.TempDir(), ResumeWindow: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer off.Close()
		_, _ = s.Put(u, "/failed", io.MultiReader(strings.NewReader("data"), failing{}), -1)
		_, _ = s.Put(t.Context(), "/anonymous", cut("data"), -1)
		_, _ = s.Put(u, "/empty", cut(""), -1)
		_, _ = off.Put(u, "/off", cut("data"), -1)
		for _, name := range []string{"/failed", "/anonymous", "/empty"} {
			if _, err := s.Stat(u, name); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat %s: %v, want nothing kept", name, err)
			}
		}
		if _, err := off.Stat(u, "/off"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("with a negative window: %v, want nothing kept", err)
		}
		noneAside(t, dir)
	})
	t.Run("cut again", func(t *testing.T) {
		t.Parallel()
		s, dir := newStore(t)
		_, _ = s.Put(u, "/f", cut("one "), -1)
		if _, err := s.Append(u, "/f", 4, cut("two ")); !errors.Is(err, storage.ErrInterrupted) {
			t.Fatalf("the cut continuation: %v", err)
		}
		if e, _ := s.Stat(u, "/f"); !e.Partial || e.Size != 8 {
			t.Fatalf("after the second cut: %+v", e)
		}
		// A restart offset before the end sends the rest again.
		if _, err := s.Append(u, "/f", 4, strings.NewReader("TWO three")); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "one TWO three" {
			t.Fatalf("file %q", got)
		}
		_, _ = s.Put(u, "/g", cut("abc"), -1)
		if _, err := s.Append(u, "/g", 4, strings.NewReader("x")); !errors.Is(err, storage.ErrBadOffset) {
			t.Errorf("Append beyond the stored bytes: %v, want ErrBadOffset", err)
		}
		if e, _ := s.Stat(u, "/g"); !e.Partial || e.Size != 3 {
			t.Errorf("a refused offset changed the kept upload: %+v", e)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		t.Parallel()
		s, _ := newStore(t)
		ctx, cancel := context.WithCancel(u)
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte("sent before the shutdown"))
			cancel()
			_, _ = pw.Write([]byte("more"))
		}()
		if _, err := s.Put(ctx, "/f", pr, -1); err == nil {
			t.Fatal("Put went on after its context ended")
		}
		pw.Close()
		if e, err := s.Stat(u, "/f"); err != nil || !e.Partial || e.Size < 24 {
			t.Fatalf("after the shutdown: %+v, %v", e, err)
		}
	})
}

// TestResumeWhileContinued: a second continuation while one runs is
// refused (ErrTransient) and changes nothing; a crash during the
// continuation keeps the bytes kept before it.
func TestResumeWhileContinued(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	u := as(t.Context(), "u")
	_, _ = s.Put(u, "/f", cut("kept "), -1)
	pw, done := continueFrom(u, s, "/f", 5)
	if _, err := pw.Write([]byte("first ")); err != nil { // the continuation has begun
		t.Fatal(err)
	}
	if _, err := s.Append(u, "/f", 5, strings.NewReader("second")); !errors.Is(err, storage.ErrTransient) {
		t.Errorf("a second continuation: %v, want ErrTransient", err)
	}
	// A crash now (a new Store on the directory, the first one never
	// closed) loses none of the kept bytes.
	after, err := localstore.New(localstore.Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	e, err := after.Stat(u, "/f")
	after.Close()
	if err != nil || !e.Partial || e.Size < 5 {
		t.Errorf("after a crash during the continuation: %+v, %v; want the 5 kept bytes or more", e, err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "kept first " {
		t.Fatalf("file %q", got)
	}
}

// TestResumeAcrossRestart: a kept upload outlives the process (New on the
// same directory), and the window deletes it, at New and when met.
func TestResumeAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	u := as(t.Context(), "u")
	s, err := localstore.New(localstore.Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Put(u, "/a", cut("aaaa"), -1)
	_, _ = s.Put(u, "/b", cut("bbbbbb"), -1)
	_, _ = s.Put(u, "/c", cut("cc"), -1)
	s.Close()
	if f := resumeFiles(t, dir); len(f) != 6 {
		t.Fatalf("kept files %v, want three uploads' data and records", f)
	}

	ageRecord(t, dir, "/c") // expired while no server ran: New deletes it
	s, err = localstore.New(localstore.Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f := resumeFiles(t, dir); len(f) != 4 {
		t.Errorf("after New: %v, want /a's and /b's data and records", f)
	}
	if e, err := s.Stat(u, "/a"); err != nil || !e.Partial || e.Size != 4 {
		t.Fatalf("after a restart: %+v, %v", e, err)
	}
	ageRecord(t, dir, "/b") // expired while running: the next look deletes it
	if _, err := s.Stat(u, "/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat of an expired upload: %v", err)
	}
	if l := listOf(t, s, u, "/"); len(l) != 1 || l["a"].Size != 4 {
		t.Errorf("List: %v", l)
	}
	if f := resumeFiles(t, dir); len(f) != 2 {
		t.Errorf("after the expiry: %v, want /a's data and record", f)
	}
}

// TestAppendChecksumsWhole: the checksums of an upload that keeps bytes
// (APPE onto a stored file, the continuation of an interrupted upload)
// are the whole file's: the kept bytes are read back through the
// upload's hashes.
func TestAppendChecksumsWhole(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	u := as(t.Context(), "u")
	sumsOf := func(data string) storage.Checksums {
		h := storage.NewHashing(storage.Algorithms(), nil)
		if _, err := io.Copy(io.Discard, h.Reader(strings.NewReader(data))); err != nil {
			t.Fatal(err)
		}
		return h.Sums()
	}
	appendHashed := func(name string, off int64, data string) storage.Checksums {
		t.Helper()
		h := storage.NewHashing(storage.Algorithms(), nil)
		if _, err := s.Append(storage.WithHashing(u, h), name, off, strings.NewReader(data)); err != nil {
			t.Fatalf("Append %s at %d: %v", name, off, err)
		}
		return h.Sums()
	}
	if _, err := s.Put(u, "/stored", strings.NewReader("stored, "), -1); err != nil {
		t.Fatal(err)
	}
	if got, want := appendHashed("/stored", 8, "appended"), sumsOf("stored, appended"); !maps.Equal(got, want) {
		t.Errorf("APPE onto a stored file: %v, want the whole file's %v", got, want)
	}
	if got, want := appendHashed("/stored", 3, "RED"), sumsOf("stoRED"); !maps.Equal(got, want) {
		t.Errorf("REST 3 + STOR: %v, want %v", got, want)
	}
	_, _ = s.Put(u, "/kept", cut("kept bytes, "), -1)
	if got, want := appendHashed("/kept", 12, "the rest"), sumsOf("kept bytes, the rest"); !maps.Equal(got, want) {
		t.Errorf("the continuation: %v, want the whole file's %v", got, want)
	}
	// An offset beyond the end reads no client byte in its place.
	h := storage.NewHashing(storage.Algorithms(), nil)
	if _, err := s.Append(storage.WithHashing(u, h), "/kept", 100, strings.NewReader("x")); !errors.Is(err, storage.ErrNotSupported) {
		t.Errorf("APPE beyond the end: %v, want ErrNotSupported", err)
	}
}

// TestResumeContinuationOutlastsWindow: a continuation running when its
// window passes is not deleted under it (by its owner's look, or the
// cleanup), and completes.
func TestResumeContinuationOutlastsWindow(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	u := as(t.Context(), "u")
	_, _ = s.Put(u, "/f", cut("abc"), -1)
	pw, done := continueFrom(u, s, "/f", 3)
	if _, err := pw.Write([]byte("def")); err != nil {
		t.Fatal(err)
	}
	ageRecord(t, dir, "/f") // the window passes while it runs
	if e, err := s.Stat(u, "/f"); err != nil || !e.Partial {
		t.Errorf("the owner's Stat during the continuation: %+v, %v; want it still kept", e, err)
	}
	if _, err := pw.Write([]byte("ghi")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("the continuation: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "abcdefghi" {
		t.Errorf("file %q, want abcdefghi", got)
	}
}

// TestResumePutCutDuringContinuation: a plain STOR of the same name cut
// while a continuation runs keeps nothing, and the continuation's file is
// whole.
func TestResumePutCutDuringContinuation(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	u := as(t.Context(), "u")
	_, _ = s.Put(u, "/f", cut("AAAA"), -1)
	pw, done := continueFrom(u, s, "/f", 4)
	if _, err := pw.Write([]byte("BBBB")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(u, "/f", cut("XX"), -1); !errors.Is(err, storage.ErrInterrupted) {
		t.Fatalf("the cut STOR: %v", err)
	}
	if _, err := pw.Write([]byte("CCCC")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("the continuation: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "AAAABBBBCCCC" {
		t.Errorf("file %q, want AAAABBBBCCCC", got)
	}
	noneAside(t, dir)
}

// TestResumeBesideADirectory: a directory made where its owner has a kept
// upload shows to the owner as the directory.
func TestResumeBesideADirectory(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	u := as(t.Context(), "u")
	_, _ = s.Put(u, "/d", cut("AAAA"), -1)
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Stat(u, "/d"); err != nil || !e.IsDir || e.Partial {
		t.Errorf("the owner's Stat: %+v, %v; want the directory", e, err)
	}
	if l := listOf(t, s, u, "/"); len(l) != 1 || !l["d"].IsDir {
		t.Errorf("the owner's List: %v; want the directory", l)
	}
}

// TestResumeRenamedOnto: a file the owner renames onto the path of their
// kept upload replaces it, as a STOR would: the owner then sees, lists and
// continues the renamed file, not the kept bytes. Another user's rename
// leaves the owner's kept upload alone. It fails if the kept upload
// outlived the owner's rename (its size hid the file's).
func TestResumeRenamedOnto(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	u := as(t.Context(), "u")
	_, _ = s.Put(u, "/f", cut("kept bytes"), -1)
	if _, err := s.Put(u, "/g", strings.NewReader("renamed"), -1); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(as(t.Context(), "v"), "/g", "/f"); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Stat(u, "/f"); err != nil || !e.Partial || e.Size != 10 {
		t.Fatalf("after another user's rename onto it: %+v, %v; want the owner's 10 kept bytes", e, err)
	}
	if _, err := s.Put(u, "/g", strings.NewReader("renamed again"), -1); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(u, "/g", "/f"); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Stat(u, "/f"); err != nil || e.Partial || e.Size != 13 {
		t.Errorf("the owner's Stat after their rename onto it: %+v, %v; want the renamed file", e, err)
	}
	if l := listOf(t, s, u, "/"); len(l) != 1 || l["f"].Partial || l["f"].Size != 13 {
		t.Errorf("the owner's List: %v; want the renamed file alone", l)
	}
	noneAside(t, dir)
	if _, err := s.Append(u, "/f", 13, strings.NewReader("!")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "renamed again!" {
		t.Fatalf("file %q", got)
	}
}

// TestResumeContinuationWithoutBytes: a continuation that fails for
// another reason than an interruption before the client sent a byte (its
// data connection never opened, the quota refused the first read) leaves
// the kept upload as it was, also when it was to restart at an earlier
// offset; one that fails after writing discards it, as any failed upload
// keeps nothing. It fails if the kept bytes were deleted, or cut to the
// offset, before the client sent any.
func TestResumeContinuationWithoutBytes(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	u := as(t.Context(), "u")
	_, _ = s.Put(u, "/f", cut("kept bytes"), -1)
	for _, off := range []int64{10, 4} {
		if _, err := s.Append(u, "/f", off, failing{}); err == nil || errors.Is(err, storage.ErrInterrupted) {
			t.Fatalf("continuation at %d whose data never came: %v, want a plain failure", off, err)
		}
		if e, err := s.Stat(u, "/f"); err != nil || !e.Partial || e.Size != 10 {
			t.Fatalf("after the continuation at %d that got no byte: %+v, %v; want the 10 bytes kept", off, e, err)
		}
	}
	if _, err := s.Append(u, "/f", 10, strings.NewReader(", then the rest")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "kept bytes, then the rest" {
		t.Fatalf("file %q", got)
	}
	noneAside(t, dir)

	_, _ = s.Put(u, "/g", cut("kept"), -1)
	if _, err := s.Append(u, "/g", 4, io.MultiReader(strings.NewReader("more"), failing{})); err == nil {
		t.Fatal("a continuation that failed after writing succeeded")
	}
	if _, err := s.Stat(u, "/g"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after a continuation failed midway: %v, want nothing kept", err)
	}
	noneAside(t, dir)
}

// TestResumeUnreadableRecord: a record a crash left unreadable is deleted
// with its data once the window has passed since it was written (here by
// the owner's look; the cleanup reads records the same way); before that
// it is left alone. It fails if such a record and its data were kept for
// ever.
func TestResumeUnreadableRecord(t *testing.T) {
	t.Parallel()
	s, dir := newStore(t)
	u := as(t.Context(), "u")
	_, _ = s.Put(u, "/f", cut("kept"), -1)
	rec, _ := recordOf(t, dir, "/f")
	if err := os.WriteFile(rec, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(u, "/f"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat with an unreadable record: %v", err)
	}
	if len(resumeFiles(t, dir)) != 2 {
		t.Fatalf("a fresh unreadable record was deleted: %v", resumeFiles(t, dir))
	}
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(rec, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(u, "/f"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat with an old unreadable record: %v", err)
	}
	noneAside(t, dir)
}
