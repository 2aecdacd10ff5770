package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/auth"
	ftpserver "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// resumePart is the part size of the resume tests: S3's smallest.
const resumePart = 5 << 20

// resumeReplica is one server on the test's bucket, with its own store
// (nothing shared with the other but the bucket) behind a request
// recorder.
type resumeReplica struct {
	addr  string
	rec   *s3Recorder
	store *s3store.Store
	srv   *ftpserver.Server
}

// startResumeReplica serves the bucket's prefix "p" with users u and v
// (password "pw", both at home /in) and a short stall timeout, so a client
// that stops sending is cut off after a second.
func startResumeReplica(t *testing.T, bucket string, tune ...func(*s3store.Config)) *resumeReplica {
	return startResumeReplicaStall(t, bucket, time.Second, tune...)
}

func startResumeReplicaStall(t *testing.T, bucket string, stall time.Duration, tune ...func(*s3store.Config)) *resumeReplica {
	t.Helper()
	rec := newS3Recorder(t, shared.endpoint)
	store := shared.newStore(t, bucket, "p", append([]func(*s3store.Config){func(c *s3store.Config) {
		c.Endpoint = rec.addr
		c.PartSize = resumePart
		c.Timeout = 30 * time.Second
		c.DirCacheTTL = 500 * time.Millisecond
	}}, tune...)...)
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	us := auth.NewStore(auth.StoreConfig{Backend: store, Logger: slog.New(slog.DiscardHandler)})
	if err := us.SetUsers([]auth.User{
		{Name: "u", PasswordHash: h, Home: "/in"},
		{Name: "v", PasswordHash: h, Home: "/in"},
		// A write-only drop box with a quota: no overwrite, no delete.
		{Name: "w", PasswordHash: h, Home: "/in", QuotaBytes: 64 << 20, Permissions: []string{"write", "list"}},
		// A drop box: write alone.
		{Name: "d", PasswordHash: h, Home: "/drop", Permissions: []string{"write"}},
		// A quota of five parts, for the room kept uploads take.
		{Name: "x", PasswordHash: h, Home: "/quota", QuotaBytes: 5 * resumePart},
	}); err != nil {
		t.Fatal(err)
	}
	addr, srv := serveFTP(t, ftpserver.Config{Auth: us, Storage: store, StallTimeout: stall, LoginFailDelay: time.Millisecond})
	return &resumeReplica{addr: addr, rec: rec, store: store, srv: srv}
}

// interruptedStor sends the first n bytes of data as STOR name and then
// stops sending without closing, as a client whose network went away:
// the server cuts the transfer at its stall timeout. It returns the reply.
func interruptedStor(t *testing.T, addr, name string, data []byte, n int) int {
	t.Helper()
	return interruptedStorAs(t, addr, "u", name, data, n)
}

func interruptedStorAs(t *testing.T, addr, user, name string, data []byte, n int) int {
	t.Helper()
	c := loginAs(t, addr, user)
	d := c.pasv()
	c.must("STOR "+name, 150, 125)
	d.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := d.Write(data[:n]); err != nil {
		t.Fatal(err)
	}
	code, _ := c.reply() // after the stall timeout
	d.Close()
	c.must("QUIT", 221)
	return code
}

func partBytes(reqs []s3Request) int64 {
	var n int64
	for _, r := range reqs {
		if r.Kind == "MPU-PART" {
			n += r.Size
		}
	}
	return n
}

func sizeOf(t *testing.T, c *rawFTP, name string) (int, int64) {
	t.Helper()
	code, text := c.cmdText("SIZE " + name)
	if code != 213 {
		return code, -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(text, "213")), 10, 64)
	if err != nil {
		t.Fatalf("SIZE reply %q", text)
	}
	return code, n
}

