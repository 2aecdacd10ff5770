package ftp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/ftp/tlscert"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// FuzzSession drives whole control sessions, as AFLNet and ProFuzzBench do
// for network servers: each input is a command script (raw bytes, CR, NUL
// and Telnet IAC sequences included) sent to a real session of a server on
// memstore over loopback, and a mode byte saying how the client behaves
// (see the sessMode bits). After every input it checks what a user or an
// operator would notice:
//
//   - every reply is a well-formed RFC 959 reply: a code 1xx-5xx, a space or
//     a hyphen, multi-line replies closed by "ddd ", lines ended by CR LF and
//     free of control characters and invalid UTF-8; 227 and 229 carry an
//     address and a port of the passive range; 257 a quoted path; nothing
//     after a closing 221 or 421;
//   - no 230 unless the client sent a right password;
//   - nothing outside alice's home changed (ro's home, a sibling /alicex,
//     /secret: names, sizes, contents and times), and no data connection
//     carried a file from outside a home;
//   - no handler panicked (the dispatcher's "panic in ..." log lines);
//   - the session ends, and its goroutines, passive ports and connection
//     slots are all given back;
//   - one input cannot make the process allocate more than sessAllocBudget.
//
// A script is cut into lines at LF (at most sessMaxLines, each cut to
// sessMaxLineLen); the harness adds QUIT, or, when the script ends inside a
// line, sends that and closes its sending side. %PORT% and %EPRT% become
// PORT and EPRT arguments for the harness's own active-mode listener.
//
// The seeds in testdata/fuzz/FuzzSession are what curl, lftp, ncftp and
// Python's ftplib sent to bucketftp (recorded through a proxy), FileZilla's
// usual sequence, and edge cases (traversal, a read-only user, REST and
// PORT arguments, Telnet bytes, long and binary lines, commands during a
// transfer). Each input gets a fresh connection to one server per fuzzing
// process, from its own 127.x.y.z address, and finds the store as it was.
func FuzzSession(f *testing.F) {
	h := startSessFuzzServer(f)
	for _, s := range []struct {
		script string
		mode   byte
	}{
		{"USER alice\r\nPASS alice-pw\r\nPWD\r\nQUIT\r\n", 0},
		{"HELP X\rY\r\nMODE S\r226 x\r\nSITE \x00\x9b[2J\r\nTYPE \xff\xfe\r\n", sessLogin},
		{"EPSV\r\nRETR ../secret/passwd\r\nCWD ../..\r\nEPSV\r\nRETR secret/passwd\r\nEPSV\r\nRETR /../alicex/f\r\nEPSV\r\nLIST ../..\r\n", sessLogin | sessDialPassive},
		{"EPSV\r\nRETR up.txt\r\n\xff\xf4\xff\xf2ABOR\r\nNOOP\r\n", sessLogin},
		{"NOOP\r\n\xff", 0},
	} {
		f.Add([]byte(s.script), s.mode)
	}
	f.Fuzz(func(t *testing.T, script []byte, mode byte) {
		h.run(t, script, mode)
	})
}

// sessMode bits: how the harness client behaves; the other bits are
// ignored.
const (
	sessDialPassive = 1 << iota // connect to the port of each 227/229 reply
	sessLockstep                // wait for a reply after each line (else send the whole script at once)
	sessActive                  // accept the server's PORT/EPRT connections (else nothing listens there)
	sessLogin                   // log in as alice before the script
	sessUpload                  // send sessPayload on each data connection (else only close the sending side)
)

const (
	sessMaxLines     = 80   // lines of a script sent, the rest ignored: enough to pass MaxQueuedCommands (64)
	sessMaxLineLen   = 1024 // bytes of a line sent before its LF; more are cut
	sessLineLimit    = 512  // the server's MaxLineLength: its smallest, so long lines are cheap to reach
	sessSilence      = 10 * time.Second
	sessLockstepWait = 250 * time.Millisecond // for one reply in lockstep
	sessLockstepMax  = time.Second            // in all, for one input; then the rest is sent at once
	sessSettle       = 5 * time.Second
	sessDataLinger   = 3 * time.Second // for the server to close a data connection after the session
	sessAllocBudget  = 32 << 20        // the most seen is 1.5 MiB; a transfer's copy buffer is 256 KiB
	sessMaxReplyLine = 16 << 10
	sessKeptData     = 1 << 20 // bytes of a data connection searched for sessSecret
)

