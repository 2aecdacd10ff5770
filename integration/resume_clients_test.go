package integration

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
)

// The tests here cut uploads the ways clients really go away (killed,
// data connection reset, control connection closed, ABOR) rather than by
// stopping sending, and cut continuations too. Their servers' stall
// timeout is long, so the cut a test makes is the only one.
const rcStall = 30 * time.Second

// rcVisible reports whether the bucket has an object at key.
func rcVisible(t *testing.T, bucket, key string) bool {
	t.Helper()
	_, err := shared.client.StatObject(t.Context(), bucket, key, miniogo.StatObjectOptions{})
	return err == nil
}

// rcKept checks that the upload of name (in /in) was kept
// for resuming: invisible in the bucket, one open upload, one record.
func rcKept(t *testing.T, bucket, name string) {
	t.Helper()
	if rcVisible(t, bucket, "p/in/"+name) {
		t.Fatalf("the interrupted upload of %s is visible in the bucket", name)
	}
	if n := shared.openUploads(t, bucket); n != 1 {
		t.Fatalf("%d open uploads, want the interrupted one kept", n)
	}
	if recs := pendingRecords(t, bucket); len(recs) != 1 {
		t.Fatalf("resume records %v, want one", recs)
	}
}

// rcDone checks that nothing of an upload waits any more: no record, no
// open multipart upload.
func rcDone(t *testing.T, bucket string) {
	t.Helper()
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Errorf("%d open uploads at the end", n)
	}
	if recs := pendingRecords(t, bucket); len(recs) != 0 {
		t.Errorf("resume records left: %v", recs)
	}
}

// rcKilled runs a real client's upload through r and SIGKILLs it once the
// store has answered two of its parts. The client must not finish first:
// its source (a pipe left open) or its rate limit sees to that.
func rcKilled(t *testing.T, r *resumeReplica, cmd *exec.Cmd) {
	t.Helper()
	killWhen(t, cmd, "two parts of the client's upload stored", func() bool {
		return r.rec.answeredCount("MPU-PART") >= 2
	})
}