// pendingRecords lists the resume records in the bucket.
func pendingRecords(t *testing.T, bucket string) []string {
	t.Helper()
	var out []string
	for o := range shared.client.ListObjects(t.Context(), bucket, miniogo.ListObjectsOptions{Prefix: "p/.bucketftp/resume/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	return out
}

// checkWhole checks that the object at key holds data: by SHA-256 of its
// bytes read with minio-go, and by the store's full-object CRC32.
func checkWhole(t *testing.T, bucket, key string, data []byte) {
	t.Helper()
	obj, err := shared.client.GetObject(t.Context(), bucket, key, miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, obj)
	obj.Close()
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	want := sha256.Sum256(data)
	if got := hex.EncodeToString(h.Sum(nil)); n != int64(len(data)) || got != hex.EncodeToString(want[:]) {
		t.Fatalf("%s: %d bytes, sha256 %s; want %d bytes, %x", key, n, got, len(data), want)
	}
	info, err := shared.client.StatObject(t.Context(), bucket, key, miniogo.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.ChecksumCRC32, b64crc(data); got != want {
		t.Errorf("%s: store's CRC32 %q, want the whole object's %q", key, got, want)
	}
}

// TestResumeInterruptedUpload: an upload cut off after some parts keeps
// its whole parts, invisible to the bucket and to other users, and its
// owner continues it from another server (its own store, nothing shared
// but the bucket) by REST + STOR: only the missing bytes are sent and
// the object is whole. Then each real client's resume does the same:
// curl -C - (SIZE, APPE), lftp reput (SIZE, REST + STOR), Python ftplib
// storbinary with rest (as FileZilla and WinSCP: SIZE, REST + STOR).
func TestResumeInterruptedUpload(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	a := startResumeReplica(t, bucket)
	b := startResumeReplica(t, bucket)
	data, _ := io.ReadAll(io.LimitReader(patterned(23<<20), 23<<20))
	const sent = 13 << 20 // two whole parts and 3 MiB of the third
	const kept = 2 * resumePart

	t.Run("raw", func(t *testing.T) {
		if code := interruptedStor(t, a.addr, "big.bin", data, sent); code != 426 {
			t.Fatalf("interrupted STOR: %d, want 426", code)
		}
		if objs := shared.objects(t, bucket); objs["p/in/big.bin"] != "" {
			t.Fatal("the interrupted upload is visible in the bucket")
		}
		if n := shared.openUploads(t, bucket); n != 1 {
			t.Fatalf("%d open uploads, want the interrupted one kept", n)
		}
		if recs := pendingRecords(t, bucket); len(recs) != 1 {
			t.Fatalf("resume records %v, want one", recs)
		}

		// The owner, on the other server, sees the stored length.
		u := loginAs(t, b.addr, "u")
		if _, n := sizeOf(t, u, "big.bin"); n != kept {
			t.Fatalf("SIZE for the owner: %d, want %d", n, kept)
		}
		if code, text := u.cmdText("MLST big.bin"); code != 250 || !strings.Contains(text, "size="+strconv.Itoa(kept)+";") {
			t.Fatalf("MLST for the owner: %q", text)
		}
		if l := u.list(""); !strings.Contains(l, strconv.Itoa(kept)) || !strings.Contains(l, "big.bin") {
			t.Fatalf("LIST for the owner: %q", l)
		}
		// Another user of the same directory sees nothing.
		v := loginAs(t, b.addr, "v")
		if code, _ := sizeOf(t, v, "big.bin"); code != 550 {
			t.Fatalf("SIZE for another user: %d, want 550", code)
		}
		if l := v.list(""); strings.Contains(l, "big.bin") {
			t.Fatalf("LIST for another user shows the pending upload: %q", l)
		}
		// RETR of it is refused: it is not a file yet.
		if code, _ := v.cmdText("RETR big.bin"); code < 400 {
			t.Fatalf("RETR by another user: %d", code)
		}

		// A restart offset inside a part is refused; at the stored length
		// it continues.
		b.rec.take()
		u.must("REST "+strconv.Itoa(kept), 350)
		if code, text := u.storFrom("big.bin", bytes.NewReader(data[kept:])); code != 226 {
			t.Fatalf("resumed STOR: %q", text)
		}
		reqs := b.rec.take()
		if got := partBytes(reqs); got != int64(len(data)-kept) {
			t.Errorf("the continuation sent %d bytes in parts, want only the missing %d", got, len(data)-kept)
		}
		if n := count(reqs, "MPU-CREATE"); n != 0 {
			t.Errorf("the continuation created %d uploads, want it to continue the kept one", n)
		}
		checkWhole(t, bucket, "p/in/big.bin", data)
		// The checksums computed as the data streamed in, across both
		// sessions, are the whole file's: recorded as its tag, and HASH
		// answers from it.
		wantSum := sha(data)
		tags, err := shared.client.GetObjectTagging(t.Context(), bucket, "p/in/big.bin", miniogo.GetObjectTaggingOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := tags.ToMap()["bucketftp-sha256"]; got != wantSum {
			t.Errorf("the resumed object's sha256 tag %q, want the whole file's %s", got, wantSum)
		}
		if got, want := tags.ToMap()["bucketftp-crc32"], fmt.Sprintf("%08x", crc32.ChecksumIEEE(data)); got != want || tags.ToMap()["bucketftp-state"] == "" {
			t.Errorf("the resumed object's tags %v, want crc32 %s and an end state", tags.ToMap(), want)
		}
		b.rec.take()
		if code, text := u.cmdText("XSHA256 big.bin"); code != 250 || !strings.Contains(text, wantSum) {
			t.Errorf("XSHA256 of the resumed file: %q, want %s", text, wantSum)
		}
		for _, r := range b.rec.take() {
			if r.Kind == "GET" && r.Key == "p/in/big.bin" {
				t.Errorf("HASH read the object: %v", r)
			}
		}
		if n := shared.openUploads(t, bucket); n != 0 {
			t.Errorf("%d open uploads after completion", n)
		}
		if recs := pendingRecords(t, bucket); len(recs) != 0 {
			t.Errorf("resume records left: %v", recs)
		}
		if _, n := sizeOf(t, v, "big.bin"); n != int64(len(data)) {
			t.Errorf("SIZE for another user after completion: %d", n)
		}
	})

	t.Run("refusals and discards", func(t *testing.T) {
		interruptedStor(t, a.addr, "d.bin", data, sent)
		u := loginAs(t, b.addr, "u")
		u.must("REST 1000", 350)
		if code, _ := u.storFrom("d.bin", bytes.NewReader(data[1000:])); code != 554 {
			t.Fatalf("REST inside a part: %d, want 554", code)
		}
		if _, n := sizeOf(t, u, "d.bin"); n != kept {
			t.Fatalf("after the refused continuation SIZE %d, want %d kept", n, kept)
		}
		u.must("DELE d.bin", 250)
		if code, _ := sizeOf(t, u, "d.bin"); code != 550 {
			t.Fatalf("SIZE after DELE: %d", code)
		}
		// A file the owner renames onto the path replaces the
		// interrupted upload, which a DELE of that file then does not
		// bring back.
		interruptedStor(t, a.addr, "r.bin", data, sent)
		if _, n := sizeOf(t, u, "r.bin"); n != kept {
			t.Fatalf("SIZE of the interrupted upload: %d, want %d", n, kept)
		}
		if code := u.stor("src.txt", "renamed"); code != 226 {
			t.Fatalf("STOR src.txt: %d", code)
		}
		u.must("RNFR src.txt", 350)
		u.must("RNTO r.bin", 250)
		if _, n := sizeOf(t, u, "r.bin"); n != 7 {
			t.Fatalf("SIZE after the rename onto it: %d, want the renamed file's 7", n)
		}
		if n := shared.openUploads(t, bucket); n != 0 {
			t.Errorf("%d open uploads after the rename onto the interrupted upload", n)
		}
		u.must("DELE r.bin", 250)
		if code, n := sizeOf(t, u, "r.bin"); code != 550 {
			t.Fatalf("SIZE after deleting the renamed file: %d %d, want 550", code, n)
		}
		// A plain STOR replaces an interrupted upload: a large one at
		// once.
		interruptedStor(t, a.addr, "s.bin", data, sent)
		if code, text := u.storFrom("s.bin", bytes.NewReader(data[:6<<20])); code != 226 {
			t.Fatalf("plain STOR: %q", text)
		}
		if _, n := sizeOf(t, u, "s.bin"); n != 6<<20 {
			t.Fatalf("SIZE after a plain STOR: %d", n)
		}
		if n := shared.openUploads(t, bucket); n != 0 {
			t.Errorf("%d open uploads after DELE and STOR", n)
		}
		// A small one from a server that has not seen the interrupted
		// upload yet: its next look at the user's records (a listing
		// after the cache time) finds the file newer and discards it.
		interruptedStor(t, a.addr, "s.bin", data, sent)
		if code := u.stor("s.bin", "new"); code != 226 {
			t.Fatalf("small plain STOR: %d", code)
		}
		if _, n := sizeOf(t, u, "s.bin"); n != 3 {
			t.Fatalf("SIZE after a small plain STOR: %d", n)
		}
		waitFor(t, "the replaced upload discarded", func() bool {
			u.list("")
			return shared.openUploads(t, bucket) == 0
		})
		if recs := pendingRecords(t, bucket); len(recs) != 0 {
			t.Errorf("resume records left: %v", recs)
		}
	})

	t.Run("write-only with a quota", func(t *testing.T) {
		interruptedStorAs(t, a.addr, "w", "q.bin", data, sent)
		w := loginAs(t, b.addr, "w")
		if _, n := sizeOf(t, w, "q.bin"); n != kept {
			t.Fatalf("SIZE for a write-only owner: %d", n)
		}
		// Without overwrite, a fresh STOR of it is allowed (nothing is
		// replaced), and so is the continuation.
		w.must("REST "+strconv.Itoa(kept), 350)
		if code, text := w.storFrom("q.bin", bytes.NewReader(data[kept:])); code != 226 {
			t.Fatalf("resumed STOR without overwrite: %q", text)
		}
		checkWhole(t, bucket, "p/in/q.bin", data)
		// Starting afresh is no overwrite either: a plain STOR replaces
		// the user's own interrupted upload.
		interruptedStorAs(t, a.addr, "w", "q2.bin", data, sent)
		if code := w.stor("q2.bin", "new"); code != 226 {
			t.Fatalf("plain STOR over an interrupted upload without overwrite: %d", code)
		}
		// The quota counts the whole file once (and the home's other
		// files: big.bin, s.bin's 3 bytes and q2.bin's).
		_, text := w.cmdText("AVBL")
		if want := strconv.Itoa(64<<20 - 2*len(data) - 6); !strings.Contains(text, want) {
			t.Errorf("AVBL after the resumed upload: %q, want %s bytes left", text, want)
		}
	})

	t.Run("drop box resumes", func(t *testing.T) {
		// Write alone: SIZE answers the length of the user's own
		// interrupted upload (what curl -C - and lftp reput ask before
		// resuming), and the same refusal for everything else.
		interruptedStorAs(t, a.addr, "d", "d.bin", data, sent)
		d := loginAs(t, b.addr, "d")
		if _, n := sizeOf(t, d, "d.bin"); n != kept {
			t.Fatalf("SIZE of the drop box's interrupted upload: %d, want %d", n, kept)
		}
		if code := d.stor("other.bin", "x"); code != 226 {
			t.Fatalf("STOR other.bin: %d", code)
		}
		for _, name := range []string{"other.bin", "missing.bin"} {
			if code, text := d.cmdText("SIZE " + name); code != 550 || !strings.Contains(text, "Permission denied") {
				t.Errorf("SIZE %s by a drop box: %q", name, text)
			}
		}
		// curl -C -'s resume: APPE after SIZE sends only the rest.
		b.rec.take()
		if code, text := d.sendFrom("APPE", "d.bin", bytes.NewReader(data[kept:])); code != 226 {
			t.Fatalf("the drop box's APPE: %q", text)
		}
		if got := partBytes(b.rec.take()); got != int64(len(data)-kept) {
			t.Errorf("the continuation sent %d bytes in parts, want only the missing %d", got, len(data)-kept)
		}
		checkWhole(t, bucket, "p/drop/d.bin", data)
		if code, _ := sizeOf(t, d, "d.bin"); code != 550 {
			t.Errorf("SIZE of the completed file by a drop box: %d, want 550", code)
		}
	})

	t.Run("kept uploads count in the quota", func(t *testing.T) {
		avbl := func(x *rawFTP, want int) {
			t.Helper()
			if _, text := x.cmdText("AVBL"); !strings.HasPrefix(text, "213 "+strconv.Itoa(want)) {
				t.Errorf("AVBL: %q, want %d bytes left", text, want)
			}
		}
		// Two uploads cut off keep two parts each (10 MiB of 25).
		for _, name := range []string{"cut0.bin", "cut1.bin"} {
			interruptedStorAs(t, a.addr, "x", name, data, sent)
		}
		x := loginAs(t, b.addr, "x")
		avbl(x, 5*resumePart-2*kept)
		// A third upload gets the quota's 552 beyond the room they
		// leave, and keeps nothing.
		if code, text := x.storFrom("cut2.bin", bytes.NewReader(data[:6<<20])); code != 552 {
			t.Fatalf("an upload beyond the room the kept ones leave: %q, want 552", text)
		}
		if code, _ := sizeOf(t, x, "cut2.bin"); code != 550 {
			t.Errorf("SIZE cut2.bin after the refusal: %d, want 550", code)
		}
		if n := shared.openUploads(t, bucket); n != 2 {
			t.Errorf("%d open uploads, want the two kept ones", n)
		}
		// Discarding one gives its room back; continuing the other counts
		// its kept parts once.
		x.must("DELE cut1.bin", 250)
		avbl(x, 5*resumePart-kept)
		x.must("REST "+strconv.Itoa(kept), 350)
		if code, text := x.storFrom("cut0.bin", bytes.NewReader(data[kept:])); code != 226 {
			t.Fatalf("continuing within the room: %q", text)
		}
		checkWhole(t, bucket, "p/quota/cut0.bin", data)
		avbl(x, 5*resumePart-len(data))
		x.must("DELE cut0.bin", 250)
	})

	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(b.addr)
	clients := []struct {
		name string
		cmd  func(ctx context.Context, file string) *exec.Cmd
	}{
		{"curl", func(ctx context.Context, file string) *exec.Cmd {
			return exec.CommandContext(ctx, "curl", "-sS", "--ftp-pasv", "-C", "-", "-T", src,
				fmt.Sprintf("ftp://u:pw@%s:%s/%s", host, port, file))
		}},
		{"lftp", func(ctx context.Context, file string) *exec.Cmd {
			return exec.CommandContext(ctx, "lftp", "-c", fmt.Sprintf(
				"set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; open -u u,pw -p %s ftp://%s; reput %s -o %s", port, host, src, file))
		}},
		{"ftplib", func(ctx context.Context, file string) *exec.Cmd {
			return exec.CommandContext(ctx, "python3", "-c", fmt.Sprintf(`
import ftplib
f = ftplib.FTP()
f.connect(%q, %s, timeout=30)
f.login("u", "pw")
f.voidcmd("TYPE I")
off = f.size(%q)
with open(%q, "rb") as src:
    src.seek(off)
    f.storbinary("STOR %s", src, rest=off)
f.quit()
`, host, port, file, src, file))
		}},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			if _, err := exec.LookPath(cl.cmd(t.Context(), "x").Path); err != nil {
				t.Skipf("%s not installed", cl.name)
			}
			file := "c-" + cl.name + ".bin"
			interruptedStor(t, a.addr, file, data, sent)
			b.rec.take()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := cl.cmd(ctx, file)
			cmd.Env = append(os.Environ(), "HOME="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cl.name, err, out)
			}
			if got := partBytes(b.rec.take()); got != int64(len(data)-kept) {
				t.Errorf("%s's resume sent %d bytes in parts, want only the missing %d", cl.name, got, len(data)-kept)
			}
			checkWhole(t, bucket, "p/in/"+file, data)
		})
	}
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Errorf("%d open uploads at the end", n)
	}
	if recs := pendingRecords(t, bucket); len(recs) != 0 {
		t.Errorf("resume records left: %v", recs)
	}
}

