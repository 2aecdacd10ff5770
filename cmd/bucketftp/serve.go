package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/events"
	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/ftp/metrics"
	"github.com/bucketftp/bucketftp/ftp/tlscert"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
	"github.com/bucketftp/bucketftp/storage/memstore"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// The abilities serve relies on, checked at compile time.
var (
	_ ftp.TLSPolicy                = (*auth.Store)(nil)
	_ storage.Pinger               = (*s3store.Store)(nil)
	_ storage.AbortedUploadCounter = (*s3store.Store)(nil)
)

// serve runs the server until ctx ends: it validates c, builds every part,
// and only then opens listeners.
func serve(ctx context.Context, c *config, getenv func(string) string, stderr io.Writer) error {
	if err := c.Validate(); err != nil {
		return err
	}
	a, err := build(ctx, c, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	return a.run(ctx)
}

// app is a built server, not yet listening.
type app struct {
	cfg     *config
	log     *slog.Logger
	listen  string // control address: --listen, or its loopback twin
	backend storage.Backend
	users   *auth.Store
	reload  *auth.UsersReloader // nil without --users
	srv     *ftp.Server
	metrics *metrics.Metrics // nil without --metrics-listen
	// deliverer sends the event outbox; nil without --events-webhook or
	// --events-nats.
	deliverer *events.Deliverer
	closers   []func() // run by close, last first
}

// build makes the users store, backend, TLS settings, ftp.Server and
// metrics from a validated config. It opens no listener.
func build(ctx context.Context, c *config, getenv func(string) string, stderr io.Writer) (_ *app, err error) {
	log, err := newLogger(c, stderr)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: c, log: log, listen: c.Listen}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	backend, closeStorage, err := openStorage(ctx, c.Storage, c.ResumeWindow, log)
	if err != nil {
		return nil, err
	}
	a.backend = backend
	a.closers = append(a.closers, closeStorage)
	var observer ftp.Observer
	sessionStore := backend // what sessions use: timed when metrics are on
	if c.MetricsListen != "" {
		var aborted func() int64
		if s, ok := backend.(storage.AbortedUploadCounter); ok {
			aborted = s.AbortedUploads
		}
		a.metrics = metrics.New(aborted)
		observer = a.metrics
		sessionStore = a.metrics.Backend(backend)
	}
	sources, err := identitySources(c, getenv, log)
	if err != nil {
		return nil, err
	}
	shared, replicaID := sharedState(c, backend)
	a.users = auth.NewStore(auth.StoreConfig{Backend: sessionStore, Logger: log, Sources: sources, Bandwidth: bandwidthConfig(c),
		Shared: shared, Replica: replicaID, ResumeWindow: c.ResumeWindow})
	a.closers = append(a.closers, a.users.Close) // clients of users' own storages
	if err := a.loadUsers(ctx, getenv, stderr); err != nil {
		return nil, err
	}
	cfg, err := ftpConfig(c, log)
	if err != nil {
		return nil, err
	}
	cfg.Ban.Shared, cfg.Ban.Replica = shared, replicaID
	var xferlog io.Writer
	if c.Xferlog != "" {
		f, err := os.OpenFile(c.Xferlog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("--xferlog: %w", err)
		}
		a.closers = append(a.closers, func() { f.Close() })
		xferlog = f
	}
	cfg.Auth, cfg.Storage, cfg.Logger, cfg.Observer, cfg.TransferLog = a.users, backend, log, observer, xferlog
	if err := a.buildEvents(&cfg); err != nil {
		return nil, err
	}
	if a.srv, err = ftp.New(cfg); err != nil {
		return nil, err
	}
	return a, nil
}

// close releases what build opened.
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// loadUsers fills the users store from --users, or with the single user of
// BUCKETFTP_USER and BUCKETFTP_PASSWORD; a generated password keeps the
// server on loopback.
func (a *app) loadUsers(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	if a.cfg.Users != "" {
		return a.openUsers(ctx)
	}
	if a.cfg.external() {
		return nil // LDAP or the hook log users in
	}
	u, loopbackOnly, err := singleUser(getenv, stderr)
	if err != nil {
		return err
	}
	if err := a.users.SetUsers([]auth.User{u}); err != nil {
		return err
	}
	if loopbackOnly {
		a.listen, err = loopback(a.listen)
	}
	return err
}

