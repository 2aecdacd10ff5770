// Package ftp is bucketftp's protocol front end: it speaks FTP (RFC 959 and
// its extensions) on a listener and turns commands into calls on a user's
// scoped storage.Backend.
package ftp

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/charset"
	"github.com/bucketftp/bucketftp/storage"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ftp: server closed")

// Authenticator checks a login and returns the user's account, whose FS is
// already scoped to the user's home and permissions. Any failure must be
// reported as auth.ErrLoginFailed (possibly wrapped), whatever the reason.
type Authenticator interface {
	Authenticate(ctx context.Context, user, pass string, remote netip.Addr) (*auth.Account, error)
}

// TLSPolicy is implemented by an Authenticator that requires TLS of some
// users (auth.Store: require_tls in the users file). The server asks at
// USER, before a password can be sent in clear.
type TLSPolicy interface {
	RequiresTLS(user string) bool
}

// Observer is told what the server does, for metrics. Its methods must be
// quick and safe for concurrent use.
type Observer interface {
	SessionStarted()
	SessionEnded()
	Login(ok bool)
	// Refused reports a connection refused at connect: reason is banned,
	// limit or shutdown.
	Refused(reason string)
	Command(verb string, code int)
	// Transfer reports a finished transfer: op is RETR, STOR, LIST, ...;
	// code its final reply; in and out the bytes received and sent.
	Transfer(op string, code int, in, out int64, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) SessionStarted()                                   {}
func (nopObserver) SessionEnded()                                     {}
func (nopObserver) Login(bool)                                        {}
func (nopObserver) Refused(string)                                    {}
func (nopObserver) Command(string, int)                               {}
func (nopObserver) Transfer(string, int, int64, int64, time.Duration) {}

// Config is the server's configuration. Zero durations and limits take the
// defaults documented on each field.
type Config struct {
	Auth     Authenticator   // required
	Storage  storage.Backend // the unscoped store; FEAT advertises what it can do
	Logger   *slog.Logger    // default: discard
	Observer Observer        // metrics; default: none
	// TransferLog, when set, gets one line per finished transfer in the
	// classic xferlog format (wu-ftpd, ProFTPD, vsftpd) that log tools read.
	TransferLog io.Writer

	Banner     string // text of the 220 greeting; default "bucketftp ready."
	PublicHost string // address put in PASV replies; default: the control connection's local address

	PassivePortMin int // passive port range; 0 and 0 lets the system choose
	PassivePortMax int

	IdleTimeout  time.Duration // default 5m; not counted while a transfer runs
	DataTimeout  time.Duration // opening a data connection; default 30s
	StallTimeout time.Duration // a transfer with no progress this long is cut (426); default: IdleTimeout
	LoginTimeout time.Duration // a connection not logged in this long after connecting gets 421; default 60s
	// ShutdownWait bounds how long Shutdown waits, once its grace is
	// over and transfers are aborted, for sessions to finish what the
	// abort leaves (a resume record, the abort of a multipart upload, an
	// event), which a store that does not answer can hold for several
	// timeouts; default 10s.
	ShutdownWait     time.Duration
	LoginFailDelay   time.Duration // delay before 530, times the number of failures; default 1s, negative: none
	MaxLoginFailures int           // then 421 and close; default 3
	// Ban refuses addresses that failed to log in too often (across
	// connections).
	Ban BanPolicy

	MaxConnections      int // default 500
	MaxConnectionsPerIP int // default 200
	MaxLineLength       int // default 4096 bytes
	MaxPassivePerIP     int // passive listeners one address may hold open at once; default 8
	ListTreeMax         int // entries one recursive listing (LIST -R) may show; default 10,000
	// MaxQueuedCommands and MaxQueuedBytes bound the commands a client may
	// send during a transfer (they run after it); past either the session
	// gets 421 and is closed. Defaults 64 and 64 KiB.
	MaxQueuedCommands int
	MaxQueuedBytes    int

	// TLS enables FTPS: AUTH TLS on every listener, and ServeTLS for
	// implicit FTPS. nil disables it.
	TLS *tls.Config
	// TLSRequired refuses logins on a control connection without TLS.
	TLSRequired bool
	// RequireDataTLS refuses PROT C and clear data connections.
	RequireDataTLS bool
	// TLSStrictEOF takes an upload over a TLS data connection that ends
	// without the client's close_notify (a bare TCP close, which anyone on
	// the path can forge) for cut off, not complete: 426, and kept for
	// resuming. Off, such an upload is stored and the end logged.
	TLSStrictEOF bool
	// SessionReuse governs PROT P data connections resuming the control
	// connection's TLS session.
	SessionReuse SessionReuse

	// NameEncoding is the character set clients send names in, unless
	// their user has one or they switch to UTF-8 with OPTS UTF8 ON; ""
	// is UTF-8.
	NameEncoding string
	// ASCII is what TYPE A does: "convert" (default: line endings, RFC
	// 959) or "binary" (bytes unchanged, as vsftpd by default); a user's
	// setting overrides it.
	ASCII string

	// ProxyProtocol is whether control connections (plain and implicit
	// TLS) from ProxyTrusted sources carry a PROXY header; default off.
	// ProxyProtocolData is the same for passive data connections; default:
	// as ProxyProtocol. The header's client address is the client's address
	// everywhere: allow lists, limits, bans, the passive peer check, logs.
	ProxyProtocol      ProxyMode
	ProxyProtocolData  ProxyMode
	ProxyTrusted       []netip.Prefix
	ProxyHeaderTimeout time.Duration // default 3s

	// TempNamePatterns are the upload names held back until renamed
	// (tempname.go), each with one "*" for the final name; nil:
	// DefaultTempNamePatterns, empty: none. TempNameHold is how long a held
	// upload waits for its rename; default DefaultTempNameHold.
	TempNamePatterns []string
	TempNameHold     time.Duration

	// AllowForeignDataPeers accepts passive data connections from any
	// address, not only the control connection's client (for clients behind
	// NAT pools). Off by default: it protects against port stealing.
	AllowForeignDataPeers bool

	// Events records uploads, renames, deletions, directories made and
	// removed, and failed logins (ftp/events.go); nil: off. A completed
	// upload's event is recorded before its 226. When recording fails the
	// command still succeeds (the failure is logged), unless EventsRequired:
	// then it gets 451 "... but its event was not recorded." (the change
	// itself is made: the object exists).
	Events         EventSink
	EventsRequired bool

	// Checksums are the algorithms (storage.Algorithms names) computed
	// while every upload streams in, besides SHA-256, which always is;
	// default CRC32. The store records them with the file, and HASH, XSHA256
	// and the other X commands answer from them. NoChecksums computes none
	// (for measurements; HASH then reads files).
	Checksums   []string
	NoChecksums bool
	// HashMaxBytes bounds what HASH reads of a file with no recorded
	// checksum (default 1 GiB); larger ones get 550.
	HashMaxBytes int64
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Banner == "" {
		c.Banner = "bucketftp ready."
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.IdleTimeout, 5*time.Minute)
	def(&c.DataTimeout, 30*time.Second)
	def(&c.StallTimeout, c.IdleTimeout)
	def(&c.LoginFailDelay, time.Second)
	def(&c.LoginTimeout, time.Minute)
	def(&c.ShutdownWait, 10*time.Second)
	def(&c.ProxyHeaderTimeout, 3*time.Second)
	if c.ProxyProtocol == proxyUnset {
		c.ProxyProtocol = ProxyOff
	}
	if c.ProxyProtocolData == proxyUnset {
		c.ProxyProtocolData = c.ProxyProtocol
	}
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defInt(&c.MaxLoginFailures, 3)
	defInt(&c.ListTreeMax, 10000)
	defInt(&c.MaxConnections, 500)
	defInt(&c.MaxConnectionsPerIP, 200)
	defInt(&c.MaxLineLength, 4096)
	defInt(&c.MaxPassivePerIP, 8)
	defInt(&c.MaxQueuedCommands, 64)
	defInt(&c.MaxQueuedBytes, 64<<10)
	if c.Checksums == nil {
		c.Checksums = []string{storage.CRC32}
	}
	if c.HashMaxBytes == 0 {
		c.HashMaxBytes = 1 << 30
	}
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Auth == nil {
		errs = append(errs, errors.New("no authenticator"))
	}
	if c.PassivePortMin < 0 || c.PassivePortMax > 65535 || c.PassivePortMin > c.PassivePortMax ||
		(c.PassivePortMin == 0) != (c.PassivePortMax == 0) {
		errs = append(errs, fmt.Errorf("passive port range %d-%d is not a valid range of 1-65535", c.PassivePortMin, c.PassivePortMax))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"idle timeout", c.IdleTimeout}, {"data timeout", c.DataTimeout}, {"stall timeout", c.StallTimeout},
		{"login timeout", c.LoginTimeout}, {"PROXY header timeout", c.ProxyHeaderTimeout}, {"ban window", c.Ban.Window}, {"ban duration", c.Ban.Duration}, {"longest ban", c.Ban.MaxDuration}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if (c.TLSRequired || c.RequireDataTLS) && c.TLS == nil {
		errs = append(errs, errors.New("TLS is required but no certificate is configured"))
	}
	if c.TLS != nil && c.TLS.MinVersion != 0 && c.TLS.MinVersion < tls.VersionTLS12 {
		errs = append(errs, errors.New("TLS minimum version below 1.2"))
	}
	if _, err := charset.Canonical(c.NameEncoding); err != nil {
		errs = append(errs, fmt.Errorf("name encoding: %w", err))
	}
	if (c.ProxyProtocol > ProxyOff || c.ProxyProtocolData > ProxyOff) && len(c.ProxyTrusted) == 0 {
		errs = append(errs, errors.New("the PROXY protocol is on but no trusted proxy addresses are configured"))
	}
	if c.ASCII != "" && c.ASCII != "convert" && c.ASCII != "binary" {
		errs = append(errs, fmt.Errorf("ascii must be convert or binary, not %q", c.ASCII))
	}
	if c.MaxLineLength != 0 && c.MaxLineLength < 512 {
		errs = append(errs, fmt.Errorf("max line length %d is below 512", c.MaxLineLength))
	}
	if c.MaxConnections < 0 || c.MaxConnectionsPerIP < 0 || c.MaxLoginFailures < 0 || c.MaxPassivePerIP < 0 ||
		c.MaxQueuedCommands < 0 || c.MaxQueuedBytes < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	return errors.Join(errs...)
}

// Server serves FTP. Create it with New; Serve one or more listeners; stop it
// with Shutdown or Close.
type Server struct {
	cfg Config
	log *slog.Logger

	// base is cancelled by Close, or when Shutdown's grace period ends: every
	// session and transfer context derives from it.
	base       context.Context
	cancelBase context.CancelFunc
	// draining is closed when Shutdown starts.
	draining  chan struct{}
	drainOnce sync.Once

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	perIP     map[netip.Addr]int
	total     int
	pasvPorts map[int]struct{}   // passive ports handed out and not yet closed
	pasvPerIP map[netip.Addr]int // open passive listeners by client address
	pasvFreed chan struct{}      // closed (and replaced) when a passive listener closes
	defender  *defender
	closed    bool

	xferMu sync.Mutex // one TransferLog line at a time

	sessions sync.WaitGroup
	nextID   atomic.Uint64
	idPrefix string // random, per server: session ids are unique across replicas and restarts
}

// New checks cfg and returns a server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ftp config: %w", err)
	}
	cfg.setDefaults()
	base, cancel := context.WithCancel(context.Background())
	var rnd [4]byte
	_, _ = crand.Read(rnd[:]) // never fails (crypto/rand)
	srv := &Server{
		idPrefix:   hex.EncodeToString(rnd[:]),
		cfg:        cfg,
		log:        cfg.Logger,
		base:       base,
		cancelBase: cancel,
		draining:   make(chan struct{}),
		listeners:  map[net.Listener]struct{}{},
		perIP:      map[netip.Addr]int{},
		pasvPorts:  map[int]struct{}{},
		pasvPerIP:  map[netip.Addr]int{},
		pasvFreed:  make(chan struct{}),
		defender:   newDefender(cfg.Ban, cfg.Logger),
	}
	if cfg.Ban.Shared != nil && cfg.Ban.After >= 0 {
		go srv.defender.syncLoop(base)
	}
	return srv, nil
}

