package main

// The small-file benchmark: go run ./bench -workloads small
//
// 1,000 files of 4 KiB, side by side against one MinIO:
//
//   - direct S3: PUTs from Go's net/http, each signed with SigV4 and
//     UNSIGNED-PAYLOAD (aws-sdk-go-v2's signer, no SDK middleware), over
//     one keep-alive connection, and over eight at once;
//   - through bucketftp and through rclone serve ftp (its defaults), each
//     driven by Python's ftplib in one session and by `lftp mirror -R -P 8`
//     with lftp's defaults (so MFMT after each file where the server
//     offers it).
//
// Three rounds, interleaved; the table shows medians. S3 requests per file
// are counted in a separate, untimed round through a counting proxy. The
// FTP servers' CPU (user+system, /proc/PID/stat) is taken around each
// timed run. BENCH_PERF=FILE records bucketftp's first ftplib and lftp
// runs with perf (perf record -g) into FILE-ftplib and FILE-lftp.

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const smallSize = 4096

// countingProxy forwards to an S3 endpoint and counts the requests.
type countingProxy struct {
	url string
	n   atomic.Int64
	srv *http.Server
}

func newCountingProxy(target string) *countingProxy {
	u, err := url.Parse(target)
	check(err)
	p := &countingProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.n.Add(1)
		rp.ServeHTTP(w, r)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	p.url = "http://" + l.Addr().String()
	go p.srv.Serve(l)
	return p
}

// directPutter PUTs objects with net/http and a precomputed signing key.
type directPutter struct {
	endpoint string
	client   *http.Client
	signer   *v4.Signer
	creds    aws.Credentials
}

func newDirectPutter(endpoint string, conns int) *directPutter {
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, DisableCompression: true}
	return &directPutter{endpoint: endpoint, client: &http.Client{Transport: tr}, signer: v4.NewSigner(),
		creds: aws.Credentials{AccessKeyID: user, SecretAccessKey: secret}}
}

func (d *directPutter) put(ctx context.Context, key string, body []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.endpoint+"/"+bucket+"/"+key, bytes.NewReader(body))
	check(err)
	req.ContentLength = int64(len(body))
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	check(d.signer.SignHTTP(ctx, d.creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()))
	resp, err := d.client.Do(req)
	check(err)
	_, _ = drainAll(resp)
	if resp.StatusCode != 200 {
		log.Fatalf("direct PUT %s: %s", key, resp.Status)
	}
}

func drainAll(resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	var buf [4096]byte
	var n int64
	for {
		m, err := resp.Body.Read(buf[:])
		n += int64(m)
		if err != nil {
			return n, nil
		}
	}
}

// directSmall PUTs n files over streams connections at once.
func directSmall(ctx context.Context, endpoint, prefix string, n, streams int, payload []byte) time.Duration {
	d := newDirectPutter(endpoint, streams)
	return timeIt(func() {
		var wg sync.WaitGroup
		for s := range streams {
			wg.Go(func() {
				for i := s; i < n; i += streams {
					d.put(ctx, fmt.Sprintf("%s/%05d", prefix, i), payload)
				}
			})
		}
		wg.Wait()
	})
}

// ftpTarget is an FTP server to drive.
type ftpTarget struct {
	name       string
	host, port string
	user, pass string
	root       string // the directory uploads go under ("bench/" for MinIO's FTP, whose top level is the buckets)
	stop       func()
	pid        int // the server process
}

