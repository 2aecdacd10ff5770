package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runChecksums measures what computing checksums at ingest costs: STOR of
// a 1 GiB file to one bucketftp process per --checksums setting (none,
// the default sha256,crc32, each further algorithm, all), all against the
// same MinIO, rounds interleaved so that the machine's drift hits each
// setting alike; medians of wall time and of the server's CPU seconds.
func runChecksums(work, endpoint string, rounds int) {
	const size = 1 << 30
	settings := []string{"none", "sha256", "sha256,crc32", "sha256,crc32,md5", "sha256,crc32,sha1", "sha256,crc32,sha512", "sha256,crc32,md5,sha1,sha512"}
	if only := os.Getenv("BENCH_CHECKSUMS"); only != "" {
		// e.g. "none;sha256,crc32": the settings to compare, the first the base
		settings = strings.Split(only, ";")
	}
	bin := buildServer(work)
	srvs := make([]*server, len(settings))
	for i, set := range settings {
		srvs[i] = launch(bin, []string{"serve", "--listen", "127.0.0.1:0", "--storage",
			"s3://" + bucket + "?endpoint=" + endpoint + "&path_style=true&region=us-east-1" + os.Getenv("BENCH_STORAGE_PARAMS")},
			append(os.Environ(), "AWS_ACCESS_KEY_ID="+user, "AWS_SECRET_ACCESS_KEY="+secret,
				"BUCKETFTP_USER=u", "BUCKETFTP_PASSWORD=bench-pw", "BUCKETFTP_CHECKSUMS="+set), "listening")
		defer srvs[i].stop()
	}
	file := filepath.Join(work, "data-checksums")
	makeFile(file, size)
	walls := make([][]time.Duration, len(settings))
	cpus := make([][]time.Duration, len(settings))
	for r := range rounds {
		for i, srv := range srvs {
			pid := strconv.Itoa(srv.cmd.Process.Pid)
			before, err := lbProcCPU(pid)
			check(err)
			walls[i] = append(walls[i], timeIt(func() { ftpStor(srv.addr, fmt.Sprintf("sums-%d-%d.bin", i, r), file) }))
			after, err := lbProcCPU(pid)
			check(err)
			cpus[i] = append(cpus[i], after-before)
		}
	}
	for _, srv := range srvs {
		if n, lines := srv.logProblems(); n > 0 {
			fmt.Fprintf(os.Stderr, "server logged %d warnings or errors: %v\n", n, lines)
		}
	}
	base := median(walls[0])
	fmt.Printf("STOR of 1 GiB through bucketftp to MinIO, by --checksums (median of %d rounds, interleaved):\n\n", rounds)
	fmt.Printf("| --checksums | STOR 1 GiB | throughput | vs none | server CPU |\n|---|---|---|---|---|\n")
	for i, set := range settings {
		w := median(walls[i])
		fmt.Printf("| `%s` | %.2f s | %s | %+.1f%% | %.2f s |\n", set, w.Seconds(), rate(size, w), (w.Seconds()/base.Seconds()-1)*100, median(cpus[i]).Seconds())
	}
}
