package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAPConfig configures an LDAP or Active Directory source
// (docs/identity.md has examples for both).
type LDAPConfig struct {
	URL      string // ldap://host[:port] or ldaps://host[:port]
	StartTLS bool   // upgrade an ldap:// connection with StartTLS before anything is sent
	CAFile   string // PEM certificates trusted besides the system's, for ldaps:// and StartTLS

	// BindDN and BindPassword are the service account that searches for
	// users; empty: anonymous search.
	BindDN, BindPassword string

	BaseDN string // where users are searched (subtree)
	// UserAttribute holds the login name ("uid"; "sAMAccountName" for
	// Active Directory). The entry's value of it is the account's name,
	// so logins that differ only in case (which the directory matches
	// alike) are one user.
	UserAttribute string
	// UserFilter finds the user; {user} is the login name, escaped for a
	// filter. Default: (UserAttribute={user}).
	UserFilter string

	// HomeAttribute is the entry's attribute holding the home; when it is
	// empty or the entry lacks it, HomeTemplate, where {user} is the
	// user's name (default /{user}, as in the users file).
	HomeAttribute, HomeTemplate string
	QuotaAttribute              string // the entry's attribute holding quota_bytes; empty: no quota

	// GroupPermissions gives the members of each group permissions; a
	// user gets those of every group they are in. Groups are found with
	// GroupFilter under GroupBaseDN (default BaseDN), where {dn} is the
	// user's DN and {user} their name, both escaped; without GroupFilter,
	// from the user entry's memberOf (Active Directory, or OpenLDAP's
	// memberof overlay).
	GroupPermissions []GroupPermissions
	GroupBaseDN      string
	GroupFilter      string
	// DefaultPermissions are the permissions of a user in no group of
	// GroupPermissions. nil: every permission when GroupPermissions is
	// empty (as in the users file), none (login refused) otherwise.
	DefaultPermissions []string

	Timeout time.Duration // for connecting and for each request; 0: DefaultLDAPTimeout
	Logger  *slog.Logger  // nil: discard
}

// DefaultLDAPTimeout bounds each LDAP step unless LDAPConfig says.
const DefaultLDAPTimeout = 5 * time.Second

// GroupPermissions maps a group's DN to permission names.
type GroupPermissions struct {
	DN          string
	Permissions []string
}

// ParseGroupPermissions reads --ldap-group-permissions:
// "DN=perm,perm;DN=perm", each DN split from its permissions at its last
// "=", e.g. "cn=ftp-rw,ou=groups,dc=example,dc=org=list,read,write".
func ParseGroupPermissions(s string) ([]GroupPermissions, error) {
	var out []GroupPermissions
	var errs []error
	for item := range strings.SplitSeq(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.LastIndex(item, "=")
		dn, perms := strings.TrimSpace(item[:max(i, 0)]), strings.TrimSpace(item[i+1:])
		if i < 0 || perms == "" || strings.Contains(perms, "=") {
			errs = append(errs, fmt.Errorf("%q: want GROUP-DN=permission,permission", item))
			continue
		}
		if _, err := ldap.ParseDN(dn); err != nil || dn == "" {
			errs = append(errs, fmt.Errorf("%q: %q is not a DN", item, dn))
			continue
		}
		names := strings.Split(perms, ",")
		if _, err := ParsePermissions(names); err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", item, err))
			continue
		}
		out = append(out, GroupPermissions{DN: dn, Permissions: names})
	}
	return out, errors.Join(errs...)
}

// LDAP is a Source that checks logins against an LDAP directory: it
// searches the user (as the service account, or anonymously), then binds
// as the entry found with the login's password. One connection per login,
// every step within the timeout.
type LDAP struct {
	cfg    LDAPConfig
	tls    *tls.Config
	groups []groupPerm
	log    *slog.Logger
}

type groupPerm struct {
	dn    *ldap.DN
	perms []string
}

