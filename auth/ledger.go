package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// A ledger is one user's quota usage shared by every server process on a
// store: a document ("quota/<user>.json" in the store's shared area) with
// the bytes stored in the home and, per process, the space it holds for
// uploads it is running. A process accepts an upload's bytes only within
// what it holds, and takes more only by a conditional write that sees
// every other process's holds, so parallel uploads through different
// processes together never take the stored total over the quota.
//
// Holds lapse holdTTL after they were last written, so a process that dies
// does not keep space forever; a live one renews them while its uploads
// run. What can still get past the quota: an upload that completed on a
// process killed before it wrote the change (the next measurement, after
// the document is removed, counts it).
//
// A store without conditional writes gets each process's own count, as
// without a ledger, and a warning.
type ledger struct {
	docs    storage.SharedDocs
	name    string
	replica string
	log     *slog.Logger
	now     func() time.Time

	// The rest is guarded by the usage's mutex.
	off      bool // the store cannot write conditionally
	loaded   bool
	readAt   time.Time
	doc      usageDoc
	version  string
	held     int64 // what this process holds in doc
	unsynced int64 // changes in stored bytes not yet written to doc
}

type usageDoc struct {
	Home   string          `json:"home"`
	Stored int64           `json:"stored"`
	Holds  map[string]hold `json:"holds,omitempty"`
}

type hold struct {
	Bytes int64 `json:"bytes"`
	Until int64 `json:"until"` // Unix seconds
}

const (
	// holdTTL is how long a hold lasts without being written again.
	holdTTL = 2 * time.Minute
	// holdGrant is how much more than it needs a process takes when it
	// holds space (at most a quarter of what is left), so a large upload
	// writes the document about once per holdGrant bytes, not per read.
	holdGrant = 8 << 20
	// ledgerRefresh is how old a read of the document may be when a new
	// upload starts or AVBL asks.
	ledgerRefresh = 2 * time.Second
	// ledgerTries bounds the attempts of one change against other
	// processes changing the document at the same time.
	ledgerTries = 16
)

func newLedger(docs storage.SharedDocs, user, replica string, log *slog.Logger) *ledger {
	return &ledger{docs: docs, name: "quota/" + url.PathEscape(user) + ".json", replica: replica, log: log, now: time.Now}
}

func (l *ledger) on() bool { return l != nil && !l.off }

// used is the stored bytes as of a recent read, with this process's
// changes not yet written.
func (l *ledger) used(ctx context.Context, u *usage) (int64, error) {
	if !l.loaded || l.now().Sub(l.readAt) > ledgerRefresh {
		if err := l.load(ctx, u); err != nil {
			return 0, err
		}
		if l.off {
			return u.stored, nil
		}
	}
	return max(l.doc.Stored+l.unsynced, 0), nil
}

// load reads the document, creating it from a walk of the home when there
// is none or when it measured another home.
func (l *ledger) load(ctx context.Context, u *usage) error {
	for range ledgerTries {
		b, v, err := l.docs.ReadDoc(ctx, l.name)
		var d usageDoc
		switch {
		case errors.Is(err, storage.ErrNotFound):
			v = ""
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(b, &d); err != nil {
				l.log.Warn("quota: unreadable usage document, measuring again", "doc", l.name, "err", err)
				d = usageDoc{}
			}
		}
		if v != "" && d.Home == u.home {
			l.doc, l.version, l.loaded, l.readAt = d, v, true, l.now()
			return nil
		}
		// Links out of the home are not followed (scoped.confine), so
		// another user's files never count in this one's usage.
		n, err := walkSize(storage.WithConfinement(ctx, u.home), u.base, u.home)
		if err != nil {
			return err
		}
		d = usageDoc{Home: u.home, Stored: n}
		nb, _ := json.Marshal(d)
		nv, err := l.docs.SwapDoc(ctx, l.name, nb, v)
		switch {
		case errors.Is(err, storage.ErrConflict):
			continue // another process measured first: read its document
		case errors.Is(err, storage.ErrNotSupported):
			l.log.Warn("quota: the store has no conditional writes; each server process counts usage on its own", "doc", l.name)
			l.off = true
			u.stored, u.measured = n, true
			return nil
		case err != nil:
			return err
		}
		l.doc, l.version, l.loaded, l.readAt, l.unsynced = d, nv, true, l.now(), 0
		return nil
	}
	return storage.E("quota", l.name, storage.ErrTransient, errors.New("usage document kept changing"))
}

