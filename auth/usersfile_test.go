package auth

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseUsersGood(t *testing.T) {
	t.Parallel()
	h, bc := cheap(t, "pw"), bcryptHash(t, "pw")
	file := `
users:
  - name: acme
    password_hash: "` + h + `"
    home: /partners//acme/
    permissions: [write, list]
    quota_bytes: 1073741824
    allowed_cidrs: [203.0.113.0/24, 2001:db8::/32, 198.51.100.7, "::ffff:192.0.2.0/120"]
    require_tls: true
  - name: bob
    password_hash: '` + bc + `'
`
	users, err := ParseUsers([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 {
		t.Fatalf("got %d users", len(users))
	}
	m, err := validate(users)
	if err != nil {
		t.Fatal(err)
	}
	acme, bob := m["acme"], m["bob"]
	if acme.home != "/partners/acme" || acme.perms != PermWrite|PermList || acme.QuotaBytes != 1<<30 || !acme.RequireTLS {
		t.Errorf("acme = home %q perms %v quota %d tls %v", acme.home, acme.perms, acme.QuotaBytes, acme.RequireTLS)
	}
	wantCIDRs := []string{"203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32", "192.0.2.0/24"}
	var got []string
	for _, p := range acme.cidrs {
		got = append(got, p.String())
	}
	if !slices.Equal(got, wantCIDRs) {
		t.Errorf("cidrs = %v, want %v", got, wantCIDRs)
	}
	if bob.home != "/bob" || bob.perms != PermAll || bob.QuotaBytes != 0 || bob.RequireTLS || bob.cidrs != nil {
		t.Errorf("bob's defaults = home %q perms %v quota %d tls %v cidrs %v", bob.home, bob.perms, bob.QuotaBytes, bob.RequireTLS, bob.cidrs)
	}
}

func TestHomes(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, home, want string }{
		{"acme", "", "/acme"},
		{"a@example.com", "", "/a@example.com"},
		{"acme", "partners/acme", "/partners/acme"},
		{"acme", "/partners//acme/", "/partners/acme"},
		{"acme", "./x/.", "/x"},
		{"acme", "/", "/"},
	}
	for _, tc := range tests {
		got, err := cleanHome(User{Name: tc.name, Home: tc.home})
		if got != tc.want || err != nil {
			t.Errorf("home of %s with home %q = %q, %v; want %q", tc.name, tc.home, got, err, tc.want)
		}
	}
}

func TestParseUsersBad(t *testing.T) {
	t.Parallel()
	h := cheap(t, "pw")
	entry := func(name string, more ...string) string {
		s := "  - name: " + name + "\n    password_hash: \"" + h + "\"\n"
		for _, m := range more {
			s += "    " + m + "\n"
		}
		return s
	}
	tests := []struct{ name, file, want string }{
		{"empty file", "", "users file: empty"},
		{"no users", "users: []\n", "users file: no users"},
		{"not yaml", "users: [\n", "yaml:"},
		{"unknown key", "users:\n" + entry("a", "colour: red"), "field colour not found"},
		{"unknown top-level key", "people:\n" + entry("a"), "field people not found"},
		{"wrong type", "users:\n" + entry("a", "quota_bytes: lots"), "cannot unmarshal"},
		{"empty name", "users:\n  - password_hash: \"" + h + "\"\n", "users[0]: name is empty"},
		{"name with space", "users:\n" + entry(`"a b"`), "users[0] (a b): name must not contain spaces"},
		{"duplicate name", "users:\n" + entry("a") + entry("b") + entry("a"), "users[2] (a): duplicate name (also users[0])"},
		{"missing hash", "users:\n  - name: a\n", "users[0] (a): password_hash is missing"},
		{"plain password", "users:\n  - name: a\n    password_hash: secret\n", "users[0] (a): password_hash: password hash is neither"},
		{"bad argon2id", "users:\n  - name: a\n    password_hash: $argon2id$v=19$m=64\n", "users[0] (a): password_hash: argon2id hash:"},
		{"bad bcrypt", "users:\n  - name: a\n    password_hash: $2a$04$short\n", "users[0] (a): password_hash: bcrypt hash:"},
		{"unknown permission", "users:\n" + entry("a", "permissions: [read, fly]"), `users[0] (a): permissions: unknown permission "fly"`},
		{"empty permissions", "users:\n" + entry("a", "permissions: []"), "users[0] (a): permissions is empty"},
		{"home escapes", "users:\n" + entry("a", "home: ../etc"), `users[0] (a): home "../etc" must not contain a ".." element`},
		{"home with .. inside", "users:\n" + entry("a", "home: /x/../y"), `home "/x/../y" must not contain a ".." element`},
		{"home with backslash", "users:\n" + entry("a", `home: 'x\y'`), "backslash"},
		{"name as home", "users:\n" + entry(`".."`), `users[0] (..): name ".." cannot be a directory: set home`},
		{"name with slash as home", "users:\n" + entry("a/b"), `name "a/b" cannot be a directory`},
		{"negative quota", "users:\n" + entry("a", "quota_bytes: -1"), "users[0] (a): quota_bytes must not be negative"},
		{"bad cidr", "users:\n" + entry("a", "allowed_cidrs: [nope]"), `users[0] (a): allowed_cidrs: "nope" is not an address or CIDR`},
		{"cidr too long", "users:\n" + entry("a", "allowed_cidrs: [10.0.0.0/33]"), `"10.0.0.0/33" is not`},
		{"short mapped prefix", "users:\n" + entry("a", `allowed_cidrs: ["::ffff:1.2.3.4/64"]`), "needs at least 96 bits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			users, err := ParseUsers([]byte(tc.file))
			if err == nil {
				t.Fatalf("accepted: %+v", users)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseUsersReportsEveryProblem(t *testing.T) {
	t.Parallel()
	h := cheap(t, "pw")
	file := `users:
  - name: a
    password_hash: x
    quota_bytes: -1
    permissions: [fly]
  - name: b
    password_hash: "` + h + `"
    home: ../b
    allowed_cidrs: [nope]
  - name: a
    password_hash: "` + h + `"
`
	_, err := ParseUsers([]byte(file))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"users[0] (a): password_hash:", "users[0] (a): quota_bytes", `users[0] (a): permissions: unknown permission "fly"`,
		`users[1] (b): home "../b"`, `users[1] (b): allowed_cidrs: "nope"`, "users[2] (a): duplicate name",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 6 {
		t.Errorf("%d problems reported, want 6:\n%v", n, err)
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	m, err := validate([]User{
		{Name: "some", PasswordHash: cheap(t, "pw"), AllowedCIDRs: []string{"203.0.113.0/24", "198.51.100.7", "2001:db8::/32", "::ffff:192.0.2.0/120", "fe80::1"}},
		{Name: "any", PasswordHash: cheap(t, "pw")},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr       string
		some, any_ bool
	}{
		{"203.0.113.9", true, true},
		{"::ffff:203.0.113.9", true, true},
		{"198.51.100.7", true, true},
		{"::ffff:198.51.100.7", true, true},
		{"198.51.100.8", false, true},
		{"192.0.2.4", true, true},
		{"2001:db8::1", true, true},
		{"2001:db9::1", false, true},
		{"fe80::1%eth0", true, true},
		{"10.0.0.1", false, true},
		{"::1", false, true},
	}
	for _, tc := range tests {
		a := netip.MustParseAddr(tc.addr)
		if got := m["some"].allowed(a); got != tc.some {
			t.Errorf("allowed(%s) with a list = %v", tc.addr, got)
		}
		if got := m["any"].allowed(a); got != tc.any_ {
			t.Errorf("allowed(%s) without a list = %v", tc.addr, got)
		}
	}
	if m["some"].allowed(netip.Addr{}) {
		t.Error("the zero address is allowed by a list")
	}
}