// NewLDAP checks cfg and returns the source; it does not connect.
func NewLDAP(cfg LDAPConfig) (*LDAP, error) {
	var errs []error
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps"):
		errs = append(errs, fmt.Errorf("ldap URL %q: want ldap://host[:port] or ldaps://host[:port]", redact(cfg.URL)))
	case cfg.StartTLS && u.Scheme == "ldaps":
		errs = append(errs, errors.New("ldap: StartTLS is for ldap:// URLs; ldaps:// is TLS already"))
	}
	if cfg.BaseDN == "" {
		errs = append(errs, errors.New("ldap: a base DN is needed"))
	} else if _, err := ldap.ParseDN(cfg.BaseDN); err != nil {
		errs = append(errs, fmt.Errorf("ldap base DN %q: %w", cfg.BaseDN, err))
	}
	if cfg.UserAttribute == "" {
		cfg.UserAttribute = "uid"
	}
	if cfg.UserFilter == "" {
		cfg.UserFilter = "(" + cfg.UserAttribute + "={user})"
	}
	for _, f := range []struct{ name, v, ph string }{{"user filter", cfg.UserFilter, "{user}"}, {"group filter", cfg.GroupFilter, ""}} {
		if f.v == "" {
			continue
		}
		if f.ph != "" && !strings.Contains(f.v, f.ph) {
			errs = append(errs, fmt.Errorf("ldap %s %q lacks %s", f.name, f.v, f.ph))
		}
		probe := strings.NewReplacer("{user}", "x", "{dn}", "cn=x").Replace(f.v)
		if _, err := ldap.CompileFilter(probe); err != nil {
			errs = append(errs, fmt.Errorf("ldap %s %q: %w", f.name, f.v, err))
		}
	}
	if cfg.HomeTemplate == "" {
		cfg.HomeTemplate = "/{user}"
	}
	if cfg.GroupBaseDN == "" {
		cfg.GroupBaseDN = cfg.BaseDN
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultLDAPTimeout
	}
	l := &LDAP{cfg: cfg, log: cfg.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	for _, g := range cfg.GroupPermissions {
		dn, err := ldap.ParseDN(g.DN)
		if err != nil {
			errs = append(errs, fmt.Errorf("ldap group %q: %w", g.DN, err))
			continue
		}
		l.groups = append(l.groups, groupPerm{dn: dn, perms: g.Permissions})
	}
	if cfg.DefaultPermissions != nil {
		if _, err := ParsePermissions(cfg.DefaultPermissions); err != nil || len(cfg.DefaultPermissions) == 0 {
			errs = append(errs, fmt.Errorf("ldap default permissions: %v", err))
		}
	}
	if u != nil && (u.Scheme == "ldaps" || cfg.StartTLS) {
		host := u.Hostname()
		l.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pool, err := certPool(cfg.CAFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("ldap CA: %w", err))
			}
			l.tls.RootCAs = pool
		}
	} else if cfg.CAFile != "" {
		errs = append(errs, errors.New("ldap: a CA file is for ldaps:// or StartTLS"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

// Name implements Source.
func (l *LDAP) Name() string { return "ldap" }

// Lookup implements Source.
func (l *LDAP) Lookup(ctx context.Context, lg Login) (User, error) {
	conn, err := l.dial(ctx)
	if err != nil {
		return User{}, l.unavailable("connecting", err)
	}
	defer conn.Close()
	// Closing the connection ends any request waiting on it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if l.cfg.BindDN != "" {
		if err := conn.Bind(l.cfg.BindDN, l.cfg.BindPassword); err != nil {
			return User{}, l.unavailable("binding as the service account "+l.cfg.BindDN, err)
		}
	}
	entry, err := l.findUser(conn, lg.User)
	if err != nil {
		return User{}, err
	}
	name := l.nameOf(entry, lg.User)
	perms, err := l.permissions(conn, entry, name)
	if err != nil {
		return User{}, err
	}
	// The password is checked last, so a wrong one and a right one cost
	// the same requests.
	if err := conn.Bind(entry.DN, lg.Password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return User{}, Refused("wrong password (ldap bind " + entry.DN + ")")
		}
		return User{}, l.unavailable("binding as "+entry.DN, err)
	}
	if perms == nil {
		return User{}, Refused("in no group of --ldap-group-permissions")
	}
	return l.settings(entry, name, perms)
}

// namesUsers marks LDAP as a source whose name for a user is the
// account's, also where it differs from the name typed beyond case.
func (l *LDAP) namesUsers() {}

// nameOf is the directory's own name for the user it found for login: the
// (first) value of the user attribute. The directory matched the entry by
// its own rules (case, and in OpenLDAP Unicode compatibility forms such
// as fullwidth letters; another value of a multi-valued attribute; or
// another attribute, with --ldap-user-filter), so whatever was typed, one
// entry is one account, with one home, quota and bandwidth. Only an entry
// without the attribute keeps the name typed.
func (l *LDAP) nameOf(entry *ldap.Entry, login string) string {
	if v := entry.GetAttributeValue(l.cfg.UserAttribute); v != "" {
		return v
	}
	return login
}

func (l *LDAP) dial(ctx context.Context) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: l.cfg.Timeout}
	if dl, ok := ctx.Deadline(); ok {
		d.Deadline = dl
	}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if l.tls != nil && !l.cfg.StartTLS {
		opts = append(opts, ldap.DialWithTLSConfig(l.tls))
	}
	conn, err := ldap.DialURL(l.cfg.URL, opts...)
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(l.cfg.Timeout)
	if l.cfg.StartTLS {
		if err := conn.StartTLS(l.tls); err != nil {
			conn.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return conn, nil
}

// findUser searches the one entry of name; none is ErrUnknownUser, more
// than one a refusal (the filter is ambiguous).
func (l *LDAP) findUser(conn *ldap.Conn, name string) (*ldap.Entry, error) {
	attrs := []string{l.cfg.UserAttribute}
	for _, a := range []string{l.cfg.HomeAttribute, l.cfg.QuotaAttribute} {
		if a != "" {
			attrs = append(attrs, a)
		}
	}
	if len(l.groups) > 0 && l.cfg.GroupFilter == "" {
		attrs = append(attrs, "memberOf")
	}
	filter := strings.ReplaceAll(l.cfg.UserFilter, "{user}", ldap.EscapeFilter(name))
	res, err := conn.Search(ldap.NewSearchRequest(l.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(l.cfg.Timeout/time.Second), false, filter, attrs, nil))
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || (err == nil && len(res.Entries) > 1):
		return nil, Refused("the ldap user filter matches more than one entry")
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil, l.unavailable("searching users", fmt.Errorf("base DN %s does not exist: %w", l.cfg.BaseDN, err))
	case err != nil:
		return nil, l.unavailable("searching users", err)
	case len(res.Entries) == 0:
		return nil, ErrUnknownUser
	}
	return res.Entries[0], nil
}