// openUsers loads --users, a path or s3://BUCKET/KEY, and makes the
// reloader watchUsers runs.
func (a *app) openUsers(ctx context.Context) error {
	if a.cfg.UsersPoll < 0 {
		return fmt.Errorf("--users-poll %v: must not be negative", a.cfg.UsersPoll)
	}
	src, name := auth.UsersSource(auth.FileSource(a.cfg.Users)), a.cfg.Users
	if strings.HasPrefix(a.cfg.Users, "s3://") {
		cfg, err := s3store.ParseURL(a.cfg.Users)
		if err != nil {
			return fmt.Errorf("--users: %w", err)
		}
		o, err := s3store.NewObject(ctx, cfg, auth.MaxUsersFileSize, a.log)
		if err != nil {
			return fmt.Errorf("--users: %w", err)
		}
		a.closers = append(a.closers, func() { o.Close() })
		src, name = o, o.String()
		if st, err := parseStorage(a.cfg.Storage); err == nil && st.scheme == "s3" && st.s3.Bucket == cfg.Bucket &&
			(st.s3.Prefix == "" || strings.HasPrefix(cfg.Prefix, st.s3.Prefix+"/")) {
			a.log.Warn("the users object is inside the storage: an FTP user whose home holds it can change the users", "users", name)
		}
	}
	a.reload = auth.NewUsersReloader(a.users, src, name, a.log)
	if a.metrics != nil {
		a.metrics.WatchUsersReloads(a.reload.Reloads)
	}
	return a.reload.Load(ctx)
}

// ftpConfig is the server configuration c describes, without the parts
// build opens (Auth, Storage, Logger, Observer, TransferLog).
func ftpConfig(c *config, log *slog.Logger) (ftp.Config, error) {
	r, err := replica(c)
	if err != nil {
		return ftp.Config{}, err
	}
	if r.lo != 0 {
		log.Info("passive ports", "lo", r.lo, "hi", r.hi, "ordinal", r.ordinal, "public_host", r.publicHost)
	}
	tlsCfg, reuse, err := tlsConfig(c, log)
	if err != nil {
		return ftp.Config{}, err
	}
	ban, err := banPolicy(c)
	if err != nil {
		return ftp.Config{}, err
	}
	proxyCtl, proxyData, trusted, err := proxySettings(c)
	if err != nil {
		return ftp.Config{}, err
	}
	sums, noSums, err := checksumAlgos(c.Checksums)
	if err != nil {
		return ftp.Config{}, err
	}
	return ftp.Config{
		Checksums:             sums,
		NoChecksums:           noSums,
		HashMaxBytes:          int64(c.HashMaxBytes),
		ProxyProtocol:         proxyCtl,
		ProxyProtocolData:     proxyData,
		ProxyTrusted:          trusted,
		ProxyHeaderTimeout:    c.ProxyHeaderTimeout,
		TLS:                   tlsCfg,
		TLSRequired:           c.TLSRequired,
		RequireDataTLS:        c.TLSDataRequired,
		TLSStrictEOF:          c.TLSStrictEOF,
		SessionReuse:          reuse,
		Banner:                c.Banner,
		PublicHost:            r.publicHost,
		PassivePortMin:        r.lo,
		PassivePortMax:        r.hi,
		IdleTimeout:           c.IdleTimeout,
		DataTimeout:           c.DataTimeout,
		StallTimeout:          c.StallTimeout,
		TempNamePatterns:      c.tempNamePatterns(),
		TempNameHold:          c.TempNameHold,
		LoginFailDelay:        cmp.Or(c.LoginFailDelay, -1), // 0: none (the server's 0 is its default)
		MaxLoginFailures:      c.MaxLoginFailures,
		MaxConnections:        c.MaxConnections,
		MaxConnectionsPerIP:   c.MaxConnectionsPerIP,
		MaxLineLength:         c.MaxLineLength,
		AllowForeignDataPeers: c.AllowForeignDataPeers,
		LoginTimeout:          c.LoginTimeout,
		Ban:                   ban,
		MaxPassivePerIP:       c.MaxPassivePerIP,
		MaxQueuedCommands:     c.MaxQueuedCommands,
		NameEncoding:          c.NameEncoding,
		ASCII:                 c.ASCII,
	}, nil
}

// replicaShare is what one replica serves of a StatefulSet's shared
// settings: its slice of the passive range and its public host.
type replicaShare struct {
	ordinal    int
	lo, hi     int // 0 and 0: the system chooses
	publicHost string
}

