package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

func cheap(t *testing.T, pw string) string {
	t.Helper()
	h, err := hashArgon(pw, argonParams{memory: 64, time: 1, threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	argon := cheap(t, "pw")
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), 4)
	for _, h := range []string{argon, string(bc)} {
		if ok, err := VerifyPassword(h, "pw"); !ok || err != nil {
			t.Errorf("VerifyPassword(%s, right) = %v, %v", h[:8], ok, err)
		}
		if ok, _ := VerifyPassword(h, "wrong"); ok {
			t.Errorf("VerifyPassword(%s, wrong) succeeded", h[:8])
		}
	}
	full, err := HashPassword("pw")
	if err != nil || !strings.HasPrefix(full, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("HashPassword = %q, %v", full, err)
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=0,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=18$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$2a$xx"} {
		if _, err := VerifyPassword(bad, "pw"); err == nil {
			t.Errorf("VerifyPassword accepted hash %q", bad)
		}
	}
}

func TestUsersFileValidation(t *testing.T) {
	t.Parallel()
	h := cheap(t, "pw")
	good := "users:\n  - name: acme\n    password_hash: \"" + h + "\"\n    home: partners/acme\n    permissions: [write, list]\n    quota_bytes: 100\n    allowed_cidrs: [203.0.113.0/24, 198.51.100.7, \"::ffff:192.0.2.0/120\"]\n"
	users, err := ParseUsers([]byte(good))
	if err != nil || len(users) != 1 {
		t.Fatalf("good file: %v", err)
	}
	m, _ := validate(users)
	u := m["acme"]
	if u.home != "/partners/acme" || u.perms != PermWrite|PermList {
		t.Fatalf("parsed %+v", u)
	}
	for addr, ok := range map[string]bool{"203.0.113.9": true, "198.51.100.7": true, "198.51.100.8": false, "::ffff:203.0.113.9": true, "192.0.2.4": true, "10.0.0.1": false} {
		if got := u.allowed(netip.MustParseAddr(addr)); got != ok {
			t.Errorf("allowed(%s) = %v", addr, got)
		}
	}
	cases := map[string]string{
		"unknown key":    "users:\n  - name: a\n    password_hash: \"" + h + "\"\n    colour: red\n",
		"no hash":        "users:\n  - name: a\n",
		"bad hash":       "users:\n  - name: a\n    password_hash: secret\n",
		"duplicate":      "users:\n  - name: a\n    password_hash: \"" + h + "\"\n  - name: a\n    password_hash: \"" + h + "\"\n",
		"home escapes":   "users:\n  - name: a\n    password_hash: \"" + h + "\"\n    home: ../etc\n",
		"bad permission": "users:\n  - name: a\n    password_hash: \"" + h + "\"\n    permissions: [fly]\n",
		"negative quota": "users:\n  - name: a\n    password_hash: \"" + h + "\"\n    quota_bytes: -1\n",
		"bad cidr":       "users:\n  - name: a\n    password_hash: \"" + h + "\"\n    allowed_cidrs: [nope]\n",
		"empty name":     "users:\n  - password_hash: \"" + h + "\"\n",
	}
	for name, body := range cases {
		if _, err := ParseUsers([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Every problem is reported at once.
	_, err = ParseUsers([]byte("users:\n  - name: a\n    password_hash: x\n    quota_bytes: -1\n    permissions: [fly]\n"))
	if err == nil || strings.Count(err.Error(), "users[0] (a)") != 3 {
		t.Fatalf("want three problems, got %v", err)
	}
}

func newStore(t *testing.T, users ...User) (*Store, storage.Backend) {
	t.Helper()
	b := memstore.New()
	s := NewStore(StoreConfig{Backend: b})
	if err := s.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	return s, b
}

var local = netip.MustParseAddr("127.0.0.1")

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	bc, _ := bcrypt.GenerateFromPassword([]byte("bpw"), 4)
	s, b := newStore(t,
		User{Name: "ann", PasswordHash: cheap(t, "pw"), Home: "/homes/ann"},
		User{Name: "bob", PasswordHash: string(bc)},
		User{Name: "far", PasswordHash: cheap(t, "pw"), AllowedCIDRs: []string{"192.0.2.0/24"}},
	)
	ctx := t.Context()
	a, err := s.Authenticate(ctx, "ann", "pw", local)
	if err != nil || a.User != "ann" || a.Perms != PermAll {
		t.Fatalf("ann: %+v %v", a, err)
	}
	if e, err := b.Stat(ctx, "/homes/ann"); err != nil || !e.IsDir {
		t.Fatalf("home not created: %v", err)
	}
	if _, err := s.Authenticate(ctx, "bob", "bpw", local); err != nil {
		t.Fatalf("bcrypt user: %v", err)
	}
	for _, tc := range []struct{ user, pw, addr string }{
		{"ann", "wrong", "127.0.0.1"}, {"nobody", "pw", "127.0.0.1"}, {"far", "pw", "127.0.0.1"},
	} {
		_, err := s.Authenticate(ctx, tc.user, tc.pw, netip.MustParseAddr(tc.addr))
		if !errors.Is(err, ErrLoginFailed) || err.Error() != ErrLoginFailed.Error() {
			t.Errorf("%s/%s from %s: %v", tc.user, tc.pw, tc.addr, err)
		}
	}
	if _, err := s.Authenticate(ctx, "far", "pw", netip.MustParseAddr("::ffff:192.0.2.5")); err != nil {
		t.Errorf("v4-mapped address in the allow list: %v", err)
	}
	// A bad reload keeps the users.
	if err := s.SetUsers([]User{{Name: "x"}}); err == nil {
		t.Fatal("invalid users accepted")
	}
	if _, err := s.Authenticate(ctx, "ann", "pw", local); err != nil {
		t.Fatalf("ann lost after a bad reload: %v", err)
	}
}

// countingReader records whether anything read from it.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	c.n++
	return 0, errors.New("read")
}

func TestScopedPermissions(t *testing.T) {
	t.Parallel()
	s, b := newStore(t,
		User{Name: "wo", PasswordHash: cheap(t, "pw"), Permissions: []string{"write"}},
		User{Name: "all", PasswordHash: cheap(t, "pw"), Home: "/wo"},
	)
	ctx := t.Context()
	wo, _ := s.Authenticate(ctx, "wo", "pw", local)
	all, _ := s.Authenticate(ctx, "all", "pw", local)
	if _, err := wo.FS.Put(ctx, "/f", strings.NewReader("one"), 3); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Stat(ctx, "/wo/f"); got.Size != 3 {
		t.Fatal("write-only upload not under the home")
	}
	checks := map[string]error{
		"list": func() error {
			var e error
			for _, err := range wo.FS.List(ctx, "/") {
				e = err
			}
			return e
		}(),
		"overwrite": func() error {
			r := &countingReader{}
			_, err := wo.FS.Put(ctx, "/f", r, -1)
			if r.n > 0 {
				return nil
			}
			return err
		}(),
		"read":   func() error { _, err := wo.FS.Open(ctx, "/f", 0); return err }(),
		"delete": wo.FS.Remove(ctx, "/f"),
		"mkdir":  wo.FS.Mkdir(ctx, "/d"),
		"rename": wo.FS.Rename(ctx, "/f", "/g"),
	}
	for what, err := range checks {
		if !errors.Is(err, storage.ErrPermission) {
			t.Errorf("write-only %s: %v (a refused upload must not read)", what, err)
		}
	}
	if e, err := all.FS.Stat(ctx, "/"); err != nil || e.Name != "/" || !e.IsDir {
		t.Fatalf("Stat of the home = %+v, %v", e, err)
	}
	if _, err := all.FS.Put(ctx, "/f", strings.NewReader("two"), 3); err != nil {
		t.Fatalf("overwrite with permission: %v", err)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	s, b := newStore(t, User{Name: "q", PasswordHash: cheap(t, "pw"), QuotaBytes: 100})
	ctx := context.Background()
	a1, _ := s.Authenticate(ctx, "q", "pw", local)
	a2, _ := s.Authenticate(ctx, "q", "pw", local)
	if _, err := a1.FS.Put(ctx, "/a", strings.NewReader(strings.Repeat("a", 60)), -1); err != nil {
		t.Fatal(err)
	}
	if left, limited, _ := a2.QuotaRemaining(ctx); !limited || left != 40 {
		t.Fatalf("second session sees %d left (limited %v)", left, limited)
	}
	_, err := a2.FS.Put(ctx, "/b", strings.NewReader(strings.Repeat("b", 50)), -1)
	if !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("over quota: %v", err)
	}
	if _, err := b.Stat(ctx, "/q/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("over-quota upload left a file: %v", err)
	}
	// Replacing a file frees its old size.
	if _, err := a1.FS.Put(ctx, "/a", strings.NewReader(strings.Repeat("a", 90)), -1); err != nil {
		t.Fatalf("overwrite within quota: %v", err)
	}
	if err := a1.FS.Remove(ctx, "/a"); err != nil {
		t.Fatal(err)
	}
	if left, _, _ := a1.QuotaRemaining(ctx); left != 100 {
		t.Fatalf("after delete %d left", left)
	}
	if _, err := a1.FS.(storage.Appender).Append(ctx, "/c", 0, strings.NewReader(strings.Repeat("c", 101))); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("append over quota: %v", err)
	}
}
