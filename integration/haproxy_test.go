package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
)

// TestHAProxy runs bucketftp as docs/kubernetes.md describes a scaled-out
// deployment: three replicas of the real binary on one MinIO bucket behind
// a real HAProxy that sends PROXY protocol v2 on control and passive ports
// (see haproxy_cluster_test.go for the layout).
func TestHAProxy(t *testing.T) {
	t.Parallel()
	haproxy := haproxyBinary(t)
	bin := buildBucketftp(t, t.TempDir())
	t.Run("SixtySessions", func(t *testing.T) { testLBSessions(t, bin, haproxy) })
	t.Run("KillMidUpload", func(t *testing.T) { testLBKill(t, bin, haproxy) })
	t.Run("RollingRestart", func(t *testing.T) { testLBRollingRestart(t, bin, haproxy) })
	t.Run("SharedState", func(t *testing.T) { testLBSharedState(t, bin, haproxy) })
	t.Run("ResumeOnAnotherReplica", func(t *testing.T) { testLBResume(t, bin, haproxy) })
}

// waitGroup waits for wg at most d.
func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v", what, d)
	}
}

// storeThrough uploads one file in a new session through the balancer and
// returns the session's control address.
func storeThrough(c *cluster, ip int, epsv bool, key string, r io.Reader) (local string, err error) {
	cl, err := c.dial(ip, epsv)
	if err != nil {
		return "", fmt.Errorf("dial: %w", err)
	}
	defer cl.Quit()
	if err := cl.Login("u", lbPassword); err != nil {
		return cl.local, fmt.Errorf("login: %w", err)
	}
	if err := cl.Stor(key, r); err != nil {
		return cl.local, fmt.Errorf("STOR: %w", err)
	}
	return cl.local, nil
}

// checkObject asserts that the object of FTP path key (home /) holds
// exactly payload(key).
func checkObject(t *testing.T, objects map[string]string, key string) {
	t.Helper()
	got, ok := objects["ftp/"+key]
	if !ok {
		t.Errorf("%s: no object", key)
	} else if got != string(payload(key)) {
		t.Errorf("%s: object has %d bytes, not the %d uploaded", key, len(got), len(payload(key)))
	}
}

