package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jlaffaye/ftp"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/events"
	"github.com/bucketftp/bucketftp/events/outboxtest"
	bftp "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// s3Outbox is the bucket outbox of store.
func s3Outbox(s *s3store.Store) *events.S3Outbox {
	c, bucket, prefix := s.Client()
	return events.NewS3Outbox(c, bucket, prefix, 5*time.Second)
}

// TestEventsOutboxOnMinIO: the outbox contract (order, leases with
// If-None-Match/If-Match, takeover of expired leases, one winner of a
// race) on MinIO, two replicas' stores on one bucket.
func TestEventsOutboxOnMinIO(t *testing.T) {
	t.Parallel()
	outboxtest.Run(t, func(t *testing.T) (events.Outbox, events.Outbox) {
		bucket := shared.newBucket(t)
		return s3Outbox(shared.newStore(t, bucket, "p")), s3Outbox(shared.newStore(t, bucket, "p"))
	})
}

// hook is a webhook receiver checking signatures and keeping the events.
type hook struct {
	t      *testing.T
	secret []byte

	mu  sync.Mutex
	got []event.Event
}

func newHook(t *testing.T, secret string) (*hook, string) {
	h := &hook{t: t, secret: []byte(secret)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !events.Verify(h.secret, body, r.Header.Get(events.SignatureHeader)) {
		h.t.Errorf("webhook request with a bad signature %q", r.Header.Get(events.SignatureHeader))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ce event.Event
	if err := json.Unmarshal(body, &ce); err != nil {
		h.t.Errorf("webhook body is not a CloudEvent: %v", err)
	}
	h.mu.Lock()
	h.got = append(h.got, ce)
	h.mu.Unlock()
}

func (h *hook) events() []event.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]event.Event(nil), h.got...)
}

