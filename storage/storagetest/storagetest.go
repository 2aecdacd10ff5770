// Package storagetest is the contract every storage.Backend keeps. Each
// adapter's tests call Run; integration tests run it against MinIO.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// Run checks b's behaviour against the contract in storage.go. newBackend
// must return an empty backend each time it is called.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	for _, tc := range contract {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newBackend(t))
		})
	}
}

var contract = []struct {
	name string
	fn   func(t *testing.T, b storage.Backend)
}{
	{"RootIsADirectory", testRoot},
	{"PutStatOpen", testPutStatOpen},
	{"OpenAtOffsets", testOffsets},
	{"PutReplaces", testPutReplaces},
	{"PutOntoDirectory", testPutOntoDir},
	{"PutIntoMissingDirectory", testPutMissingParent},
	{"Directories", testDirs},
	{"ListSortedAndTyped", testList},
	{"Remove", testRemove},
	{"Rmdir", testRmdir},
	{"RenameFile", testRenameFile},
	{"RenameDirectory", testRenameDir},
	{"CancelledPutLeavesNothing", testCancelledPut},
	{"FailingReaderLeavesNothing", testFailingReader},
	{"Append", testAppend},
	{"ModTime", testModTime},
	{"ListPrefix", testListPrefix},
}

func put(t *testing.T, b storage.Backend, name, data string) {
	t.Helper()
	n, err := b.Put(t.Context(), name, strings.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Put %s: %v", name, err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Put %s: wrote %d of %d bytes", name, n, len(data))
	}
}

func read(t *testing.T, b storage.Backend, name string, off int64) string {
	t.Helper()
	rc, err := b.Open(t.Context(), name, off)
	if err != nil {
		t.Fatalf("Open %s at %d: %v", name, off, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return string(data)
}

func mkdir(t *testing.T, b storage.Backend, name string) {
	t.Helper()
	if err := b.Mkdir(t.Context(), name); err != nil {
		t.Fatalf("Mkdir %s: %v", name, err)
	}
}

// wantKind fails unless err is a *storage.Error of the given kind.
func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	var se *storage.Error
	if !errors.Is(err, kind) || !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want a *storage.Error of kind %v", what, err, kind)
	}
}

func names(t *testing.T, b storage.Backend, dir string) string {
	t.Helper()
	var out []string
	for e, err := range b.List(t.Context(), dir) {
		if err != nil {
			t.Fatalf("List %s: %v", dir, err)
		}
		n := e.Name
		if e.IsDir {
			n += "/"
		}
		out = append(out, n)
	}
	return strings.Join(out, ",")
}

func absent(t *testing.T, b storage.Backend, name string) {
	t.Helper()
	_, err := b.Stat(t.Context(), name)
	wantKind(t, "Stat "+name, err, storage.ErrNotFound)
}

func testRoot(t *testing.T, b storage.Backend) {
	e, err := b.Stat(t.Context(), "/")
	if err != nil || !e.IsDir {
		t.Fatalf("Stat / = %+v, %v", e, err)
	}
	if got := names(t, b, "/"); got != "" {
		t.Fatalf("new backend lists %q", got)
	}
}

func testPutStatOpen(t *testing.T, b storage.Backend) {
	random := make([]byte, 3<<20+17)
	_, _ = rand.Read(random)
	for _, f := range []struct{ name, data string }{
		{"/empty", ""},
		{"/small.txt", "hello"},
		{"/résumé ü.txt", "utf-8 name"},
		{"/with  spaces .txt", "spaces"},
		{"/random.bin", string(random)},
	} {
		put(t, b, f.name, f.data)
		e, err := b.Stat(t.Context(), f.name)
		if err != nil || e.IsDir || e.Size != int64(len(f.data)) || e.Name != f.name[1:] {
			t.Fatalf("Stat %s = %+v, %v", f.name, e, err)
		}
		if got := read(t, b, f.name, 0); got != f.data {
			t.Fatalf("Open %s returned %d bytes, want %d", f.name, len(got), len(f.data))
		}
	}
	_, err := b.Stat(t.Context(), "/missing")
	wantKind(t, "Stat missing", err, storage.ErrNotFound)
	_, err = b.Open(t.Context(), "/missing", 0)
	wantKind(t, "Open missing", err, storage.ErrNotFound)
}

func testOffsets(t *testing.T, b storage.Backend) {
	put(t, b, "/f", "0123456789")
	for off, want := range map[int64]string{0: "0123456789", 4: "456789", 10: "", 25: ""} {
		if got := read(t, b, "/f", off); got != want {
			t.Fatalf("Open at %d = %q, want %q", off, got, want)
		}
	}
}

