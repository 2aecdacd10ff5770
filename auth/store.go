package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// StoreConfig configures a Store.
type StoreConfig struct {
	Backend storage.Backend // the unscoped storage users' homes live in
	Logger  *slog.Logger    // nil: discard
	// Bandwidth is the server's transfer rate limits (users' own
	// bandwidth_up and bandwidth_down override the defaults).
	Bandwidth BandwidthConfig
	// Shared, when set, keeps quota usage in the store for every server
	// process on it (ledger.go); nil counts in this process only.
	Shared storage.SharedDocs
	// Replica names this process in shared documents; default the host
	// name with a random suffix.
	Replica string
	// Sources are asked in order for each login (see Source); UsersFile
	// stands for the users set with SetUsers. nil: the users file alone.
	Sources []Source
	// ResumeWindow is the resume window of users' own storages whose URL
	// sets none (--resume-window; 0: the backends' default).
	ResumeWindow time.Duration
}

// Store holds the users and logs them in. Its users can be replaced at any
// time (SIGHUP) without affecting sessions already logged in.
type Store struct {
	cfg   StoreConfig
	log   *slog.Logger
	dummy atomic.Pointer[string] // verified against for unknown users; costs what the users' hashes cost
	users atomic.Pointer[map[string]*user]

	mu     sync.Mutex
	usages map[string]*usage // by user name, shared by that user's sessions
	bw     *limiters         // token buckets by user name and client address
	st     *storages         // clients of users' own storages

	checks   chan struct{} // slots for password hash computations
	macKey   [32]byte      // per-process key of the remembered checks
	verified sync.Map      // password hash -> [32]byte HMAC of the password that matched it

	verifyHash func(hash, pw string) (bool, error) // VerifyPassword; tests count calls

	sourceTLS sync.Map // user name -> true: their last login from a Source had require_tls
}

// hashSlots is how many argon2id or bcrypt computations run at once. Each
// argon2id check with the default costs takes 19 MiB for tens of
// milliseconds, so a burst of logins waits for a slot instead of taking
// memory without bound.
var hashSlots = min(runtime.GOMAXPROCS(0), 4)

// ReplicaName names this process in documents the processes on one store
// share: the host name (a pod's) with a random suffix, so two processes,
// or one restarted, never write one document.
func ReplicaName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// NewStore returns a store with no users.
func NewStore(cfg StoreConfig) *Store {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Replica == "" {
		cfg.Replica = ReplicaName()
	}
	s := &Store{cfg: cfg, log: log, usages: map[string]*usage{}, bw: newLimiters(cfg.Bandwidth), st: newStorages(log, cfg.ResumeWindow), checks: make(chan struct{}, hashSlots), verifyHash: VerifyPassword}
	_, _ = rand.Read(s.macKey[:])
	empty := map[string]*user{}
	s.users.Store(&empty)
	dummy := dummyHash()
	s.dummy.Store(&dummy)
	return s
}

// LoadFile replaces the users with those of a users file. On any error the
// current users stay and the error says what is wrong, every problem at
// once.
func (s *Store) LoadFile(name string) error {
	users, err := LoadUsersFile(name)
	if err != nil {
		return err
	}
	return s.SetUsers(users)
}

// SetUsers validates users and replaces the current ones with them. On any
// error the current users stay. A user's quota usage carries over when
// their home is unchanged.
func (s *Store) SetUsers(users []User) error {
	m, err := validate(users)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for name, us := range s.usages {
		// A name the file does not have may come from another source
		// (LDAP, the hook): its usage stays; usageOf starts a new one
		// when its home changes.
		if u, ok := m[name]; ok && (u.home != us.home || u.QuotaBytes == 0) {
			delete(s.usages, name)
		}
	}
	s.users.Store(&m)
	s.mu.Unlock()
	s.bw.reload(m)
	hashes := map[string]bool{}
	var list []string
	for _, u := range m {
		hashes[u.PasswordHash] = true
		list = append(list, u.PasswordHash)
	}
	dummy := dummyLike(list)
	s.dummy.Store(&dummy)
	s.verified.Range(func(h, _ any) bool {
		if !hashes[h.(string)] {
			s.verified.Delete(h)
		}
		return true
	})
	return nil
}

