package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/bucketftp/bucketftp/events"
	"github.com/bucketftp/bucketftp/events/outboxtest"
	"github.com/bucketftp/bucketftp/ftp"
)

func TestDirOutbox(t *testing.T) {
	t.Parallel()
	outboxtest.Run(t, func(t *testing.T) (events.Outbox, events.Outbox) {
		dir := t.TempDir()
		a, err := events.NewDirOutbox(dir)
		if err != nil {
			t.Fatal(err)
		}
		b, err := events.NewDirOutbox(dir)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	})
}

func sampleEvent() ftp.Event {
	start := time.Now().Add(-time.Second)
	return ftp.Event{Type: ftp.EventUploadCompleted, Path: "/alice/in/report.csv", User: "alice", Client: "203.0.113.7:40123",
		SessionID: "s1", TLS: true, Protocol: "ftps", Size: 42, ETag: `"abc"`, VersionID: "v1",
		Checksums: map[string]string{"crc32": "0a0b0c0d"}, Start: start, End: start.Add(time.Second), Code: 226}
}

// TestBuild: the CloudEvent of an upload names its object and uploader.
func TestBuild(t *testing.T) {
	t.Parallel()
	ce, err := events.Build(sampleEvent(), "bucketftp://ftp-0", events.Namer{Bucket: "drop", Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if ce.Type() != "org.bucketftp.upload.completed" || ce.Source() != "bucketftp://ftp-0" || ce.Subject() != "p/alice/in/report.csv" ||
		ce.SpecVersion() != "1.0" || ce.ID() == "" || ce.DataContentType() != "application/json" {
		t.Errorf("attributes: %s", ce)
	}
	var d events.Data
	if err := ce.DataAs(&d); err != nil {
		t.Fatal(err)
	}
	if d.Bucket != "drop" || d.Key != "p/alice/in/report.csv" || d.Size == nil || *d.Size != 42 || d.ETag != "abc" || d.VersionID != "v1" ||
		d.Checksums["crc32"] != "0a0b0c0d" || d.User != "alice" || d.ClientAddress != "203.0.113.7:40123" || d.SessionID != "s1" ||
		!d.TLS || d.Protocol != "ftps" || d.ReplyCode != 226 || !d.EndTime.Equal(d.StartTime.Add(time.Second)) {
		t.Errorf("data: %+v", d)
	}
	dir := sampleEvent()
	dir.Type, dir.Path = ftp.EventDirCreated, "/alice/new"
	if ce, _ := events.Build(dir, "bucketftp://h", events.Namer{}); ce.Subject() != "alice/new/" {
		t.Errorf("directory subject %q, want its marker key alice/new/", ce.Subject())
	}
	again, _ := events.Build(sampleEvent(), "bucketftp://ftp-0", events.Namer{})
	if again.ID() == ce.ID() {
		t.Error("two events with one id")
	}
}

// receiver is a webhook endpoint that checks signatures, fails the first
// failures requests and records the events it accepts.
type receiver struct {
	t        *testing.T
	secret   []byte
	failures atomic.Int32

	mu         sync.Mutex
	attempts   []time.Time
	attemptIDs []string // the event id of each request, failed or not ("" when unreadable)
	got        []event.Event
	badSig     int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts = append(rc.attempts, time.Now())
	var sent event.Event
	if json.Unmarshal(body, &sent) == nil {
		rc.attemptIDs = append(rc.attemptIDs, sent.ID())
	} else {
		rc.attemptIDs = append(rc.attemptIDs, "")
	}
	if rc.secret != nil && !events.Verify(rc.secret, body, r.Header.Get(events.SignatureHeader)) {
		rc.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if rc.failures.Add(-1) >= 0 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/cloudevents+json; charset=utf-8" {
		rc.t.Errorf("Content-Type %q", ct)
	}
	var ce event.Event
	if err := json.Unmarshal(body, &ce); err != nil {
		rc.t.Errorf("body is not a CloudEvent: %v", err)
	}
	rc.got = append(rc.got, ce)
}

func (rc *receiver) events() []event.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]event.Event(nil), rc.got...)
}

// waitFor polls cond every 5ms for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type counts struct {
	mu                                     sync.Mutex
	recorded, delivered, retried, deadened int
	pending                                int
}

