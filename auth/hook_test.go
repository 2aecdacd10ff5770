package auth

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// hookServer is a real HTTP auth hook answering with answer and counting
// its calls.
type hookServer struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	last  HookRequest
}

func (h *hookServer) lastRequest() HookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func newHookServer(t *testing.T, useTLS bool, answer func(w http.ResponseWriter, r HookRequest)) *hookServer {
	t.Helper()
	h := &hookServer{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.calls.Add(1)
		var r HookRequest
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(req.Body).Decode(&r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.last = r
		h.mu.Unlock()
		answer(w, r)
	})
	if useTLS {
		h.Server = httptest.NewTLSServer(handler)
	} else {
		h.Server = httptest.NewServer(handler)
	}
	t.Cleanup(h.Close)
	return h
}

// accountsHook accepts the users of pw (name -> password) with settings
// from set, rejects their wrong passwords and knows no one else.
func accountsHook(pw map[string]string, set map[string]User) func(http.ResponseWriter, HookRequest) {
	return func(w http.ResponseWriter, r HookRequest) {
		want, ok := pw[r.User]
		switch {
		case !ok:
			_, _ = io.WriteString(w, `{"result":"unknown"}`)
		case want != r.Password:
			_, _ = io.WriteString(w, `{"result":"reject"}`)
		default:
			s := set[r.User]
			_ = json.NewEncoder(w).Encode(HookResponse{Result: "accept", Settings: &s})
		}
	}
}

func hookStore(t *testing.T, cfg HookConfig, log *slog.Logger, users ...User) (*Store, *Hook, *memstore.Store) {
	t.Helper()
	cfg.Logger = log
	h, err := NewHook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := memstore.New()
	s := NewStore(StoreConfig{Backend: b, Logger: log, Sources: []Source{UsersFile, h}})
	if err := s.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	return s, h, b
}

var localhost = netip.MustParseAddr("127.0.0.1")

// TestHookSettingsApplied: an accepted login gets the hook's home,
// permissions and quota, enforced by the account's storage view like a
// users file entry's.
func TestHookSettingsApplied(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t, false, accountsHook(map[string]string{"acme": "s3cret", "ro": "pw"}, map[string]User{
		"acme": {Home: "/partners/acme", Permissions: []string{"list", "read", "write"}, QuotaBytes: 10, NameEncoding: "gbk", ASCII: "binary"},
		"ro":   {Permissions: []string{"list", "read"}},
	}))
	s, _, b := hookStore(t, HookConfig{URL: srv.URL}, nil)
	ctx := t.Context()
	a, err := s.Authenticate(ctx, "acme", "s3cret", localhost)
	if err != nil {
		t.Fatal(err)
	}
	if a.User != "acme" || a.Perms != PermList|PermRead|PermWrite || a.NameEncoding != "gbk" || a.ASCII != "binary" {
		t.Fatalf("account %+v", a)
	}
	if _, err := a.FS.Put(ctx, "/a.txt", strings.NewReader("12345678"), 8); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Stat(ctx, "/partners/acme/a.txt"); err != nil || e.Size != 8 {
		t.Fatalf("upload not in the hook's home: %+v, %v", e, err)
	}
	if _, err := a.FS.Put(ctx, "/b.txt", strings.NewReader("12345"), 5); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("upload past quota_bytes 10: %v; want ErrQuota", err)
	}
	if err := a.FS.Remove(ctx, "/a.txt"); !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("delete without the permission: %v; want ErrPermission", err)
	}
	if rem, limited, err := a.QuotaRemaining(ctx); err != nil || !limited || rem != 2 {
		t.Fatalf("QuotaRemaining = %d, %v, %v; want 2 left", rem, limited, err)
	}
	// Quota usage is per user name, shared by every session.
	a2, err := s.Authenticate(ctx, "acme", "s3cret", localhost)
	if err != nil {
		t.Fatal(err)
	}
	if rem, _, _ := a2.QuotaRemaining(ctx); rem != 2 {
		t.Fatalf("second session sees %d left, want 2", rem)
	}

	ro, err := s.Authenticate(ctx, "ro", "pw", localhost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.FS.Put(ctx, "/x", strings.NewReader("x"), 1); !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("read-only upload: %v", err)
	}
	if e, err := b.Stat(ctx, "/ro"); err != nil || !e.IsDir {
		t.Fatalf("default home /ro: %+v, %v", e, err)
	}
}

