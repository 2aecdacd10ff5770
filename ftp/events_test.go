package ftp_test

import (
	"context"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// recorder is an event sink that keeps what it is given; while gate is
// set, Emit waits for it to be closed.
type recorder struct {
	mu   sync.Mutex
	got  []ftp.Event
	gate chan struct{}
	fail bool
}

func (r *recorder) Emit(ctx context.Context, e ftp.Event) error {
	r.mu.Lock()
	gate, fail := r.gate, r.fail
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail {
		return errors.New("outbox down")
	}
	r.mu.Lock()
	r.got = append(r.got, e)
	r.mu.Unlock()
	return nil
}

func (r *recorder) events() []ftp.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ftp.Event(nil), r.got...)
}

func eventsServer(t *testing.T, sink ftp.EventSink, required bool) string {
	t.Helper()
	return serveUsers(t, memstore.New(), ftp.Config{Events: sink, EventsRequired: required})
}

// serveUsers runs a server with cfg over store on 127.0.0.1:0 for users
// alice (home /alice) and small (home /small, a 10-byte quota), both with
// password "pw", and returns its address.
func serveUsers(t *testing.T, store storage.Backend, cfg ftp.Config) string {
	t.Helper()
	users := auth.NewStore(auth.StoreConfig{Backend: store})
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := users.SetUsers([]auth.User{{Name: "alice", PasswordHash: h, Home: "/alice"}, {Name: "small", PasswordHash: h, Home: "/small", QuotaBytes: 10}}); err != nil {
		t.Fatal(err)
	}
	cfg.Auth, cfg.Storage, cfg.LoginFailDelay = users, store, time.Millisecond
	srv, err := ftp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func login(t *testing.T, addr string) *jftp.ServerConn {
	t.Helper()
	return loginAs(t, addr, "alice")
}

func loginAs(t *testing.T, addr, name string) *jftp.ServerConn {
	t.Helper()
	c, err := jftp.Dial(addr, jftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(name, "pw"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUploadEventBefore226: a completed upload's event is emitted once,
// for the name in the store (home joined), and the client gets 226 only
// after the sink returned.
func TestUploadEventBefore226(t *testing.T) {
	t.Parallel()
	r := &recorder{gate: make(chan struct{})}
	addr := eventsServer(t, r, false)
	c := login(t, addr)
	done := make(chan error, 1)
	go func() { done <- c.Stor("a.txt", strings.NewReader("hello")) }()
	select {
	case err := <-done:
		t.Fatalf("STOR answered (%v) while its event was still being recorded", err)
	case <-time.After(200 * time.Millisecond): // a bound on a reply that must not come, not a wait for one
	}
	r.mu.Lock()
	close(r.gate)
	r.gate = nil
	r.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Append("a.txt", strings.NewReader(" world")); err != nil {
		t.Fatal(err)
	}
	got := r.events()
	if len(got) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(got), got)
	}
	for i, size := range []int64{5, 11} { // the APPE's event has the whole file's size
		e := got[i]
		if e.Type != ftp.EventUploadCompleted || e.Path != "/alice/a.txt" || e.Size != size || e.User != "alice" || e.Code != 226 ||
			e.SessionID == "" || e.Protocol != "ftp" || e.TLS || !strings.HasPrefix(e.Client, "127.0.0.1:") || e.Start.After(e.End) {
			t.Errorf("event %d: %+v", i, e)
		}
	}
}

// TestEventsRequiredAnswers451: with EventsRequired, a stored upload whose
// event cannot be recorded gets 451 (and no upload.failed: the file is
// there); without it, 226.
func TestEventsRequiredAnswers451(t *testing.T) {
	t.Parallel()
	for _, required := range []bool{true, false} {
		r := &recorder{fail: true}
		c := login(t, eventsServer(t, r, required))
		err := c.Stor("a.txt", strings.NewReader("hello"))
		var pe *textproto.Error
		if required && (!errors.As(err, &pe) || pe.Code != 451 || pe.Msg != "Upload stored but its event was not recorded.") {
			t.Errorf("required: %v, want 451 Upload stored but its event was not recorded.", err)
		}
		if !required && err != nil {
			t.Errorf("not required: %v, want 226", err)
		}
		if size, err := c.FileSize("a.txt"); err != nil || size != 5 {
			t.Errorf("required %v: file size %d, %v; want the file stored", required, size, err)
		}
		if err := c.Delete("a.txt"); (err != nil) != required {
			t.Errorf("required %v: DELE = %v", required, err)
		}
	}
}

// TestUploadFailedEvent: an upload the store refuses after 150 (over
// quota) is one upload.failed event with the reply code, after the reply,
// and no upload.completed.
func TestUploadFailedEvent(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	c := loginAs(t, eventsServer(t, r, false), "small")
	var pe *textproto.Error
	if err := c.Stor("big.bin", strings.NewReader(strings.Repeat("x", 100))); !errors.As(err, &pe) || pe.Code != 552 {
		t.Fatalf("STOR over quota: %v, want 552", err)
	}
	if _, err := c.FileSize("big.bin"); err == nil {
		t.Error("the failed upload left a file")
	}
	got := r.events()
	if len(got) != 1 || got[0].Type != ftp.EventUploadFailed || got[0].Path != "/small/big.bin" || got[0].Code != 552 || got[0].User != "small" {
		t.Errorf("events %+v, want one upload.failed of /small/big.bin with 552", got)
	}
}

// TestSessionIDsUniqueAcrossServers: the first sessions of two servers
// (two replicas, or one restarted) have different ids. The id names the
// session in events and object metadata, and holds an interrupted
// upload's resume lease, which another replica's session must not pass
// for its own.
func TestSessionIDsUniqueAcrossServers(t *testing.T) {
	t.Parallel()
	var ids []string
	for range 2 {
		r := &recorder{}
		c := login(t, eventsServer(t, r, false))
		if err := c.Stor("a.txt", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		got := r.events()
		if len(got) != 1 || got[0].SessionID == "" {
			t.Fatalf("events %+v, want one with a session id", got)
		}
		ids = append(ids, got[0].SessionID)
	}
	if ids[0] == ids[1] {
		t.Errorf("two servers' first sessions share the id %q", ids[0])
	}
}
