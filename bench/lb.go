package main

// The scale-out benchmark: go run ./bench -lb
//
// Eight parallel sessions, each STORing an object of its own (64 MiB) and
// then, timed separately, RETRieving it, against three setups on one MinIO
// bucket, in interleaved rounds:
//
//   - one bucketftp process, reached directly;
//   - HAProxy on 127.0.0.1 in front of three bucketftp processes on
//     127.0.0.2-4: control connections round robin, send-proxy-v2 on the
//     control port and on every passive port, each replica's slice of
//     passive ports bound on 127.0.0.1 and routed to that replica alone,
//     PASV advertising 127.0.0.1 (as integration/haproxy_cluster_test.go
//     runs them);
//   - the same HAProxy in front of one of those processes: the balancer's
//     own cost.
//
// It reports aggregate MiB/s, the CPU time of every process from
// /proc/PID/stat and the load average. Every round checks each stored
// object's size and one object's SHA-256 through the S3 API, and every
// RETR byte against what was stored, so a fast wrong result fails the run
// instead of being counted. Every process it starts, and the MinIO
// container, is stopped on the way out, also after an error or SIGINT.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"
	"github.com/testcontainers/testcontainers-go"
	tcminio "github.com/testcontainers/testcontainers-go/modules/minio"
)

const (
	lbSessions   = 8
	lbReplicas   = 3
	lbPassive    = 20 // passive ports per bucketftp process
	lbClientBase = 10 // session i connects from 127.0.0.(10+i)
	lbUser       = "u"
	lbPassword   = "bench-pw"
	lbPrefix     = "lb" // the servers' key prefix in the bucket
	lbTagLen     = 32   // each object starts with its own tag
	lbIOTimeout  = time.Minute
)

// runScaleOut runs the benchmark and prints its Markdown section. On an
// error or a signal it stops what it started, removes the MinIO container
// and the work directory, and exits 1.
func runScaleOut(ctx context.Context, mc *tcminio.MinioContainer, work, endpoint string, s3c *s3.Client) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := scaleOut(ctx, mc, work, endpoint, s3c, os.Stdout); err != nil {
		log.Printf("lb: %v", err)
		if err := testcontainers.TerminateContainer(mc); err != nil {
			log.Printf("removing the MinIO container: %v", err)
		}
		os.RemoveAll(work)
		os.Exit(1)
	}
}

// lbRig is everything the benchmark started.
type lbRig struct {
	size     int64
	s3       *s3.Client
	ftp      []*lbProc // r0, r1, r2, then the direct process
	ips      []string  // their addresses
	metrics  []string  // their metrics listeners
	hap      *lbProc
	hapSock  string
	minioPID int // 0 when MinIO's process is not visible from here
	base     []byte
}

// lbSetup is one way of reaching the servers, and what was measured there.
type lbSetup struct {
	key, title string
	addr       string // where the sessions connect
	serves     []int  // indexes in lbRig.ftp of the processes behind it
	stor, retr []time.Duration
	storCPU    []lbCPU
	retrCPU    []lbCPU
	stors      []float64 // STORs each of serves answered, from its metrics
}

// lbCPU is CPU time (user + system, all threads) used meanwhile.
type lbCPU struct{ ftp, hap, minio, client time.Duration }

func (c lbCPU) sub(o lbCPU) lbCPU {
	return lbCPU{c.ftp - o.ftp, c.hap - o.hap, c.minio - o.minio, c.client - o.client}
}

func (c lbCPU) total() time.Duration { return c.ftp + c.hap + c.minio + c.client }

