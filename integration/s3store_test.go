package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/s3store"
	"github.com/bucketftp/bucketftp/storage/storagetest"
)

func TestS3ObjectsAsSeenByAnotherClient(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	s := shared.newStore(t, bucket, "pfx")
	ctx := t.Context()

	if err := s.Mkdir(ctx, "/dir"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "/dir/small.txt", strings.NewReader("small"), -1); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789", 2<<20) // 20 MiB: four parts of 6 MiB
	if _, err := s.Put(ctx, "/big.bin", strings.NewReader(big), -1); err != nil {
		t.Fatal(err)
	}
	objs := shared.objects(t, bucket)
	if objs["pfx/dir/"] != "" || objs["pfx/dir/small.txt"] != "small" || objs["pfx/big.bin"] != big {
		keys := []string{}
		for k := range objs {
			keys = append(keys, k)
		}
		t.Fatalf("objects in the bucket: %v", keys)
	}
	if _, ok := objs["pfx/dir/"]; !ok {
		t.Fatal("no directory marker pfx/dir/")
	}

	// Objects written by another client show up, with implicit directories.
	shared.putByOtherClient(t, bucket, "pfx/other/deep/x.csv", "a,b")
	e, err := s.Stat(ctx, "/other/deep")
	if err != nil || !e.IsDir {
		t.Fatalf("implicit dir: %+v %v", e, err)
	}
	var names []string
	for e, err := range s.List(ctx, "/") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "big.bin,dir,other" {
		t.Fatalf("List / = %v", names)
	}

	// A failed multipart upload leaves no object and no open upload.
	_, err = s.Put(ctx, "/broken.bin", io.MultiReader(strings.NewReader(big), failing{}), -1)
	if err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if _, err := s.Stat(ctx, "/broken.bin"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("broken upload visible: %v", err)
	}
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left open", n)
	}

	// Resume: REST-style append keeps the prefix via server-side copy.
	if _, err := s.Append(ctx, "/big.bin", 10<<20, strings.NewReader("TAIL")); err != nil {
		t.Fatal(err)
	}
	if got := shared.objects(t, bucket)["pfx/big.bin"]; got != big[:10<<20]+"TAIL" {
		t.Fatalf("after append: %d bytes, tail %q", len(got), got[max(0, len(got)-8):])
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("client vanished") }

func TestS3Contract(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return shared.newStore(t, shared.newBucket(t), "some/prefix")
	})
}

