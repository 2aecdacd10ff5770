package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/bucketftp/bucketftp/auth"
)

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:1\nbanner: from file\nidle_timeout: 1m\nmax_connections: 7\n"), 0o600)
	env := map[string]string{"BUCKETFTP_CONFIG": file, "BUCKETFTP_BANNER": "from env", "BUCKETFTP_IDLE_TIMEOUT": "2m"}
	c, err := loadConfig([]string{"--idle-timeout", "3m", "--tls-required", "--allow-foreign-data-peers=false"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1" || c.Banner != "from env" || c.IdleTimeout != 3*time.Minute || c.MaxConnections != 7 || c.DataTimeout != 30*time.Second || !c.TLSRequired || c.AllowForeignDataPeers {
		t.Fatalf("got %+v", c)
	}
	os.WriteFile(file, []byte("nope: 1\nidle_timeout: soon\n"), 0o600)
	_, err = loadConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `unknown key "nope"`) || !strings.Contains(err.Error(), "idle_timeout") {
		t.Fatalf("bad file: %v", err)
	}
}

func TestConfigDocIsCurrent(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != configMarkdown() {
		t.Fatal("docs/configuration.md is stale: run go run ./cmd/bucketftp config-doc > docs/configuration.md")
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"hash-password"}, strings.NewReader("s3cret\n"), &out, &errOut, os.Getenv); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	h := strings.TrimSpace(out.String())
	if ok, err := auth.VerifyPassword(h, "s3cret"); !ok || err != nil || !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash %q does not verify: %v", h, err)
	}
	if code := run(t.Context(), []string{"hash-password"}, strings.NewReader(""), &out, &errOut, os.Getenv); code == 0 {
		t.Fatal("empty input accepted")
	}
}

// server is a bucketftp serve subprocess.
type server struct {
	cmd  *exec.Cmd
	addr string
	logs *lockedBuffer // stderr
	mu   chan struct{} // closed when stderr is fully read
	pass string        // the generated password, when printed
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bucketftp")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServe runs the binary and waits for its "listening" log line.
func startServe(t *testing.T, bin string, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--login-fail-delay", "1ms"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &lockedBuffer{}, mu: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.logs.Write([]byte(sc.Text() + "\n"))
			lines <- sc.Text()
		}
		close(s.mu)
		close(lines)
	}()
	listening := regexp.MustCompile(`(?:msg=listening addr=|"msg":"listening","addr":")([^\s"]+)`)
	password := regexp.MustCompile(`with password (\S+)`)
	timeout := time.After(30 * time.Second)
	for s.addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server exited before listening")
			}
			if m := password.FindStringSubmatch(l); m != nil {
				s.pass = m[1]
			}
			if m := listening.FindStringSubmatch(l); m != nil {
				s.addr = m[1]
			}
		case <-timeout:
			t.Fatal("server did not start listening")
		}
	}
	go func() {
		for range lines {
		}
	}()
	return s
}

// waitLog waits (bounded) for a server log line matching re and returns
// its submatches.
func (s *server) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(s.logs.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s", re)
		}
	}
}

func (s *server) stop(t *testing.T) string {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	<-s.mu
	return s.logs.String()
}

func login(t *testing.T, addr, user, pass string) (*ftp.ServerConn, error) {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pass); err != nil {
		c.Quit()
		return nil, err
	}
	return c, nil
}