func scaleOut(ctx context.Context, mc *tcminio.MinioContainer, work, endpoint string, s3c *s3.Client, w io.Writer) error {
	rounds := envInt("BENCH_ROUNDS", 3)
	r := &lbRig{size: int64(envInt("BENCH_LB_MIB", 64)) << 20, s3: s3c}
	load0 := lbLoadAvg()
	hapBin, err := lbHAProxyBinary()
	if err != nil {
		return err
	}
	defer r.stop()
	if info, err := mc.Inspect(ctx); err == nil && info.State != nil {
		if _, err := lbProcCPU(strconv.Itoa(info.State.Pid)); err == nil {
			r.minioPID = info.State.Pid
		}
	}
	bin := filepath.Join(work, "bucketftp")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bucketftp").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	ports, err := lbFindPorts()
	if err != nil {
		return err
	}
	storage := "s3://" + bucket + "/" + lbPrefix + "?endpoint=" + endpoint + "&path_style=true&region=us-east-1"
	env := []string{"AWS_ACCESS_KEY_ID=" + user, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_EC2_METADATA_DISABLED=true",
		"BUCKETFTP_USER=" + lbUser, "BUCKETFTP_PASSWORD=" + lbPassword}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUCKETFTP_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	var replicaArgs, directArgs string
	for k := range lbReplicas + 1 {
		ip := fmt.Sprintf("127.0.0.%d", 2+k)
		lo := ports.pasv + k*lbPassive
		args := []string{"serve",
			"--listen", net.JoinHostPort(ip, strconv.Itoa(ports.ctrl[k])),
			"--storage", storage,
			"--passive-ports", fmt.Sprintf("%d-%d", lo, lo+lbPassive-1),
			"--metrics-listen", net.JoinHostPort(ip, strconv.Itoa(ports.metrics[k])),
			"--shutdown-grace", "5s"}
		name := "r" + strconv.Itoa(k)
		if k < lbReplicas {
			args = append(args, "--proxy-protocol", "required", "--proxy-trusted", "127.0.0.1/32", "--public-host", "127.0.0.1")
			replicaArgs = strings.Join(args, " ")
		} else {
			name = "direct"
			directArgs = strings.Join(args, " ")
		}
		p, err := lbStart(name, bin, args, env)
		if err != nil {
			return err
		}
		r.ftp, r.ips, r.metrics = append(r.ftp, p), append(r.ips, ip), append(r.metrics, net.JoinHostPort(ip, strconv.Itoa(ports.metrics[k])))
	}
	for k, p := range r.ftp {
		if err := lbWaitReady(ctx, p, r.metrics[k]); err != nil {
			return err
		}
	}
	hapCfg, err := r.startHAProxy(ctx, hapBin, work, ports)
	if err != nil {
		return err
	}
	setups := []*lbSetup{
		{key: "direct", title: "one replica, direct", addr: net.JoinHostPort(r.ips[lbReplicas], strconv.Itoa(ports.ctrl[lbReplicas])), serves: []int{lbReplicas}},
		{key: "lb3", title: "HAProxy → three replicas", addr: "127.0.0.1:" + strconv.Itoa(ports.front[0]), serves: []int{0, 1, 2}},
		{key: "lb1", title: "HAProxy → one replica", addr: "127.0.0.1:" + strconv.Itoa(ports.front[1]), serves: []int{0}},
	}
	for _, s := range setups { // ready when a login works, through HAProxy too
		if err := lbWaitLogin(ctx, s.addr); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
		s.stors = make([]float64, len(s.serves))
	}

	r.base = make([]byte, r.size)
	rand.Read(r.base)
	log.Printf("lb: %d rounds of %d sessions × %d MiB; MinIO pid %d; load average %s", rounds, lbSessions, r.size>>20, r.minioPID, load0)
	for round := range rounds {
		for j := range setups { // the order turns each round
			s := setups[(round+j)%len(setups)]
			if err := r.round(ctx, s, round, (round*len(setups)+j)%lbSessions); err != nil {
				return fmt.Errorf("%s, round %d: %w", s.title, round+1, err)
			}
			log.Printf("lb: round %d %s: STOR %s, RETR %s", round+1, s.title,
				lbRate(r.total(), s.stor[len(s.stor)-1]), lbRate(r.total(), s.retr[len(s.retr)-1]))
		}
	}
	load1 := lbLoadAvg()

	rep := lbReport{rounds: rounds, setups: setups, load0: load0, load1: load1, replicaArgs: replicaArgs, directArgs: directArgs, hapCfg: hapCfg}
	rep.hapVersion = lbHAProxyVersion(hapBin)
	for _, p := range r.ftp {
		rep.peaks = append(rep.peaks, lbStatus(p.cmd.Process.Pid, "VmHWM"))
		n, first := p.logProblems()
		rep.problems += n
		rep.firstProblems = append(rep.firstProblems, first...)
	}
	r.stop()
	rep.print(w, r)
	return nil
}

