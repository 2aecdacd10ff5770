package ftptest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/bucketftp/bucketftp/auth"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

// testWriteOnlyRule: with write but not overwrite, a change to an existing
// file must keep every byte it has. Each step would destroy or alter data a
// drop-box partner may not touch if the rule broke.
func testWriteOnlyRule(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	hundred := strings.Repeat("x", 100)
	wantStored := func(name, want string) {
		t.Helper()
		got, err := e.stored(name)
		if err != nil || got != want {
			t.Fatalf("%s holds %d bytes (%v), want %d", name, len(got), err, len(want))
		}
	}

	wo := e.login("wo")
	wo.must("TYPE I", 200)
	if code, _ := wo.stor("STOR", "f.bin", hundred); code != 226 {
		t.Fatalf("first STOR: %d", code)
	}
	if code, _ := wo.stor("STOR", "f.bin", "y"); code != 550 {
		t.Fatalf("STOR over the file: %d, want 550", code)
	}
	// The reported hole: REST below the size, then STOR, rewrote the file.
	wo.must("REST 1", 350)
	if code, _ := wo.stor("STOR", "f.bin", "y"); code != 550 {
		t.Fatalf("REST 1 + STOR: %d, want 550", code)
	}
	wantStored("/dropbox/f.bin", hundred)
	wo.must("REST 0", 350)
	if code, _ := wo.stor("STOR", "f.bin", "y"); code != 550 {
		t.Fatalf("REST 0 + STOR: %d, want 550", code)
	}
	wo.must("REST 50", 350)
	if code, _ := wo.stor("APPE", "f.bin", "y"); code != 550 {
		t.Fatalf("REST 50 + APPE: %d, want 550", code)
	}
	wantStored("/dropbox/f.bin", hundred)

	// What keeps every byte is allowed: a resume at exactly the size, APPE.
	wo.must("REST 100", 350)
	if code, _ := wo.stor("STOR", "f.bin", "0123456789"); code != 226 {
		t.Fatalf("REST at the size + STOR: %d, want 226", code)
	}
	if code, _ := wo.stor("APPE", "f.bin", "!"); code != 226 {
		t.Fatalf("APPE: %d, want 226", code)
	}
	wantStored("/dropbox/f.bin", hundred+"0123456789!")

	// MFMT: on the file this login uploaded, yes; on another, no.
	wo.must("MFMT 20200102030405 f.bin", 213)
	e.put("/dropbox/theirs.bin", "from someone else")
	wo.must("MFMT 20200102030405 theirs.bin", 550)
	wo2 := e.login("wo")
	wo2.must("MFMT 20200102030405 f.bin", 550)
	wo2.must("MFMT 20200102030405 missing.bin", 550)

	// A drop box (write alone) renames what this login just uploaded to
	// a new name, as temp-name uploads do; nothing else, and never onto a
	// file (which needs overwrite). RNFR's refusal does not tell whether
	// a name exists, nor does SIZE's.
	if code, _ := wo.stor("STOR", "g.csv.part", "temp"); code != 226 {
		t.Fatalf("STOR temp name: %d", code)
	}
	wo.must("RNFR g.csv.part", 350)
	wo.must("RNTO g.csv", 250)
	wantStored("/dropbox/g.csv", "temp")
	if code, _ := wo.stor("STOR", "h.csv.part", "temp"); code != 226 {
		t.Fatalf("STOR temp name: %d", code)
	}
	wo.must("RNFR h.csv.part", 350)
	wo.must("RNTO theirs.bin", 550)
	wantStored("/dropbox/theirs.bin", "from someone else")
	for _, name := range []string{"theirs.bin", "missing.bin"} {
		if text := wo.must("RNFR "+name, 550); !strings.Contains(text, "Permission denied") {
			t.Errorf("RNFR %s by a drop box: %q", name, text)
		}
	}
	// No look-up tells a drop box whether another's file is there: the
	// same reply for it and for a missing name. Its own upload and the
	// directories (it changes into them to upload) it may see.
	if err := e.backend.Mkdir(t.Context(), "/dropbox/sub"); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"SIZE %s", "MDTM %s", "MLST %s", "STAT %s", "MFMT 20200102030405 %s", "AVBL %s", "CWD %s"} {
		oneRefusal(t, "drop box: "+cmd, wo.asked(cmd), "theirs.bin", "missing.bin")
	}
	// REST n + STOR: whatever n, the same answer for another's file and
	// for none, so the offset cannot find a file's size: theirs.bin holds
	// 17 bytes, and n = 17 is refused too (an APPE keeps every byte of
	// it, and tells nothing).
	for _, n := range []string{"1", "5", "17", "100"} {
		oneRefusal(t, "drop box: REST "+n+" + STOR", func(name string) string {
			wo.must("REST "+n, 350)
			code, text := wo.stor("STOR", name, "z")
			return fmt.Sprintf("%d %s", code, text)
		}, "theirs.bin", "missing.bin")
	}
	// An APPE of nothing onto another's file does not make it this
	// login's: it may not then time or rename it.
	if code, _ := wo.stor("APPE", "theirs.bin", ""); code != 226 {
		t.Fatalf("APPE of nothing: %d", code)
	}
	wo.must("MFMT 20200102030405 theirs.bin", 550)
	wo.must("RNFR theirs.bin", 550)
	wantStored("/dropbox/theirs.bin", "from someone else")
	wo.must("MFMT 20200102030405 g.csv", 213) // this login's upload, renamed
	wo2.must("MFMT 20200102030405 g.csv", 550)
	wo.must("SIZE g.csv", 550) // a drop box's SIZE: its interrupted uploads only
	wo.must("CWD sub", 250)
	wo.must("CWD /", 250)
	wo2.must("RNFR g.csv", 550) // another login's upload

	// With rename too (which any file may be renamed with), still nothing
	// of another's file is told by a look-up.
	rb := e.login("renamebox")
	rb.must("TYPE I", 200)
	for _, cmd := range []string{"SIZE %s", "MFMT 20200102030405 %s", "AVBL %s", "CWD %s"} {
		c1, t1 := rb.cmd(fmt.Sprintf(cmd, "theirs.bin"))
		c2, t2 := rb.cmd(fmt.Sprintf(cmd, "missing.bin"))
		if c1 != 550 || c1 != c2 || t1 != t2 {
			t.Errorf("write and rename: %s: %d %q for a file, %d %q for none", cmd, c1, t1, c2, t2)
		}
	}

	// A user with write, rename and mkdir but not overwrite.
	d := e.login("drop")
	d.must("TYPE I", 200)
	for _, f := range []string{"a.csv", "b.csv"} {
		if code, _ := d.stor("STOR", f, "content of "+f); code != 226 {
			t.Fatalf("STOR %s: %d", f, code)
		}
	}
	d.must("RNFR a.csv", 350)
	d.must("RNTO b.csv", 550) // onto an existing file
	wantStored("/drop/a.csv", "content of a.csv")
	wantStored("/drop/b.csv", "content of b.csv")
	// The temp-name flow: upload, rename into place, set the time.
	if code, _ := d.stor("STOR", "c.csv.filepart", "final"); code != 226 {
		t.Fatalf("STOR temp name: %d", code)
	}
	d.must("RNFR c.csv.filepart", 350)
	d.must("RNTO c.csv", 250)
	d.must("MFMT 20200102030405 c.csv", 213)
	// STOU never replaces anything.
	code1, text1 := d.stor("STOU", "", "one")
	code2, text2 := d.stor("STOU", "", "two")
	if code1 != 226 || code2 != 226 || text1 == text2 {
		t.Fatalf("STOU: %d %q, %d %q", code1, text1, code2, text2)
	}
	// APPE onto a directory, MKD over a file, STOR over a directory.
	d.must("MKD dir", 257)
	if code, _ := d.stor("APPE", "dir", "x"); code != 550 {
		t.Fatalf("APPE onto a directory: %d, want 550", code)
	}
	if code, _ := d.stor("STOR", "dir", "x"); code != 550 {
		t.Fatalf("STOR onto a directory: %d, want 550", code)
	}
	d.must("MKD a.csv", 550)
	wantStored("/drop/a.csv", "content of a.csv")
	if e, err := e.backend.Stat(t.Context(), "/drop/dir"); err != nil || !e.IsDir {
		t.Fatalf("directory after APPE/STOR onto it: %+v %v", e, err)
	}
}

