package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
	"github.com/bucketftp/bucketftp/storage/mount"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// StorageRef names a storage of a user's own, and the credentials for
// it. It holds no secret: credentials come from a file (a mounted
// Kubernetes Secret in AWS's credentials-file format), from environment
// variables named here, from a profile of the SDK's shared configuration,
// or from the server's own credentials; any of them may assume a role.
type StorageRef struct {
	// Storage is an s3:// or file:// URL with the keys of --storage
	// (docs/s3.md), plus for s3:// profile, role_arn, external_id and
	// sts_endpoint.
	Storage string `yaml:"storage" json:"storage,omitempty"`
	// CredentialsFile is a file in AWS's shared credentials format; the
	// section is the URL's profile, default "default".
	CredentialsFile string `yaml:"credentials_file" json:"credentials_file,omitempty"`
	// AccessKeyEnv and SecretKeyEnv name the environment variables that
	// hold the access key id and the secret key.
	AccessKeyEnv string `yaml:"access_key_env" json:"access_key_env,omitempty"`
	SecretKeyEnv string `yaml:"secret_key_env" json:"secret_key_env,omitempty"`
}

// MountSpec is a virtual folder of a user: a storage (or a directory of
// the server's storage) shown at Path in the user's tree.
type MountSpec struct {
	Path string `yaml:"path" json:"path"` // in the user's view
	// StorageRef is the mounted storage; without a storage URL, Home is a
	// directory of the server's storage.
	StorageRef `yaml:",inline"`
	// Home is the directory of the storage shown at Path; default "/".
	Home string `yaml:"home" json:"home,omitempty"`
	// Permissions apply inside the mount instead of the user's; nil: the
	// user's.
	Permissions []string `yaml:"permissions" json:"permissions,omitempty"`
}

// The storage URL keys that choose credentials; they are taken off the
// URL before s3store reads it.
const (
	keyProfile     = "profile"
	keyRoleARN     = "role_arn"
	keyExternalID  = "external_id"
	keySTSEndpoint = "sts_endpoint"
)

// storageSpec is a parsed StorageRef.
type storageSpec struct {
	ref    StorageRef
	key    string // the normalised URL and the credential reference: one client per key
	scheme string // "s3" or "file"
	root   string // file://
	s3     s3store.Config
	// credential keys of the URL
	profile, roleARN, externalID, stsEndpoint string
	ownWindow                                 bool // the URL sets resume_window
}

// String is the URL without its query, for logs and errors.
func (sp storageSpec) String() string { return s3store.RedactURL(sp.ref.Storage) }