// testLBSessions: 60 sessions from six client addresses upload and
// download at once, half with PASV and half with EPSV; every byte arrives,
// the replicas see each client's own address and port, and a user's
// allowed_cidrs applies to the client's address, not HAProxy's.
func testLBSessions(t *testing.T, bin, haproxy string) {
	c := newCluster(t, bin, haproxy, shared.newBucket(t))
	c.mkdir("sessions")
	const sessions = 60
	type outcome struct {
		key, local, transcript string
		ip                     int
		epsv                   bool
		err                    error
	}
	out := make([]outcome, sessions)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	started := time.Now()
	for i := range sessions {
		o := &out[i]
		o.ip, o.epsv = i%lbClients, (i/lbClients)%2 == 0
		size := 64<<10 + i*16<<10
		if i%10 == 0 {
			size = 7<<20 + i // above the 6 MiB part size: a multipart upload
		}
		o.key = payloadKey("sessions", fmt.Sprintf("s%02d", i), size)
		wg.Go(func() {
			<-gate
			cl, err := c.dial(o.ip, o.epsv)
			if err != nil {
				o.err = fmt.Errorf("dial: %w", err)
				return
			}
			o.local = cl.local
			o.err = func() error {
				if err := cl.Login("u", lbPassword); err != nil {
					return fmt.Errorf("login: %w", err)
				}
				want := payload(o.key)
				if err := cl.Stor(o.key, bytes.NewReader(want)); err != nil {
					return fmt.Errorf("STOR: %w", err)
				}
				r, err := cl.Retr(o.key)
				if err != nil {
					return fmt.Errorf("RETR: %w", err)
				}
				got, err := io.ReadAll(r)
				if cerr := r.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("RETR: %w", err)
				}
				if !bytes.Equal(got, want) {
					return fmt.Errorf("RETR: %d bytes, not the %d stored", len(got), len(want))
				}
				return cl.Quit()
			}()
			o.transcript = cl.transcript.String()
		})
	}
	close(gate)
	waitGroup(t, &wg, 90*time.Second, "sessions")
	t.Logf("%d sessions in %v", sessions, time.Since(started).Round(time.Millisecond))

	perReplica := map[string]int{}
	for i, o := range out {
		if o.err != nil {
			t.Errorf("session %d from %s (epsv %v): %v\n%s", i, lbClientIP(o.ip), o.epsv, o.err, o.transcript)
			continue
		}
		// The replica logged the client's own address and port (from the
		// PROXY header), and handed out passive ports of its own slice.
		r := c.replicaOf(o.local)
		perReplica[r.name]++
		hosts, ports := passiveReplies(o.transcript)
		if len(ports) != 2 {
			t.Errorf("session %d: %d passive replies, want 2 (STOR, RETR):\n%s", i, len(ports), o.transcript)
		}
		for k, p := range ports {
			if p < r.pasvLo || p > r.pasvHi {
				t.Errorf("session %d on %s: passive port %d outside its slice %d-%d", i, r.name, p, r.pasvLo, r.pasvHi)
			}
			if o.epsv && hosts[k] != "" || !o.epsv && hosts[k] != "127.0.0.1" {
				t.Errorf("session %d (epsv %v): passive reply %d names %q:\n%s", i, o.epsv, k, hosts[k], o.transcript)
			}
		}
	}
	t.Logf("sessions per replica: %v", perReplica)
	for _, r := range c.replicas {
		if perReplica[r.name] == 0 {
			t.Errorf("%s served no session: HAProxy did not balance", r.name)
		}
		logs := r.logs.String()
		// HAProxy's own address is never taken for a client's.
		if strings.Contains(logs, "remote=127.0.0.1:") || strings.Contains(logs, "refused data connection") {
			t.Errorf("%s logged HAProxy's address as a client, or refused a data connection:\n%s", r.name, tail(logs, 3000))
		}
	}
	objects := shared.objects(t, c.bucket)
	for _, o := range out {
		checkObject(t, objects, o.key)
	}
	if n := shared.openUploads(t, c.bucket); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}

	// allowed_cidrs [127.0.0.10/32]: .10 logs in, .11 does not, through
	// whichever replica round robin picks (three tries reach all three).
	for range lbReplicas {
		for _, ip := range []int{0, 1} {
			cl, err := c.dial(ip, true)
			if err != nil {
				t.Fatal(err)
			}
			err = cl.Login("only10", lbPassword)
			cl.Quit()
			if ip == 0 && err != nil {
				t.Errorf("only10 from %s: %v", lbClientIP(ip), err)
			}
			if ip == 1 && (err == nil || !strings.Contains(err.Error(), "530")) {
				t.Errorf("only10 from %s: %v, want 530", lbClientIP(ip), err)
			}
		}
	}
	refused := regexp.MustCompile(`msg="login refused" user=only10 remote=(\S+) reason="address not in allowed_cidrs"`)
	var from []string
	// The replicas' logs reach the test through pipes: the last line may
	// come a little after the client's 530.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		from = nil
		for _, r := range c.replicas {
			for _, m := range refused.FindAllStringSubmatch(r.logs.String(), -1) {
				from = append(from, m[1])
			}
		}
		if len(from) >= lbReplicas || time.Now().After(deadline) {
			break
		}
	}
	if len(from) != lbReplicas || slices.ContainsFunc(from, func(a string) bool { return a != "127.0.0.11" }) {
		t.Errorf("allowed_cidrs refusals logged for %v, want %d from 127.0.0.11", from, lbReplicas)
	}
}