func (r *lbRig) total() int64 { return lbSessions * r.size }

// round runs the sessions of one round against s: connect and log in,
// STOR at once, check the objects, RETR at once, QUIT.
func (r *lbRig) round(ctx context.Context, s *lbSetup, round, pick int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]*ftp.ServerConn, lbSessions)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Quit()
			}
		}
	}()
	for i := range conns { // one after the other: round robin spreads them evenly
		c, err := lbDial(ctx, s.addr, i)
		if err != nil {
			return fmt.Errorf("session %d: connect: %w", i, err)
		}
		conns[i] = c
		if err := c.Login(lbUser, lbPassword); err != nil {
			return fmt.Errorf("session %d: login: %w", i, err)
		}
	}
	contents := make([]lbContent, lbSessions)
	for i := range contents {
		contents[i] = r.content(fmt.Sprintf("%s round %d session %d", s.key, round+1, i))
	}
	before, err := r.storCounts(s)
	if err != nil {
		return err
	}

	cpu0, err := r.cpu()
	if err != nil {
		return err
	}
	start := time.Now()
	err = lbAll(cancel, func(i int) error { return conns[i].Stor(lbName(s, i), contents[i].reader()) })
	took := time.Since(start)
	cpu1, cerr := r.cpu()
	if err = errors.Join(err, cerr); err != nil {
		return fmt.Errorf("STOR: %w", err)
	}
	if err := r.verify(ctx, s, contents, pick); err != nil {
		return err
	}
	s.stor, s.storCPU = append(s.stor, took), append(s.storCPU, cpu1.sub(cpu0))

	if cpu0, err = r.cpu(); err != nil {
		return err
	}
	start = time.Now()
	err = lbAll(cancel, func(i int) error {
		resp, err := conns[i].Retr(lbName(s, i))
		if err != nil {
			return err
		}
		cmpErr := contents[i].compare(resp, r.size)
		return errors.Join(cmpErr, resp.Close())
	})
	took = time.Since(start)
	cpu1, cerr = r.cpu()
	if err = errors.Join(err, cerr); err != nil {
		return fmt.Errorf("RETR: %w", err)
	}
	s.retr, s.retrCPU = append(s.retr, took), append(s.retrCPU, cpu1.sub(cpu0))

	after, err := r.storCounts(s)
	if err != nil {
		return err
	}
	for k := range after {
		s.stors[k] += after[k] - before[k]
	}
	return nil
}

func lbName(s *lbSetup, i int) string { return fmt.Sprintf("%s-%d.bin", s.key, i) }

// lbAll runs f for every session at once and returns the first error;
// the first error cancels the round, closing every connection.
func lbAll(cancel context.CancelFunc, f func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range lbSessions {
		wg.Go(func() {
			if err := f(i); err != nil {
				once.Do(func() {
					first = fmt.Errorf("session %d: %w", i, err)
					cancel()
				})
			}
		})
	}
	wg.Wait()
	return first
}

// verify checks through the S3 API that every session's object has the
// size sent and that one of them (pick) has the SHA-256 of what was sent.
func (r *lbRig) verify(ctx context.Context, s *lbSetup, contents []lbContent, pick int) error {
	for i := range contents {
		key := lbPrefix + "/" + lbName(s, i)
		out, err := r.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return fmt.Errorf("HEAD %s: %w", key, err)
		}
		if n := aws.ToInt64(out.ContentLength); n != r.size {
			return fmt.Errorf("object %s has %d bytes, %d were sent", key, n, r.size)
		}
	}
	key := lbPrefix + "/" + lbName(s, pick)
	out, err := r.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("GET %s: %w", key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", key, err)
	}
	if got, want := h.Sum(nil), contents[pick].sum(); n != r.size || !bytes.Equal(got, want) {
		return fmt.Errorf("object %s: %d bytes, SHA-256 %x; sent %d bytes, SHA-256 %x", key, n, got, r.size, want)
	}
	return nil
}

