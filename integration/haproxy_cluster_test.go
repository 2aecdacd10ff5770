package integration

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// A cluster is HAProxy on 127.0.0.1 in front of three bucketftp processes
// on 127.0.0.2, .3 and .4, all on one bucket, as docs/kubernetes.md has it:
// PROXY protocol v2 on the control port and on every passive port.
//
// Each replica has its own slice of passive ports. HAProxy binds the slice
// on 127.0.0.1 and forwards each port to the same port on that replica
// only; the replica opens its passive listeners on its control socket's
// own address (127.0.0.K: where HAProxy reached it), so both can hold the
// same port numbers. PASV advertises --public-host 127.0.0.1 and EPSV
// clients reuse the control connection's address, so data connections go
// through HAProxy too, carrying the client's address in their header.
const (
	lbReplicas   = 3
	lbPassive    = 20 // passive ports per replica
	lbPassword   = "lb-password"
	lbClientBase = 10 // clients connect from 127.0.0.10 ... 127.0.0.15
	lbClients    = 6
	lbIOTimeout  = 30 * time.Second // bound on every client read and write
)

// lbClientIP is the address client number i (mod lbClients) binds.
func lbClientIP(i int) string { return fmt.Sprintf("127.0.0.%d", lbClientBase+i%lbClients) }

// haproxyBinary finds HAProxy (Debian puts it in /usr/sbin), or skips the
// test; under CI=true a missing HAProxy fails it, as a missing Docker does.
func haproxyBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr == nil {
			bin, err = "/usr/sbin/haproxy", nil
		}
	}
	if err == nil {
		// The replicas and clients need 127.0.0.2 and up (Linux has all of
		// 127/8 on lo; macOS only 127.0.0.1).
		l, lerr := net.Listen("tcp", lbClientIP(lbClients-1)+":0")
		if lerr == nil {
			l.Close()
			return bin
		}
		err = fmt.Errorf("loopback addresses beyond 127.0.0.1: %w", lerr)
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("HAProxy tests cannot run: %v", err)
	}
	t.Skipf("HAProxy tests skipped: %v", err)
	return ""
}

// buildBucketftp builds the server binary into dir.
func buildBucketftp(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bucketftp")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../cmd/bucketftp").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// logBuffer collects a process's output for assertions; safe for
// concurrent Write and reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// since is what was written from offset on.
func (l *logBuffer) since(offset int) string { return l.String()[offset:] }

// tail is the end of the output, for failure messages.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// proc is one running process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // Wait's result, once done
}

func startProc(t *testing.T, out io.Writer, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = lbEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// wait waits up to d for the process to exit and returns its result.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v", filepath.Base(p.cmd.Path), d)
		return nil
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) kill(t *testing.T) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("pid %d survived SIGKILL", p.cmd.Process.Pid)
	}
}

// lbEnv is the environment of the processes: S3 credentials for MinIO,
// no instance metadata lookups, and no BUCKETFTP_ settings of the caller.
func lbEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUCKETFTP_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_ACCESS_KEY_ID="+minioUser, "AWS_SECRET_ACCESS_KEY="+minioPass,
		"AWS_EC2_METADATA_DISABLED=true")
}

// replica is one bucketftp of the cluster, restarted on the same ports.
type replica struct {
	name           string // r0, r1, r2
	ip             string // 127.0.0.2 ...
	ctrl, metrics  int
	pasvLo, pasvHi int
	logs           *logBuffer // every generation's stderr, in order
	proc           *proc
	logFrom        int // where the current generation's output starts in logs
}

func (r *replica) ctrlAddr() string { return net.JoinHostPort(r.ip, strconv.Itoa(r.ctrl)) }

// currentLogs is what the running (or last) process wrote.
func (r *replica) currentLogs() string { return r.logs.since(r.logFrom) }

type cluster struct {
	t        *testing.T
	bin      string
	bucket   string
	users    string   // the users file, or its s3:// URL with usersInBucket
	extra    []string // more serve flags for every replica
	bucketed bool     // the users file is the object users.yaml in the bucket
	replicas []*replica
	front    string // HAProxy's control frontend, 127.0.0.1:port
	hapSock  string // HAProxy's stats socket
	hapLog   *logBuffer
}

var (
	listeningRe = regexp.MustCompile(`msg=listening addr=`)
	metricsRe   = regexp.MustCompile(`msg="metrics listening" addr=`)
)

// newCluster starts three replicas on bucket and HAProxy in front of them,
// and waits until a login through HAProxy works.
func newCluster(t *testing.T, bin, haproxy, bucket string) *cluster {
	t.Helper()
	return newClusterWith(t, bin, haproxy, &cluster{bucket: bucket})
}