// sessSecret is in the files no user may read; sessPayload (all a client
// can upload here) does not hold it, so seeing it on a data connection
// means a read outside a home.
const (
	sessSecret  = "OUTSIDE-HOME-d41f07c2"
	sessPayload = "fuzz upload\r\nsecond line\n"
)

// sessHome is alice's home as every input finds it; directories end in '/'.
var sessHome = []struct{ name, data string }{
	{"/alice/up.txt", strings.Repeat("hello world\r\nline two\n", 50)},
	{"/alice/data.bin", strings.Repeat(string(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}()), 8)},
	{"/alice/a/", ""},
	{"/alice/a/b/", ""},
	{"/alice/a/b/c.txt", "c\n"},
	{"/alice/empty/", ""},
	{"/alice/sp ace/", ""},
	{"/alice/sp ace/f", "x"},
}

// sessOutside is everything outside alice's home; no input may change it.
var sessOutside = []struct{ name, data string }{
	{"/secret/", ""},
	{"/secret/passwd", "root:" + sessSecret + "\n"},
	{"/alicex/", ""},
	{"/alicex/f", "sibling " + sessSecret + "\n"},
	{"/ro/", ""},
	{"/ro/readme.txt", "read-only user's file\n"},
	{"/ro/sub/", ""},
}

type sessFuzzServer struct {
	srv     *Server
	addr    string // the control address
	store   *memstore.Store
	logs    *sessLog
	fixture map[string]sessEntry // the whole store as every input finds it
	portLo  int
	portHi  int
	// spread: the harness connects from a new 127.x.y.z address for each
	// input (Linux routes all of 127/8 to lo), so failed logins never add
	// up to a ban of the one address.
	spread bool
	n      atomic.Uint32
	allocs []metrics.Sample
}

type sessEntry struct {
	dir   bool
	data  string
	mtime time.Time
}

func startSessFuzzServer(f *testing.F) *sessFuzzServer {
	ctx := f.Context()
	store := memstore.New()
	logs := &sessLog{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	users := auth.NewStore(auth.StoreConfig{Backend: store, Logger: log})
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			f.Fatal(err)
		}
		return string(h)
	}
	if err := users.SetUsers([]auth.User{
		{Name: "alice", PasswordHash: hash("alice-pw"), Home: "/alice"},
		{Name: "ro", PasswordHash: hash("ro-pw"), Home: "/ro", Permissions: []string{"list", "read"}},
	}); err != nil {
		f.Fatal(err)
	}
	certPEM, keyPEM, err := tlscert.SelfSigned("127.0.0.1", "localhost")
	if err != nil {
		f.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		f.Fatal(err)
	}
	// A passive range of its own per process (fuzz workers run side by
	// side), above Linux's ephemeral ports. A port someone else holds is
	// skipped by the server; that changes no invariant.
	lo := 61000 + os.Getpid()%280*16
	srv, err := New(Config{
		Auth: sessKnownUsers{users}, Storage: store, Logger: log,
		TLS:            tlscert.ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }),
		LoginFailDelay: time.Microsecond,
		DataTimeout:    10 * time.Millisecond, // a client that never connects costs this much per transfer
		IdleTimeout:    3 * time.Second,
		StallTimeout:   time.Second,
		MaxLineLength:  sessLineLimit,
		PassivePortMin: lo, PassivePortMax: lo + 15,
	})
	if err != nil {
		f.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	f.Cleanup(func() {
		srv.Close()
		<-done
	})
	h := &sessFuzzServer{
		srv: srv, addr: l.Addr().String(), store: store, logs: logs, portLo: lo, portHi: lo + 15,
		allocs: []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}},
	}
	if pl, err := net.Listen("tcp", "127.1.2.3:0"); err == nil {
		pl.Close()
		h.spread = true
	}
	if err := h.resetStore(ctx); err != nil {
		f.Fatal(err)
	}
	if h.fixture, err = sessSnapshot(ctx, store); err != nil {
		f.Fatal(err)
	}
	return h
}