// startRclone runs rclone serve ftp on MinIO at endpoint, passive ports
// from pasv.
func startRclone(work, endpoint, pasv string) *ftpTarget {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		bin = filepath.Join(os.Getenv("HOME"), "go", "bin", "rclone")
	}
	port := freePort()
	conf := filepath.Join(work, "rclone.conf")
	check(os.WriteFile(conf, nil, 0o600))
	// The backend's settings from the environment (an endpoint URL's colon
	// would need quoting in a connection string).
	cmd := exec.Command(bin, "serve", "ftp", ":s3:"+bucket, "--addr", "127.0.0.1:"+port, "--user", "u", "--pass", "bench-pw",
		"--passive-port", pasv, "--config", conf)
	cmd.Env = append(os.Environ(), "RCLONE_S3_PROVIDER=Minio", "RCLONE_S3_ENDPOINT="+endpoint,
		"RCLONE_S3_ACCESS_KEY_ID="+user, "RCLONE_S3_SECRET_ACCESS_KEY="+secret, "RCLONE_S3_REGION=us-east-1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	check(cmd.Start())
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log.Fatal("rclone serve ftp did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &ftpTarget{name: "rclone serve ftp", host: "127.0.0.1", port: port, user: "u", pass: "bench-pw",
		stop: func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }, pid: cmd.Process.Pid}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

func bucketftpTarget(work, endpoint string) *ftpTarget {
	srv := startServer(work, endpoint)
	h, p, err := net.SplitHostPort(srv.addr)
	check(err)
	return &ftpTarget{name: "bucketftp", host: h, port: p, user: "u", pass: "bench-pw", stop: srv.stop, pid: srv.cmd.Process.Pid}
}

// memTarget is bucketftp on its in-memory storage: the same FTP work with
// no S3 behind it, the floor under any FTP server's per-file time.
func memTarget(work string) *ftpTarget {
	srv := launch(buildServer(work), []string{"serve", "--listen", "127.0.0.1:0", "--storage", "mem://"},
		append(os.Environ(), "BUCKETFTP_USER=u", "BUCKETFTP_PASSWORD=bench-pw"), "listening")
	h, p, err := net.SplitHostPort(srv.addr)
	check(err)
	return &ftpTarget{name: "bucketftp (memory)", host: h, port: p, user: "u", pass: "bench-pw", stop: srv.stop, pid: srv.cmd.Process.Pid}
}

const ftplibScript = `
import ftplib, io, sys, time
host, port, user, pw, d, n, size = sys.argv[1:8]
n, size = int(n), int(size)
payload = bytes(range(256)) * (size // 256)
f = ftplib.FTP()
f.connect(host, int(port), timeout=60)
f.login(user, pw)
f.mkd(d)
start = time.monotonic()
for i in range(n):
    f.storbinary("STOR %s/%05d" % (d, i), io.BytesIO(payload))
print(time.monotonic() - start)
f.quit()
`

