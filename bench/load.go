package main

// The load benchmark: go run ./bench -load
//
// It builds bucketftp, runs it as its own process on a local directory
// (file://, no Docker), opens -sessions concurrent logged-in control
// sessions over loopback from 127.0.0.1..127.0.0.N, reads the server's
// memory from /proc at idle, has every session do a LIST and a small STOR
// at once, QUITs them all and checks from /proc that no file descriptor,
// connection or passive listener is left behind. It prints a Markdown
// section for BENCHMARKS.md and exits 1 when a check failed.

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jlaffaye/ftp"
)

const (
	loadUser     = "load"
	loadPassword = "load-bench-password"
	loadHome     = "/load"
	pasvFirst    = 20000 // the passive range starts here, below Linux's ephemeral ports (32768-60999)
	idleTarget   = 128 << 20
	wantNoFile   = 8192
)

type loadOpts struct {
	enabled  bool
	sessions int
	addrs    int
	size     int
	timeout  time.Duration
}

func loadFlags(fs *flag.FlagSet) *loadOpts {
	o := &loadOpts{}
	fs.BoolVar(&o.enabled, "load", false, "run the load benchmark (concurrent sessions on a local directory, no Docker) instead of the S3 one")
	fs.IntVar(&o.sessions, "sessions", 1000, "-load: concurrent control sessions")
	fs.IntVar(&o.addrs, "source-addrs", 10, "-load: spread the sessions over client addresses 127.0.0.1..127.0.0.N")
	fs.IntVar(&o.size, "file-size", 4096, "-load: bytes each session uploads")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "-load: deadline of every client connection; the run fails past it")
	return o
}

// loadReport is what runLoad measured.
type loadReport struct {
	opts                  loadOpts
	args                  string // the server's command line
	tree                  string // the commit measured
	nofile                string // the server's "Max open files"
	rss0, rssIdleNow      int64
	rssIdle               int64
	settle                time.Duration
	threads0, threadsIdle int64
	loginTime             latencies
	loginCPU              time.Duration
	login2Time            latencies // the second wave
	login2CPU             time.Duration
	fdAfter2              int
	sessionsActive        float64 // the server's gauge with every session logged in
	loadTime              time.Duration
	loadCPU               time.Duration
	peakLoad, rssAfter    int64
	peakThreads           int64
	fd0, fdIdle, fdPeak   int
	fdAfter               int
	fdSettle              time.Duration
	sessionsAfter         float64
	listen0, listenAfter  []string
	othersAfter           []string // the server's non-listening TCP sockets after QUIT
	filesOK, filesBad     int
	tmpLeft               int
	errs                  *tally
	badReplies            []string // server-side commands answered with a 4xx/5xx code
	logins                string
	transfers             string
	logProblems           int
	logFirst              []string
	stopTime              time.Duration
	exit                  string
}

