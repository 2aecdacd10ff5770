package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/auth"
	ftpserver "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// heldRig is one in-process server for user "u" (home /u, password "pw")
// on a fresh bucket, its store behind a request recorder, with 5 MiB
// parts and events recorded.
type heldRig struct {
	bucket string
	rec    *s3Recorder
	addr   string
	srv    *ftpserver.Server
	log    *eventLog
}

func newHeldRig(t *testing.T, hold time.Duration, tune ...func(*s3store.Config)) *heldRig {
	t.Helper()
	bucket := shared.newBucket(t)
	rec := newS3Recorder(t, shared.endpoint)
	viaRec := *shared
	viaRec.endpoint = rec.addr
	store := viaRec.newStore(t, bucket, "", append([]func(*s3store.Config){func(c *s3store.Config) {
		c.PartSize = 5 << 20
		c.Timeout = 30 * time.Second
	}}, tune...)...)
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	us := auth.NewStore(auth.StoreConfig{Backend: store})
	if err := us.SetUsers([]auth.User{{Name: "u", Home: "/u", PasswordHash: h}}); err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	addr, srv := serveFTP(t, ftpserver.Config{Auth: us, Storage: store, Events: log, TempNameHold: hold, StallTimeout: 5 * time.Second})
	return &heldRig{bucket: bucket, rec: rec, addr: addr, srv: srv, log: log}
}

// shutdown ends every session and waits until each has published or
// discarded what it held.
func (g *heldRig) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// keys lists the bucket's keys with minio-go, but the directory markers
// (the home's "u/").
func (g *heldRig) keys(t *testing.T) []string {
	t.Helper()
	var out []string
	for o := range shared.client.ListObjects(t.Context(), g.bucket, miniogo.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if !strings.HasSuffix(o.Key, "/") {
			out = append(out, o.Key)
		}
	}
	return out
}

// resumeRecords lists the resume records (docs/s3.md, interrupted
// uploads) in the bucket.
func (g *heldRig) resumeRecords(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, k := range g.keys(t) {
		if strings.HasPrefix(k, ".bucketftp/resume/") {
			out = append(out, k)
		}
	}
	return out
}

// retr downloads name and returns the final reply code (or the
// refusal's) and the bytes received.
func (r *rawFTP) retr(name string) (int, []byte) {
	r.t.Helper()
	d := r.pasv()
	fmt.Fprintf(r.c, "RETR %s\r\n", name)
	code, _ := r.reply()
	if code != 150 && code != 125 {
		d.Close()
		return code, nil
	}
	d.SetReadDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(d)
	d.Close()
	if err != nil {
		r.t.Fatalf("RETR %s: %v", name, err)
	}
	code, _ = r.reply()
	return code, b
}

// storBig uploads data as STOR name and returns the final reply code.
func (r *rawFTP) storBig(name string, data []byte) int {
	r.t.Helper()
	code, _ := r.storFrom(name, bytes.NewReader(data))
	return code
}

// keysOf are the keys of the requests of kind, in order.
func keysOf(reqs []s3Request, kind string) []string {
	var out []string
	for _, r := range reqs {
		if r.Kind == kind {
			out = append(out, r.Key)
		}
	}
	return out
}

