package ftp

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"net/url"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// Sharing bans among server processes on one store (BanPolicy.Shared):
// each process publishes what its defender knows, the addresses it banned
// and the failures it counted within the window, as its own document
// "bans/<replica>.json" in the store's shared area, and reads the others'
// every SyncEvery. A ban decided anywhere is refused everywhere from the
// next read on; failures from one address spread over the processes add
// up, so a balancer does not multiply a guesser's tries by the number of
// replicas. Every document has one writer, so no conditional writes are
// needed.

// maxPublished bounds the entries of one process's document.
const maxPublished = 10_000

type shareDoc struct {
	Bans  map[string]int64   `json:"bans,omitempty"`  // address -> banned until, Unix seconds
	Fails map[string]failRec `json:"fails,omitempty"` // address -> failures in the window
	Users map[string]failRec `json:"users,omitempty"` // user name -> failures in the window
}

type failRec struct {
	Start int64 `json:"start"` // Unix seconds
	N     int   `json:"n"`
}

// peerState is what the other processes published, merged.
type peerState struct {
	bans  map[netip.Addr]time.Time
	fails map[netip.Addr]failRec
	users map[string]failRec
}

// peerFails is the failures other processes counted for ip within the
// window; d.mu is held.
func (d *defender) peerFails(ip netip.Addr, user string, now time.Time) (addr, usr int) {
	p := d.peers
	if p == nil {
		return 0, 0
	}
	win := int64(d.p.Window / time.Second)
	if f, ok := p.fails[ip]; ok && now.Unix()-f.Start < win {
		addr = f.N
	}
	if f, ok := p.users[user]; ok && now.Unix()-f.Start < win {
		usr = f.N
	}
	return addr, usr
}

// peerBan is a ban another process published for ip; d.mu is held.
func (d *defender) peerBan(ip netip.Addr, now time.Time) (time.Time, bool) {
	if d.peers == nil {
		return time.Time{}, false
	}
	until, ok := d.peers.bans[ip]
	return until, ok && now.Before(until)
}

// publishNow asks the sync loop to publish at once (a failure, a ban).
func (d *defender) publishNow() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// syncLoop publishes and reads until ctx ends.
func (d *defender) syncLoop(ctx context.Context) {
	t := time.NewTicker(d.p.SyncEvery)
	defer t.Stop()
	for {
		d.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

func (d *defender) docName() string { return "bans/" + url.PathEscape(d.p.Replica) + ".json" }

// sync publishes this process's state when it changed and reads the
// documents of the others that changed. Failures are logged; the last
// state read stays.
func (d *defender) sync(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(d.p.SyncEvery, 5*time.Second))
	defer cancel()
	if b, changed := d.snapshot(); changed {
		if _, err := d.p.Shared.PutDoc(ctx, d.docName(), b); err != nil {
			if ctx.Err() == nil {
				d.log.Warn("bans: publishing", "err", err)
			}
		} else {
			d.mu.Lock()
			d.published = string(b)
			d.mu.Unlock()
		}
	}
	docs, err := d.p.Shared.ListDocs(ctx, "bans/")
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("bans: reading other servers' bans", "err", err)
		}
		return
	}
	now := d.now()
	seen := map[string]bool{}
	for _, info := range docs {
		if info.Name == d.docName() {
			continue
		}
		seen[info.Name] = true
		if old, ok := d.peerDocs[info.Name]; ok && old.version == info.Version {
			continue
		}
		b, v, err := d.p.Shared.ReadDoc(ctx, info.Name)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("bans: reading other servers' bans", "doc", info.Name, "err", err)
			}
			continue
		}
		var doc shareDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			d.log.Warn("bans: unreadable document", "doc", info.Name, "err", err)
			continue
		}
		if doc.expired(now, d.p.Window) && now.Sub(info.ModTime) > offenceMemory {
			// A process gone for a day: nothing in its document counts.
			_ = d.p.Shared.DeleteDoc(ctx, info.Name)
			continue
		}
		d.peerDocs[info.Name] = peerDoc{version: v, doc: doc}
	}
	for name := range d.peerDocs {
		if !seen[name] {
			delete(d.peerDocs, name)
		}
	}
	win := int64(d.p.Window / time.Second)
	merged := &peerState{bans: map[netip.Addr]time.Time{}, fails: map[netip.Addr]failRec{}, users: map[string]failRec{}}
	for _, pd := range d.peerDocs {
		for a, until := range pd.doc.Bans {
			ip, err := netip.ParseAddr(a)
			if err != nil || now.Unix() >= until {
				continue
			}
			if t := time.Unix(until, 0); t.After(merged.bans[ip]) {
				merged.bans[ip] = t
			}
		}
		for a, f := range pd.doc.Fails {
			ip, err := netip.ParseAddr(a)
			if err != nil || now.Unix()-f.Start >= win {
				continue
			}
			cur := merged.fails[ip]
			merged.fails[ip] = failRec{Start: max(cur.Start, f.Start), N: cur.N + f.N}
		}
		for u, f := range pd.doc.Users {
			if now.Unix()-f.Start >= win {
				continue
			}
			cur := merged.users[u]
			merged.users[u] = failRec{Start: max(cur.Start, f.Start), N: cur.N + f.N}
		}
	}
	d.mu.Lock()
	d.peers = merged
	d.mu.Unlock()
}

type peerDoc struct {
	version string
	doc     shareDoc
}

func (doc shareDoc) expired(now time.Time, window time.Duration) bool {
	for _, until := range doc.Bans {
		if now.Unix() < until {
			return false
		}
	}
	for _, f := range doc.Fails {
		if now.Unix()-f.Start < int64(window/time.Second) {
			return false
		}
	}
	return true
}

// snapshot is this process's document, and whether it differs from the
// one last published.
func (d *defender) snapshot() ([]byte, bool) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	doc := shareDoc{Bans: map[string]int64{}, Fails: map[string]failRec{}, Users: map[string]failRec{}}
	for ip, r := range d.addrs {
		if len(doc.Bans)+len(doc.Fails) >= maxPublished {
			break
		}
		if now.Before(r.until) {
			doc.Bans[ip.String()] = r.until.Unix()
		}
		if now.Sub(r.start) < d.p.Window && r.fails > 0 {
			doc.Fails[ip.String()] = failRec{Start: r.start.Unix(), N: r.fails}
		}
	}
	for u, w := range d.users {
		if len(doc.Users) >= maxPublished {
			break
		}
		if now.Sub(w.start) < d.p.Window && w.fails > 0 {
			doc.Users[u] = failRec{Start: w.start.Unix(), N: w.fails}
		}
	}
	b, _ := json.Marshal(doc)
	return b, string(b) != d.published
}

// peerBanCount is the addresses other processes ban now, not banned here.
func (d *defender) peerBanCount(now time.Time) int {
	if d.peers == nil {
		return 0
	}
	n := 0
	for ip, until := range d.peers.bans {
		if r := d.addrs[ip]; now.Before(until) && (r == nil || !now.Before(r.until)) {
			n++
		}
	}
	return n
}
