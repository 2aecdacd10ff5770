// Command bench measures bucketftp and prints a Markdown report
// (BENCHMARKS.md). By default it compares bucketftp with direct S3 access to
// the same MinIO, in one run:
//
//	go run ./bench > BENCHMARKS.md
//
// That needs Docker and the MinIO image (integration/build-minio-image.sh
// builds it where no registry is reachable). With -load it needs neither: it
// opens 1,000 concurrent sessions to a server on a local directory and
// reports memory, errors and leaks (load.go):
//
//	go run ./bench -load
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"
	"github.com/testcontainers/testcontainers-go"
	tcminio "github.com/testcontainers/testcontainers-go/modules/minio"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sync/errgroup"
)

const (
	image  = "minio/minio:RELEASE.2025-09-07T16-13-09Z"
	user   = "bench-user"
	secret = "bench-secret-key"
	bucket = "bench"
)

func main() {
	log.SetFlags(0)
	log.SetOutput(os.Stderr)
	lo := loadFlags(flag.CommandLine)
	workloads := flag.String("workloads", "all", "S3 benchmark: \"all\" (large files, small files in one session, listing) or \"small\" (many small files: direct S3, rclone serve ftp and bucketftp, with ftplib and lftp; smallfiles.go)")
	scale := flag.Bool("lb", false, "run the scale-out benchmark: 8 parallel sessions through HAProxy to three replicas, to one, and to one directly (lb.go; needs Docker and HAProxy)")
	sums := flag.Bool("checksums", false, "measure STOR of 1 GiB with each --checksums setting against none (checksums.go)")
	big := flag.Bool("bigfiles", false, "compare STOR and RETR of 1 GiB through bucketftp and rclone serve ftp with a direct curl PUT and GET (bigfiles.go)")
	flag.Parse()
	if lo.enabled {
		os.Exit(runLoad(*lo))
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	listKeys := envInt("BENCH_LIST_KEYS", 100000)
	small := envInt("BENCH_SMALL_FILES", 1000)
	rounds := envInt("BENCH_ROUNDS", 5)
	ctx := context.Background()

	mc, err := tcminio.Run(ctx, image, tcminio.WithUsername(user), tcminio.WithPassword(secret),
		testcontainers.WithWaitStrategyAndDeadline(3*time.Minute, wait.ForHTTP("/minio/health/live").WithPort("9000")),
		testcontainers.WithCmdArgs(minioFTPArgs(*big || *workloads == "small")...))
	if err != nil {
		log.Fatal(err)
	}
	defer testcontainers.TerminateContainer(mc)
	// The container's own address on the Docker bridge, not the published
	// port: that goes through docker-proxy, a process copying every byte
	// once more, which no real deployment has and which would take CPU
	// from what is measured.
	ip, err := mc.ContainerIP(ctx)
	if err != nil {
		log.Fatal(err)
	}
	endpoint := "http://" + net.JoinHostPort(ip, "9000")
	s3c := s3.New(s3.Options{BaseEndpoint: aws.String(endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(user, secret, "")})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		log.Fatal(err)
	}

	work, err := os.MkdirTemp("", "bucketftp-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	if *scale {
		runScaleOut(ctx, mc, work, endpoint, s3c)
		return
	}
	if *sums {
		runChecksums(work, endpoint, envInt("BENCH_ROUNDS", 3))
		return
	}
	if *big {
		st, err := mc.Inspect(ctx)
		check(err)
		runBig(work, endpoint, st.State.Pid, envInt("BENCH_ROUNDS", 3))
		return
	}
	if *workloads == "small" {
		st, err := mc.Inspect(ctx)
		check(err)
		runSmall(ctx, work, endpoint, st.State.Pid, small, envInt("BENCH_ROUNDS", 3))
		return
	}
	srv := startServer(work, endpoint)
	defer srv.stop()

	var rows []row
	sizes := []int64{256 << 20, 1 << 30}
	// Each transfer runs `rounds` times, direct and through bucketftp in
	// turn; the table shows the median of each, as single runs on a shared
	// machine vary by 10-20%.
	for _, size := range sizes { // uploads first: the peak RSS of an upload is not inflated by earlier downloads
		file := filepath.Join(work, fmt.Sprintf("data-%d", size))
		makeFile(file, size)
		name := fmt.Sprintf("file-%dMiB.bin", size>>20)
		var ds, fs []time.Duration
		var peak int64
		for range rounds {
			ds = append(ds, timeIt(func() { s3Put(ctx, s3c, "direct/"+name, file) }))
			srv.resetPeak()
			fs = append(fs, timeIt(func() { ftpStor(srv.addr, name, file) }))
			peak = max(peak, srv.peak())
		}
		d, f := median(ds), median(fs)
		rows = append(rows, row{what: fmt.Sprintf("STOR %d MiB", size>>20), base: rate(size, d), ours: rate(size, f),
			ratio: d.Seconds() / f.Seconds(), target: 0.9, note: fmt.Sprintf("server peak RSS %d MiB", peak>>20)})
		os.Remove(file)
	}
	for _, size := range sizes {
		name := fmt.Sprintf("file-%dMiB.bin", size>>20)
		var ds, fs, ms []time.Duration
		for range rounds {
			ds = append(ds, timeIt(func() { s3Get(ctx, s3c, "direct/"+name) }))
			fs = append(fs, timeIt(func() { ftpRetr(srv.addr, name) }))
			ms = append(ms, timeIt(func() { s3Get(ctx, s3c, name) }))
		}
		d, f := median(ds), median(fs)
		rows = append(rows, row{what: fmt.Sprintf("RETR %d MiB", size>>20), base: rate(size, d), ours: rate(size, f),
			ratio: d.Seconds() / f.Seconds(), target: 0.8,
			note: fmt.Sprintf("direct GET of the object bucketftp stored (multipart): %s", rate(size, median(ms)))})
	}

	var d, f time.Duration
	payload := make([]byte, 4096)
	rand.Read(payload)
	d = timeIt(func() {
		for i := range small {
			_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("direct-small/%05d", i)), Body: bytes.NewReader(payload)})
			check(err)
		}
	})
	f = timeIt(func() { ftpSmall(srv.addr, small, payload) })
	rows = append(rows, row{what: fmt.Sprintf("%d × 4 KiB, one session", small), base: fmt.Sprintf("%.0f files/s", float64(small)/d.Seconds()),
		ours: fmt.Sprintf("%.0f files/s", float64(small)/f.Seconds()), ratio: d.Seconds() / f.Seconds()})

	log.Printf("seeding %d keys for the listing", listKeys)
	seed(ctx, s3c, "list/", listKeys)
	d = timeIt(func() {
		n := rawList(ctx, s3c, "list/")
		if n != listKeys {
			log.Fatalf("raw listing saw %d keys", n)
		}
	})
	srv.resetPeak()
	before := srv.rss()
	f = timeIt(func() {
		if n := ftpList(srv.addr, "list"); n != listKeys {
			log.Fatalf("FTP listing saw %d entries", n)
		}
	})
	rows = append(rows, row{what: fmt.Sprintf("LIST of %d keys", listKeys), base: d.Round(time.Millisecond).String(), ours: f.Round(time.Millisecond).String(),
		ratio: d.Seconds() / f.Seconds(), target: 1 / 1.2, note: fmt.Sprintf("server RSS %d MiB before, peak %d MiB during", before>>20, srv.peak()>>20)})

	report(rows, rounds)
}