// lbContent is what one session sends: its tag, then the shared random
// bytes after the tag's length.
type lbContent struct {
	tag  []byte
	base []byte
}

func (r *lbRig) content(tag string) lbContent {
	t := make([]byte, lbTagLen)
	copy(t, fmt.Sprintf("%-*s", lbTagLen, tag))
	return lbContent{tag: t, base: r.base}
}

func (c lbContent) reader() io.Reader {
	return io.MultiReader(bytes.NewReader(c.tag), bytes.NewReader(c.base[len(c.tag):]))
}

func (c lbContent) sum() []byte {
	h := sha256.New()
	h.Write(c.tag)
	h.Write(c.base[len(c.tag):])
	return h.Sum(nil)
}

// compare reads rd to its end in 1 MiB reads and checks it is exactly the
// content, size bytes.
func (c lbContent) compare(rd io.Reader, size int64) error {
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := rd.Read(buf)
		if n > 0 {
			if off+int64(n) > size {
				return fmt.Errorf("more than the %d bytes stored", size)
			}
			p, o := buf[:n], off
			for len(p) > 0 && o < int64(len(c.tag)) {
				if p[0] != c.tag[o] {
					return fmt.Errorf("byte %d differs from what was stored", o)
				}
				p, o = p[1:], o+1
			}
			if !bytes.Equal(p, c.base[o:o+int64(len(p))]) {
				return fmt.Errorf("bytes %d-%d differ from what was stored", o, o+int64(len(p)))
			}
			off += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if off != size {
		return fmt.Errorf("%d bytes of the %d stored", off, size)
	}
	return nil
}

// lbDial opens a session to addr from 127.0.0.(10+i); even sessions use
// EPSV, odd ones PASV, trusting the address of the 227 reply (so that
// --public-host is what they connect to). Every read and write is bounded,
// and ctx's end closes the connections.
func lbDial(ctx context.Context, addr string, i int) (*ftp.ServerConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(lbClientBase+i))}}
	dial := func(network, address string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &lbConn{Conn: c, stop: context.AfterFunc(ctx, func() { c.Close() })}, nil
	}
	return ftp.Dial(addr, ftp.DialWithDialFunc(dial), ftp.DialWithDisabledEPSV(i%2 == 1),
		ftp.DialWithTrustPasvIP(true), ftp.DialWithShutTimeout(lbIOTimeout))
}

// lbConn bounds every read and write of a client connection.
type lbConn struct {
	net.Conn
	stop func() bool
}

func (c *lbConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(lbIOTimeout))
	return c.Conn.Read(p)
}

func (c *lbConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(lbIOTimeout))
	return c.Conn.Write(p)
}

