package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"unicode"
)

// A Source is somewhere logins are checked besides the users file: an
// LDAP directory (LDAP) or an HTTP auth hook (Hook). The Store asks its
// sources in order (StoreConfig.Sources): the first that knows the user
// decides, and a user it knows but refuses (a wrong password) is refused,
// never asked of the next source, so a source later in the order cannot
// shadow a user of an earlier one.
type Source interface {
	// Name is the source's name in --auth-order and in logs.
	Name() string
	// Lookup checks a login and returns the user's settings, with the
	// users file's fields and meanings (Name and PasswordHash are left
	// empty). The error is ErrUnknownUser when the source does not know
	// the user, one made by Refused when it knows them and refuses the
	// login, and one wrapping ErrUnavailable when it cannot tell.
	Lookup(ctx context.Context, l Login) (User, error)
}

// Login is one login attempt as a Source sees it. Its LogValue leaves the
// password out, so logging a Login cannot leak it.
type Login struct {
	User     string
	Password string
	Remote   netip.Addr
	Conn     ConnInfo
}

// LogValue implements slog.LogValuer.
func (l Login) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", l.User), slog.String("remote", l.Remote.String()),
		slog.String("protocol", l.Conn.Protocol()), slog.Bool("tls", l.Conn.TLS))
}

// ConnInfo is what the FTP front end knows of the connection a login comes
// on; it reaches Authenticate in the context (WithConn).
type ConnInfo struct {
	TLS      bool // the control connection is encrypted (implicit FTPS, or AUTH TLS) when PASS is sent
	Implicit bool // it came to the implicit FTPS listener
}

// Protocol is "ftps" for the implicit FTPS listener and "ftp" for the
// plain one (where AUTH TLS may have made the connection TLS: see TLS).
func (c ConnInfo) Protocol() string {
	if c.Implicit {
		return "ftps"
	}
	return "ftp"
}

type connKey struct{}

// WithConn returns ctx carrying c, for Authenticate.
func WithConn(ctx context.Context, c ConnInfo) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func connOf(ctx context.Context) ConnInfo {
	c, _ := ctx.Value(connKey{}).(ConnInfo)
	return c
}

var (
	// ErrUnknownUser is a Source's answer for a user it does not know:
	// the next source is asked.
	ErrUnknownUser = errors.New("unknown user")
	// ErrUnavailable is returned by Authenticate when a source needed for
	// the login could not answer (down, slow, or answering nonsense). The
	// login is refused, never let through; the FTP front end answers 421
	// and does not count it as a failed login.
	ErrUnavailable = errors.New("login service unavailable")
)

// refusal is a source's refusal of a user it knows.
type refusal struct{ reason string }

func (r refusal) Error() string        { return "login refused: " + r.reason }
func (r refusal) Is(target error) bool { return target == ErrLoginFailed }

// Refused is a Source's answer for a user it knows and refuses; reason is
// logged, never shown to the client.
func Refused(reason string) error { return refusal{reason} }

// fileSource is the users file's place in StoreConfig.Sources.
type fileSource struct{}

func (fileSource) Name() string { return "file" }
func (fileSource) Lookup(context.Context, Login) (User, error) {
	return User{}, errors.New("the users file is read by the Store")
}

// UsersFile stands for the Store's own users (SetUsers, LoadFile) in
// StoreConfig.Sources.
var UsersFile Source = fileSource{}

// ParseOrder turns an --auth-order value ("file,ldap,hook") into sources,
// taking each by name from available (the users file is always
// available). Sources not in available are left out, so the default order
// names every source; a name that is not a source, or one named twice, is
// an error.
func ParseOrder(order string, available ...Source) ([]Source, error) {
	byName := map[string]Source{UsersFile.Name(): UsersFile}
	for _, s := range available {
		if s != nil {
			byName[s.Name()] = s
		}
	}
	var out []Source
	seen := map[string]bool{}
	var errs []error
	for n := range strings.SplitSeq(order, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n != "file" && n != "ldap" && n != "hook":
			errs = append(errs, fmt.Errorf("%q is not a source (file, ldap, hook)", n))
		case seen[n]:
			errs = append(errs, fmt.Errorf("%s is named twice", n))
		case byName[n] != nil:
			out = append(out, byName[n])
		}
		seen[n] = true
	}
	for n := range byName {
		if !seen[n] {
			errs = append(errs, fmt.Errorf("%s is configured but not in the order", n))
		}
	}
	return out, errors.Join(errs...)
}