// indexOf is the position of the first request of kind at key, or -1.
func indexOf(reqs []s3Request, kind, key string) int {
	return slices.IndexFunc(reqs, func(r s3Request) bool { return r.Kind == kind && r.Key == key })
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestTempNameRetrHeld: RETR of a held upload in its own session returns
// exactly the bytes sent, below one part and above. Before the RETR
// another session of the same user sees nothing (SIZE and RETR 550) and
// nothing is in the bucket; the RETR stores the file under its temp name
// first (README: "RETR or APPE of it stores it under the temp name
// first"): one PUT for a small file, the completion under the predicted
// key, a copy to the temp name and a delete of the predicted key for a
// multipart one. After it the file is an ordinary one, seen by the other
// session too, and nothing is left at the predicted final key.
func TestTempNameRetrHeld(t *testing.T) {
	t.Parallel()
	g := newHeldRig(t, 5*time.Minute)
	big := randomBytes(12 << 20) // three parts
	small := "id,v\n1,2\n"

	c := loginAs(t, g.addr, "u")
	other := loginAs(t, g.addr, "u")
	if code := c.stor(".in.s.csv", small); code != 226 {
		t.Fatalf("STOR .in.s.csv: %d", code)
	}
	if code := c.storBig("r.bin.part", big); code != 226 {
		t.Fatalf("STOR r.bin.part: %d", code)
	}
	for _, name := range []string{".in.s.csv", "r.bin.part"} {
		other.must("SIZE "+name, 550)
		if code, b := other.retr(name); code != 550 {
			t.Errorf("another session's RETR %s of a held upload: %d (%d bytes), want 550", name, code, len(b))
		}
	}
	if ks := g.keys(t); len(ks) != 0 {
		t.Errorf("before any RETR the bucket holds %v, want nothing", ks)
	}

	g.rec.take()
	code, got := c.retr(".in.s.csv")
	if code != 226 || string(got) != small {
		t.Errorf("RETR of the held small upload: %d %q, want 226 %q", code, got, small)
	}
	reqs := g.rec.take()
	if count(reqs, "PUT") != 1 || indexOf(reqs, "PUT", "u/.in.s.csv") < 0 || count(reqs, "COPY", "DELETE", "DELETE-MULTI", "MPU-CREATE", "MPU-COMPLETE") != 0 {
		t.Errorf("RETR of a held small upload: %s, want one PUT of u/.in.s.csv and no copy, delete or multipart request", reqs)
	}

	code, got = c.retr("r.bin.part")
	if code != 226 || !bytes.Equal(got, big) {
		t.Errorf("RETR of the held multipart upload: %d, %d bytes (equal: %v), want 226 and the %d bytes sent", code, len(got), bytes.Equal(got, big), len(big))
	}
	reqs = g.rec.take()
	// docs/s3.md's table, "at RNTO to another name": the temp name is
	// another name than the predicted one.
	done, cp, del := indexOf(reqs, "MPU-COMPLETE", "u/r.bin"), indexOf(reqs, "COPY", "u/r.bin.part"), indexOf(reqs, "DELETE", "u/r.bin")
	if count(reqs, "MPU-COMPLETE") != 1 || count(reqs, "COPY") != 1 || count(reqs, "DELETE") != 1 || count(reqs, "PUT") != 0 ||
		done < 0 || cp < done || del < cp {
		t.Errorf("RETR of a held multipart upload: %s, want the completion under u/r.bin, a copy to u/r.bin.part, a delete of u/r.bin, in that order", reqs)
	}

	// Now stored under the temp name: an ordinary file for everyone.
	if code, b := other.retr(".in.s.csv"); code != 226 || string(b) != small {
		t.Errorf("another session's RETR after the owner's: %d %q, want 226 %q", code, b, small)
	}
	other.must("SIZE r.bin.part", 213)
	objs := shared.objects(t, g.bucket)
	if objs["u/.in.s.csv"] != small || objs["u/r.bin.part"] != string(big) {
		t.Errorf("after RETR: u/.in.s.csv %d bytes, u/r.bin.part %d bytes, want %d and %d", len(objs["u/.in.s.csv"]), len(objs["u/r.bin.part"]), len(small), len(big))
	}
	for _, k := range []string{"u/s.csv", "u/r.bin"} {
		if _, ok := objs[k]; ok {
			t.Errorf("after RETR of the held upload the predicted final key %s exists", k)
		}
	}
	c.must("QUIT", 221)
	other.must("QUIT", 221)
	g.shutdown(t)
	if n := shared.openUploads(t, g.bucket); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
}

// TestTempNameRenameElsewhere: a held upload renamed to a name other than
// the one its temp name predicts (STOR a.csv.part, RNTO b.csv) ends as
// b.csv with the bytes sent, nothing under the temp name or a.csv, and
// one upload event for b.csv; the requests are docs/s3.md's "at RNTO to
// another name": one PutObject below one part; above, the completion
// under the predicted key, a CopyObject to the name and a DeleteObject
// of the predicted key; and where a file is at the predicted key, the
// upload is created under .bucketftp/held/ID instead, completed there and
// copied, and the file is never written.
func TestTempNameRenameElsewhere(t *testing.T) {
	t.Parallel()
	g := newHeldRig(t, 5*time.Minute)
	stop := make(chan struct{})
	seen := watchKeys(t, g.bucket, stop)
	big := randomBytes(12 << 20)
	big2 := randomBytes(11 << 20)
	shared.putByOtherClient(t, g.bucket, "u/p.bin", "kept")

	c := loginAs(t, g.addr, "u")
	g.rec.take()
	g.log.take()

	// Below one part.
	if code := c.stor("a.csv.part", "a,b\n"); code != 226 {
		t.Fatalf("STOR a.csv.part: %d", code)
	}
	c.must("RNFR a.csv.part", 350)
	c.must("RNTO b.csv", 250)
	reqs := g.rec.take()
	if count(reqs, "PUT") != 1 || indexOf(reqs, "PUT", "u/b.csv") < 0 || count(reqs, "COPY", "DELETE", "DELETE-MULTI", "MPU-CREATE") != 0 {
		t.Errorf("STOR a.csv.part + RNTO b.csv: %s, want one PUT of u/b.csv and no copy, delete or multipart upload", reqs)
	}

	// Above: completion, copy, delete.
	if code := c.storBig("m.bin.part", big); code != 226 {
		t.Fatalf("STOR m.bin.part: %d", code)
	}
	reqs = g.rec.take()
	if keys := keysOf(reqs, "MPU-CREATE"); !slices.Equal(keys, []string{"u/m.bin"}) || count(reqs, "MPU-COMPLETE", "PUT", "COPY") != 0 {
		t.Errorf("STOR m.bin.part: %s, want one multipart upload created under the predicted u/m.bin, not completed", reqs)
	}
	c.must("RNFR m.bin.part", 350)
	c.must("RNTO n.bin", 250)
	reqs = g.rec.take()
	done, cp, del := indexOf(reqs, "MPU-COMPLETE", "u/m.bin"), indexOf(reqs, "COPY", "u/n.bin"), indexOf(reqs, "DELETE", "u/m.bin")
	if count(reqs, "MPU-COMPLETE") != 1 || count(reqs, "COPY") != 1 || count(reqs, "DELETE", "DELETE-MULTI") != 1 || count(reqs, "PUT") != 0 ||
		done < 0 || cp < done || del < cp {
		t.Errorf("STOR m.bin.part + RNTO n.bin: %s, want the completion under u/m.bin, one copy to u/n.bin, one delete of u/m.bin, in that order", reqs)
	}

	// Above, with a file at the predicted key: the upload is created
	// under a key of its own in the reserved prefix, so the file there is
	// never replaced, not even for a moment; the rename completes it there
	// and copies it.
	if code := c.storBig("p.bin.part", big2); code != 226 {
		t.Fatalf("STOR p.bin.part: %d", code)
	}
	reqs = g.rec.take()
	created := keysOf(reqs, "MPU-CREATE")
	if len(created) != 1 || !strings.HasPrefix(created[0], ".bucketftp/held/") {
		t.Errorf("STOR p.bin.part with u/p.bin there: %s, want one multipart upload created under .bucketftp/held/ID", reqs)
	}
	c.must("RNFR p.bin.part", 350)
	c.must("RNTO q.bin", 250)
	reqs = g.rec.take()
	if copies := keysOf(reqs, "COPY"); len(copies) != 1 || copies[0] != "u/q.bin" || len(created) != 1 ||
		!slices.Equal(keysOf(reqs, "MPU-COMPLETE"), created) || !slices.Equal(keysOf(reqs, "DELETE"), created) || count(reqs, "DELETE-MULTI") != 0 {
		t.Errorf("RNTO q.bin of a held upload whose predicted u/p.bin exists: %s, want its completion under %v, one copy to u/q.bin and a delete of %v", reqs, created, created)
	}
	c.must("SIZE a.csv.part", 550)
	c.must("SIZE m.bin.part", 550)
	c.must("QUIT", 221)
	g.shutdown(t)
	close(stop)

	objs := shared.objects(t, g.bucket)
	want := map[string]string{"u/b.csv": "a,b\n", "u/n.bin": string(big), "u/q.bin": string(big2), "u/p.bin": "kept"}
	for k, v := range want {
		if objs[k] != v {
			t.Errorf("%s: %d bytes, want %d", k, len(objs[k]), len(v))
		}
	}
	for k := range objs {
		if _, ok := want[k]; !ok && !strings.HasSuffix(k, "/") {
			t.Errorf("unexpected object %s", k)
		}
	}
	for k := range seen() {
		if strings.HasSuffix(k, ".part") || k == "u/a.csv" {
			t.Errorf("the bucket showed %s", k)
		}
	}

	evs := strings.Join(g.log.take(), "\n") + "\n"
	for _, e := range []string{"/u/b.csv", "/u/n.bin", "/u/q.bin"} {
		if n := strings.Count(evs, "upload.completed "+e+"\n"); n != 1 {
			t.Errorf("%d events upload.completed %s, want 1, in:\n%s", n, e, evs)
		}
	}
	for _, bad := range []string{".part\n", "/u/a.csv\n", "/u/m.bin\n", "/u/p.bin\n", "renamed"} {
		if strings.Contains(evs, bad) {
			t.Errorf("an event names %q:\n%s", bad, evs)
		}
	}
	if n := shared.openUploads(t, g.bucket); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
}

// TestTempNameFailedTransfer: a temp-name upload whose data connection is
// reset mid-transfer: below one part it is discarded (426, nothing held,
// SIZE 550 in the session, no request written); after a whole part was
// stored it is kept for resuming under its temp name (SIZE the stored
// part, one open upload and one record, nothing completed), as the same
// cut on an ordinary name is, and DELE discards it. Nothing is ever
// published under the temp name or the final name (listed all along and
// after the session has ended), and no upload.completed event is sent.
func TestTempNameFailedTransfer(t *testing.T) {
	t.Parallel()
	g := newHeldRig(t, time.Second) // a held upload would be published soon
	stop := make(chan struct{})
	seen := watchKeys(t, g.bucket, stop)
	src := randomBytes(8 << 20)

	c := loginAs(t, g.addr, "u")
	cut := func(name string, n int, afterPart bool) int {
		t.Helper()
		parts := g.rec.answeredCount("MPU-PART")
		d := c.pasv()
		c.must("STOR "+name, 150, 125)
		sent := make(chan error, 1)
		go func() {
			d.SetWriteDeadline(time.Now().Add(time.Minute))
			_, err := d.Write(src[:n])
			sent <- err
		}()
		if afterPart {
			poll(t, "a whole part of "+name+" stored", func() bool { return g.rec.answeredCount("MPU-PART") > parts })
		} else if err := <-sent; err != nil {
			t.Fatal(err)
		}
		resetDataConn(t, d)
		code, _ := c.reply()
		return code
	}
	g.rec.take()
	if code := cut("x.csv.part", 100_000, false); code != 426 {
		t.Errorf("reset STOR x.csv.part: %d, want 426", code)
	}
	if reqs := g.rec.take(); count(reqs, "PUT", "PUT-IF-NONE-MATCH", "MPU-CREATE", "COPY") != 0 {
		t.Errorf("a small upload cut mid-transfer wrote: %s", reqs)
	}
	c.must("SIZE x.csv.part", 550)

	if code := cut("y.bin.part", len(src), true); code != 426 {
		t.Errorf("reset STOR y.bin.part: %d, want 426", code)
	}
	// A held multipart upload cut after a part is kept for resuming
	// under its temp name, as an ordinary one is (TestTempNameResume):
	// nothing completed, nothing in the bucket.
	reqs := g.rec.take()
	if !slices.Equal(keysOf(reqs, "MPU-CREATE"), []string{"u/y.bin"}) || countFiles(reqs, "MPU-ABORT", "MPU-COMPLETE", "PUT", "COPY") != 0 {
		t.Errorf("a held multipart upload cut after a part: %s, want it created under u/y.bin, kept, nothing completed", reqs)
	}
	if code, n := sizeOf(t, c, "y.bin.part"); code != 213 || n != 5<<20 {
		t.Errorf("SIZE y.bin.part after the cut: %d %d, want the stored part, 5 MiB", code, n)
	}
	c.must("SIZE y.bin", 550)
	if n, rs := shared.openUploads(t, g.bucket), g.resumeRecords(t); n != 1 || len(rs) != 1 {
		t.Errorf("%d multipart uploads open and resume records %v after the held upload was cut, want 1 and 1 (kept for resuming)", n, rs)
	}
	c.must("DELE y.bin.part", 250)
	if n, rs := shared.openUploads(t, g.bucket), g.resumeRecords(t); n != 0 || len(rs) != 0 {
		t.Errorf("%d multipart uploads open and resume records %v after DELE, want none", n, rs)
	}

	// The same cut of an ordinary name is kept too.
	if code := cut("plain.bin", len(src), true); code != 426 {
		t.Errorf("reset STOR plain.bin: %d, want 426", code)
	}
	if n, rs := shared.openUploads(t, g.bucket), g.resumeRecords(t); n != 1 || len(rs) != 1 {
		t.Errorf("%d multipart uploads open and resume records %v after an ordinary upload was cut, want 1 and 1 (kept for resuming)", n, rs)
	}
	c.must("DELE plain.bin", 250)
	c.must("QUIT", 221)
	g.shutdown(t)
	close(stop)

	for k := range seen() {
		if strings.Contains(k, "x.csv") || strings.Contains(k, "y.bin") {
			t.Errorf("the bucket showed %s", k)
		}
	}
	if ks := g.keys(t); len(ks) != 0 {
		t.Errorf("left in the bucket: %v", ks)
	}
	if n := shared.openUploads(t, g.bucket); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
	if evs := g.log.of(ftpserver.EventUploadCompleted); len(evs) != 0 {
		t.Errorf("%d upload.completed events for cut uploads", len(evs))
	}
}

// TestTempNameFilepart: WinSCP's NAME.filepart is a temp name by default:
// STOR f.txt.filepart + RNTO f.txt costs no CopyObject and no
// DeleteObject, below one part (one PUT of f.txt) and above (the
// multipart upload completed under g.bin), and the bucket never shows
// the .filepart name.
func TestTempNameFilepart(t *testing.T) {
	t.Parallel()
	g := newHeldRig(t, 5*time.Minute)
	stop := make(chan struct{})
	seen := watchKeys(t, g.bucket, stop)
	big := randomBytes(11 << 20)

	c := loginAs(t, g.addr, "u")
	g.rec.take()
	if code := c.stor("f.txt.filepart", "winscp"); code != 226 {
		t.Fatalf("STOR f.txt.filepart: %d", code)
	}
	c.must("SIZE f.txt.filepart", 213)
	c.must("RNFR f.txt.filepart", 350)
	c.must("RNTO f.txt", 250)
	reqs := g.rec.take()
	if count(reqs, "COPY", "DELETE", "DELETE-MULTI") != 0 || !slices.Equal(keysOf(reqs, "PUT"), []string{"u/f.txt"}) {
		t.Errorf("STOR f.txt.filepart + RNTO f.txt: %s, want one PUT of u/f.txt and no copy or delete", reqs)
	}
	if code := c.storBig("g.bin.filepart", big); code != 226 {
		t.Fatalf("STOR g.bin.filepart: %d", code)
	}
	c.must("RNFR g.bin.filepart", 350)
	c.must("RNTO g.bin", 250)
	reqs = g.rec.take()
	if count(reqs, "COPY", "DELETE", "DELETE-MULTI", "PUT") != 0 || !slices.Equal(keysOf(reqs, "MPU-COMPLETE"), []string{"u/g.bin"}) {
		t.Errorf("STOR g.bin.filepart + RNTO g.bin: %s, want one completion of u/g.bin and no copy, delete or PUT", reqs)
	}
	c.must("QUIT", 221)
	g.shutdown(t)
	close(stop)
	objs := shared.objects(t, g.bucket)
	if objs["u/f.txt"] != "winscp" || objs["u/g.bin"] != string(big) || len(g.keys(t)) != 2 {
		t.Errorf("bucket after the renames: %d objects, u/f.txt %q, u/g.bin %d bytes", len(objs), objs["u/f.txt"], len(objs["u/g.bin"]))
	}
	for k := range seen() {
		if strings.Contains(k, ".filepart") {
			t.Errorf("the bucket showed the temp name %s", k)
		}
	}
}

// TestTempNamePatternsFlag: the real binary with --temp-name-patterns
// '*.upload' holds x.csv.upload (STOR + RNTO x.csv: one PUT of x.csv, no
// CopyObject or DeleteObject, the temp name never in the bucket), and the
// list replaces the defaults: y.csv.part is stored at once under its
// name and its rename is a copy and a delete. An empty list holds
// nothing, and a pattern without one "*" is refused at start.
func TestTempNamePatternsFlag(t *testing.T) {
	t.Parallel()
	bin := buildBucketftp(t, t.TempDir())
	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	start := func(bucket, endpoint string, patterns string) string {
		t.Helper()
		storage := "s3://" + bucket + "/ftp?" + url.Values{"endpoint": {endpoint}, "region": {"us-east-1"}, "path_style": {"true"}}.Encode()
		logs := &logBuffer{}
		p := startProc(t, logs, "env", "BUCKETFTP_USER=u", "BUCKETFTP_PASSWORD=pw", bin, "serve",
			"--listen", "127.0.0.1:0", "--storage", storage, "--temp-name-patterns="+patterns)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if m := listening.FindStringSubmatch(logs.String()); m != nil {
				return m[1]
			}
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("bucketftp did not start:\n%s", tail(logs.String(), 4000))
			}
		}
	}

	bucket := shared.newBucket(t)
	rec := newS3Recorder(t, shared.endpoint)
	stop := make(chan struct{})
	seen := watchKeys(t, bucket, stop)
	addr := start(bucket, rec.addr, "*.upload")
	c := loginAs(t, addr, "u")
	rec.take()
	if code := c.stor("x.csv.upload", "x,y\n"); code != 226 {
		t.Fatalf("STOR x.csv.upload: %d", code)
	}
	if reqs := rec.take(); count(reqs, "PUT", "PUT-IF-NONE-MATCH", "MPU-CREATE") != 0 {
		t.Errorf("STOR x.csv.upload with --temp-name-patterns '*.upload' wrote before the rename: %s", reqs)
	}
	c.must("SIZE x.csv.upload", 213)
	c.must("RNFR x.csv.upload", 350)
	c.must("RNTO x.csv", 250)
	if reqs := rec.take(); count(reqs, "COPY", "DELETE", "DELETE-MULTI") != 0 || !slices.Equal(keysOf(reqs, "PUT"), []string{"ftp/x.csv"}) {
		t.Errorf("STOR x.csv.upload + RNTO x.csv: %s, want one PUT of ftp/x.csv and no copy or delete", reqs)
	}

	// A default pattern is no longer one.
	if code := c.stor("y.csv.part", "y"); code != 226 {
		t.Fatalf("STOR y.csv.part: %d", code)
	}
	if _, err := shared.client.StatObject(t.Context(), bucket, "ftp/y.csv.part", miniogo.StatObjectOptions{}); err != nil {
		t.Errorf("y.csv.part is not stored at its 226 with --temp-name-patterns '*.upload': %v", err)
	}
	rec.take()
	c.must("RNFR y.csv.part", 350)
	c.must("RNTO y.csv", 250)
	if reqs := rec.take(); count(reqs, "COPY") != 1 || count(reqs, "DELETE", "DELETE-MULTI") != 1 {
		t.Errorf("RNTO of y.csv.part, not a temp name: %s, want a copy and a delete", reqs)
	}
	c.must("QUIT", 221)
	close(stop)
	keys := seen()
	if keys["ftp/x.csv.upload"] {
		t.Error("the bucket showed the temp name ftp/x.csv.upload")
	}
	if !keys["ftp/y.csv.part"] {
		t.Error("the watcher never saw ftp/y.csv.part, which was stored: the listing missed it")
	}
	objs := shared.objects(t, bucket)
	if objs["ftp/x.csv"] != "x,y\n" || objs["ftp/y.csv"] != "y" {
		t.Errorf("ftp/x.csv %q, ftp/y.csv %q", objs["ftp/x.csv"], objs["ftp/y.csv"])
	}

	// Empty: nothing is held.
	bucket2 := shared.newBucket(t)
	c2 := loginAs(t, start(bucket2, shared.endpoint, ""), "u")
	if code := c2.stor(".in.z.csv", "z"); code != 226 {
		t.Fatalf("STOR .in.z.csv: %d", code)
	}
	if _, err := shared.client.StatObject(t.Context(), bucket2, "ftp/.in.z.csv", miniogo.StatObjectOptions{}); err != nil {
		t.Errorf(".in.z.csv is not stored at its 226 with --temp-name-patterns '': %v", err)
	}
	c2.must("QUIT", 221)

	// A pattern without exactly one "*" is refused.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	logs := &logBuffer{}
	p := startProc(t, logs, "env", "BUCKETFTP_USER=u", "BUCKETFTP_PASSWORD=pw", bin, "serve",
		"--listen", "127.0.0.1:0", "--storage", "s3://"+bucket2+"?endpoint="+url.QueryEscape(shared.endpoint)+"&region=us-east-1&path_style=true",
		"--temp-name-patterns", "*.a*")
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatal("bucketftp with --temp-name-patterns '*.a*' did not exit")
	}
	if p.err == nil || !strings.Contains(logs.String(), "--temp-name-patterns") {
		t.Errorf("bucketftp with --temp-name-patterns '*.a*': %v\n%s", p.err, tail(logs.String(), 2000))
	}
}

