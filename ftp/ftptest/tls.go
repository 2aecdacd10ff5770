package ftptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	ftpserver "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/ftp/tlscert"
)

// withTLS gives the server a fresh self-signed certificate; the PEM is
// written to dir for clients that want a CA file.
func withTLS(t *testing.T, reuse ftpserver.SessionReuse, more ...option) (option, string) {
	t.Helper()
	certPEM, keyPEM, err := tlscert.SelfSigned("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, certPEM, 0o600)
	return func(c *ftpserver.Config) {
		c.TLS = tlscert.ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
		c.SessionReuse = reuse
		for _, o := range more {
			o(c)
		}
	}, ca
}

func clientTLS() *tls.Config {
	// One ServerName for control and data connections: Go keys its session
	// cache by it (by host:port without it, which differs per data port).
	return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

// startImplicit serves implicit FTPS for e's server on another port.
func startImplicit(t *testing.T, e *env) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.ServeTLS(l)
	return l.Addr().String()
}

// upgrade sends AUTH TLS on a raw control connection and continues over TLS.
func (c *ctl) upgrade(cfg *tls.Config) error {
	c.t.Helper()
	return c.upgradeWith("TLS", cfg)
}

// upgradeWith is upgrade with another AUTH mechanism (TLS-C, TLS-P, SSL).
func (c *ctl) upgradeWith(mech string, cfg *tls.Config) error {
	c.t.Helper()
	c.must("AUTH "+mech, 234)
	tc := tls.Client(c.c, cfg)
	tc.SetDeadline(time.Now().Add(wait))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	c.c, c.r = tc, bufio.NewReader(tc)
	return nil
}

func testFTPSReplies(t *testing.T, nb newBackend) {
	t.Parallel()
	opt, _ := withTLS(t, ftpserver.ReuseAllow, func(c *ftpserver.Config) { c.TLSRequired = true; c.RequireDataTLS = true })
	e := startServer(t, nb(t), opt)
	c := e.dial()
	if text := c.must("FEAT", 211); !strings.Contains(text, "AUTH TLS") || !strings.Contains(text, "PBSZ") || !strings.Contains(text, "PROT") {
		t.Fatalf("FEAT lacks FTPS: %q", text)
	}
	c.must("USER alice", 530) // refused before any password is sent in clear
	c.must("PBSZ 0", 503)
	c.must("PROT P", 503)
	c.must("AUTH KERBEROS_V4", 504)
	if err := c.upgrade(clientTLS()); err != nil {
		t.Fatal(err)
	}
	c.must("AUTH TLS", 503)
	c.must("PROT P", 503)
	c.must("PBSZ 0", 200)
	c.must("PROT S", 536)
	c.must("PROT C", 534) // clear data refused by configuration
	c.must("CCC", 534)
	c.must("USER alice", 331)
	c.must("PASS alice-pw", 230)
	c.must("LIST", 521) // no PROT P yet
	if text := c.must("STAT", 211); !strings.Contains(text, "Control connection: TLS") {
		t.Fatalf("STAT: %q", text)
	}

	// TLS 1.1 and older are refused.
	old := e.dial()
	old.must("AUTH TLS", 234)
	cfg := clientTLS()
	cfg.MaxVersion = tls.VersionTLS11
	tc := tls.Client(old.c, cfg)
	tc.SetDeadline(time.Now().Add(wait))
	if err := tc.Handshake(); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

// testFTPSAuthMechanisms: AUTH SSL and AUTH TLS-P, the names of the draft
// RFC 4217 replaced, also protect the data connections (as ProFTPD does);
// AUTH TLS and TLS-C leave them clear until PROT P. A client that asked
// for protected data never gets a listing in clear.
func testFTPSAuthMechanisms(t *testing.T, nb newBackend) {
	t.Parallel()
	opt, _ := withTLS(t, ftpserver.ReuseAllow)
	e := startServer(t, nb(t), opt)
	e.put("/alice/visible.txt", "x")
	for mech, private := range map[string]bool{"TLS": false, "TLS-C": false, "tls-p": true, "SSL": true} {
		c := e.dial()
		if err := c.upgradeWith(mech, clientTLS()); err != nil {
			t.Fatal(err)
		}
		c.must("USER alice", 331)
		c.must("PASS alice-pw", 230)
		text := c.must("STAT", 211)
		if got := strings.Contains(text, "data connections: private (PROT P)"); got != private {
			t.Errorf("AUTH %s: STAT says %q, want private data %v", mech, text, private)
		}
		if private {
			// A data connection without TLS gets no listing: the server
			// takes what the client sends for a TLS handshake, fails it
			// and answers 425.
			d := c.pasv()
			c.send("NLST")
			c.expect1xx()
			d.Write([]byte("not a TLS handshake\r\n"))
			_ = d.SetReadDeadline(time.Now().Add(wait))
			b, _ := io.ReadAll(d)
			d.Close()
			if strings.Contains(string(b), "visible.txt") {
				t.Errorf("AUTH %s: a listing in clear: %q", mech, b)
			}
			if code, text := c.reply(); code != 425 {
				t.Errorf("AUTH %s: NLST on a clear data connection: %d %s, want 425", mech, code, text)
			}
		}
	}
}

// testFTPSStrictEOF: an upload whose TLS data connection ends at a TCP
// close without the client's close_notify (what an attacker on the path
// can forge to cut a file short) is stored by default, its end logged;
// with TLSStrictEOF it gets 426 and nothing is published. An upload
// ending with close_notify is stored either way.
func testFTPSStrictEOF(t *testing.T, nb newBackend) {
	t.Parallel()
	for _, strict := range []bool{false, true} {
		opt, _ := withTLS(t, ftpserver.ReuseAllow, func(c *ftpserver.Config) { c.TLSStrictEOF = strict })
		e := startServer(t, nb(t), opt)
		c := e.dial()
		if err := c.upgrade(clientTLS()); err != nil {
			t.Fatal(err)
		}
		c.must("USER alice", 331)
		c.must("PASS alice-pw", 230)
		c.must("PBSZ 0", 200)
		c.must("PROT P", 200)
		c.must("TYPE I", 200)
		for _, notify := range []bool{true, false} {
			name := fmt.Sprintf("notify-%v.bin", notify)
			d := c.pasv()
			c.send("STOR " + name)
			c.expect1xx()
			tc := tls.Client(d, clientTLS())
			_ = tc.SetDeadline(time.Now().Add(wait))
			if _, err := tc.Write(bytes.Repeat([]byte{'t'}, 100000)); err != nil {
				t.Fatal(err)
			}
			if notify {
				tc.Close() // close_notify, then the TCP close
			} else {
				d.(*net.TCPConn).CloseWrite() // the TCP close alone
			}
			code, text := c.reply()
			d.Close()
			want := 226
			if strict && !notify {
				want = 426
			}
			if code != want {
				t.Errorf("strict %v, close_notify %v: %d %s, want %d", strict, notify, code, text, want)
			}
			_, err := e.stored("/alice/" + name)
			if stored := err == nil; stored != (want == 226) {
				t.Errorf("strict %v, close_notify %v: stored %v (%v)", strict, notify, stored, err)
			}
		}
		if logged := strings.Contains(e.logs.String(), "without close_notify; taken as the end"); logged != !strict {
			t.Errorf("strict %v: the end without close_notify logged: %v", strict, logged)
		}
	}
}

func testFTPSGoClient(t *testing.T, nb newBackend) {
	t.Parallel()
	for _, reuse := range []ftpserver.SessionReuse{ftpserver.ReuseRequire, ftpserver.ReuseAllow, ftpserver.ReuseOff} {
		opt, _ := withTLS(t, reuse)
		e := startServer(t, nb(t), opt)
		implicit := startImplicit(t, e)
		for _, dial := range []func() (*ftp.ServerConn, error){
			func() (*ftp.ServerConn, error) {
				return ftp.Dial(e.addr, ftp.DialWithTimeout(wait), ftp.DialWithExplicitTLS(clientTLS()))
			},
			func() (*ftp.ServerConn, error) {
				return ftp.Dial(implicit, ftp.DialWithTimeout(wait), ftp.DialWithTLS(clientTLS()))
			},
		} {
			c, err := dial()
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Login("alice", "alice-pw"); err != nil {
				t.Fatal(err)
			}
			data := strings.Repeat("secret payload ", 50000)
			if err := c.Stor("tls.txt", strings.NewReader(data)); err != nil {
				t.Fatalf("reuse %d: STOR over TLS: %v", reuse, err)
			}
			r, err := c.Retr("tls.txt")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if string(got) != data {
				t.Fatalf("reuse %d: RETR over TLS returned %d bytes", reuse, len(got))
			}
			if _, err := c.List("."); err != nil {
				t.Fatal(err)
			}
			c.Quit()
		}
	}
}

const ftplibTLSScript = `
import ftplib, io, ssl, sys
host, port, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=sys.argv[4])
f = ftplib.FTP_TLS(context=ctx)
f.connect(host, port, timeout=10)
f.login("alice", "alice-pw")
f.prot_p()
try:
    f.storbinary("STOR py.bin", io.BytesIO(b"x" * 100000))
    got = io.BytesIO()
    f.retrbinary("RETR py.bin", got.write)
    assert got.getvalue() == b"x" * 100000
    print("ok")
except ftplib.all_errors as e:
    if isinstance(e, ftplib.Error):
        print(str(e)[:3])
    else:
        # the data connection was cut: the refusal is the pending reply
        try:
            f.voidresp()
            print("no refusal")
        except ftplib.Error as r:
            print(str(r)[:3])
`

func testFTPSPythonAndCurl(t *testing.T, nb newBackend) {
	t.Parallel()
	py := needTool(t, "python3")
	curl := needTool(t, "curl")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	os.WriteFile(src, randomData(t, 300000), 0o600)

	// ftplib does not resume TLS sessions on data connections: fine when
	// reuse is allowed, refused (522) when it is required.
	for _, tc := range []struct {
		reuse ftpserver.SessionReuse
		want  string
	}{{ftpserver.ReuseAllow, "ok"}, {ftpserver.ReuseRequire, "522"}} {
		opt, ca := withTLS(t, tc.reuse)
		e := startServer(t, nb(t), opt)
		host, port, _ := strings.Cut(e.addr, ":")
		if out := strings.TrimSpace(run(t, dir, py, "-c", ftplibTLSScript, host, port, tc.want, ca)); out != tc.want {
			t.Fatalf("ftplib with reuse %d: %q, want %q", tc.reuse, out, tc.want)
		}
	}

	// curl resumes sessions: explicit FTPS with reuse required, and implicit.
	opt, ca := withTLS(t, ftpserver.ReuseRequire)
	e := startServer(t, nb(t), opt)
	implicit := startImplicit(t, e)
	run(t, dir, curl, "-sS", "--ssl-reqd", "--cacert", ca, "-T", src, "ftp://alice:alice-pw@"+e.addr+"/explicit.bin")
	run(t, dir, curl, "-sS", "--ssl-reqd", "--cacert", ca, "-o", "back.bin", "ftp://alice:alice-pw@"+e.addr+"/explicit.bin")
	run(t, dir, curl, "-sS", "--cacert", ca, "-T", src, "ftps://alice:alice-pw@"+implicit+"/implicit.bin")
	want, _ := os.ReadFile(src)
	for _, name := range []string{"/alice/explicit.bin", "/alice/implicit.bin"} {
		if got, _ := e.stored(name); got != string(want) {
			t.Fatalf("%s: %d bytes stored", name, len(got))
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "back.bin")); string(got) != string(want) {
		t.Fatal("curl FTPS download differs")
	}
}

func testFTPSLftp(t *testing.T, nb newBackend) {
	t.Parallel()
	lftp := needTool(t, "lftp")
	opt, ca := withTLS(t, ftpserver.ReuseAllow, func(c *ftpserver.Config) { c.TLSRequired = true; c.RequireDataTLS = true })
	e := startServer(t, nb(t), opt)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "up.txt"), []byte("over lftp and TLS"), 0o600)
	script := strings.Join([]string{
		"set ftp:ssl-force true", "set ftp:ssl-protect-data true", "set ssl:ca-file " + ca,
		"set net:max-retries 1", "set net:timeout 10",
		"put up.txt", "get up.txt -o down.txt", "bye",
	}, "; ")
	run(t, dir, lftp, "-u", "alice,alice-pw", "-e", script, "ftp://"+e.addr)
	if got, _ := os.ReadFile(filepath.Join(dir, "down.txt")); string(got) != "over lftp and TLS" {
		t.Fatalf("lftp round trip: %q", got)
	}
}

func testFTPSPerUserRequirement(t *testing.T, nb newBackend) {
	t.Parallel()
	opt, _ := withTLS(t, ftpserver.ReuseAllow)
	e := startServer(t, nb(t), opt)
	c := e.dial()
	c.must("USER tlsonly", 530) // require_tls: refused before the password
	c.must("USER alice", 331)   // others may still log in in clear
	c.must("PASS alice-pw", 230)
	if err := c.upgrade(clientTLS()); err != nil {
		t.Fatal(err)
	}
	c.must("USER tlsonly", 331)
	c.must("PASS tlsonly-pw", 230)

	// Without a certificate such a user cannot log in at all.
	plain := startServer(t, nb(t))
	p := plain.dial()
	p.must("USER tlsonly", 530)
}
