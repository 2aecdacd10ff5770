package ftp

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// fakeClock is a defender's time, moved by the test.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestDefender(p BanPolicy) (*defender, *fakeClock) {
	d := newDefender(p, nil)
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	d.now = clk.now
	return d, clk
}

func TestDefenderBansAndLifts(t *testing.T) {
	d, clk := newTestDefender(BanPolicy{After: 3, Window: time.Minute, Duration: 10 * time.Minute, MaxDuration: time.Hour})
	ip := netip.MustParseAddr("203.0.113.7")
	for i := range 2 {
		if _, ban := d.failed(ip, "u"); ban != 0 {
			t.Fatalf("failure %d banned", i+1)
		}
	}
	if _, ban := d.failed(ip, "u"); ban != 10*time.Minute {
		t.Fatalf("third failure: ban %v, want 10m", ban)
	}
	if _, ok := d.banned(ip); !ok || d.active() != 1 {
		t.Fatal("not banned after the third failure")
	}
	if _, ok := d.banned(netip.MustParseAddr("203.0.113.8")); ok {
		t.Fatal("a neighbour is banned")
	}
	clk.t = clk.t.Add(10 * time.Minute)
	if _, ok := d.banned(ip); ok || d.active() != 0 {
		t.Fatal("still banned when the ban ended")
	}
	// A repeat offender's bans double, up to the longest.
	want := []time.Duration{20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		var ban time.Duration
		for range 3 {
			_, ban = d.failed(ip, "u")
		}
		if ban != w {
			t.Fatalf("ban %d: %v, want %v", i+2, ban, w)
		}
		clk.t = clk.t.Add(ban)
	}
	// A day later, the record is forgotten: back to the first length.
	clk.t = clk.t.Add(25 * time.Hour)
	var ban time.Duration
	for range 3 {
		_, ban = d.failed(ip, "u")
	}
	if ban != 10*time.Minute {
		t.Fatalf("after a quiet day: ban %v, want 10m", ban)
	}
}

func TestDefenderWindow(t *testing.T) {
	d, clk := newTestDefender(BanPolicy{After: 3, Window: time.Minute})
	ip := netip.MustParseAddr("198.51.100.1")
	for range 10 {
		// Two failures a window never reach three.
		d.failed(ip, "u")
		d.failed(ip, "u")
		clk.t = clk.t.Add(time.Minute)
	}
	if _, ok := d.banned(ip); ok {
		t.Fatal("banned for failures spread over windows")
	}
}

func TestDefenderExemptAndDisabled(t *testing.T) {
	d, _ := newTestDefender(BanPolicy{After: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if _, ban := d.failed(netip.MustParseAddr("10.1.2.3"), "u"); ban != 0 {
		t.Fatal("exempt address banned")
	}
	if _, ban := d.failed(netip.MustParseAddr("192.0.2.1"), "u"); ban == 0 {
		t.Fatal("address outside the exempt list not banned")
	}
	off, _ := newTestDefender(BanPolicy{After: -1})
	for range 100 {
		if _, ban := off.failed(netip.MustParseAddr("192.0.2.1"), "u"); ban != 0 {
			t.Fatal("banned with bans disabled")
		}
	}
}

// Failures for one user name from many addresses add up, so the login delay
// grows for a name under a distributed attack.
func TestDefenderCountsUserAcrossAddresses(t *testing.T) {
	d, _ := newTestDefender(BanPolicy{After: 100})
	for i := range 20 {
		n, _ := d.failed(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), "alice")
		if n != i+1 {
			t.Fatalf("failure %d from a new address counted %d", i+1, n)
		}
	}
	if n, _ := d.failed(netip.MustParseAddr("192.0.2.200"), "bob"); n != 1 {
		t.Fatalf("another user's count: %d", n)
	}
}

// An attack from very many addresses cannot grow the defender's memory
// without bound, and does not lift running bans.
func TestDefenderBounded(t *testing.T) {
	d, _ := newTestDefender(BanPolicy{After: 1})
	banned := netip.MustParseAddr("203.0.113.1")
	d.failed(banned, "x")
	for i := range maxTracked + 5000 {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 8: byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		d.mu.Lock()
		d.addrs[ip] = &addrRecord{failWindow: failWindow{start: d.now(), fails: 0}}
		d.mu.Unlock()
		if i%1000 == 0 {
			d.failed(netip.AddrFrom4([4]byte{198, 51, 100, byte(i / 1000)}), "user"+strconv.Itoa(i))
		}
	}
	d.failed(netip.MustParseAddr("198.51.100.250"), "last")
	d.mu.Lock()
	n := len(d.addrs) + len(d.users)
	d.mu.Unlock()
	if n > maxTracked+1 {
		t.Fatalf("%d records kept, bound %d", n, maxTracked)
	}
	if _, ok := d.banned(banned); !ok {
		t.Fatal("a running ban was dropped to make room")
	}
}
