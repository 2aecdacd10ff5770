package auth_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/auth/ldaptest"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

var local = netip.MustParseAddr("127.0.0.1")

// directory is a slapd with a service account and these users:
// alice (homeDirectory /srv/alice, quota 100 bytes in employeeNumber,
// in ftp-rw), bob (no home attribute, in ftp-ro), carol (in no group),
// dave (in both groups).
type directory struct {
	*ldaptest.Server
	service, rw, ro string // DNs
}

const servicePassword = "svc-Pa55"

func newDirectory(t *testing.T) *directory {
	t.Helper()
	s := ldaptest.Start(t)
	d := &directory{Server: s, service: s.AddService(t, "ftp-reader", servicePassword)}
	alice := s.AddUser(t, "alice", "alice-pw", map[string][]string{"homeDirectory": {"/srv/alice"}, "employeeNumber": {"100"}})
	bob := s.AddUser(t, "bob", "bob-pw", nil)
	s.AddUser(t, "carol", "carol-pw", nil)
	dave := s.AddUser(t, "dave", "dave-pw", nil)
	d.rw = s.AddGroup(t, "ftp-rw", alice, dave)
	d.ro = s.AddGroup(t, "ftp-ro", bob, dave)
	return d
}

func (d *directory) config(t *testing.T) auth.LDAPConfig {
	t.Helper()
	groups, err := auth.ParseGroupPermissions(d.rw + "=list,read,write,mkdir;" + d.ro + "=list,read")
	if err != nil {
		t.Fatal(err)
	}
	return auth.LDAPConfig{
		URL: d.URL, BaseDN: "ou=people," + ldaptest.Suffix, BindDN: d.service, BindPassword: servicePassword,
		HomeAttribute: "homeDirectory", HomeTemplate: "/partners/{user}", QuotaAttribute: "employeeNumber",
		GroupPermissions: groups, Timeout: 5 * time.Second,
	}
}

func ldapStore(t *testing.T, cfg auth.LDAPConfig, log *slog.Logger, users ...auth.User) (*auth.Store, *memstore.Store) {
	t.Helper()
	cfg.Logger = log
	l, err := auth.NewLDAP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := memstore.New()
	s := auth.NewStore(auth.StoreConfig{Backend: b, Logger: log, Sources: []auth.Source{auth.UsersFile, l}})
	if err := s.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	return s, b
}