// replica computes this replica's share: the ordinal from --replica-ordinal
// or a host name ending in -N; the ordinal-th slice of --passive-ports-per-
// replica ports of --passive-ports (all of it when that is 0); {ordinal}
// replaced in --public-host.
func replica(c *config) (replicaShare, error) {
	lo, hi, err := passiveRange(c.PassivePorts)
	if err != nil {
		return replicaShare{}, err
	}
	per := c.PassivePortsPerReplica
	templated := strings.Contains(c.PublicHost, "{ordinal}")
	r := replicaShare{ordinal: c.ReplicaOrdinal, lo: lo, hi: hi, publicHost: c.PublicHost}
	var errs []error
	if r.ordinal < 0 {
		hostname := c.hostname
		if hostname == nil {
			hostname = os.Hostname
		}
		name, herr := hostname()
		n, ok := ordinalOf(name)
		switch {
		case herr == nil && ok:
			r.ordinal = n
		case per > 0 || templated:
			why := fmt.Sprintf("host name %q does not end in -N", name)
			if herr != nil {
				why = "host name unknown: " + herr.Error()
			}
			errs = append(errs, fmt.Errorf("--replica-ordinal: needed by --passive-ports-per-replica or {ordinal} in --public-host, and the %s (set --replica-ordinal)", why))
		default:
			r.ordinal = 0
		}
	}
	if templated && r.ordinal >= 0 {
		r.publicHost = strings.ReplaceAll(c.PublicHost, "{ordinal}", strconv.Itoa(r.ordinal))
	}
	if strings.ContainsAny(r.publicHost, "{}") {
		errs = append(errs, fmt.Errorf("--public-host %q: {ordinal} is the only placeholder", c.PublicHost))
	}
	switch {
	case per == 0:
	case lo == 0:
		errs = append(errs, fmt.Errorf("--passive-ports-per-replica %d needs --passive-ports", per))
	case r.ordinal >= 0:
		// Compared before multiplying, so a huge ordinal cannot overflow.
		switch fit := (hi - lo + 1) / per; {
		case fit == 0:
			errs = append(errs, fmt.Errorf("--passive-ports-per-replica %d: more than all of --passive-ports %s", per, c.PassivePorts))
		case r.ordinal >= fit:
			slice := ""
			if r.ordinal <= 65535 {
				slice = fmt.Sprintf(" %d-%d", lo+r.ordinal*per, lo+r.ordinal*per+per-1)
			}
			errs = append(errs, fmt.Errorf("--passive-ports-per-replica %d: replica %d's slice%s is outside --passive-ports %s, which has room for replicas 0-%d",
				per, r.ordinal, slice, c.PassivePorts, fit-1))
		default:
			r.lo = lo + r.ordinal*per
			r.hi = r.lo + per - 1
		}
	}
	return r, errors.Join(errs...)
}