// killWhen starts cmd and kills it (SIGKILL) once done reports true; cmd
// ending before that fails the test, with what it printed.
func killWhen(t *testing.T, cmd *exec.Cmd, what string, done func() bool) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitFor(t, what, func() bool {
		select {
		case err := <-exited:
			t.Fatalf("%s ended before the kill (%v):\n%s", cmd.Path, err, out.String())
		default:
		}
		return done()
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
}

// rcKeptSize waits for the killed upload's record (the server notices the
// kill on its own time) and returns the size SIZE reports to the owner
// through r: whole parts, at least one, less than the file. (The client
// is killed once two parts are answered, but a part whose answer is still
// on its way to the server when the session ends is not counted: the
// upload's requests end with the session.)
func rcKeptSize(t *testing.T, bucket string, r *resumeReplica, name string, src []byte) int64 {
	t.Helper()
	waitFor(t, "the killed upload kept or published", func() bool {
		return len(pendingRecords(t, bucket)) > 0 || rcVisible(t, bucket, "p/in/"+name)
	})
	rcKept(t, bucket, name)
	u := loginAs(t, r.addr, "u")
	_, kept := sizeOf(t, u, name)
	t.Logf("kept after the kill: %d bytes", kept)
	if kept < resumePart || kept%resumePart != 0 || kept >= int64(len(src)) {
		t.Fatalf("SIZE after the kill: %d, want the whole parts stored (at least one of %d bytes)", kept, resumePart)
	}
	return kept
}

// rcSource writes a 20 MiB file to upload, in dir.
func rcSource(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	data, _ := io.ReadAll(io.LimitReader(patterned(20<<20), 20<<20))
	path := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// TestResumeAfterClientKilled: a curl -T upload killed (SIGKILL) after two
// parts (with more of the file sent) keeps its whole parts, and curl -C -
// -T on another server (its own store, nothing shared but the bucket)
// completes it, sending only the missing bytes: the object equals the
// source. The same for an upload to
// a temp name renamed into place by curl's post-quote commands (-Q "-RNFR
// ..." -Q "-RNTO ..."): held, kept under the temp name, continued held,
// and the rename costs no copy (docs/s3.md, temp-name uploads).
func TestResumeAfterClientKilled(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	for _, tc := range []struct {
		name, to string // uploaded as name, renamed to to ("": no rename)
	}{{"k.bin", ""}, {"k.bin.part", "k.bin"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bucket := shared.newBucket(t)
			a := startResumeReplicaStall(t, bucket, rcStall)
			b := startResumeReplica(t, bucket)
			src, data := rcSource(t, t.TempDir())
			curl := func(ctx context.Context, addr, from string, args ...string) *exec.Cmd {
				args = append([]string{"-sS", "--ftp-pasv"}, args...)
				if tc.to != "" {
					args = append(args, "-Q", "-RNFR "+tc.name, "-Q", "-RNTO "+tc.to)
				}
				return exec.CommandContext(ctx, "curl", append(args, "-T", from, "ftp://u:pw@"+addr+"/"+tc.name)...)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()

			// The killed curl uploads from a pipe that holds two whole
			// parts and 1 MiB of the third, and stays open: it is killed
			// in the middle of the file, however slow the store.
			killed := curl(ctx, a.addr, "-")
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			killed.Stdin = pr
			go func() { _, _ = pw.Write(data[:2*resumePart+1<<20]) }()
			rcKilled(t, a, killed)
			pr.Close()
			pw.Close()
			kept := rcKeptSize(t, bucket, b, tc.name, data)
			final := cmp.Or(tc.to, tc.name)
			if rcVisible(t, bucket, "p/in/"+final) {
				t.Fatalf("p/in/%s is visible while the upload is interrupted", final)
			}

			b.rec.take()
			if out, err := curl(ctx, b.addr, src, "-C", "-").CombinedOutput(); err != nil {
				t.Fatalf("curl -C -: %v\n%s", err, out)
			}
			reqs := b.rec.take()
			if got := partBytes(reqs); got != int64(len(data))-kept {
				t.Errorf("curl's resume sent %d bytes in parts, want only the missing %d", got, int64(len(data))-kept)
			}
			if n := countFiles(reqs, "MPU-CREATE", "COPY", "DELETE"); n != 0 {
				t.Errorf("curl's resume: %s, want it to continue the kept upload, with no copy or delete", reqs)
			}
			checkWhole(t, bucket, "p/in/"+final, data)
			if tc.to != "" && rcVisible(t, bucket, "p/in/"+tc.name) {
				t.Error("the temp name is in the bucket")
			}
			rcDone(t, bucket)
		})
	}
}

// lftpPutCmd is lftp, with HOME at dir, uploading src to addr as user u
// as l.bin with the command put ("put", "put -c") after settings.
func lftpPutCmd(ctx context.Context, dir, addr, settings, put, src string) *exec.Cmd {
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, "lftp", "-c", fmt.Sprintf(
		"set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; %s open -u u,pw -p %s ftp://%s; %s %s -o l.bin",
		settings, port, host, put, src))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	return cmd
}

// TestResumeAfterLftpKilled: lftp's put killed after two parts, then lftp
// put -c on another server: the same as curl's.
func TestResumeAfterLftpKilled(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("lftp"); err != nil {
		t.Skip("lftp not installed")
	}
	bucket := shared.newBucket(t)
	a := startResumeReplicaStall(t, bucket, rcStall)
	b := startResumeReplica(t, bucket)
	dir := t.TempDir()
	src, data := rcSource(t, dir)
	lftpPut := func(ctx context.Context, addr, settings, put string) *exec.Cmd {
		return lftpPutCmd(ctx, dir, addr, settings, put, src)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Uploads at 3 MiB/s (net:limit-rate is download:upload).
	rcKilled(t, a, lftpPut(ctx, a.addr, "set net:limit-rate 0:3M;", "put"))
	kept := rcKeptSize(t, bucket, b, "l.bin", data)

	b.rec.take()
	if out, err := lftpPut(ctx, b.addr, "", "put -c").CombinedOutput(); err != nil {
		t.Fatalf("lftp put -c: %v\n%s", err, out)
	}
	reqs := b.rec.take()
	if got := partBytes(reqs); got != int64(len(data))-kept {
		t.Errorf("lftp's put -c sent %d bytes in parts, want only the missing %d", got, int64(len(data))-kept)
	}
	if n := count(reqs, "MPU-CREATE"); n != 0 {
		t.Errorf("lftp's put -c created %d uploads, want it to continue the kept one", n)
	}
	checkWhole(t, bucket, "p/in/l.bin", data)
	rcDone(t, bucket)
}

// rcCut sends cmd (a STOR, APPE) on c and then data, waits until the store
// has answered parts more part uploads through rec, and cuts the transfer
// with cut, which returns the reply the client got (0 for none).
func rcCut(t *testing.T, c *rawFTP, rec *s3Recorder, cmd string, data []byte, parts int, cut func(c *rawFTP, d net.Conn) int) int {
	t.Helper()
	base := rec.answeredCount("MPU-PART")
	d := c.pasv()
	c.must(cmd, 150, 125)
	d.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := d.Write(data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, strconv.Itoa(parts)+" parts stored", func() bool { return rec.answeredCount("MPU-PART") >= base+parts })
	code := cut(c, d)
	d.Close()
	return code
}

// The cuts: each returns the reply to the transfer.
func rcReset(t *testing.T, c *rawFTP, d net.Conn) int {
	resetDataConn(t, d)
	code, _ := c.reply()
	return code
}

func rcAbor(t *testing.T, c *rawFTP, _ net.Conn) int {
	code, text := c.cmdText("ABOR")
	if code2, text2 := c.reply(); code2 != 226 {
		t.Errorf("ABOR: %q then %q, want the transfer's reply then 226", text, text2)
	}
	return code
}

// TestResumeAfterCuts: an upload is kept for resuming however its client
// goes away (docs/s3.md, "What counts as interrupted"): the data
// connection reset, the control connection closed during the transfer,
// ABOR. Each keeps its whole parts and a REST + STOR on another server
// completes it from there.
func TestResumeAfterCuts(t *testing.T) {
	t.Parallel()
	data, _ := io.ReadAll(io.LimitReader(patterned(13<<20), 13<<20))
	const sent = 2*resumePart + 1<<20 // two whole parts and 1 MiB of the third
	const kept = 2 * resumePart
	for _, tc := range []struct {
		name  string
		cut   func(t *testing.T, c *rawFTP, d net.Conn) int
		reply int // to the STOR; 0: none (the control connection is gone)
	}{
		{"data connection reset", rcReset, 426},
		{"control connection closed", func(t *testing.T, c *rawFTP, _ net.Conn) int {
			c.c.Close()
			return 0
		}, 0},
		{"ABOR", rcAbor, 426},
		// As a killed client's sockets close: the control connection,
		// then the data connection's end, which is no end of file.
		{"control connection closed, then the data connection", func(t *testing.T, c *rawFTP, d net.Conn) int {
			c.c.Close()
			d.Close()
			return 0
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bucket := shared.newBucket(t)
			a := startResumeReplicaStall(t, bucket, rcStall)
			b := startResumeReplica(t, bucket)
			c := loginAs(t, a.addr, "u")
			code := rcCut(t, c, a.rec, "STOR x.bin", data[:sent], 2, func(c *rawFTP, d net.Conn) int { return tc.cut(t, c, d) })
			if code != tc.reply {
				t.Fatalf("the cut STOR's reply: %d, want %d", code, tc.reply)
			}
			if tc.reply == 0 {
				// Without a reply, the server notices the cut on its own
				// time; with one, it has kept the upload before replying.
				waitFor(t, "the cut upload kept or published", func() bool {
					return len(pendingRecords(t, bucket)) > 0 || rcVisible(t, bucket, "p/in/x.bin")
				})
			}
			rcKept(t, bucket, "x.bin")

			u := loginAs(t, b.addr, "u")
			if _, n := sizeOf(t, u, "x.bin"); n != kept {
				t.Fatalf("SIZE after the cut: %d, want the %d bytes of its whole parts", n, kept)
			}
			b.rec.take()
			u.must("REST "+strconv.Itoa(kept), 350)
			if code, text := u.storFrom("x.bin", bytes.NewReader(data[kept:])); code != 226 {
				t.Fatalf("resumed STOR: %q", text)
			}
			if got := partBytes(b.rec.take()); got != int64(len(data)-kept) {
				t.Errorf("the continuation sent %d bytes in parts, want only the missing %d", got, len(data)-kept)
			}
			checkWhole(t, bucket, "p/in/x.bin", data)
			rcDone(t, bucket)
		})
	}
}

// TestResumeInterruptedContinuation: a continuation cut after another
// whole part keeps that part too: SIZE reports the larger stored length,
// and a continuation from it, on the other server, completes the object.
// There is one record at each point and none at the end, and the object
// is one multipart upload throughout. By REST + STOR (its continuation
// cut by a data connection reset) and by APPE (cut by ABOR), as curl -C -
// continues.
func TestResumeInterruptedContinuation(t *testing.T) {
	t.Parallel()
	data, _ := io.ReadAll(io.LimitReader(patterned(18<<20), 18<<20))
	const first = 2 * resumePart  // kept by the first cut
	const second = 3 * resumePart // kept by the cut continuation
	for _, tc := range []struct {
		name string
		cmd  func(c *rawFTP, off int) string // sends what the verb needs first; returns the command
		cut  func(t *testing.T, c *rawFTP, d net.Conn) int
	}{
		{"REST+STOR", func(c *rawFTP, off int) string {
			c.must("REST "+strconv.Itoa(off), 350)
			return "STOR y.bin"
		}, rcReset},
		{"APPE", func(*rawFTP, int) string { return "APPE y.bin" }, rcAbor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bucket := shared.newBucket(t)
			a := startResumeReplicaStall(t, bucket, rcStall)
			b := startResumeReplicaStall(t, bucket, rcStall)
			records := func(when string) {
				t.Helper()
				if recs := pendingRecords(t, bucket); len(recs) != 1 {
					t.Fatalf("%s: resume records %v, want one", when, recs)
				}
			}

			c := loginAs(t, a.addr, "u")
			if code := rcCut(t, c, a.rec, "STOR y.bin", data[:first+1<<20], 2, func(c *rawFTP, d net.Conn) int { return rcReset(t, c, d) }); code != 426 {
				t.Fatalf("the cut STOR's reply: %d, want 426", code)
			}
			rcKept(t, bucket, "y.bin")

			// The continuation, on the other server, sends one more whole
			// part and 1 MiB, and is cut.
			u := loginAs(t, b.addr, "u")
			if _, n := sizeOf(t, u, "y.bin"); n != first {
				t.Fatalf("SIZE after the first cut: %d, want %d", n, first)
			}
			b.rec.take()
			cmd := tc.cmd(u, first)
			if code := rcCut(t, u, b.rec, cmd, data[first:second+1<<20], 1, func(c *rawFTP, d net.Conn) int {
				records("during the continuation")
				return tc.cut(t, c, d)
			}); code != 426 {
				t.Fatalf("the cut continuation's reply: %d, want 426", code)
			}
			if n := count(b.rec.take(), "MPU-CREATE"); n != 0 {
				t.Errorf("the cut continuation created %d uploads, want it to continue the kept one", n)
			}
			rcKept(t, bucket, "y.bin")
			records("after the cut continuation")

			// Back on the first server: the larger stored length, and a
			// continuation from it (the cut one holds no lease) completes.
			v := loginAs(t, a.addr, "u")
			if _, n := sizeOf(t, v, "y.bin"); n != second {
				t.Fatalf("SIZE after the cut continuation: %d, want %d", n, second)
			}
			a.rec.take()
			cmd = tc.cmd(v, second)
			d := v.pasv()
			v.must(cmd, 150, 125)
			d.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := d.Write(data[second:]); err != nil {
				t.Fatal(err)
			}
			d.Close()
			if code, text := v.reply(); code != 226 {
				t.Fatalf("the second continuation: %q", text)
			}
			reqs := a.rec.take()
			if got := partBytes(reqs); got != int64(len(data)-second) {
				t.Errorf("the second continuation sent %d bytes in parts, want only the missing %d", got, len(data)-second)
			}
			if n := count(reqs, "MPU-CREATE"); n != 0 {
				t.Errorf("the second continuation created %d uploads", n)
			}
			checkWhole(t, bucket, "p/in/y.bin", data)
			rcDone(t, bucket)
		})
	}
}

// TestSmallUploadOfAGoneClient: a file below one part whose client closes
// the control connection before the data connection's end is not
// published (the end may be the client's death, not the file's), while
// the same upload with the control connection open is. Fifty times each,
// as the order of the two ends is what is tested.
func TestSmallUploadOfAGoneClient(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	a := startResumeReplica(t, bucket)
	c := loginAs(t, a.addr, "u")
	for i := range 50 {
		if code := c.stor("kept"+strconv.Itoa(i), "whole"); code != 226 {
			t.Fatalf("STOR: %d", code)
		}
	}
	c.must("QUIT", 221)
	for i := range 50 {
		name := "gone" + strconv.Itoa(i)
		c := loginAs(t, a.addr, "u")
		d := c.pasv()
		c.must("STOR "+name, 150, 125)
		if _, err := d.Write([]byte("not known to be whole")); err != nil {
			t.Fatal(err)
		}
		c.c.Close()
		d.Close()
	}
	// Shutdown returns once every session has ended, its upload done.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	objs := shared.objects(t, bucket)
	for k := range objs {
		if strings.Contains(k, "/gone") {
			t.Errorf("%s published although its client closed the control connection first", k)
		}
	}
	for i := range 50 {
		if objs["p/in/kept"+strconv.Itoa(i)] != "whole" {
			t.Errorf("p/in/kept%d: %q, want it stored", i, objs["p/in/kept"+strconv.Itoa(i)])
		}
	}
}

// holdPart has rec hold the upload of the nth part (counting every
// UploadPart it sees) at the proxy: arrived is closed when that request
// gets there, and it goes on to the store once release is called.
func holdPart(rec *s3Recorder, n int32) (arrived <-chan struct{}, release func()) {
	got, gate := make(chan struct{}), make(chan struct{})
	var parts atomic.Int32
	rec.setGate(func(r s3Request) {
		if r.Kind == "MPU-PART" && parts.Add(1) == n {
			close(got)
			<-gate
		}
	})
	return got, sync.OnceFunc(func() { close(gate) })
}

// TestResumeKeepsPartsInFlight: a part the server is still storing when
// its client goes away (ABOR here) is stored and kept, not thrown away for
// the client to send again (storage/s3store/upload.go, partGrace): the
// store's proxy holds the second part until the server has cancelled the
// transfer and closed its data connection, and the upload is then kept
// with both parts.
func TestResumeKeepsPartsInFlight(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	a := startResumeReplicaStall(t, bucket, rcStall)
	arrived, release := holdPart(a.rec, 2)
	defer release()
	data := randomBytes(13 << 20) // two whole parts and 3 MiB
	c := loginAs(t, a.addr, "u")
	d := c.pasv()
	c.must("STOR x.bin", 150, 125)
	go func() {
		d.SetWriteDeadline(time.Now().Add(time.Minute))
		_, _ = d.Write(data) // cut by the ABOR
	}()
	select {
	case <-arrived:
	case <-time.After(time.Minute):
		t.Fatal("the second part never reached the store")
	}
	fmt.Fprintf(c.c, "ABOR\r\n")
	// The server cancels the transfer, then closes the data connection.
	d.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.Copy(io.Discard, d)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server did not close the data connection for the ABOR")
	}
	release()
	if code, _ := c.reply(); code != 426 {
		t.Errorf("the aborted transfer's reply: %d, want 426", code)
	}
	if code, _ := c.reply(); code != 226 {
		t.Errorf("ABOR's reply: %d, want 226", code)
	}
	d.Close()
	rcKept(t, bucket, "x.bin")
	if _, n := sizeOf(t, c, "x.bin"); n != 2*resumePart {
		t.Errorf("SIZE after the ABOR: %d, want both parts (%d): the one in flight kept too", n, 2*resumePart)
	}
	c.must("DELE x.bin", 250)
	rcDone(t, bucket)
	c.must("QUIT", 221)
}

