package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/bucketftp/bucketftp/charset"
)

// User is one entry of the users file:
//
//	users:
//	  - name: acme
//	    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$..."   # or bcrypt
//	    home: /partners/acme        # the user's "/"; default /<name>
//	    permissions: [write, list]  # default: all
//	    quota_bytes: 1073741824     # default: none
//	    allowed_cidrs: [203.0.113.0/24, 2001:db8::/32, 198.51.100.7]
//	    require_tls: true
//	    bandwidth_up: 1048576       # bytes/s, all the user's sessions; default --bandwidth-up
//	    bandwidth_down: 1048576
type User struct {
	Name         string   `yaml:"name" json:"name,omitempty"`
	PasswordHash string   `yaml:"password_hash" json:"password_hash,omitempty"`
	Home         string   `yaml:"home" json:"home,omitempty"`               // under the storage root; the user's "/"; default /<name>
	Permissions  []string `yaml:"permissions" json:"permissions"`           // nil: all
	QuotaBytes   int64    `yaml:"quota_bytes" json:"quota_bytes,omitempty"` // 0: no quota
	AllowedCIDRs []string `yaml:"allowed_cidrs" json:"allowed_cidrs,omitempty"`
	RequireTLS   bool     `yaml:"require_tls" json:"require_tls,omitempty"`
	// NameEncoding is the character set the user's client sends names in
	// ("" for the server's default; see charset.Names).
	NameEncoding string `yaml:"name_encoding" json:"name_encoding,omitempty"`
	// ASCII is what TYPE A does for this user: "convert" (line endings,
	// RFC 959), "binary" (bytes unchanged) or "" for the server's default.
	ASCII string `yaml:"ascii" json:"ascii,omitempty"`
	// BandwidthUp and BandwidthDown limit the user's uploads and downloads
	// in bytes per second, all their sessions together; 0 takes the
	// server's default (--bandwidth-up, --bandwidth-down), -1 is no limit.
	BandwidthUp   int64 `yaml:"bandwidth_up" json:"bandwidth_up,omitempty"`
	BandwidthDown int64 `yaml:"bandwidth_down" json:"bandwidth_down,omitempty"`
	// StorageRef is the user's own storage (storage, credentials_file,
	// access_key_env, secret_key_env; see StorageRef); their home is in
	// it, "/" by default. Without it the home is in the server's storage.
	StorageRef `yaml:",inline"`
	// Mounts are virtual folders: other storages, or directories of the
	// server's, shown at paths of the user's tree.
	Mounts []MountSpec `yaml:"mounts" json:"mounts,omitempty"`
}

type usersFile struct {
	Users []User `yaml:"users"`
}

// user is a validated User, ready for logins.
type user struct {
	User
	home  string // clean, absolute
	perms Permission
	cidrs []netip.Prefix // IPv4 prefixes are plain IPv4, never v4-mapped
}

// ParseUsers reads and validates a users file's contents, reporting every
// problem at once. Unknown keys are errors, so a misspelt key cannot
// silently drop a restriction.
func ParseUsers(b []byte) ([]User, error) {
	users, err := parseUsers(b)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return users, nil
}

// LoadUsersFile reads and validates a users file.
func LoadUsersFile(name string) ([]User, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	users, err := parseUsers(b)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", name, err)
	}
	return users, nil
}

func parseUsers(b []byte) ([]User, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f usersFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty")
		}
		return nil, err
	}
	if len(f.Users) == 0 {
		// Most likely a file caught mid-save: refuse it rather than lock
		// everyone out.
		return nil, errors.New("no users")
	}
	if _, err := validate(f.Users); err != nil {
		return nil, err
	}
	return f.Users, nil
}

// validate checks users and indexes them by name. Every message names the
// entry's index and name.
func validate(users []User) (map[string]*user, error) {
	var errs []error
	out := make(map[string]*user, len(users))
	index := make(map[string]int, len(users))
	for i, u := range users {
		where := fmt.Sprintf("users[%d] (%s)", i, u.Name)
		if u.Name == "" {
			where = fmt.Sprintf("users[%d]", i)
		}
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, a...)))
		}

		switch j, dup := index[u.Name]; {
		case u.Name == "":
			bad("name is empty")
		case strings.ContainsFunc(u.Name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			bad("name must not contain spaces or control characters")
		case dup:
			bad("duplicate name (also users[%d])", j)
		}

		if u.PasswordHash == "" {
			bad("password_hash is missing (make one with: bucketftp hash-password)")
		} else if err := checkHash(u.PasswordHash); err != nil {
			bad("password_hash: %v", err)
		}

		home, err := cleanHome(u)
		if err != nil {
			bad("%v", err)
		}

		perms, err := ParsePermissions(u.Permissions)
		switch {
		case u.Permissions != nil && len(u.Permissions) == 0:
			bad("permissions is empty: list some, or leave it out for all")
		case err != nil:
			bad("permissions: %v", err)
		}

		if u.NameEncoding != "" {
			if _, err := charset.Canonical(u.NameEncoding); err != nil {
				bad("name_encoding: %v", err)
			}
		}
		if u.ASCII != "" && u.ASCII != "convert" && u.ASCII != "binary" {
			bad("ascii must be convert or binary, not %q", u.ASCII)
		}

		if u.QuotaBytes < 0 {
			bad("quota_bytes must not be negative")
		}
		for _, err := range checkStorage(u) {
			bad("%v", err)
		}
		if u.BandwidthUp < Unlimited || u.BandwidthDown < Unlimited {
			bad("bandwidth_up and bandwidth_down must be bytes per second, 0 for the server's default or -1 for none")
		}

		var cidrs []netip.Prefix
		for _, c := range u.AllowedCIDRs {
			p, err := parseCIDR(c)
			if err != nil {
				bad("allowed_cidrs: %v", err)
				continue
			}
			cidrs = append(cidrs, p)
		}

		if _, dup := index[u.Name]; !dup {
			index[u.Name] = i
			out[u.Name] = &user{User: u, home: home, perms: perms, cidrs: cidrs}
		}
	}
	return out, errors.Join(errs...)
}

// cleanHome returns u's home in clean absolute form. A home given with ".."
// is refused rather than cleaned: it is a mistake, or an attempt to reach
// another user's files.
func cleanHome(u User) (string, error) {
	home := u.Home
	if home == "" && u.Storage != "" {
		return "/", nil // a storage of their own: all of it
	}
	if home == "" {
		if strings.Contains(u.Name, "/") || u.Name == "." || u.Name == ".." {
			return "", fmt.Errorf("name %q cannot be a directory: set home", u.Name)
		}
		home = "/" + u.Name
	}
	if strings.ContainsFunc(home, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }) {
		return "", fmt.Errorf("home %q has a backslash or control character", home)
	}
	for _, part := range strings.Split(home, "/") {
		if part == ".." {
			return "", fmt.Errorf("home %q must not contain a \"..\" element", home)
		}
	}
	return path.Clean("/" + home), nil
}

// parseCIDR accepts a CIDR or a bare address. IPv4-mapped IPv6 forms are
// turned into plain IPv4 so they match what allowed compares.
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix needs at least 96 bits", s)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// allowed reports whether remote may log in as u. IPv4-mapped IPv6
// addresses (from a dual-stack listener) match IPv4 prefixes.
func (u *user) allowed(remote netip.Addr) bool {
	if len(u.cidrs) == 0 {
		return true
	}
	remote = remote.Unmap().WithZone("")
	for _, p := range u.cidrs {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}
