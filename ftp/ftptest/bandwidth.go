package ftptest

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

// bwLimit is the limit the rate cases set: 256 KiB/s, so about 3 s of
// transfer moves 768 KiB.
const bwLimit = 256 << 10

// startBandwidthServer runs a server whose store has the given bandwidth
// settings and users (passwords: name + "-pw").
func startBandwidthServer(t *testing.T, nb newBackend, bw auth.BandwidthConfig, users []auth.User, opts ...option) *env {
	t.Helper()
	backend := nb(t)
	logs := &syncBuffer{}
	store := auth.NewStore(auth.StoreConfig{Backend: backend, Bandwidth: bw,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	for i := range users {
		users[i].PasswordHash = cheapHash(t, users[i].Name+"-pw")
	}
	if err := store.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	e := startServer(t, backend, append([]option{func(c *ftp.Config) { c.Auth = store }}, opts...)...)
	e.users = store
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("store log:\n%s", logs.String())
		}
	})
	return e
}

// checkRate fails unless n bytes in d moved at no more than limit
// bytes/s (10% over for the burst and the clock) and no less than 70% of
// it. The upper bound is the limit's own: a busy machine only makes a
// transfer slower, never faster. The lower one is loose on purpose, as
// a test machine running other tests can slow a 256 KiB/s transfer by
// more than 10%; it still catches a limiter that waits twice for each
// byte (50%).
func checkRate(t *testing.T, what string, n int, d time.Duration, limit float64) {
	t.Helper()
	rate := float64(n) / d.Seconds()
	t.Logf("%s: %d bytes in %v: %.0f B/s (limit %.0f, %+.1f%%)", what, n, d.Round(time.Millisecond), rate, limit, (rate/limit-1)*100)
	if rate < 0.7*limit || rate > 1.1*limit {
		t.Errorf("%s: %.0f B/s, want between 70%% and 110%% of %.0f", what, rate, limit)
	}
}