// sessKnownUsers refuses unknown user names at once. auth.Store verifies
// them against a dummy argon2id hash, as costly as a real user's, which
// here would make every mutated USER line cost a fifth of a second and 19
// MiB; the session sees the same auth.ErrLoginFailed either way. Known
// users go to the real store, whose other methods (RequiresTLS) stay.
type sessKnownUsers struct{ *auth.Store }

func (u sessKnownUsers) Authenticate(ctx context.Context, user, pass string, remote netip.Addr) (*auth.Account, error) {
	if user != "alice" && user != "ro" {
		return nil, auth.ErrLoginFailed
	}
	return u.Store.Authenticate(ctx, user, pass, remote)
}

// sessCreate makes a directory (name ending in '/') or a file.
func sessCreate(ctx context.Context, b storage.Backend, name, data string) error {
	if strings.HasSuffix(name, "/") {
		return b.Mkdir(ctx, strings.TrimSuffix(name, "/"))
	}
	_, err := b.Put(ctx, name, strings.NewReader(data), int64(len(data)))
	return err
}

// sessWalk calls fn for every entry under dir, parents before children.
func sessWalk(ctx context.Context, b storage.Backend, dir string, fn func(name string, e storage.Entry) error) error {
	for e, err := range b.List(ctx, dir) {
		if err != nil {
			return err
		}
		name := path.Join(dir, e.Name)
		if err := fn(name, e); err != nil {
			return err
		}
		if e.IsDir {
			if err := sessWalk(ctx, b, name, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// sessSnapshot records everything in the store.
func sessSnapshot(ctx context.Context, b storage.Backend) (map[string]sessEntry, error) {
	m := map[string]sessEntry{}
	err := sessWalk(ctx, b, "/", func(name string, e storage.Entry) error {
		se := sessEntry{dir: e.IsDir, mtime: e.ModTime}
		if !e.IsDir {
			rc, err := b.Open(ctx, name, 0)
			if err != nil {
				return err
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			se.data = string(data)
		}
		m[name] = se
		return nil
	})
	return m, err
}

// sessEpoch is the time of every fixture entry, so a change of time shows.
var sessEpoch = time.Date(2020, 2, 29, 12, 0, 0, 0, time.UTC)

// resetStore empties the store and makes sessOutside and sessHome again,
// so that no input sees what an earlier one did (the fuzzer's minimizing
// relies on that).
func (h *sessFuzzServer) resetStore(ctx context.Context) error {
	var names []string
	var dirs []bool
	if err := sessWalk(ctx, h.store, "/", func(name string, e storage.Entry) error {
		names, dirs = append(names, name), append(dirs, e.IsDir)
		return nil
	}); err != nil {
		return err
	}
	for i := len(names) - 1; i >= 0; i-- {
		rm := h.store.Remove
		if dirs[i] {
			rm = h.store.Rmdir
		}
		if err := rm(ctx, names[i]); err != nil {
			return err
		}
	}
	for _, e := range slices.Concat(sessOutside, []struct{ name, data string }{{"/alice/", ""}}, sessHome) {
		if err := sessCreate(ctx, h.store, e.name, e.data); err != nil {
			return err
		}
		if err := h.store.SetModTime(ctx, strings.TrimSuffix(e.name, "/"), sessEpoch); err != nil {
			return err
		}
	}
	return nil
}

// sessLog is the server's log, kept for one input at a time.
type sessLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *sessLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *sessLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// sessLines cuts a script into the lines sent, each ending at its LF with
// every byte before it kept; at most sessMaxLines, each cut to
// sessMaxLineLen bytes before the LF. What follows the last LF is tail.
func sessLines(script []byte) (lines [][]byte, tail []byte) {
	for len(script) > 0 && len(lines) < sessMaxLines {
		i := bytes.IndexByte(script, '\n')
		if i < 0 {
			return lines, script[:min(len(script), sessMaxLineLen)]
		}
		line := script[:min(i, sessMaxLineLen)]
		lines = append(lines, append(line[:len(line):len(line)], '\n'))
		script = script[i+1:]
	}
	return lines, nil
}

// sessClient is the client side of one input.
type sessClient struct {
	h      *sessFuzzServer
	mode   byte
	ip     netip.Addr // the client's address
	conn   *net.TCPConn
	active net.Listener

	replies atomic.Int64
	notify  chan struct{} // a reply arrived
	done    chan struct{} // the reader is done

	mu         sync.Mutex
	problems   []string
	transcript strings.Builder
	dataConns  map[net.Conn]bool
	ended      bool // the control connection is closed
	data       sync.WaitGroup
	saw230     bool
}

func (c *sessClient) problem(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func (c *sessClient) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transcript.Len() < 64<<10 {
		fmt.Fprintf(&c.transcript, format+"\n", args...)
	}
}

func (h *sessFuzzServer) run(t *testing.T, script []byte, mode byte) {
	ctx := t.Context()
	h.logs.take()
	base := h.state()
	metrics.Read(h.allocs)
	allocs := h.allocs[0].Value.Uint64()

	c := &sessClient{h: h, mode: mode, notify: make(chan struct{}, 1), done: make(chan struct{}), dataConns: map[net.Conn]bool{}}
	c.ip = netip.MustParseAddr("127.0.0.1")
	if h.spread {
		n := h.n.Add(1)
		c.ip = netip.AddrFrom4([4]byte{127, byte(1 + os.Getpid()%200), byte(n >> 8), byte(n)})
	}
	sent := c.talk(t, script)

	// The session has ended (or is reported as hung): let everything go.
	if c.active != nil {
		c.active.Close()
	}
	c.mu.Lock()
	c.ended = true
	for dc := range c.dataConns {
		_ = dc.SetDeadline(time.Now().Add(sessDataLinger))
	}
	c.mu.Unlock()
	c.data.Wait()
	c.settle(base)

	logs := h.logs.take()
	// The dispatcher's and the transfer goroutine's recover log these
	// (a quoted client value cannot fake the unescaped msg=").
	if i := strings.Index(logs, ` msg="panic in `); i >= 0 {
		c.problem("the server logged a panic: %s", logs[i:min(len(logs), i+4000)])
	}
	if c.saw230 && !sessRightPassword(sent) {
		c.problem("230: logged in without a right password")
	}
	after, err := sessSnapshot(ctx, h.store)
	if err != nil {
		t.Fatal(err)
	}
	inHome := func(name string) bool { return name == "/alice" || strings.HasPrefix(name, "/alice/") }
	for name, b := range h.fixture {
		if a, ok := after[name]; inHome(name) {
			continue
		} else if !ok {
			c.problem("%s, outside alice's home, is gone", name)
		} else if a != b {
			c.problem("%s, outside alice's home, changed: %+v, was %+v", name, a, b)
		}
	}
	for name := range after {
		if _, ok := h.fixture[name]; !ok && !inHome(name) {
			c.problem("%s was created outside alice's home", name)
		}
	}
	if !maps.Equal(after, h.fixture) {
		if err := h.resetStore(ctx); err != nil {
			t.Fatal(err)
		}
	}
	metrics.Read(h.allocs)
	if n := h.allocs[0].Value.Uint64() - allocs; n > sessAllocBudget {
		c.problem("one session made the process allocate %d MiB", n>>20)
	}
	if testing.Verbose() {
		t.Logf("mode %#02x, client %s:\n%s", mode, c.ip, c.transcript.String())
	}
	if len(c.problems) > 0 {
		t.Fatalf("mode %#02x, client %s:\n%s\n--- sent:\n%q\n--- transcript:\n%s--- server log:\n%s",
			mode, c.ip, strings.Join(c.problems, "\n"), sent, c.transcript.String(), logs)
	}
}

// talk runs the session and returns the bytes sent on the control
// connection, once the server has closed it.
func (c *sessClient) talk(t *testing.T, script []byte) []byte {
	var portArg, eprtArg string
	if bytes.Contains(script, []byte("%PORT%")) || bytes.Contains(script, []byte("%EPRT%")) {
		portArg, eprtArg = c.listenActive(t)
	}

	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: c.ip.AsSlice()}}
	conn, err := d.DialContext(t.Context(), "tcp", c.h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c.conn = conn.(*net.TCPConn)
	go c.read()

	lines, tail := sessLines(script)
	if c.mode&sessLogin != 0 {
		lines = append([][]byte{[]byte("USER alice\r\n"), []byte("PASS alice-pw\r\n")}, lines...)
	}
	for i, line := range lines {
		line = bytes.ReplaceAll(line, []byte("%PORT%"), []byte(portArg))
		lines[i] = bytes.ReplaceAll(line, []byte("%EPRT%"), []byte(eprtArg))
	}
	end := []byte("QUIT\r\n")
	if len(tail) > 0 {
		end = tail // then the sending side is closed inside a line
	}
	var sent []byte
	send := func(b []byte) bool {
		sent = append(sent, b...)
		c.note("C: %q", b)
		_ = c.conn.SetWriteDeadline(time.Now().Add(sessSilence))
		_, err := c.conn.Write(b)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.problem("the server read no command for %v", sessSilence)
		}
		return err == nil
	}
	ok := true
	if c.mode&sessLockstep != 0 {
		// A line may get no reply of its own: queued behind a transfer, or
		// its LF taken as a Telnet option byte.
		budget := time.Now().Add(sessLockstepMax)
		c.waitReply(0, budget) // the greeting
		for ok && len(lines) > 0 && time.Now().Before(budget) {
			n := c.replies.Load()
			ok = send(lines[0])
			lines = lines[1:]
			c.waitReply(n, budget)
		}
	}
	if ok && send(append(bytes.Join(lines, nil), end...)) && len(tail) > 0 {
		_ = c.conn.CloseWrite()
	}
	<-c.done
	return sent
}

// listenActive opens the client's active-mode listener, serving the data
// connections the server makes to it when the mode says so (else closed at
// once, so they are refused), and returns it as PORT and EPRT arguments.
func (c *sessClient) listenActive(t *testing.T) (portArg, eprtArg string) {
	l, err := net.Listen("tcp", netip.AddrPortFrom(c.ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	a := c.ip.As4()
	portArg = fmt.Sprintf("%d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], p>>8, p&0xff)
	eprtArg = fmt.Sprintf("|1|%s|%d|", c.ip, p)
	if c.mode&sessActive == 0 {
		l.Close()
		return portArg, eprtArg
	}
	c.active = l
	c.data.Add(1)
	go func() {
		defer c.data.Done()
		for {
			dc, err := l.Accept()
			if err != nil {
				return
			}
			c.serveData(dc, "active")
		}
	}()
	return portArg, eprtArg
}

// waitReply waits until more than n replies came, the session ended,
// sessLockstepWait passed, or budget.
func (c *sessClient) waitReply(n int64, budget time.Time) {
	t := time.NewTimer(min(sessLockstepWait, time.Until(budget)))
	defer t.Stop()
	for c.replies.Load() <= n {
		select {
		case <-c.notify:
		case <-c.done:
			return
		case <-t.C:
			return
		}
	}
}

// read reads and checks replies until the server closes the connection.
func (c *sessClient) read() {
	defer close(c.done)
	r := bufio.NewReaderSize(c.conn, 4096)
	for n := 0; ; n++ {
		line, err := c.readLine(r)
		if err != nil {
			if sessClosed(err) && n == 0 {
				c.problem("the server closed the connection without a greeting")
			}
			return
		}
		code, multi, ok := sessReplyStart(line)
		if !ok {
			c.problem("malformed reply line %q", line)
			return
		}
		text := []string{line[4:]}
		for multi {
			l, err := c.readLine(r)
			if err != nil {
				if err == io.EOF {
					c.problem("multi-line %d reply not ended (no %q line)", code, line[:3]+" ")
				}
				return
			}
			multi = !strings.HasPrefix(l, line[:3]+" ")
			if multi {
				text = append(text, l)
			} else {
				text = append(text, l[4:])
			}
		}
		c.check(n, code, text) // before the writer goes on: a 227/229 is dialled first
		c.replies.Add(1)
		select {
		case c.notify <- struct{}{}:
		default:
		}
		switch code {
		case 234:
			// The control connection is TLS from here; the harness sends
			// no TLS, so the server's handshake fails and it hangs up.
			_ = c.conn.SetReadDeadline(time.Now().Add(sessSilence))
			var ne net.Error
			if _, err := io.Copy(io.Discard, r); errors.As(err, &ne) && ne.Timeout() {
				c.problem("after 234 and a failed TLS handshake, the connection stayed open %v", sessSilence)
			}
			return
		case 221, 421:
			_ = c.conn.SetReadDeadline(time.Now().Add(sessSilence))
			if b, err := r.Peek(1); len(b) > 0 {
				rest, _ := r.Peek(min(r.Buffered(), 200))
				c.problem("%q after a closing %d reply", rest, code)
			} else if !sessClosed(err) {
				c.problem("connection not closed after a %d reply: %v", code, err)
			}
			return
		}
	}
}

// readLine reads one reply line and strips its CR LF; io.EOF is a clean end
// before the line. Anything else is reported as a problem.
func (c *sessClient) readLine(r *bufio.Reader) (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(sessSilence))
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > sessMaxReplyLine {
			c.problem("reply line longer than %d bytes: %q...", sessMaxReplyLine, line[:200])
			return "", errors.New("long line")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			var ne net.Error
			switch {
			case sessClosed(err) && len(line) == 0:
				return "", io.EOF
			case sessClosed(err):
				c.problem("reply cut off by the end of the connection: %q", line)
			case errors.As(err, &ne) && ne.Timeout():
				c.problem("the server sent nothing for %v and did not close the connection (hung session?)", sessSilence)
			case !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded):
				c.problem("reading the control connection: %v", err)
			}
			return "", err
		}
		c.note("S: %q", line)
		if !bytes.HasSuffix(line, []byte("\r\n")) {
			c.problem("reply line %q does not end in CR LF", line)
		}
		return string(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))), nil
	}
}

// sessClosed reports the end of a connection: EOF, or a reset, which is
// how a close reaches the client when the server had unread commands.
func sessClosed(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

// sessReplyStart parses the first line of a reply: "ddd text" or
// "ddd-text" with the digits of an RFC 959 code (1-5, 0-5, 0-9).
func sessReplyStart(l string) (code int, multi, ok bool) {
	if len(l) < 4 || l[0] < '1' || l[0] > '5' || l[1] < '0' || l[1] > '5' || l[2] < '0' || l[2] > '9' || (l[3] != ' ' && l[3] != '-') {
		return 0, false, false
	}
	code, _ = strconv.Atoi(l[:3])
	return code, l[3] == '-', true
}

// check checks one reply's text and acts on it.
func (c *sessClient) check(n, code int, text []string) {
	for _, l := range text {
		if !utf8.ValidString(l) || strings.ContainsFunc(l, unicode.IsControl) {
			c.problem("reply %d carries a control character or invalid UTF-8: %q", code, l)
		}
	}
	if n == 0 && code != 220 && code != 421 {
		c.problem("greeting %d, want 220 (or 421)", code)
	}
	switch code {
	case 230:
		c.mu.Lock()
		c.saw230 = true
		c.mu.Unlock()
	case 227:
		port, ok := sessPASVPort(text[0])
		if !ok {
			c.problem("227 reply %q has no address (h1,h2,h3,h4,p1,p2) of 127.0.0.1", text[0])
			return
		}
		c.passive(port)
	case 229:
		port, ok := sessEPSVPort(text[0])
		if !ok {
			c.problem("229 reply %q has no (|||port|)", text[0])
			return
		}
		c.passive(port)
	case 257:
		if !sessQuoted(text[0]) {
			c.problem("257 reply %q does not start with a quoted path", text[0])
		}
	}
}

func (c *sessClient) passive(port int) {
	if port < c.h.portLo || port > c.h.portHi {
		c.problem("passive port %d is outside the range %d-%d", port, c.h.portLo, c.h.portHi)
		return
	}
	if c.mode&sessDialPassive == 0 {
		return
	}
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: c.ip.AsSlice()}}
	dc, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		c.note("data: dial %d: %v", port, err) // a later PASV may have closed it
		return
	}
	c.serveData(dc, "passive")
}

