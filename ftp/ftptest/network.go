package ftptest

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/ftp"
)

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
