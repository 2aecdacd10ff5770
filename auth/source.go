package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A UsersSource is where a users file is read from: a file on disk
// (FileSource) or an object in a bucket (s3store.Object).
type UsersSource interface {
	// Fetch returns the content and its version (a hash of the content,
	// an ETag) unless the version is still prev; then changed is false
	// and b nil. An empty prev always reads.
	Fetch(ctx context.Context, prev string) (b []byte, version string, changed bool, err error)
}

// MaxUsersFileSize bounds what a UsersSource reads, so a wrong path or key
// cannot make the server take an arbitrary amount of memory.
const MaxUsersFileSize = 16 << 20

// settleDelay is how long FileSource waits before reading a changed file a
// second time.
const settleDelay = 50 * time.Millisecond

// FileSource is a users file on disk. Each Fetch opens the path anew, so a
// file replaced by a rename, or a Kubernetes Secret or ConfigMap volume
// whose ..data symlink was swapped to a new directory, is read in its new
// version. The version is a SHA-256 of the content: only a real change
// counts, whatever happened to the file's times. A change is taken only
// when a second read settleDelay later sees the same content, so a file
// caught while an editor writes it in place waits for the next poll. An
// empty file is never taken: it is what an in-place rewrite shows between
// truncating and writing (an empty users file would be refused anyway).
type FileSource string

// Fetch implements UsersSource.
func (f FileSource) Fetch(ctx context.Context, prev string) ([]byte, string, bool, error) {
	b, v, err := f.read()
	if err != nil || v == prev || len(b) == 0 {
		return nil, prev, false, err
	}
	select {
	case <-time.After(settleDelay):
	case <-ctx.Done():
		return nil, prev, false, ctx.Err()
	}
	_, again, err := f.read()
	if err != nil || again != v {
		return nil, prev, false, err // still being written
	}
	return b, v, true, nil
}

func (f FileSource) read() ([]byte, string, error) {
	file, err := os.Open(string(f))
	if err != nil {
		return nil, "", err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, MaxUsersFileSize+1))
	if err != nil {
		return nil, "", err
	}
	if len(b) > MaxUsersFileSize {
		return nil, "", fmt.Errorf("%s: larger than %d bytes", string(f), MaxUsersFileSize)
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

// UsersReloader keeps a Store's users those of a UsersSource: loaded at
// start (Load), again when the source's version changes (Check, polled)
// and when asked (Reload, on SIGHUP). A version that cannot be read or is
// not a valid users file keeps the previous users; the failure is logged
// and counted once per version (once per outage for read errors), not at
// every poll.
type UsersReloader struct {
	store *Store
	src   UsersSource
	name  string // the source as logged: a path, or s3://bucket/key
	log   *slog.Logger

	mu      sync.Mutex // one fetch at a time
	version string     // of the content last tried, valid or not
	failing bool       // the last fetch failed

	ok, failed atomic.Int64
}

// NewUsersReloader returns a reloader of s from src; name is how the
// source appears in logs and errors, so it must carry no secret.
func NewUsersReloader(s *Store, src UsersSource, name string, log *slog.Logger) *UsersReloader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &UsersReloader{store: s, src: src, name: name, log: log}
}

// Load reads the source and replaces the users, returning any problem
// (every problem of an invalid file at once). It is the start-up load: it
// neither logs nor counts.
func (r *UsersReloader) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.load(ctx, "")
}

// Reload reads the source whether it changed or not, and replaces the
// users when it is valid; trigger (e.g. "sighup") is logged.
func (r *UsersReloader) Reload(ctx context.Context, trigger string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(ctx, ""); ctx.Err() == nil { // not when stopping
		r.report(err, trigger, true)
	}
}

// Check replaces the users when the source's version changed since the
// last read.
func (r *UsersReloader) Check(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.load(ctx, r.version); ctx.Err() == nil {
		r.report(err, "change", false)
	}
}

// Reloads counts the reloads (not the start-up load) that replaced the
// users, and those that failed.
func (r *UsersReloader) Reloads() (ok, failed int64) { return r.ok.Load(), r.failed.Load() }

// errUnchanged is load's result when the version is still prev.
var errUnchanged = errors.New("unchanged")

// errInvalid marks a version that was read but is not a valid users file.
type errInvalid struct{ error }

func (e errInvalid) Unwrap() error { return e.error }

// load fetches a version other than prev and applies it. r.mu is held.
func (r *UsersReloader) load(ctx context.Context, prev string) error {
	b, v, changed, err := r.src.Fetch(ctx, prev)
	if err != nil {
		return fmt.Errorf("users file %s: %w", r.name, err)
	}
	if !changed {
		return errUnchanged
	}
	r.version = v // tried: a broken version is not tried again at every poll
	users, err := parseUsers(b)
	if err == nil {
		err = r.store.SetUsers(users)
	}
	if err != nil {
		return errInvalid{fmt.Errorf("users file %s: %w", r.name, err)}
	}
	return nil
}

// report logs and counts load's result. A read failure during polling is
// reported when it starts, not at every poll; forced reloads report
// every result.
func (r *UsersReloader) report(err error, trigger string, forced bool) {
	wasFailing := r.failing
	unchanged := errors.Is(err, errUnchanged)
	r.failing = err != nil && !unchanged && !errors.As(err, new(errInvalid))
	switch {
	case err == nil:
		r.ok.Add(1)
		r.log.Info("users file reloaded", "file", r.name, "trigger", trigger, "users", r.store.Len())
	case unchanged:
		if wasFailing {
			r.log.Info("users file readable again; unchanged", "file", r.name)
		}
	case r.failing && wasFailing && !forced:
		// Still failing: reported when it started.
	default:
		r.failed.Add(1)
		r.log.Error("users file not reloaded; keeping the previous users", "file", r.name, "trigger", trigger, "err", err)
	}
}