// testQueueBound: a client that pipelines commands during a transfer
// without reading replies is closed at the bound instead of growing the
// server's memory; below the bound ABOR and STAT act at once and the queued
// commands run afterwards, in order.
func testQueueBound(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t), func(c *ftp.Config) { c.MaxQueuedCommands = 8; c.MaxQueuedBytes = 4096 })

	startSlowStor := func(c *ctl, name string) net.Conn {
		t.Helper()
		d := c.pasv()
		c.send("STOR " + name)
		c.expect1xx()
		_ = d.SetWriteDeadline(time.Now().Add(wait))
		if _, err := io.WriteString(d, "partial"); err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("below the bound", func(t *testing.T) {
		c := e.login("alice")
		c.must("TYPE I", 200)
		d := startSlowStor(c, "slow.bin")
		defer d.Close()
		// Seven queued commands, then STAT (answered now), then ABOR.
		var b strings.Builder
		for i := range 7 {
			fmt.Fprintf(&b, "MKD q%d\r\n", i)
		}
		b.WriteString("STAT\r\n")
		c.send(strings.TrimSuffix(b.String(), "\r\n"))
		c.expect(211) // STAT during the transfer, before any queued reply
		c.send(abortSeq)
		c.expect(426)
		c.expect(226)
		for i := range 7 {
			if text := c.expect(257); !strings.Contains(text, fmt.Sprintf(`"/q%d"`, i)) {
				t.Fatalf("queued MKD %d answered %q", i, text)
			}
		}
		c.must("NOOP", 200)
	})
	for _, tc := range []struct {
		name string
		line string
		n    int
	}{
		{"too many commands", "NOOP", 20},
		{"too many bytes", "NOOP " + strings.Repeat("x", 2000), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.login("alice")
			c.must("TYPE I", 200)
			d := startSlowStor(c, "cut.bin")
			defer d.Close()
			c.send(strings.TrimSuffix(strings.Repeat(tc.line+"\r\n", tc.n), "\r\n"))
			c.expect(426)
			c.expect(421)
			_ = c.c.SetReadDeadline(time.Now().Add(wait))
			if _, err := c.r.ReadByte(); err == nil {
				t.Fatal("connection still open after 421")
			}
			if _, err := e.stored("/alice/cut.bin"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("cut upload left %v", err)
			}
		})
	}
}

