package auth

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bucketftp/bucketftp/storage/memstore"
)

func newStore(t *testing.T, users ...User) (*Store, *memstore.Store) {
	t.Helper()
	b := memstore.New()
	s := NewStore(StoreConfig{Backend: b})
	if err := s.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	return s, b
}

// login logs name in with password "pw" from 127.0.0.1.
func login(t *testing.T, s *Store, name string) *Account {
	t.Helper()
	a, err := s.Authenticate(t.Context(), name, "pw", netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatalf("login as %s: %v", name, err)
	}
	return a
}

func writeFile(t *testing.T, name, body string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t,
		User{Name: "ann", PasswordHash: cheap(t, "pw"), Home: "/homes/ann"},
		User{Name: "bob", PasswordHash: bcryptHash(t, "bpw")},
		User{Name: "far", PasswordHash: cheap(t, "pw"), AllowedCIDRs: []string{"192.0.2.0/24", "2001:db8::/32"}},
		User{Name: "ro", PasswordHash: cheap(t, "pw"), Permissions: []string{"list", "read"}, RequireTLS: true},
	)
	tests := []struct {
		name, user, pw, addr string
		ok                   bool
	}{
		{"argon2id user", "ann", "pw", "127.0.0.1", true},
		{"bcrypt user", "bob", "bpw", "127.0.0.1", true},
		{"wrong password", "ann", "PW", "127.0.0.1", false},
		{"empty password", "ann", "", "127.0.0.1", false},
		{"bcrypt wrong password", "bob", "pw", "127.0.0.1", false},
		{"unknown user", "nobody", "pw", "127.0.0.1", false},
		{"user name case matters", "Ann", "pw", "127.0.0.1", false},
		{"allowed IPv4", "far", "pw", "192.0.2.5", true},
		{"allowed v4-mapped", "far", "pw", "::ffff:192.0.2.5", true},
		{"allowed IPv6", "far", "pw", "2001:db8::7", true},
		{"address not allowed", "far", "pw", "198.51.100.1", false},
		{"v4-mapped not allowed", "far", "pw", "::ffff:198.51.100.1", false},
		{"right address, wrong password", "far", "x", "192.0.2.5", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := s.Authenticate(t.Context(), tc.user, tc.pw, netip.MustParseAddr(tc.addr))
			if !tc.ok {
				if !errors.Is(err, ErrLoginFailed) || err.Error() != ErrLoginFailed.Error() || a != nil {
					t.Fatalf("got %v, %v; want exactly ErrLoginFailed", a, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.User != tc.user || a.FS == nil {
				t.Fatalf("account = %+v", a)
			}
		})
	}

	ro := login(t, s, "ro")
	if ro.Perms != PermList|PermRead || !ro.RequireTLS {
		t.Errorf("ro: perms %v, RequireTLS %v", ro.Perms, ro.RequireTLS)
	}
	if !s.RequiresTLS("ro") || s.RequiresTLS("ann") || s.RequiresTLS("nobody") {
		t.Error("RequiresTLS is wrong")
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d", s.Len())
	}
}

func TestAuthenticateCreatesHome(t *testing.T) {
	t.Parallel()
	s, b := newStore(t,
		User{Name: "acme", PasswordHash: cheap(t, "pw"), Home: "/partners/acme/in"},
		User{Name: "root", PasswordHash: cheap(t, "pw"), Home: "/"},
		User{Name: "blocked", PasswordHash: cheap(t, "pw"), Home: "/file/home"},
	)
	ctx := t.Context()
	if err := b.Mkdir(ctx, "/partners"); err != nil {
		t.Fatal(err)
	}
	a := login(t, s, "acme")
	for _, dir := range []string{"/partners/acme", "/partners/acme/in"} {
		if e, err := b.Stat(ctx, dir); err != nil || !e.IsDir {
			t.Fatalf("%s after login: %+v, %v", dir, e, err)
		}
	}
	if e, err := a.FS.Stat(ctx, "/"); err != nil || e.Name != "/" || !e.IsDir {
		t.Fatalf("Stat(/) in the new home = %+v, %v", e, err)
	}
	login(t, s, "acme") // the home exists now
	login(t, s, "root")

	if _, err := b.Put(ctx, "/file", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	_, err := s.Authenticate(ctx, "blocked", "pw", netip.MustParseAddr("127.0.0.1"))
	if err == nil || errors.Is(err, ErrLoginFailed) {
		t.Fatalf("home under a file: %v; want a storage error", err)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := filepath.Join(dir, "users.yaml")
	s, _ := newStore(t)
	writeFile(t, name, "users:\n  - name: ann\n    password_hash: \""+cheap(t, "pw")+"\"\n")
	if err := s.LoadFile(name); err != nil {
		t.Fatal(err)
	}
	login(t, s, "ann")

	bad := map[string]string{
		"invalid entry": "users:\n  - name: bob\n    password_hash: \"" + cheap(t, "pw") + "\"\n  - name: eve\n",
		"not yaml":      "users: [\n",
		"empty":         "",
	}
	for what, body := range bad {
		writeFile(t, name, body)
		err := s.LoadFile(name)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s: LoadFile = %v; want an error naming the file", what, err)
		}
		login(t, s, "ann") // the old users stay
		if _, err := s.Authenticate(t.Context(), "bob", "pw", netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrLoginFailed) {
			t.Fatalf("%s: bob from the rejected file can log in: %v", what, err)
		}
	}
	if err := s.LoadFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}

	writeFile(t, name, "users:\n  - name: bob\n    password_hash: \""+cheap(t, "pw")+"\"\n")
	if err := s.LoadFile(name); err != nil {
		t.Fatal(err)
	}
	login(t, s, "bob")
	if _, err := s.Authenticate(t.Context(), "ann", "pw", netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("ann removed from the file can still log in: %v", err)
	}
}

func TestSetUsersKeepsOldUsersOnError(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, User{Name: "ann", PasswordHash: cheap(t, "pw")})
	err := s.SetUsers([]User{{Name: "bob", PasswordHash: cheap(t, "pw")}, {Name: "x"}})
	if err == nil || !strings.Contains(err.Error(), "users[1] (x): password_hash is missing") {
		t.Fatalf("SetUsers = %v", err)
	}
	login(t, s, "ann")
	if s.Len() != 1 {
		t.Fatalf("Len = %d", s.Len())
	}
}

func TestLoginLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	b := memstore.New()
	hash := cheap(t, "hunter2")
	s := NewStore(StoreConfig{Backend: b, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err := s.SetUsers([]User{{Name: "ann", PasswordHash: hash, AllowedCIDRs: []string{"127.0.0.0/8"}}}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, tc := range []struct{ user, pw, addr string }{
		{"ann", "hunter2", "127.0.0.1"}, {"ann", "hunter3", "127.0.0.1"}, {"nobody", "hunter2", "127.0.0.1"}, {"ann", "hunter2", "192.0.2.1"},
	} {
		_, _ = s.Authenticate(ctx, tc.user, tc.pw, netip.MustParseAddr(tc.addr))
	}
	logs := buf.String()
	for _, want := range []string{
		"level=DEBUG msg=login user=ann remote=127.0.0.1",
		`msg="login refused" user=ann remote=127.0.0.1 reason="wrong password"`,
		`msg="login refused" user=nobody remote=127.0.0.1 reason="unknown user"`,
		`msg="login refused" user=ann remote=192.0.2.1 reason="address not in allowed_cidrs"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "hunter") || strings.Contains(logs, "argon2") || strings.Contains(logs, hash[len(hash)-20:]) {
		t.Errorf("log shows a password or hash:\n%s", logs)
	}
}

// TestAuthenticateRemembersPasswords: a password that matched is accepted
// again without another hash computation, until the user's hash changes;
// wrong passwords and unknown users are always computed; at most hashSlots
// computations run at once.
func TestAuthenticateRemembersPasswords(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, User{Name: "ann", PasswordHash: cheap(t, "pw")})
	var mu sync.Mutex
	calls, running, most := 0, 0, 0
	s.verifyHash = func(hash, pw string) (bool, error) {
		mu.Lock()
		calls++
		running++
		most = max(most, running)
		mu.Unlock()
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		return VerifyPassword(hash, pw)
	}
	try := func(user, pw string, ok bool, wantCalls int) {
		t.Helper()
		mu.Lock()
		before := calls
		mu.Unlock()
		_, err := s.Authenticate(t.Context(), user, pw, netip.MustParseAddr("127.0.0.1"))
		if (err == nil) != ok {
			t.Fatalf("%s/%s: %v, want ok=%v", user, pw, err, ok)
		}
		mu.Lock()
		defer mu.Unlock()
		if calls-before != wantCalls {
			t.Fatalf("%s/%s: %d hash computations, want %d", user, pw, calls-before, wantCalls)
		}
	}
	try("ann", "pw", true, 1)
	try("ann", "pw", true, 0)
	try("ann", "wrong", false, 1)
	try("ann", "wrong", false, 1)
	try("nobody", "pw", false, 1)
	try("ann", "pw", true, 0)

	// A new hash (new password) forgets the old one.
	if err := s.SetUsers([]User{{Name: "ann", PasswordHash: cheap(t, "new")}}); err != nil {
		t.Fatal(err)
	}
	try("ann", "pw", false, 1)
	try("ann", "new", true, 1)
	try("ann", "new", true, 0)

	var wg sync.WaitGroup
	for range 4 * hashSlots {
		wg.Go(func() {
			_, _ = s.Authenticate(t.Context(), "ann", "bad", netip.MustParseAddr("127.0.0.1"))
		})
	}
	wg.Wait()
	if most > hashSlots {
		t.Fatalf("%d hash computations at once, limit %d", most, hashSlots)
	}

	// Many logins with a right password not yet remembered, at once: only
	// those that got a slot before the first check ended compute it.
	if err := s.SetUsers([]User{{Name: "ann", PasswordHash: cheap(t, "fresh")}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	before := calls
	mu.Unlock()
	for range 16 * hashSlots {
		wg.Go(func() {
			if _, err := s.Authenticate(t.Context(), "ann", "fresh", netip.MustParseAddr("127.0.0.1")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if n := calls - before; n > hashSlots {
		t.Fatalf("%d concurrent logins with one password computed its hash %d times, want at most %d", 16*hashSlots, n, hashSlots)
	}
}