// TestResumeWhenDataEndsFirst: a killed client's two connections may end
// in either order (the kernel closes them together), so the data
// connection's end can reach the server while the control connection
// still looks open, and look like the end of the file. The server asks
// again at the last moment before the upload becomes final (completed,
// or held back as complete under a temp name): the client closes the
// data connection, then, while the store's proxy holds the upload's last
// part, the control connection, without waiting for the 226. The upload
// is kept with its whole parts, not published, under the file's name and
// under a temp name (held: docs/s3.md, temp-name uploads).
func TestResumeWhenDataEndsFirst(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"x.bin", "x.bin.part"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bucket := shared.newBucket(t)
			a := startResumeReplicaStall(t, bucket, rcStall)
			arrived, release := holdPart(a.rec, 3)
			defer release()
			data := randomBytes(2*resumePart + 1<<20) // two whole parts and 1 MiB
			c := loginAs(t, a.addr, "u")
			d := c.pasv()
			c.must("STOR "+name, 150, 125)
			d.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := d.Write(data); err != nil {
				t.Fatal(err)
			}
			d.Close()
			// The last part reaches the store only after the server read
			// the data connection's end, with the control connection open.
			select {
			case <-arrived:
			case <-time.After(time.Minute):
				t.Fatal("the last part never reached the store")
			}
			c.c.Close()
			release()
			waitFor(t, "the upload kept or published", func() bool {
				return len(pendingRecords(t, bucket)) > 0 || rcVisible(t, bucket, "p/in/"+name) || rcVisible(t, bucket, "p/in/x.bin")
			})
			rcKept(t, bucket, name)
			if rcVisible(t, bucket, "p/in/x.bin") {
				t.Fatal("p/in/x.bin is visible while the upload is interrupted")
			}
			u := loginAs(t, a.addr, "u")
			if _, n := sizeOf(t, u, name); n != 2*resumePart {
				t.Errorf("SIZE of the kept upload: %d, want its two whole parts (%d)", n, 2*resumePart)
			}
			u.must("DELE "+name, 250)
			rcDone(t, bucket)
			u.must("QUIT", 221)
		})
	}
}