func (c *counts) Recorded(string)     { c.mu.Lock(); c.recorded++; c.mu.Unlock() }
func (c *counts) RecordFailed(string) {}
func (c *counts) Pending(n int)       { c.mu.Lock(); c.pending = n; c.mu.Unlock() }
func (c *counts) Delivered(time.Duration) {
	c.mu.Lock()
	c.delivered++
	c.mu.Unlock()
}
func (c *counts) Retried()      { c.mu.Lock(); c.retried++; c.mu.Unlock() }
func (c *counts) DeadLettered() { c.mu.Lock(); c.deadened++; c.mu.Unlock() }
func (c *counts) get() (int, int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.delivered, c.retried, c.deadened
}

// TestWebhookSignature: the receiver's check of X-Bucketftp-Signature
// accepts the deliverer's requests and refuses another secret's.
func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t, secret: []byte("s3cr3t")}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	ce, _ := events.Build(sampleEvent(), "bucketftp://h", events.Namer{})
	good, _ := events.NewWebhook(srv.URL, []byte("s3cr3t"), time.Second)
	if err := good.Send(t.Context(), ce); err != nil {
		t.Fatalf("Send: %v", err)
	}
	bad, _ := events.NewWebhook(srv.URL, []byte("other"), time.Second)
	if err := bad.Send(t.Context(), ce); err == nil {
		t.Error("Send with the wrong secret: no error (the 401 must not count as delivered)")
	}
	if got := rc.events(); len(got) != 1 || got[0].ID() != ce.ID() || rc.badSig != 1 {
		t.Errorf("received %d events, %d bad signatures; want 1 and 1", len(got), rc.badSig)
	}
	if _, err := events.NewWebhook("ftp://x", nil, 0); err == nil {
		t.Error("NewWebhook(ftp://x): no error")
	}
}

func newEmitter(t *testing.T, o events.Outbox, wake func()) *events.Emitter {
	t.Helper()
	m, err := events.NewEmitter(events.EmitterConfig{Outbox: o, Source: "bucketftp://test", Wake: wake})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDelivererRetries: a webhook failing three times gets the event a
// fourth time, once, with the same id, after waits that grow.
func TestDelivererRetries(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t, secret: []byte("k")}
	rc.failures.Store(3)
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	o, err := events.NewDirOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	wh, _ := events.NewWebhook(srv.URL, []byte("k"), time.Second)
	c := &counts{}
	d, err := events.NewDeliverer(events.DelivererConfig{Outbox: o, Sink: wh, Observer: c, Poll: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		SendTimeout: time.Second, BackoffMin: 40 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := newEmitter(t, o, d.Wake).Emit(t.Context(), sampleEvent()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor(t, "delivery", func() bool { delivered, _, _ := c.get(); return delivered == 1 })
	got := rc.events()
	if len(got) != 1 {
		t.Fatalf("received %d events, want 1", len(got))
	}
	if _, retried, _ := c.get(); retried != 3 {
		t.Errorf("retried %d times, want 3", retried)
	}
	rc.mu.Lock()
	at, ids := rc.attempts, rc.attemptIDs
	rc.mu.Unlock()
	if len(at) != 4 {
		t.Fatalf("%d attempts, want 4", len(at))
	}
	// Every retry carries the event the receiver will keep, by its id.
	for i, id := range ids {
		if id == "" || id != got[0].ID() {
			t.Errorf("attempt %d carried event id %q, want %s (the delivered one's) on every attempt", i+1, id, got[0].ID())
		}
	}
	// Waits of 40, 80, 160ms, each less at most half by jitter.
	for i, low := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
		if gap := at[i+1].Sub(at[i]); gap < low {
			t.Errorf("wait before attempt %d: %v, want at least %v", i+2, gap, low)
		}
	}
	if ids, _ := o.Pending(t.Context(), 10); len(ids) != 0 {
		t.Errorf("still pending after delivery: %q", ids)
	}
	if leases, _ := os.ReadDir(filepath.Join(dir, "leases")); len(leases) != 0 {
		t.Errorf("leases left after delivery: %d (%s)", len(leases), leases[0].Name())
	}
}

// TestBackoff: doubling from the minimum, capped, at most half taken off.
func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		jitter func(int64) int64
		want   []time.Duration
	}{
		{"no jitter", func(n int64) int64 { return n - 1 }, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}},
		{"most jitter", func(int64) int64 { return 0 }, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}},
	} {
		d, err := events.NewDeliverer(events.DelivererConfig{Outbox: &events.DirOutbox{}, Sink: nopSink{}, BackoffMin: time.Second, BackoffMax: 10 * time.Second, Jitter: tc.jitter})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range tc.want {
			if got := d.Backoff(i + 1); got != want {
				t.Errorf("%s: Backoff(%d) = %v, want %v", tc.name, i+1, got, want)
			}
		}
		if got := d.Backoff(1000); got > 10*time.Second || got < 5*time.Second {
			t.Errorf("%s: Backoff(1000) = %v, want within the cap", tc.name, got)
		}
	}
	if _, err := events.NewDeliverer(events.DelivererConfig{Outbox: &events.DirOutbox{}, Sink: nopSink{}, SendTimeout: time.Minute, LeaseTTL: time.Minute}); err == nil {
		t.Error("a lease shorter than two send timeouts: no error")
	}
}

