package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runBig compares big-file transfers with the cheapest direct client, in
// one run: a 1 GiB file sent to MinIO by curl (one SigV4 PUT with an
// unsigned payload, one GET), by curl as the FTP client through bucketftp
// (STOR, RETR) and through rclone serve ftp. Rounds are interleaved so
// that the machine's drift hits each alike; the figures are medians. The
// CPU seconds of each server process (bucketftp, rclone, and MinIO's own)
// come from /proc/PID/stat around each transfer. BENCH_PERF=FILE records
// bucketftp's first STOR and RETR with perf (perf record -g) into
// FILE-stor and FILE-retr.
func runBig(work, endpoint string, minioPID int, rounds int) {
	size := int64(envInt("BENCH_BIG_MIB", 1024)) << 20 // a smaller file tries the harness out
	file := filepath.Join(work, "data-big")
	makeFile(file, size)
	defer os.Remove(file)

	bft := bucketftpTarget(work, endpoint)
	defer bft.stop()
	bpid := bft.pid
	rcl := startRclone(work, endpoint, "30000-30100")
	defer rcl.stop()

	host, _, err := net.SplitHostPort(strings.TrimPrefix(endpoint, "http://"))
	check(err)
	mio := &ftpTarget{name: "MinIO FTP", host: host, port: "8021", user: user, pass: secret}

	type sample struct{ wall, cpu, minio time.Duration }
	res := map[string][]sample{}
	order := []string{}
	perfOut := os.Getenv("BENCH_PERF")
	prof := false // record the next transfer with perf
	measure := func(what string, pid int, f func()) {
		if _, ok := res[what]; !ok {
			order = append(order, what)
		}
		if prof { // perf attaches before the clock starts
			prof = false
			defer perfRecord(pid, perfOut+"-"+strings.ToLower(strings.Fields(what)[0]))()
		}
		c0, m0 := pidCPU(pid), pidCPU(minioPID)
		w := timeIt(f)
		c1, m1 := pidCPU(pid), pidCPU(minioPID)
		res[what] = append(res[what], sample{w, c1 - c0, m1 - m0})
	}
	for r := range rounds {
		key := fmt.Sprintf("big/r%d", r)
		measure("PUT curl direct", 0, func() { curlPut(endpoint, key+"-direct", file) })
		prof = r == 0 && perfOut != ""
		measure("STOR bucketftp", bpid, func() { curlFTP(bft, "-T", file, key+"-bucketftp") })
		measure("STOR rclone", rcl.pid, func() { curlFTP(rcl, "-T", file, key+"-rclone") })
		measure("STOR MinIO FTP", minioPID, func() { curlFTP(mio, "-T", file, bucket+"/"+key+"-minio") })
		measure("GET curl direct", 0, func() { curlGet(endpoint, key+"-direct") })
		// The object bucketftp stored is multipart (its parts), which the
		// store serves at another cost than the single PUT's.
		measure("GET curl direct, bucketftp's object", 0, func() { curlGet(endpoint, key+"-bucketftp") })
		prof = r == 0 && perfOut != ""
		measure("RETR bucketftp", bpid, func() { curlFTP(bft, "-o", os.DevNull, key+"-bucketftp") })
		measure("RETR rclone", rcl.pid, func() { curlFTP(rcl, "-o", os.DevNull, key+"-rclone") })
		measure("RETR MinIO FTP", minioPID, func() { curlFTP(mio, "-o", os.DevNull, bucket+"/"+key+"-minio") })
	}
	med := func(what string, f func(sample) time.Duration) time.Duration {
		var ds []time.Duration
		for _, s := range res[what] {
			ds = append(ds, f(s))
		}
		return median(ds)
	}
	wall := func(what string) time.Duration { return med(what, func(s sample) time.Duration { return s.wall }) }
	gib := float64(size) / float64(1<<30)
	fmt.Printf("%d MiB of random bytes, median of %d interleaved rounds; load average at the end %s. Direct: `curl --aws-sigv4` PUT with `x-amz-content-sha256: UNSIGNED-PAYLOAD` and GET. Through bucketftp and `rclone serve ftp` (its defaults): curl as the FTP client (`curl -T`, `curl -o /dev/null`, EPSV). CPU is user+system seconds per GiB of the process named, from /proc/PID/stat around each transfer (MinIO's FTP server is the MinIO process itself: its two CPU columns are one figure).\n\n", size>>20, rounds, loadAvg())
	fmt.Printf("| transfer | wall | throughput | vs direct curl | target | server CPU per GiB | MinIO CPU per GiB |\n|---|---|---|---|---|---|---|\n")
	for _, what := range order {
		w := wall(what)
		vs, target, srvCPU := "", "", "–"
		if !strings.Contains(what, "direct") {
			base := wall("PUT curl direct")
			t := 0.8
			if strings.HasPrefix(what, "RETR") {
				base, t = wall("GET curl direct"), 0.9
			}
			ratio := base.Seconds() / w.Seconds()
			vs = fmt.Sprintf("%.2fx", ratio)
			if strings.Contains(what, "bucketftp") {
				target = fmt.Sprintf("≥ %.1fx", t)
				if ratio < t {
					vs += " (short)"
				}
			}
			srvCPU = fmt.Sprintf("%.2f s", med(what, func(s sample) time.Duration { return s.cpu }).Seconds()/gib)
		}
		fmt.Printf("| %s | %.2f s | %s | %s | %s | %s | %.2f s |\n", what, w.Seconds(), rate(size, w), vs, target, srvCPU,
			med(what, func(s sample) time.Duration { return s.minio }).Seconds()/gib)
	}
	fmt.Printf("\nRETR through bucketftp against a direct GET of the same (multipart) object: %.2fx.\n",
		wall("GET curl direct, bucketftp's object").Seconds()/wall("RETR bucketftp").Seconds())
}

// pidCPU is the user and system time of process pid so far; 0 for pid 0.
func pidCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	d, err := lbProcCPU(strconv.Itoa(pid))
	check(err)
	return d
}

func curlRun(args ...string) {
	out, err := exec.Command("curl", append([]string{"-sS", "--fail"}, args...)...).CombinedOutput()
	if err != nil {
		log.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func curlS3(endpoint string, args ...string) {
	curlRun(append([]string{"--aws-sigv4", "aws:amz:us-east-1:s3", "--user", user + ":" + secret}, args...)...)
}

func curlPut(endpoint, key, file string) {
	curlS3(endpoint, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", file, endpoint+"/"+bucket+"/"+key)
}

func curlGet(endpoint, key string) {
	curlS3(endpoint, "-o", os.DevNull, endpoint+"/"+bucket+"/"+key)
}

// curlFTP runs curl against t: "-T", FILE uploads FILE as name, "-o",
// FILE downloads name into FILE.
func curlFTP(t *ftpTarget, flag, file, name string) {
	curlRun(flag, file, fmt.Sprintf("ftp://%s:%s@%s:%s/%s", t.user, t.pass, t.host, t.port, name), "--ftp-create-dirs")
}

// perfRecord samples pid's stacks until the returned func is called.
func perfRecord(pid int, out string) func() {
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Start())
	time.Sleep(300 * time.Millisecond) // perf attaches
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
}

// minioFTPArgs turns on MinIO's own FTP server (port 8021 on the
// container's address, passive ports 30200-30300), a peer in the big-file
// and small-file comparisons.
func minioFTPArgs(on bool) []string {
	if !on {
		return nil
	}
	return []string{"--ftp=address=:8021", "--ftp=passive-port-range=30200-30300"}
}
