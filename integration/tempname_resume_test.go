package integration

import (
	"bytes"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/auth"
	ftpserver "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// reset is rcReset as rcCut takes it.
func reset(t *testing.T) func(*rawFTP, net.Conn) int {
	return func(c *rawFTP, d net.Conn) int { return rcReset(t, c, d) }
}

// heldKept checks that an interrupted held upload of name (in /in) is kept
// for resuming (rcKept) and that its final name is not in the bucket.
func heldKept(t *testing.T, bucket, name, final string) {
	t.Helper()
	rcKept(t, bucket, name)
	if rcVisible(t, bucket, "p/in/"+final) {
		t.Fatalf("p/in/%s is visible in the bucket while the upload is interrupted", final)
	}
}

// TestTempNameResume: a temp-name upload (held: its multipart upload is
// created under the final name and completed only at the rename) whose
// connection breaks is kept for resuming as any upload is, under the temp
// name the client knows: WinSCP's NAME.filepart, cut after two parts, is
// SIZE 10 MiB to its owner on another server, REST + STOR there continues
// it (and is cut again), APPE on the first server finishes it, and RNTO
// then completes it under the final name. No request copies or deletes,
// only the missing bytes are sent each time, the bucket never shows the
// temp name, and the object equals the source with its checksums. A DELE
// or a new STOR of the temp name discards a kept one.
func TestTempNameResume(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	a := startResumeReplicaStall(t, bucket, rcStall)
	b := startResumeReplicaStall(t, bucket, rcStall)
	stop := make(chan struct{})
	seen := watchKeys(t, bucket, stop)
	data := randomBytes(23 << 20)
	const name, final = "big.bin.filepart", "big.bin"

	t.Run("cut, resumed, cut again, finished, renamed", func(t *testing.T) {
		c := loginAs(t, a.addr, "u")
		a.rec.take()
		if code := rcCut(t, c, a.rec, "STOR "+name, data[:13<<20], 2, reset(t)); code != 426 {
			t.Fatalf("cut STOR %s: %d, want 426", name, code)
		}
		reqs := a.rec.take()
		if !slices.Equal(keysOf(reqs, "MPU-CREATE"), []string{"p/in/" + final}) || count(reqs, "MPU-ABORT", "MPU-COMPLETE", "COPY") != 0 {
			t.Fatalf("the cut held upload: %s, want it created under the final name, not aborted or completed", reqs)
		}
		heldKept(t, bucket, name, final)

		// The owner, on the other server, sees the temp name with the
		// stored length; the final name is not there; another user
		// sees nothing.
		u := loginAs(t, b.addr, "u")
		if _, n := sizeOf(t, u, name); n != 2*resumePart {
			t.Fatalf("SIZE %s for the owner: %d, want %d", name, n, 2*resumePart)
		}
		if code, _ := sizeOf(t, u, final); code != 550 {
			t.Fatalf("SIZE %s: %d, want 550", final, code)
		}
		if l := u.list(""); !strings.Contains(l, name) || strings.Contains(l, final+"\r") {
			t.Fatalf("LIST for the owner: %q", l)
		}
		v := loginAs(t, b.addr, "v")
		if code, _ := sizeOf(t, v, name); code != 550 {
			t.Fatalf("SIZE %s for another user: %d, want 550", name, code)
		}
		v.must("QUIT", 221)

		// REST + STOR (WinSCP's resume) on the other server, cut after
		// one more part: kept again, at three parts.
		b.rec.take()
		u.must("REST "+strconv.Itoa(2*resumePart), 350)
		if code := rcCut(t, u, b.rec, "STOR "+name, data[2*resumePart:18<<20], 1, reset(t)); code != 426 {
			t.Fatalf("cut continuation: %d, want 426", code)
		}
		reqs = b.rec.take()
		if count(reqs, "MPU-CREATE", "MPU-ABORT", "MPU-COMPLETE", "COPY") != 0 {
			t.Fatalf("the cut continuation: %s, want parts only", reqs)
		}
		heldKept(t, bucket, name, final)
		u.must("QUIT", 221)

		// APPE (curl -C -'s way) on the first server finishes it: held,
		// for this session, until its rename.
		c2 := loginAs(t, a.addr, "u")
		_, kept := sizeOf(t, c2, name)
		if kept != 3*resumePart {
			t.Fatalf("SIZE after the second cut: %d, want %d", kept, 3*resumePart)
		}
		a.rec.take()
		if code, text := c2.sendFrom("APPE", name, bytes.NewReader(data[kept:])); code != 226 {
			t.Fatalf("APPE %s: %q", name, text)
		}
		reqs = a.rec.take()
		if got := partBytes(reqs); got != int64(len(data))-kept {
			t.Errorf("the APPE sent %d bytes in parts, want only the missing %d", got, int64(len(data))-kept)
		}
		if countFiles(reqs, "MPU-CREATE", "MPU-COMPLETE", "PUT", "COPY", "DELETE") != 0 {
			t.Errorf("the finishing APPE: %s, want parts and no creation, completion, PUT, copy or delete", reqs)
		}
		if rcVisible(t, bucket, "p/in/"+final) || rcVisible(t, bucket, "p/in/"+name) {
			t.Fatal("the finished upload is visible before its rename")
		}
		if recs := pendingRecords(t, bucket); len(recs) != 0 {
			t.Errorf("resume records after the upload finished: %v", recs)
		}
		if _, n := sizeOf(t, c2, name); n != int64(len(data)) {
			t.Errorf("SIZE of the held file: %d, want %d", n, len(data))
		}

		c2.must("RNFR "+name, 350)
		c2.must("RNTO "+final, 250)
		reqs = a.rec.take()
		if !slices.Equal(keysOf(reqs, "MPU-COMPLETE"), []string{"p/in/" + final}) || count(reqs, "COPY", "DELETE", "DELETE-MULTI", "PUT") != 0 {
			t.Errorf("the rename: %s, want one completion under the final name and no copy, delete or PUT", reqs)
		}
		checkWhole(t, bucket, "p/in/"+final, data)
		tags, err := shared.client.GetObjectTagging(t.Context(), bucket, "p/in/"+final, miniogo.GetObjectTaggingOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tags.ToMap()["bucketftp-sha256"], sha(data); got != want {
			t.Errorf("sha256 tag %q, want the whole file's %s", got, want)
		}
		c2.must("QUIT", 221)
		rcDone(t, bucket)
	})

	t.Run("DELE and a new STOR discard a kept one", func(t *testing.T) {
		c := loginAs(t, a.addr, "u")
		if code := rcCut(t, c, a.rec, "STOR d.bin.part", data[:13<<20], 2, reset(t)); code != 426 {
			t.Fatalf("cut STOR d.bin.part: %d", code)
		}
		heldKept(t, bucket, "d.bin.part", "d.bin")
		u := loginAs(t, b.addr, "u")
		u.must("DELE d.bin.part", 250)
		rcDone(t, bucket)
		if code, _ := sizeOf(t, u, "d.bin.part"); code != 550 {
			t.Errorf("SIZE after DELE: %d, want 550", code)
		}

		// A server that holds no temp names does not complete a kept held
		// upload under its final name: REST + STOR of it is refused.
		if code := rcCut(t, c, a.rec, "STOR f.bin.part", data[:13<<20], 2, reset(t)); code != 426 {
			t.Fatalf("cut STOR f.bin.part: %d", code)
		}
		heldKept(t, bucket, "f.bin.part", "f.bin")
		h, err := auth.HashPassword("pw")
		if err != nil {
			t.Fatal(err)
		}
		// Its own store, as a replica of its own would have (a shared one
		// would share the cached resume records of b's sessions).
		store := shared.newStore(t, bucket, "p", func(c *s3store.Config) {
			c.PartSize = resumePart
			c.Timeout = 30 * time.Second
		})
		us := auth.NewStore(auth.StoreConfig{Backend: store})
		if err := us.SetUsers([]auth.User{{Name: "u", PasswordHash: h, Home: "/in"}}); err != nil {
			t.Fatal(err)
		}
		plainAddr, _ := serveFTP(t, ftpserver.Config{Auth: us, Storage: store, TempNamePatterns: []string{}})
		p := loginAs(t, plainAddr, "u")
		p.must("REST "+strconv.Itoa(2*resumePart), 350)
		if code, text := p.storFrom("f.bin.part", bytes.NewReader(data[2*resumePart:])); code != 502 {
			t.Errorf("REST + STOR of a kept held upload without temp-name holding: %q, want 502", text)
		}
		heldKept(t, bucket, "f.bin.part", "f.bin")
		p.must("DELE f.bin.part", 250)
		rcDone(t, bucket)
		p.must("QUIT", 221)

		if code := rcCut(t, c, a.rec, "STOR e.bin.part", data[:13<<20], 2, reset(t)); code != 426 {
			t.Fatalf("cut STOR e.bin.part: %d", code)
		}
		heldKept(t, bucket, "e.bin.part", "e.bin")
		if code := u.stor("e.bin.part", "fresh"); code != 226 {
			t.Fatalf("STOR e.bin.part: %d", code)
		}
		u.must("RNFR e.bin.part", 350)
		u.must("RNTO e.bin", 250)
		if objs := shared.objects(t, bucket); objs["p/in/e.bin"] != "fresh" {
			t.Errorf("e.bin after a new STOR of its temp name: %q", objs["p/in/e.bin"])
		}
		rcDone(t, bucket)
		u.must("QUIT", 221)
		c.must("QUIT", 221)
	})

	close(stop)
	for k := range seen() {
		if strings.HasSuffix(k, ".filepart") || strings.HasSuffix(k, ".part") {
			t.Errorf("the bucket showed the temp name %s", k)
		}
	}
}

// TestTempNameResumeEvents: the events of a held upload cut and resumed:
// one upload.failed for the temp name carrying the kept bytes, then, at
// the rename, exactly one upload.completed for the final name with the
// whole file's size and SHA-256 (the hash state carried across the
// sessions), and no completed event for the temp name.
func TestTempNameResumeEvents(t *testing.T) {
	t.Parallel()
	g := newHeldRig(t, 5*time.Minute)
	data := randomBytes(13 << 20)
	c := loginAs(t, g.addr, "u")
	if code := rcCut(t, c, g.rec, "STOR e.bin.part", data[:12<<20], 2, reset(t)); code != 426 {
		t.Fatalf("cut STOR e.bin.part: %d, want 426", code)
	}
	c.must("QUIT", 221)
	failed := g.log.of(ftpserver.EventUploadFailed)
	if len(failed) != 1 || failed[0].Path != "/u/e.bin.part" || failed[0].Kept != 10<<20 {
		t.Fatalf("upload.failed events %+v, want one for /u/e.bin.part keeping 10 MiB", failed)
	}

	u := loginAs(t, g.addr, "u")
	u.must("REST "+strconv.Itoa(10<<20), 350)
	if code, text := u.storFrom("e.bin.part", bytes.NewReader(data[10<<20:])); code != 226 {
		t.Fatalf("resumed STOR: %q", text)
	}
	if evs := g.log.of(ftpserver.EventUploadCompleted); len(evs) != 0 {
		t.Fatalf("upload.completed before the rename: %+v", evs)
	}
	u.must("RNFR e.bin.part", 350)
	u.must("RNTO e.bin", 250)
	u.must("QUIT", 221)
	evs := g.log.of(ftpserver.EventUploadCompleted)
	if len(evs) != 1 {
		t.Fatalf("%d upload.completed events, want one: %+v", len(evs), evs)
	}
	if e := evs[0]; e.Path != "/u/e.bin" || e.Size != int64(len(data)) || e.Checksums["sha256"] != sha(data) {
		t.Errorf("upload.completed %+v, want /u/e.bin, %d bytes, sha256 %s", e, len(data), sha(data))
	}
	checkWhole(t, g.bucket, "u/e.bin", data)
}