// testLoginDeadline: a connection that does not log in within the login
// timeout gets 421, however busy it keeps the server with public commands;
// a logged-in session is not affected.
func testLoginDeadline(t *testing.T, nb newBackend) {
	t.Parallel()
	const timeout = 750 * time.Millisecond
	e := startServer(t, nb(t), func(c *ftp.Config) { c.LoginTimeout = timeout })
	in := e.login("alice")
	start := time.Now()
	c := e.dial()
	deadline := time.Now().Add(wait)
	for {
		code, text := c.cmd("NOOP")
		if code == 421 {
			if !strings.Contains(text, "Login timeout") {
				t.Fatalf("421 %q", text)
			}
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("NOOP before login: %d %q after %v", code, text, time.Since(start))
		}
	}
	if took := time.Since(start); took < timeout {
		t.Fatalf("closed after %v, before the login timeout %v", took, timeout)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("connection still open after 421")
	}
	in.must("NOOP", 200) // logged in before the deadline: still served

	// A half-finished login (USER, no PASS) does not extend it either.
	c2 := e.dial()
	c2.must("USER alice", 331)
	c2.expect(421)
}

// testLoginDeadlineUnread: a client that sends commands before login but
// never reads the replies is closed soon after its login deadline, not
// held open by replies that cannot be sent (before: the deadline could not
// fire while a reply waited up to DataTimeout + IdleTimeout, 5m30s with
// the defaults).
func testLoginDeadlineUnread(t *testing.T, nb newBackend) {
	t.Parallel()
	// Long enough for the replies to fill the buffers before it: then the
	// server is waiting to send when the deadline passes.
	const timeout = 2 * time.Second
	e := startServer(t, nb(t), func(c *ftp.Config) { c.LoginTimeout = timeout; c.IdleTimeout = time.Hour })
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	start := time.Now()
	_ = conn.SetWriteDeadline(start.Add(wait))
	chunk := []byte(strings.Repeat("HELP\r\n", 10000))
	for {
		// The server's replies fill the buffers between them, then its
		// reading stops and these writes block, until it closes.
		if _, err := conn.Write(chunk); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("still open %v after connecting, with a login timeout of %v", time.Since(start), timeout)
			}
			break
		}
	}
	took := time.Since(start)
	t.Logf("closed after %v", took.Round(time.Millisecond))
	if took < timeout {
		t.Fatalf("closed after %v, before the login timeout %v", took, timeout)
	}
}

