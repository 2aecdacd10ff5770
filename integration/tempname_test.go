package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/auth"
	ftpserver "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// eventLog is an ftp.EventSink that keeps the events.
type eventLog struct {
	mu sync.Mutex
	ev []ftpserver.Event
}

func (l *eventLog) Emit(_ context.Context, e ftpserver.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, e)
	return nil
}

// of returns the events of type typ recorded so far.
func (l *eventLog) of(typ string) []ftpserver.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ftpserver.Event
	for _, e := range l.ev {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.ev {
		out = append(out, e.Type+" "+e.Path)
	}
	l.ev = nil
	return out
}

// startFTPHeld serves store over FTP for user "u" (home /u, password "pw")
// with events recorded in log and the given hold time.
func startFTPHeld(t *testing.T, store *s3store.Store, log *eventLog, hold time.Duration) string {
	t.Helper()
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	us := auth.NewStore(auth.StoreConfig{Backend: store})
	if err := us.SetUsers([]auth.User{{Name: "u", Home: "/u", PasswordHash: h}}); err != nil {
		t.Fatal(err)
	}
	addr, _ := serveFTP(t, ftpserver.Config{Auth: us, Storage: store, Events: log, TempNameHold: hold})
	return addr
}

// watchKeys lists the bucket with minio-go until stop is closed and
// returns every key it ever saw.
func watchKeys(t *testing.T, bucket string, stop <-chan struct{}) func() map[string]bool {
	t.Helper()
	mc, err := newMinioClient(strings.TrimPrefix(shared.endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for o := range mc.ListObjects(context.Background(), bucket, miniogo.ListObjectsOptions{Recursive: true}) {
				if o.Err == nil {
					seen[o.Key] = true
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() map[string]bool { <-done; return seen }
}

// TestTempNameUploadNoCopy: an upload to a temp name renamed into place
// costs no CopyObject and no DeleteObject, below one part (one PUT at the
// rename) and above (the multipart upload completed at the rename), by
// raw commands, lftp's put and mirror -R with xfer:use-temp-file; the temp
// name never appears in the bucket (listed with minio-go all along), the
// session sees the held file (SIZE, LIST, MDTM, MFMT), another session
// does not, and the one upload event is for the final name. A temp-name
// upload not renamed is published under its name when the session ends
// or the hold time passes, and DELE discards it.
func TestTempNameUploadNoCopy(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	rec := newS3Recorder(t, shared.endpoint)
	viaRec := *shared
	viaRec.endpoint = rec.addr
	store := viaRec.newStore(t, bucket, "", func(c *s3store.Config) { c.PartSize = 5 << 20 })
	log := &eventLog{}
	addr := startFTPHeld(t, store, log, 3*time.Second)

	stop := make(chan struct{})
	seen := watchKeys(t, bucket, stop)
	big := make([]byte, 12<<20) // three parts
	rand.Read(big)

	c := loginAs(t, addr, "u")
	rec.take()
	log.take()
	// Small: kept and PUT once at the rename.
	if code := c.stor(".in.a.csv", "a,b\n1,2\n"); code != 226 {
		t.Fatalf("STOR .in.a.csv: %d", code)
	}
	if reqs := rec.take(); count(reqs, "PUT", "PUT-IF-NONE-MATCH", "MPU-CREATE") != 0 {
		t.Errorf("a held small upload wrote before its rename: %s", reqs)
	}
	c.must("SIZE .in.a.csv", 213)
	c.must("MDTM .in.a.csv", 213)
	other := loginAs(t, addr, "u")
	other.must("SIZE .in.a.csv", 550)
	c.must("RNFR .in.a.csv", 350)
	c.must("RNTO a.csv", 250)
	reqs := rec.take()
	if n := count(reqs, "COPY", "DELETE", "DELETE-MULTI"); n != 0 || count(reqs, "PUT") != 1 {
		t.Errorf("STOR .in.a.csv + RNFR + RNTO a.csv: %s, want one PUT, no copy or delete", reqs)
	}
	// The PUT carried the CRC32 for the store to check and the checksums
	// computed as the data streamed in, as any upload's.
	info, err := shared.client.StatObject(t.Context(), bucket, "u/a.csv", miniogo.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.ChecksumCRC32 != b64crc([]byte("a,b\n1,2\n")) || info.UserMetadata["Bucketftp-Sha256"] != sha([]byte("a,b\n1,2\n")) {
		t.Errorf("held small upload: CRC32 %q, metadata %v; want its CRC32 and sha256", info.ChecksumCRC32, info.UserMetadata)
	}
	// MFMT on a held file: kept, and set once it is published.
	if code := c.stor(".in.t.csv", "t"); code != 226 {
		t.Fatalf("STOR .in.t.csv: %d", code)
	}
	c.must("MFMT 20200102030405 .in.t.csv", 213)
	if _, text := mdtm(c, ".in.t.csv"); !strings.Contains(text, "20200102030405") {
		t.Errorf("MDTM of the held file after MFMT: %s", text)
	}
	c.must("RNFR .in.t.csv", 350)
	c.must("RNTO t.csv", 250)
	if _, text := mdtm(c, "t.csv"); !strings.Contains(text, "20200102030405") {
		t.Errorf("MFMT on the held file was not kept: MDTM t.csv: %s", text)
	}

	// Large: the multipart upload is made under the final key and
	// completed at the rename.
	d := c.pasv()
	c.must("STOR b.bin.part", 150, 125)
	if _, err := d.Write(big); err != nil {
		t.Fatal(err)
	}
	d.Close()
	c.expect(226)
	c.must("SIZE b.bin.part", 213)
	if text := c.list("b.bin.part"); !strings.Contains(text, fmt.Sprint(len(big))) {
		t.Errorf("LIST of the held file: %q", text)
	}
	other.must("SIZE b.bin.part", 550)
	rec.take()
	c.must("RNFR b.bin.part", 350)
	c.must("RNTO b.bin", 250)
	reqs = rec.take()
	if n := count(reqs, "COPY", "DELETE", "DELETE-MULTI", "PUT"); n != 0 || count(reqs, "MPU-COMPLETE") != 1 {
		t.Errorf("RNTO of a held multipart upload: %s, want one completion and no copy, delete or PUT", reqs)
	}
	if tags, err := shared.client.GetObjectTagging(t.Context(), bucket, "u/b.bin", miniogo.GetObjectTaggingOptions{}); err != nil || tags.ToMap()["bucketftp-sha256"] != sha(big) {
		t.Errorf("held multipart upload's sha256 tag: %v (%v), want %s", tags, err, sha(big))
	}

	// Not renamed: published under the temp name when the session ends.
	if code := c.stor("c.txt.tmp", "c"); code != 226 {
		t.Fatalf("STOR c.txt.tmp: %d", code)
	}
	if code := c.stor("gone.tmp", "g"); code != 226 {
		t.Fatalf("STOR gone.tmp: %d", code)
	}
	c.must("DELE gone.tmp", 250)
	c.must("QUIT", 221)
	waitFor(t, "c.txt.tmp published at the session's end", func() bool { return shared.objects(t, bucket)["u/c.txt.tmp"] == "c" })
	// Not renamed in time: published under the temp name.
	if code := other.stor("d.txt.partial", "d"); code != 226 {
		t.Fatalf("STOR d.txt.partial: %d", code)
	}
	waitFor(t, "d.txt.partial published after the hold time", func() bool { return shared.objects(t, bucket)["u/d.txt.partial"] == "d" })

	// lftp with its temp names: put and mirror -R.
	dir := t.TempDir()
	src := filepath.Join(dir, "up")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "one.bin"), big, 0o644)
	os.WriteFile(filepath.Join(src, "m1.txt"), []byte("m1"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "m2.bin"), big[:7<<20], 0o644)
	rec.take()
	lftp(t, addr, "put "+filepath.Join(dir, "one.bin"))
	lftp(t, addr, "mirror -R "+src+" up")
	reqs = rec.take()
	// lftp sets each file's time after the rename (MFMT): an index entry
	// (PUT .bucketftp-mtimes/), as without temp names. Neither the rename
	// nor the MFMT copies anything.
	mfmt := 0
	for _, r := range reqs {
		if r.Kind == "PUT" && strings.Contains(r.Key, ".bucketftp-mtimes/") {
			mfmt++
		}
	}
	if n := count(reqs, "COPY"); n != 0 || count(reqs, "DELETE", "DELETE-MULTI") != 0 || mfmt != 3 {
		t.Errorf("lftp put and mirror -R with xfer:use-temp-file: %d copies and %d MFMT entries (%s), want no copy, 3 entries and no delete", n, mfmt, reqs)
	}
	close(stop)

	objs := shared.objects(t, bucket)
	want := map[string]int{"u/a.csv": 8, "u/t.csv": 1, "u/b.bin": len(big), "u/one.bin": len(big), "u/up/m1.txt": 2, "u/up/sub/m2.bin": 7 << 20, "u/c.txt.tmp": 1, "u/d.txt.partial": 1}
	for k, n := range want {
		if len(objs[k]) != n {
			t.Errorf("%s: %d bytes, want %d", k, len(objs[k]), n)
		}
	}
	if objs["u/b.bin"] != string(big) || objs["u/one.bin"] != string(big) {
		t.Error("a held large upload's content differs from what was sent")
	}
	for k := range seen() {
		if strings.Contains(k, ".in.") || strings.HasSuffix(k, ".part") || strings.Contains(k, "gone") {
			t.Errorf("the bucket showed the temp name %s", k)
		}
	}
	for k := range objs {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, ".bucketftp/") && !strings.Contains(k, ".bucketftp-mtimes/") && !strings.HasSuffix(k, "/") {
			t.Errorf("unexpected object %s", k)
		}
	}
	// Each names the final object and carries the upload's SHA-256.
	for _, e := range log.of(ftpserver.EventUploadCompleted) {
		if e.Key != strings.TrimPrefix(e.Path, "/") || e.Checksums["sha256"] == "" {
			t.Errorf("upload.completed %s: key %q, checksums %v; want key %s and a sha256", e.Path, e.Key, e.Checksums, strings.TrimPrefix(e.Path, "/"))
		}
	}
	evs := strings.Join(log.take(), "\n")
	// Event paths are the user's names joined with their home, /u.
	for _, e := range []string{"/u/a.csv", "/u/t.csv", "/u/b.bin", "/u/c.txt.tmp", "/u/d.txt.partial", "/u/one.bin", "/u/up/m1.txt", "/u/up/sub/m2.bin"} {
		if n := strings.Count(evs+"\n", "upload.completed "+e+"\n"); n != 1 {
			t.Errorf("%d events upload.completed %s, want 1, in:\n%s", n, e, evs)
		}
	}
	for _, bad := range []string{".in.", ".part\n", "renamed", "upload.completed /u/gone.tmp"} {
		if strings.Contains(evs+"\n", bad) {
			t.Errorf("an event names %q:\n%s", bad, evs)
		}
	}
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
}

func mdtm(c *rawFTP, name string) (int, string) {
	fmt.Fprintf(c.c, "MDTM %s\r\n", name)
	return c.reply()
}

// list is LIST name over a passive data connection.
func (r *rawFTP) list(name string) string {
	r.t.Helper()
	d := r.pasv()
	r.must("LIST "+name, 150, 125)
	b, _ := io.ReadAll(d)
	r.expect(226)
	return string(b)
}

// lftp runs one lftp command as user u with xfer:use-temp-file on.
func lftp(t *testing.T, addr, cmd string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	script := fmt.Sprintf("set xfer:use-temp-file yes; set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; open -u u,pw -p %s ftp://%s; %s", port, host, cmd)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "lftp", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("lftp %s: %v\n%s", cmd, err, out)
	}
	return string(out)
}

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