func runLoad(o loadOpts) int {
	deadline := time.Now().Add(o.timeout)
	raiseNoFile(wantNoFile)
	work, err := os.MkdirTemp("", "bucketftp-load")
	check(err)
	defer os.RemoveAll(work)

	bin := buildServer(work)
	users := filepath.Join(work, "users.yaml")
	check(os.WriteFile(users, []byte(fmt.Sprintf("users:\n  - name: %s\n    password_hash: %q\n    home: %s\n",
		loadUser, hashPassword(bin, loadPassword), loadHome)), 0o600))
	data := filepath.Join(work, "data")
	check(os.Mkdir(data, 0o755))
	limit := strconv.Itoa(2 * o.sessions)
	args := []string{"serve", "--listen", "127.0.0.1:0", "--users", users, "--storage", "file://" + data,
		"--max-connections", limit, "--max-connections-per-ip", limit,
		"--passive-ports", fmt.Sprintf("%d-%d", pasvFirst, pasvFirst+o.sessions+199),
		"--metrics-listen", "127.0.0.1:0"}
	if serveFlags(bin)["max-passive-per-ip"] { // newer servers: passive listeners per client address
		args = append(args, "--max-passive-per-ip", limit)
	}
	srv := launch(bin, args, os.Environ(), "listening", "metrics listening")
	metricsAddr := srv.addrs["metrics listening"]
	stopped := false
	defer func() {
		if !stopped {
			srv.stop()
		}
	}()

	r := &loadReport{opts: o, errs: newTally(), tree: treeState()}
	r.args = "bucketftp " + strings.NewReplacer(users, "users.yaml", data, "/tmp/...").Replace(strings.Join(args, " "))
	r.nofile = srv.limit("Max open files")
	r.rss0, r.threads0 = srv.rss(), srv.status("Threads")
	r.fd0 = srv.fds()
	r.listen0, _ = srv.sockets()
	log.Printf("server pid %d on %s: RSS %d MiB, %d fds, open files limit %s", srv.cmd.Process.Pid, srv.addr, r.rss0>>20, r.fd0, r.nofile)

	// 1. Every session connects and logs in at once.
	clients, loginTime, loginCPU := connectAll(srv, o, deadline, r.errs, "")
	r.loginTime, r.loginCPU = loginTime, loginCPU
	log.Printf("%d sessions logged in: %v", o.sessions-r.errs.total(), r.loginTime)

	// 2. Idle: memory with every session logged in and nothing running.
	r.rssIdleNow = srv.rss()
	r.rssIdle, r.settle = settleRSS(srv, time.Now().Add(15*time.Second))
	r.threadsIdle, r.fdIdle = srv.status("Threads"), srv.fds()
	r.sessionsActive = scrape(metricsAddr)["bucketftp_sessions_active"]

	// 3. Every session does a LIST and a STOR of its own file, all at once.
	payload := make([]byte, o.size)
	rand.Read(payload)
	srv.resetPeak()
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		if c == nil {
			continue
		}
		wg.Go(func() {
			<-gate
			if _, err := c.List(""); err != nil {
				r.errs.add("LIST", err)
			}
			if err := c.Stor(loadFile(i), bytes.NewReader(payload)); err != nil {
				r.errs.add("STOR", err)
			}
		})
	}
	sampled := make(chan struct{})
	done := make(chan struct{})
	go func() { // peaks of threads and fds during the load, every 20 ms until it ends
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			r.peakThreads, r.fdPeak = max(r.peakThreads, srv.status("Threads")), max(r.fdPeak, srv.fds())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	cpu := srv.cpu()
	start := time.Now()
	close(gate)
	wg.Wait()
	r.loadTime, r.loadCPU = time.Since(start), srv.cpu()-cpu
	close(done)
	<-sampled
	r.peakLoad, r.rssAfter = srv.peak(), srv.rss()
	log.Printf("LIST and STOR done in %v", r.loadTime.Round(time.Millisecond))
	r.filesOK, r.filesBad, r.tmpLeft = checkFiles(data, clients, payload)

	// 4. Every session QUITs; the server must give back every fd.
	quitAll(clients, r.errs, "QUIT")
	r.fdAfter, r.fdSettle = settleFDs(srv, r.fd0, time.Now().Add(30*time.Second))
	r.listenAfter, r.othersAfter = srv.sockets()
	r.sessionsAfter = scrape(metricsAddr)["bucketftp_sessions_active"]

	// 5. A second wave logs in at once, now with the password check
	// remembered, and QUITs; the fds must come back again.
	clients, r.login2Time, r.login2CPU = connectAll(srv, o, deadline, r.errs, " (2nd wave)")
	quitAll(clients, r.errs, "QUIT (2nd wave)")
	r.fdAfter2, _ = settleFDs(srv, r.fd0, time.Now().Add(30*time.Second))
	log.Printf("second wave logged in: %v", r.login2Time)
	r.badReplies, r.logins, r.transfers = summarize(scrape(metricsAddr))

	// 6. A graceful stop.
	start = time.Now()
	srv.cmd.Process.Signal(os.Interrupt)
	exited := make(chan error, 1)
	go func() { exited <- srv.cmd.Wait() }()
	select {
	case err := <-exited:
		r.exit = "exit 0"
		if err != nil {
			r.exit = err.Error()
		}
	case <-time.After(30 * time.Second):
		srv.cmd.Process.Kill()
		<-exited
		r.exit = "still running 30s after SIGINT; killed"
	}
	stopped = true
	r.stopTime = time.Since(start)
	<-srv.logDone
	r.logProblems, r.logFirst = srv.logProblems()

	if !r.print(os.Stdout) {
		return 1
	}
	return 0
}