func testPutReplaces(t *testing.T, b storage.Backend) {
	put(t, b, "/f", "first version, longer")
	put(t, b, "/f", "second")
	if got := read(t, b, "/f", 0); got != "second" {
		t.Fatalf("got %q", got)
	}
}

func testPutOntoDir(t *testing.T, b storage.Backend) {
	mkdir(t, b, "/d")
	_, err := b.Put(t.Context(), "/d", strings.NewReader("x"), 1)
	wantKind(t, "Put onto a directory", err, storage.ErrExist)
}

func testPutMissingParent(t *testing.T, b storage.Backend) {
	_, err := b.Put(t.Context(), "/no/such/dir/f", strings.NewReader("x"), 1)
	if err != nil {
		wantKind(t, "Put into a missing directory", err, storage.ErrNotFound)
		return
	}
	// Implicit directories (object stores): the parents now exist.
	for _, d := range []string{"/no", "/no/such", "/no/such/dir"} {
		if e, err := b.Stat(t.Context(), d); err != nil || !e.IsDir {
			t.Fatalf("implicit directory %s: %+v, %v", d, e, err)
		}
	}
	if got := names(t, b, "/no/such"); got != "dir/" {
		t.Fatalf("List /no/such = %q", got)
	}
}

func testDirs(t *testing.T, b storage.Backend) {
	mkdir(t, b, "/d")
	mkdir(t, b, "/d/empty")
	if e, err := b.Stat(t.Context(), "/d/empty"); err != nil || !e.IsDir || e.Name != "empty" {
		t.Fatalf("Stat empty dir = %+v, %v", e, err)
	}
	if got := names(t, b, "/d/empty"); got != "" {
		t.Fatalf("empty dir lists %q", got)
	}
	if got := names(t, b, "/d"); got != "empty/" {
		t.Fatalf("List /d = %q", got)
	}
	wantKind(t, "Mkdir existing dir", b.Mkdir(t.Context(), "/d"), storage.ErrExist)
	put(t, b, "/file", "x")
	wantKind(t, "Mkdir onto a file", b.Mkdir(t.Context(), "/file"), storage.ErrExist)
}

func testList(t *testing.T, b storage.Backend) {
	mkdir(t, b, "/dir")
	for _, n := range []string{"/b", "/a", "/C", "/dir/inner", "/ä"} {
		put(t, b, n, "data-"+n)
	}
	if got := names(t, b, "/"); got != "C,a,b,dir/,ä" {
		t.Fatalf("List / = %q, want byte order with dirs marked", got)
	}
	for e, err := range b.List(t.Context(), "/") {
		if err != nil {
			t.Fatal(err)
		}
		if !e.IsDir && e.Size != int64(len("data-/"+e.Name)) {
			t.Fatalf("%s: size %d", e.Name, e.Size)
		}
	}
	var listErr error
	for _, err := range b.List(t.Context(), "/missing") {
		listErr = err
	}
	wantKind(t, "List missing", listErr, storage.ErrNotFound)
	listErr = nil
	for _, err := range b.List(t.Context(), "/a") {
		listErr = err
	}
	wantKind(t, "List a file", listErr, storage.ErrNotFound)
}

func testRemove(t *testing.T, b storage.Backend) {
	put(t, b, "/f", "x")
	if err := b.Remove(t.Context(), "/f"); err != nil {
		t.Fatal(err)
	}
	absent(t, b, "/f")
	wantKind(t, "Remove missing", b.Remove(t.Context(), "/f"), storage.ErrNotFound)
	mkdir(t, b, "/d")
	wantKind(t, "Remove a directory", b.Remove(t.Context(), "/d"), storage.ErrNotFound)
	if e, err := b.Stat(t.Context(), "/d"); err != nil || !e.IsDir {
		t.Fatalf("Remove of a directory removed it: %v", err)
	}
}

func testRmdir(t *testing.T, b storage.Backend) {
	mkdir(t, b, "/d")
	put(t, b, "/d/f", "x")
	wantKind(t, "Rmdir non-empty", b.Rmdir(t.Context(), "/d"), storage.ErrNotEmpty)
	if err := b.Remove(t.Context(), "/d/f"); err != nil {
		t.Fatal(err)
	}
	if err := b.Rmdir(t.Context(), "/d"); err != nil {
		t.Fatal(err)
	}
	absent(t, b, "/d")
	wantKind(t, "Rmdir missing", b.Rmdir(t.Context(), "/d"), storage.ErrNotFound)
	put(t, b, "/f", "x")
	wantKind(t, "Rmdir a file", b.Rmdir(t.Context(), "/f"), storage.ErrNotFound)
}

