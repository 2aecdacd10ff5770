package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/bucketftp/bucketftp/auth"
)

// identity is the options of the sources besides the users file: an HTTP
// auth hook and an LDAP directory (docs/identity.md).
type identity struct {
	AuthHook              string
	AuthHookTimeout       time.Duration
	AuthHookCache         time.Duration
	AuthHookNegativeCache time.Duration
	AuthHookCA            string

	LDAPURL                string
	LDAPStartTLS           bool
	LDAPCA                 string
	LDAPBindDN             string
	LDAPBindPasswordFile   string
	LDAPBaseDN             string
	LDAPUserAttribute      string
	LDAPUserFilter         string
	LDAPHomeAttribute      string
	LDAPHome               string
	LDAPQuotaAttribute     string
	LDAPGroupPermissions   string
	LDAPGroupFilter        string
	LDAPGroupBaseDN        string
	LDAPDefaultPermissions string
	LDAPTimeout            time.Duration
}

// external reports whether a source besides the users file is configured.
func (c *config) external() bool { return c.AuthHook != "" || c.LDAPURL != "" }

// identityProblems checks the identity options without opening anything.
func (c *config) identityProblems() []error {
	var errs []error
	bad := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var avail []auth.Source
	if c.AuthHook != "" {
		avail = append(avail, stub("hook"))
		u, err := url.Parse(c.AuthHook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fmt.Errorf("--auth-hook: want an http:// or https:// URL"))
		}
	} else {
		for _, o := range []struct {
			flag string
			set  bool
		}{{"auth-hook-ca", c.AuthHookCA != ""}} {
			if o.set {
				bad(fmt.Errorf("--%s needs --auth-hook", o.flag))
			}
		}
	}
	if c.LDAPURL != "" {
		avail = append(avail, stub("ldap"))
		if _, err := c.ldapConfig(""); err != nil {
			bad(fmt.Errorf("--ldap-*: %w", err))
		}
	} else {
		for _, o := range []struct {
			flag string
			set  bool
		}{{"ldap-base-dn", c.LDAPBaseDN != ""}, {"ldap-bind-dn", c.LDAPBindDN != ""}, {"ldap-start-tls", c.LDAPStartTLS},
			{"ldap-group-permissions", c.LDAPGroupPermissions != ""}, {"ldap-ca", c.LDAPCA != ""}} {
			if o.set {
				bad(fmt.Errorf("--%s needs --ldap-url", o.flag))
			}
		}
	}
	if _, err := auth.ParseOrder(c.AuthOrder, avail...); err != nil {
		bad(fmt.Errorf("--auth-order %q: %w", c.AuthOrder, err))
	}
	return errs
}

// stub stands for a configured source in identityProblems' order check.
type stub string

func (s stub) Name() string { return string(s) }
func (s stub) Lookup(context.Context, auth.Login) (auth.User, error) {
	return auth.User{}, errors.New("not a source")
}

// ldapConfig is the LDAP source's configuration; checking it does not
// read the CA file (NewLDAP does).
func (c *config) ldapConfig(bindPassword string) (auth.LDAPConfig, error) {
	cfg := auth.LDAPConfig{
		URL: c.LDAPURL, StartTLS: c.LDAPStartTLS, CAFile: c.LDAPCA, BindDN: c.LDAPBindDN, BindPassword: bindPassword,
		BaseDN: c.LDAPBaseDN, UserAttribute: c.LDAPUserAttribute, UserFilter: c.LDAPUserFilter,
		HomeAttribute: c.LDAPHomeAttribute, HomeTemplate: c.LDAPHome, QuotaAttribute: c.LDAPQuotaAttribute,
		GroupFilter: c.LDAPGroupFilter, GroupBaseDN: c.LDAPGroupBaseDN, Timeout: c.LDAPTimeout,
	}
	var errs []error
	groups, err := auth.ParseGroupPermissions(c.LDAPGroupPermissions)
	if err != nil {
		errs = append(errs, fmt.Errorf("--ldap-group-permissions: %w", err))
	}
	cfg.GroupPermissions = groups
	if c.LDAPDefaultPermissions != "" {
		cfg.DefaultPermissions = strings.Split(c.LDAPDefaultPermissions, ",")
		if _, err := auth.ParsePermissions(cfg.DefaultPermissions); err != nil {
			errs = append(errs, fmt.Errorf("--ldap-default-permissions: %w", err))
		}
	}
	if c.LDAPBindDN == "" && c.LDAPBindPasswordFile != "" {
		errs = append(errs, errors.New("--ldap-bind-password-file needs --ldap-bind-dn"))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	probe := cfg
	probe.CAFile = "" // read by the real NewLDAP only
	if c.LDAPCA != "" && !strings.HasPrefix(c.LDAPURL, "ldaps://") && !c.LDAPStartTLS {
		return cfg, errors.New("--ldap-ca is for ldaps:// or --ldap-start-tls")
	}
	_, err = auth.NewLDAP(probe)
	return cfg, err
}

// identitySources builds the sources in --auth-order.
func identitySources(c *config, getenv func(string) string, log *slog.Logger) ([]auth.Source, error) {
	if !c.external() {
		return nil, nil // the users file alone
	}
	var avail []auth.Source
	if c.AuthHook != "" {
		h, err := auth.NewHook(auth.HookConfig{URL: c.AuthHook, Timeout: c.AuthHookTimeout, Cache: c.AuthHookCache,
			NegativeCache: c.AuthHookNegativeCache, CAFile: c.AuthHookCA, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("--auth-hook: %w", err)
		}
		avail = append(avail, h)
	}
	if c.LDAPURL != "" {
		pw := getenv("BUCKETFTP_LDAP_BIND_PASSWORD")
		if c.LDAPBindPasswordFile != "" {
			b, err := os.ReadFile(c.LDAPBindPasswordFile)
			if err != nil {
				return nil, fmt.Errorf("--ldap-bind-password-file: %w", err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		if c.LDAPBindDN != "" && pw == "" {
			return nil, errors.New("--ldap-bind-dn needs a password: BUCKETFTP_LDAP_BIND_PASSWORD or --ldap-bind-password-file")
		}
		cfg, err := c.ldapConfig(pw)
		if err != nil {
			return nil, err
		}
		cfg.Logger = log
		l, err := auth.NewLDAP(cfg)
		if err != nil {
			return nil, err
		}
		avail = append(avail, l)
	}
	sources, err := auth.ParseOrder(c.AuthOrder, avail...)
	if err != nil {
		return nil, fmt.Errorf("--auth-order: %w", err)
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.Name()
	}
	log.Info("identity sources", "order", strings.Join(names, ","))
	return sources, nil
}