type row struct {
	what, base, ours string
	ratio            float64 // baseline time / bucketftp time: 1.0 is parity, higher is faster
	target           float64 // 0: no target
	note             string
}

func report(rows []row, rounds int) {
	fmt.Printf("# Benchmarks\n\n")
	fmt.Printf("Measured by `go run ./bench` in one run against one MinIO (%s in Docker, data on the container's disk), on %d CPU cores, %s, %s.\n",
		image, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("The baseline is the AWS SDK for Go v2 talking to the same MinIO directly: PutObject of the file (seekable, one request), GetObject, one PutObject per small file, ListObjectsV2 pages. ")
	fmt.Printf("bucketftp runs as its own process (`bucketftp serve --storage s3://...`, default settings) and is driven by github.com/jlaffaye/ftp over loopback, passive mode, TYPE I; the server's peak RSS is read from /proc (VmHWM, reset before each measurement). ")
	fmt.Printf("Each STOR and RETR ran %d times, direct and through bucketftp in turn; the table shows the median time of each and the highest peak RSS.\n\n", rounds)
	fmt.Printf("| measurement | direct S3 | through bucketftp | bucketftp vs direct | target | notes |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		target := "—"
		met := ""
		if r.target > 0 {
			target = fmt.Sprintf("≥ %.2fx", r.target)
			met = " ✗"
			if r.ratio >= r.target {
				met = " ✓"
			}
		}
		fmt.Printf("| %s | %s | %s | %.2fx%s | %s | %s |\n", r.what, r.base, r.ours, r.ratio, met, target, r.note)
	}
	fmt.Printf("\n\"bucketftp vs direct\" is the direct time divided by bucketftp's time (1.00x = same speed; for LIST the target ≥ 0.83x is \"within 1.2x of raw listing\"). Peak RSS target during the 1 GiB upload: ≤ 64 MiB.\n")
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func rate(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MiB/s", float64(n)/float64(1<<20)/d.Seconds())
}

func timeIt(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func makeFile(name string, size int64) {
	f, err := os.Create(name)
	check(err)
	defer f.Close()
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for written := int64(0); written < size; written += int64(len(buf)) {
		_, err := f.Write(buf)
		check(err)
	}
}

func s3Put(ctx context.Context, c *s3.Client, key, file string) {
	f, err := os.Open(file)
	check(err)
	defer f.Close()
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f})
	check(err)
}

func s3Get(ctx context.Context, c *s3.Client, key string) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	check(err)
	check(drain(out.Body))
	out.Body.Close()
}