// TestResumeWindowCleanup: the periodic cleanup keeps an interrupted
// upload within its resume window, however old the upload, and aborts it
// (and deletes its record) once the window has passed. With resuming off,
// an interrupted upload is aborted at once, as any failed one.
func TestResumeWindowCleanup(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	a := startResumeReplica(t, bucket)
	data, _ := io.ReadAll(io.LimitReader(patterned(12<<20), 12<<20))
	interruptedStor(t, a.addr, "w.bin", data, len(data))
	if n := shared.openUploads(t, bucket); n != 1 {
		t.Fatalf("%d open uploads, want 1 kept", n)
	}
	// Older than the stale age (0), within the window: kept.
	if n, err := a.store.AbortStaleUploads(t.Context(), 0); err != nil || n != 0 {
		t.Fatalf("cleanup within the window aborted %d (%v)", n, err)
	}
	if n := shared.openUploads(t, bucket); n != 1 {
		t.Fatalf("%d open uploads after the cleanup, want 1", n)
	}
	// Another server whose window is shorter than the record's age.
	short := shared.newStore(t, bucket, "p", func(c *s3store.Config) { c.ResumeWindow = time.Millisecond })
	waitFor(t, "the window to pass", func() bool {
		n, err := short.AbortStaleUploads(t.Context(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Errorf("%d open uploads after the window", n)
	}
	if recs := pendingRecords(t, bucket); len(recs) != 0 {
		t.Errorf("resume records left: %v", recs)
	}

	off := startResumeReplica(t, bucket, func(c *s3store.Config) { c.ResumeWindow = -1 })
	interruptedStor(t, off.addr, "x.bin", data, len(data))
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Errorf("with resuming off: %d open uploads", n)
	}
}

// TestResumeAfterShutdown: an upload still running when the server's
// shutdown grace period ends keeps its stored parts, and the client
// continues it on another server from the size SIZE reports.
func TestResumeAfterShutdown(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	a := startResumeReplicaStall(t, bucket, time.Minute)
	b := startResumeReplica(t, bucket)
	data, _ := io.ReadAll(io.LimitReader(patterned(20<<20), 20<<20))

	c := loginAs(t, a.addr, "u")
	d := c.pasv()
	c.must("STOR sd.bin", 150, 125)
	d.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := d.Write(data[:12<<20]); err != nil {
		t.Fatal(err)
	}
	// Two parts are stored (the store has answered both); the client
	// sends no more.
	waitFor(t, "two parts stored", func() bool { return a.rec.answeredCount("MPU-PART") >= 2 })
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_ = a.srv.Shutdown(ctx) // the grace period ends with the upload running
	d.Close()

	u := loginAs(t, b.addr, "u")
	_, n := sizeOf(t, u, "sd.bin")
	if n <= 0 || n%resumePart != 0 || n > 2*resumePart {
		t.Fatalf("SIZE after the shutdown: %d, want whole parts kept", n)
	}
	u.must("REST "+strconv.FormatInt(n, 10), 350)
	if code, text := u.storFrom("sd.bin", bytes.NewReader(data[n:])); code != 226 {
		t.Fatalf("resumed STOR: %q", text)
	}
	checkWhole(t, bucket, "p/in/sd.bin", data)
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Errorf("%d open uploads", n)
	}
}