// TestS3RenameCopiesInParts renames a file larger than one copy part: the
// store copies it with UploadPartCopy (as it does above 5 GiB by default),
// keeps the time MFMT set, and deletes the source only after.
func TestS3RenameCopiesInParts(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	s := shared.newStore(t, bucket, "", func(c *s3store.Config) { c.CopyPartSize = 10 << 20 })
	ctx := t.Context()
	big := strings.Repeat("abcdefghij", 25<<20/10) // 25 MiB: three copy parts of 10 MiB
	h := storage.NewHashing(nil, nil)              // as the FTP front end hashes an upload
	if _, err := s.Put(storage.WithHashing(ctx, h), "/big.bin", h.Reader(strings.NewReader(big)), -1); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := s.SetModTime(ctx, "/big.bin", when); err != nil {
		t.Fatal(err)
	}
	if err := s.Mkdir(ctx, "/moved"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, "/big.bin", "/moved/big.bin"); err != nil {
		t.Fatal(err)
	}
	info, err := shared.client.StatObject(ctx, bucket, "moved/big.bin", miniogo.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(info.ETag, "-3") {
		t.Errorf("ETag %q: not a three-part copy", info.ETag)
	}
	// The recorded checksums go with it (a copy in parts carries no tags
	// by itself).
	tags, err := shared.client.GetObjectTagging(ctx, bucket, "moved/big.bin", miniogo.GetObjectTaggingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tags.ToMap()["bucketftp-sha256"], sha([]byte(big)); got != want {
		t.Errorf("sha256 tag after the copy in parts: %q, want %s", got, want)
	}
	objs := shared.objects(t, bucket)
	moved := 0 // the time moves with the file: an index entry under its new name
	for k := range objs {
		if strings.HasPrefix(k, "moved/.bucketftp-mtimes/big.bin\t") && strings.Contains(k, "\t"+strconv.FormatInt(when.Unix(), 10)+"\t") {
			moved++
		}
	}
	if moved != 1 {
		t.Errorf("%d time index entries of moved/big.bin, want 1", moved)
	}
	if _, ok := objs["big.bin"]; ok {
		t.Error("source still there")
	}
	if objs["moved/big.bin"] != big {
		t.Errorf("copy differs: %d bytes", len(objs["moved/big.bin"]))
	}
	if e, err := s.Stat(ctx, "/moved/big.bin"); err != nil || !e.ModTime.Equal(when) {
		t.Errorf("Stat after rename: %v %v", e.ModTime, err)
	}
	for e, err := range s.List(ctx, "/moved") {
		if err != nil || e.Name != "big.bin" || !e.ModTime.Equal(when) {
			t.Errorf("List after rename: %+v %v", e, err)
		}
	}
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left open", n)
	}
}

// TestS3ModTimeIndex sets times on many files of one directory at once:
// each gets its own entry in the directory's time index, and listings show
// every time. The index is invisible to FTP and does not keep a directory
// from being removed.
func TestS3ModTimeIndex(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	s := shared.newStore(t, bucket, "p")
	ctx := t.Context()
	if err := s.Mkdir(ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var g errgroup.Group
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf("/d/f%d", i)
			if _, err := s.Put(ctx, name, strings.NewReader("x"), -1); err != nil {
				return err
			}
			return s.SetModTime(ctx, name, time.Unix(int64(1e9+i), 0))
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	i := 0
	for e, err := range s.List(ctx, "/d") {
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("f%d", i); e.Name != want || e.ModTime.Unix() != int64(1e9+i) {
			t.Errorf("entry %d: %s %v, want %s %v", i, e.Name, e.ModTime, want, time.Unix(int64(1e9+i), 0))
		}
		i++
	}
	if i != n {
		t.Errorf("listed %d entries, want %d", i, n)
	}
	entries := 0
	for k := range shared.objects(t, bucket) {
		if strings.HasPrefix(k, "p/d/.bucketftp-mtimes/") {
			entries++
		}
	}
	if entries != n {
		t.Fatalf("%d time index entries in the bucket, want %d", entries, n)
	}
	for _, op := range []func() error{
		func() error { _, err := s.Stat(ctx, "/d/.bucketftp-mtimes"); return err },
		func() error { _, err := s.Put(ctx, "/d/.bucketftp-mtimes", strings.NewReader("{}"), -1); return err },
		func() error { _, err := s.Put(ctx, "/d/.bucketftp-mtimes/f0", strings.NewReader("x"), -1); return err },
		func() error { return s.Remove(ctx, "/d/.bucketftp-mtimes") },
		func() error { return s.Mkdir(ctx, "/d/.bucketftp-mtimes") },
	} {
		if err := op(); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("reserved name: %v, want ErrInvalidName", err)
		}
	}
	if err := s.Rmdir(ctx, "/d"); !errors.Is(err, storage.ErrNotEmpty) {
		t.Fatalf("Rmdir of a full dir: %v", err)
	}
	for i := range n {
		if err := s.Remove(ctx, fmt.Sprintf("/d/f%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Rmdir(ctx, "/d"); err != nil {
		t.Fatalf("Rmdir with only the index left: %v", err)
	}
	if objs := shared.objects(t, bucket); len(objs) != 0 {
		t.Fatalf("left in the bucket: %v", objs)
	}
}

// TestS3DownloadReadAhead reads an object in ranges fetched ahead
// (download_concurrency), from several offsets, against what minio-go reads.
func TestS3DownloadReadAhead(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	s := shared.newStore(t, bucket, "", func(c *s3store.Config) { c.DownloadConcurrency = 2; c.PartSize = 5 << 20 })
	ctx := t.Context()
	data := make([]byte, 23<<20+7)
	rand.NewChaCha8([32]byte{7}).Read(data)
	shared.putByOtherClient(t, bucket, "obj", string(data))
	for _, off := range []int64{0, 5<<20 - 1, 5 << 20, 17<<20 + 3, int64(len(data)) - 1, int64(len(data))} {
		rc, err := s.Open(ctx, "/obj", off)
		if err != nil {
			t.Fatalf("Open at %d: %v", off, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[off:]) {
			t.Fatalf("from %d: %d bytes, %v", off, len(got), err)
		}
	}
}

// TestS3UploadLimits: a name whose key would pass 1,024 bytes is refused
// before anything is sent; uploads wait for the memory budget instead of
// exceeding it, and all complete; a failed resume leaves the old object as
// it was.
func TestS3UploadLimits(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	const part = 5 << 20
	s := shared.newStore(t, bucket, "p", func(c *s3store.Config) { c.PartSize = part; c.MemoryBudget = 2 * part })
	ctx := t.Context()

	long := "/" + strings.Repeat("a", 1030)
	if _, err := s.Put(ctx, long, strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidName) {
		t.Fatalf("Put of a 1,030-byte name: %v, want ErrInvalidName", err)
	}

	// Four uploads of three parts each through a budget of two part
	// buffers in all.
	data := make([]byte, 3*part-100)
	rand.NewChaCha8([32]byte{3}).Read(data)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, err := s.Put(ctx, fmt.Sprintf("/up%d", i), bytes.NewReader(data), -1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	objs := shared.objects(t, bucket)
	for i := range 4 {
		if objs[fmt.Sprintf("p/up%d", i)] != string(data) {
			t.Fatalf("upload %d differs", i)
		}
	}
	if _, ok := objs["p/"+long[1:]]; ok {
		t.Fatal("the over-long name was stored")
	}

	// A resume (REST+STOR) whose new data fails midway: the old object
	// stays whole, and no multipart upload is left open.
	_, err := s.Append(ctx, "/up0", part+1, io.MultiReader(strings.NewReader(strings.Repeat("n", part)), failing{}))
	if err == nil {
		t.Fatal("Append with a failing reader succeeded")
	}
	if shared.objects(t, bucket)["p/up0"] != string(data) {
		t.Fatal("a failed resume changed the old object")
	}
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left open", n)
	}
}