func testRenameFile(t *testing.T, b storage.Backend) {
	put(t, b, "/a", "A")
	mkdir(t, b, "/d")
	if err := b.Rename(t.Context(), "/a", "/b"); err != nil {
		t.Fatal(err)
	}
	absent(t, b, "/a")
	if err := b.Rename(t.Context(), "/b", "/d/c"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b, "/d/c", 0); got != "A" {
		t.Fatalf("moved file holds %q", got)
	}
	put(t, b, "/e", "E")
	if err := b.Rename(t.Context(), "/e", "/d/c"); err != nil {
		t.Fatalf("Rename onto an existing file: %v", err)
	}
	if got := read(t, b, "/d/c", 0); got != "E" {
		t.Fatalf("replaced file holds %q", got)
	}
	put(t, b, "/f", "F")
	wantKind(t, "Rename onto a directory", b.Rename(t.Context(), "/f", "/d"), storage.ErrExist)
	wantKind(t, "Rename missing", b.Rename(t.Context(), "/missing", "/x"), storage.ErrNotFound)
}

func testRenameDir(t *testing.T, b storage.Backend) {
	mkdir(t, b, "/src")
	mkdir(t, b, "/src/sub")
	mkdir(t, b, "/src/empty")
	put(t, b, "/src/top", "top")
	put(t, b, "/src/sub/deep", "deep")
	if err := b.Rename(t.Context(), "/src", "/dst"); err != nil {
		t.Fatal(err)
	}
	absent(t, b, "/src")
	if got := names(t, b, "/dst"); got != "empty/,sub/,top" {
		t.Fatalf("List /dst = %q", got)
	}
	if got := read(t, b, "/dst/sub/deep", 0); got != "deep" {
		t.Fatalf("deep file holds %q", got)
	}
	if got := names(t, b, "/"); got != "dst/" {
		t.Fatalf("List / = %q", got)
	}
}

// stallingReader gives some bytes, then blocks until its context ends.
type stallingReader struct {
	ctx  context.Context
	sent bool
	at   chan struct{}
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		close(r.at)
		return copy(p, bytes.Repeat([]byte("x"), min(len(p), 64<<10))), nil
	}
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

func testCancelledPut(t *testing.T, b storage.Backend) {
	put(t, b, "/existing", "old content")
	for _, name := range []string{"/new", "/existing"} {
		ctx, cancel := context.WithCancel(t.Context())
		r := &stallingReader{ctx: ctx, at: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := b.Put(ctx, name, r, -1)
			done <- err
		}()
		select {
		case <-r.at:
		case <-time.After(10 * time.Second):
			t.Fatal("Put never read")
		}
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("cancelled Put of %s succeeded", name)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Put of %s did not return after cancel", name)
		}
	}
	absent(t, b, "/new")
	if got := read(t, b, "/existing", 0); got != "old content" {
		t.Fatalf("cancelled Put changed the file to %q", got)
	}
	if got := names(t, b, "/"); got != "existing" {
		t.Fatalf("List / after cancelled Put = %q", got)
	}
}

var errClient = errors.New("client went away")

type failAfter struct {
	r io.Reader
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errClient
	}
	return n, err
}

func testFailingReader(t *testing.T, b storage.Backend) {
	put(t, b, "/existing", "old content")
	big := strings.Repeat("y", 12<<20) // more than one part on object stores
	for _, name := range []string{"/new", "/existing"} {
		for _, data := range []string{"short", big} {
			_, err := b.Put(t.Context(), name, &failAfter{r: strings.NewReader(data)}, -1)
			if !errors.Is(err, errClient) {
				t.Fatalf("Put %s with a failing reader: %v, want the reader's error", name, err)
			}
		}
	}
	absent(t, b, "/new")
	if got := read(t, b, "/existing", 0); got != "old content" {
		t.Fatalf("failed Put changed the file to %q", got)
	}
}

func testAppend(t *testing.T, b storage.Backend) {
	a, ok := storage.As[storage.Appender](b)
	if !ok {
		t.Skip("backend does not implement storage.Appender")
	}
	ctx := t.Context()
	if _, err := a.Append(ctx, "/f", 0, strings.NewReader("hello")); err != nil {
		t.Fatalf("Append creating: %v", err)
	}
	if _, err := a.Append(ctx, "/f", 5, strings.NewReader(" world")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b, "/f", 0); got != "hello world" {
		t.Fatalf("after append %q", got)
	}
	if _, err := a.Append(ctx, "/f", 5, strings.NewReader("!")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b, "/f", 0); got != "hello!" {
		t.Fatalf("after a write at offset 5: %q", got)
	}
	if _, err := a.Append(ctx, "/f", 3, &failAfter{r: strings.NewReader("XYZ")}); !errors.Is(err, errClient) {
		t.Fatalf("failing Append: %v", err)
	}
	if got := read(t, b, "/f", 0); got != "hello!" {
		t.Fatalf("failed Append changed the file to %q", got)
	}
	if _, err := a.Append(ctx, "/f", 100, strings.NewReader("x")); err == nil {
		t.Fatal("Append beyond the end succeeded")
	}
}