// verify checks pass against hash. A password that matched a hash is
// remembered (as an HMAC under a per-process key, never in clear), so the
// next login with it costs a hash comparison instead of another argon2id
// run: scripts that log in for every file stay cheap. A wrong password, an
// unknown user or a changed hash always takes the full computation, so
// timing tells nothing an attacker does not already know.
func (s *Store) verify(ctx context.Context, hash, pass string, remember bool) (bool, error) {
	mac := hmac.New(sha256.New, s.macKey[:])
	mac.Write([]byte(pass))
	var sum [32]byte
	mac.Sum(sum[:0])
	remembered := func() bool {
		if !remember {
			return false
		}
		v, ok := s.verified.Load(hash)
		if !ok {
			return false
		}
		known := v.([32]byte)
		return hmac.Equal(known[:], sum[:])
	}
	if remembered() {
		return true, nil
	}
	select {
	case s.checks <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// Logins that waited for a slot while the same password was being
	// checked (many sessions of one script reconnecting at once) take the
	// result of that check instead of computing it again.
	if remembered() {
		<-s.checks
		return true, nil
	}
	ok, err := s.verifyHash(hash, pass)
	if p, _, _, perr := parseArgon(hash); perr == nil && p.memory >= 4<<10 {
		// The check's memory (19 MiB with the default costs) is garbage
		// now, but it was live when the garbage collector last set its
		// target, which would let the heap grow to twice that before the
		// next collection. Collect now and return the pages, which costs
		// little next to the hash itself.
		debug.FreeOSMemory()
	}
	<-s.checks
	if ok && remember {
		s.verified.Store(hash, sum)
	}
	return ok, err
}

// Len is the number of users.
func (s *Store) Len() int { return len(*s.users.Load()) }

// RequiresTLS reports whether user must log in over TLS (require_tls in
// the users file). The FTP front end asks at USER, before a password is
// sent in clear.
//
// A user of another Source is known only once the password is checked:
// the answer is what their last successful login said, and a login
// without TLS of a user whose settings require it is refused at PASS.
func (s *Store) RequiresTLS(name string) bool {
	u := (*s.users.Load())[name]
	if u == nil {
		_, ok := s.sourceTLS.Load(name)
		return ok
	}
	return u.RequireTLS
}

// Authenticate checks a login and returns the user's account, whose FS is
// their home with their permissions and quota applied; it creates the home
// when missing. The sources are asked in order: a user unknown to one is
// asked of the next, a user one knows is decided by it. Every refusal is
// ErrLoginFailed, whatever the reason (the reason is logged), and a user
// unknown to the users file costs the same hash work as a known one. A
// source that cannot answer makes it ErrUnavailable. Other errors come
// from creating the home.
func (s *Store) Authenticate(ctx context.Context, name, pass string, remote netip.Addr) (*Account, error) {
	sources := s.cfg.Sources
	if len(sources) == 0 {
		sources = []Source{UsersFile}
	}
	l := Login{User: name, Password: pass, Remote: remote, Conn: connOf(ctx)}
	for _, src := range sources {
		var u *user
		var err error
		if src == UsersFile {
			u, err = s.fromFile(ctx, name, pass, remote, len(sources) == 1)
		} else {
			u, err = s.fromSource(ctx, src, l)
		}
		switch {
		case errors.Is(err, ErrUnknownUser):
			continue
		case err != nil:
			return nil, err
		}
		if src != UsersFile {
			if u.RequireTLS { // asked at USER, with the name as typed
				s.sourceTLS.Store(name, true)
			} else {
				s.sourceTLS.Delete(name)
			}
		}
		return s.account(ctx, u, remote, src)
	}
	s.log.Info("login refused", "user", name, "remote", remote, "reason", "unknown user")
	return nil, ErrLoginFailed
}

// fromFile checks a login against the users file. A user it does not have
// is ErrUnknownUser, after the same hash work as a known user's (unless
// other sources follow and the file has no users: then there is nothing
// to hide).
func (s *Store) fromFile(ctx context.Context, name, pass string, remote netip.Addr, only bool) (*user, error) {
	users := *s.users.Load()
	u := users[name]
	if u == nil && !only && len(users) == 0 {
		return nil, ErrUnknownUser
	}
	hash := *s.dummy.Load()
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := s.verify(ctx, hash, pass, u != nil)
	if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
		return nil, err
	}
	// Check the address after the hash, so the time taken says nothing.
	var reason string
	switch {
	case u == nil:
		return nil, ErrUnknownUser
	case err != nil:
		reason = "unusable password hash" // validate makes this unreachable
	case !ok:
		reason = "wrong password"
	case !u.allowed(remote):
		reason = "address not in allowed_cidrs"
	}
	if reason != "" {
		s.log.Info("login refused", "user", name, "remote", remote, "reason", reason)
		return nil, ErrLoginFailed
	}
	return u, nil
}