// hold makes sure this process holds need bytes, within limit with what
// the others hold. It takes holdGrant more when it has to write.
func (l *ledger) hold(ctx context.Context, u *usage, need, limit int64) (bool, error) {
	renew := l.held > 0 && time.Unix(l.doc.Holds[l.replica].Until, 0).Sub(l.now()) < holdTTL/2
	if need <= l.held && !renew {
		return true, nil
	}
	if !l.loaded {
		if err := l.load(ctx, u); err != nil {
			return false, err
		}
		if l.off {
			return u.reserveLocal(need, limit), nil
		}
	}
	// A refusal is decided on a fresh read: the others may have given
	// space back since the last one.
	for fresh := false; ; fresh = true {
		ok := true
		err := l.update(ctx, u, func(d *usageDoc, others int64) int64 {
			avail := limit - d.Stored - others
			if need > avail {
				ok = false
				return l.held // keep what is held; write only the changes
			}
			// Ahead of the need: up to holdGrant, but at most a quarter
			// of what is left, so that near the quota one process does
			// not hold what another needs.
			return need + min(holdGrant, (avail-need)/4)
		})
		if l.off {
			return err == nil && u.reserveLocal(need, limit), err
		}
		if err != nil || ok || fresh {
			return ok && err == nil, err
		}
		l.loaded = false
		if err := l.load(ctx, u); err != nil {
			return false, err
		}
	}
}

// change records delta stored bytes and gives back held space this
// process's running uploads no longer need. A failure is logged and the
// change kept for the next write.
func (l *ledger) change(ctx context.Context, u *usage, delta int64) {
	l.unsynced += delta
	if !l.loaded {
		return // the first read measures the home, which sees the change
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := l.update(ctx, u, func(d *usageDoc, others int64) int64 {
		return min(l.held, max(u.inflight, 0))
	})
	if err != nil {
		l.log.Warn("quota: writing usage, kept for the next write", "doc", l.name, "err", err)
	}
}

// update rewrites the document with this process's changes and the hold
// that next chooses, from the document as last read and, on a lost race,
// as read again.
func (l *ledger) update(ctx context.Context, u *usage, next func(d *usageDoc, others int64) int64) error {
	for try := range ledgerTries {
		if try > 0 {
			wait := time.Duration(rand.Int64N(int64(5*time.Millisecond) << min(try, 7)))
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
			l.loaded = false
			if err := l.load(ctx, u); err != nil {
				return err
			}
		}
		now := l.now()
		d := usageDoc{Home: l.doc.Home, Stored: max(l.doc.Stored+l.unsynced, 0), Holds: map[string]hold{}}
		var others int64
		for id, h := range l.doc.Holds {
			if id == l.replica || now.Unix() >= h.Until {
				continue // lapsed holds of others are dropped
			}
			d.Holds[id] = h
			others += h.Bytes
		}
		held := next(&d, others)
		if held > 0 {
			d.Holds[l.replica] = hold{Bytes: held, Until: now.Add(holdTTL).Unix()}
		}
		if d.Stored == l.doc.Stored && held == l.held && (held == 0 || l.doc.Holds[l.replica].Until-now.Unix() > int64(holdTTL/2/time.Second)) {
			return nil // nothing to write
		}
		b, _ := json.Marshal(d)
		v, err := l.docs.SwapDoc(ctx, l.name, b, l.version)
		switch {
		case errors.Is(err, storage.ErrConflict):
			continue
		case errors.Is(err, storage.ErrNotSupported):
			l.log.Warn("quota: the store has no conditional writes; each server process counts usage on its own", "doc", l.name)
			l.off = true
			u.stored, u.measured = d.Stored, true
			return nil
		case err != nil:
			return err
		}
		l.doc, l.version, l.readAt, l.held, l.unsynced = d, v, now, held, 0
		return nil
	}
	return storage.E("quota", l.name, storage.ErrTransient, errors.New("usage document kept changing"))
}