func (c *lbConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// lbWaitLogin polls (bounded) until a login at addr works.
func lbWaitLogin(ctx context.Context, addr string) error {
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		var c *ftp.ServerConn
		if c, err = lbDial(ctx, addr, 0); err == nil {
			err = c.Login(lbUser, lbPassword)
			c.Quit()
			if err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("no login at %s: %w", addr, errors.Join(err, ctx.Err()))
}

// cpu reads the CPU time of every process so far.
func (r *lbRig) cpu() (lbCPU, error) {
	var c lbCPU
	for _, p := range r.ftp {
		t, err := lbProcCPU(strconv.Itoa(p.cmd.Process.Pid))
		if err != nil {
			return c, err
		}
		c.ftp += t
	}
	var err error
	if c.hap, err = lbProcCPU(strconv.Itoa(r.hap.cmd.Process.Pid)); err != nil {
		return c, err
	}
	if c.client, err = lbProcCPU("self"); err != nil {
		return c, err
	}
	if r.minioPID != 0 {
		if c.minio, err = lbProcCPU(strconv.Itoa(r.minioPID)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// lbProcCPU is utime + stime of /proc/PID/stat: every thread's so far.
func lbProcCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("/proc/%s/stat: unexpected %q", pid, b)
	}
	f := strings.Fields(string(b[i+2:])) // from the 3rd field on
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: unexpected %q", pid, b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}

// lbStatus is a kB field of /proc/PID/status in bytes, 0 if unreadable.
func lbStatus(pid int, field string) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

func lbLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " / ")
	}
	return "unknown"
}

// storCounts reads how many STORs each process behind s has answered
// with success, from its metrics.
func (r *lbRig) storCounts(s *lbSetup) ([]float64, error) {
	out := make([]float64, len(s.serves))
	hc := http.Client{Timeout: 10 * time.Second}
	for k, idx := range s.serves {
		resp, err := hc.Get("http://" + r.metrics[idx] + "/metrics")
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, "bucketftp_transfers_total{") && label(l, "op") == "STOR" && label(l, "result") == "ok" {
				v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
				out[k] += v
			}
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lbPortSet is the ports of a run: passive slices of 20 for each
// bucketftp process, HAProxy's two control frontends, and each process's
// control and metrics ports.
type lbPortSet struct {
	pasv          int
	front         [2]int
	ctrl, metrics [lbReplicas + 1]int
}

// lbFindPorts finds a run of ports below Linux's ephemeral range that is
// free on 127.0.0.1 to 127.0.0.5.
func lbFindPorts() (lbPortSet, error) {
	const procs = lbReplicas + 1
	const n = procs*lbPassive + 2 + 2*procs
	free := func(p int) bool {
		for k := 1; k <= 1+procs; k++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", k, p))
			if err != nil {
				return false
			}
			l.Close()
		}
		return true
	}
	for range 50 {
		base := 20000 + mrand.IntN(12000-n)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ok = free(p)
		}
		if !ok {
			continue
		}
		s := lbPortSet{pasv: base}
		next := base + procs*lbPassive
		s.front = [2]int{next, next + 1}
		next += 2
		for k := range procs {
			s.ctrl[k], s.metrics[k] = next, next+1
			next += 2
		}
		return s, nil
	}
	return lbPortSet{}, errors.New("no free run of ports on 127.0.0.1-5 (the benchmark needs Linux's 127/8 on lo)")
}

// lbHAProxyBinary finds HAProxy on PATH or in /usr/sbin (Debian's).
func lbHAProxyBinary() (string, error) {
	if bin, err := exec.LookPath("haproxy"); err == nil {
		return bin, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	return "", errors.New("haproxy not found (apt-get install haproxy)")
}

func lbHAProxyVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").Output()
	l, _, _ := strings.Cut(string(out), "\n")
	l, _, _ = strings.Cut(l, " - ")
	return strings.TrimSpace(l)
}