// ordinalOf reads N from a host name whose first label ends in -N, as a
// StatefulSet names its pods (bucketftp-2, or bucketftp-2.bucketftp.ns.svc
// with setHostnameAsFQDN).
func ordinalOf(hostname string) (int, bool) {
	label, _, _ := strings.Cut(hostname, ".")
	i := strings.LastIndexByte(label, '-')
	if i <= 0 {
		return 0, false
	}
	digits := label[i+1:]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

// listeners are the sockets a run serves; implicit and metrics are nil
// when off.
type listeners struct {
	control, implicit, metrics net.Listener
}

func (ls listeners) close() {
	for _, l := range []net.Listener{ls.control, ls.implicit, ls.metrics} {
		if l != nil {
			l.Close()
		}
	}
}

// openListeners opens every listener, or none.
func (a *app) openListeners() (ls listeners, err error) {
	defer func() {
		if err != nil {
			ls.close()
		}
	}()
	if ls.control, err = net.Listen("tcp", a.listen); err != nil {
		return ls, err
	}
	if a.cfg.ImplicitTLSListen != "" {
		if ls.implicit, err = net.Listen("tcp", a.cfg.ImplicitTLSListen); err != nil {
			return ls, err
		}
	}
	if a.metrics != nil {
		if ls.metrics, err = net.Listen("tcp", a.cfg.MetricsListen); err != nil {
			return ls, err
		}
	}
	return ls, nil
}

// run serves until ctx ends or a listener fails, then shuts down within
// --shutdown-grace.
func (a *app) run(ctx context.Context) error {
	ls, err := a.openListeners()
	if err != nil {
		return err
	}
	// Startup work (an argon2id hash takes 19 MiB) is garbage now: hand it
	// back to the system so the idle footprint is what serving needs.
	debug.FreeOSMemory()
	a.log.Info("listening", "addr", ls.control.Addr().String(), "storage", redactURL(a.cfg.Storage), "version", versionString())
	if ls.metrics != nil {
		defer a.serveMetrics(ls.metrics)()
	}
	defer a.watchUsers(ctx)()
	defer a.startEvents(ctx)() // stopped after the shutdown, so the last uploads' events are sent

	served := make(chan error, 2)
	go func() { served <- a.srv.Serve(ls.control) }()
	if ls.implicit != nil {
		a.log.Info("listening for implicit FTPS", "addr", ls.implicit.Addr().String())
		go func() { served <- a.srv.ServeTLS(ls.implicit) }()
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	return a.shutdown(ctx, served)
}

// serveMetrics serves /metrics, /healthz and /readyz on l until the
// returned stop is called.
func (a *app) serveMetrics(l net.Listener) (stop func()) {
	a.metrics.WatchBans(a.srv.ActiveBans)
	ready := func(ctx context.Context) error {
		if a.srv.Draining() {
			return errors.New("shutting down")
		}
		if p, ok := a.backend.(storage.Pinger); ok {
			return p.Ping(ctx)
		}
		_, err := a.backend.Stat(ctx, "/")
		return err
	}
	hs := &http.Server{Handler: a.metrics.Handler(ready), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(l)
	a.log.Info("metrics listening", "addr", l.Addr().String())
	return func() { hs.Close() }
}

// watchUsers reloads --users on SIGHUP and when its version changes
// (checked every --users-poll) until the returned stop is called. Without
// --users, SIGHUP is ignored.
func (a *app) watchUsers(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var poll <-chan time.Time
		if a.reload != nil && a.cfg.UsersPoll > 0 {
			t := time.NewTicker(a.cfg.UsersPoll)
			defer t.Stop()
			poll = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if a.reload != nil {
					a.reload.Reload(ctx, "sighup")
				}
			case <-poll:
				a.reload.Check(ctx)
			}
		}
	}()
	return func() { signal.Stop(hup); cancel(); <-done }
}

// shutdown stops accepting, lets transfers run for --shutdown-grace, and
// waits for Serve (whose result arrives on served) to return.
func (a *app) shutdown(ctx context.Context, served <-chan error) error {
	a.log.Info("shutting down", "grace", a.cfg.ShutdownGrace)
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownGrace)
	defer cancel()
	if err := a.srv.Shutdown(graceCtx); err != nil {
		a.log.Warn("grace period over; running transfers were aborted")
	}
	if err := <-served; err != nil && !errors.Is(err, ftp.ErrServerClosed) {
		return err
	}
	a.log.Info("stopped")
	return nil
}

func newLogger(c *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
}

// tlsConfig builds the FTPS settings from --tls-cert and --tls-key.
func tlsConfig(c *config, log *slog.Logger) (*tls.Config, ftp.SessionReuse, error) {
	reuse, err := ftp.ParseSessionReuse(c.TLSSessionReuse)
	if err != nil {
		return nil, 0, fmt.Errorf("--tls-session-reuse: %w", err)
	}
	if c.TLSCert == "" && c.TLSKey == "" {
		return nil, reuse, nil
	}
	if c.TLSCert == "" || c.TLSKey == "" {
		return nil, 0, errors.New("--tls-cert and --tls-key go together")
	}
	r, err := tlscert.NewReloader(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, 0, err
	}
	log.Info("FTPS enabled", "cert", c.TLSCert, "session_reuse", c.TLSSessionReuse)
	return tlscert.ServerConfig(r.GetCertificate), reuse, nil
}

// storageSpec is a parsed --storage URL.
type storageSpec struct {
	scheme string         // file, mem or s3
	root   string         // file: the directory
	s3     s3store.Config // s3
}

// parseStorage reads a --storage URL without opening anything.
func parseStorage(u string) (storageSpec, error) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return storageSpec{}, fmt.Errorf("storage %q: want file:///path, mem:// or s3://bucket/prefix", redactURL(u))
	}
	switch scheme {
	case "file":
		if rest == "" {
			return storageSpec{}, fmt.Errorf("storage %q: no directory", u)
		}
		return storageSpec{scheme: scheme, root: rest}, nil
	case "mem":
		return storageSpec{scheme: scheme}, nil
	case "s3":
		cfg, err := s3store.ParseURL(u)
		if err != nil {
			return storageSpec{}, err
		}
		return storageSpec{scheme: scheme, s3: cfg}, nil
	}
	return storageSpec{}, fmt.Errorf("storage %q: unknown scheme %q", redactURL(u), scheme)
}

