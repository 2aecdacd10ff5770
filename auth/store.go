package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bucketftp/bucketftp/storage"
)

// StoreConfig configures a Store.
type StoreConfig struct {
	Backend storage.Backend // the unscoped storage users' homes live in
	Logger  *slog.Logger
}

// Store holds the users and logs them in. Its users can be replaced at any
// time (SIGHUP) without affecting sessions already logged in.
type Store struct {
	cfg   StoreConfig
	users atomic.Pointer[map[string]*user]

	mu     sync.Mutex
	quotas map[string]*quota // by user name, shared by that user's sessions

	dummyOnce sync.Once
	dummy     string
}

// NewStore returns a store with no users.
func NewStore(cfg StoreConfig) *Store {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, quotas: map[string]*quota{}}
	empty := map[string]*user{}
	s.users.Store(&empty)
	return s
}

// LoadFile replaces the users with those of a users file. On any error the
// current users stay.
func (s *Store) LoadFile(name string) error {
	users, err := LoadUsersFile(name)
	if err != nil {
		return err
	}
	return s.SetUsers(users)
}

// SetUsers validates users and replaces the current ones with them. On any
// error the current users stay.
func (s *Store) SetUsers(users []User) error {
	m, err := validate(users)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for name, q := range s.quotas {
		if u, ok := m[name]; !ok || u.home != q.home || u.QuotaBytes == 0 {
			delete(s.quotas, name)
		} else {
			q.setLimit(u.QuotaBytes)
		}
	}
	s.mu.Unlock()
	s.users.Store(&m)
	return nil
}

// Len is the number of users.
func (s *Store) Len() int { return len(*s.users.Load()) }

// Authenticate checks a login. Every failure is ErrLoginFailed, whatever
// the reason; an unknown user costs the same hash work as a known one.
func (s *Store) Authenticate(ctx context.Context, name, pass string, remote netip.Addr) (*Account, error) {
	u := (*s.users.Load())[name]
	if u == nil {
		s.dummyOnce.Do(func() { s.dummy, _ = HashPassword("not a password") })
		_, _ = VerifyPassword(s.dummy, pass)
		return nil, ErrLoginFailed
	}
	ok, err := VerifyPassword(u.PasswordHash, pass)
	if err != nil || !ok || !u.allowed(remote) {
		return nil, ErrLoginFailed
	}
	if err := mkdirAll(ctx, s.cfg.Backend, u.home); err != nil {
		return nil, fmt.Errorf("creating home %s: %w", u.home, err)
	}
	a := &Account{User: u.Name, Perms: u.perms, RequireTLS: u.RequireTLS}
	if u.QuotaBytes > 0 {
		a.quota = s.quotaFor(u)
	}
	a.FS = &scoped{base: s.cfg.Backend, home: u.home, perms: u.perms, q: a.quota}
	return a, nil
}

func (s *Store) quotaFor(u *user) *quota {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.quotas[u.Name]
	if q == nil {
		q = &quota{base: s.cfg.Backend, home: u.home}
		q.setLimit(u.QuotaBytes)
		s.quotas[u.Name] = q
	}
	return q
}

// mkdirAll creates dir and its parents, ignoring those that exist.
func mkdirAll(ctx context.Context, b storage.Backend, dir string) error {
	if dir == "/" {
		return nil
	}
	cur := ""
	for _, part := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		cur = path.Join("/", cur, part)
		e, err := b.Stat(ctx, cur)
		if err == nil {
			if !e.IsDir {
				return storage.E("mkdir", cur, storage.ErrExist, errors.New("a file is in the way"))
			}
			continue
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if err := b.Mkdir(ctx, cur); err != nil && !errors.Is(err, storage.ErrExist) {
			return err
		}
	}
	return nil
}

// RequiresTLS reports whether user must log in over TLS (require_tls in
// the users file). The FTP front end asks at USER, before a password is
// sent in clear.
func (s *Store) RequiresTLS(name string) bool {
	u := (*s.users.Load())[name]
	return u != nil && u.RequireTLS
}