// ftplibSmall uploads n files through one ftplib session into dir and
// returns the time of the uploads alone.
func ftplibSmall(t *ftpTarget, dir string, n int) time.Duration {
	out, err := exec.Command("python3", "-c", ftplibScript, t.host, t.port, t.user, t.pass, dir, strconv.Itoa(n), strconv.Itoa(smallSize)).CombinedOutput()
	if err != nil {
		log.Fatalf("ftplib against %s: %v\n%s", t.name, err, out)
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	check(err)
	return time.Duration(sec * float64(time.Second))
}

// lftpMirror mirrors local (n small files) into dir with 8 parallel
// transfers and lftp's defaults.
func lftpMirror(t *ftpTarget, local, dir string) time.Duration {
	return timeIt(func() {
		cmd := exec.Command("lftp", "-u", t.user+","+t.pass, "-p", t.port, t.host,
			"-e", fmt.Sprintf("set cmd:fail-exit yes; mirror -R -P 8 %s %s; quit", local, dir))
		cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(local)) // no ~/.lftprc of the machine's
		if out, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("lftp against %s: %v\n%s", t.name, err, out)
		}
	})
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// runSmall measures the small-file workloads and prints their section.
func runSmall(ctx context.Context, work, endpoint string, minioPID, n, rounds int) {
	loadBefore := loadAvg()
	payload := bytes.Repeat([]byte{0}, smallSize)
	for i := range payload {
		payload[i] = byte(i)
	}
	local := filepath.Join(work, "small")
	check(os.MkdirAll(local, 0o755))
	for i := range n {
		check(os.WriteFile(filepath.Join(local, fmt.Sprintf("%05d", i)), payload, 0o644))
	}
	bf := bucketftpTarget(work, endpoint)
	defer bf.stop()
	rc := startRclone(work, endpoint, "40000-40999")
	defer rc.stop()
	mem := memTarget(work)
	defer mem.stop()
	host, _, err := net.SplitHostPort(strings.TrimPrefix(endpoint, "http://"))
	check(err)
	mio := &ftpTarget{name: "MinIO FTP", host: host, port: "8021", user: user, pass: secret, root: bucket + "/", pid: minioPID, stop: func() {}}
	targets := []*ftpTarget{bf, rc, mem, mio}

	type key struct{ what, target string }
	times := map[key][]time.Duration{}
	cpus := map[key][]time.Duration{} // the FTP server's CPU per run
	perfOut := os.Getenv("BENCH_PERF")
	run := func(what string, t *ftpTarget, r int, f func() time.Duration) {
		if perfOut != "" && r == 0 && t == bf { // perf attaches before the clock starts
			defer perfRecord(t.pid, perfOut+"-"+what)()
		}
		c0 := pidCPU(t.pid)
		times[key{what, t.name}] = append(times[key{what, t.name}], f())
		cpus[key{what, t.name}] = append(cpus[key{what, t.name}], pidCPU(t.pid)-c0)
	}
	for r := range rounds {
		log.Printf("small files: round %d of %d", r+1, rounds)
		times[key{"direct", "1"}] = append(times[key{"direct", "1"}], directSmall(ctx, endpoint, fmt.Sprintf("direct1-%d", r), n, 1, payload))
		times[key{"direct", "8"}] = append(times[key{"direct", "8"}], directSmall(ctx, endpoint, fmt.Sprintf("direct8-%d", r), n, 8, payload))
		for _, t := range targets {
			run("ftplib", t, r, func() time.Duration { return ftplibSmall(t, fmt.Sprintf("%sftplib-%s-%d", t.root, t.port, r), n) })
			run("lftp", t, r, func() time.Duration { return lftpMirror(t, local, fmt.Sprintf("%slftp-%s-%d", t.root, t.port, r)) })
		}
	}
	med := func(what, target string) time.Duration { return median(times[key{what, target}]) }
	cpuPerFile := func(what, target string) string {
		return fmt.Sprintf("%.2f ms", float64(median(cpus[key{what, target}]).Microseconds())/1000/float64(n))
	}

	// Requests per file: one more round of each FTP workload, untimed,
	// through a counting proxy.
	reqs := map[key]float64{}
	bp := newCountingProxy(endpoint)
	bfc := bucketftpTarget(work, bp.url)
	rp := newCountingProxy(endpoint)
	rcc := startRclone(work, rp.url, "41000-41999")
	for _, c := range []struct {
		t *ftpTarget
		p *countingProxy
	}{{bfc, bp}, {rcc, rp}} {
		c.p.n.Store(0)
		ftplibSmall(c.t, "count-ftplib-"+c.t.port, n)
		reqs[key{"ftplib", c.t.name}] = float64(c.p.n.Swap(0)) / float64(n)
		lftpMirror(c.t, local, "count-lftp-"+c.t.port)
		reqs[key{"lftp", c.t.name}] = float64(c.p.n.Swap(0)) / float64(n)
	}
	bfc.stop()
	rcc.stop()

	rate := func(d time.Duration) string { return fmt.Sprintf("%.0f files/s", float64(n)/d.Seconds()) }
	fmt.Printf("## Small files: %d × 4 KiB\n\n", n)
	fmt.Printf("Measured by `go run ./bench -workloads small` in one run against one MinIO (%s in Docker), %d interleaved rounds, medians, on %s, %s; load average %s before and %s after (the machine is shared).\n\n",
		image, rounds, runtimeDesc(), time.Now().UTC().Format("2006-01-02"), loadBefore, loadAvg())
	fmt.Printf("Direct S3 is Go's net/http with each PUT signed by aws-sdk-go-v2's SigV4 signer with UNSIGNED-PAYLOAD (no SDK middleware), over one keep-alive connection, and over eight at once. ")
	fmt.Printf("rclone is `rclone serve ftp` v1.76.0 with its defaults on the same bucket (the S3 remote from RCLONE_S3_* variables: provider Minio, the endpoint, the keys); MinIO FTP is the same MinIO's own FTP server (`--ftp`), writing to its own disk with no S3 requests to count. Python ftplib uploads in one session (STOR after PASV per file; login not timed); `lftp mirror -R -P 8` runs with lftp's defaults (MFMT after each file where FEAT offers it), timed from start to exit. S3 requests per file were counted in one more, untimed round through a counting proxy; server CPU per file is the server process's user+system time (/proc/PID/stat) around each timed run, median of the rounds, divided by the files.\n\n")
	fmt.Printf("| workload | direct S3 | rclone serve ftp | MinIO FTP | bucketftp | bucketftp vs direct | bucketftp vs rclone | bucketftp vs MinIO FTP | target | S3 requests per file (rclone / bucketftp) | server CPU per file (rclone / bucketftp) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	d1, d8 := med("direct", "1"), med("direct", "8")
	for _, w := range []struct {
		what, desc string
		direct     time.Duration
		tDirect    float64
		tRclone    float64
	}{
		{"ftplib", "Python ftplib, one session", d1, 0.8, 1.6},
		{"lftp", "`lftp mirror -R -P 8`", d8, 0.5, 1.0},
	} {
		b, r, m := med(w.what, "bucketftp"), med(w.what, "rclone serve ftp"), med(w.what, mio.name)
		vsD, vsR := w.direct.Seconds()/b.Seconds(), r.Seconds()/b.Seconds()
		mark := func(v, t float64) string {
			if v >= t {
				return fmt.Sprintf("%.2fx ✓", v)
			}
			return fmt.Sprintf("%.2fx ✗", v)
		}
		directDesc := fmt.Sprintf("%s (1 connection)", rate(w.direct))
		if w.what == "lftp" {
			directDesc = fmt.Sprintf("%s (8 connections)", rate(w.direct))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %.2fx | ≥ %.1fx direct, ≥ %.1fx rclone | %.1f / %.1f | %s / %s |\n", w.desc, directDesc, rate(r), rate(m), rate(b),
			mark(vsD, w.tDirect), mark(vsR, w.tRclone), m.Seconds()/b.Seconds(), w.tDirect, w.tRclone, reqs[key{w.what, "rclone serve ftp"}], reqs[key{w.what, "bucketftp"}],
			cpuPerFile(w.what, "rclone serve ftp"), cpuPerFile(w.what, "bucketftp"))
	}
	fmt.Printf("\nDirect S3: %s over one connection, %s over eight (1.0 request per file).\n", rate(d1), rate(d8))
	// The floor: FTP alone. A server whose S3 work cost nothing beyond
	// the direct PUT itself would take the FTP time plus the PUT's.
	fl, fm := med("ftplib", mem.name), med("lftp", mem.name)
	best := func(ftp, direct time.Duration) float64 { return direct.Seconds() / (ftp + direct).Seconds() }
	fmt.Printf("\nFTP alone (bucketftp on its in-memory storage, no S3): ftplib %s, lftp %s, server CPU per file %s and %s. "+
		"An FTP server whose S3 work cost nothing beyond the PUT itself would take that FTP time plus the direct PUT's per file: "+
		"at most %.2fx direct for one ftplib session (%.2fx measured) and %.2fx for lftp (%.2fx measured), as one session's FTP and S3 work do not overlap (for lftp's eight sessions sharing two cores, an estimate).\n",
		rate(fl), rate(fm), cpuPerFile("ftplib", mem.name), cpuPerFile("lftp", mem.name),
		best(fl, d1), d1.Seconds()/med("ftplib", "bucketftp").Seconds(), best(fm, d8), d8.Seconds()/med("lftp", "bucketftp").Seconds())
}

func runtimeDesc() string {
	return fmt.Sprintf("%d CPU cores, %s", runtime.NumCPU(), runtime.Version())
}
