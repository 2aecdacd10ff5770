package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bucketftp/bucketftp/storage/memstore"
)

// fakeSource knows the users of pw (name -> password) with settings from
// set; down makes it unavailable.
type fakeSource struct {
	name  string
	pw    map[string]string
	set   map[string]User
	down  bool
	calls atomic.Int64
}

func (f *fakeSource) Name() string { return f.name }

func (f *fakeSource) Lookup(ctx context.Context, l Login) (User, error) {
	f.calls.Add(1)
	want, ok := f.pw[l.User]
	switch {
	case f.down:
		return User{}, errors.New("connection refused")
	case !ok:
		return User{}, ErrUnknownUser
	case want != l.Password:
		return User{}, Refused("wrong password")
	}
	return f.set[l.User], nil
}

// TestSourceOrder: sources are asked in order; an unknown user goes on to
// the next, a known one is decided where it is found (a wrong password is
// refused, never tried on the next source), and an unavailable source
// stops the login.
func TestSourceOrder(t *testing.T) {
	t.Parallel()
	first := &fakeSource{name: "ldap", pw: map[string]string{"ann": "ldap-pw", "bob": "bob-pw"}, set: map[string]User{"bob": {Home: "/ldap/bob"}}}
	second := &fakeSource{name: "hook", pw: map[string]string{"ann": "hook-pw", "bob": "x", "cid": "cid-pw", "eve": "eve-pw"},
		set: map[string]User{"cid": {Home: "/hook/cid", Permissions: []string{"read"}, QuotaBytes: 7}}}
	b := memstore.New()
	s := NewStore(StoreConfig{Backend: b, Sources: []Source{UsersFile, first, second}})
	if err := s.SetUsers([]User{{Name: "ann", PasswordHash: cheap(t, "file-pw")}, {Name: "eve", PasswordHash: cheap(t, "file-eve")}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pw, wantHome string
		wantErr            error
		firstCalls         int64
		secondCalls        int64
	}{
		{"ann", "file-pw", "/ann", nil, 0, 0},
		{"ann", "ldap-pw", "", ErrLoginFailed, 0, 0}, // in the file: decided there
		{"eve", "eve-pw", "", ErrLoginFailed, 0, 0},
		{"bob", "bob-pw", "/ldap/bob", nil, 1, 0},
		{"bob", "x", "", ErrLoginFailed, 1, 0}, // known to the first source: refused there
		{"cid", "cid-pw", "/hook/cid", nil, 1, 1},
		{"cid", "bad", "", ErrLoginFailed, 1, 1},
		{"nobody", "pw", "", ErrLoginFailed, 1, 1},
	}
	for _, tc := range tests {
		f0, s0 := first.calls.Load(), second.calls.Load()
		a, err := s.Authenticate(t.Context(), tc.user, tc.pw, localhost)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr != nil && err.Error() != tc.wantErr.Error()) {
			t.Errorf("%s/%s: %v, want %v", tc.user, tc.pw, err, tc.wantErr)
		}
		if err == nil {
			if e, err := b.Stat(t.Context(), tc.wantHome); err != nil || !e.IsDir {
				t.Errorf("%s: home %s not made: %v", tc.user, tc.wantHome, err)
			}
			if tc.user == "cid" && (a.Perms != PermRead || a.quota == nil || a.quota.limit != 7) {
				t.Errorf("cid: settings not applied: %v", a.Perms)
			}
		}
		if f, s := first.calls.Load()-f0, second.calls.Load()-s0; f != tc.firstCalls || s != tc.secondCalls {
			t.Errorf("%s/%s: sources asked %d and %d times, want %d and %d", tc.user, tc.pw, f, s, tc.firstCalls, tc.secondCalls)
		}
	}

	// A name the users file lacks costs its hash work before the next
	// source is asked, so timing does not tell whether it is in the file.
	var hashes atomic.Int64
	s.verifyHash = func(h, pw string) (bool, error) { hashes.Add(1); return VerifyPassword(h, pw) }
	if _, err := s.Authenticate(t.Context(), "bob", "bob-pw", localhost); err != nil || hashes.Load() != 1 {
		t.Errorf("bob via the next source: %v after %d hash computations, want 1", err, hashes.Load())
	}
	noFile := NewStore(StoreConfig{Backend: b, Sources: []Source{UsersFile, first}})
	noFile.verifyHash = s.verifyHash
	if _, err := noFile.Authenticate(t.Context(), "bob", "bob-pw", localhost); err != nil || hashes.Load() != 1 {
		t.Errorf("with no users file users: %v after %d computations, want none", err, hashes.Load()-1)
	}

	first.down = true
	for _, u := range []string{"bob", "cid"} {
		s0 := second.calls.Load()
		if _, err := s.Authenticate(t.Context(), u, u+"-pw", localhost); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrLoginFailed) {
			t.Errorf("%s with the first source down: %v; want ErrUnavailable", u, err)
		}
		if second.calls.Load() != s0 {
			t.Errorf("%s: asked of the next source while the first was down", u)
		}
	}
	if _, err := s.Authenticate(t.Context(), "ann", "file-pw", localhost); err != nil {
		t.Errorf("users file user with the directory down: %v", err)
	}
}

