package auth

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

func remaining(t *testing.T, a *Account) int64 {
	t.Helper()
	left, limited, err := a.QuotaRemaining(t.Context())
	if err != nil || !limited {
		t.Fatalf("QuotaRemaining = %d, %v, %v", left, limited, err)
	}
	return left
}

func put(t *testing.T, fs storage.Backend, name string, n int) error {
	t.Helper()
	_, err := fs.Put(t.Context(), name, strings.NewReader(strings.Repeat("x", n)), -1)
	return err
}

func wantSize(t *testing.T, b storage.Backend, name string, size int64) {
	t.Helper()
	e, err := b.Stat(t.Context(), name)
	if size < 0 {
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: %+v, %v; want nothing there", name, e, err)
		}
		return
	}
	if err != nil || e.Size != size {
		t.Fatalf("%s: %+v, %v; want %d bytes", name, e, err, size)
	}
}

func TestQuotaLimit(t *testing.T) {
	t.Parallel()
	s, b := newStore(t, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
	a := login(t, s, "q")
	if remaining(t, a) != 100 {
		t.Fatal("a new home has usage")
	}
	err := put(t, a.FS, "/big", 101)
	var se *storage.Error
	if !errors.Is(err, storage.ErrQuota) || !errors.As(err, &se) || se.Path != "/big" {
		t.Fatalf("over quota: %v", err)
	}
	wantSize(t, b, "/q/big", -1)
	if remaining(t, a) != 100 {
		t.Fatal("a refused upload counts")
	}
	if err := put(t, a.FS, "/exact", 100); err != nil {
		t.Fatalf("upload of exactly the quota: %v", err)
	}
	if remaining(t, a) != 0 {
		t.Fatal("usage not updated")
	}
	if err := put(t, a.FS, "/one", 1); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("upload into a full quota: %v", err)
	}
	if err := put(t, a.FS, "/empty", 0); err != nil {
		t.Fatalf("empty upload into a full quota: %v", err)
	}

	nolimit, _ := newStore(t, User{Name: "n", PasswordHash: cheap(t, "pw")})
	if left, limited, err := login(t, nolimit, "n").QuotaRemaining(t.Context()); limited || left != 0 || err != nil {
		t.Fatalf("no quota: %d, %v, %v", left, limited, err)
	}
}

func TestQuotaMeasuresExistingFiles(t *testing.T) {
	t.Parallel()
	s, b := newStore(t, User{Name: "q", PasswordHash: cheap(t, "pw"), Home: "/h", QuotaBytes: 100})
	ctx := t.Context()
	for _, d := range []string{"/h", "/h/a", "/h/a/b", "/other"} {
		if err := b.Mkdir(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for name, n := range map[string]int{"/h/f": 10, "/h/a/g": 20, "/h/a/b/h": 30, "/other/big": 1000} {
		if err := put(t, b, name, n); err != nil {
			t.Fatal(err)
		}
	}
	a := login(t, s, "q")
	if left := remaining(t, a); left != 40 {
		t.Fatalf("%d left; want 100-60", left)
	}
	if err := put(t, a.FS, "/a/b/h", 71); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("replacing 30 bytes with 71: %v", err)
	}
	wantSize(t, b, "/h/a/b/h", 30)
}

func TestQuotaAccounting(t *testing.T) {
	t.Parallel()
	s, b := newStore(t, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
	ctx := t.Context()
	a := login(t, s, "q")
	app := a.FS.(storage.Appender)
	steps := []struct {
		name string
		do   func() error
		left int64
	}{
		{"put 60", func() error { return put(t, a.FS, "/a", 60) }, 40},
		{"overwrite 60 with 90", func() error { return put(t, a.FS, "/a", 90) }, 10},
		{"overwrite 90 with 30", func() error { return put(t, a.FS, "/a", 30) }, 70},
		{"append 20 at the end", func() error {
			_, err := app.Append(ctx, "/a", 30, strings.NewReader(strings.Repeat("y", 20)))
			return err
		}, 50},
		{"append 5 at 10 (truncates to 15)", func() error {
			_, err := app.Append(ctx, "/a", 10, strings.NewReader("zzzzz"))
			return err
		}, 85},
		{"append to a new file", func() error {
			_, err := app.Append(ctx, "/c", 0, strings.NewReader(strings.Repeat("c", 25)))
			return err
		}, 60},
		{"mkdir", func() error { return a.FS.Mkdir(ctx, "/d") }, 60},
		{"rename a file into a dir", func() error { return a.FS.Rename(ctx, "/c", "/d/c") }, 60},
		{"rename a dir", func() error { return a.FS.Rename(ctx, "/d", "/e") }, 60},
		{"rename over a file frees it", func() error { return a.FS.Rename(ctx, "/e/c", "/a") }, 75},
		{"rmdir", func() error { return a.FS.Rmdir(ctx, "/e") }, 75},
		{"remove", func() error { return a.FS.Remove(ctx, "/a") }, 100},
		{"remove a missing file", func() error {
			if err := a.FS.Remove(ctx, "/a"); !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			return nil
		}, 100},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if left := remaining(t, a); left != st.left {
			t.Fatalf("after %s: %d left, want %d", st.name, left, st.left)
		}
	}

	// Refused appends keep the old file and count nothing.
	if err := put(t, a.FS, "/a", 50); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Append(ctx, "/a", 50, strings.NewReader(strings.Repeat("y", 51))); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("append over quota: %v", err)
	}
	wantSize(t, b, "/q/a", 50)
	if remaining(t, a) != 50 {
		t.Fatal("refused append counted")
	}
	// Replacing a file frees its old size, so this fits...
	if err := put(t, a.FS, "/a", 100); err != nil {
		t.Fatalf("overwrite within quota: %v", err)
	}
	// ...and this does not, and keeps the old file.
	if err := put(t, a.FS, "/a", 101); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("overwrite over quota: %v", err)
	}
	wantSize(t, b, "/q/a", 100)
}