// TestTempNameHeldWithinMemoryBudget: small held uploads count against
// memory_budget until they are published; one that finds no room is
// stored under its temp name at once, as without holding, and its rename
// is the copy any rename is. (Held bytes were copied out of the budget,
// so sessions holding files could take memory without bound.)
func TestTempNameHeldWithinMemoryBudget(t *testing.T) {
	t.Parallel()
	const part = 5 << 20
	g := newHeldRig(t, 5*time.Minute, func(c *s3store.Config) { c.MemoryBudget = part + 12<<10 })
	c := loginAs(t, g.addr, "u")
	eight := strings.Repeat("8", 8<<10)
	if code := c.stor("a.csv.part", eight); code != 226 {
		t.Fatalf("STOR a.csv.part: %d", code)
	}
	if code := c.stor("b.csv.part", eight); code != 226 {
		t.Fatalf("STOR b.csv.part: %d", code)
	}
	objs := shared.objects(t, g.bucket)
	if _, ok := objs["u/a.csv.part"]; ok {
		t.Errorf("the first small upload (within the budget) was stored, not held")
	}
	if objs["u/b.csv.part"] != eight {
		t.Errorf("the second small upload (no room in the budget): %d bytes under its temp name, want it stored at once", len(objs["u/b.csv.part"]))
	}
	c.must("RNFR a.csv.part", 350)
	c.must("RNTO a.csv", 250)
	c.must("RNFR b.csv.part", 350)
	c.must("RNTO b.csv", 250)
	// a.csv's bytes went back to the budget: the next one is held again.
	if code := c.stor("c.csv.part", eight); code != 226 {
		t.Fatalf("STOR c.csv.part: %d", code)
	}
	objs = shared.objects(t, g.bucket)
	if _, ok := objs["u/c.csv.part"]; ok {
		t.Errorf("an upload after the held one was published was stored, not held")
	}
	c.must("QUIT", 221)
	g.shutdown(t)
	objs = shared.objects(t, g.bucket)
	for k, v := range map[string]string{"u/a.csv": eight, "u/b.csv": eight, "u/c.csv.part": eight} {
		if objs[k] != v {
			t.Errorf("%s: %d bytes, want %d", k, len(objs[k]), len(v))
		}
	}
	for _, k := range []string{"u/a.csv.part", "u/b.csv.part"} {
		if _, ok := objs[k]; ok {
			t.Errorf("%s left after its rename", k)
		}
	}
}