// ListenAndServe listens on addr and serves it.
func (srv *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return srv.Serve(l)
}

// Serve accepts control connections on l until Shutdown or Close, and then
// returns ErrServerClosed. It closes l.
func (srv *Server) Serve(l net.Listener) error {
	return srv.serve(l, false)
}

// ServeTLS serves implicit FTPS on l: every control connection starts with
// a TLS handshake, and data connections are private (PROT P) by default.
func (srv *Server) ServeTLS(l net.Listener) error {
	if srv.cfg.TLS == nil {
		l.Close()
		return errors.New("ftp: ServeTLS needs Config.TLS")
	}
	return srv.serve(l, true)
}

func (srv *Server) serve(l net.Listener, implicitTLS bool) error {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	srv.listeners[l] = struct{}{}
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		delete(srv.listeners, l)
		srv.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if srv.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				srv.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-srv.base.Done():
				}
				continue
			}
			return err
		}
		backoff = 0
		srv.handle(c, implicitTLS)
	}
}

func (srv *Server) isClosed() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closed
}

// handle serves a new control connection on its own goroutine: it reads
// the PROXY header, if one is expected, then admits or refuses the client.
func (srv *Server) handle(c net.Conn, implicitTLS bool) {
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		refuseConnection(c, "Server shutting down.")
		return
	}
	srv.sessions.Add(1)
	srv.mu.Unlock()
	go func() {
		defer srv.sessions.Done()
		local := addrPortOf(c.LocalAddr())
		p, err := srv.acceptProxied(c, srv.cfg.ProxyProtocol)
		if err != nil {
			srv.log.Warn("connection refused", "remote", addrPortOf(c.RemoteAddr()).String(), "reason", err)
			srv.cfg.Observer.Refused("proxy")
			c.Close()
			return
		}
		if !srv.admit(p) {
			return
		}
		defer srv.release(p.client.Addr())
		s := newSession(srv, p, local, fmt.Sprintf("%s-%x", srv.idPrefix, srv.nextID.Add(1)))
		s.implicitTLS = implicitTLS
		s.serve(srv.base)
	}()
}