// parseStorageRef checks a StorageRef without opening anything.
func parseStorageRef(ref StorageRef) (storageSpec, error) {
	sp := storageSpec{ref: ref}
	shown := s3store.RedactURL(ref.Storage)
	u, err := url.Parse(ref.Storage)
	if err != nil {
		return sp, fmt.Errorf("storage %q: not a URL", shown)
	}
	var errs []error
	if (ref.AccessKeyEnv == "") != (ref.SecretKeyEnv == "") {
		errs = append(errs, errors.New("access_key_env and secret_key_env go together"))
	}
	if ref.AccessKeyEnv != "" && ref.CredentialsFile != "" {
		errs = append(errs, errors.New("credentials_file and access_key_env/secret_key_env are two kinds of credentials: choose one"))
	}
	switch u.Scheme {
	case "file":
		sp.scheme, sp.root = "file", strings.TrimPrefix(ref.Storage, "file://")
		switch {
		case sp.root == "" || u.RawQuery != "":
			errs = append(errs, fmt.Errorf("storage %q: want file:///directory", shown))
		case ref.CredentialsFile != "" || ref.AccessKeyEnv != "":
			errs = append(errs, fmt.Errorf("storage %q: credentials are for s3:// storage", shown))
		}
		sp.key = "file://" + path.Clean(sp.root)
	case "s3":
		sp.scheme = "s3"
		q := u.Query()
		sp.profile, sp.roleARN, sp.externalID, sp.stsEndpoint = q.Get(keyProfile), q.Get(keyRoleARN), q.Get(keyExternalID), q.Get(keySTSEndpoint)
		for _, k := range []string{keyProfile, keyRoleARN, keyExternalID, keySTSEndpoint} {
			q.Del(k)
		}
		if sp.externalID != "" && sp.roleARN == "" {
			errs = append(errs, fmt.Errorf("storage %q: external_id needs role_arn", shown))
		}
		if sp.profile != "" && sp.AccessKeyEnvSet() {
			errs = append(errs, fmt.Errorf("storage %q: profile is a section of the shared configuration or of credentials_file, not of access_key_env", shown))
		}
		rest := *u
		rest.RawQuery = q.Encode()
		cfg, err := s3store.ParseURL(rest.String())
		if err != nil {
			errs = append(errs, err)
		}
		sp.s3 = cfg
		sp.ownWindow = q.Has("resume_window")
		all := u.Query()
		sorted := url.Values{}
		for k, vs := range all {
			sorted[k] = vs[len(vs)-1:]
		}
		sp.key = "s3://" + u.Host + path.Clean("/"+u.Path) + "?" + sorted.Encode()
	default:
		errs = append(errs, fmt.Errorf("storage %q: want s3://bucket/prefix or file:///directory", shown))
	}
	sp.key += "\x00" + ref.CredentialsFile + "\x00" + ref.AccessKeyEnv + "\x00" + ref.SecretKeyEnv
	return sp, errors.Join(errs...)
}

// AccessKeyEnvSet reports whether the keys come from the environment.
func (sp storageSpec) AccessKeyEnvSet() bool { return sp.ref.AccessKeyEnv != "" }

// credentials is the provider for an s3:// storage: nil for the server's
// own (the SDK's default chain).
func (sp storageSpec) credentials(ctx context.Context) (aws.CredentialsProvider, error) {
	var opts []func(*awsconfig.LoadOptions) error
	switch {
	case sp.ref.AccessKeyEnv != "":
		id, secret := os.Getenv(sp.ref.AccessKeyEnv), os.Getenv(sp.ref.SecretKeyEnv)
		if id == "" || secret == "" {
			// The names, never the values.
			return nil, fmt.Errorf("storage %s: environment variable %s or %s is empty", sp, sp.ref.AccessKeyEnv, sp.ref.SecretKeyEnv)
		}
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")))
	case sp.ref.CredentialsFile != "":
		if _, err := os.Stat(sp.ref.CredentialsFile); err != nil {
			return nil, fmt.Errorf("storage %s: credentials_file: %w", sp, err)
		}
		opts = append(opts, awsconfig.WithSharedCredentialsFiles([]string{sp.ref.CredentialsFile}),
			awsconfig.WithSharedConfigFiles([]string{}), awsconfig.WithSharedConfigProfile(cmp.Or(sp.profile, "default")))
	case sp.profile != "":
		opts = append(opts, awsconfig.WithSharedConfigProfile(sp.profile))
	case sp.roleARN == "":
		return nil, nil
	}
	if sp.s3.Region != "" {
		opts = append(opts, awsconfig.WithRegion(sp.s3.Region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage %s: credentials: %w", sp, err)
	}
	if sp.roleARN == "" {
		return awsCfg.Credentials, nil
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := sts.NewFromConfig(awsCfg, func(o *sts.Options) {
		if sp.stsEndpoint != "" {
			o.BaseEndpoint = aws.String(sp.stsEndpoint)
		}
	})
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, sp.roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "bucketftp"
		if sp.externalID != "" {
			o.ExternalID = aws.String(sp.externalID)
		}
	})), nil
}

// open makes the backend of a storage.
// s3Config is the s3store configuration of sp, with the server's resume
// window where the URL sets none.
func (sp storageSpec) s3Config(window time.Duration) s3store.Config {
	cfg := sp.s3
	if !sp.ownWindow && window != 0 {
		cfg.ResumeWindow = window
	}
	return cfg
}

