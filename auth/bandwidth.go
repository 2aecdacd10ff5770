package auth

import (
	"net/netip"
	"sync"

	"golang.org/x/time/rate"
)

// BandwidthConfig is the server's transfer rate limits, in bytes per
// second; 0 is none.
type BandwidthConfig struct {
	// Up and Down are each user's limit for uploads (data the server
	// reads) and downloads (data it writes: RETR and listings) unless
	// their bandwidth_up/bandwidth_down says otherwise. All sessions of a
	// user share it.
	Up, Down int64
	// PerAddress is a further limit, in each direction, shared by all
	// sessions from one client address, whoever they log in as.
	PerAddress int64
}

// Bandwidth is what one login's transfers wait on: in each direction the
// user's token bucket and the client address's, when they have one.
// Empty slices mean no limit.
type Bandwidth struct {
	Up, Down []*rate.Limiter
}

// Unlimited is the bandwidth_up/bandwidth_down value of a user who is not
// limited even where the server has a default.
const Unlimited = -1

// BurstFor is the token bucket size for a limit: a tenth of a second's
// worth, at least 4 KiB (or the whole limit when smaller) and at most
// 1 MiB. A transfer waits in chunks no larger than this.
func BurstFor(limit int64) int {
	b := max(limit/10, min(limit, 4<<10))
	return int(min(b, 1<<20))
}

func newLimiter(limit int64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(limit), BurstFor(limit))
}

// setLimit changes a limiter in place, so sessions holding it follow;
// 0 lifts the limit.
func setLimit(l *rate.Limiter, limit int64) {
	if limit <= 0 {
		l.SetLimit(rate.Inf)
		return
	}
	l.SetLimit(rate.Limit(limit))
	l.SetBurst(BurstFor(limit))
}

// limiters holds the token buckets: one per user name and direction,
// kept across users-file reloads and logins (a reload or a login that
// changes a user's limit changes the bucket their running sessions wait
// on too), and one per client address while it has a session logged in.
// A user's buckets stay while the process runs, so a script that logs in
// for every file cannot start each time with a full bucket; there is one
// pair per user name that ever logged in.
type limiters struct {
	cfg BandwidthConfig

	mu    sync.Mutex
	users map[string]*userBuckets
	addrs map[netip.Addr]*addrBuckets
}

type userBuckets struct {
	up, down *rate.Limiter // nil: not limited in that direction
}

type addrBuckets struct {
	up, down *rate.Limiter
	logins   int
}

func newLimiters(cfg BandwidthConfig) *limiters {
	return &limiters{cfg: cfg, users: map[string]*userBuckets{}, addrs: map[netip.Addr]*addrBuckets{}}
}

// effective is a user's limit in one direction: their own, else the
// server's default; 0 is none.
func effective(own, def int64) int64 {
	switch {
	case own == Unlimited:
		return 0
	case own > 0:
		return own
	}
	return max(def, 0)
}

// reload applies the users file's limits to the buckets of its users
// already seen. Users of other sources get theirs at their next login.
func (l *limiters) reload(users map[string]*user) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, b := range l.users {
		if u, ok := users[name]; ok {
			b.set(effective(u.BandwidthUp, l.cfg.Up), effective(u.BandwidthDown, l.cfg.Down))
		}
	}
}

// set gives the buckets new limits, making the missing ones; 0 lifts a
// limit.
func (b *userBuckets) set(up, down int64) {
	for _, d := range []struct {
		l     **rate.Limiter
		limit int64
	}{{&b.up, up}, {&b.down, down}} {
		switch {
		case *d.l != nil:
			setLimit(*d.l, d.limit)
		case d.limit > 0:
			*d.l = newLimiter(d.limit)
		}
	}
}

// login returns the buckets a login of u from remote waits on, and the
// function that gives the address's back when the login ends.
func (l *limiters) login(u *user, remote netip.Addr) (Bandwidth, func()) {
	up, down := effective(u.BandwidthUp, l.cfg.Up), effective(u.BandwidthDown, l.cfg.Down)
	l.mu.Lock()
	defer l.mu.Unlock()
	var bw Bandwidth
	b := l.users[u.Name]
	if b == nil && (up > 0 || down > 0) {
		b = &userBuckets{}
		l.users[u.Name] = b
	}
	if b != nil {
		b.set(up, down)
		if up > 0 {
			bw.Up = append(bw.Up, b.up)
		}
		if down > 0 {
			bw.Down = append(bw.Down, b.down)
		}
	}
	if l.cfg.PerAddress <= 0 {
		return bw, func() {}
	}
	addr := remote.Unmap().WithZone("")
	a := l.addrs[addr]
	if a == nil {
		a = &addrBuckets{up: newLimiter(l.cfg.PerAddress), down: newLimiter(l.cfg.PerAddress)}
		l.addrs[addr] = a
	}
	a.logins++
	bw.Up = append(bw.Up, a.up)
	bw.Down = append(bw.Down, a.down)
	var once sync.Once
	return bw, func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if a.logins--; a.logins == 0 {
				delete(l.addrs, addr)
			}
		})
	}
}