// drain reads r to its end in 1 MiB reads, as curl or lftp would, rather
// than io.Discard's 8 KiB ones; the same for both sides of a comparison.
func drain(r io.Reader) error {
	buf := make([]byte, 1<<20)
	for {
		_, err := r.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func seed(ctx context.Context, c *s3.Client, prefix string, n int) {
	var g errgroup.Group
	g.SetLimit(64)
	for i := range n {
		g.Go(func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("%s%07d", prefix, i)), Body: strings.NewReader("x")})
			return err
		})
	}
	check(g.Wait())
}

func rawList(ctx context.Context, c *s3.Client, prefix string) int {
	n := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		check(err)
		n += len(out.Contents)
	}
	return n
}

func dial(addr string) *ftp.ServerConn {
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(time.Minute))
	check(err)
	check(c.Login("u", "bench-pw"))
	return c
}

func ftpStor(addr, name, file string) {
	c := dial(addr)
	defer c.Quit()
	f, err := os.Open(file)
	check(err)
	defer f.Close()
	check(c.Stor(name, f))
}

func ftpRetr(addr, name string) {
	c := dial(addr)
	defer c.Quit()
	r, err := c.Retr(name)
	check(err)
	check(drain(r))
	check(r.Close())
}

func ftpSmall(addr string, n int, payload []byte) {
	c := dial(addr)
	defer c.Quit()
	check(c.MakeDir("small"))
	for i := range n {
		check(c.Stor(fmt.Sprintf("small/%05d", i), bytes.NewReader(payload)))
	}
}

func ftpList(addr, dir string) int {
	c := dial(addr)
	defer c.Quit()
	names, err := c.NameList(dir)
	check(err)
	return len(names)
}

func startServer(work, endpoint string) *server {
	bin := buildServer(work)
	return launch(bin, []string{"serve", "--listen", "127.0.0.1:0", "--storage",
		"s3://" + bucket + "?endpoint=" + endpoint + "&path_style=true&region=us-east-1" + os.Getenv("BENCH_STORAGE_PARAMS")},
		append(os.Environ(), "AWS_ACCESS_KEY_ID="+user, "AWS_SECRET_ACCESS_KEY="+secret,
			"BUCKETFTP_USER=u", "BUCKETFTP_PASSWORD=bench-pw"), "listening")
}