func TestLDAP(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)

	// Groups from memberOf (the memberof overlay; Active Directory has it
	// natively) and from a group search (groupOfNames member).
	memberOf := d.config(t)
	search := d.config(t)
	search.GroupBaseDN, search.GroupFilter = "ou=groups,"+ldaptest.Suffix, "(&(objectClass=groupOfNames)(member={dn}))"
	for name, cfg := range map[string]auth.LDAPConfig{"memberOf": memberOf, "group search": search} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			s, b := ldapStore(t, cfg, log)
			ctx := t.Context()
			ok := []struct {
				user, pw, home string
				perms          auth.Permission
				quota          int64
			}{
				{"alice", "alice-pw", "/srv/alice", auth.PermList | auth.PermRead | auth.PermWrite | auth.PermMkdir, 100},
				{"bob", "bob-pw", "/partners/bob", auth.PermList | auth.PermRead, 0},
				{"dave", "dave-pw", "/partners/dave", auth.PermList | auth.PermRead | auth.PermWrite | auth.PermMkdir, 0},
				{"Alice", "alice-pw", "/srv/alice", auth.PermList | auth.PermRead | auth.PermWrite | auth.PermMkdir, 100},
				// Look-alikes the directory matches to an entry (OpenLDAP folds
				// fullwidth and other compatibility forms) are that entry's
				// account, not new ones with homes and quotas of their own.
				{"ａｌｉｃｅ", "alice-pw", "/srv/alice", auth.PermList | auth.PermRead | auth.PermWrite | auth.PermMkdir, 100},
				{"ｂｏｂ", "bob-pw", "/partners/bob", auth.PermList | auth.PermRead, 0},
			}
			for _, tc := range ok {
				a, err := s.Authenticate(ctx, tc.user, tc.pw, local)
				if err != nil {
					t.Fatalf("%s: %v\n%s", tc.user, err, logs.String())
				}
				if want := path.Base(tc.home); a.User != want || a.Perms != tc.perms {
					t.Errorf("%s: account %s with %v, want %s with %v", tc.user, a.User, a.Perms, want, tc.perms)
				}
				if e, err := b.Stat(ctx, tc.home); err != nil || !e.IsDir {
					t.Errorf("%s: home %s: %+v, %v", tc.user, tc.home, e, err)
				}
				rem, limited, err := a.QuotaRemaining(ctx)
				if err != nil || limited != (tc.quota > 0) || (limited && rem != tc.quota) {
					t.Errorf("%s: quota %d, %v, %v; want %d", tc.user, rem, limited, err, tc.quota)
				}
			}
			alice, err := s.Authenticate(ctx, "alice", "alice-pw", local)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := alice.FS.Put(ctx, "/big", strings.NewReader(strings.Repeat("x", 101)), 101); !errors.Is(err, storage.ErrQuota) {
				t.Errorf("upload past the directory's quota: %v", err)
			}
			if err := alice.FS.Remove(ctx, "/big"); !errors.Is(err, storage.ErrPermission) {
				t.Errorf("delete without the permission: %v", err)
			}

			refused := []struct{ name, user, pw string }{
				{"wrong password", "alice", "bob-pw"},
				{"empty password", "alice", ""},
				{"unknown user", "zed", "alice-pw"},
				{"in no mapped group", "carol", "carol-pw"},
				{"filter injection", "*)(uid=*", "alice-pw"},
				{"filter injection closing", "alice)(|(uid=*", "alice-pw"},
				{"wildcard", "*", "alice-pw"},
				{"wildcard matching one user", "ali*", "alice-pw"},
				{"wildcard in a group filter", "dav*", "dave-pw"},
				{"another user's password", "bob", "alice-pw"},
			}
			for _, tc := range refused {
				a, err := s.Authenticate(ctx, tc.user, tc.pw, local)
				if a != nil || !errors.Is(err, auth.ErrLoginFailed) || err.Error() != auth.ErrLoginFailed.Error() {
					t.Errorf("%s: %v, %v; want exactly ErrLoginFailed", tc.name, a, err)
				}
			}
			for _, secret := range []string{"alice-pw", "bob-pw", "carol-pw", servicePassword} {
				if strings.Contains(logs.String(), secret) {
					t.Fatalf("a password is in the log:\n%s", logs.String())
				}
			}
			for _, want := range []string{`user=zed remote=127.0.0.1 reason="unknown user"`, `user=carol remote=127.0.0.1 source=ldap reason="in no group`, `user=alice remote=127.0.0.1 source=ldap reason="wrong password`} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
		})
	}

	t.Run("anonymous search", func(t *testing.T) {
		t.Parallel()
		cfg := d.config(t)
		cfg.BindDN, cfg.BindPassword = "", ""
		s, _ := ldapStore(t, cfg, nil)
		if _, err := s.Authenticate(t.Context(), "bob", "bob-pw", local); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("no group mapping", func(t *testing.T) {
		t.Parallel()
		cfg := d.config(t)
		cfg.GroupPermissions = nil
		s, _ := ldapStore(t, cfg, nil)
		a, err := s.Authenticate(t.Context(), "carol", "carol-pw", local)
		if err != nil || a.Perms != auth.PermAll {
			t.Fatalf("without group mapping: %v, %v; want every permission", a, err)
		}
		cfg.DefaultPermissions = []string{"list"}
		s, _ = ldapStore(t, cfg, nil)
		if a, err := s.Authenticate(t.Context(), "carol", "carol-pw", local); err != nil || a.Perms != auth.PermList {
			t.Fatalf("with default permissions list: %v, %v", a, err)
		}
	})

	t.Run("wrong service password", func(t *testing.T) {
		t.Parallel()
		cfg := d.config(t)
		cfg.BindPassword = "nope"
		s, _ := ldapStore(t, cfg, nil)
		if _, err := s.Authenticate(t.Context(), "bob", "bob-pw", local); !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("%v; want ErrUnavailable", err)
		}
	})

	t.Run("users file first", func(t *testing.T) {
		t.Parallel()
		// A users file entry named like a directory user decides alone: the
		// directory's password does not let them in (no shadowing).
		s, _ := ldapStore(t, d.config(t), nil, auth.User{Name: "alice", PasswordHash: mustHash(t, "file-pw"), Home: "/file/alice"})
		if _, err := s.Authenticate(t.Context(), "alice", "alice-pw", local); !errors.Is(err, auth.ErrLoginFailed) {
			t.Fatalf("directory password of a users file entry: %v; want ErrLoginFailed", err)
		}
		if a, err := s.Authenticate(t.Context(), "alice", "file-pw", local); err != nil || a.Perms != auth.PermAll {
			t.Fatalf("users file password: %v, %v", a, err)
		}
		// The directory's spelling of another case is not a way in either.
		if _, err := s.Authenticate(t.Context(), "ALICE", "alice-pw", local); !errors.Is(err, auth.ErrLoginFailed) {
			t.Fatalf("ALICE with the directory's password: %v; want ErrLoginFailed", err)
		}
		if a, err := s.Authenticate(t.Context(), "bob", "bob-pw", local); err != nil || a.Perms != auth.PermList|auth.PermRead {
			t.Fatalf("a user not in the file is asked of the directory: %v, %v", a, err)
		}
	})

	t.Run("StartTLS", func(t *testing.T) {
		t.Parallel()
		cfg := d.config(t)
		cfg.StartTLS = true
		s, _ := ldapStore(t, cfg, nil)
		if _, err := s.Authenticate(t.Context(), "bob", "bob-pw", local); !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("StartTLS with a certificate from an unknown CA: %v; want ErrUnavailable", err)
		}
		cfg.CAFile = d.CAFile
		s, _ = ldapStore(t, cfg, nil)
		if _, err := s.Authenticate(t.Context(), "bob", "bob-pw", local); err != nil {
			t.Fatalf("StartTLS with the CA: %v", err)
		}
		if _, err := s.Authenticate(t.Context(), "bob", "wrong", local); !errors.Is(err, auth.ErrLoginFailed) {
			t.Fatalf("StartTLS, wrong password: %v", err)
		}
	})

	t.Run("ldaps", func(t *testing.T) {
		t.Parallel()
		cfg := d.config(t)
		cfg.URL = d.LDAPS
		s, _ := ldapStore(t, cfg, nil)
		if _, err := s.Authenticate(t.Context(), "bob", "bob-pw", local); !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("ldaps with a certificate from an unknown CA: %v; want ErrUnavailable", err)
		}
		cfg.CAFile = d.CAFile
		s, _ = ldapStore(t, cfg, nil)
		if a, err := s.Authenticate(t.Context(), "alice", "alice-pw", local); err != nil || a.User != "alice" {
			t.Fatalf("ldaps with the CA: %v, %v", a, err)
		}
	})
}