// TestHookRequest: the hook gets the user, password, client address,
// protocol and TLS state.
func TestHookRequest(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t, false, accountsHook(map[string]string{"ann": "pw"}, nil))
	s, _, _ := hookStore(t, HookConfig{URL: srv.URL}, nil)
	for _, tc := range []struct {
		conn   ConnInfo
		remote string
		want   HookRequest
	}{
		{ConnInfo{}, "192.0.2.7", HookRequest{User: "ann", Password: "pw", ClientAddress: "192.0.2.7", Protocol: "ftp"}},
		{ConnInfo{TLS: true}, "::ffff:192.0.2.8", HookRequest{User: "ann", Password: "pw", ClientAddress: "192.0.2.8", Protocol: "ftp", TLS: true}},
		{ConnInfo{TLS: true, Implicit: true}, "2001:db8::1", HookRequest{User: "ann", Password: "pw", ClientAddress: "2001:db8::1", Protocol: "ftps", TLS: true}},
	} {
		if _, err := s.Authenticate(WithConn(t.Context(), tc.conn), "ann", "pw", netip.MustParseAddr(tc.remote)); err != nil {
			t.Fatal(err)
		}
		if got := srv.lastRequest(); got != tc.want {
			t.Errorf("hook got %+v, want %+v", got, tc.want)
		}
	}
}

// TestHookRefuses: a rejected login, an unknown user and a wrong password
// are all ErrLoginFailed, the same error whatever the reason.
func TestHookRefuses(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t, false, accountsHook(map[string]string{"ann": "pw"}, nil))
	s, _, _ := hookStore(t, HookConfig{URL: srv.URL}, nil)
	for _, tc := range []struct{ user, pw string }{{"ann", "wrong"}, {"nobody", "pw"}, {"ann", ""}, {"an n", "pw"}} {
		a, err := s.Authenticate(t.Context(), tc.user, tc.pw, localhost)
		if a != nil || !errors.Is(err, ErrLoginFailed) || err.Error() != ErrLoginFailed.Error() {
			t.Errorf("%s/%s: %v, %v; want exactly ErrLoginFailed", tc.user, tc.pw, a, err)
		}
	}
	if n := srv.calls.Load(); n != 2 {
		t.Errorf("hook called %d times; an empty password or impossible name must not be sent (want 2)", n)
	}
}

// TestHookCache: answers are reused for the same user, address and
// password while fresh, accepted ones for Cache and refused or unknown
// ones for NegativeCache; another password or address asks again.
func TestHookCache(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t, false, accountsHook(map[string]string{"ann": "pw"}, map[string]User{"ann": {Permissions: []string{"read"}}}))
	s, h, _ := hookStore(t, HookConfig{URL: srv.URL, Cache: 5 * time.Minute, NegativeCache: 30 * time.Second}, nil)
	var mu sync.Mutex
	now := time.Now()
	h.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	try := func(user, pw, addr string, ok bool, wantCalls int64) {
		t.Helper()
		before := srv.calls.Load()
		a, err := s.Authenticate(t.Context(), user, pw, netip.MustParseAddr(addr))
		if (err == nil) != ok {
			t.Fatalf("%s/%s from %s: %v, want ok=%v", user, pw, addr, err, ok)
		}
		if ok && a.Perms != PermRead {
			t.Fatalf("cached settings lost: %v", a.Perms)
		}
		if got := srv.calls.Load() - before; got != wantCalls {
			t.Fatalf("%s/%s from %s: %d hook calls, want %d", user, pw, addr, got, wantCalls)
		}
	}
	try("ann", "pw", "127.0.0.1", true, 1)
	try("ann", "pw", "127.0.0.1", true, 0)        // cached
	try("ann", "pw", "::ffff:127.0.0.1", true, 0) // the same address
	try("ann", "pw", "127.0.0.2", true, 1)        // another address
	try("ann", "PW", "127.0.0.1", false, 1)       // another password
	try("ann", "PW", "127.0.0.1", false, 0)       // negative cache
	try("nobody", "pw", "127.0.0.1", false, 1)
	try("nobody", "pw", "127.0.0.1", false, 0)
	advance(31 * time.Second)
	try("ann", "PW", "127.0.0.1", false, 1) // negative entry expired
	try("nobody", "pw", "127.0.0.1", false, 1)
	try("ann", "pw", "127.0.0.1", true, 0) // positive one still fresh
	advance(5 * time.Minute)
	try("ann", "pw", "127.0.0.1", true, 1)
}

// TestHookCacheConcurrent: logins at once, of users with right and
// wrong passwords, all get their own answer.
func TestHookCacheConcurrent(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t, false, accountsHook(map[string]string{"ann": "pw", "bob": "pw"}, map[string]User{"ann": {Permissions: []string{"read"}}}))
	s, _, _ := hookStore(t, HookConfig{URL: srv.URL, Cache: time.Minute, NegativeCache: time.Minute}, nil)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			user, pw := []string{"ann", "bob"}[i%2], []string{"pw", "bad"}[i/2%2]
			a, err := s.Authenticate(t.Context(), user, pw, localhost)
			switch {
			case pw == "bad" && !errors.Is(err, ErrLoginFailed):
				t.Errorf("%s/%s: %v", user, pw, err)
			case pw == "pw" && err != nil:
				t.Errorf("%s/%s: %v", user, pw, err)
			case pw == "pw" && user == "ann" && a.Perms != PermRead, pw == "pw" && user == "bob" && a.Perms != PermAll:
				t.Errorf("%s: settings of another user: %v", user, a.Perms)
			}
		})
	}
	wg.Wait()
}