// openStorage turns a --storage URL into a backend.
func openStorage(ctx context.Context, u string, resumeWindow time.Duration, log *slog.Logger) (storage.Backend, func(), error) {
	spec, err := parseStorage(u)
	if err != nil {
		return nil, nil, err
	}
	if pu, perr := url.Parse(u); perr == nil && !pu.Query().Has("resume_window") && resumeWindow != 0 {
		spec.s3.ResumeWindow = resumeWindow
	}
	switch spec.scheme {
	case "file":
		s, err := localstore.New(localstore.Config{Root: spec.root, ResumeWindow: resumeWindow})
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	case "s3":
		s, err := s3store.New(ctx, spec.s3, log)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	}
	return memstore.New(), func() {}, nil
}

// redactURL drops any query string, where credentials could sit.
func redactURL(u string) string { return s3store.RedactURL(u) }

// singleUser is the user of a server started without a users file.
func singleUser(getenv func(string) string, stderr io.Writer) (u auth.User, loopbackOnly bool, err error) {
	name := getenv("BUCKETFTP_USER")
	if name == "" {
		name = "bucketftp"
	}
	pw := getenv("BUCKETFTP_PASSWORD")
	if pw == "" {
		var b [15]byte
		_, _ = rand.Read(b[:])
		pw = base64.RawURLEncoding.EncodeToString(b[:])
		loopbackOnly = true
		fmt.Fprintf(stderr, "\nNo users file and no BUCKETFTP_PASSWORD: log in as %q with password %s\n(listening on loopback only; set --users or BUCKETFTP_USER/BUCKETFTP_PASSWORD to serve others)\n\n", name, pw)
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		return auth.User{}, false, err
	}
	return auth.User{Name: name, PasswordHash: h, Home: "/"}, loopbackOnly, nil
}

// loopback keeps listen's port but binds it to 127.0.0.1.
func loopback(listen string) (string, error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// parseCIDRs reads a comma-separated list of CIDRs or single addresses.
func parseCIDRs(flag, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pr, err := netip.ParsePrefix(f)
		if err != nil {
			ip, ierr := netip.ParseAddr(f)
			if ierr != nil {
				return nil, fmt.Errorf("--%s: %q is not a CIDR or address", flag, f)
			}
			pr = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}

// proxySettings reads the PROXY protocol options.
func proxySettings(c *config) (ctl, data ftp.ProxyMode, trusted []netip.Prefix, err error) {
	ctl, err1 := ftp.ParseProxyMode(c.ProxyProtocol)
	if err1 != nil {
		err1 = fmt.Errorf("--proxy-protocol: %w", err1)
	}
	data = ctl
	var err2 error
	if c.ProxyProtocolData != "" {
		if data, err2 = ftp.ParseProxyMode(c.ProxyProtocolData); err2 != nil {
			err2 = fmt.Errorf("--proxy-protocol-data: %w", err2)
		}
	}
	trusted, err3 := parseCIDRs("proxy-trusted", c.ProxyTrusted)
	var err4 error
	on := func(m ftp.ProxyMode) bool { return m == ftp.ProxyOptional || m == ftp.ProxyRequired }
	if (on(ctl) || on(data)) && len(trusted) == 0 && err3 == nil {
		err4 = errors.New("--proxy-protocol needs --proxy-trusted: the addresses of the load balancers")
	}
	return ctl, data, trusted, errors.Join(err1, err2, err3, err4)
}

// sharedState is where replicas share quota usage and bans: the bucket,
// with --shared-state and S3 storage; nil otherwise; and the name this
// process has in it.
func sharedState(c *config, backend storage.Backend) (storage.SharedDocs, string) {
	docs, ok := backend.(storage.SharedDocs)
	if !c.SharedState || !ok {
		return nil, ""
	}
	return docs, auth.ReplicaName()
}

// banPolicy turns the ban options into the server's policy.
func banPolicy(c *config) (ftp.BanPolicy, error) {
	p := ftp.BanPolicy{After: c.BanAfter, Window: c.BanWindow, Duration: c.BanDuration, SyncEvery: c.BanSync}
	if p.After <= 0 {
		p.After = -1
	}
	exempt, err := parseCIDRs("ban-exempt", c.BanExempt)
	if err != nil {
		return p, err
	}
	p.Exempt = exempt
	return p, nil
}