// TestLDAPUnresponsive: a server that accepts connections but never
// answers refuses the login within the timeout.
func TestLDAPUnresponsive(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // read nothing, answer nothing
		}
	}()
	s, _ := ldapStore(t, auth.LDAPConfig{URL: "ldap://" + l.Addr().String(), BaseDN: "dc=example,dc=org", Timeout: 300 * time.Millisecond}, nil)
	start := time.Now()
	if _, err := s.Authenticate(t.Context(), "bob", "bob-pw", local); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("%v; want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("refused after %v with a 300ms timeout", took)
	}
}

// TestLDAPServerDown: a directory that stops answering refuses logins
// (ErrUnavailable) quickly; it never lets one through.
func TestLDAPServerDown(t *testing.T) {
	t.Parallel()
	d := newDirectory(t)
	s, _ := ldapStore(t, d.config(t), nil)
	if _, err := s.Authenticate(t.Context(), "bob", "bob-pw", local); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	for _, tc := range []struct{ user, pw string }{{"bob", "bob-pw"}, {"bob", "wrong"}, {"zed", "x"}} {
		start := time.Now()
		a, err := s.Authenticate(t.Context(), tc.user, tc.pw, local)
		if a != nil || !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("%s with slapd stopped: %v, %v; want ErrUnavailable", tc.user, a, err)
		}
		if took := time.Since(start); took > 6*time.Second {
			t.Fatalf("refused after %v", took)
		}
	}
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseGroupPermissions(t *testing.T) {
	t.Parallel()
	got, err := auth.ParseGroupPermissions(" cn=ftp-rw,ou=groups,dc=example,dc=org=list,read,write ; CN=Ftp RO,OU=Groups,DC=corp,DC=example=read ;")
	if err != nil || len(got) != 2 || got[0].DN != "cn=ftp-rw,ou=groups,dc=example,dc=org" || strings.Join(got[0].Permissions, ",") != "list,read,write" ||
		got[1].DN != "CN=Ftp RO,OU=Groups,DC=corp,DC=example" || strings.Join(got[1].Permissions, ",") != "read" {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"cn=ftp", "cn=ftp=", "notadn=read", "cn=ftp,dc=x=root", "=read"} {
		if _, err := auth.ParseGroupPermissions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNewLDAPBadConfig(t *testing.T) {
	t.Parallel()
	base := auth.LDAPConfig{URL: "ldap://127.0.0.1:389", BaseDN: "dc=example,dc=org"}
	for name, change := range map[string]func(*auth.LDAPConfig){
		"http URL":            func(c *auth.LDAPConfig) { c.URL = "http://x" },
		"no base":             func(c *auth.LDAPConfig) { c.BaseDN = "" },
		"bad base":            func(c *auth.LDAPConfig) { c.BaseDN = "not a dn" },
		"filter without user": func(c *auth.LDAPConfig) { c.UserFilter = "(uid=alice)" },
		"broken filter":       func(c *auth.LDAPConfig) { c.UserFilter = "(uid={user}" },
		"StartTLS on ldaps":   func(c *auth.LDAPConfig) { c.URL, c.StartTLS = "ldaps://x", true },
		"CA without TLS":      func(c *auth.LDAPConfig) { c.CAFile = "/etc/hostname" },
		"bad default":         func(c *auth.LDAPConfig) { c.DefaultPermissions = []string{"root"} },
	} {
		c := base
		change(&c)
		if _, err := auth.NewLDAP(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := auth.NewLDAP(base); err != nil {
		t.Fatal(err)
	}
}
