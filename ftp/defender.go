package ftp

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// BanPolicy is the defence against password guessing across connections:
// an address with After failed logins within Window is refused at connect
// (421) for Duration, doubled for each ban the address had within the last
// day (at most MaxDuration). Exempt addresses are never banned.
type BanPolicy struct {
	After       int           // failed logins that ban; default 10; negative disables bans
	Window      time.Duration // default 10m
	Duration    time.Duration // first ban; default 15m
	MaxDuration time.Duration // longest ban; default 24h
	Exempt      []netip.Prefix

	// Shared, when set, shares bans and failure counts with the other
	// server processes on the store (defender_share.go), read every
	// SyncEvery (default 5s). Replica names this process's document.
	Shared    storage.SharedDocs
	Replica   string
	SyncEvery time.Duration
}

func (p *BanPolicy) setDefaults() {
	if p.After == 0 {
		p.After = 10
	}
	if p.Window == 0 {
		p.Window = 10 * time.Minute
	}
	if p.Duration == 0 {
		p.Duration = 15 * time.Minute
	}
	if p.MaxDuration == 0 {
		p.MaxDuration = 24 * time.Hour
	}
	if p.SyncEvery == 0 {
		p.SyncEvery = 5 * time.Second
	}
}

// maxTracked bounds the addresses and user names the defender remembers;
// past it, entries that neither ban nor count are dropped first, then the
// oldest.
const maxTracked = 100_000

// offenceMemory is how long an address's past bans make the next one longer.
const offenceMemory = 24 * time.Hour

// defender counts failed logins per address and per user name.
type defender struct {
	p   BanPolicy
	now func() time.Time
	log *slog.Logger

	mu    sync.Mutex
	addrs map[netip.Addr]*addrRecord
	users map[string]*failWindow

	// Shared bans: what the other processes published, and this one's
	// document as last published (the sync loop's own state is peerDocs).
	peers     *peerState
	published string
	peerDocs  map[string]peerDoc
	kick      chan struct{}
}

type failWindow struct {
	start time.Time // of the current window
	fails int
}

type addrRecord struct {
	failWindow
	until    time.Time // banned until
	offences int       // bans within offenceMemory of the last
	lastBan  time.Time
}

func newDefender(p BanPolicy, log *slog.Logger) *defender {
	p.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &defender{p: p, now: time.Now, log: log, addrs: map[netip.Addr]*addrRecord{}, users: map[string]*failWindow{},
		peerDocs: map[string]peerDoc{}, kick: make(chan struct{}, 1)}
}

func (d *defender) exempt(ip netip.Addr) bool {
	for _, pr := range d.p.Exempt {
		if pr.Contains(ip) {
			return true
		}
	}
	return false
}

// banned reports whether ip is refused now, and until when.
func (d *defender) banned(ip netip.Addr) (time.Time, bool) {
	if d.p.After < 0 {
		return time.Time{}, false
	}
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.addrs[ip]
	if r == nil || !now.Before(r.until) {
		return d.peerBan(ip, now)
	}
	return r.until, true
}

// count adds one failure to w, starting a new window when the old one ended.
func (w *failWindow) count(now time.Time, window time.Duration) int {
	if now.Sub(w.start) >= window {
		w.start, w.fails = now, 0
	}
	w.fails++
	return w.fails
}

// failed records a failed login for user from ip. It returns how many
// failures the user name has had within the window (from any address), and
// the length of the ban it started, if it started one.
func (d *defender) failed(ip netip.Addr, user string) (userFails int, ban time.Duration) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	uw := d.users[user]
	if uw == nil {
		d.makeRoom()
		uw = &failWindow{start: now}
		d.users[user] = uw
	}
	userFails = uw.count(now, d.p.Window)
	peerAddr, peerUser := d.peerFails(ip, user, now)
	userFails += peerUser
	if d.p.After < 0 || d.exempt(ip) {
		return userFails, 0
	}
	r := d.addrs[ip]
	if r == nil {
		d.makeRoom()
		r = &addrRecord{failWindow: failWindow{start: now}}
		d.addrs[ip] = r
	}
	if now.Before(r.until) {
		return userFails, 0 // already banned (a session that was open before)
	}
	if _, ok := d.peerBan(ip, now); ok {
		return userFails, 0 // banned by another process
	}
	if r.count(now, d.p.Window)+peerAddr < d.p.After {
		if d.p.Shared != nil {
			d.publishNow() // the others count it before the next try
		}
		return userFails, 0
	}
	if now.Sub(r.lastBan) > offenceMemory {
		r.offences = 0
	}
	ban = d.p.Duration << min(r.offences, 16)
	if ban > d.p.MaxDuration || ban <= 0 {
		ban = d.p.MaxDuration
	}
	r.offences++
	r.lastBan = now
	r.until = now.Add(ban)
	r.fails = 0
	if d.p.Shared != nil {
		d.publishNow()
	}
	return userFails, ban
}

// active is the number of addresses banned now.
func (d *defender) active() int {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.peerBanCount(now)
	for _, r := range d.addrs {
		if now.Before(r.until) {
			n++
		}
	}
	return n
}

// makeRoom keeps the maps under maxTracked entries; d.mu is held.
func (d *defender) makeRoom() {
	if len(d.addrs)+len(d.users) < maxTracked {
		return
	}
	now := d.now()
	for ip, r := range d.addrs {
		if now.Sub(r.start) >= d.p.Window && !now.Before(r.until) && now.Sub(r.lastBan) > offenceMemory {
			delete(d.addrs, ip)
		}
	}
	for u, w := range d.users {
		if now.Sub(w.start) >= d.p.Window {
			delete(d.users, u)
		}
	}
	// Still full: an attack from very many addresses at once. Forget
	// counting records (never a running ban) until there is room.
	for u := range d.users {
		if len(d.addrs)+len(d.users) < maxTracked {
			return
		}
		delete(d.users, u)
	}
	for ip, r := range d.addrs {
		if len(d.addrs)+len(d.users) < maxTracked {
			return
		}
		if !now.Before(r.until) {
			delete(d.addrs, ip)
		}
	}
}
