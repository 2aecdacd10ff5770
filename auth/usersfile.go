package auth

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// User is one entry of the users file.
type User struct {
	Name         string   `yaml:"name"`
	PasswordHash string   `yaml:"password_hash"`
	Home         string   `yaml:"home"`        // under the storage root; the user's "/"; default /<name>
	Permissions  []string `yaml:"permissions"` // default: all
	QuotaBytes   int64    `yaml:"quota_bytes"`
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
	RequireTLS   bool     `yaml:"require_tls"`
}

type usersFile struct {
	Users []User `yaml:"users"`
}

// user is a validated User, ready for logins.
type user struct {
	User
	home  string
	perms Permission
	cidrs []netip.Prefix
}

// ParseUsers reads and validates a users file's contents, reporting every
// problem at once.
func ParseUsers(b []byte) ([]User, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f usersFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	if _, err := validate(f.Users); err != nil {
		return nil, err
	}
	return f.Users, nil
}

// LoadUsersFile reads and validates a users file.
func LoadUsersFile(name string) ([]User, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return ParseUsers(b)
}

func validate(users []User) (map[string]*user, error) {
	var errs []error
	out := make(map[string]*user, len(users))
	for i, u := range users {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("users[%d] (%s): %s", i, u.Name, fmt.Sprintf(format, a...)))
		}
		switch {
		case strings.TrimSpace(u.Name) == "" || strings.ContainsAny(u.Name, " \t\r\n"):
			bad("name must be non-empty without spaces")
		case out[u.Name] != nil:
			bad("duplicate name")
		}
		if u.PasswordHash == "" {
			bad("password_hash missing (make one with: bucketftp hash-password)")
		} else if err := checkHash(u.PasswordHash); err != nil {
			bad("%v", err)
		}
		home := u.Home
		if home == "" {
			home = "/" + u.Name
		}
		if strings.Contains(home, "\\") || strings.ContainsRune(home, 0) {
			bad("home %q has a backslash or NUL", u.Home)
		}
		for _, part := range strings.Split(home, "/") {
			if part == ".." {
				bad("home %q must not contain ..", u.Home)
			}
		}
		home = path.Clean("/" + home)
		perms, err := ParsePermissions(u.Permissions)
		if err != nil {
			bad("%v", err)
		}
		if u.QuotaBytes < 0 {
			bad("quota_bytes must not be negative")
		}
		var cidrs []netip.Prefix
		for _, c := range u.AllowedCIDRs {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				a, aerr := netip.ParseAddr(c)
				if aerr != nil {
					bad("allowed_cidrs: %q is not an address or CIDR", c)
					continue
				}
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			cidrs = append(cidrs, p.Masked())
		}
		if _, dup := out[u.Name]; !dup {
			out[u.Name] = &user{User: u, home: home, perms: perms, cidrs: cidrs}
		}
	}
	return out, errors.Join(errs...)
}

func (u *user) allowed(remote netip.Addr) bool {
	if len(u.cidrs) == 0 {
		return true
	}
	remote = remote.Unmap()
	for _, p := range u.cidrs {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}