// testLBKill: a replica killed (SIGKILL) during a multipart upload. The
// client gets an error; new sessions through HAProxy work at once; the
// replacement process on the same ports aborts the orphaned multipart
// upload at start (stale_upload_age), so neither an object nor an open
// upload is left; and it takes sessions again.
func testLBKill(t *testing.T, bin, haproxy string) {
	c := newCluster(t, bin, haproxy, shared.newBucket(t))
	c.mkdir("kill")
	ctx := t.Context()
	const staleAge = 2 * time.Second
	const key = "kill/big.bin"
	objKey := "ftp/" + key

	cl, err := c.dial(2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Quit()
	if err := cl.Login("u", lbPassword); err != nil {
		t.Fatal(err)
	}
	victim := c.replicaOf(cl.local)
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() {
		err := cl.Stor(key, pr)
		pr.CloseWithError(fmt.Errorf("STOR returned: %v", err)) // ends the writer below
		stored <- err
	}()
	go func() {
		chunk := bytes.Repeat([]byte("k"), 256<<10)
		for range 400 { // at most 100 MiB
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	// The upload is under way in the store: a part is sent.
	var initiated time.Time
	for deadline := time.Now().Add(20 * time.Second); initiated.IsZero(); time.Sleep(20 * time.Millisecond) {
		for u := range shared.client.ListIncompleteUploads(ctx, c.bucket, objKey, false) {
			if u.Err == nil && u.Key == objKey {
				initiated = u.Initiated
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no multipart upload of %s began on %s", objKey, victim.name)
		}
	}
	victim.proc.cmd.Process.Signal(syscall.SIGKILL)
	victim.proc.wait(t, 10*time.Second)
	select {
	case err := <-stored:
		if err == nil {
			t.Fatal("upload to a killed replica succeeded")
		}
		t.Logf("client of the killed %s: %v", victim.name, err)
	case <-time.After(2 * lbIOTimeout):
		t.Fatal("the client of the killed replica never got an answer")
	}

	// At once, before any health check may have noticed: every session
	// gets a working replica (HAProxy redispatches refused connections).
	killed := time.Now()
	for i := range 2 * lbReplicas {
		k := payloadKey("kill", fmt.Sprintf("after-%d", i), 10<<10+i)
		if _, err := storeThrough(c, i, i%2 == 0, k, bytes.NewReader(payload(k))); err != nil {
			t.Errorf("session %d right after the kill: %v", i, err)
		}
	}
	t.Logf("%d sessions after the kill in %v", 2*lbReplicas, time.Since(killed).Round(time.Millisecond))
	c.waitServer(victim, "DOWN")

	// The kill left the upload open and no object.
	if _, err := shared.client.StatObject(ctx, c.bucket, objKey, miniogo.StatObjectOptions{}); miniogo.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("object of the killed upload: %v, want NoSuchKey", err)
	}
	if n := shared.openUploads(t, c.bucket); n != 1 {
		t.Fatalf("%d multipart uploads open after the kill, want the killed one", n)
	}

	// The replacement aborts uploads older than staleAge at start.
	time.Sleep(min(time.Until(initiated.Add(staleAge+time.Second)), 10*time.Second))
	c.start(victim, "stale_upload_age="+staleAge.String())
	for deadline := time.Now().Add(15 * time.Second); shared.openUploads(t, c.bucket) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted %s left the killed upload open:\n%s", victim.name, victim.currentLogs())
		}
	}
	if !strings.Contains(victim.currentLogs(), `msg="aborted stale multipart uploads" count=1`) {
		t.Errorf("the restarted %s did not log its cleanup:\n%s", victim.name, victim.currentLogs())
	}
	if _, err := shared.client.StatObject(ctx, c.bucket, objKey, miniogo.StatObjectOptions{}); miniogo.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("object of the killed upload after the cleanup: %v, want NoSuchKey", err)
	}

	// Back in rotation: round robin sends it new sessions, which work.
	c.waitServer(victim, "UP")
	onVictim := 0
	var keys []string
	for i := range 2 * lbReplicas {
		k := payloadKey("kill", fmt.Sprintf("restarted-%d", i), 20<<10+i)
		keys = append(keys, k)
		local, err := storeThrough(c, i, i%2 == 1, k, bytes.NewReader(payload(k)))
		if err != nil {
			t.Errorf("session %d after the restart: %v", i, err)
			continue
		}
		if c.replicaOf(local) == victim {
			onVictim++
		}
	}
	if onVictim == 0 {
		t.Errorf("the restarted %s got none of %d new sessions", victim.name, 2*lbReplicas)
	}
	objects := shared.objects(t, c.bucket)
	for _, k := range keys {
		checkObject(t, objects, k)
	}
	if _, ok := objects[objKey]; ok {
		t.Errorf("%s exists", objKey)
	}
}