// slowAuth answers logins after a delay, as an LDAP server or an auth
// hook far away would.
type slowAuth struct {
	ftp.Authenticator
	delay time.Duration
}

func (a slowAuth) Authenticate(ctx context.Context, user, pass string, remote netip.Addr) (*auth.Account, error) {
	select {
	case <-time.After(a.delay):
	case <-ctx.Done():
	}
	return a.Authenticator.Authenticate(ctx, user, pass, remote)
}

// testSlowLoginNearDeadline: a PASS sent before the login deadline whose
// check ends after it still gets its 230 and a working session (the reply
// was once held to the deadline and lost, closing the connection).
func testSlowLoginNearDeadline(t *testing.T, nb newBackend) {
	t.Parallel()
	const timeout = time.Second
	e := startServer(t, nb(t), func(c *ftp.Config) {
		c.LoginTimeout = timeout
		c.Auth = slowAuth{Authenticator: c.Auth, delay: 2 * timeout}
	})
	c := e.dial()
	c.must("USER alice", 331)
	c.must("PASS alice-pw", 230)
	c.must("NOOP", 200)
}

// testBan: failed logins from one address, across connections, get that
// address refused at connect; other addresses and exempt ones are served.
func testBan(t *testing.T, nb newBackend) {
	t.Parallel()
	exempt := netipPrefix(t, "127.0.0.3/32")
	e := startServer(t, nb(t), func(c *ftp.Config) {
		c.Ban = ftp.BanPolicy{After: 4, Window: time.Hour, Duration: time.Hour, Exempt: exempt}
		c.MaxLoginFailures = 3
	})
	from := func(ip string) *ctl {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: wait}
		conn, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return &ctl{t: t, c: conn, r: bufioReader(conn)}
	}
	// Two connections of two failures each: the fourth failure bans.
	for i := range 2 {
		c := from("127.0.0.1")
		c.expect(220)
		c.must("USER alice", 331)
		c.must("PASS wrong1", 530)
		c.must("USER nobody", 331)
		if i == 0 {
			c.must("PASS wrong2", 530)
			continue
		}
		if _, text := c.cmd("PASS wrong2"); !strings.Contains(text, "failed logins") {
			t.Fatalf("banning failure answered %q", text)
		}
	}
	for range 2 {
		c := from("127.0.0.1")
		if text := c.expect(421); !strings.Contains(text, "failed logins") {
			t.Fatalf("banned address greeted with %q", text)
		}
	}
	// Even the right password cannot get in now; other addresses can.
	other := from("127.0.0.2")
	other.expect(220)
	other.must("USER alice", 331)
	other.must("PASS alice-pw", 230)
	if !strings.Contains(e.logs.String(), `msg="address banned" client=127.0.0.1 `) {
		t.Fatalf("no ban line in the log:\n%s", e.logs.String())
	}
	// An exempt address is never banned.
	for range 3 {
		c := from("127.0.0.3")
		c.expect(220)
		for range 2 {
			c.must("USER alice", 331)
			c.must("PASS wrong", 530)
		}
	}
	c := from("127.0.0.3")
	c.expect(220)
	c.must("USER alice", 331)
	c.must("PASS alice-pw", 230)
}