// window is the server's --resume-window, for a storage whose URL sets
// none (0: the backend's default).
func openSpec(ctx context.Context, sp storageSpec, window time.Duration, log *slog.Logger) (storage.Backend, func(), error) {
	switch sp.scheme {
	case "file":
		s, err := localstore.New(localstore.Config{Root: sp.root, ResumeWindow: window})
		if err != nil {
			return nil, nil, fmt.Errorf("storage %s: %w", sp, err)
		}
		return s, func() { s.Close() }, nil
	case "s3":
		cfg := sp.s3Config(window)
		creds, err := sp.credentials(ctx)
		if err != nil {
			return nil, nil, err
		}
		cfg.Credentials = creds
		s, err := s3store.New(ctx, cfg, log.With("storage", sp.String()))
		if err != nil {
			return nil, nil, fmt.Errorf("storage %s: %w", sp, err)
		}
		return s, func() { s.Close() }, nil
	}
	return nil, nil, fmt.Errorf("storage %s: unknown scheme", sp)
}

// storages keeps one client per distinct storage of users (key: the
// normalised URL and the credential reference), shared by the sessions
// using it. A client nobody has used for idle is closed.
type storages struct {
	log    *slog.Logger
	idle   time.Duration
	open   func(ctx context.Context, sp storageSpec, window time.Duration, log *slog.Logger) (storage.Backend, func(), error)
	window time.Duration // StoreConfig.ResumeWindow

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	b     storage.Backend
	close func()
	refs  int
	timer *time.Timer // running while refs is 0
}

// storageIdle is how long an unused client of a user's storage is kept.
const storageIdle = 2 * time.Minute

func newStorages(log *slog.Logger, window time.Duration) *storages {
	return &storages{log: log, idle: storageIdle, open: openSpec, window: window, clients: map[string]*client{}}
}

// acquire returns the backend of sp and the function that gives it back.
func (st *storages) acquire(ctx context.Context, sp storageSpec) (storage.Backend, func(), error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.clients[sp.key]
	if c == nil {
		b, closeFn, err := st.open(ctx, sp, st.window, st.log)
		if err != nil {
			return nil, nil, err
		}
		c = &client{b: b, close: closeFn}
		st.clients[sp.key] = c
		st.log.Info("storage client opened", "storage", sp.String())
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.refs++
	var once sync.Once
	return c.b, func() { once.Do(func() { st.release(sp, c) }) }, nil
}

func (st *storages) release(sp storageSpec, c *client) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if c.refs--; c.refs > 0 {
		return
	}
	c.timer = time.AfterFunc(st.idle, func() {
		st.mu.Lock()
		if c.refs > 0 || st.clients[sp.key] != c {
			st.mu.Unlock()
			return
		}
		delete(st.clients, sp.key)
		st.mu.Unlock()
		c.close()
		st.log.Info("storage client closed", "storage", sp.String(), "reason", "idle")
	})
}

// closeAll closes every client, used or not (the server is stopping).
func (st *storages) closeAll() {
	st.mu.Lock()
	cs := st.clients
	st.clients = map[string]*client{}
	st.mu.Unlock()
	for _, c := range cs {
		if c.timer != nil {
			c.timer.Stop()
		}
		c.close()
	}
}

// open returns the number of clients held, for tests.
func (st *storages) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.clients)
}

// Close closes the clients of users' own storages.
func (s *Store) Close() { s.st.closeAll() }

