package integration

import (
	"errors"
	"io"
	"strings"
	"testing"

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

var _ = s3store.Config{}

func TestS3Contract(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return shared.newStore(t, shared.newBucket(t), "some/prefix")
	})
}