// connectAll opens o.sessions sessions at once, each logging in, and
// returns them (nil where that failed), the time it took and the server's
// CPU time meanwhile.
func connectAll(srv *server, o loadOpts, deadline time.Time, errs *tally, wave string) ([]*ftp.ServerConn, latencies, time.Duration) {
	clients := make([]*ftp.ServerConn, o.sessions)
	took := make([]time.Duration, o.sessions)
	cpu := srv.cpu()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.sessions {
		wg.Go(func() {
			defer func() { took[i] = time.Since(start) }()
			c, err := dialFrom(srv.addr, net.IPv4(127, 0, 0, byte(1+i%o.addrs)), deadline)
			if err != nil {
				errs.add("connect"+wave, err)
				return
			}
			if err := c.Login(loadUser, loadPassword); err != nil {
				errs.add("login"+wave, err)
				c.Quit()
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	cpu = srv.cpu() - cpu
	slices.Sort(took)
	return clients, latencies{p50: took[len(took)/2], p99: took[len(took)*99/100], max: took[len(took)-1]}, cpu
}

// latencies are times from the start of a wave until a session had logged
// in (or failed to).
type latencies struct{ p50, p99, max time.Duration }

func (l latencies) String() string {
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return fmt.Sprintf("all done in %s (median %s, 99th percentile %s)", r(l.max), r(l.p50), r(l.p99))
}

func quitAll(clients []*ftp.ServerConn, errs *tally, op string) {
	var wg sync.WaitGroup
	for _, c := range clients {
		if c != nil {
			wg.Go(func() {
				if err := c.Quit(); err != nil {
					errs.add(op, err)
				}
			})
		}
	}
	wg.Wait()
}

// settleFDs polls (until deadline at most) for the server's fds to come
// down to want, returning the last count and how long it took.
func settleFDs(s *server, want int, deadline time.Time) (int, time.Duration) {
	start := time.Now()
	n := s.fds()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = s.fds()
	}
	return n, time.Since(start)
}

func loadFile(i int) string { return fmt.Sprintf("f%04d.bin", i) }

// serveFlags is the set of flags `bucketftp serve --help` lists.
func serveFlags(bin string) map[string]bool {
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	flags := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "-") {
			flags[strings.TrimLeft(f[0], "-")] = true
		}
	}
	return flags
}

// treeState names the commit the server was built from, and says so when
// a source file that goes into the binary had uncommitted changes (tests
// and other packages do not count).
func treeState() string {
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "an unknown commit"
	}
	s := "commit " + strings.TrimSpace(string(head))
	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}} {{end}}{{end}}{{end}}`, "./cmd/bucketftp").Output()
	if err != nil {
		return s
	}
	files := append([]string{"go.mod", "go.sum"}, strings.Fields(string(out))...)
	dirty, _ := exec.Command("git", append([]string{"status", "--porcelain", "--"}, files...)...).Output()
	if len(bytes.TrimSpace(dirty)) > 0 {
		s += " plus uncommitted changes to the server's sources"
	}
	return s
}

// raiseNoFile raises this process's soft RLIMIT_NOFILE to at least n (up to
// the hard limit). Children inherit it: Go restores the limit it found at
// start for children only when the program never called Setrlimit.
func raiseNoFile(n uint64) {
	var l syscall.Rlimit
	check(syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l))
	l.Cur = max(l.Cur, min(n, l.Max))
	check(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l))
	if l.Cur < n {
		log.Printf("RLIMIT_NOFILE hard limit is %d, below %d", l.Max, n)
	}
}

// hashPassword runs `bucketftp hash-password`, as an operator would.
func hashPassword(bin, pw string) string {
	cmd := exec.Command(bin, "hash-password")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	check(err)
	return strings.TrimSpace(string(out))
}

// dialFrom opens a session from local; every read and write on its control
// and data connections ends by deadline, so nothing can hang the run.
func dialFrom(addr string, local net.IP, deadline time.Time) (*ftp.ServerConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Deadline: deadline}
	dial := func(network, address string) (net.Conn, error) {
		c, err := d.Dial(network, address)
		if err != nil {
			return nil, err
		}
		if err := c.SetDeadline(deadline); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return ftp.Dial(addr, ftp.DialWithDialFunc(dial), ftp.DialWithDisabledMLSD(true))
}

// settleRSS waits (until deadline at most) for the RSS to stop moving: the
// runtime returns freed pages in the background. It returns the last
// reading and how long it waited.
func settleRSS(s *server, deadline time.Time) (int64, time.Duration) {
	start := time.Now()
	var last []int64
	for {
		last = append(last, s.rss())
		if n := len(last); n >= 5 {
			w := last[n-5:]
			if lo, hi := slices.Min(w), slices.Max(w); hi-lo <= hi/100 || time.Now().After(deadline) {
				return w[4], time.Since(start)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkFiles compares every uploaded file with the payload and counts
// leftovers in the local store's directory of uploads in progress.
func checkFiles(data string, clients []*ftp.ServerConn, payload []byte) (ok, bad, tmp int) {
	for i, c := range clients {
		if c == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(data, loadHome, loadFile(i)))
		if err == nil && bytes.Equal(b, payload) {
			ok++
		} else {
			bad++
		}
	}
	entries, _ := os.ReadDir(filepath.Join(data, ".bucketftp-tmp"))
	return ok, bad, len(entries)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func mark(ok bool) string {
	if ok {
		return " ✓"
	}
	return " ✗"
}

// print writes the Markdown section and reports whether every check passed.
func (r *loadReport) print(w io.Writer) bool {
	n := r.opts.sessions
	idle := r.rssIdle - r.rss0
	idleOK := r.rssIdle < idleTarget
	errsOK := r.errs.total() == 0 && len(r.badReplies) == 0
	filesOK := r.filesOK == n && r.tmpLeft == 0
	fdOK := r.fdAfter <= r.fd0 && r.fdAfter2 <= r.fd0
	listenOK := slices.Equal(r.listen0, r.listenAfter) && len(r.othersAfter) == 0
	loginOK := r.sessionsActive == float64(n) && r.errs.n["connect"]+r.errs.n["login"] == 0
	stopOK := r.exit == "exit 0"
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }

	p("## %s concurrent sessions\n\n", thousands(n))
	p("Measured by `go run ./bench -load` on %d CPU cores, %s, %s, built from %s. ", runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"), r.tree)
	p("The server runs as its own process, `%s`, ", r.args)
	p("with one user whose argon2id hash comes from `bucketftp hash-password` (default costs); the benchmark raises its own open files limit to at least %d and the server inherits it (%s). ", wantNoFile, r.nofile)
	p("The client is github.com/jlaffaye/ftp in the benchmark's process, over loopback from %d source addresses (127.0.0.1-127.0.0.%d), passive mode (EPSV), TYPE I. ", r.opts.addrs, r.opts.addrs)
	p("All %s sessions connect and log in at once (no password check remembered yet), sit idle while the server's RSS is read from /proc/PID/status, ", thousands(n))
	p("then each does a `LIST` of its home and a `STOR` of its own %d-byte file, all released at once; then all QUIT. A second wave of %s sessions then logs in at once (the check now remembered) and QUITs. ", r.opts.size, thousands(n))
	p("Descriptors are counted in /proc/PID/fd, sockets matched by inode in /proc/PID/net/tcp{,6}, replies read from the server's `bucketftp_commands_total`.\n\n")

	p("| measurement | result | target |\n|---|---|---|\n")
	p("| server RSS before any connection | %s (%d threads, %d fds) | — |\n", mib(r.rss0), r.threads0, r.fd0)
	p("| connect and log in, all at once | %s; server CPU %s; %s sessions active | all logged in%s |\n",
		r.loginTime, r.loginCPU, strconv.FormatFloat(r.sessionsActive, 'f', 0, 64), mark(loginOK))
	p("| **server RSS, %s idle logged-in sessions** | **%s** (%s right after the last login, settled in %s); **%s over the baseline = %.1f KiB per session**; %d threads, %d fds | < %s%s |\n",
		thousands(n), mib(r.rssIdle), mib(r.rssIdleNow), r.settle.Round(10*time.Millisecond), mib(idle), float64(idle)/1024/float64(n), r.threadsIdle, r.fdIdle, mib(idleTarget), mark(idleOK))
	p("| %s × (LIST + STOR %d B), all at once | %s; server CPU %s | — |\n", thousands(n), r.opts.size, r.loadTime.Round(time.Millisecond), r.loadCPU)
	p("| peak RSS during the LIST + STOR (VmHWM, reset before) | %s (%s after); peak %d threads, %d fds | — |\n", mib(r.peakLoad), mib(r.rssAfter), r.peakThreads, r.fdPeak)
	p("| client errors | %s | none%s |\n", r.errs, mark(r.errs.total() == 0))
	p("| server replies 4xx/5xx | %s | none%s |\n", listOr(r.badReplies, "none"), mark(len(r.badReplies) == 0))
	p("| logins; transfers (server metrics) | %s; %s | — |\n", r.logins, r.transfers)
	p("| files stored intact; uploads left in .bucketftp-tmp | %d of %d; %d | all; 0%s |\n", r.filesOK, n, r.tmpLeft, mark(filesOK))
	p("| server fds: before / idle / peak / after QUIT / after the second wave | %d / %d / %d / %d (settled in %s) / %d | after ≤ before%s |\n",
		r.fd0, r.fdIdle, r.fdPeak, r.fdAfter, r.fdSettle.Round(time.Millisecond), r.fdAfter2, mark(fdOK))
	p("| server's TCP sockets after QUIT | listening: %s; others: %s; sessions active %.0f | the control and metrics listeners only%s |\n",
		strings.Join(r.listenAfter, ", "), listOr(r.othersAfter, "none"), r.sessionsAfter, mark(listenOK && r.sessionsAfter == 0))
	p("| second wave: connect and log in, all at once, then QUIT | %s; server CPU %s | all logged in%s |\n",
		r.login2Time, r.login2CPU, mark(r.errs.n["connect (2nd wave)"]+r.errs.n["login (2nd wave)"] == 0))
	p("| WARN/ERROR lines in the server's log | %d | 0%s |\n", r.logProblems, mark(r.logProblems == 0))
	p("| SIGINT after the run | %s in %s | exit 0%s |\n\n", r.exit, r.stopTime.Round(time.Millisecond), mark(stopOK))
	for _, l := range r.logFirst {
		p("    %s\n", l)
	}
	if len(r.logFirst) > 0 {
		p("\n")
	}
	p("Reproduce with `go run ./bench -load` (Linux, no Docker, about a minute; exits 1 when a check fails). `-sessions`, `-source-addrs`, `-file-size` and `-timeout` change the run; `BENCH_SERVER_LOG=FILE` keeps the server's log.\n")
	return idleOK && errsOK && filesOK && fdOK && listenOK && r.sessionsAfter == 0 && loginOK && stopOK && r.logProblems == 0
}

func listOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