// testPassivePerIP: one address cannot hold more than its share of passive
// listeners, whatever the number of its sessions; others still get theirs.
func testPassivePerIP(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t), func(c *ftp.Config) { c.MaxPassivePerIP = 2 })
	a, b, c := e.login("alice"), e.login("alice"), e.login("alice")
	a.must("EPSV", 229)
	b.must("PASV", 227)
	if text := c.must("EPSV", 425); !strings.Contains(text, "Too many passive") {
		t.Fatalf("third passive listener: %q", text)
	}
	c.must("PASV", 425)
	a.must("EPSV", 229) // a replaces its own listener: still two
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: wait}
	conn, err := d.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	o := &ctl{t: t, c: conn, r: bufioReader(conn)}
	o.expect(220)
	o.must("USER alice", 331)
	o.must("PASS alice-pw", 230)
	o.must("EPSV", 229)
	// When a listener is used, its share comes back.
	e.put("/alice/f", "data")
	if got := a.retr("f"); got != "data" {
		t.Fatalf("RETR through the passive listener: %q", got)
	}
	c.must("EPSV", 229)
}

// testRepliesSanitised: nothing a client sends comes back in a reply as a
// control character, and names that would forge or disguise listing lines
// are refused before they reach the store.
func testRepliesSanitised(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	for _, line := range []string{"HELP a\rb", "HELP \x1b[2J", "FOO\rBAR", "HELP \u202ecba", "SITE \u0085x", "HELP \xc3("} {
		c.send(line)
		_ = c.c.SetReadDeadline(time.Now().Add(wait))
		raw, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		body := strings.TrimSuffix(raw, "\r\n")
		for _, r := range body {
			if storage.Unprintable(r) || r == '\ufffd' {
				t.Fatalf("%q answered %q: control character %U echoed", line, raw, r)
			}
		}
		if !strings.HasPrefix(body, "5") || strings.Contains(body, "\r") {
			t.Fatalf("%q answered %q", line, raw)
		}
	}
	for _, name := range []string{"evil\u202etxt.exe", "a\u0085b", "x\u009b31m", "iso\u2066late"} {
		c.must("MKD "+name, 553)
		if code, _ := c.stor("STOR", name, "x"); code != 553 {
			t.Fatalf("STOR %q: %d, want 553", name, code)
		}
		if _, err := e.backend.Stat(t.Context(), "/alice/"+name); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%q reached the store: %v", name, err)
		}
	}
}

// testSTARTTLSInjection: commands sent in clear right behind AUTH TLS, in
// the same packet (the CVE-2011-0411 class), are dropped, not run once the
// handshake is done: the session is not logged in afterwards.
func testSTARTTLSInjection(t *testing.T, nb newBackend) {
	t.Parallel()
	opt, _ := withTLS(t, ftp.ReuseAllow)
	e := startServer(t, nb(t), opt)
	c := e.dial()
	c.send("AUTH TLS\r\nUSER alice\r\nPASS alice-pw\r\nMKD injected")
	c.expect(234)
	tc := tls.Client(c.c, clientTLS())
	_ = tc.SetDeadline(time.Now().Add(wait))
	if err := tc.Handshake(); err == nil {
		_ = tc.SetDeadline(time.Time{})
		c.c, c.r = tc, bufioReader(tc)
		c.must("PWD", 530)
		c.must("USER alice", 331)
		c.must("PASS alice-pw", 230)
		c.must("PWD", 257)
	}
	if _, err := e.backend.Stat(t.Context(), "/alice/injected"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("injected MKD ran: %v", err)
	}
}

