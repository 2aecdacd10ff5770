package ftptest

// Attacks: one case per class of attack an FTP server meets (path
// traversal, bounce, passive port theft, user enumeration by timing,
// slowloris, huge lines, pipelining floods, PASV and ABOR storms). Each pins
// behaviour the server has, so that a regression fails here.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

// otherHost is a second loopback address that plays another machine: a
// bounce target, or an attacker stealing a passive port.
const otherHost = "127.0.0.2"

// epsvPort is the port in a 229 reply's "(|||port|)".
func epsvPort(t *testing.T, text string) string {
	t.Helper()
	i, j := strings.Index(text, "(|||"), strings.LastIndex(text, "|)")
	if i < 0 || j < i+4 {
		t.Fatalf("bad EPSV reply %q", text)
	}
	return text[i+4 : j]
}

// pasvPort is the port in a 227 reply's "(h1,h2,h3,h4,p1,p2)".
func pasvPort(t *testing.T, text string) string {
	t.Helper()
	i, j := strings.Index(text, "("), strings.Index(text, ")")
	if i < 0 || j < i {
		t.Fatalf("bad PASV reply %q", text)
	}
	f := strings.Split(text[i+1:j], ",")
	if len(f) != 6 {
		t.Fatalf("bad PASV reply %q", text)
	}
	p1, err1 := strconv.Atoi(f[4])
	p2, err2 := strconv.Atoi(f[5])
	if err1 != nil || err2 != nil {
		t.Fatalf("bad PASV reply %q", text)
	}
	return strconv.Itoa(p1<<8 | p2)
}

// dialFrom connects to addr from the local address ip.
func dialFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: wait}
	return d.Dial("tcp", addr)
}

// dataConn connects to a passive port of the server from the client's
// address.
func (c *ctl) dataConn(port string) net.Conn {
	c.t.Helper()
	host, _, _ := net.SplitHostPort(c.c.RemoteAddr().String())
	d, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), wait)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { d.Close() })
	return d
}

// refusesConnections fails unless nothing listens on 127.0.0.1:port.
func refusesConnections(t *testing.T, port, why string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), wait)
	if err == nil {
		conn.Close()
		t.Fatalf("port %s still accepts connections %s", port, why)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("port %s %s: %v, want connection refused", port, why, err)
	}
}

// closedWithoutData fails unless the server closes conn without sending a
// byte on it.
func closedWithoutData(t *testing.T, conn net.Conn, who string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server left the connection open", who)
	}
	if len(b) != 0 {
		t.Fatalf("%s received %q", who, b)
	}
}

// ---------------------------------------------------------------------------
// FTP bounce (RFC 2577)

// testBounceRefused: PORT and EPRT naming another host (127.0.0.2, where
// a listener plays the victim) or a privileged port of the client get 504,
// in every spelling the parsers accept, and the refused target is not
// kept: the next RETR has no data connection (425), or goes to the target
// set before. The victim never sees a connection. It fails if
// checkActiveTarget stopped comparing the address (or its IPv4-mapped
// form) or the port, or if setActive kept a refused target.
func testBounceRefused(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	e.put("/alice/f", "payload")
	victim, err := net.Listen("tcp", net.JoinHostPort(otherHost, "0"))
	if err != nil {
		t.Fatalf("second loopback address: %v", err)
	}
	defer victim.Close()
	vport, _ := strconv.Atoi(portOf(victim.Addr()))
	// nothingArrived checks the victim's backlog: a connection the server
	// made is there before the server replies to the transfer command.
	nothingArrived := func(after string) {
		t.Helper()
		_ = victim.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
		if conn, err := victim.Accept(); err == nil {
			conn.Close()
			t.Fatalf("after %s the server connected to %s", after, victim.Addr())
		}
	}
	hi, lo := strconv.Itoa(vport>>8), strconv.Itoa(vport&0xff)
	refused := []string{
		"PORT 127,0,0,2," + hi + "," + lo,
		"PORT 127,000,000,002," + hi + "," + lo,
		"EPRT |1|127.0.0.2|" + strconv.Itoa(vport) + "|",
		"EPRT !1!127.0.0.2!" + strconv.Itoa(vport) + "!",
		"EPRT |2|::ffff:127.0.0.2|" + strconv.Itoa(vport) + "|",
		"PORT 0,0,0,0," + hi + "," + lo,
		"PORT 127,0,0,1,0,21",
		"PORT 127,0,0,1,3,255", // 1023
		"PORT 127,0,0,1,0,0",
		"EPRT |1|127.0.0.1|25|",
		"EPRT |1|127.0.0.1|1023|",
		"EPRT |2|::ffff:127.0.0.1|22|",
	}
	c := e.login("alice")
	c.must("TYPE I", 200)
	for _, cmd := range refused {
		c.must(cmd, 504)
		c.must("RETR f", 425)
		nothingArrived(cmd)
	}
	// A refused target does not replace the one set before it.
	own, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	c.must("EPRT |1|127.0.0.1|"+portOf(own.Addr())+"|", 200)
	c.must(refused[0], 504)
	c.send("RETR f")
	got := make(chan string, 1)
	go func() {
		_ = own.(*net.TCPListener).SetDeadline(time.Now().Add(wait))
		conn, err := own.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		b, _ := io.ReadAll(conn)
		got <- string(b)
	}()
	c.expect1xx()
	c.expect(226)
	if s := <-got; s != "payload" {
		t.Fatalf("the client's own address got %q", s)
	}
	nothingArrived("a RETR to the target set before")
	c.must("NOOP", 200)
}

