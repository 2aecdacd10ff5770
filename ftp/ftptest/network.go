package ftptest

import (
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/ftp"
)

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

func testPassivePortRangeAndPublicHost(t *testing.T, nb newBackend) {
	t.Parallel()
	// Find two free neighbouring ports for the range.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lo := l.Addr().(*net.TCPAddr).Port
	l.Close()
	e := startServer(t, nb(t), func(c *ftp.Config) {
		c.PassivePortMin, c.PassivePortMax = lo, lo
		c.PublicHost = "192.0.2.10"
	})
	c := e.login("alice")
	text := c.must("PASV", 227)
	want := "(192,0,2,10," + strconv.Itoa(lo>>8) + "," + strconv.Itoa(lo&0xff) + ")"
	if !strings.Contains(text, want) {
		t.Fatalf("PASV = %q, want %s", text, want)
	}
	// The one port is busy while this session holds it: a second session gets 425.
	c2 := e.login("alice")
	c2.must("PASV", 425)
	// Released when the first session moves on.
	c.must("EPSV", 229)
	c.must("ABOR", 225)
	c2.must("EPSV", 229)
}

func testIdleTimeoutSparesTransfers(t *testing.T, nb newBackend) {
	t.Parallel()
	// A transfer counts as running however slowly its data flows (within
	// the stall timeout): a loaded machine pausing the client here must
	// not make the test fail.
	e := startServer(t, nb(t), func(c *ftp.Config) {
		c.IdleTimeout = 1500 * time.Millisecond
		c.StallTimeout = time.Minute
	})
	busy := e.login("alice")
	busy.must("TYPE I", 200)
	d := busy.pasv()
	busy.send("STOR long")
	busy.expect1xx()
	// Keep data flowing until an idle session proves the timeout has passed.
	idle := e.login("alice")
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		idle.c.SetReadDeadline(time.Now().Add(wait))
		io.ReadAll(idle.c)
	}()
	sent := 0
	for done := false; !done; {
		select {
		case <-gone:
			done = true
		default:
			d.SetWriteDeadline(time.Now().Add(wait))
			if _, err := d.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			sent++
			time.Sleep(5 * time.Millisecond) // pacing the stream, not waiting for a result
		}
	}
	d.Close()
	busy.expect(226)
	busy.must("NOOP", 200)
	if got, _ := e.stored("/alice/long"); len(got) != sent {
		t.Fatalf("stored %d bytes, sent %d", len(got), sent)
	}
}

func testIPv6(t *testing.T, nb newBackend) {
	t.Parallel()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback")
	}
	l.Close()
	e := startServer(t, nb(t))
	srv6, err := ftp.New(ftp.Config{Auth: e.users, Storage: e.backend, LoginFailDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv6.Serve(l6)
	t.Cleanup(func() { srv6.Close() })
	e6 := *e
	e6.addr = l6.Addr().String()
	e6.t = t
	e6.put("/alice/v6", "over IPv6")
	c := e6.login("alice")
	c.must("TYPE I", 200)
	c.must("PASV", 425)
	c.must("EPSV 1", 522)
	if got := c.retr("v6"); got != "over IPv6" {
		t.Fatalf("EPSV download %q", got)
	}
	// Active mode to the client's IPv6 address.
	if s := c.activeRetr("2", "::1", "v6"); s != "over IPv6" {
		t.Fatalf("EPRT download %q", s)
	}
}

func testFailedLoginDelayGrows(t *testing.T, nb newBackend) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	e := startServer(t, nb(t), func(c *ftp.Config) { c.LoginFailDelay = delay })
	c := e.dial()
	for i := 1; i <= 2; i++ {
		c.must("USER alice", 331)
		start := time.Now()
		c.must("PASS wrong", 530)
		if took := time.Since(start); took < time.Duration(i)*delay {
			t.Fatalf("failure %d answered after %v, want at least %v", i, took, time.Duration(i)*delay)
		}
	}
}

// testPassivePeerCheck: a passive data connection from an address other
// than the client's is refused (port stealing), unless configured.
func testPassivePeerCheck(t *testing.T, nb newBackend) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		e := startServer(t, nb(t), func(c *ftp.Config) {
			c.DataTimeout = 2 * time.Second
			c.AllowForeignDataPeers = allow
		})
		e.put("/alice/f", "payload")
		c := e.login("alice")
		text := c.must("EPSV", 229)
		port := text[strings.Index(text, "(|||")+4 : strings.LastIndex(text, "|)")]
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: wait}
		thief, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			t.Fatal(err)
		}
		c.send("RETR f")
		code, _ := c.reply()
		if !allow {
			if code != 425 {
				t.Fatalf("data connection from another address: %d, want 425", code)
			}
			thief.SetReadDeadline(time.Now().Add(wait))
			if b, _ := io.ReadAll(thief); len(b) != 0 {
				t.Fatalf("the other address received %q", b)
			}
			thief.Close()
			continue
		}
		if code != 125 && code != 150 {
			t.Fatalf("allowed foreign peer: %d", code)
		}
		thief.SetReadDeadline(time.Now().Add(wait))
		if b, _ := io.ReadAll(thief); string(b) != "payload" {
			t.Fatalf("allowed foreign peer got %q", b)
		}
		c.expect(226)
		thief.Close()
	}
}

func testTransferLog(t *testing.T, nb newBackend) {
	t.Parallel()
	xfer := &syncBuffer{}
	e := startServer(t, nb(t), func(c *ftp.Config) { c.TransferLog = xfer })
	c := e.login("alice")
	c.must("TYPE I", 200)
	if code, _ := c.stor("STOR", "my file.bin", "12345"); code != 226 {
		t.Fatal(code)
	}
	c.must("TYPE A", 200)
	if got := c.retr("my file.bin"); got != "12345" {
		t.Fatal(got)
	}
	c.list("LIST")
	lines := strings.Split(strings.TrimSpace(xfer.String()), "\n")
	want := []string{
		`^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \d+ 127\.0\.0\.1 5 /my_file\.bin b _ i r alice ftp 0 \* c$`,
		`^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \d+ 127\.0\.0\.1 5 /my_file\.bin a _ o r alice ftp 0 \* c$`,
	}
	if len(lines) != len(want) {
		t.Fatalf("xferlog has %d lines, want %d (listings are left out):\n%s", len(lines), len(want), xfer.String())
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("xferlog line %d = %q", i, lines[i])
		}
	}
}

func testTranscriptMasksPasswords(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	c.must("NOOP", 200)
	logs := e.logs.String()
	if !strings.Contains(logs, `line="PASS ****"`) || !strings.Contains(logs, `line=NOOP`) {
		t.Fatalf("the debug transcript lacks the masked PASS or the commands:\n%s", logs)
	}
	if strings.Contains(logs, "alice-pw") {
		t.Fatal("a password reached the log")
	}
}