// permissions are the user's by their groups; nil: none (refused).
func (l *LDAP) permissions(conn *ldap.Conn, entry *ldap.Entry, name string) ([]string, error) {
	if len(l.groups) == 0 {
		if l.cfg.DefaultPermissions != nil {
			return l.cfg.DefaultPermissions, nil
		}
		return []string{}, nil // every permission: settings turns it into nil
	}
	var member []string
	if l.cfg.GroupFilter == "" {
		member = entry.GetAttributeValues("memberOf")
	} else {
		filter := strings.NewReplacer("{dn}", ldap.EscapeFilter(entry.DN), "{user}", ldap.EscapeFilter(name)).Replace(l.cfg.GroupFilter)
		res, err := conn.Search(ldap.NewSearchRequest(l.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			1000, int(l.cfg.Timeout/time.Second), false, filter, []string{"1.1"}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil, l.unavailable("searching groups", err)
		}
		if res != nil {
			for _, e := range res.Entries {
				member = append(member, e.DN)
			}
		}
	}
	var perms []string
	for _, m := range member {
		dn, err := ldap.ParseDN(m)
		if err != nil {
			continue
		}
		for _, g := range l.groups {
			if g.dn.EqualFold(dn) {
				perms = append(perms, g.perms...)
			}
		}
	}
	if perms == nil {
		return l.cfg.DefaultPermissions, nil
	}
	return perms, nil
}

// settings maps the entry onto a users file entry for the account name
// (nameOf).
func (l *LDAP) settings(entry *ldap.Entry, name string, perms []string) (User, error) {
	u := User{Name: name, Permissions: perms}
	if len(perms) == 0 {
		u.Permissions = nil // all
	}
	if l.cfg.HomeAttribute != "" {
		u.Home = entry.GetAttributeValue(l.cfg.HomeAttribute)
	}
	if u.Home == "" {
		if strings.Contains(l.cfg.HomeTemplate, "{user}") && (strings.Contains(u.Name, "/") || u.Name == "." || u.Name == "..") {
			return User{}, fmt.Errorf("ldap: name %q cannot be put in the home template", u.Name)
		}
		u.Home = strings.ReplaceAll(l.cfg.HomeTemplate, "{user}", u.Name)
	}
	if l.cfg.QuotaAttribute != "" {
		if v := entry.GetAttributeValue(l.cfg.QuotaAttribute); v != "" {
			q, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return User{}, fmt.Errorf("ldap: %s of %s is %q, not a number of bytes", l.cfg.QuotaAttribute, entry.DN, v)
			}
			u.QuotaBytes = q
		}
	}
	return u, nil
}

func (l *LDAP) unavailable(step string, err error) error {
	return fmt.Errorf("%w: ldap %s: %s: %w", ErrUnavailable, redact(l.cfg.URL), step, err)
}
