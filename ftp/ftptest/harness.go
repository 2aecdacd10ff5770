package ftptest

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// wait bounds every read in these tests.
const wait = 10 * time.Second

// testUser is a user in the test users table; the password is the name
// with "-pw" appended.
type testUser struct {
	name, home string
	perms      []string
	quota      int64
	cidrs      []string
	requireTLS bool
	encoding   string // name_encoding
	ascii      string
}

type env struct {
	t       *testing.T
	addr    string
	srv     *ftp.Server
	backend storage.Backend
	users   *auth.Store
	logs    *syncBuffer
}

type option func(*ftp.Config)

var defaultUsers = []testUser{
	{name: "alice", home: "/alice"},
	{name: "wo", home: "/dropbox", perms: []string{"write"}},
	{name: "renamebox", home: "/dropbox", perms: []string{"write", "rename"}},
	{name: "drop", home: "/drop", perms: []string{"write", "rename", "mkdir", "list"}},
	{name: "latin", home: "/latin", encoding: "iso-8859-1", ascii: "binary"},
	{name: "ro", home: "/alice", perms: []string{"list", "read"}},
	{name: "quota", home: "/q", quota: 1000},
	{name: "faraway", home: "/far", cidrs: []string{"192.0.2.0/24"}},
	{name: "tlsonly", home: "/tlsonly", requireTLS: true},
}

// hashCache keeps bcrypt-4 hashes: cheap, and the same verifier real users hit.
var hashCache sync.Map

func cheapHash(t testing.TB, pw string) string {
	if h, ok := hashCache.Load(pw); ok {
		return h.(string)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashCache.Store(pw, string(h))
	return string(h)
}

// startServer runs a server on 127.0.0.1:0 over backend (memstore when
// nil) with the default users.
func startServer(t *testing.T, backend storage.Backend, opts ...option) *env {
	t.Helper()
	if backend == nil {
		backend = memstore.New()
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	users := auth.NewStore(auth.StoreConfig{Backend: backend, Logger: log})
	var us []auth.User
	for _, u := range defaultUsers {
		us = append(us, auth.User{Name: u.name, PasswordHash: cheapHash(t, u.name+"-pw"), Home: u.home,
			Permissions: u.perms, QuotaBytes: u.quota, AllowedCIDRs: u.cidrs, RequireTLS: u.requireTLS,
			NameEncoding: u.encoding, ASCII: u.ascii})
	}
	if err := users.SetUsers(us); err != nil {
		t.Fatal(err)
	}
	for _, u := range defaultUsers {
		if err := backend.Mkdir(t.Context(), u.home); err != nil && !errors.Is(err, storage.ErrExist) {
			t.Fatal(err)
		}
	}
	cfg := ftp.Config{
		Auth: users, Storage: backend, Logger: log,
		LoginFailDelay: time.Millisecond, DataTimeout: 5 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := ftp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &env{t: t, addr: l.Addr().String(), srv: srv, backend: backend, users: users, logs: logs}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ctl is a raw control connection that checks exact replies.
type ctl struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (e *env) dial() *ctl {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, wait)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	cc := &ctl{t: e.t, c: c, r: bufio.NewReader(c)}
	cc.expect(220)
	return cc
}

// login dials and logs in as user.
func (e *env) login(user string) *ctl {
	e.t.Helper()
	c := e.dial()
	c.must("USER "+user, 331)
	c.must("PASS "+user+"-pw", 230)
	return c
}

// reply reads one complete (possibly multi-line) reply.
func (c *ctl) reply() (int, string) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply: %v (got %q)", err, line)
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 4 {
		c.t.Fatalf("short reply %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		c.t.Fatalf("bad reply %q", line)
	}
	text := line[4:]
	if line[3] == '-' {
		end := line[:3] + " "
		for {
			l, err := c.r.ReadString('\n')
			if err != nil {
				c.t.Fatalf("reading multi-line reply: %v", err)
			}
			l = strings.TrimRight(l, "\r\n")
			if strings.HasPrefix(l, end) {
				text += "\n" + l[4:]
				break
			}
			text += "\n" + l
		}
	}
	return code, text
}

func (c *ctl) send(line string) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c.c, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and returns its reply.
func (c *ctl) cmd(line string) (int, string) {
	c.t.Helper()
	c.send(line)
	return c.reply()
}

// must sends a command and fails unless the reply has the given code.
func (c *ctl) must(line string, code int) string {
	c.t.Helper()
	got, text := c.cmd(line)
	if got != code {
		c.t.Fatalf("%q: got %d %q, want %d", line, got, text, code)
	}
	return text
}

// expect1xx reads the preliminary reply of a transfer: 150, or 125 when
// the passive data connection was already open.
func (c *ctl) expect1xx() string {
	c.t.Helper()
	code, text := c.reply()
	if code != 150 && code != 125 {
		c.t.Fatalf("got %d %q, want 150 or 125", code, text)
	}
	return text
}

func (c *ctl) expect(code int) string {
	c.t.Helper()
	got, text := c.reply()
	if got != code {
		c.t.Fatalf("got %d %q, want %d", got, text, code)
	}
	return text
}

// pasv opens a passive data connection with EPSV.
func (c *ctl) pasv() net.Conn {
	c.t.Helper()
	text := c.must("EPSV", 229)
	i := strings.Index(text, "(|||")
	j := strings.LastIndex(text, "|)")
	if i < 0 || j < i {
		c.t.Fatalf("bad EPSV reply %q", text)
	}
	port, err := strconv.Atoi(text[i+4 : j])
	if err != nil {
		c.t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(c.c.RemoteAddr().String())
	d, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), wait)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { d.Close() })
	return d
}

// retr downloads name and checks the 1xx and 226 replies.
func (c *ctl) retr(name string) string {
	c.t.Helper()
	return c.list("RETR " + name)
}

// activeRetr downloads name in active mode: it listens on host, sends
// EPRT with family af, and returns what the server sent there.
func (c *ctl) activeRetr(af, host, name string) string {
	c.t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer l.Close()
	c.must("EPRT |"+af+"|"+host+"|"+portOf(l.Addr())+"|", 200)
	c.send("RETR " + name)
	got := make(chan string, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(conn)
		conn.Close()
		got <- string(b)
	}()
	c.expect1xx()
	c.expect(226)
	return <-got
}

// stor uploads data with verb (STOR, APPE, STOU) and returns the final reply.
func (c *ctl) stor(verb, name, data string) (int, string) {
	c.t.Helper()
	d := c.pasv()
	c.send(strings.TrimSpace(verb + " " + name))
	code, text := c.reply()
	if code != 150 && code != 125 {
		d.Close()
		return code, text
	}
	_ = d.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(d, data); err != nil {
		c.t.Fatal(err)
	}
	d.Close()
	return c.reply()
}

// list runs a command that sends data (LIST, NLST, MLSD, RETR) in
// passive mode, checks its 1xx and 226 replies and returns the data.
func (c *ctl) list(line string) string {
	c.t.Helper()
	d := c.pasv()
	c.send(line)
	code, text := c.reply()
	if code != 150 && code != 125 {
		c.t.Fatalf("%s: got %d %q", line, code, text)
	}
	_ = d.SetReadDeadline(time.Now().Add(wait))
	b, err := io.ReadAll(d)
	if err != nil {
		c.t.Fatal(err)
	}
	c.expect(226)
	return string(b)
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func netipPrefix(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return []netip.Prefix{p}
}