type nopSink struct{}

func (nopSink) Send(context.Context, event.Event) error { return nil }

type failSink struct{ n atomic.Int32 }

func (f *failSink) Send(context.Context, event.Event) error {
	f.n.Add(1)
	return errors.New("down")
}

// TestDeadLetter: an event still undelivered past the maximum age moves to
// the dead letters, on a clock the test moves.
func TestDeadLetter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, err := events.NewDirOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent()
	ev.End = time.Now()
	if err := newEmitter(t, o, nil).Emit(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := ev.End
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sink := &failSink{}
	c := &counts{}
	d, err := events.NewDeliverer(events.DelivererConfig{Outbox: o, Sink: sink, Observer: c, Now: clock,
		BackoffMin: time.Minute, BackoffMax: time.Hour, MaxAge: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	d.Scan(ctx) // attempt 1 fails: held for a minute or less
	d.Scan(ctx) // held: not sent
	if n := sink.n.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1 (the second scan is within the backoff)", n)
	}
	advance(time.Minute + time.Second)
	d.Scan(ctx) // attempt 2
	if n := sink.n.Load(); n != 2 {
		t.Fatalf("%d attempts after the backoff, want 2", n)
	}
	advance(2 * time.Hour)
	d.Scan(ctx) // too old: dead
	if n := sink.n.Load(); n != 2 {
		t.Errorf("%d attempts, want no third one for an event past the maximum age", n)
	}
	if _, _, dead := c.get(); dead != 1 {
		t.Errorf("dead-lettered %d, want 1", dead)
	}
	if ids, _ := o.Pending(ctx, 10); len(ids) != 0 {
		t.Errorf("still pending: %q", ids)
	}
	deadFiles, _ := os.ReadDir(filepath.Join(dir, "dead"))
	if len(deadFiles) != 1 {
		t.Fatalf("%d dead letters, want 1", len(deadFiles))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "dead", deadFiles[0].Name()))
	var ce event.Event
	if err := json.Unmarshal(b, &ce); err != nil || ce.Type() != "org.bucketftp.upload.completed" {
		t.Errorf("dead letter %s: %v", b, err)
	}
}