// testLBRollingRestart: while six clients upload in a loop (one session
// per file, some files multipart, every upload slowed so that it spans a
// while), each replica in turn gets SIGTERM, exits, and is started again
// and waited for on /readyz. No upload that got 226 is missing or
// different in the bucket, no object is partial, no multipart upload is
// left open, and uploads running at SIGTERM finished with 226.
func testLBRollingRestart(t *testing.T, bin, haproxy string) {
	c := newCluster(t, bin, haproxy, shared.newBucket(t))
	c.mkdir("roll")
	const workers = lbClients
	type upload struct {
		key string
		err error
	}
	var (
		mu      sync.Mutex
		results []upload
		ok      atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for n := range 300 {
				select {
				case <-stop:
					return
				default:
				}
				size := 128<<10 + rand.IntN(1<<20)
				if n%4 == 3 {
					size = 6<<20 + rand.IntN(2<<20) // multipart
				}
				key := payloadKey("roll", fmt.Sprintf("w%d-%03d", w, n), size)
				_, err := storeThrough(c, w, w%2 == 0, key, &slowReader{b: payload(key), chunk: 64 << 10, pause: 3 * time.Millisecond})
				mu.Lock()
				results = append(results, upload{key, err})
				mu.Unlock()
				if err == nil {
					ok.Add(1)
				} else {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	stopped := false
	stopWorkers := func() {
		if !stopped {
			stopped = true
			close(stop)
			waitGroup(t, &wg, 90*time.Second, "upload loops")
		}
	}
	defer stopWorkers()
	progress := func(n int64, what string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ok.Load() < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d uploads succeeded, waiting for %d", what, ok.Load(), n)
			}
		}
	}
	progress(workers, "before the restarts")

	finishedInDrain := 0
	drainOK := regexp.MustCompile(`msg=transfer .*op=STOR .*code=226`)
	for _, r := range c.replicas {
		began := time.Now()
		r.proc.cmd.Process.Signal(syscall.SIGTERM)
		if err := r.proc.wait(t, 30*time.Second); err != nil {
			t.Errorf("%s after SIGTERM: %v", r.name, err)
		}
		gen := r.currentLogs()
		if _, after, found := strings.Cut(gen, `msg="shutting down"`); found {
			finishedInDrain += len(drainOK.FindAllString(after, -1))
		} else {
			t.Errorf("%s did not log its shutdown:\n%s", r.name, tail(gen, 2000))
		}
		c.start(r, "")
		c.waitServer(r, "UP")
		t.Logf("%s restarted in %v", r.name, time.Since(began).Round(time.Millisecond))
		progress(ok.Load()+3, "after restarting "+r.name)
	}
	stopWorkers()

	mu.Lock()
	defer mu.Unlock()
	failures := map[string]int{}
	var good []string
	for _, u := range results {
		if u.err == nil {
			good = append(good, u.key)
			continue
		}
		msg := u.err.Error()
		if i := strings.IndexAny(msg, "\n"); i >= 0 {
			msg = msg[:i]
		}
		failures[msg]++
	}
	t.Logf("%d uploads got 226, %d did not: %v; %d finished during a drain", len(good), len(results)-len(good), failures, finishedInDrain)
	if finishedInDrain == 0 {
		t.Error("no upload was running at any SIGTERM: the restarts were not tested under load")
	}
	objects := shared.objects(t, c.bucket)
	for _, k := range good {
		checkObject(t, objects, k) // no 226 lost
	}
	for k, v := range objects {
		if !strings.HasPrefix(k, "ftp/roll/") || strings.HasSuffix(k, "/") { // not the MKD marker
			continue
		}
		if want := payload(k); v != string(want) {
			t.Errorf("partial object %s: %d bytes of %d", k, len(v), len(want))
		}
	}
	if n := shared.openUploads(t, c.bucket); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
}

// testLBResume: an upload through HAProxy whose client stops sending is cut
// by its replica's stall timeout and kept; the client, in a new session
// that HAProxy gives to another replica, asks SIZE and continues with
// REST + STOR; the object is whole and no upload is left open.
func testLBResume(t *testing.T, bin, haproxy string) {
	c := newClusterWith(t, bin, haproxy, &cluster{bucket: shared.newBucket(t), extra: []string{"--stall-timeout", "1s"}})
	c.mkdir("res")
	const key = "res/big.bin"
	data, _ := io.ReadAll(io.LimitReader(patterned(20<<20), 20<<20))
	const kept = 12 << 20 // two whole 6 MiB parts of the 13 MiB sent

	cl, err := c.dial(0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Quit()
	if err := cl.Login("u", lbPassword); err != nil {
		t.Fatal(err)
	}
	first := c.replicaOf(cl.local)
	pr, pw := io.Pipe()
	stored := make(chan error, 1)
	go func() { stored <- cl.Stor(key, pr) }()
	go func() {
		_, _ = pw.Write(data[:13<<20]) // then nothing: the network went away
	}()
	// The replica cuts the transfer at its stall timeout and keeps it; the
	// client, waiting for more of its own input, learns it when that ends.
	waitFor(t, "the replica to keep the stalled upload", func() bool {
		return strings.Contains(first.currentLogs(), "kept for resuming")
	})
	pw.CloseWithError(errors.New("the client gives up"))
	select {
	case err := <-stored:
		if err == nil {
			t.Fatal("the stalled STOR succeeded")
		}
	case <-time.After(2 * lbIOTimeout):
		t.Fatal("the stalled STOR never returned")
	}
	if n := shared.openUploads(t, c.bucket); n != 1 {
		t.Fatalf("%d open uploads after the stall, want the kept one", n)
	}
	if _, err := shared.client.StatObject(t.Context(), c.bucket, "ftp/"+key, miniogo.StatObjectOptions{}); miniogo.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("object of the interrupted upload: %v, want none", err)
	}

	// A new session from another address, until HAProxy gives it another
	// replica.
	var cl2 *lbConn
	for ip := 1; cl2 == nil; ip++ {
		if ip > 4*lbReplicas {
			t.Fatal("HAProxy gave every session the first replica")
		}
		s, err := c.dial(ip, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Login("u", lbPassword); err != nil {
			t.Fatal(err)
		}
		if c.replicaOf(s.local) == first {
			s.Quit()
			continue
		}
		cl2 = s
	}
	defer cl2.Quit()
	second := c.replicaOf(cl2.local)
	size, err := cl2.FileSize(key)
	if err != nil || size != kept {
		t.Fatalf("SIZE on %s: %d, %v; want %d", second.name, size, err, kept)
	}
	if err := cl2.StorFrom(key, bytes.NewReader(data[size:]), uint64(size)); err != nil {
		t.Fatalf("REST %d + STOR on %s: %v", size, second.name, err)
	}
	checkWhole(t, c.bucket, "ftp/"+key, data)
	if n := shared.openUploads(t, c.bucket); n != 0 {
		t.Errorf("%d open uploads after the resumed upload", n)
	}
	if !strings.Contains(first.currentLogs(), "kept for resuming") || !strings.Contains(second.currentLogs(), "resumed upload completed") {
		t.Errorf("want %s to log the kept upload and %s its completion", first.name, second.name)
	}
}