// account is a validated user's account, whichever source they come from.
func (s *Store) account(ctx context.Context, u *user, remote netip.Addr, src Source) (*Account, error) {
	base, release, err := s.storageOf(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("storage of %s: %w", u.Name, err)
	}
	if err := mkdirAll(ctx, base, u.home); err != nil {
		release()
		return nil, fmt.Errorf("creating home of %s: %w", u.Name, err)
	}
	a := &Account{User: u.Name, Perms: u.perms, RequireTLS: u.RequireTLS, NameEncoding: u.NameEncoding, ASCII: u.ASCII, release: []func(){release}}
	if u.QuotaBytes > 0 {
		a.quota = &quota{limit: u.QuotaBytes, usage: s.usageOf(u), base: base}
	}
	a.FS = &scoped{base: base, home: u.home, perms: u.perms, q: a.quota}
	if err := s.personalise(ctx, a, u, base); err != nil {
		a.Close()
		return nil, fmt.Errorf("storage of %s: %w", u.Name, err)
	}
	bw, releaseBW := s.bw.login(u, remote)
	a.Bandwidth, a.release = bw, append(a.release, releaseBW)
	// Debug: the FTP session logs every login at info with its own context.
	s.log.Debug("login", "user", u.Name, "remote", remote, "home", u.home, "source", src.Name())
	return a, nil
}

func (s *Store) usageOf(u *user) *usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	us := s.usages[u.Name]
	if us == nil || us.home != u.home {
		us = &usage{base: s.cfg.Backend, home: u.home}
		if s.cfg.Shared != nil {
			us.shared = newLedger(s.cfg.Shared, u.Name, s.cfg.Replica, s.log)
		}
		s.usages[u.Name] = us
	}
	return us
}

// mkdirAll makes sure dir exists, creating the missing parts.
func mkdirAll(ctx context.Context, b storage.Backend, dir string) error {
	e, err := b.Stat(ctx, dir)
	switch {
	case err == nil && e.IsDir:
		return nil // the usual case: one call
	case err == nil:
		return storage.E("mkdir", dir, storage.ErrExist, errors.New("a file is in the way"))
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	cur := "/"
	for part := range strings.SplitSeq(strings.TrimPrefix(dir, "/"), "/") {
		cur = path.Join(cur, part)
		if err := b.Mkdir(ctx, cur); err != nil && !errors.Is(err, storage.ErrExist) {
			return err
		}
	}
	if e, err = b.Stat(ctx, dir); err == nil && !e.IsDir {
		return storage.E("mkdir", dir, storage.ErrExist, errors.New("a file is in the way"))
	}
	return err
}
