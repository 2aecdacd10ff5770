package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DirOutbox is an Outbox in a local directory, for local storage:
// DIR/pending/ID.json (written to a temporary file, synced and renamed
// into place), DIR/leases/ID.json (created exclusively; an expired one is
// taken over by renaming it away first, which only one process can do) and
// DIR/dead/ID.json. Processes on one host may share it.
type DirOutbox struct {
	dir   string
	owner string
}

var _ Outbox = (*DirOutbox)(nil)

// NewDirOutbox opens (and makes) an outbox in dir.
func NewDirOutbox(dir string) (*DirOutbox, error) {
	for _, sub := range []string{"pending", "leases", "dead", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("events outbox: %w", err)
		}
	}
	return &DirOutbox{dir: dir, owner: randomMark()}, nil
}

func randomMark() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (o *DirOutbox) path(sub, id string) string { return filepath.Join(o.dir, sub, id+".json") }

// writeFile writes b to name durably: a synced temporary file renamed into
// place, then the directory synced.
func (o *DirOutbox) writeFile(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Join(o.dir, "tmp"), "w-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(name))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (o *DirOutbox) Put(ctx context.Context, id string, b []byte) error {
	if !validID(id) {
		return fmt.Errorf("events outbox: invalid id %q", id)
	}
	return o.writeFile(o.path("pending", id), b)
}

func (o *DirOutbox) Pending(ctx context.Context, limit int) ([]string, error) {
	d, err := os.Open(filepath.Join(o.dir, "pending"))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var ids []string
	for {
		names, err := d.Readdirnames(1000)
		for _, n := range names {
			if id, ok := strings.CutSuffix(n, ".json"); ok && validID(id) {
				ids = append(ids, id)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(ids) > 100*limit { // bounded memory: an older id may wait for a later scan
			break
		}
	}
	slices.Sort(ids)
	return ids[:min(len(ids), limit)], nil
}

func (o *DirOutbox) Read(ctx context.Context, id string) ([]byte, error) {
	f, err := os.Open(o.path("pending", id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxEventSize))
}

func (o *DirOutbox) readLease(id string) (leaseDoc, error) {
	b, err := os.ReadFile(o.path("leases", id))
	if err != nil {
		return leaseDoc{}, err
	}
	var d leaseDoc
	err = json.Unmarshal(b, &d)
	return d, err
}

func (o *DirOutbox) Claim(ctx context.Context, id string, now, until time.Time) (*Lease, error) {
	l := &Lease{ID: id, Until: until}
	name := o.path("leases", id)
	for range 2 {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			l.token = o.owner + "." + randomMark()
			_, err = f.Write(l.doc(l.token))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(name)
				return nil, err
			}
			return l, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		held, err := o.readLease(id)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // released meanwhile
		case err != nil:
			// Unreadable: being written, or damaged. Taken over once old.
			fi, serr := os.Stat(name)
			if serr != nil || now.Sub(fi.ModTime()) < time.Minute {
				return &Lease{ID: id, Until: now.Add(time.Second)}, ErrClaimed
			}
		case held.Until.After(now):
			return &Lease{ID: id, Until: held.Until, Attempts: held.Attempts}, ErrClaimed
		}
		// Expired: only the one process whose rename succeeds takes it.
		stale := name + "." + randomMark() + ".stale"
		if err := os.Rename(name, stale); err != nil {
			return &Lease{ID: id, Until: now.Add(time.Second)}, ErrClaimed
		}
		os.Remove(stale)
		l.Attempts = held.Attempts
	}
	return &Lease{ID: id, Until: now.Add(time.Second)}, ErrClaimed
}

func (o *DirOutbox) Hold(ctx context.Context, l *Lease) error {
	held, err := o.readLease(l.ID)
	if err != nil || held.Owner != l.token {
		return ErrClaimed
	}
	return o.writeFile(o.path("leases", l.ID), l.doc(l.token))
}

func (o *DirOutbox) release(l *Lease) error {
	held, err := o.readLease(l.ID)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && held.Owner != l.token) {
		return nil // expired and taken, or gone: not ours to remove
	}
	return removeMissingOK(o.path("leases", l.ID))
}

func removeMissingOK(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (o *DirOutbox) Done(ctx context.Context, l *Lease) error {
	if err := removeMissingOK(o.path("pending", l.ID)); err != nil {
		return err
	}
	return o.release(l)
}

func (o *DirOutbox) Dead(ctx context.Context, l *Lease, b []byte) error {
	if err := o.writeFile(o.path("dead", l.ID), b); err != nil {
		return err
	}
	return o.Done(ctx, l)
}