// serveData sends the payload (or nothing) on a data connection, closes
// its sending side, and reads what the server sends until it closes.
func (c *sessClient) serveData(dc net.Conn, kind string) {
	c.mu.Lock()
	c.dataConns[dc] = true
	if c.ended {
		_ = dc.SetDeadline(time.Now().Add(sessDataLinger))
	} else {
		_ = dc.SetDeadline(time.Now().Add(time.Minute)) // shortened once the session ends
	}
	c.mu.Unlock()
	c.data.Add(1)
	go func() {
		defer c.data.Done()
		defer dc.Close()
		if c.mode&sessUpload != 0 {
			_, _ = io.WriteString(dc, sessPayload)
		}
		_ = dc.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(io.LimitReader(dc, sessKeptData))
		if err == nil {
			_, err = io.Copy(io.Discard, dc)
		}
		c.note("data (%s): %d bytes, %v", kind, len(got), err)
		if bytes.Contains(got, []byte(sessSecret)) {
			c.problem("a %s data connection carried a file from outside the homes: %q", kind, got[:min(len(got), 200)])
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.problem("the server did not close a %s data connection after the session ended", kind)
		}
	}()
}

// sessState is what a session holds while it runs: the server's
// connection slots (all, and by address), passive ports, and goroutines.
type sessState struct{ sessions, addrs, ports, goroutines int }

