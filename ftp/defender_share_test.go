package ftp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage/memstore"
)

// sharedDefenders returns n defenders on one clock sharing one store, as n
// server processes on one bucket.
func sharedDefenders(p BanPolicy, n int) ([]*defender, *fakeClock) {
	docs := memstore.NewDocs(true)
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var out []*defender
	for i := range n {
		q := p
		q.Shared, q.Replica = docs, string(rune('a'+i))
		d := newDefender(q, nil)
		d.now = clk.now
		out = append(out, d)
	}
	return out, clk
}

func syncAll(t *testing.T, ds ...*defender) {
	t.Helper()
	for range 2 { // publish everywhere, then read everywhere
		for _, d := range ds {
			d.sync(t.Context())
		}
	}
}

func TestSharedBans(t *testing.T) {
	ds, clk := sharedDefenders(BanPolicy{After: 3, Window: time.Minute, Duration: 10 * time.Minute, MaxDuration: time.Hour}, 2)
	ip := netip.MustParseAddr("203.0.113.7")
	for range 3 {
		ds[0].failed(ip, "u")
	}
	if _, ok := ds[0].banned(ip); !ok {
		t.Fatal("not banned where it failed")
	}
	if _, ok := ds[1].banned(ip); ok {
		t.Fatal("banned elsewhere before any sync")
	}
	syncAll(t, ds...)
	until, ok := ds[1].banned(ip)
	if !ok || !until.Equal(clk.t.Add(10*time.Minute).Truncate(time.Second)) || ds[1].active() != 1 {
		t.Fatalf("the other process: banned %v until %v, %d active; want the same ban", ok, until, ds[1].active())
	}
	if _, ok := ds[1].banned(netip.MustParseAddr("203.0.113.8")); ok {
		t.Fatal("a neighbour is banned")
	}
	// Failing on the other process while banned starts no second ban.
	if _, ban := ds[1].failed(ip, "u"); ban != 0 {
		t.Fatalf("a failure during a shared ban banned again: %v", ban)
	}
	clk.t = clk.t.Add(10 * time.Minute)
	syncAll(t, ds...)
	if _, ok := ds[1].banned(ip); ok || ds[1].active() != 0 {
		t.Fatal("the shared ban outlived its duration")
	}
}

// Failures spread over the processes (a balancer's round robin) add up to
// a ban as if they had reached one process.
func TestSharedFailuresAddUp(t *testing.T) {
	ds, clk := sharedDefenders(BanPolicy{After: 4, Window: time.Minute, Duration: 10 * time.Minute, MaxDuration: time.Hour}, 3)
	ip := netip.MustParseAddr("198.51.100.1")
	ds[0].failed(ip, "root")
	ds[1].failed(ip, "root")
	ds[2].failed(ip, "root")
	syncAll(t, ds...)
	userFails, ban := ds[2].failed(ip, "root")
	if ban == 0 {
		t.Fatal("the fourth failure over three processes did not ban")
	}
	if userFails != 4 {
		t.Fatalf("user name failures %d, want 4 from all processes", userFails)
	}
	syncAll(t, ds...)
	for i, d := range ds {
		if _, ok := d.banned(ip); !ok {
			t.Fatalf("process %d does not refuse the address", i)
		}
	}
	// Failures older than the window do not count.
	other := netip.MustParseAddr("198.51.100.2")
	ds[0].failed(other, "x")
	ds[0].failed(other, "x")
	ds[1].failed(other, "x")
	syncAll(t, ds...)
	clk.t = clk.t.Add(2 * time.Minute)
	syncAll(t, ds...)
	if _, ban := ds[2].failed(other, "x"); ban != 0 {
		t.Fatal("failures from an old window counted")
	}
}