// admit counts a client's connection against the limits and bans, or
// refuses it with 421.
func (srv *Server) admit(p *proxied) bool {
	ip := p.client.Addr()
	_, banned := srv.defender.banned(ip)
	srv.mu.Lock()
	refuse, reason := "", ""
	switch {
	case srv.closed:
		refuse, reason = "Server shutting down.", "shutdown"
	case banned:
		refuse, reason = "Too many failed logins from your address; try again later.", "banned"
	case srv.total >= srv.cfg.MaxConnections:
		refuse, reason = "Too many connections, try again later.", "limit"
	case srv.perIP[ip] >= srv.cfg.MaxConnectionsPerIP:
		refuse, reason = "Too many connections from your address.", "limit"
	}
	if refuse == "" {
		srv.total++
		srv.perIP[ip]++
	}
	srv.mu.Unlock()
	if refuse != "" {
		srv.log.Info("connection refused", "remote", p.client.String(), "reason", refuse)
		srv.cfg.Observer.Refused(reason)
		refuseConnection(p, refuse)
		return false
	}
	return true
}

func (srv *Server) release(ip netip.Addr) {
	srv.mu.Lock()
	srv.total--
	if srv.perIP[ip]--; srv.perIP[ip] <= 0 {
		delete(srv.perIP, ip)
	}
	srv.mu.Unlock()
}