func writeUsers(t *testing.T, file string, users ...[2]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("users:\n")
	for _, u := range users {
		h, err := auth.HashPassword(u[1])
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("  - name: " + u[0] + "\n    password_hash: \"" + h + "\"\n")
	}
	if err := os.WriteFile(file+".tmp", []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Rename(file+".tmp", file)
}

func TestServeReloadsUsersOnSIGHUP(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	writeUsers(t, users, [2]string{"ann", "ann-pw"})
	s := startServe(t, bin, nil, "--users", users, "--storage", "file://"+filepath.Join(dir, "data"))

	ann, err := login(t, s.addr, "ann", "ann-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := ann.Stor("kept.txt", strings.NewReader("before reload")); err != nil {
		t.Fatal(err)
	}
	if _, err := login(t, s.addr, "bob", "bob-pw"); err == nil {
		t.Fatal("bob logged in before being added")
	}

	writeUsers(t, users, [2]string{"bob", "bob-pw"})
	s.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := login(t, s.addr, "bob", "bob-pw")
		if err == nil {
			c.Quit()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob cannot log in after SIGHUP")
		}
	}
	// ann's session survived the reload, although ann is gone.
	if err := ann.NoOp(); err != nil {
		t.Fatalf("session dropped by reload: %v", err)
	}
	if _, err := login(t, s.addr, "ann", "ann-pw"); err == nil {
		t.Fatal("removed user still logs in")
	}

	// A broken file keeps bob.
	os.WriteFile(users, []byte("users:\n  - name: bob\n    password_hash: nope\n"), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, regexp.MustCompile(`users file not reloaded`))
	c, err := login(t, s.addr, "bob", "bob-pw")
	if err != nil {
		t.Fatalf("bob lost after a bad reload: %v", err)
	}
	c.Quit()
	ann.Quit()
	logs := s.stop(t)
	if strings.Contains(logs, "ann-pw") || strings.Contains(logs, "bob-pw") || strings.Contains(logs, "$argon2id$") {
		t.Fatal("a password or hash reached the log")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "data", "ann", "kept.txt")); string(b) != "before reload" {
		t.Fatalf("upload stored %q", b)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestServeWithoutUsersFile(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	s := startServe(t, bin, []string{"BUCKETFTP_USER=", "BUCKETFTP_PASSWORD="}, "--listen", "0.0.0.0:0", "--storage", "mem://")
	if !strings.HasPrefix(s.addr, "127.0.0.1:") {
		t.Fatalf("listening on %s, want loopback only", s.addr)
	}
	if s.pass == "" {
		t.Fatal("no generated password printed")
	}
	c, err := login(t, s.addr, "bucketftp", s.pass)
	if err != nil {
		t.Fatal(err)
	}
	c.Quit()
	s.stop(t)

	s = startServe(t, bin, []string{"BUCKETFTP_USER=me", "BUCKETFTP_PASSWORD=mine"}, "--storage", "mem://")
	if s.pass != "" {
		t.Fatal("printed a password although one was set")
	}
	c, err = login(t, s.addr, "me", "mine")
	if err != nil {
		t.Fatal(err)
	}
	c.Quit()
	s.stop(t)
}

func TestServeFTPSWithCertReload(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"gen-cert", "--cert", cert, "--key", key}, nil, &out, &errOut, os.Getenv); code != 0 {
		t.Fatalf("gen-cert: %s", errOut.String())
	}
	s := startServe(t, bin, []string{"BUCKETFTP_USER=me", "BUCKETFTP_PASSWORD=pw"}, "--storage", "mem://",
		"--tls-cert", cert, "--tls-key", key, "--tls-required", "--implicit-tls-listen", "127.0.0.1:0", "--tls-session-reuse", "require")
	implicit := s.waitLog(t, regexp.MustCompile(`msg="listening for implicit FTPS" addr=(\S+)`))[1]
	tlsCfg := func() *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	}
	// Plain login is refused; explicit and implicit FTPS work.
	if _, err := login(t, s.addr, "me", "pw"); err == nil {
		t.Fatal("plaintext login accepted with --tls-required")
	}
	served := func(addr string, explicit bool) (*ftp.ServerConn, []byte) {
		t.Helper()
		cfg := tlsCfg()
		var seen []byte
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			seen = cs.PeerCertificates[0].Raw
			return nil
		}
		opt := ftp.DialWithTLS(cfg)
		if explicit {
			opt = ftp.DialWithExplicitTLS(cfg)
		}
		c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second), opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("me", "pw"); err != nil {
			t.Fatal(err)
		}
		if err := c.Stor("f", strings.NewReader("data")); err != nil {
			t.Fatal(err)
		}
		return c, seen
	}
	c1, first := served(s.addr, true)
	c2, _ := served(implicit, false)
	c2.Quit()

	// Rotate the certificate in place; new connections get the new one.
	if code := run(t.Context(), []string{"gen-cert", "--cert", cert, "--key", key}, nil, &out, &errOut, os.Getenv); code != 0 {
		t.Fatal(errOut.String())
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, now := served(s.addr, true)
		c.Quit()
		if !bytes.Equal(now, first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was never served")
		}
	}
	if err := c1.NoOp(); err != nil {
		t.Fatalf("session from before the rotation dropped: %v", err)
	}
	c1.Quit()
	s.stop(t)
}