// ---------------------------------------------------------------------------
// Passive port theft

// testPassiveTheft extends testPassivePeerCheck (a thief alone makes RETR
// time out with 425) to the cases that matter to the real client: thieves
// from 127.0.0.2 dialing the passive port first, over PASV and EPSV, and
// while RETR or STOR waits for the data connection, are each closed
// without a byte; the client connects afterwards and its transfer carries
// its data only (a thief's upload bytes never reach the file); once the
// client's connection is taken the port refuses connections. It fails if
// the peer check went, if a refused connection used up the listener (the
// client would get 425), or if the listener stayed open after the transfer.
func testPassiveTheft(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	e.put("/alice/f", "payload")
	c := e.login("alice")
	c.must("TYPE I", 200)
	thieves := func(t *testing.T, port string, n int) {
		t.Helper()
		for i := range n {
			thief, err := dialFrom(otherHost, net.JoinHostPort("127.0.0.1", port))
			if err != nil {
				t.Fatalf("thief %d: %v", i, err)
			}
			_ = thief.SetWriteDeadline(time.Now().Add(wait))
			_, _ = io.WriteString(thief, "EVIL") // may fail once the server closed it
			closedWithoutData(t, thief, fmt.Sprintf("thief %d on port %s", i, port))
		}
	}
	for _, verb := range []string{"PASV", "EPSV"} {
		for _, op := range []string{"RETR f", "STOR up"} {
			t.Run(verb+" "+op, func(t *testing.T) {
				cc := *c
				cc.t = t
				var port string
				if verb == "PASV" {
					port = pasvPort(t, cc.must("PASV", 227))
				} else {
					port = epsvPort(t, cc.must("EPSV", 229))
				}
				thieves(t, port, 3)
				// The transfer command waits for the data connection (STAT
				// says so); more thieves come first.
				cc.send(op)
				if text := cc.must("STAT", 211); !strings.Contains(text, "Transfer in progress") {
					t.Fatalf("STAT while %s waits: %q", op, text)
				}
				thieves(t, port, 3)
				d := cc.dataConn(port)
				cc.expect1xx()
				if op == "RETR f" {
					_ = d.SetReadDeadline(time.Now().Add(wait))
					if b, err := io.ReadAll(d); err != nil || string(b) != "payload" {
						t.Fatalf("client got %q, %v", b, err)
					}
				} else {
					_ = d.SetWriteDeadline(time.Now().Add(wait))
					if _, err := io.WriteString(d, "good"); err != nil {
						t.Fatal(err)
					}
					d.Close()
				}
				cc.expect(226)
				if op == "STOR up" {
					if got, _ := e.stored("/alice/up"); got != "good" {
						t.Fatalf("stored %q, want only the client's bytes", got)
					}
				}
				refusesConnections(t, port, "after the transfer took its data connection")
				cc.must("NOOP", 200)
			})
		}
	}
}