func (h *sessFuzzServer) state() sessState {
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	return sessState{h.srv.total, len(h.srv.perIP), len(h.srv.pasvPorts), runtime.NumGoroutine()}
}

// settle waits until the session has given back all it held: the state is
// back to what it was before the input.
func (c *sessClient) settle(base sessState) {
	deadline := time.Now().Add(sessSettle)
	for {
		now := c.h.state()
		if now.sessions <= base.sessions && now.addrs <= base.addrs && now.ports <= base.ports && now.goroutines <= base.goroutines {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			c.problem("%v after the session ended it still holds sessions, addresses, passive ports, goroutines: %+v, before it %+v:\n%s",
				sessSettle, now, base, buf)
			return
		}
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
}

// sessRightPassword reports whether the commands in sent (as the server
// reads them, Telnet bytes taken out) hold a user's right password in the
// PASS that follows that user's USER.
func sessRightPassword(sent []byte) bool {
	r := bufio.NewReader(bytes.NewReader(sent))
	user := ""
	for {
		line, err := readLine(r, sessLineLimit)
		if errors.Is(err, errLineTooLong) {
			continue
		}
		if err != nil {
			return false
		}
		switch verb, arg := parseCommand(line); verb {
		case "USER":
			user = arg
		case "PASS":
			if (user == "alice" || user == "ro") && arg == user+"-pw" {
				return true
			}
			user = ""
		case "REIN":
			user = ""
		}
	}
}

// sessPASVPort reads the port of a 227 reply, whose address must be the
// server's, 127.0.0.1.
func sessPASVPort(text string) (int, bool) {
	i, j := strings.IndexByte(text, '('), strings.IndexByte(text, ')')
	if i < 0 || j < i {
		return 0, false
	}
	f := strings.Split(text[i+1:j], ",")
	if len(f) != 6 || strings.Join(f[:4], ".") != "127.0.0.1" {
		return 0, false
	}
	p1, err1 := strconv.Atoi(f[4])
	p2, err2 := strconv.Atoi(f[5])
	if err1 != nil || err2 != nil || p1 < 0 || p1 > 255 || p2 < 0 || p2 > 255 {
		return 0, false
	}
	return p1<<8 | p2, true
}

// sessEPSVPort reads the port of a 229 reply: "(|||port|)".
func sessEPSVPort(text string) (int, bool) {
	i := strings.Index(text, "(|||")
	if i < 0 {
		return 0, false
	}
	j := strings.Index(text[i:], "|)")
	if j < 0 {
		return 0, false
	}
	p, err := strconv.Atoi(text[i+4 : i+j])
	return p, err == nil && p > 0 && p < 65536
}

// sessQuoted reports whether text starts with a path in double quotes,
// embedded quotes doubled (RFC 959 appendix II).
func sessQuoted(text string) bool {
	if !strings.HasPrefix(text, `"`) {
		return false
	}
	for i := 1; i < len(text); i++ {
		if text[i] == '"' {
			if i+1 < len(text) && text[i+1] == '"' {
				i++
				continue
			}
			return true
		}
	}
	return false
}

// TestSessionFuzzChecks shows FuzzSession's reply checks trip: each case
// is a control connection's worth of server output.
func TestSessionFuzzChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, replies, want string }{
		{"well formed", "220 hi\r\n211-a\r\n 211 b\r\n211 end\r\n257 \"/a \"\"b\"\"\" created.\r\n227 Entering Passive Mode (127,0,0,1,238,72).\r\n229 (|||61015|)\r\n221 bye\r\n", ""},
		{"no greeting", "", "without a greeting"},
		{"greeting not 220", "200 hi\r\n", "greeting 200"},
		{"bare CR in text", "220 hi\r\n501 Unknown command X\rY.\r\n", "control character"},
		{"NUL in text", "220 hi\r\n501 a\x00b\r\n", "control character"},
		{"C1 control in text", "220 hi\r\n550 \u009b2J\r\n", "control character"},
		{"invalid UTF-8", "220 hi\r\n550 \xff\xfe\r\n", "invalid UTF-8"},
		{"LF without CR", "220 hi\n", "does not end in CR LF"},
		{"code 600", "220 hi\r\n600 x\r\n", "malformed"},
		{"second digit 6", "220 hi\r\n260 x\r\n", "malformed"},
		{"two digits", "220 hi\r\n20 x\r\n", "malformed"},
		{"no separator", "220hi\r\n", "malformed"},
		{"multi-line not ended", "220 hi\r\n211-a\r\n b\r\n", "not ended"},
		{"cut off", "220 hi\r\n200 o", "cut off"},
		{"long line", "220 " + strings.Repeat("x", sessMaxReplyLine) + "\r\n", "longer than"},
		{"after 221", "220 hi\r\n221 bye\r\n200 more\r\n", "after a closing 221"},
		{"227 without address", "220 hi\r\n227 Entering Passive Mode.\r\n", "no address"},
		{"227 other host", "220 hi\r\n227 Entering Passive Mode (10,0,0,1,239,72).\r\n", "no address"},
		{"229 without port", "220 hi\r\n229 Entering Extended Passive Mode (|||x|)\r\n", "no (|||port|)"},
		{"passive port outside the range", "220 hi\r\n229 (|||2121|)\r\n", "outside the range"},
		{"257 unquoted", "220 hi\r\n257 /x created.\r\n", "quoted path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				sc, err := l.Accept()
				if err != nil {
					return
				}
				defer sc.Close()
				_, _ = io.WriteString(sc, tc.replies)
			}()
			conn, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := &sessClient{h: &sessFuzzServer{portLo: 61000, portHi: 61015}, conn: conn.(*net.TCPConn),
				notify: make(chan struct{}, 1), done: make(chan struct{}), dataConns: map[net.Conn]bool{}}
			c.read()
			got := strings.Join(c.problems, "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("problems %q, want one with %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		sent string
		ok   bool
	}{
		{"USER alice\r\nPASS alice-pw\r\n", true},
		{"user ro\npass ro-pw\n", true},
		{"USER alice\r\n\xff\xfe\x01PASS alice-pw\r\n", true},  // Telnet DONT 1 before the verb is taken out
		{"USER alice\r\nPASS alice-\xff\xfe\x01pw\r\n", false}, // in the argument, bytes of it
		{"USER alice\r\nPASS alice-pW\r\n", false},
		{"USER alice\r\nPASS  alice-pw\r\n", false},
		{"USER alice\r\nPASS alice-pw", false}, // no line end: never executed
		{"USER ro\r\nPASS alice-pw\r\n", false},
		{"PASS alice-pw\r\n", false},
		{"USER alice\r\nNOOP\r\nPASS alice-pw\r\n", true},
		{"USER alice\r\nPASS x\r\nPASS alice-pw\r\n", false},
		{"USER alice\r\nREIN\r\nPASS alice-pw\r\n", false},
		{"USER alice\r\n" + strings.Repeat("x", sessLineLimit+1) + "\r\nPASS alice-pw\r\nUSER alice\r\nPASS alice-pw\r\n", true},
	} {
		if got := sessRightPassword([]byte(tc.sent)); got != tc.ok {
			t.Errorf("sessRightPassword(%q) = %v, want %v", tc.sent, got, tc.ok)
		}
	}
}