// checkStorage checks a user's storage, credentials and mounts.
func checkStorage(u User) []error {
	var errs []error
	if u.Storage != "" {
		if _, err := parseStorageRef(u.StorageRef); err != nil {
			errs = append(errs, err)
		}
	} else if u.CredentialsFile != "" || u.AccessKeyEnv != "" || u.SecretKeyEnv != "" {
		errs = append(errs, errors.New("credentials_file, access_key_env and secret_key_env need storage"))
	}
	seen := map[string]bool{}
	for i, m := range u.Mounts {
		where := fmt.Sprintf("mounts[%d]", i)
		p := path.Clean("/" + m.Path)
		switch {
		case m.Path == "" || p == "/":
			errs = append(errs, fmt.Errorf("%s: path must be a directory below /", where))
		case strings.ContainsFunc(m.Path, func(r rune) bool { return r == '\\' || r < 0x20 }) || strings.Contains("/"+m.Path+"/", "/../"):
			errs = append(errs, fmt.Errorf("%s: path %q must not contain \"..\", backslashes or control characters", where, m.Path))
		case seen[p]:
			errs = append(errs, fmt.Errorf("%s: path %s is mounted twice", where, p))
		}
		seen[p] = true
		if m.Storage != "" {
			if _, err := parseStorageRef(m.StorageRef); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		} else if m.Home == "" {
			errs = append(errs, fmt.Errorf("%s: needs storage, or home (a directory of the server's storage)", where))
		}
		if strings.Contains("/"+m.Home+"/", "/../") {
			errs = append(errs, fmt.Errorf("%s: home %q must not contain a \"..\" element", where, m.Home))
		}
		if m.Permissions != nil {
			if _, err := ParsePermissions(m.Permissions); err != nil || len(m.Permissions) == 0 {
				errs = append(errs, fmt.Errorf("%s: permissions: %v", where, cmp.Or[error](err, errors.New("empty: list some, or leave it out for the user's"))))
			}
		}
	}
	return errs
}

// storageOf returns the storage a user's home is in (their own, or the
// server's) and the function that gives it back.
func (s *Store) storageOf(ctx context.Context, u *user) (storage.Backend, func(), error) {
	if u.Storage == "" {
		return s.cfg.Backend, func() {}, nil
	}
	sp, err := parseStorageRef(u.StorageRef)
	if err != nil { // validate checked it
		return nil, nil, err
	}
	return s.st.acquire(ctx, sp)
}

// personalise finishes an account whose FS is the scoped view of its
// home: the quota of a home in the user's own storage is measured there,
// and mounts make the FS a tree (mount.Router) of the home and a scoped
// view of each mount with the mount's permissions. The account's
// permissions become everything the user may do somewhere, for the front
// end's first check; each view checks its own.
func (s *Store) personalise(ctx context.Context, a *Account, u *user, base storage.Backend) error {
	home := a.FS.(*scoped)
	if u.Storage != "" && a.quota != nil {
		a.quota.usage = s.ownUsage(u, base)
	}
	if len(u.Mounts) == 0 {
		return nil
	}
	var ms []mount.Mount
	for _, m := range u.Mounts {
		b := s.cfg.Backend
		if m.Storage != "" {
			sp, err := parseStorageRef(m.StorageRef)
			if err != nil {
				return err
			}
			var release func()
			if b, release, err = s.st.acquire(ctx, sp); err != nil {
				return fmt.Errorf("mount %s: %w", m.Path, err)
			}
			a.release = append(a.release, release)
		}
		perms := u.perms
		if m.Permissions != nil {
			perms, _ = ParsePermissions(m.Permissions)
		}
		a.Perms |= perms
		ms = append(ms, mount.Mount{Path: path.Clean("/" + m.Path), Backend: &scoped{base: b, home: path.Clean("/" + m.Home), perms: perms}})
	}
	r, err := mount.New(home, ms)
	if err != nil {
		return err
	}
	a.FS, a.mounts = r, r
	return nil
}

// ownUsage is the quota usage of a user whose home is in their own
// storage, shared by their sessions like usageOf's.
func (s *Store) ownUsage(u *user, base storage.Backend) *usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := "\x00own\x00" + u.Name
	us := s.usages[key]
	if us == nil || us.home != u.home || us.base != base {
		us = &usage{base: base, home: u.home}
		s.usages[key] = us
	}
	return us
}