// startHAProxy writes the configuration, runs HAProxy in the foreground
// and waits until it reports every backend server UP. It returns the
// configuration.
func (r *lbRig) startHAProxy(ctx context.Context, bin, work string, ports lbPortSet) (string, error) {
	sockDir, err := os.MkdirTemp("", "bftp-lb") // short: a socket path is at most 107 bytes
	if err != nil {
		return "", err
	}
	r.hapSock = filepath.Join(sockDir, "stats.sock")
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 2000
    log stderr format raw local0 notice
    stats socket %s mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    timeout check 2s
    timeout client 60s
    timeout server 60s

frontend ftp3
    bind 127.0.0.1:%d
    default_backend ftp3

backend ftp3
    balance roundrobin
    option httpchk GET /readyz
`, r.hapSock, ports.front[0])
	server := func(k int) {
		fmt.Fprintf(&b, "    server r%d %s:%d send-proxy-v2 check addr %s port %d inter 1s\n", k, r.ips[k], ports.ctrl[k], r.ips[k], ports.metrics[k])
	}
	for k := range lbReplicas {
		server(k)
	}
	fmt.Fprintf(&b, `
frontend ftp1
    bind 127.0.0.1:%d
    default_backend ftp1

backend ftp1
    option httpchk GET /readyz
`, ports.front[1])
	server(0)
	for k := range lbReplicas {
		lo := ports.pasv + k*lbPassive
		// No port on the server line: the port the client reached.
		fmt.Fprintf(&b, `
frontend pasv-r%[1]d
    bind 127.0.0.1:%[2]d-%[3]d
    default_backend pasv-r%[1]d

backend pasv-r%[1]d
    server r%[1]d %[4]s send-proxy-v2
`, k, lo, lo+lbPassive-1, r.ips[k])
	}
	cfg := filepath.Join(work, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, bin, "-c", "-q", "-f", cfg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("haproxy -c: %v\n%s", err, out)
	}
	if r.hap, err = lbStart("haproxy", bin, []string{"-f", cfg, "-db"}, os.Environ()); err != nil {
		return "", err
	}
	var st map[string]string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err = r.serverStatus(); err == nil && len(st) == lbReplicas+1 {
			up := true
			for _, v := range st {
				up = up && v == "UP"
			}
			if up {
				return strings.ReplaceAll(b.String(), r.hapSock, "/tmp/.../stats.sock"), nil
			}
		}
		if r.hap.exited() || ctx.Err() != nil || time.Now().After(deadline) {
			return "", fmt.Errorf("HAProxy did not report every server UP (%v, %v):\n%s", st, errors.Join(err, ctx.Err()), r.hap.output())
		}
	}
}

// serverStatus is HAProxy's status of each control backend's server
// (backend/server -> UP, DOWN, ...), from "show stat" on its socket.
func (r *lbRig) serverStatus() (map[string]string, error) {
	conn, err := net.DialTimeout("unix", r.hapSock, time.Second)
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
		if len(cols) == 0 || len(f) < len(cols) || (f[0] != "ftp3" && f[0] != "ftp1") {
			continue
		}
		rec := map[string]string{}
		for i, col := range cols {
			rec[col] = f[i]
		}
		if sv := rec["svname"]; sv != "FRONTEND" && sv != "BACKEND" {
			out[f[0]+"/"+sv] = rec["status"]
		}
	}
	return out, sc.Err()
}

// lbProc is a process the benchmark started: bucketftp or HAProxy.
type lbProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited

	mu       sync.Mutex
	tail     []string // its last lines of output
	problems int      // WARN and ERROR lines
	first    []string // the first of them
}

// lbStart starts bin; it is killed if the benchmark dies.
func lbStart(name, bin string, args, env []string) (*lbProc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &lbProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.line(sc.Text())
		}
		io.Copy(io.Discard, pr) // past a line too long, keep the pipe flowing
	}()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *lbProc) line(l string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tail = append(p.tail, l); len(p.tail) > 40 {
		p.tail = p.tail[1:]
	}
	if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
		if p.problems++; len(p.first) < 5 {
			p.first = append(p.first, p.name+": "+l)
		}
	}
}

func (p *lbProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

func (p *lbProc) logProblems() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.problems, slices.Clone(p.first)
}

func (p *lbProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and, after 15 seconds, SIGKILL.
func (p *lbProc) stop() {
	if p == nil || p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// stop stops every process, HAProxy first, and removes the socket's
// directory. Calling it again does nothing.
func (r *lbRig) stop() {
	r.hap.stop()
	var wg sync.WaitGroup
	for _, p := range r.ftp {
		wg.Go(p.stop)
	}
	wg.Wait()
	if r.hapSock != "" {
		os.RemoveAll(filepath.Dir(r.hapSock))
	}
}

// lbWaitReady polls (bounded) until the process's /readyz answers 200.
func lbWaitReady(ctx context.Context, p *lbProc, metrics string) error {
	hc := http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := hc.Get("http://" + metrics + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.exited() || ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("%s did not become ready (exited: %v):\n%s", p.name, p.exited(), p.output())
		}
	}
}

func lbRateOf(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

func lbRate(n int64, d time.Duration) string { return fmt.Sprintf("%.0f MiB/s", lbRateOf(n, d)) }

// lbReport is what the run measured, to print.
type lbReport struct {
	rounds                  int
	setups                  []*lbSetup
	load0, load1            string
	replicaArgs, directArgs string
	hapCfg, hapVersion      string
	peaks                   []int64 // VmHWM of r0, r1, r2, direct
	problems                int
	firstProblems           []string
}

func lbMedianCPU(cs []lbCPU) lbCPU {
	pick := func(f func(lbCPU) time.Duration) time.Duration {
		var ds []time.Duration
		for _, c := range cs {
			ds = append(ds, f(c))
		}
		return median(ds)
	}
	return lbCPU{
		ftp:    pick(func(c lbCPU) time.Duration { return c.ftp }),
		hap:    pick(func(c lbCPU) time.Duration { return c.hap }),
		minio:  pick(func(c lbCPU) time.Duration { return c.minio }),
		client: pick(func(c lbCPU) time.Duration { return c.client }),
	}
}

func lbSpread(n int64, ds []time.Duration) string {
	lo, hi := lbRateOf(n, slices.Max(ds)), lbRateOf(n, slices.Min(ds))
	return fmt.Sprintf("%.0f-%.0f", lo, hi)
}

func (rep *lbReport) print(w io.Writer, r *lbRig) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	n := r.total()
	mibs := r.size >> 20
	sec := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
	minio := func(d time.Duration) string {
		if r.minioPID == 0 {
			return "n/a"
		}
		return sec(d)
	}
	direct, three, one := rep.setups[0], rep.setups[1], rep.setups[2]
	// ratio is the throughput of s over that of base (the same bytes).
	ratio := func(base, s []time.Duration) float64 { return median(base).Seconds() / median(s).Seconds() }

	p("## Scale-out: %d sessions through HAProxy\n\n", lbSessions)
	p("Measured by `go run ./bench -lb` in one run on %d CPU cores, %s, %s, built from %s, against one MinIO (%s in Docker, reached at its address on the Docker bridge), with %s. ",
		runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"), treeState(), image, rep.hapVersion)
	p("%d sessions of github.com/jlaffaye/ftp, from 127.0.0.%d-%d (one address each; even sessions EPSV, odd ones PASV trusting the 227 address; TYPE I), connect and log in; then all %d STOR an object of their own of %d MiB at once (timed from the release to the last 226), and then, timed separately, RETR it. ",
		lbSessions, lbClientBase, lbClientBase+lbSessions-1, lbSessions, mibs)
	p("The figure is the aggregate: %d × %d MiB over the time of the slowest session. %d rounds, the three setups in turn (the order rotated each round); the table shows medians and, in brackets, the lowest and highest round. ",
		lbSessions, mibs, rep.rounds)
	p("Every round checks each stored object's size (HeadObject) and one object's SHA-256 (GetObject) through the S3 API, and compares every byte of every RETR with what was stored; a mismatch fails the run.\n\n")
	p("- **one replica, direct**: one process, `bucketftp %s`, no balancer;\n", strings.NewReplacer(r.ftpStorage(), "s3://bench/lb?...").Replace(rep.directArgs))
	p("- **HAProxy → three replicas**: three processes on 127.0.0.2-4 on the same bucket (replica 2: `bucketftp %s`; each with its own slice of %d passive ports), ", strings.NewReplacer(r.ftpStorage(), "s3://bench/lb?...").Replace(rep.replicaArgs), lbPassive)
	p("HAProxy on 127.0.0.1 balancing control connections round robin with `send-proxy-v2` and `/readyz` checks, and binding each replica's passive slice on 127.0.0.1, forwarded to that replica only, also with `send-proxy-v2` (the configuration is below);\n")
	p("- **HAProxy → one replica**: the same HAProxy, a second frontend whose backend is replica 0 alone: the balancer's and PROXY protocol's own cost on the same single process.\n\n")

	p("| setup | STOR, %d × %d MiB | RETR, %d × %d MiB | STOR vs one replica direct | RETR vs one replica direct | STORs served per replica |\n|---|---|---|---|---|---|\n", lbSessions, mibs, lbSessions, mibs)
	for _, s := range rep.setups {
		var per []string
		for _, v := range s.stors {
			per = append(per, strconv.FormatFloat(v, 'f', 0, 64))
		}
		p("| %s | %s (%s) | %s (%s) | %.2fx | %.2fx | %s |\n", s.title,
			lbRate(n, median(s.stor)), lbSpread(n, s.stor), lbRate(n, median(s.retr)), lbSpread(n, s.retr),
			ratio(direct.stor, s.stor), ratio(direct.retr, s.retr), strings.Join(per, " / "))
	}
	p("\n**Three replicas / one replica**, both through HAProxy: STOR %.2fx, RETR %.2fx; three replicas through HAProxy / one replica direct: STOR %.2fx, RETR %.2fx.\n\n",
		ratio(one.stor, three.stor), ratio(one.retr, three.retr), ratio(direct.stor, three.stor), ratio(direct.retr, three.retr))

	p("CPU seconds in the timed part of a round (median of the rounds; user + system of all threads, from /proc/PID/stat; bucketftp is the sum of all four processes, the idle ones included; the client is the benchmark's own process; MinIO is its process in the container):\n\n")
	p("| setup | transfer | wall s | bucketftp | HAProxy | MinIO | client | all | cores busy (of %d) | bucketftp + HAProxy CPU s per GiB |\n|---|---|---|---|---|---|---|---|---|---|\n", runtime.NumCPU())
	for _, s := range rep.setups {
		for _, t := range []struct {
			op  string
			ds  []time.Duration
			cpu []lbCPU
		}{{"STOR", s.stor, s.storCPU}, {"RETR", s.retr, s.retrCPU}} {
			c, wall := lbMedianCPU(t.cpu), median(t.ds)
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f |\n", s.title, t.op, sec(wall), sec(c.ftp), sec(c.hap), minio(c.minio), sec(c.client),
				sec(c.total()), c.total().Seconds()/wall.Seconds(), (c.ftp+c.hap).Seconds()/(float64(n)/(1<<30)))
		}
	}
	var peaks []string
	for _, v := range rep.peaks {
		peaks = append(peaks, fmt.Sprintf("%d", v>>20))
	}
	p("\nLoad average (1 / 5 / 15 min) at the start: %s; at the end: %s. Peak RSS (VmHWM) of replicas 0, 1, 2 and the direct process over the whole run: %s MiB. WARN/ERROR lines in the servers' logs: %d.\n\n",
		rep.load0, rep.load1, strings.Join(peaks, ", "), rep.problems)
	for _, l := range rep.firstProblems {
		p("    %s\n", l)
	}
	if len(rep.firstProblems) > 0 {
		p("\n")
	}
	p("**What this does not show.** On this %d-core machine MinIO, HAProxy, every replica and the clients share the same %d cores (\"cores busy\" above), so scale-out cannot add throughput here: three replicas have no more CPU, disk or network than one. ", runtime.NumCPU(), runtime.NumCPU())
	p("The comparison shows what the balancer and PROXY protocol cost (HAProxy copies every control and data byte once more, on the same cores), not the gain of running the replicas on more machines, which this benchmark cannot measure.\n\n")
	p("HAProxy's configuration:\n\n```\n%s```\n\n", rep.hapCfg)
	p("Reproduce with `go run ./bench -lb` (Linux with 127/8 on lo, Docker, the MinIO image and HAProxy; `BENCH_ROUNDS` and `BENCH_LB_MIB` change the rounds and the object size).\n")
}

// ftpStorage is the replicas' --storage, to shorten in the report.
func (r *lbRig) ftpStorage() string {
	for _, a := range r.ftp[0].cmd.Args {
		if strings.HasPrefix(a, "s3://") {
			return a
		}
	}
	return "s3://"
}