func TestQuotaSharedBySessions(t *testing.T) {
	t.Parallel()
	s, b := newStore(t,
		User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100},
		User{Name: "r", PasswordHash: cheap(t, "pw"), QuotaBytes: 100},
	)
	a1, a2, other := login(t, s, "q"), login(t, s, "q"), login(t, s, "r")
	if err := put(t, a1.FS, "/a", 60); err != nil {
		t.Fatal(err)
	}
	if left := remaining(t, a2); left != 40 {
		t.Fatalf("second session sees %d left", left)
	}
	if err := put(t, a2.FS, "/b", 50); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("second session over quota: %v", err)
	}
	wantSize(t, b, "/q/b", -1)
	if err := a2.FS.Remove(t.Context(), "/a"); err != nil {
		t.Fatal(err)
	}
	if left := remaining(t, a1); left != 100 {
		t.Fatalf("first session sees %d left after the second deleted", left)
	}
	if left := remaining(t, other); left != 100 {
		t.Fatalf("another user's usage moved: %d left", left)
	}
}

func TestQuotaSurvivesReload(t *testing.T) {
	t.Parallel()
	h := cheap(t, "pw")
	s, _ := newStore(t, User{Name: "q", PasswordHash: h, QuotaBytes: 100})
	old := login(t, s, "q")
	if err := put(t, old.FS, "/a", 60); err != nil {
		t.Fatal(err)
	}
	// Same home, new limit: usage carries over; the new limit applies to
	// new logins.
	if err := s.SetUsers([]User{{Name: "q", PasswordHash: h, QuotaBytes: 200}}); err != nil {
		t.Fatal(err)
	}
	a := login(t, s, "q")
	if left := remaining(t, a); left != 140 {
		t.Fatalf("after reload %d left, want 140", left)
	}
	if err := put(t, a.FS, "/b", 100); err != nil {
		t.Fatal(err)
	}
	if left := remaining(t, old); left != 0 {
		t.Fatalf("session from before the reload sees %d left", left)
	}
	// A new home starts afresh.
	if err := s.SetUsers([]User{{Name: "q", PasswordHash: h, Home: "/elsewhere", QuotaBytes: 100}}); err != nil {
		t.Fatal(err)
	}
	if left := remaining(t, login(t, s, "q")); left != 100 {
		t.Fatalf("new home: %d left", left)
	}
}

// lossy is a backend that reports upload failures in its own words, as a
// remote store might, dropping the reader's error.
type lossy struct{ storage.Backend }

func (l lossy) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	n, err := l.Backend.Put(ctx, name, r, size)
	if err != nil {
		return n, storage.E("put", name, storage.ErrTransient, errors.New("multipart upload aborted"))
	}
	return n, nil
}

func TestQuotaErrorSurvivesBackendWrapping(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreConfig{Backend: lossy{memstore.New()}})
	if err := s.SetUsers([]User{{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 10}}); err != nil {
		t.Fatal(err)
	}
	a := login(t, s, "q")
	err := put(t, a.FS, "/f", 11)
	if !errors.Is(err, storage.ErrQuota) || errors.Is(err, storage.ErrTransient) {
		t.Fatalf("Put = %v; want the quota error", err)
	}
	if _, err := a.FS.Stat(t.Context(), "/f"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("over-quota upload left %v", err)
	}
}