// TestServeSIGTERM: a transfer running at SIGTERM finishes; one still
// running at the end of --shutdown-grace is cut (426) and leaves nothing;
// the process exits 0.
func TestServeSIGTERM(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for _, finish := range []bool{true, false} {
		data := filepath.Join(t.TempDir(), "data")
		s := startServe(t, bin, []string{"BUCKETFTP_USER=me", "BUCKETFTP_PASSWORD=pw"},
			"--storage", "file://"+data, "--shutdown-grace", "2s")
		c, err := login(t, s.addr, "me", "pw")
		if err != nil {
			t.Fatal(err)
		}
		pr, pw := io.Pipe()
		stored := make(chan error, 1)
		go func() { stored <- c.Stor("upload.bin", pr) }()
		if _, err := pw.Write([]byte("first part ")); err != nil { // the transfer is under way
			t.Fatal(err)
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.waitLog(t, regexp.MustCompile(`shutting down`))
		if finish {
			pw.Write([]byte("second part"))
			pw.Close()
			if err := <-stored; err != nil {
				t.Fatalf("upload across SIGTERM: %v", err)
			}
		} else {
			// The grace period ends with the upload still open.
			s.waitLog(t, regexp.MustCompile(`grace period over`))
			pw.Close() // lets the client see that its data connection is gone
			err := <-stored
			if err == nil || !strings.Contains(err.Error(), "426") {
				t.Fatalf("upload cut at the deadline: %v, want 426", err)
			}
		}
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no exit after the grace period")
		}
		b, err := os.ReadFile(filepath.Join(data, "upload.bin"))
		if finish && string(b) != "first part second part" {
			t.Fatalf("finished upload stored %q, %v", b, err)
		}
		if !finish && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("cut upload left %q", b)
		}
	}
}

func TestServeMetricsAndProbes(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	s := startServe(t, bin, []string{"BUCKETFTP_USER=me", "BUCKETFTP_PASSWORD=pw"}, "--storage", "mem://", "--metrics-listen", "127.0.0.1:0")
	addr := s.waitLog(t, regexp.MustCompile(`msg="metrics listening" addr=(\S+)`))[1]
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("/readyz %d %s", code, body)
	}
	c, err := login(t, s.addr, "me", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("m.txt", strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	if _, err := login(t, s.addr, "me", "wrong"); err == nil {
		t.Fatal("bad password accepted")
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`bucketftp_logins_total{result="ok"} 1`,
		`bucketftp_logins_total{result="failed"} 1`,
		`bucketftp_commands_total{code="230",verb="PASS"} 1`,
		`bucketftp_transfers_total{op="STOR",result="ok"} 1`,
		`bucketftp_transfer_bytes_total{direction="in"} 5`,
		`bucketftp_backend_operations_total{op="put",result="ok"} 1`,
		`bucketftp_transfer_duration_seconds_count{op="STOR"} 1`,
		`bucketftp_sessions_active `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	c.Quit()
	s.stop(t)
}