// TestHookCacheBounded: the cache never holds more than maxHookCache
// answers; expired ones go first.
func TestHookCacheBounded(t *testing.T) {
	t.Parallel()
	h, err := NewHook(HookConfig{URL: "http://127.0.0.1:1/"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h.now = func() time.Time { return now }
	for i := range maxHookCache + 500 {
		k := hookKey{user: fmt.Sprint("u", i)}
		ttl := time.Minute
		if i == 0 {
			ttl = time.Nanosecond
		}
		h.store(k, hookEntry{expires: now.Add(ttl)}, ttl)
		if i == 0 {
			now = now.Add(time.Second) // the first entry expires
		}
	}
	if n := len(h.cache); n > maxHookCache {
		t.Fatalf("%d cached answers, limit %d", n, maxHookCache)
	}
	if _, ok := h.cache[hookKey{user: "u0"}]; ok {
		t.Fatal("an expired answer outlived a full cache")
	}
}

// TestHookNoCache: with no cache durations every login asks the hook.
func TestHookNoCache(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t, false, accountsHook(map[string]string{"ann": "pw"}, nil))
	s, _, _ := hookStore(t, HookConfig{URL: srv.URL}, nil)
	for range 3 {
		if _, err := s.Authenticate(t.Context(), "ann", "pw", localhost); err != nil {
			t.Fatal(err)
		}
		_, _ = s.Authenticate(t.Context(), "ann", "bad", localhost)
	}
	if n := srv.calls.Load(); n != 6 {
		t.Fatalf("%d hook calls, want 6", n)
	}
}

// TestHookUnavailable: a hook that is down, too slow, or answers anything
// but a hook response refuses the login with ErrUnavailable (never lets
// it through), is not cached, and is logged without the password.
func TestHookUnavailable(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	release := make(chan struct{})
	slow := newHookServer(t, false, func(w http.ResponseWriter, r HookRequest) {
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
		_, _ = io.WriteString(w, `{"result":"accept"}`)
	})
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for the handler
	answer := func(status int, body string) string {
		return newHookServer(t, false, func(w http.ResponseWriter, r HookRequest) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}).URL
	}
	redirect := newHookServer(t, false, func(w http.ResponseWriter, r HookRequest) {
		w.Header().Set("Location", "http://127.0.0.1:1/steal")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}).URL
	tests := []struct {
		name, url string
		timeout   time.Duration
	}{
		{"hook down", downURL, 0},
		{"hook slow", slow.URL, 300 * time.Millisecond},
		{"500", answer(500, `{"result":"accept"}`), 0},
		{"503", answer(503, ""), 0},
		{"404", answer(404, `{"result":"accept"}`), 0},
		{"redirect", redirect, 0},
		{"not JSON", answer(200, `<html>ok</html>`), 0},
		{"empty body", answer(200, ""), 0},
		{"truncated", answer(200, `{"result":"acc`), 0},
		{"unknown result", answer(200, `{"result":"yes"}`), 0},
		{"no result", answer(200, `{}`), 0},
		{"unknown key", answer(200, `{"result":"accept","allow":true}`), 0},
		{"misspelt setting", answer(200, `{"result":"accept","settings":{"permission":["read"]}}`), 0},
		{"wrong type", answer(200, `{"result":"accept","settings":{"quota_bytes":"lots"}}`), 0},
		{"trailing data", answer(200, `{"result":"accept"} {"result":"reject"}`), 0},
		{"too large", answer(200, `{"result":"accept","settings":{"home":"/`+strings.Repeat("a", maxHookResponse)+`"}}`), 0},
		{"invalid home", answer(200, `{"result":"accept","settings":{"home":"/a/../../b"}}`), 0},
		{"unknown permission", answer(200, `{"result":"accept","settings":{"permissions":["root"]}}`), 0},
		{"empty permissions", answer(200, `{"result":"accept","settings":{"permissions":[]}}`), 0},
		{"bad cidr", answer(200, `{"result":"accept","settings":{"allowed_cidrs":["nowhere"]}}`), 0},
		{"password hash", answer(200, `{"result":"accept","settings":{"password_hash":"x"}}`), 0},
		{"another name", answer(200, `{"result":"accept","settings":{"name":"root"}}`), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s, h, _ := hookStore(t, HookConfig{URL: tc.url, Timeout: tc.timeout, Cache: time.Hour, NegativeCache: time.Hour}, log)
			start := time.Now()
			a, err := s.Authenticate(t.Context(), "ann", "hunter2-secret", localhost)
			took := time.Since(start)
			if a != nil || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrLoginFailed) {
				t.Fatalf("got %v, %v; want ErrUnavailable", a, err)
			}
			if tc.timeout > 0 && took > tc.timeout+2*time.Second {
				t.Fatalf("refused after %v; timeout %v", took, tc.timeout)
			}
			h.mu.Lock()
			n := len(h.cache)
			h.mu.Unlock()
			if n != 0 {
				t.Fatalf("a failure was cached")
			}
			if strings.Contains(logs.String(), "hunter2") || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("password in the log or error:\n%s\n%v", logs.String(), err)
			}
			if !strings.Contains(logs.String(), "source=hook") {
				t.Fatalf("failure not logged:\n%s", logs.String())
			}
		})
	}
}

