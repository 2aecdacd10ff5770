package integration

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/storage/s3store"
)

// TestS3ModTimeStat: a time MFMT set lives in the directory's index alone
// (the object keeps its bytes, ETag, metadata and store time), and Stat
// reads it there from any replica: alongside the HEAD where the directory
// has an index, with the HEAD alone where a listing showed it has none. A
// file replaced by other content loses the time; a time in the object's
// metadata (as older versions wrote it) is still reported, and one set
// since wins; a renamed file keeps its time.
func TestS3ModTimeStat(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	rec := newS3Recorder(t, shared.endpoint)
	viaRec := *shared
	viaRec.endpoint = rec.addr
	long := func(c *s3store.Config) { c.DirCacheTTL = 5 * time.Minute } // no expiry midway on a loaded machine
	a := shared.newStore(t, bucket, "p", long)
	b := viaRec.newStore(t, bucket, "p", long) // another replica
	ctx := t.Context()
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

	if _, err := a.Put(ctx, "/d/f", strings.NewReader("one"), -1); err != nil {
		t.Fatal(err)
	}
	before, err := shared.client.StatObject(ctx, bucket, "p/d/f", miniogo.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetModTime(ctx, "/d/f", when); err != nil {
		t.Fatal(err)
	}
	after, err := shared.client.StatObject(ctx, bucket, "p/d/f", miniogo.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ETag != before.ETag || !after.LastModified.Equal(before.LastModified) || after.UserMetadata["Bucketftp-Mtime"] != "" {
		t.Errorf("MFMT changed the object: ETag %s -> %s, LastModified %v -> %v, metadata %v",
			before.ETag, after.ETag, before.LastModified, after.LastModified, after.UserMetadata)
	}
	if e, err := a.Stat(ctx, "/d/f"); err != nil || !e.ModTime.Equal(when) {
		t.Errorf("Stat on the replica that set the time: %v %v", e.ModTime, err)
	}

	rec.take()
	if e, err := b.Stat(ctx, "/d/f"); err != nil || !e.ModTime.Equal(when) || e.Size != 3 {
		t.Errorf("Stat on another replica: %+v %v, want time %v", e, err, when)
	}
	if reqs := rec.take(); count(reqs, "HEAD") != 1 || count(reqs, "LIST") != len(reqs)-1 || !slices.ContainsFunc(reqs, func(r s3Request) bool {
		return r.Kind == "LIST" && r.Key == "p/d/.bucketftp-mtimes/f\t"
	}) {
		t.Errorf("Stat in a directory not yet listed: %s, want a HEAD and LISTs, one of the file's index entries", reqs)
	}
	for e, err := range b.List(ctx, "/d") {
		if err != nil || e.Name != "f" || !e.ModTime.Equal(when) {
			t.Errorf("List on another replica: %+v %v", e, err)
		}
	}
	rec.take()
	if _, err := b.Stat(ctx, "/d/f"); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.take(); len(reqs) != 2 || count(reqs, "HEAD") != 1 || count(reqs, "LIST") != 1 {
		t.Errorf("Stat in a listed directory with an index: %s, want the HEAD and the index entries' LIST", reqs)
	}

	// A directory without an index, once listed: the HEAD alone.
	shared.putByOtherClient(t, bucket, "p/e/x", "x")
	for _, err := range b.List(ctx, "/e") {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec.take()
	if _, err := b.Stat(ctx, "/e/x"); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.take(); len(reqs) != 1 || reqs[0].Kind != "HEAD" {
		t.Errorf("Stat in a listed directory without an index: %s, want the HEAD alone", reqs)
	}

	// Replaced by other content: the store's time again.
	shared.putByOtherClient(t, bucket, "p/d/f", "two")
	if e, err := b.Stat(ctx, "/d/f"); err != nil || e.ModTime.Equal(when) || time.Since(e.ModTime) > time.Hour {
		t.Errorf("Stat of a replaced file: %v %v, want the store's time", e.ModTime, err)
	}

	// A time in the metadata, as older versions set it; one set since wins.
	old := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := shared.client.PutObject(ctx, bucket, "p/d/legacy", strings.NewReader("l"), 1, miniogo.PutObjectOptions{
		UserMetadata: map[string]string{"bucketftp-mtime": strconv.FormatInt(old.Unix(), 10)}}); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Stat(ctx, "/d/legacy"); err != nil || !e.ModTime.Equal(old) {
		t.Errorf("Stat of a file timed in its metadata: %v %v, want %v", e.ModTime, err, old)
	}
	if err := b.SetModTime(ctx, "/d/legacy", when); err != nil {
		t.Fatal(err)
	}
	if e, err := a.Stat(ctx, "/d/legacy"); err != nil || !e.ModTime.Equal(when) {
		t.Errorf("Stat after MFMT of a file timed in its metadata: %v %v, want %v", e.ModTime, err, when)
	}

	// Renamed: the time goes along.
	if err := b.Rename(ctx, "/d/legacy", "/e/renamed"); err != nil {
		t.Fatal(err)
	}
	if e, err := a.Stat(ctx, "/e/renamed"); err != nil || !e.ModTime.Equal(when) {
		t.Errorf("Stat after rename: %v %v, want %v", e.ModTime, err, when)
	}
}
