package ftptest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

// stored reads a file straight from the backend, bypassing FTP.
func (e *env) stored(name string) (string, error) {
	rc, err := e.backend.Open(e.t.Context(), name, 0)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func (e *env) put(name, data string) {
	e.t.Helper()
	if _, err := e.backend.Put(e.t.Context(), name, strings.NewReader(data), int64(len(data))); err != nil {
		e.t.Fatal(err)
	}
}

func testTransfers(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	c.must("TYPE I", 200)

	t.Run("binary round trip", func(t *testing.T) {
		data := string(bytes.Repeat([]byte("bin\x00\r\n\xff"), 100000))
		if code, text := c.stor("STOR", "b.bin", data); code != 226 {
			t.Fatalf("STOR: %d %s", code, text)
		}
		if got := c.retr("b.bin"); got != data {
			t.Fatalf("RETR returned %d bytes, want %d", len(got), len(data))
		}
		if got, _ := e.stored("/alice/b.bin"); got != data {
			t.Fatal("stored bytes differ")
		}
		c.must("SIZE b.bin", 213)
		if text := c.must("SIZE b.bin", 213); text != "700000" {
			t.Fatalf("SIZE = %q", text)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		if code, _ := c.stor("STOR", "empty", ""); code != 226 {
			t.Fatalf("STOR empty: %d", code)
		}
		if got := c.retr("empty"); got != "" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("ASCII converts line endings both ways", func(t *testing.T) {
		c.must("TYPE A", 200)
		defer c.must("TYPE I", 200)
		if code, _ := c.stor("STOR", "a.txt", "one\r\ntwo\r\nthree"); code != 226 {
			t.Fatal(code)
		}
		if got, _ := e.stored("/alice/a.txt"); got != "one\ntwo\nthree" {
			t.Fatalf("stored %q", got)
		}
		if got := c.retr("a.txt"); got != "one\r\ntwo\r\nthree" {
			t.Fatalf("ASCII RETR %q", got)
		}
		c.must("SIZE a.txt", 550)
		// A restart offset counts bytes of the converted stream, which
		// are not the file's ("one\r\n" is 5 bytes on the wire, 4
		// stored): refused, as ProFTPD does, also when REST came in
		// TYPE I; REST 0 is no restart.
		if text := c.must("REST 5", 501); !strings.Contains(text, "ASCII") {
			t.Errorf("REST in TYPE A: %q", text)
		}
		c.must("REST 0", 350)
		if got := c.retr("a.txt"); got != "one\r\ntwo\r\nthree" {
			t.Fatalf("ASCII RETR after REST 0: %q", got)
		}
		c.must("TYPE I", 200)
		c.must("REST 5", 350)
		c.must("TYPE A", 200)
		c.pasv()
		c.must("RETR a.txt", 501)
		c.must("TYPE I", 200)
		c.must("REST 5", 350)
		c.pasv()
		c.must("TYPE A", 200)
		c.must("STOR a.txt", 501)
		c.must("TYPE I", 200)
		if got, _ := e.stored("/alice/a.txt"); got != "one\ntwo\nthree" {
			t.Fatalf("stored after the refused restarts: %q", got)
		}
		if got := c.retr("a.txt"); got != "one\ntwo\nthree" {
			t.Fatalf("binary RETR %q", got)
		}
		// The stores report a file to RMD as not found; the reply says
		// what it is.
		if text := c.must("RMD a.txt", 550); !strings.Contains(text, "Not a directory") {
			t.Errorf("RMD of a file: %q", text)
		}
	})
	t.Run("REST with RETR", func(t *testing.T) {
		e.put("/alice/r.txt", "0123456789")
		c.must("REST 4", 350)
		if got := c.retr("r.txt"); got != "456789" {
			t.Fatalf("got %q", got)
		}
		c.must("REST 10", 350)
		if got := c.retr("r.txt"); got != "" {
			t.Fatalf("got %q", got)
		}
		c.pasv()
		c.must("REST 11", 350)
		c.must("RETR r.txt", 554)
	})
	t.Run("REST with STOR resumes", func(t *testing.T) {
		e.put("/alice/s.txt", "hello world")
		c.must("REST 5", 350)
		if code, _ := c.stor("STOR", "s.txt", " there"); code != 226 {
			t.Fatal(code)
		}
		if got, _ := e.stored("/alice/s.txt"); got != "hello there" {
			t.Fatalf("got %q", got)
		}
		c.must("REST 99", 350)
		if code, _ := c.stor("STOR", "s.txt", "x"); code != 554 {
			t.Fatalf("REST beyond size: %d", code)
		}
	})
	t.Run("APPE", func(t *testing.T) {
		if code, _ := c.stor("APPE", "ap.txt", "abc"); code != 226 {
			t.Fatal(code)
		}
		if code, _ := c.stor("APPE", "ap.txt", "def"); code != 226 {
			t.Fatal(code)
		}
		if got, _ := e.stored("/alice/ap.txt"); got != "abcdef" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("STOU names the file", func(t *testing.T) {
		d := c.pasv()
		c.send("STOU")
		text := c.expect1xx()
		m := regexp.MustCompile(`^FILE: (stou-\S+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("150 text %q", text)
		}
		io.WriteString(d, "unique")
		d.Close()
		if text := c.expect(226); !strings.Contains(text, m[1]) {
			t.Fatalf("226 text %q lacks %s", text, m[1])
		}
		if got, _ := e.stored("/alice/" + m[1]); got != "unique" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("STOR onto a directory", func(t *testing.T) {
		c.must("MKD adir", 257)
		if code, _ := c.stor("STOR", "adir", "x"); code != 550 {
			t.Fatal(code)
		}
		if code, _ := c.stor("STOR", "nodir/x", "x"); code != 550 {
			t.Fatal(code)
		}
	})
	t.Run("MDTM and MFMT", func(t *testing.T) {
		e.put("/alice/m.txt", "m")
		if text := c.must("MDTM m.txt", 213); !regexp.MustCompile(`^\d{14}$`).MatchString(text) {
			t.Fatalf("MDTM %q", text)
		}
		c.must("MFMT 20200102030405 m.txt", 213)
		if text := c.must("MDTM m.txt", 213); text != "20200102030405" {
			t.Fatalf("MDTM after MFMT %q", text)
		}
		if text := c.must("MLST m.txt", 250); !strings.Contains(text, "modify=20200102030405;") || !strings.Contains(text, " /m.txt") {
			t.Fatalf("MLST %q", text)
		}
		// Listings show the time too (on S3 through the directory's time
		// index), and it follows the file through renames.
		inListings := func(dir, name string) bool {
			t.Helper()
			mlsd := c.list("MLSD " + dir)
			ls := c.list("LIST " + dir)
			inMLSD := regexp.MustCompile(`modify=20200102030405;[^ ]* ` + regexp.QuoteMeta(name) + "\r\n").MatchString(mlsd)
			inLIST := regexp.MustCompile(`(?m) Jan  2  2020 ` + regexp.QuoteMeta(name) + "\r$").MatchString(ls)
			if inMLSD != inLIST {
				t.Fatalf("MLSD and LIST disagree on %s:\n%s\n%s", name, mlsd, ls)
			}
			return inMLSD
		}
		if !inListings("/", "m.txt") {
			t.Fatalf("MFMT time not in the listings")
		}
		c.must("MKD mt", 257)
		c.must("RNFR m.txt", 350)
		c.must("RNTO mt/m2.txt", 250)
		if !inListings("/mt", "m2.txt") {
			t.Fatalf("MFMT time lost by a file rename")
		}
		c.must("RNFR mt", 350)
		c.must("RNTO mt2", 250)
		if !inListings("/mt2", "m2.txt") {
			t.Fatalf("MFMT time lost by a directory rename")
		}
		if text := c.must("MDTM mt2/m2.txt", 213); text != "20200102030405" {
			t.Fatalf("MDTM after renames %q", text)
		}
		if code, _ := c.stor("STOR", "mt2/m2.txt", "replaced"); code != 226 {
			t.Fatalf("STOR: %d", code)
		}
		if inListings("/mt2", "m2.txt") {
			t.Fatalf("a replaced file still shows the time set before")
		}
		if text := c.must("MDTM mt2/m2.txt", 213); text == "20200102030405" {
			t.Fatalf("MDTM of a replaced file %q", text)
		}
		c.must("DELE mt2/m2.txt", 250)
		c.must("RMD mt2", 250)
	})
	t.Run("DELE", func(t *testing.T) {
		e.put("/alice/del.txt", "d")
		c.must("DELE del.txt", 250)
		c.must("DELE del.txt", 550)
		c.must("DELE adir", 550)
		if _, err := e.stored("/alice/del.txt"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("still there: %v", err)
		}
	})
	t.Run("rename a directory with content", func(t *testing.T) {
		c.must("MKD src", 257)
		e.put("/alice/src/f.txt", "f")
		c.must("RNFR src", 350)
		c.must("RNTO dst", 250)
		if got, _ := e.stored("/alice/dst/f.txt"); got != "f" {
			t.Fatalf("got %q", got)
		}
	})
}

func testListings(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	c.must("MKD dir", 257)
	e.put("/alice/file one.txt", "12345")
	e.put("/alice/dir/inner", "x")

	list := c.list("LIST")
	if !regexp.MustCompile(`(?m)^drwx\S+ +\d+ \S+ +\S+ +0 \w{3} [ \d]\d ([ \d]\d:\d\d| \d{4}) dir\r$`).MatchString(list) {
		t.Errorf("LIST lacks the dir line:\n%s", list)
	}
	if !regexp.MustCompile(`(?m)^-rw\S+ +\d+ \S+ +\S+ +5 .* file one\.txt\r$`).MatchString(list) {
		t.Errorf("LIST lacks the file line:\n%s", list)
	}
	if got := c.list("LIST -la"); got != list {
		t.Errorf("LIST -la differs from LIST:\n%s", got)
	}
	if got := c.list("NLST"); got != "dir\r\nfile one.txt\r\n" {
		t.Errorf("NLST = %q", got)
	}
	if got := c.list("NLST dir"); got != "dir/inner\r\n" {
		t.Errorf("NLST dir = %q", got)
	}
	if got := c.list("LIST file one.txt"); !strings.Contains(got, " file one.txt\r\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("LIST of a file = %q", got)
	}
	mlsd := c.list("MLSD")
	for _, want := range []string{"type=cdir;", "type=dir;", " dir\r\n", "type=file;size=5;", " file one.txt\r\n"} {
		if !strings.Contains(mlsd, want) {
			t.Errorf("MLSD lacks %q:\n%s", want, mlsd)
		}
	}
	c.pasv()
	c.must("MLSD file one.txt", 550)
	c.pasv()
	c.must("LIST /missing", 550)
	if text := c.must("STAT file one.txt", 213); !strings.Contains(text, "file one.txt") {
		t.Errorf("STAT file %q", text)
	}
	if text := c.must("STAT /", 212); !strings.Contains(text, " dir") {
		t.Errorf("STAT dir %q", text)
	}
	c.must("OPTS MLST size;", 200)
	if got := c.list("MLSD dir"); !strings.Contains(got, "size=1; inner\r\n") || strings.Contains(got, "type=") {
		t.Errorf("MLSD with only size: %q", got)
	}

	// A name with a line break, put there by other means than FTP, must
	// not forge lines of a listing or of a STAT reply.
	forged := "x\r\n-rw-r--r-- 1 ftp ftp 1 Jan  1  2000 forged"
	if _, err := e.backend.Put(t.Context(), "/alice/dir/"+forged, strings.NewReader("x"), 1); err == nil {
		c.must("OPTS MLST type;size;modify;", 200)
		for _, verb := range []string{"LIST dir", "NLST dir", "MLSD dir"} {
			if got := c.list(verb); strings.Contains(got, "forged") || !strings.Contains(got, "inner") {
				t.Errorf("%s shows a forged line: %q", verb, got)
			}
		}
		if text := c.must("STAT dir", 212); strings.Contains(text, "forged") {
			t.Errorf("STAT shows a forged line: %q", text)
		}
	}
	// No facts at all (RFC 3659 7.9): "200 MLST OPTS", and bare MLSD lines.
	if text := c.must("OPTS MLST", 200); text != "MLST OPTS" {
		t.Errorf("OPTS MLST with no facts: %q", text)
	}
	if got := c.list("MLSD dir"); got != " .\r\n inner\r\n" {
		t.Errorf("MLSD with no facts: %q", got)
	}
}

func testPermissionsAndQuota(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))

	wo := e.login("wo")
	wo.must("TYPE I", 200)
	if code, _ := wo.stor("STOR", "up.txt", "first"); code != 226 {
		t.Fatalf("write-only STOR: %d", code)
	}
	if code, _ := wo.stor("STOR", "up.txt", "second"); code != 550 {
		t.Fatalf("overwrite without permission: %d", code)
	}
	if got, _ := e.stored("/dropbox/up.txt"); got != "first" {
		t.Fatalf("file changed to %q", got)
	}

	q := e.login("quota")
	q.must("TYPE I", 200)
	if code, _ := q.stor("STOR", "a", strings.Repeat("a", 600)); code != 226 {
		t.Fatalf("within quota: %d", code)
	}
	if code, text := q.stor("STOR", "b", strings.Repeat("b", 600)); code != 552 {
		t.Fatalf("over quota: %d %s", code, text)
	}
	if _, err := e.stored("/q/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("over-quota upload left %v", err)
	}
	q.must("DELE a", 250)
	if code, _ := q.stor("STOR", "b", strings.Repeat("b", 600)); code != 226 {
		t.Fatalf("after freeing space: %d", code)
	}
}

// abortSeq is what clients send for ABOR: Telnet IP and Synch first.
const abortSeq = "\xff\xf4\xff\xf2ABOR"

func testAbortAndBrokenTransfers(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	big := strings.Repeat("0123456789abcdef", 4<<20) // 64 MiB: more than socket buffers hold
	e.put("/alice/big", big)

	t.Run("ABOR during RETR", func(t *testing.T) {
		c := e.login("alice")
		c.must("TYPE I", 200)
		d := c.pasv()
		defer d.Close()
		c.send("RETR big")
		c.expect1xx()
		if text := c.must("STAT", 211); !strings.Contains(text, "Transfer in progress: RETR /big") {
			t.Fatalf("STAT during transfer: %q", text)
		}
		c.send(abortSeq)
		c.expect(426)
		c.expect(226)
		c.must("NOOP", 200)
	})
	t.Run("ABOR during STOR leaves nothing", func(t *testing.T) {
		c := e.login("alice")
		c.must("TYPE I", 200)
		d := c.pasv()
		defer d.Close()
		c.send("STOR partial")
		c.expect1xx()
		io.WriteString(d, "some bytes")
		c.send(abortSeq)
		c.expect(426)
		c.expect(226)
		if _, err := e.stored("/alice/partial"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("aborted upload visible: %v", err)
		}
	})
	t.Run("broken data connection during STOR leaves nothing", func(t *testing.T) {
		c := e.login("alice")
		c.must("TYPE I", 200)
		d := c.pasv()
		c.send("STOR broken")
		c.expect1xx()
		io.WriteString(d, "some bytes")
		d.(*net.TCPConn).SetLinger(0) // close with RST: a broken connection, not an end of file
		d.Close()
		c.expect(426)
		if _, err := e.stored("/alice/broken"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("broken upload visible: %v", err)
		}
	})
	t.Run("client closes data connection during RETR", func(t *testing.T) {
		c := e.login("alice")
		c.must("TYPE I", 200)
		d := c.pasv()
		c.send("RETR big")
		c.expect1xx()
		d.(*net.TCPConn).SetLinger(0)
		d.Close()
		c.expect(426)
		c.must("NOOP", 200)
	})
	t.Run("commands sent during a transfer wait for it", func(t *testing.T) {
		c := e.login("alice")
		c.must("TYPE I", 200)
		d := c.pasv()
		c.send("STOR queued")
		c.expect1xx()
		c.send("PWD")
		io.WriteString(d, "data")
		d.Close()
		c.expect(226)
		c.expect(257)
	})
}

func testDataConnectionAlreadyOpen(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	e.put("/alice/f", "payload")
	c := e.login("alice")
	c.must("TYPE I", 200)
	d := c.pasv()
	deadline := time.Now().Add(wait)
	for !strings.Contains(c.must("STAT", 211), "passive, connected") {
		if time.Now().After(deadline) {
			t.Fatal("server never saw the data connection")
		}
	}
	c.send("RETR f")
	c.expect(125)
	b, _ := io.ReadAll(d)
	c.expect(226)
	if string(b) != "payload" {
		t.Fatalf("got %q", b)
	}
}

func testActiveMode(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	e.put("/alice/f", "active payload")
	c := e.login("alice")
	c.must("TYPE I", 200)
	if s := c.activeRetr("1", "127.0.0.1", "f"); s != "active payload" {
		t.Fatalf("got %q", s)
	}

	// A port nobody listens on: 425, and the session goes on.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	port := portOf(dead.Addr())
	dead.Close()
	c.must("EPRT |1|127.0.0.1|"+port+"|", 200)
	c.must("RETR f", 425)
	c.must("NOOP", 200)
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

func testShutdown(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	idle := e.login("alice")
	busy := e.login("alice")
	busy.must("TYPE I", 200)
	d := busy.pasv()
	busy.send("STOR during-shutdown")
	busy.expect1xx()

	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(context.Background()) }()
	idle.expect(421)
	// While the busy session drains, new connections are told 421.
	late, err := net.DialTimeout("tcp", e.addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	lc := &ctl{t: t, c: late, r: bufio.NewReader(late)}
	lc.expect(421)
	io.WriteString(d, "finished across shutdown")
	d.Close()
	busy.expect(226)
	busy.expect(421)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got, _ := e.stored("/alice/during-shutdown"); got != "finished across shutdown" {
		t.Fatalf("got %q", got)
	}
}

func testShutdownDeadlineAbortsUploads(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	c.must("TYPE I", 200)
	d := c.pasv()
	defer d.Close()
	c.send("STOR cut")
	c.expect1xx()
	io.WriteString(d, "partial")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v", err)
	}
	c.expect(426)
	if _, err := e.stored("/alice/cut"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("cut upload visible: %v", err)
	}
}

func testRESTWithAPPE(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	e.put("/alice/f", "0123456789")
	c := e.login("alice")
	c.must("TYPE I", 200)
	c.must("REST 4", 350)
	if code, _ := c.stor("APPE", "f", "XY"); code != 226 {
		t.Fatal(code)
	}
	if got, _ := e.stored("/alice/f"); got != "0123XY" {
		t.Fatalf("REST 4 + APPE gave %q", got)
	}
}

// stuckBackend's uploads do not end, whatever their context says (a store
// that does not answer, a request without a deadline), until the test
// releases them.
type stuckBackend struct {
	storage.Backend
	entered, release chan struct{}
}

func (b *stuckBackend) Put(ctx context.Context, name string, r io.Reader, size int64) (int64, error) {
	b.entered <- struct{}{}
	<-b.release
	return 0, errors.New("released by the test")
}

// testShutdownWaitIsBounded: once the grace is over and transfers are
// aborted, Shutdown waits at most ShutdownWait for sessions that cannot
// finish, so the process exits instead of waiting on an unreachable store.
func testShutdownWaitIsBounded(t *testing.T, nb newBackend) {
	t.Parallel()
	b := &stuckBackend{Backend: nb(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	e := startServer(t, b, func(c *ftp.Config) { c.ShutdownWait = 200 * time.Millisecond })
	t.Cleanup(func() { close(b.release) }) // before the server's own clean-up, which waits for the session
	c := e.login("alice")
	c.must("TYPE I", 200)
	d := c.pasv()
	defer d.Close()
	c.send("STOR stuck")
	select {
	case <-b.entered:
	case <-time.After(wait):
		t.Fatal("the upload did not reach the store")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Shutdown still waiting for a session that cannot end")
	}
}