// newClusterWith is newCluster with c's users placement and extra flags.
func newClusterWith(t *testing.T, bin, haproxy string, c *cluster) *cluster {
	t.Helper()
	dir := t.TempDir()
	c.t, c.bin, c.hapLog = t, bin, &logBuffer{}
	c.users = filepath.Join(dir, "users.yaml")
	if c.bucketed {
		c.users = c.storageURL("")
		c.users = strings.Replace(c.users, "/ftp?", "/users.yaml?", 1)
	}
	c.writeUsers("")
	ports := lbPorts(t)
	c.front = "127.0.0.1:" + strconv.Itoa(ports.front)
	for i := range lbReplicas {
		lo := ports.pasv + i*lbPassive
		c.replicas = append(c.replicas, &replica{
			name: "r" + strconv.Itoa(i), ip: fmt.Sprintf("127.0.0.%d", 2+i),
			ctrl: ports.ctrl[i], metrics: ports.metrics[i], pasvLo: lo, pasvHi: lo + lbPassive - 1,
			logs: &logBuffer{},
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range c.replicas {
				t.Logf("%s (%s) log:\n%s", r.name, r.ip, tail(r.logs.String(), 6000))
			}
			t.Logf("HAProxy log:\n%s", tail(c.hapLog.String(), 4000))
		}
	})
	for _, r := range c.replicas {
		c.start(r, "")
	}
	c.startHAProxy(haproxy)
	// Ready when every replica is UP in HAProxy and a login through it works.
	for _, r := range c.replicas {
		c.waitServer(r, "UP")
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cl, err := c.dial(0, true)
		if err == nil {
			err = cl.Login("u", lbPassword)
			cl.Quit()
			if err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login through HAProxy: %v", err)
		}
	}
	return c
}