// testAUTHDuringTransfer: an AUTH TLS sent while a STOR runs is refused at
// once (503, before the 226: a handshake cannot share the connection with
// a transfer's replies), the reader goes on (the STAT after it is
// answered), and an AUTH TLS after the 226 upgrades the connection: 234, a
// handshake that succeeds, commands over TLS. It fails if the refused AUTH
// left the reader waiting (STAT unanswered), or if the reader were still
// reading the connection during the later handshake.
func testAUTHDuringTransfer(t *testing.T, nb newBackend) {
	t.Parallel()
	opt, _ := withTLS(t, ftp.ReuseAllow)
	e := startServer(t, nb(t), opt)
	c := e.login("alice")
	c.must("TYPE I", 200)
	d := c.pasv()
	c.send("STOR during-auth")
	c.expect1xx()
	c.must("AUTH TLS", 503)
	if text := c.must("STAT", 211); !strings.Contains(text, "Transfer in progress") {
		t.Fatalf("STAT during the STOR: %q", text)
	}
	_, _ = io.WriteString(d, "data")
	d.Close()
	c.expect(226)
	if err := c.upgrade(clientTLS()); err != nil {
		t.Fatalf("AUTH TLS after the transfer: %v", err)
	}
	if text := c.must("STAT", 211); !strings.Contains(text, "Control connection: TLS") {
		t.Fatalf("STAT over TLS: %q", text)
	}
	if got, _ := e.stored("/alice/during-auth"); got != "data" {
		t.Fatalf("stored %q", got)
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

// testMountPermissions: a drop box (write alone) with a mount it may list
// and read learns nothing of its home's files from what the mount allows:
// every look-up of another's file there reads as for a missing name, and
// the mount itself is listed and read as its permissions say.
func testMountPermissions(t *testing.T, nb newBackend) {
	t.Parallel()
	b := nb(t)
	users := auth.NewStore(auth.StoreConfig{Backend: b})
	if err := users.SetUsers([]auth.User{{Name: "dm", PasswordHash: cheapHash(t, "dm-pw"), Home: "/dm", Permissions: []string{"write"},
		Mounts: []auth.MountSpec{{Path: "/archive", Home: "/common/archive", Permissions: []string{"list", "read"}}}}}); err != nil {
		t.Fatal(err)
	}
	e := startServer(t, b, func(c *ftp.Config) { c.Auth = users })
	for _, d := range []string{"/dm", "/common", "/common/archive"} {
		if err := b.Mkdir(t.Context(), d); err != nil && !errors.Is(err, storage.ErrExist) {
			t.Fatal(err)
		}
	}
	e.put("/dm/processed.csv", "someone else's invoice")
	e.put("/common/archive/old.txt", "old")
	c := e.login("dm")
	c.must("TYPE I", 200)
	for _, cmd := range []string{"SIZE %s", "MDTM %s", "MLST %s", "STAT %s", "RNFR %s", "MFMT 20200102030405 %s", "AVBL %s"} {
		oneRefusal(t, "drop box with a readable mount: "+cmd, c.asked(cmd), "processed.csv", "missing.csv")
	}
	for _, verb := range []string{"RETR", "LIST", "NLST", "MLSD"} {
		oneRefusal(t, "drop box with a readable mount: "+verb, func(name string) string {
			d := c.pasv()
			code, text := c.cmd(verb + " " + name)
			d.Close()
			if code == 150 || code == 125 {
				code, text = c.reply()
			}
			return fmt.Sprintf("%d %s", code, text)
		}, "processed.csv", "missing.csv")
	}
	if code, _ := c.stor("STOR", "mine.csv", "a,b\n"); code != 226 {
		t.Errorf("STOR into the home: %d", code)
	}
	c.must("SIZE /archive/old.txt", 213)
	if got := c.retr("/archive/old.txt"); got != "old" {
		t.Errorf("RETR from the mount: %q", got)
	}
	if got := c.list("NLST /archive"); !strings.Contains(got, "old.txt") {
		t.Errorf("NLST of the mount: %q", got)
	}
}

// asked is the reply to cmd (a format with one %s) for a name, as "code text".
func (c *ctl) asked(cmd string) func(name string) string {
	return func(name string) string {
		code, text := c.cmd(fmt.Sprintf(cmd, name))
		return fmt.Sprintf("%d %s", code, text)
	}
}

// oneRefusal fails unless ask gives names a and b one and the same 550
// reply, so the user cannot tell the two apart.
func oneRefusal(t *testing.T, what string, ask func(name string) string, a, b string) {
	t.Helper()
	ra, rb := ask(a), ask(b)
	if ra != rb || !strings.HasPrefix(ra, "550 ") {
		t.Errorf("%s: %q for %s, %q for %s; want one 550 for both", what, ra, a, rb, b)
	}
}