// fromSource asks src about l and validates the settings it returns like
// a users file entry. It returns ErrUnknownUser, ErrLoginFailed (the
// reason logged), an error wrapping ErrUnavailable, or the user.
func (s *Store) fromSource(ctx context.Context, src Source, l Login) (*user, error) {
	if l.User == "" || strings.ContainsFunc(l.User, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return nil, ErrUnknownUser // no users file entry could have this name either
	}
	if l.Password == "" {
		// An LDAP bind with an empty password is an unauthenticated bind
		// that servers accept; no source is asked about one.
		return nil, s.refused(l, src, "empty password")
	}
	set, err := src.Lookup(ctx, l)
	var r refusal
	switch {
	case errors.Is(err, ErrUnknownUser):
		return nil, ErrUnknownUser
	case errors.As(err, &r):
		return nil, s.refused(l, src, r.reason)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		s.log.Error("login refused: source unavailable", "source", src.Name(), "user", l.User, "remote", l.Remote, "err", err)
		return nil, fmt.Errorf("%w (%s)", ErrUnavailable, src.Name())
	}
	// A source may spell the name as its directory does (LDAP matches
	// names regardless of case): that spelling is the account's, so its
	// sessions share one quota whatever case they log in with. A directory
	// (namer) names the account even where its name differs beyond case.
	_, names := src.(namer)
	switch {
	case set.Name == "":
		set.Name = l.User
	case !strings.EqualFold(set.Name, l.User) && !names:
		return nil, s.badSettings(l, src, fmt.Errorf("settings name %q for user %q", set.Name, l.User))
	case set.Name != l.User && (*s.users.Load())[set.Name] != nil:
		// Not a way into the users file entry of that name.
		return nil, s.refused(l, src, "the source's spelling "+set.Name+" is a users file entry")
	}
	u, err := checkSettings(set)
	if err != nil {
		return nil, s.badSettings(l, src, err)
	}
	switch {
	case !u.allowed(l.Remote):
		return nil, s.refused(l, src, "address not in allowed_cidrs")
	case u.RequireTLS && !l.Conn.TLS:
		return nil, s.refused(l, src, "require_tls and the connection is not TLS")
	}
	return u, nil
}

// A namer is a source whose own name for a user is the account's, even
// where it differs from the name typed beyond case: a directory that
// matches names by its own rules, or finds users by another attribute.
type namer interface{ namesUsers() }

// checkSettings validates a source's settings like a users file entry,
// with a hash no password matches (sources check passwords themselves).
func checkSettings(set User) (*user, error) {
	if set.PasswordHash != "" {
		return nil, errors.New("settings carry a password_hash")
	}
	set.PasswordHash = dummyHash()
	m, err := validate([]User{set})
	if err != nil {
		return nil, err
	}
	return m[set.Name], nil
}

func (s *Store) refused(l Login, src Source, reason string) error {
	s.log.Info("login refused", "user", l.User, "remote", l.Remote, "source", src.Name(), "reason", reason)
	return ErrLoginFailed
}

// badSettings refuses a login whose source answered settings that are not
// valid: the source is misconfigured, so the login is unavailable rather
// than wrong.
func (s *Store) badSettings(l Login, src Source, err error) error {
	s.log.Error("login refused: source answered invalid settings", "source", src.Name(), "user", l.User, "remote", l.Remote, "err", err)
	return fmt.Errorf("%w (%s)", ErrUnavailable, src.Name())
}