// parallelStor uploads size bytes from each control connection at once
// and returns the time from the first STOR to the last 226.
func parallelStor(t *testing.T, cs []*ctl, size int) time.Duration {
	t.Helper()
	data := bytes.Repeat([]byte{'b'}, size)
	type up struct {
		c *ctl
		d io.WriteCloser
	}
	var ups []up
	for _, c := range cs {
		c.must("TYPE I", 200)
		ups = append(ups, up{c: c, d: c.pasv()})
	}
	start := time.Now()
	for i, u := range ups {
		u.c.send("STOR par" + strconv.Itoa(i))
	}
	for _, u := range ups {
		u.c.expect1xx()
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ups))
	for _, u := range ups {
		wg.Go(func() {
			_, err := u.d.Write(data)
			if cerr := u.d.Close(); err == nil {
				err = cerr
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range ups {
		u.c.expect(226)
	}
	return time.Since(start)
}

// testBandwidthSharedByUser: two sessions of one user uploading at once
// share the user's bandwidth_up.
func testBandwidthSharedByUser(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startBandwidthServer(t, nb, auth.BandwidthConfig{}, []auth.User{{Name: "slow", Home: "/slow", BandwidthUp: bwLimit}})
	const each = 3 * bwLimit / 2 // 384 KiB each: 3 s together
	took := parallelStor(t, []*ctl{e.login("slow"), e.login("slow")}, each)
	checkRate(t, "two uploads of one user", 2*each, took, bwLimit)
	for i := range 2 {
		if en, err := e.backend.Stat(t.Context(), "/slow/par"+strconv.Itoa(i)); err != nil || en.Size != each {
			t.Fatalf("par%d: %+v %v", i, en, err)
		}
	}
}

// testBandwidthPerAddress: two users from one address share
// --bandwidth-per-address.
func testBandwidthPerAddress(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startBandwidthServer(t, nb, auth.BandwidthConfig{PerAddress: bwLimit},
		[]auth.User{{Name: "one", Home: "/one"}, {Name: "two", Home: "/two"}})
	const each = 3 * bwLimit / 2
	took := parallelStor(t, []*ctl{e.login("one"), e.login("two")}, each)
	checkRate(t, "two users from one address", 2*each, took, bwLimit)
}

// testBandwidthDownload: the server-wide default download limit applies
// to a user without their own.
func testBandwidthDownload(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startBandwidthServer(t, nb, auth.BandwidthConfig{Down: bwLimit}, []auth.User{{Name: "reader", Home: "/reader"}})
	const size = 3 * bwLimit
	c := e.login("reader") // makes the home
	e.put("/reader/f", string(bytes.Repeat([]byte{'r'}, size)))
	c.must("TYPE I", 200)
	start := time.Now()
	got := c.retr("f")
	took := time.Since(start)
	if len(got) != size {
		t.Fatalf("RETR: %d bytes, want %d", len(got), size)
	}
	checkRate(t, "download", size, took, bwLimit)
}

// testBandwidthUnlimited: a user with bandwidth -1 is not held to the
// server's default, and the default does not slow them.
func testBandwidthUnlimited(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startBandwidthServer(t, nb, auth.BandwidthConfig{Up: bwLimit, Down: bwLimit},
		[]auth.User{{Name: "free", Home: "/free", BandwidthUp: auth.Unlimited, BandwidthDown: auth.Unlimited}})
	const size = 8 << 20
	c := e.login("free")
	c.must("TYPE I", 200)
	data := string(bytes.Repeat([]byte{'f'}, size))
	start := time.Now()
	if code, text := c.stor("STOR", "big", data); code != 226 {
		t.Fatalf("STOR: %d %s", code, text)
	}
	if got := c.retr("big"); len(got) != size {
		t.Fatalf("RETR: %d bytes", len(got))
	}
	took := time.Since(start)
	// Held to the default, 16 MiB would take 64 s; anything above four
	// times the limit shows it is not applied.
	rate := float64(2*size) / took.Seconds()
	t.Logf("unlimited user: %d bytes in %v (%.0f B/s)", 2*size, took.Round(time.Millisecond), rate)
	if rate < 4*bwLimit {
		t.Fatalf("unlimited user moved %.0f B/s: throttled", rate)
	}
}

// testBandwidthAbort: ABOR answers at once during a throttled upload, and
// nothing is stored.
func testBandwidthAbort(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startBandwidthServer(t, nb, auth.BandwidthConfig{}, []auth.User{{Name: "trickle", Home: "/trickle", BandwidthUp: 16 << 10}})
	c := e.login("trickle")
	c.must("TYPE I", 200)
	d := c.pasv()
	c.send("STOR big")
	c.expect1xx()
	// 4 MiB at 16 KiB/s would take over four minutes; the client writes
	// until the server stops reading (the writes block on full buffers).
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		_ = d.SetWriteDeadline(time.Now().Add(2 * wait))
		_, _ = d.Write(bytes.Repeat([]byte{'t'}, 4<<20))
	}()
	// Let the transfer be held by the limit: more than a second of it.
	deadline := time.Now().Add(wait)
	for e.transferred(t, c) < 20<<10 {
		if time.Now().After(deadline) {
			t.Fatal("upload did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.send(abortSeq)
	start := time.Now()
	c.expect(426) // within wait (10 s), where the upload had minutes left
	c.expect(226)
	t.Logf("ABOR answered in %v", time.Since(start).Round(time.Millisecond))
	d.Close()
	<-writing
	if _, err := e.stored("/trickle/big"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("aborted upload visible: %v", err)
	}
	c.must("NOOP", 200)
}

var soFar = regexp.MustCompile(`(\d+) bytes so far`)

// transferred is the byte count STAT reports for the running transfer.
func (e *env) transferred(t *testing.T, c *ctl) int64 {
	t.Helper()
	text := c.must("STAT", 211)
	m := soFar.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("STAT during a transfer: %q", text)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// testBandwidthSparesTimeouts: waiting for tokens is neither a stalled
// data connection nor an idle control connection. Each wait here (a 4 KiB
// chunk at 8 KiB/s) is longer than the stall timeout, and the transfers
// outlast the idle timeout.
func testBandwidthSparesTimeouts(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startBandwidthServer(t, nb, auth.BandwidthConfig{},
		[]auth.User{{Name: "snail", Home: "/snail", BandwidthUp: 8 << 10, BandwidthDown: 8 << 10}},
		func(c *ftp.Config) {
			c.StallTimeout = 300 * time.Millisecond
			c.IdleTimeout = time.Second
		})
	const size = 20 << 10 // about 2 s each way
	data := string(bytes.Repeat([]byte{'s'}, size))
	c := e.login("snail")
	c.must("TYPE I", 200)
	if code, text := c.stor("STOR", "f", data); code != 226 {
		t.Fatalf("throttled STOR: %d %s", code, text)
	}
	if got := c.retr("f"); got != data {
		t.Fatalf("throttled RETR: %d bytes, want %d", len(got), size)
	}
	c.must("NOOP", 200)
}