// TestTwoDeliverersShareAnOutbox: two deliverers on one outbox send each
// of 40 events, and only once.
func TestTwoDeliverersShareAnOutbox(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	var ds []*events.Deliverer
	var boxes []events.Outbox
	for range 2 {
		o, err := events.NewDirOutbox(dir)
		if err != nil {
			t.Fatal(err)
		}
		wh, _ := events.NewWebhook(srv.URL, nil, time.Second)
		d, err := events.NewDeliverer(events.DelivererConfig{Outbox: o, Sink: wh, Poll: 2 * time.Millisecond, SendTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ds, boxes = append(ds, d), append(boxes, o)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() { d.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	for i := range 40 {
		if err := newEmitter(t, boxes[i%2], ds[i%2].Wake).Emit(t.Context(), sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "40 events", func() bool { return len(rc.events()) >= 40 })
	if ids, _ := boxes[0].Pending(t.Context(), 100); len(ids) != 0 {
		waitFor(t, "an empty outbox", func() bool { ids, _ := boxes[0].Pending(t.Context(), 100); return len(ids) == 0 })
	}
	seen := map[string]int{}
	for _, ce := range rc.events() {
		seen[ce.ID()]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	if len(seen) != 40 {
		t.Errorf("%d distinct events, want 40", len(seen))
	}
}

// TestLoginFailedIsOptIn: login.failed events are written only when asked
// for.
func TestLoginFailedIsOptIn(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		o, err := events.NewDirOutbox(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		m, _ := events.NewEmitter(events.EmitterConfig{Outbox: o, Source: "bucketftp://h", LoginFailed: on})
		if err := m.Emit(t.Context(), ftp.Event{Type: ftp.EventLoginFailed, User: "mallory", Client: "198.51.100.1:1", End: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if ids, _ := o.Pending(t.Context(), 10); (len(ids) == 1) != on {
			t.Errorf("LoginFailed %v: %d events written", on, len(ids))
		}
	}
}

// TestDrain: what is pending when the server stops is sent by Drain,
// without the deliverer running.
func TestDrain(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	o, err := events.NewDirOutbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wh, _ := events.NewWebhook(srv.URL, nil, time.Second)
	d, err := events.NewDeliverer(events.DelivererConfig{Outbox: o, Sink: wh, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	em := newEmitter(t, o, d.Wake)
	for range 10 {
		if err := em.Emit(t.Context(), sampleEvent()); err != nil {
			t.Fatal(err)
		}
	}
	d.Drain(t.Context())
	if n := len(rc.events()); n != 10 {
		t.Errorf("Drain sent %d events, want 10 (in batches of 3)", n)
	}
	if ids, _ := o.Pending(t.Context(), 100); len(ids) != 0 {
		t.Errorf("pending after Drain: %d", len(ids))
	}
}

// pickySink fails the events of paths holding "bad" and takes the others;
// with hang, it fails them by waiting out the send timeout instead.
type pickySink struct {
	hang bool
	mu   sync.Mutex
	got  []string
}

func (p *pickySink) Send(ctx context.Context, ce event.Event) error {
	if strings.Contains(ce.Subject(), "bad") {
		if p.hang {
			<-ctx.Done()
			return ctx.Err()
		}
		return errors.New("400 Bad Request")
	}
	p.mu.Lock()
	p.got = append(p.got, ce.Subject())
	p.mu.Unlock()
	return nil
}

// TestScanPassesOverBackingOff: a batch of events the receiver refuses,
// each waiting out its backoff, does not hold back the events after them.
func TestScanPassesOverBackingOff(t *testing.T) {
	t.Parallel()
	o, err := events.NewDirOutbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sink := &pickySink{}
	d, err := events.NewDeliverer(events.DelivererConfig{Outbox: o, Sink: sink, Batch: 3, Logger: slog.New(slog.DiscardHandler),
		SendTimeout: time.Second, BackoffMin: time.Hour, BackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	em := newEmitter(t, o, func() {})
	for i := range 4 {
		e := sampleEvent()
		e.Path = fmt.Sprintf("/alice/bad%d.csv", i)
		if i == 3 {
			e.Path = "/alice/good.csv"
		}
		if err := em.Emit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		d.Scan(t.Context())
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.got) != 1 || !strings.HasSuffix(sink.got[0], "good.csv") {
		t.Fatalf("delivered %q, want the good event past three held ones", sink.got)
	}
}

// ctxOutbox is an outbox whose Hold, as the S3 outbox's requests, fails
// on a context that is done.
type ctxOutbox struct{ events.Outbox }

func (o ctxOutbox) Hold(ctx context.Context, l *events.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.Outbox.Hold(ctx, l)
}

// TestSlowFailureRecorded: a send that fails by taking all of its time
// still has the attempt recorded in the lease, which the backoff of every
// replica follows.
func TestSlowFailureRecorded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, err := events.NewDirOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := events.NewDeliverer(events.DelivererConfig{Outbox: ctxOutbox{o}, Sink: &pickySink{hang: true}, Logger: slog.New(slog.DiscardHandler),
		SendTimeout: 50 * time.Millisecond, BackoffMin: time.Hour, BackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent()
	e.Path = "/alice/bad.csv"
	if err := newEmitter(t, o, func() {}).Emit(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	d.Scan(t.Context())
	leases, err := os.ReadDir(filepath.Join(dir, "leases"))
	if err != nil || len(leases) != 1 {
		t.Fatalf("leases: %v, %v", leases, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "leases", leases[0].Name()))
	if err != nil || !strings.Contains(string(b), `"attempts":1`) {
		t.Fatalf("the lease after a send that timed out: %s, %v; want attempts 1", b, err)
	}
}