// ---------------------------------------------------------------------------
// User enumeration by timing

// testLoginTimingHidesUsers: PASS for an unknown user and a wrong PASS for
// a known one get the same reply, code and text, after USER got the same
// 331, and take comparable time: over 9 pairs of tries (back to back, each
// on a new connection from its own 127.0.0.x, so that per-address delays
// and bans play no part), the median ratio of the times is within a factor
// of 2.5 (about 1 on an idle machine; 0.6 to 1.2 while the whole suite
// runs alongside under -race). The known user has a default-cost argon2id
// hash, as HashPassword makes; unknown users are checked against a dummy
// hash of the same cost. It fails if unknown users were refused without
// hashing (a ratio of about 0.1), if the dummy hash were much cheaper or
// dearer than real ones (a bcrypt cost-4 dummy gives about 0.05), or if
// the reply named the reason.
func testLoginTimingHidesUsers(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	hash, err := auth.HashPassword("argon-pw")
	if err != nil {
		t.Fatal(err)
	}
	// Users with argon2id hashes only: the unknown users' dummy hash is of
	// the kind most users have (with the default bcrypt-4 users it would
	// be bcrypt, and the 1 ms failure delay would hide the difference).
	if err := e.users.SetUsers([]auth.User{{Name: "argon", PasswordHash: hash, Home: "/argon"}}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		user, pass string
		code       int
		text       string
		took       time.Duration
	}
	attempt := func(i int, user string) result {
		t.Helper()
		conn, err := dialFrom(fmt.Sprintf("127.0.0.%d", 10+i), e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := &ctl{t: t, c: conn, r: bufio.NewReader(conn)}
		c.expect(220)
		r := result{user: user}
		r.pass = c.must("USER "+user, 331)
		c.send("PASS not-the-password")
		start := time.Now()
		r.code, r.text = c.reply()
		r.took = time.Since(start)
		return r
	}
	// One of each first, uncounted: the first argon2id run allocates its
	// memory.
	attempt(0, "argon")
	attempt(1, "nosuchuser")
	const pairs = 9
	var ratios []float64
	var first result
	for i := range pairs {
		// Each pair is one try of each, back to back, the order alternating:
		// load on the machine then slows both alike.
		users := []string{"argon", "nosuchuser"}
		if i%2 == 1 {
			slices.Reverse(users)
		}
		took := map[string]time.Duration{}
		for j, user := range users {
			r := attempt(2+2*i+j, user)
			if first.user == "" {
				first = r
			}
			if r.code != 530 || r.text != first.text || r.pass != first.pass {
				t.Fatalf("%s: USER said %q, PASS got %d %q; %s: %q, %d %q", user, r.pass, r.code, r.text, first.user, first.pass, first.code, first.text)
			}
			took[user] = r.took
		}
		ratios = append(ratios, float64(took["nosuchuser"])/float64(took["argon"]))
	}
	slices.Sort(ratios)
	ratio := ratios[pairs/2]
	t.Logf("unknown/known user PASS time, median of %d pairs: %.2f (all: %.2f)", pairs, ratio, ratios)
	if ratio < 1/2.5 || ratio > 2.5 {
		t.Fatalf("a wrong password for an unknown user takes %.2f times as long as for a known one: timing tells users apart", ratio)
	}
}

// ---------------------------------------------------------------------------
// Slowloris

// testSlowloris: connections that dribble a command line a byte every 50
// ms and never end it, before and after login, are each sent 421 and
// closed at the idle timeout (1 s), counted from the last complete
// command, while another client keeps working. It fails if a partial line
// counted as activity (the idle timer reset on bytes rather than
// commands), if the idle timeout stopped applying before login or while a
// line is being read, or if one session's read blocked others.
func testSlowloris(t *testing.T, nb newBackend) {
	t.Parallel()
	const idle = time.Second
	e := startServer(t, nb(t), func(c *ftp.Config) { c.IdleTimeout = idle })
	type outcome struct {
		got  string
		took time.Duration
		err  error
	}
	const slow = 6
	results := make(chan outcome, slow)
	var wg sync.WaitGroup
	for i := range slow {
		var c *ctl
		start := time.Now()
		if i%2 == 0 {
			c = e.dial()
		} else {
			c = e.dial()
			c.must("USER alice", 331)
			start = time.Now()
			c.must("PASS alice-pw", 230)
		}
		conn := c.c
		stop := make(chan struct{})
		wg.Add(2)
		go func() { // the slow sender
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			line := "STOR " + strings.Repeat("x", 1000) // never ends: no LF
			for j := 0; j < len(line); j++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				_ = conn.SetWriteDeadline(time.Now().Add(wait))
				if _, err := conn.Write([]byte{line[j]}); err != nil {
					return
				}
			}
		}()
		go func() { // what the server sends until it closes
			defer wg.Done()
			defer close(stop)
			_ = conn.SetReadDeadline(time.Now().Add(idle + wait))
			b, err := io.ReadAll(c.r)
			results <- outcome{string(b), time.Since(start), err}
		}()
	}
	// Another client is served meanwhile, until every slow one is gone.
	busy := e.login("alice")
	busy.must("TYPE I", 200)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	rounds := 0
	for working := true; working; rounds++ {
		select {
		case <-done:
			working = false
		default:
		}
		if code, text := busy.stor("STOR", "busy", "work "+strconv.Itoa(rounds)); code != 226 {
			t.Fatalf("busy client STOR: %d %q", code, text)
		}
		if got := busy.retr("busy"); got != "work "+strconv.Itoa(rounds) {
			t.Fatalf("busy client RETR: %q", got)
		}
	}
	for range slow {
		o := <-results
		// The server may close with the dribbled bytes unread: a reset.
		if o.err != nil && !errors.Is(o.err, syscall.ECONNRESET) {
			t.Fatalf("slow connection not closed: %v (got %q after %v)", o.err, o.got, o.took)
		}
		if !strings.HasPrefix(o.got, "421 ") || strings.Count(o.got, "\n") != 1 {
			t.Fatalf("slow connection got %q before closing, want one 421 reply", o.got)
		}
		if o.took < idle {
			t.Fatalf("slow connection closed after %v, before the idle timeout %v", o.took, idle)
		}
	}
	t.Logf("busy client did %d rounds meanwhile", rounds)
}

