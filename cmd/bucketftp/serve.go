package main

import (
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
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/ftp/metrics"
	"github.com/bucketftp/bucketftp/ftp/tlscert"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/localstore"
	"github.com/bucketftp/bucketftp/storage/memstore"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

func serve(ctx context.Context, c *config, getenv func(string) string, stderr io.Writer) error {
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	lo, hi, err := passiveRange(c.PassivePorts)
	if err != nil {
		return err
	}
	backend, closeStorage, err := openStorage(ctx, c.Storage, log)
	if err != nil {
		return err
	}
	defer closeStorage()
	var observer ftp.Observer
	var m *metrics.Metrics
	if c.MetricsListen != "" {
		var aborted func() int64
		if s3, ok := backend.(*s3store.Store); ok {
			aborted = s3.AbortedUploads
		}
		m = metrics.New(aborted)
		observer = m
	}
	sessionStore := backend // what sessions use: timed when metrics are on
	if m != nil {
		sessionStore = m.Backend(backend)
	}
	users := auth.NewStore(auth.StoreConfig{Backend: sessionStore, Logger: log})
	listen := c.Listen
	if c.Users != "" {
		if err := users.LoadFile(c.Users); err != nil {
			return err
		}
	} else {
		u, loopbackOnly, err := singleUser(getenv, stderr)
		if err != nil {
			return err
		}
		if err := users.SetUsers([]auth.User{u}); err != nil {
			return err
		}
		if loopbackOnly {
			listen, err = loopback(listen)
			if err != nil {
				return err
			}
		}
	}

	tlsCfg, reuse, err := tlsConfig(c, log)
	if err != nil {
		return err
	}
	var xferlog io.Writer
	if c.Xferlog != "" {
		f, err := os.OpenFile(c.Xferlog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("--xferlog: %w", err)
		}
		defer f.Close()
		xferlog = f
	}
	ban, err := banPolicy(c)
	if err != nil {
		return err
	}
	srv, err := ftp.New(ftp.Config{
		TLS:                   tlsCfg,
		TLSRequired:           c.TLSRequired,
		RequireDataTLS:        c.TLSDataRequired,
		SessionReuse:          reuse,
		Auth:                  users,
		Storage:               backend,
		Logger:                log,
		Observer:              observer,
		TransferLog:           xferlog,
		Banner:                c.Banner,
		PublicHost:            c.PublicHost,
		PassivePortMin:        lo,
		PassivePortMax:        hi,
		IdleTimeout:           c.IdleTimeout,
		DataTimeout:           c.DataTimeout,
		StallTimeout:          c.StallTimeout,
		LoginFailDelay:        c.LoginFailDelay,
		MaxLoginFailures:      c.MaxLoginFailures,
		MaxConnections:        c.MaxConnections,
		MaxConnectionsPerIP:   c.MaxConnectionsPerIP,
		MaxLineLength:         c.MaxLineLength,
		AllowForeignDataPeers: c.AllowForeignDataPeers,
		LoginTimeout:          c.LoginTimeout,
		Ban:                   ban,
		MaxPassivePerIP:       c.MaxPassivePerIP,
		MaxQueuedCommands:     c.MaxQueuedCommands,
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	// Startup work (an argon2id hash takes 19 MiB) is garbage now: hand it
	// back to the system so the idle footprint is what serving needs.
	debug.FreeOSMemory()
	log.Info("listening", "addr", l.Addr().String(), "storage", redactURL(c.Storage), "version", versionString())

	if m != nil {
		m.WatchBans(srv.ActiveBans)
		ml, err := net.Listen("tcp", c.MetricsListen)
		if err != nil {
			return err
		}
		ready := func(ctx context.Context) error {
			if srv.Draining() {
				return errors.New("shutting down")
			}
			if p, ok := backend.(interface{ Ping(context.Context) error }); ok {
				return p.Ping(ctx)
			}
			_, err := backend.Stat(ctx, "/")
			return err
		}
		hs := &http.Server{Handler: m.Handler(ready), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ml)
		defer hs.Close()
		log.Info("metrics listening", "addr", ml.Addr().String())
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if c.Users == "" {
				continue
			}
			if err := users.LoadFile(c.Users); err != nil {
				log.Error("users file not reloaded; keeping the previous users", "file", c.Users, "err", err)
			} else {
				log.Info("users file reloaded", "file", c.Users)
			}
		}
	}()

	served := make(chan error, 2)
	go func() { served <- srv.Serve(l) }()
	if c.ImplicitTLSListen != "" {
		if tlsCfg == nil {
			return errors.New("--implicit-tls-listen needs --tls-cert and --tls-key")
		}
		il, err := net.Listen("tcp", c.ImplicitTLSListen)
		if err != nil {
			return err
		}
		log.Info("listening for implicit FTPS", "addr", il.Addr().String())
		go func() { served <- srv.ServeTLS(il) }()
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", c.ShutdownGrace)
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(graceCtx); err != nil {
		log.Warn("grace period over; running transfers were aborted")
	}
	if err := <-served; err != nil && !errors.Is(err, ftp.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
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

// openStorage turns a --storage URL into a backend.
func openStorage(ctx context.Context, u string, log *slog.Logger) (storage.Backend, func(), error) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return nil, nil, fmt.Errorf("storage %q: want file:///path, mem:// or s3://bucket/prefix", redactURL(u))
	}
	switch scheme {
	case "file":
		if rest == "" {
			return nil, nil, fmt.Errorf("storage %q: no directory", u)
		}
		s, err := localstore.New(localstore.Config{Root: rest})
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	case "mem":
		return memstore.New(), func() {}, nil
	case "s3":
		cfg, err := s3store.ParseURL(u)
		if err != nil {
			return nil, nil, err
		}
		s, err := s3store.New(ctx, cfg, log)
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	}
	return nil, nil, fmt.Errorf("storage %q: unknown scheme %q", redactURL(u), scheme)
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

// banPolicy turns the ban options into the server's policy.
func banPolicy(c *config) (ftp.BanPolicy, error) {
	p := ftp.BanPolicy{After: c.BanAfter, Window: c.BanWindow, Duration: c.BanDuration}
	if p.After <= 0 {
		p.After = -1
	}
	for _, f := range strings.Split(c.BanExempt, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pr, err := netip.ParsePrefix(f)
		if err != nil {
			if ip, ierr := netip.ParseAddr(f); ierr == nil {
				pr = netip.PrefixFrom(ip, ip.BitLen())
			} else {
				return p, fmt.Errorf("--ban-exempt: %q is not a CIDR or address", f)
			}
		}
		p.Exempt = append(p.Exempt, pr.Masked())
	}
	return p, nil
}