// Two uploads that each fit but not together: exactly one fails.
func TestQuotaParallelUploads(t *testing.T) {
	t.Parallel()
	s, b := newStore(t, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
	a1, a2 := login(t, s, "q"), login(t, s, "q")
	ctx := t.Context()
	remaining(t, a1) // measure first, so both uploads start at once
	errs := parallelPuts(ctx, []storage.Backend{a1.FS, a2.FS}, []string{"/one", "/two"}, 60)
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("upload errors %v and %v; want exactly one to fail", errs[0], errs[1])
	}
	for i, name := range []string{"/q/one", "/q/two"} {
		if errs[i] != nil {
			if !errors.Is(errs[i], storage.ErrQuota) {
				t.Fatalf("%s: %v", name, errs[i])
			}
			wantSize(t, b, name, -1)
		} else {
			wantSize(t, b, name, 60)
		}
	}
	if left := remaining(t, a1); left != 40 {
		t.Fatalf("%d left, want 40", left)
	}
}

// parallelPuts uploads n bytes to names[i] through fss[i], all uploads
// under way (n bytes read by each) before any ends, and returns their
// errors.
func parallelPuts(ctx context.Context, fss []storage.Backend, names []string, n int) []error {
	var wg sync.WaitGroup
	errs := make([]error, len(fss))
	pws := make([]*io.PipeWriter, len(fss))
	for i, fs := range fss {
		pr, pw := io.Pipe()
		pws[i] = pw
		wg.Go(func() {
			_, errs[i] = fs.Put(ctx, names[i], pr, -1)
			pr.CloseWithError(errs[i]) // unblock the writer if the upload stopped reading
		})
	}
	for _, pw := range pws {
		_, _ = pw.Write([]byte(strings.Repeat("x", n))) // fails when that upload stopped
	}
	for _, pw := range pws {
		pw.Close()
	}
	wg.Wait()
	return errs
}

// startPut begins an upload of name through fs that has read two bytes
// when startPut returns; finish sends n more and waits for its result.
func startPut(t *testing.T, fs storage.Backend, ctx context.Context, name string) (finish func(n int) error) {
	t.Helper()
	end := startPutEnding(t, fs, ctx, name)
	return func(n int) error { return end(n, nil) }
}

// startPutEnding is startPut whose data ends with err after the n bytes
// (nil: the end of the file).
func startPutEnding(t *testing.T, fs storage.Backend, ctx context.Context, name string) (finish func(n int, err error) error) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := fs.Put(ctx, name, pr, -1)
		pr.CloseWithError(err)
		done <- err
	}()
	// The second byte is read once the first has been taken through the
	// quota: the upload has reserved its space by then.
	for range 2 {
		if _, err := pw.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	return func(n int, end error) error {
		_, _ = pw.Write([]byte(strings.Repeat("x", n)))
		pw.CloseWithError(end)
		return <-done
	}
}

// TestQuotaUploadsOntoOneFile: two uploads running onto one file free its
// bytes once, whichever completes first, and a delete during an upload
// onto the file is not counted again when the upload completes. (The old
// file's size used to be freed by each, and by the delete as well: a user
// could store without limit by racing uploads onto one name.)
func TestQuotaUploadsOntoOneFile(t *testing.T) {
	t.Parallel()
	for _, first := range []string{"small", "big"} {
		t.Run(first+" first", func(t *testing.T) {
			t.Parallel()
			s, b := newStore(t, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
			a1, a2 := login(t, s, "q"), login(t, s, "q")
			ctx := t.Context()
			if err := put(t, a1.FS, "/f", 90); err != nil {
				t.Fatal(err)
			}
			small, big := startPut(t, a1.FS, ctx, "/f"), startPut(t, a2.FS, ctx, "/f")
			var want int64 = 90 // the big one's, completing last
			if first == "small" {
				if err := small(0); err != nil {
					t.Fatal(err)
				}
				if err := big(88); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := big(88); err != nil {
					t.Fatal(err)
				}
				if err := small(0); err != nil {
					t.Fatal(err)
				}
				want = 2
			}
			wantSize(t, b, "/q/f", want)
			if left := remaining(t, a1); left != 100-want {
				t.Fatalf("%d left with a file of %d bytes, want %d", left, want, 100-want)
			}
		})
	}
	t.Run("delete during an upload", func(t *testing.T) {
		t.Parallel()
		s, b := newStore(t, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
		a1, a2 := login(t, s, "q"), login(t, s, "q")
		if err := put(t, a1.FS, "/g", 90); err != nil {
			t.Fatal(err)
		}
		up := startPut(t, a1.FS, t.Context(), "/g")
		if err := a2.FS.Remove(t.Context(), "/g"); err != nil {
			t.Fatal(err)
		}
		if err := up(48); err != nil {
			t.Fatal(err)
		}
		wantSize(t, b, "/q/g", 50)
		if left := remaining(t, a1); left != 50 {
			t.Fatalf("%d left with a file of 50 bytes, want 50", left)
		}
	})
}