// TestSourceRequireTLS: a source's require_tls refuses a login without
// TLS, and from then on RequiresTLS asks for TLS at USER.
func TestSourceRequireTLS(t *testing.T) {
	t.Parallel()
	src := &fakeSource{name: "hook", pw: map[string]string{"ann": "pw"}, set: map[string]User{"ann": {RequireTLS: true}}}
	s := NewStore(StoreConfig{Backend: memstore.New(), Sources: []Source{UsersFile, src}})
	if s.RequiresTLS("ann") {
		t.Fatal("RequiresTLS before any login")
	}
	if _, err := s.Authenticate(t.Context(), "ann", "pw", localhost); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("require_tls over a clear connection: %v", err)
	}
	if _, err := s.Authenticate(WithConn(t.Context(), ConnInfo{TLS: true}), "ann", "pw", localhost); err != nil {
		t.Fatalf("require_tls over TLS: %v", err)
	}
	if !s.RequiresTLS("ann") {
		t.Fatal("RequiresTLS after a login whose settings require it")
	}
	src.set["ann"] = User{}
	if _, err := s.Authenticate(WithConn(t.Context(), ConnInfo{TLS: true}), "ann", "pw", localhost); err != nil || s.RequiresTLS("ann") {
		t.Fatalf("require_tls dropped: %v, RequiresTLS %v", err, s.RequiresTLS("ann"))
	}
}

// TestSourceAllowedCIDRs: a source's allowed_cidrs are enforced.
func TestSourceAllowedCIDRs(t *testing.T) {
	t.Parallel()
	src := &fakeSource{name: "hook", pw: map[string]string{"ann": "pw"}, set: map[string]User{"ann": {AllowedCIDRs: []string{"192.0.2.0/24"}}}}
	s := NewStore(StoreConfig{Backend: memstore.New(), Sources: []Source{src}})
	if _, err := s.Authenticate(t.Context(), "ann", "pw", localhost); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("outside allowed_cidrs: %v", err)
	}
	if _, err := s.Authenticate(t.Context(), "ann", "pw", mustAddr("192.0.2.9")); err != nil {
		t.Fatalf("inside allowed_cidrs: %v", err)
	}
}

func TestParseOrder(t *testing.T) {
	t.Parallel()
	ldap, hook := &fakeSource{name: "ldap"}, &fakeSource{name: "hook"}
	names := func(ss []Source) string {
		var n []string
		for _, s := range ss {
			n = append(n, s.Name())
		}
		return strings.Join(n, ",")
	}
	for _, tc := range []struct {
		order     string
		available []Source
		want      string
		bad       bool
	}{
		{"file,ldap,hook", nil, "file", false},
		{"file,ldap,hook", []Source{ldap, hook}, "file,ldap,hook", false},
		{"hook, file ,ldap", []Source{ldap, hook}, "hook,file,ldap", false},
		{"file,ldap,hook", []Source{hook}, "file,hook", false},
		{"ldap,hook", []Source{ldap, hook}, "", true}, // the users file left out
		{"file,hook", []Source{ldap, hook}, "", true}, // a configured source left out
		{"file,file,ldap,hook", []Source{ldap}, "", true},
		{"file,radius", nil, "", true},
	} {
		got, err := ParseOrder(tc.order, tc.available...)
		if (err != nil) != tc.bad || (!tc.bad && names(got) != tc.want) {
			t.Errorf("ParseOrder(%q) = %s, %v; want %s (error %v)", tc.order, names(got), err, tc.want, tc.bad)
		}
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