// Shutdown answers new connections and idle sessions with 421 and closes
// them, and lets running transfers finish; the listeners close when the
// last session has ended. When ctx ends first, remaining transfers are
// aborted (clients get 426; an upload that stored something is kept for
// resuming where the store keeps interrupted uploads) and Shutdown returns
// ctx's error once every session has ended, or after ShutdownWait more.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.closed = true // from now on handle answers 421
	srv.mu.Unlock()
	defer srv.stopListening()
	srv.drainOnce.Do(func() { close(srv.draining) })
	done := make(chan struct{})
	go func() {
		srv.sessions.Wait()
		close(done)
	}()
	select {
	case <-done:
		srv.cancelBase()
		return nil
	case <-ctx.Done():
		srv.cancelBase()
		t := time.NewTimer(srv.cfg.ShutdownWait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			srv.log.Warn("sessions still finishing their aborted transfers; not waiting for them", "waited", srv.cfg.ShutdownWait)
		}
		return ctx.Err()
	}
}

// Draining reports whether Shutdown or Close has begun (for readiness).
func (srv *Server) Draining() bool {
	select {
	case <-srv.draining:
		return true
	default:
		return false
	}
}

// Close stops the server at once: listeners and every session are closed,
// transfers aborted.
func (srv *Server) Close() error {
	srv.stopListening()
	srv.drainOnce.Do(func() { close(srv.draining) })
	srv.cancelBase()
	srv.sessions.Wait()
	return nil
}