// ---------------------------------------------------------------------------
// Huge lines

// testHugeLine: a 1 MiB command line, ended by CR LF or a bare LF, before
// and after login, made of plain bytes or of Telnet escapes (IAC IAC, one
// content byte each), gets 500 once it ends, and the session goes on
// (login, a transfer); 1 MiB of Telnet commands alone (IAC NOP), which add
// nothing to the line, is an empty line (500). 1 MiB never ended, then
// the client's end of the stream, closes the session cleanly: no reply,
// EOF. (That memory stays bounded whatever the length is
// TestReadLineMemoryBounded's job.) It fails if a long line closed the
// session, desynchronised the replies, or was executed truncated.
func testHugeLine(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	e.put("/alice/f", "payload")
	const mib = 1 << 20
	sendRaw := func(c *ctl, b []byte) {
		t.Helper()
		_ = c.c.SetWriteDeadline(time.Now().Add(wait))
		if _, err := c.c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	lines := []struct {
		name string
		line []byte
	}{
		{"USER argument, CR LF", append([]byte("USER "+strings.Repeat("a", mib)), "\r\n"...)},
		{"no spaces, bare LF", append(bytes.Repeat([]byte("N"), mib), '\n')},
		{"Telnet escaped bytes", append(append([]byte("NOOP "), bytes.Repeat([]byte{0xff, 0xff}, mib/2)...), "\r\n"...)},
		{"Telnet commands only", append(bytes.Repeat([]byte{0xff, 0xf1}, mib/2), "\r\n"...)},
	}
	c := e.dial()
	for _, l := range lines {
		sendRaw(c, l.line)
		if code, text := c.reply(); code != 500 {
			t.Fatalf("%s before login: got %d %q, want 500", l.name, code, text)
		}
		c.must("NOOP", 200)
	}
	c.must("USER alice", 331)
	c.must("PASS alice-pw", 230)
	c.must("TYPE I", 200)
	for _, l := range lines {
		// In an argument every byte counts, Telnet pairs too (other than
		// IAC IAC they are bytes of a name there: see readLine).
		sendRaw(c, append([]byte("RETR f/"), l.line...))
		if code, text := c.reply(); code != 500 {
			t.Fatalf("RETR with %s: got %d %q, want 500", l.name, code, text)
		}
	}
	// Before the verb, Telnet commands are not part of the line: this one
	// is "RETR f", which has no data connection.
	sendRaw(c, append(bytes.Repeat([]byte{0xff, 0xf1}, mib/2), "RETR f\r\n"...))
	if code, text := c.reply(); code != 425 {
		t.Fatalf("RETR after Telnet commands: got %d %q, want 425", code, text)
	}
	if got := c.retr("f"); got != "payload" {
		t.Fatalf("after the long lines RETR got %q", got)
	}

	t.Run("never ended", func(t *testing.T) {
		ee := *e
		ee.t = t
		c := ee.login("alice")
		c.t = t
		sendRaw(c, bytes.Repeat([]byte("x"), mib))
		if err := c.c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		_ = c.c.SetReadDeadline(time.Now().Add(wait))
		if b, err := io.ReadAll(c.r); err != nil || len(b) != 0 {
			t.Fatalf("after an unended line and EOF the server sent %q, %v; want a clean close", b, err)
		}
	})
}

// ---------------------------------------------------------------------------
// Pipelining

// testPipelinedCommands: 10,000 commands in one write after login (NOOP
// and REST n alternating, so each reply says which command it answers),
// read while they are written, get 10,000 replies in order, and the
// session works after. It fails if the reader dropped, merged or
// reordered pipelined lines (a new bufio.Reader per line, say, loses what
// the old one had buffered: reply 1 is then a 500), or if a reply stayed
// in a buffer unflushed (the read times out).
func testPipelinedCommands(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	c.must("TYPE I", 200) // REST needs it
	const n = 10000
	var b strings.Builder
	for i := range n {
		if i%2 == 0 {
			b.WriteString("NOOP\r\n")
		} else {
			fmt.Fprintf(&b, "REST %d\r\n", i)
		}
	}
	written := make(chan error, 1)
	go func() {
		_ = c.c.SetWriteDeadline(time.Now().Add(4 * wait))
		_, err := io.WriteString(c.c, b.String())
		written <- err
	}()
	for i := range n {
		code, text := c.reply()
		want := "Restarting at " + strconv.Itoa(i) + "."
		if i%2 == 0 {
			if code != 200 {
				t.Fatalf("reply %d: %d %q, want 200 for NOOP", i, code, text)
			}
		} else if code != 350 || !strings.HasPrefix(text, want) {
			t.Fatalf("reply %d: %d %q, want 350 %q", i, code, text, want)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	c.must("REST 0", 350)
	c.must("TYPE I", 200)
	if code, _ := c.stor("STOR", "after", "pipelined"); code != 226 {
		t.Fatalf("STOR after the flood: %d", code)
	}
	if got := c.retr("after"); got != "pipelined" {
		t.Fatalf("RETR after the flood: %q", got)
	}
}

// ---------------------------------------------------------------------------
// PASV and ABOR storms

// freePortPair finds two neighbouring free ports on 127.0.0.1.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l1.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two neighbouring free ports")
	return 0
}

// testPassiveStorm: 1,000 PASV and EPSV in a row in one session. Each
// closes the listener of the one before: a sample of the previous ports
// refuses connections right after, and with a passive range of only two
// ports all 1,000 still get a port (a leaked listener would hold its port
// and the third would get 425). The last one carries a transfer. It fails
// if startPassive stopped closing the previous listener, or the pool stopped
// taking ports back.
func testPassiveStorm(t *testing.T, nb newBackend) {
	t.Parallel()
	const n = 1000
	storm := func(t *testing.T, e *env, check func(i int, prev, port string)) {
		e.put("/alice/f", "payload")
		c := e.login("alice")
		c.t = t
		c.must("TYPE I", 200)
		var prev, port string
		for i := range n {
			if i%2 == 0 {
				port = epsvPort(t, c.must("EPSV", 229))
			} else {
				port = pasvPort(t, c.must("PASV", 227))
			}
			check(i, prev, port)
			prev = port
		}
		d := c.dataConn(port)
		c.send("RETR f")
		c.expect1xx()
		_ = d.SetReadDeadline(time.Now().Add(wait))
		if b, err := io.ReadAll(d); err != nil || string(b) != "payload" {
			t.Fatalf("the last passive port carried %q, %v", b, err)
		}
		c.expect(226)
		c.must("NOOP", 200)
	}
	t.Run("any port", func(t *testing.T) {
		e := startServer(t, nb(t))
		storm(t, e, func(i int, prev, port string) {
			if i%50 == 1 && prev != port {
				refusesConnections(t, prev, fmt.Sprintf("after the passive command %d that replaced it", i))
			}
		})
	})
	t.Run("two-port range", func(t *testing.T) {
		lo := freePortPair(t)
		e := startServer(t, nb(t), func(c *ftp.Config) { c.PassivePortMin, c.PassivePortMax = lo, lo+1 })
		storm(t, e, func(i int, prev, port string) {
			if p, _ := strconv.Atoi(port); p != lo && p != lo+1 {
				t.Fatalf("passive command %d gave port %d, outside %d-%d", i, p, lo, lo+1)
			}
		})
	})
}

// testAbortStorm: in one session, 1,000 ABOR with nothing prepared (225),
// 1,000 after EPSV (225, and a sample of the ports then refuse
// connections), 100 with the data connection open (225, and the server
// closes it), ABOR after EPRT (225, and RETR then has no data connection),
// and 50 ABOR during a running RETR or STOR, alternately plain and with
// Telnet IP and Synch (426 then 226, and the upload leaves no file). Every
// reply is well formed and the session transfers normally afterwards. It
// fails if ABOR left a listener or connection open, kept a prepared data
// connection, sent a reply too many or too few (the codes would then be
// out of step), or broke the session.
func testAbortStorm(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	big := strings.Repeat("0123456789abcdef", 4<<20) // 64 MiB: more than socket buffers hold
	e.put("/alice/big", big)
	e.put("/alice/f", "payload")
	c := e.login("alice")
	c.must("TYPE I", 200)
	for range 1000 {
		c.must("ABOR", 225)
	}
	for i := range 1000 {
		port := epsvPort(t, c.must("EPSV", 229))
		c.must("ABOR", 225)
		if i%100 == 0 {
			refusesConnections(t, port, "after ABOR")
		}
	}
	for i := range 100 {
		d := c.pasv()
		c.must("ABOR", 225)
		closedWithoutData(t, d, fmt.Sprintf("data connection %d after ABOR", i))
		d.Close()
	}
	own, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	c.must("EPRT |1|127.0.0.1|"+portOf(own.Addr())+"|", 200)
	c.must("ABOR", 225)
	c.must("RETR f", 425)
	for i := range 50 {
		abor := "ABOR"
		if i%2 == 1 {
			abor = abortSeq
		}
		d := c.pasv()
		name := "partial" + strconv.Itoa(i)
		op := "RETR big"
		if i%4 >= 2 {
			op = "STOR " + name
		}
		c.send(op)
		c.expect1xx()
		if op != "RETR big" {
			_ = d.SetWriteDeadline(time.Now().Add(wait))
			if _, err := io.WriteString(d, "some bytes"); err != nil {
				t.Fatal(err)
			}
		}
		c.send(abor)
		c.expect(426)
		c.expect(226)
		d.Close()
		if op != "RETR big" {
			if _, err := e.stored("/alice/" + name); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("aborted upload %d visible: %v", i, err)
			}
		}
	}
	c.must("NOOP", 200)
	if got := c.retr("f"); got != "payload" {
		t.Fatalf("RETR after the storm: %q", got)
	}
}
