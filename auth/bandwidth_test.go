package auth

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/time/rate"
)

func TestBurstFor(t *testing.T) {
	for _, c := range []struct {
		limit int64
		want  int
	}{
		{1000, 1000},         // less than 4 KiB: the whole limit
		{16 << 10, 4 << 10},  // the 4 KiB floor
		{256 << 10, 26214},   // a tenth of a second
		{100 << 20, 1 << 20}, // the 1 MiB ceiling
		{1 << 40, 1 << 20},
	} {
		if got := BurstFor(c.limit); got != c.want {
			t.Errorf("BurstFor(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}

func bwStore(t *testing.T, cfg BandwidthConfig, users ...User) *Store {
	t.Helper()
	s := NewStore(StoreConfig{Bandwidth: cfg})
	for i := range users {
		users[i].PasswordHash = bwHash(t)
		users[i].Home = "/" + users[i].Name
	}
	if err := s.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	return s
}

func bwHash(t *testing.T) string {
	t.Helper()
	h, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func bwLogin(t *testing.T, s *Store, name, remote string) (Bandwidth, func()) {
	t.Helper()
	u := (*s.users.Load())[name]
	return s.bw.login(u, netip.MustParseAddr(remote))
}

func TestBandwidthLimiters(t *testing.T) {
	s := bwStore(t, BandwidthConfig{Up: 1000, Down: 2000},
		User{Name: "own", BandwidthUp: 5000}, User{Name: "def"}, User{Name: "free", BandwidthUp: Unlimited, BandwidthDown: Unlimited})

	a, _ := bwLogin(t, s, "own", "192.0.2.1")
	b, _ := bwLogin(t, s, "own", "192.0.2.2")
	if len(a.Up) != 1 || a.Up[0] != b.Up[0] || a.Down[0] != b.Down[0] {
		t.Fatalf("two logins of one user do not share buckets: %v %v", a, b)
	}
	if got := a.Up[0].Limit(); got != 5000 {
		t.Fatalf("own limit %v, want 5000", got)
	}
	if got := a.Down[0].Limit(); got != 2000 {
		t.Fatalf("default down limit %v, want 2000", got)
	}
	if d, _ := bwLogin(t, s, "def", "192.0.2.1"); d.Up[0].Limit() != 1000 || d.Up[0] == a.Up[0] {
		t.Fatal("a user without their own limit gets the default in a bucket of their own")
	}
	if f, _ := bwLogin(t, s, "free", "192.0.2.1"); len(f.Up)+len(f.Down) != 0 {
		t.Fatalf("unlimited user waits on %v", f)
	}

	// A reload keeps the bucket (running sessions follow the new limit).
	users := []User{{Name: "own", BandwidthUp: 7000}, {Name: "def"}, {Name: "free"}}
	for i := range users {
		users[i].PasswordHash, users[i].Home = bwHash(t), "/"+users[i].Name
	}
	if err := s.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	if got := a.Up[0].Limit(); got != 7000 {
		t.Fatalf("after reload a running session's limit is %v, want 7000", got)
	}
	c, _ := bwLogin(t, s, "own", "192.0.2.1")
	if c.Up[0] != a.Up[0] {
		t.Fatal("reload replaced the user's bucket")
	}
	if f, _ := bwLogin(t, s, "free", "192.0.2.1"); len(f.Up) != 1 || f.Up[0].Limit() != 1000 {
		t.Fatalf("free now has the default: %v", f)
	}
	// Lifting a limit frees running sessions.
	users[0].BandwidthUp = Unlimited
	if err := s.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	if a.Up[0].Limit() != rate.Inf {
		t.Fatalf("lifted limit still %v", a.Up[0].Limit())
	}
}

func TestBandwidthPerAddress(t *testing.T) {
	s := bwStore(t, BandwidthConfig{PerAddress: 3000}, User{Name: "x"}, User{Name: "y"})
	a, relA := bwLogin(t, s, "x", "192.0.2.1")
	b, relB := bwLogin(t, s, "y", "::ffff:192.0.2.1")
	c, relC := bwLogin(t, s, "y", "192.0.2.9")
	if len(a.Up) != 1 || a.Up[0] != b.Up[0] || a.Down[0] != b.Down[0] {
		t.Fatal("two users from one address (one of them v4-mapped) do not share its bucket")
	}
	if c.Up[0] == a.Up[0] {
		t.Fatal("two addresses share a bucket")
	}
	relA()
	relA() // twice: once only
	if len(s.bw.addrs) != 2 {
		t.Fatalf("%d address buckets after one of two logins ended, want 2", len(s.bw.addrs))
	}
	relB()
	relC()
	if len(s.bw.addrs) != 0 {
		t.Fatalf("%d address buckets kept without logins", len(s.bw.addrs))
	}
}

func TestBandwidthValidation(t *testing.T) {
	_, err := ParseUsers([]byte("users:\n  - name: a\n    password_hash: " + bwHash(t) + "\n    bandwidth_up: -2\n"))
	if err == nil || !strings.Contains(err.Error(), "bandwidth_up") {
		t.Fatalf("bandwidth_up -2: %v", err)
	}
	us, err := ParseUsers([]byte("users:\n  - name: a\n    password_hash: " + bwHash(t) + "\n    bandwidth_up: 1000\n    bandwidth_down: -1\n"))
	if err != nil || us[0].BandwidthUp != 1000 || us[0].BandwidthDown != Unlimited {
		t.Fatalf("%+v %v", us, err)
	}
}