// ofType returns the received events of type typ (without the prefix).
func (h *hook) ofType(typ string) []event.Event {
	var out []event.Event
	for _, ce := range h.events() {
		if ce.Type() == events.TypePrefix+typ {
			out = append(out, ce)
		}
	}
	return out
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runDeliverer runs a deliverer of outbox to url until the test ends.
func runDeliverer(t *testing.T, outbox events.Outbox, url, secret string) *events.Deliverer {
	t.Helper()
	wh, err := events.NewWebhook(url, []byte(secret), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return runDelivererTo(t, outbox, wh)
}

// runDelivererTo runs a deliverer of outbox to sink until the test ends.
func runDelivererTo(t *testing.T, outbox events.Outbox, sink events.Sink) *events.Deliverer {
	t.Helper()
	d, err := events.NewDeliverer(events.DelivererConfig{Outbox: outbox, Sink: sink, Poll: 20 * time.Millisecond,
		SendTimeout: 2 * time.Second, LeaseTTL: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func data(t *testing.T, ce event.Event) events.Data {
	t.Helper()
	var d events.Data
	if err := ce.DataAs(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEventsCrashHandover: events one process wrote to the bucket's
// outbox and never delivered (one it had claimed when it stopped) are
// delivered by another process on the same bucket, each once, once the
// dead one's claim expires.
func TestEventsCrashHandover(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	first := s3Outbox(shared.newStore(t, bucket, "p"))
	em, err := events.NewEmitter(events.EmitterConfig{Outbox: first, Source: "bucketftp://first"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, name := range []string{"/a.csv", "/b.csv"} {
		if err := em.Emit(ctx, bftp.Event{Type: bftp.EventUploadCompleted, Path: name, User: "u", End: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := first.Pending(ctx, 10)
	if err != nil || len(ids) != 2 {
		t.Fatalf("pending %q, %v", ids, err)
	}
	// The first process claimed a.csv's event, then died.
	now := time.Now()
	claimedUntil := now.Add(2 * time.Second)
	if _, err := first.Claim(ctx, ids[0], now, claimedUntil); err != nil {
		t.Fatal(err)
	}
	if objs := shared.objects(t, bucket); objs["p/.bucketftp/events/pending/"+ids[0]+".json"] == "" {
		t.Fatalf("no pending event object in the bucket: %v", objs)
	}

	h, url := newHook(t, "k")
	runDeliverer(t, s3Outbox(shared.newStore(t, bucket, "p")), url, "k")
	poll(t, "the unclaimed event", func() bool { return len(h.events()) >= 1 })
	if got := h.events(); got[0].ID() != ids[1] {
		t.Errorf("first delivered %s, want the unclaimed %s", got[0].ID(), ids[1])
	}
	poll(t, "the claimed event, after its claim expired", func() bool { return len(h.events()) >= 2 })
	if time.Now().Before(claimedUntil) {
		t.Error("the claimed event was delivered while the claim lasted")
	}
	poll(t, "an empty outbox", func() bool {
		for o := range shared.client.ListObjects(t.Context(), bucket, miniogo.ListObjectsOptions{Prefix: "p/.bucketftp/events/", Recursive: true}) {
			if o.Err == nil {
				return false
			}
		}
		return true
	})
	if got := h.events(); len(got) != 2 || got[1].ID() != ids[0] {
		t.Errorf("delivered %d events, want 2", len(got))
	}
}

// eventServer serves FTP on store for users, with events through sink.
func eventServer(t *testing.T, store *s3store.Store, sink bftp.EventSink, required bool, users ...auth.User) string {
	t.Helper()
	// The test's log gets the reason of a refused login.
	us := auth.NewStore(auth.StoreConfig{Backend: store, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err := us.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	addr, _ := serveFTP(t, bftp.Config{Auth: us, Storage: store, Events: sink, EventsRequired: required, LoginFailDelay: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	return addr
}

func user(t *testing.T, name, home string, quota int64) auth.User {
	t.Helper()
	h, err := auth.HashPassword("pw-" + name)
	if err != nil {
		t.Fatal(err)
	}
	return auth.User{Name: name, PasswordHash: h, Home: home, QuotaBytes: quota}
}

func dialFTP(t *testing.T, addr, name string) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(name, "pw-"+name); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEventsFTPEndToEnd: STOR through a real server on MinIO gives exactly
// one upload.completed event at the webhook, with the key, size, ETag,
// user and client address; MKD, RNTO, DELE and RMD give theirs; an upload
// refused after 150 (over quota) gives upload.failed and leaves no object;
// the object carries its uploader in x-amz-meta-bucketftp-*; the outbox
// prefix is out of FTP's reach.
func TestEventsFTPEndToEnd(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	store := shared.newStore(t, bucket, "ftp")
	outbox := s3Outbox(store)
	h, url := newHook(t, "secret")
	d := runDeliverer(t, outbox, url, "secret")
	em, err := events.NewEmitter(events.EmitterConfig{Outbox: outbox, Source: "bucketftp://test", Wake: d.Wake,
		Namer: events.Namer{Bucket: bucket, Prefix: "ftp"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := eventServer(t, store, em, false, user(t, "alice", "/alice", 0), user(t, "small", "/small", 10), user(t, "root", "/", 0))

	c := dialFTP(t, addr, "alice")
	payload := bytes.Repeat([]byte("0123456789"), 100)
	if err := c.Stor("in.csv", bytes.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	poll(t, "upload.completed", func() bool { return len(h.ofType("upload.completed")) >= 1 })
	up := h.ofType("upload.completed")[0]
	ud := data(t, up)
	head, err := shared.client.StatObject(t.Context(), bucket, "ftp/alice/in.csv", miniogo.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if up.Subject() != "ftp/alice/in.csv" || ud.Bucket != bucket || ud.Key != "ftp/alice/in.csv" || ud.Size == nil || *ud.Size != 1000 ||
		ud.User != "alice" || ud.ETag != head.ETag || ud.ReplyCode != 226 || ud.Protocol != "ftp" || ud.SessionID == "" {
		t.Errorf("upload event: subject %q, data %+v; object ETag %s", up.Subject(), ud, head.ETag)
	}
	if host, port, _ := net.SplitHostPort(ud.ClientAddress); host != "127.0.0.1" || port == "" || port == "0" {
		t.Errorf("client address %q, want the client's 127.0.0.1:port", ud.ClientAddress)
	}
	meta := textproto.MIMEHeader{}
	for k, v := range head.UserMetadata {
		meta.Set(k, v)
	}
	if meta.Get("Bucketftp-User") != "alice" || meta.Get("Bucketftp-Client") != ud.ClientAddress || meta.Get("Bucketftp-Session") != ud.SessionID {
		t.Errorf("object metadata %v, want user alice, client %s, session %s", head.UserMetadata, ud.ClientAddress, ud.SessionID)
	}

	if err := c.MakeDir("d"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("in.csv", "d/out.csv"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("d/out.csv"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDir("d"); err != nil {
		t.Fatal(err)
	}
	// The outbox delivers in no set order: wait for all four.
	poll(t, "the directory and rename events", func() bool {
		for _, typ := range []string{"dir.created", "renamed", "deleted", "dir.removed"} {
			if len(h.ofType(typ)) == 0 {
				return false
			}
		}
		return true
	})
	for typ, want := range map[string]string{"dir.created": "ftp/alice/d/", "renamed": "ftp/alice/d/out.csv", "deleted": "ftp/alice/d/out.csv", "dir.removed": "ftp/alice/d/"} {
		got := h.ofType(typ)
		if len(got) != 1 || got[0].Subject() != want {
			t.Errorf("%s: %d events, want 1 for %s", typ, len(got), want)
			continue
		}
		if typ == "renamed" && data(t, got[0]).FromKey != "ftp/alice/in.csv" {
			t.Errorf("renamed from %q, want ftp/alice/in.csv", data(t, got[0]).FromKey)
		}
	}

	// Over quota after 150: a failure event, no object.
	s := dialFTP(t, addr, "small")
	if err := s.Stor("big.bin", bytes.NewReader(payload)); err == nil {
		t.Fatal("STOR over quota succeeded")
	}
	poll(t, "upload.failed", func() bool { return len(h.ofType("upload.failed")) == 1 })
	if fd := data(t, h.ofType("upload.failed")[0]); fd.Key != "ftp/small/big.bin" || fd.ReplyCode != 552 || fd.User != "small" {
		t.Errorf("failure event %+v, want ftp/small/big.bin, 552, small", fd)
	}
	if _, err := shared.client.StatObject(t.Context(), bucket, "ftp/small/big.bin", miniogo.StatObjectOptions{}); miniogo.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("the failed upload's object: %v, want NoSuchKey", err)
	}
	if n := len(h.ofType("upload.completed")); n != 1 {
		t.Errorf("%d upload.completed events, want exactly 1", n)
	}

	// The outbox is hidden from a user whose home is the root.
	if err := em.Emit(t.Context(), bftp.Event{Type: bftp.EventDeleted, Path: "/x", End: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r := dialFTP(t, addr, "root")
	names, err := r.NameList("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n, ".bucketftp") {
			t.Errorf("root listing shows %q", n)
		}
	}
	for what, call := range map[string]func() error{
		"LIST": func() error { _, err := r.List("/.bucketftp/events/pending"); return err },
		"RETR": func() error { _, err := r.Retr("/.bucketftp/events/pending/x.json"); return err },
		"STOR": func() error { return r.Stor("/.bucketftp/events/pending/forged.json", strings.NewReader("{}")) },
		"DELE": func() error { return r.Delete("/.bucketftp/events/leases/x.json") },
		"RMD":  func() error { return r.RemoveDir("/.bucketftp/events") },
		"MKD":  func() error { return r.MakeDir("/.bucketftp/x") },
	} {
		var pe *textproto.Error
		if err := call(); !errors.As(err, &pe) || pe.Code < 500 {
			t.Errorf("%s in the outbox prefix: %v, want a 5xx refusal", what, err)
		}
	}
}

// failingSink is an event sink whose outbox is down.
type failingSink struct{}

func (failingSink) Emit(context.Context, bftp.Event) error { return errors.New("outbox unreachable") }

// TestEventsRequired: when the event cannot be recorded, a stored upload
// gets 451 with --events-required, and 226 without it; the file is stored
// either way.
func TestEventsRequired(t *testing.T) {
	t.Parallel()
	for _, required := range []bool{true, false} {
		bucket := shared.newBucket(t)
		store := shared.newStore(t, bucket, "ftp")
		addr := eventServer(t, store, failingSink{}, required, user(t, "alice", "/alice", 0))
		c := dialFTP(t, addr, "alice")
		err := c.Stor("f.txt", strings.NewReader("hello"))
		var pe *textproto.Error
		switch {
		case required && (!errors.As(err, &pe) || pe.Code != 451 || !strings.Contains(pe.Msg, "event was not recorded")):
			t.Errorf("required: STOR = %v, want 451 ... event was not recorded", err)
		case !required && err != nil:
			t.Errorf("not required: STOR = %v, want 226", err)
		}
		if _, err := shared.client.StatObject(t.Context(), bucket, "ftp/alice/f.txt", miniogo.StatObjectOptions{}); err != nil {
			t.Errorf("required %v: the file is not stored: %v", required, err)
		}
	}
}

// TestEventsProcessHandover: two bucketftp processes on one bucket. The
// first stores a file while the webhook is down (its event waits in the
// bucket's outbox) and is killed; the second, started once the webhook is
// back, delivers that event, once, when the dead process's claim ends.
func TestEventsProcessHandover(t *testing.T) {
	t.Parallel()
	bin := buildBucketftp(t, t.TempDir())
	bucket := shared.newBucket(t)
	h, hookURL := newHook(t, "k")
	var down atomic.Bool
	down.Store(true)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		r2, _ := http.NewRequestWithContext(r.Context(), r.Method, hookURL, r.Body)
		r2.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(gate.Close)
	storage := "s3://" + bucket + "/ftp?" + url.Values{"endpoint": {shared.endpoint}, "region": {"us-east-1"}, "path_style": {"true"}}.Encode()
	listening := regexp.MustCompile(`msg=listening addr=(\S+)`)
	start := func(logs *logBuffer) (*proc, string) {
		p := startProc(t, logs, "env", "BUCKETFTP_USER=u", "BUCKETFTP_PASSWORD=pw", "BUCKETFTP_EVENTS_SECRET=k", bin, "serve",
			"--listen", "127.0.0.1:0", "--storage", storage, "--events-webhook", gate.URL, "--events-timeout", "2s")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if m := listening.FindStringSubmatch(logs.String()); m != nil {
				return p, m[1]
			}
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("bucketftp did not start:\n%s", tail(logs.String(), 4000))
			}
		}
	}

	firstLogs := &logBuffer{}
	first, addr := start(firstLogs)
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("u", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("landed.csv", strings.NewReader("a,b\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	// Killed once its lease records the failed attempt (and so ends at the
	// next attempt, a second or two away, not a whole lease later).
	poll(t, "a failed attempt in the first process's lease", func() bool {
		for o := range shared.client.ListObjects(t.Context(), bucket, miniogo.ListObjectsOptions{Prefix: "ftp/.bucketftp/events/leases/"}) {
			if o.Err != nil {
				return false
			}
			obj, err := shared.client.GetObject(t.Context(), bucket, o.Key, miniogo.GetObjectOptions{})
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(obj)
			obj.Close()
			var l struct{ Attempts int }
			if json.Unmarshal(b, &l) == nil && l.Attempts >= 1 {
				return true
			}
		}
		return false
	})
	first.kill(t)
	if n := len(h.events()); n != 0 {
		t.Fatalf("%d events delivered while the webhook was down", n)
	}

	down.Store(false)
	secondLogs := &logBuffer{}
	start(secondLogs)
	// Killed between taking its claim again and recording the attempt, the
	// first process leaves a claim of a whole lease (a minute).
	deadline := time.Now().Add(90 * time.Second)
	for len(h.events()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the second process delivered nothing:\n%s", tail(secondLogs.String(), 4000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := h.events()
	if d := data(t, got[0]); len(got) != 1 || got[0].Type() != "org.bucketftp.upload.completed" || d.Bucket != bucket || d.Key != "ftp/landed.csv" || d.User != "u" {
		t.Errorf("delivered %d events, first %s %+v; want one upload.completed of ftp/landed.csv", len(got), got[0].Type(), d)
	}
}

// testWriter writes a log to the test's log (shown when it fails).
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
