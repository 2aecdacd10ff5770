package ftptest

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

// proxyHeader is a PROXY header of version v (1 or 2) saying the
// connection comes from client and reached dest.
func proxyHeader(t *testing.T, v byte, client, dest string) []byte {
	t.Helper()
	src, err := net.ResolveTCPAddr("tcp", client)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := net.ResolveTCPAddr("tcp", dest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proxyproto.HeaderProxyFromAddrs(v, src, dst).Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dialVia connects to addr from the local address from (a balancer), sends
// header (if any) first, and returns a control connection.
func dialVia(t *testing.T, from, addr string, header []byte) *ctl {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: wait}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if len(header) > 0 {
		if _, err := c.Write(header); err != nil {
			t.Fatal(err)
		}
	}
	return &ctl{t: t, c: c, r: bufioReader(c)}
}

// testProxyProtocol: behind a balancer that sends PROXY headers, the
// header's client address is the client's for the allow list, bans, the
// passive peer check and logs; a header on a data connection is taken off,
// never stored; trusted sources only; required means required.
func testProxyProtocol(t *testing.T, nb newBackend) {
	t.Parallel()
	trusted := netipPrefix(t, "127.0.0.1/32")
	e := startServer(t, nb(t), func(c *ftp.Config) {
		c.ProxyProtocol = ftp.ProxyOptional
		c.ProxyTrusted = trusted
		c.PublicHost = ftp.PublicHostFromProxy
		c.Ban = ftp.BanPolicy{After: 2, Window: time.Hour, Duration: time.Hour}
		c.MaxLoginFailures = 5
		c.ProxyHeaderTimeout = time.Second
	})
	const client = "192.0.2.55:40000" // inside faraway's allowed_cidrs 192.0.2.0/24
	const vip = "198.51.100.9:21"     // the balancer's public address

	for _, v := range []byte{1, 2} {
		// The allow list sees the carried address: faraway may log in.
		c := dialVia(t, "127.0.0.1", e.addr, proxyHeader(t, v, client, vip))
		c.expect(220)
		c.must("USER faraway", 331)
		c.must("PASS faraway-pw", 230)
		c.must("TYPE I", 200)
		// PASV names the address the client reached (from-proxy).
		if text := c.must("PASV", 227); !strings.Contains(text, "(198,51,100,9,") {
			t.Fatalf("PASV with from-proxy: %q", text)
		}
		// The data connection comes through the balancer too, with its
		// own header: the header is taken off, not stored.
		text := c.must("EPSV", 229)
		port := text[strings.Index(text, "(|||")+4 : strings.LastIndex(text, "|)")]
		d := dialVia(t, "127.0.0.1", "127.0.0.1:"+port, proxyHeader(t, v, "192.0.2.55:40001", "198.51.100.9:"+port))
		name := "v" + strconv.Itoa(int(v)) + ".bin"
		c.send("STOR " + name)
		c.expect1xx()
		io.WriteString(d.c, "payload")
		d.c.Close()
		c.expect(226)
		if got, _ := e.stored("/far/" + name); got != "payload" {
			t.Fatalf("stored %q: the PROXY header reached the file", got)
		}
		// A data connection whose header names another client is refused
		// (the passive peer check uses carried addresses).
		text = c.must("EPSV", 229)
		port = text[strings.Index(text, "(|||")+4 : strings.LastIndex(text, "|)")]
		thief := dialVia(t, "127.0.0.1", "127.0.0.1:"+port, proxyHeader(t, v, "203.0.113.66:1234", vip))
		_ = thief.c.SetReadDeadline(time.Now().Add(wait))
		if _, err := thief.c.Read(make([]byte, 1)); err == nil {
			t.Fatal("data connection from another carried address was kept")
		}
	}
	// Without a header the balancer's own address is the client's: not in
	// faraway's allow list.
	c := dialVia(t, "127.0.0.1", e.addr, nil)
	c.expect(220)
	c.must("USER faraway", 331)
	c.must("PASS faraway-pw", 530)

	// Bans and logs use the carried address: 203.0.113.7 is banned, the
	// balancer and its other clients are not.
	for range 2 {
		c := dialVia(t, "127.0.0.1", e.addr, proxyHeader(t, 2, "203.0.113.7:5000", vip))
		c.expect(220)
		c.must("USER alice", 331)
		c.cmd("PASS wrong")
	}
	banned := dialVia(t, "127.0.0.1", e.addr, proxyHeader(t, 2, "203.0.113.7:5001", vip))
	banned.expect(421)
	ok := dialVia(t, "127.0.0.1", e.addr, proxyHeader(t, 2, "203.0.113.8:5001", vip))
	ok.expect(220)
	ok.must("USER alice", 331)
	ok.must("PASS alice-pw", 230)
	logs := e.logs.String()
	for _, want := range []string{`msg="address banned" client=203.0.113.7 `, "remote=192.0.2.55:40000", "remote=203.0.113.8:5001"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}

	// A header from an address that is not trusted is refused.
	for _, v := range []byte{1, 2} {
		u := dialVia(t, "127.0.0.2", e.addr, proxyHeader(t, v, "192.0.2.55:1", vip))
		u.expect(220)
		_ = u.c.SetReadDeadline(time.Now().Add(wait))
		rest, _ := io.ReadAll(u.r)
		if v == 1 && !strings.HasPrefix(string(rest), "421 ") {
			t.Errorf("v1 header from an untrusted address answered %q", rest)
		}
		if strings.Contains(string(rest), "230") {
			t.Errorf("untrusted header: %q", rest)
		}
	}
	if !strings.Contains(e.logs.String(), "not a trusted proxy") {
		t.Error("the untrusted header was not logged")
	}
}

// testProxyRequired: with required, a trusted source without a header is
// refused, on control and on data connections.
func testProxyRequired(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t), func(c *ftp.Config) {
		c.ProxyProtocol = ftp.ProxyRequired
		c.ProxyTrusted = netipPrefix(t, "127.0.0.1/32")
		c.ProxyHeaderTimeout = 300 * time.Millisecond
		c.DataTimeout = 2 * time.Second
	})
	bare := dialVia(t, "127.0.0.1", e.addr, nil)
	_ = bare.c.SetReadDeadline(time.Now().Add(wait))
	if b, err := io.ReadAll(bare.r); len(b) != 0 || err != nil {
		t.Fatalf("trusted source without a header got %q, %v; want the connection closed", b, err)
	}
	// A direct client from elsewhere is served as itself.
	direct := dialVia(t, "127.0.0.3", e.addr, nil)
	direct.expect(220)

	e.put("/alice/f", "data")
	c := dialVia(t, "127.0.0.1", e.addr, proxyHeader(t, 2, "127.0.0.1:1000", "127.0.0.1:21"))
	c.expect(220)
	c.must("USER alice", 331)
	c.must("PASS alice-pw", 230)
	text := c.must("EPSV", 229)
	port := text[strings.Index(text, "(|||")+4 : strings.LastIndex(text, "|)")]
	d := dialVia(t, "127.0.0.1", "127.0.0.1:"+port, nil) // no header
	c.send("RETR f")
	if code, text := c.reply(); code != 425 {
		t.Fatalf("data connection without a header: %d %q, want 425", code, text)
	}
	_ = d.c.SetReadDeadline(time.Now().Add(wait))
	if b, _ := io.ReadAll(d.r); len(b) != 0 {
		t.Fatalf("data sent to a connection without a header: %q", b)
	}
	if _, err := e.backend.Stat(t.Context(), "/alice/f"); errors.Is(err, storage.ErrNotFound) {
		t.Fatal("file gone")
	}
}