func testModTime(t *testing.T, b storage.Backend) {
	m, ok := storage.As[storage.ModTimeSetter](b)
	if !ok {
		t.Skip("backend does not implement storage.ModTimeSetter")
	}
	put(t, b, "/f", "x")
	want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := m.SetModTime(t.Context(), "/f", want); err != nil {
		t.Fatal(err)
	}
	e, err := b.Stat(t.Context(), "/f")
	if err != nil || !e.ModTime.Equal(want) {
		t.Fatalf("Stat after SetModTime: %v, %v", e.ModTime, err)
	}
	wantKind(t, "SetModTime missing", m.SetModTime(t.Context(), "/missing", want), storage.ErrNotFound)
}

// prefixNames is the names of a ListPrefix listing, as names gives them,
// and the error that ended it.
func prefixNames(t *testing.T, pl storage.PrefixLister, dir, prefix string) (string, error) {
	t.Helper()
	var out []string
	for e, err := range pl.ListPrefix(t.Context(), dir, prefix) {
		if err != nil {
			return strings.Join(out, ","), err
		}
		n := e.Name
		if e.IsDir {
			n += "/"
		}
		out = append(out, n)
	}
	return strings.Join(out, ","), nil
}

// testListPrefix: ListPrefix is List of the names that start with the
// prefix (never ""; ListFrom lists those with List).
func testListPrefix(t *testing.T, b storage.Backend) {
	pl, ok := storage.As[storage.PrefixLister](b)
	if !ok {
		t.Skip("backend does not implement storage.PrefixLister")
	}
	mkdir(t, b, "/d")
	mkdir(t, b, "/d/abdir")
	mkdir(t, b, "/d/empty")
	for _, n := range []string{"/d/ab", "/d/abc.txt", "/d/abdir/inner", "/d/aB", "/d/b-ab", "/d/a", "/d/.hidden", "/d/..dots", "/abroad"} {
		put(t, b, n, "data-"+n)
	}
	for _, tc := range []struct{ dir, prefix, want string }{
		{"/d", "ab", "ab,abc.txt,abdir/"}, // sorted as List, dirs marked, not the dir's children
		{"/d", "a", "a,aB,ab,abc.txt,abdir/"},
		{"/d", "abc.txt", "abc.txt"},  // the whole name
		{"/d", "abc.txtx", ""},        // longer than any name
		{"/d", "AB", ""},              // case matters
		{"/d", "zz", ""},              // no match: nothing, and no error
		{"/d/empty", "a", ""},         // an empty directory
		{"/d/abdir", "in", "inner"},   // a subdirectory
		{"/", "ab", "abroad"},         // the root
		{"/d", ".", "..dots,.hidden"}, // ".*" (MinIO refuses the S3 prefix "d/.")
		{"/d", "..", "..dots"},        // "..*"
		{"/d", ".h", ".hidden"},
		{"/d", "abdir/", ""}, // names hold no "/": nothing under abdir
		{"/d", "abdir/in", ""},
		{"/d", "./a", ""},
		{"/d/abdir", "../a", ""}, // nor climbs out
	} {
		got, err := prefixNames(t, pl, tc.dir, tc.prefix)
		if err != nil || got != tc.want {
			t.Errorf("ListPrefix(%s, %q) = %q, %v; want %q, nil", tc.dir, tc.prefix, got, err, tc.want)
		}
	}
	for e, err := range pl.ListPrefix(t.Context(), "/d", "abc") {
		if err != nil {
			t.Fatal(err)
		}
		if e.Size != int64(len("data-/d/"+e.Name)) {
			t.Errorf("ListPrefix: %s has size %d, want List's", e.Name, e.Size)
		}
	}
	// A missing directory: nothing (S3 cannot tell it from an empty one
	// in the same request) or ErrNotFound.
	if got, err := prefixNames(t, pl, "/missing", "a"); got != "" || err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ListPrefix of a missing directory = %q, %v; want nothing, or ErrNotFound", got, err)
	}
}