// TestHookTLS: an https hook's certificate is verified: one from an
// unknown CA is refused, and trusted with CAFile.
func TestHookTLS(t *testing.T) {
	t.Parallel()
	srv := newHookServer(t, true, accountsHook(map[string]string{"ann": "pw"}, nil))
	s, _, _ := hookStore(t, HookConfig{URL: srv.URL}, nil)
	if _, err := s.Authenticate(t.Context(), "ann", "pw", localhost); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("hook with an untrusted certificate: %v; want ErrUnavailable", err)
	}
	if srv.calls.Load() != 0 {
		t.Fatal("the password reached a hook whose certificate was not verified")
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _, _ = hookStore(t, HookConfig{URL: srv.URL, CAFile: ca}, nil)
	if _, err := s.Authenticate(t.Context(), "ann", "pw", localhost); err != nil {
		t.Fatalf("hook trusted through CAFile: %v", err)
	}
	if _, err := s.Authenticate(t.Context(), "ann", "bad", localhost); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("wrong password over TLS: %v", err)
	}
}

// TestHookPasswordNotLogged: whatever happens, neither the log nor an
// error carries the password.
func TestHookPasswordNotLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newHookServer(t, false, accountsHook(map[string]string{"ann": "Corr3ct-Horse"}, nil))
	s, _, _ := hookStore(t, HookConfig{URL: srv.URL, Cache: time.Minute, NegativeCache: time.Minute}, log)
	var errs []string
	for _, pw := range []string{"Corr3ct-Horse", "Corr3ct-Horse", "Wr0ng-Horse", "Wr0ng-Horse"} {
		for _, u := range []string{"ann", "bob"} {
			_, err := s.Authenticate(t.Context(), u, pw, localhost)
			if err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	log.Info("a login", "login", Login{User: "ann", Password: "Corr3ct-Horse", Remote: localhost})
	all := logs.String() + strings.Join(errs, "\n")
	if strings.Contains(all, "Horse") {
		t.Fatalf("password logged:\n%s", all)
	}
	if !strings.Contains(all, `reason="the hook rejected the login"`) || !strings.Contains(all, "source=hook") {
		t.Fatalf("refusals not logged:\n%s", all)
	}
}

// TestUserJSONMirrorsYAML: every users file field has the same name in a
// hook's settings, so a field added to User reaches hooks too.
func TestUserJSONMirrorsYAML(t *testing.T) {
	t.Parallel()
	var check func(ty reflect.Type)
	check = func(ty reflect.Type) {
		for i := range ty.NumField() {
			f := ty.Field(i)
			y := f.Tag.Get("yaml")
			j, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && y == ",inline" && f.Tag.Get("json") == "" {
				// encoding/json inlines an untagged embedded struct too.
				check(f.Type)
				continue
			}
			if y == "" || j != y {
				t.Errorf("%s.%s: yaml %q, json %q; give it json:\"%s\" too", ty.Name(), f.Name, y, j, y)
			}
		}
	}
	check(reflect.TypeFor[User]())
}

func TestNewHookBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []HookConfig{
		{URL: "ftp://example.org/auth"},
		{URL: "example.org/auth"},
		{URL: "http://"},
		{URL: "https://example.org", CAFile: filepath.Join(t.TempDir(), "missing.pem")},
		{URL: "https://example.org", Cache: -time.Second},
	} {
		if _, err := NewHook(cfg); err == nil {
			t.Errorf("NewHook(%+v) accepted", cfg)
		}
	}
	_, err := NewHook(HookConfig{URL: "ftp://user:tok3n@example.org/auth"})
	if err == nil || strings.Contains(err.Error(), "tok3n") {
		t.Errorf("bad URL with a password: %v", err)
	}
}