// writeUsers writes the users file all replicas read, hashed by the binary,
// with more entries (YAML list items) appended.
func (c *cluster) writeUsers(more string) {
	c.t.Helper()
	cmd := exec.CommandContext(c.t.Context(), c.bin, "hash-password")
	cmd.Stdin = strings.NewReader(lbPassword + "\n")
	out, err := cmd.Output()
	if err != nil {
		c.t.Fatalf("hash-password: %v", err)
	}
	h := strings.TrimSpace(string(out))
	yaml := fmt.Sprintf(`users:
  - name: u
    password_hash: %q
    home: /
  - name: only10
    password_hash: %q
    home: /only10
    allowed_cidrs: [127.0.0.10/32]
`, h, h) + strings.ReplaceAll(more, "HASH", strconv.Quote(h))
	if c.bucketed {
		shared.putByOtherClient(c.t, c.bucket, "users.yaml", yaml)
		return
	}
	if err := os.WriteFile(c.users, []byte(yaml), 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// storageURL is the replicas' --storage; extra adds query keys (a=b&c=d).
func (c *cluster) storageURL(extra string) string {
	q := url.Values{"endpoint": {shared.endpoint}, "region": {"us-east-1"}, "path_style": {"true"}}
	if extra != "" {
		more, err := url.ParseQuery(extra)
		if err != nil {
			c.t.Fatal(err)
		}
		for k, v := range more {
			q[k] = v
		}
	}
	return "s3://" + c.bucket + "/ftp?" + q.Encode()
}

// start runs a new process for r on its ports and waits until /readyz
// answers 200. storageExtra adds keys to the storage URL.
func (c *cluster) start(r *replica, storageExtra string) {
	c.t.Helper()
	fmt.Fprintf(r.logs, "=== %s start\n", r.name)
	r.logFrom = r.logs.Len()
	args := []string{"serve",
		"--listen", r.ctrlAddr(),
		"--storage", c.storageURL(storageExtra),
		"--users", c.users,
		"--proxy-protocol", "required",
		"--proxy-trusted", "127.0.0.1/32",
		"--passive-ports", fmt.Sprintf("%d-%d", r.pasvLo, r.pasvHi),
		"--public-host", "127.0.0.1",
		"--metrics-listen", net.JoinHostPort(r.ip, strconv.Itoa(r.metrics)),
		"--banner", "bucketftp " + r.name + " ready.",
		"--login-fail-delay", "1ms",
		"--shutdown-grace", "10s",
	}
	r.proc = startProc(c.t, r.logs, c.bin, append(args, c.extra...)...)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		logs := r.currentLogs()
		if listeningRe.MatchString(logs) && metricsRe.MatchString(logs) && c.ready(r) == http.StatusOK {
			return
		}
		if r.proc.exited() || time.Now().After(deadline) {
			c.t.Fatalf("%s did not become ready (exited: %v):\n%s", r.name, r.proc.exited(), tail(logs, 4000))
		}
	}
}

// ready is the status of r's /readyz, 0 when it does not answer.
func (c *cluster) ready(r *replica) int {
	hc := http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + net.JoinHostPort(r.ip, strconv.Itoa(r.metrics)) + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startHAProxy writes the configuration and runs HAProxy in the
// foreground. Health checks ask each replica's /readyz, so a replica
// leaves the rotation when it is killed and also as soon as SIGTERM makes
// it drain.
func (c *cluster) startHAProxy(bin string) {
	c.t.Helper()
	sockDir, err := os.MkdirTemp("", "bftp-hap") // short: a socket path is at most 107 bytes
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { os.RemoveAll(sockDir) })
	c.hapSock = filepath.Join(sockDir, "stats.sock")
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 2000
    log stderr format raw local0 info
    stats socket %s mode 600 level admin

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    # A check may answer late (/readyz asks the store) without failing;
    # it still runs every 200ms.
    timeout check 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1

frontend ftp
    bind %s
    default_backend ftp

backend ftp
    balance roundrobin
    option httpchk GET /readyz
`, c.hapSock, c.front)
	for _, r := range c.replicas {
		fmt.Fprintf(&b, "    server %s %s send-proxy-v2 check addr %s port %d inter 200ms fall 1 rise 1\n",
			r.name, r.ctrlAddr(), r.ip, r.metrics)
	}
	for _, r := range c.replicas {
		// No port on the server line: the port the client reached.
		fmt.Fprintf(&b, `
frontend pasv-%[1]s
    bind 127.0.0.1:%[2]d-%[3]d
    default_backend pasv-%[1]s

backend pasv-%[1]s
    server %[1]s %[4]s send-proxy-v2
`, r.name, r.pasvLo, r.pasvHi, r.ip)
	}
	cfg := filepath.Join(c.t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
	if out, err := exec.CommandContext(c.t.Context(), bin, "-c", "-q", "-f", cfg).CombinedOutput(); err != nil {
		c.t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, b.String())
	}
	p := startProc(c.t, c.hapLog, bin, "-f", cfg, "-db")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := c.serverStatus(); err == nil {
			return
		}
		if p.exited() || time.Now().After(deadline) {
			c.t.Fatalf("HAProxy did not start (exited: %v):\n%s", p.exited(), c.hapLog.String())
		}
	}
}

// serverStatus is HAProxy's status (UP, DOWN, ...) of each control
// backend server, from "show stat" on the stats socket.
func (c *cluster) serverStatus() (map[string]string, error) {
	conn, err := net.DialTimeout("unix", c.hapSock, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, "show stat\n"); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(conn)
	var cols []string
	out := map[string]string{}
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "# "); ok {
			cols = strings.Split(h, ",")
			continue
		}
		f := strings.Split(line, ",")
		if len(cols) == 0 || len(f) < len(cols) || f[0] != "ftp" {
			continue
		}
		rec := map[string]string{}
		for i, col := range cols {
			rec[col] = f[i]
		}
		if sv := rec["svname"]; sv != "FRONTEND" && sv != "BACKEND" {
			out[sv] = rec["status"]
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no servers in show stat: %v", sc.Err())
	}
	return out, nil
}

// waitServer waits (bounded) until HAProxy reports r with status want.
func (c *cluster) waitServer(r *replica, want string) {
	c.t.Helper()
	var st map[string]string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err = c.serverStatus(); err == nil && st[r.name] == want {
			return
		}
	}
	c.t.Fatalf("HAProxy never reported %s %s: %v %v", r.name, want, st, err)
}

// replicaOf finds which replica serves the session whose control
// connection has the local address client (ip:port): the one whose
// log has its "session start" line.
func (c *cluster) replicaOf(client string) *replica {
	c.t.Helper()
	needle := "remote=" + client + " "
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, r := range c.replicas {
			if strings.Contains(r.logs.String(), needle) {
				return r
			}
		}
	}
	c.t.Fatalf("no replica logged a session from %s", client)
	return nil
}

// mkdir makes directory dir through HAProxy (STOR needs its parent).
func (c *cluster) mkdir(dir string) {
	c.t.Helper()
	cl, err := c.dial(0, true)
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Quit()
	if err := cl.Login("u", lbPassword); err != nil {
		c.t.Fatal(err)
	}
	if err := cl.MakeDir(dir); err != nil {
		c.t.Fatalf("MKD %s: %v", dir, err)
	}
}

// lbConn is a client session through HAProxy.
type lbConn struct {
	*ftp.ServerConn
	local      string        // the control connection's local address
	transcript *bytes.Buffer // the control connection, both ways
}

// dial opens a session through HAProxy from client address number ip,
// with EPSV or (epsv false) PASV, trusting the PASV reply's address so
// that --public-host is what the client connects to.
func (c *cluster) dial(ip int, epsv bool) (*lbConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(lbClientIP(ip))}}
	lc := &lbConn{transcript: &bytes.Buffer{}}
	var first net.Conn
	dialFn := func(network, addr string) (net.Conn, error) {
		conn, err := d.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = conn
		}
		return &deadlineConn{Conn: conn}, nil
	}
	sc, err := ftp.Dial(c.front, ftp.DialWithDialFunc(dialFn), ftp.DialWithDisabledEPSV(!epsv),
		ftp.DialWithTrustPasvIP(true), ftp.DialWithDebugOutput(lc.transcript), ftp.DialWithShutTimeout(lbIOTimeout))
	if err != nil {
		return nil, err
	}
	lc.ServerConn, lc.local = sc, first.LocalAddr().String()
	return lc, nil
}

// deadlineConn bounds every read and write, so no client call can hang.
type deadlineConn struct{ net.Conn }

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.Conn.SetReadDeadline(time.Now().Add(lbIOTimeout))
	return d.Conn.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.Conn.SetWriteDeadline(time.Now().Add(lbIOTimeout))
	return d.Conn.Write(p)
}

// pasvRe matches a 227 or 229 reply in a transcript.
var pasvRe = regexp.MustCompile(`(?m)^(?:227 Entering Passive Mode \((\d+,\d+,\d+,\d+),(\d+),(\d+)\)|229 .*\(\|\|\|(\d+)\|\))`)

// passiveReplies lists the passive replies in a transcript: the host of a
// 227 ("" for 229) and the port.
func passiveReplies(transcript string) (hosts []string, ports []int) {
	for _, m := range pasvRe.FindAllStringSubmatch(transcript, -1) {
		if m[4] != "" {
			p, _ := strconv.Atoi(m[4])
			hosts, ports = append(hosts, ""), append(ports, p)
			continue
		}
		hi, _ := strconv.Atoi(m[2])
		lo, _ := strconv.Atoi(m[3])
		hosts, ports = append(hosts, strings.ReplaceAll(m[1], ",", ".")), append(ports, hi*256+lo)
	}
	return hosts, ports
}

// payloadKey is the name of a file whose content payload derives from it:
// the size is part of the name, so any object can be checked for being
// complete.
func payloadKey(dir, tag string, size int) string {
	return fmt.Sprintf("%s/%s-%d.bin", dir, tag, size)
}

// payload is the content of the file named name (see payloadKey), an FTP
// path or an object key.
func payload(name string) []byte {
	base := strings.TrimSuffix(filepath.Base(name), ".bin")
	size, err := strconv.Atoi(base[strings.LastIndexByte(base, '-')+1:])
	if err != nil {
		panic(fmt.Sprintf("payload %q: %v", name, err))
	}
	b := make([]byte, size)
	rand.NewChaCha8(sha256.Sum256([]byte(filepath.Base(name)))).Read(b)
	return b
}

// slowReader hands out b in chunks with a pause between them, so an
// upload stays in progress for a while.
type slowReader struct {
	b     []byte
	chunk int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p[:min(len(p), s.chunk)], s.b)
	s.b = s.b[n:]
	return n, nil
}

// lbPortSet is the ports of one cluster.
type lbPortSet struct {
	front         int
	ctrl, metrics [lbReplicas]int
	pasv          int // first of lbReplicas*lbPassive consecutive ports
}

// lbPorts picks ports free on 127.0.0.1 through 127.0.0.4, below the
// ephemeral range (32768 up on Linux) so that no outgoing connection of a
// client or of HAProxy takes one meanwhile.
func lbPorts(t *testing.T) lbPortSet {
	t.Helper()
	free := func(p int) bool {
		for k := 1; k <= 1+lbReplicas; k++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", k, p))
			if err != nil {
				return false
			}
			l.Close()
		}
		return true
	}
	const n = lbReplicas*lbPassive + 1 + 2*lbReplicas
	for range 50 {
		base := 20000 + rand.IntN(12000-n)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ok = free(p)
		}
		if !ok {
			continue
		}
		s := lbPortSet{pasv: base}
		next := base + lbReplicas*lbPassive
		s.front, next = next, next+1
		for i := range lbReplicas {
			s.ctrl[i], s.metrics[i] = next, next+1
			next += 2
		}
		return s
	}
	t.Fatal("no free port range on 127.0.0.1-4")
	return lbPortSet{}
}