func (srv *Server) stopListening() {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.closed = true
	for l := range srv.listeners {
		l.Close()
	}
}

// errPassiveShare is a client holding its share of the passive listeners.
var errPassiveShare = errors.New("too many passive listeners for one address")

// ActiveBans is the number of addresses banned now (for metrics).
func (srv *Server) ActiveBans() int { return srv.defender.active() }

// listenPassive opens a listener for one passive data connection on ip for
// client, taking a port from the configured range; one client address may
// hold at most MaxPassivePerIP of them at once. A PASV beyond that waits
// up to DataTimeout for one of them to close (a listener lives from
// PASV to the client's connection, milliseconds for a working client), so
// a crowd of sessions behind one address is served in turn; a client that
// holds listeners without connecting gets 425.
func (srv *Server) listenPassive(ip, client netip.Addr) (net.Listener, error) {
	deadline := time.NewTimer(srv.cfg.DataTimeout)
	defer deadline.Stop()
	srv.mu.Lock()
	for srv.pasvPerIP[client] >= srv.cfg.MaxPassivePerIP {
		freed := srv.pasvFreed
		srv.mu.Unlock()
		select {
		case <-freed:
		case <-deadline.C:
			return nil, errPassiveShare
		case <-srv.base.Done():
			return nil, errPassiveShare
		}
		srv.mu.Lock()
	}
	srv.pasvPerIP[client]++
	srv.mu.Unlock()
	release := func() {
		srv.mu.Lock()
		if srv.pasvPerIP[client]--; srv.pasvPerIP[client] <= 0 {
			delete(srv.pasvPerIP, client)
		}
		close(srv.pasvFreed)
		srv.pasvFreed = make(chan struct{})
		srv.mu.Unlock()
	}
	l, err := srv.listenPort(ip)
	if err != nil {
		release()
		return nil, err
	}
	return &portListener{Listener: l, release: release}, nil
}

// dataListen makes passive listeners. Their connections get no TCP
// keep-alive: each read and write has its own deadline (transfer.go), and
// the four setsockopt calls per connection were a tenth of the system
// calls of a small upload.
var dataListen = net.ListenConfig{KeepAlive: -1}

// listenPort listens on ip, on a free port of the configured range.
func (srv *Server) listenPort(ip netip.Addr) (net.Listener, error) {
	lo, hi := srv.cfg.PassivePortMin, srv.cfg.PassivePortMax
	if lo == 0 {
		return dataListen.Listen(context.Background(), "tcp", netip.AddrPortFrom(ip, 0).String())
	}
	n := hi - lo + 1
	start := rand.IntN(n)
	var lastErr error = errors.New("all passive ports in use")
	for i := range n {
		port := lo + (start+i)%n
		srv.mu.Lock()
		_, taken := srv.pasvPorts[port]
		if !taken {
			srv.pasvPorts[port] = struct{}{}
		}
		srv.mu.Unlock()
		if taken {
			continue
		}
		l, err := dataListen.Listen(context.Background(), "tcp", netip.AddrPortFrom(ip, uint16(port)).String())
		if err != nil {
			srv.releasePort(port)
			lastErr = err
			continue
		}
		return &portListener{Listener: l, release: func() { srv.releasePort(port) }}, nil
	}
	return nil, lastErr
}

func (srv *Server) releasePort(port int) {
	srv.mu.Lock()
	delete(srv.pasvPorts, port)
	srv.mu.Unlock()
}

// portListener gives its port back to the pool when closed.
type portListener struct {
	net.Listener
	once    sync.Once
	release func()
}

func (l *portListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(l.release)
	return err
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
