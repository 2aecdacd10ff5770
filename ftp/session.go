package ftp

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/charset"
	"github.com/bucketftp/bucketftp/storage"
)

type state int

const (
	stateNeedUser state = iota
	stateNeedPass
	stateReady
)

// session is one control connection. Its fields belong to the goroutine
// running serve; a running transfer touches only its own *transfer and the
// reply writer (which has its own lock).
type session struct {
	srv  *Server
	conn net.Conn
	id   string
	log  *slog.Logger // sessionLog, with the user once logged in
	// sessionLog is the session's logger before login: its id and client.
	sessionLog *slog.Logger
	// cmdPerm is the permission the running command needs (its table
	// entry's perm): checked again at each path it resolves (resolve),
	// where a mount's permissions may differ from the home's.
	cmdPerm auth.Permission
	remote  netip.AddrPort // the client: the socket's peer, or a trusted PROXY header's source
	local   netip.AddrPort // the socket's own address
	// proxyDest is the address the client reached, from the PROXY header
	// (zero without one).
	proxyDest netip.AddrPort

	wmu         sync.Mutex
	w           *bufio.Writer
	lastCode    int  // the last reply's code, under wmu
	preLogin    bool // not logged in: replies wait less for the client; under wmu
	writeFailed bool // a reply could not be sent and the connection is closed; under wmu

	state      state
	userName   string
	acct       *auth.Account
	temp       *tempView // the login's held temp-name uploads (tempname.go)
	cwd        string
	binary     bool            // TYPE I; the RFC 959 default is TYPE A
	asciiRaw   bool            // TYPE A transfers bytes unchanged (ascii: binary)
	names      charset.Charset // what the client sends names in
	utf8On     bool            // OPTS UTF8 ON: names are UTF-8, whatever the user's setting
	facts      factSet         // MLST/MLSD facts chosen with OPTS MLST
	sums       hashState       // OPTS HASH and SITE CHECKSUM (cmd_hash.go)
	loginFails int

	pend     pending // what REST and RNFR left for later commands
	took     pending // what the running command took of it
	data     *dataSetup
	prepared *transfer // taken by a transfer command, not yet running
	epsvAll  bool

	// FTPS (RFC 4217)
	implicitTLS bool
	secure      bool   // the control connection is TLS
	pbsz, protP bool   // PBSZ given; data connections private
	binding     []byte // ties data connections' TLS sessions to this control session
	newReader   *bufio.Reader
	acks        chan *bufio.Reader // lets the reader go on, on a new reader after AUTH

	xfer       *transfer
	queue      []string // commands that arrived during a transfer
	queueBytes int      // their length, bounded with the count by the config
	quit       bool     // end the session after the current command
}

// pending is what REST and RNFR leave for the commands after them.
type pending struct {
	rest int64  // REST's offset, for the next transfer command that takes it
	rnfr string // RNFR's path, for RNTO only right after it
}

type lineMsg struct {
	line string
	err  error
	// waits: the reader waits for serve's go-ahead after this line (an
	// AUTH, whose handshake must read the connection before the reader
	// does, and may replace the reader); after any other it reads on.
	waits bool
}

// newSession serves p; local is the address of the socket itself (where
// passive listeners open), whatever a PROXY header said.
func newSession(srv *Server, p *proxied, local netip.AddrPort, id string) *session {
	s := &session{
		srv:       srv,
		conn:      p,
		id:        id,
		remote:    p.client,
		local:     local,
		proxyDest: p.dest,
		w:         bufio.NewWriter(p),
		cwd:       "/",
		facts:     defaultFacts,
		acks:      make(chan *bufio.Reader, 1),
	}
	s.sessionLog = srv.log.With("session", id, "remote", s.remote.String())
	s.log = s.sessionLog
	s.applySettings()
	return s
}

// applySettings sets the session's name character set and ASCII mode
// from the user (when logged in) or the server, and OPTS UTF8.
func (s *session) applySettings() {
	enc, ascii := s.srv.cfg.NameEncoding, s.srv.cfg.ASCII
	if s.acct != nil {
		enc = cmp.Or(s.acct.NameEncoding, enc)
		ascii = cmp.Or(s.acct.ASCII, ascii)
	}
	if s.utf8On {
		enc = charset.UTF8
	}
	names, err := charset.Get(enc)
	if err != nil { // the users file and Config.Validate check it
		s.log.Error("unknown name encoding; using UTF-8", "encoding", enc)
	}
	s.wmu.Lock() // reply reads names from transfer goroutines
	s.names = names
	s.wmu.Unlock()
	s.asciiRaw = ascii == "binary"
}

// decodeArg turns a command's argument from the client's character set
// into UTF-8. A name that is not valid in it is refused (553), except a
// password, which is tried as sent.
func (s *session) decodeArg(verb, arg string) (string, error) {
	d, err := s.names.Decode(arg)
	switch {
	case err == nil:
		return d, nil
	case verb == "PASS":
		return arg, nil
	}
	return "", refuse(codeNameNotAllowed, "Name not valid in the "+s.names.Name()+" character set.")
}

func (s *session) serve(base context.Context) {
	ctx, cancel := context.WithCancel(base)
	start := time.Now()
	defer func() {
		cancel()
		s.closeData()
		s.conn.Close()
		s.releaseHeld()
		if s.acct != nil {
			s.acct.Close()
		}
		// The logger names the user once logged in (cmd_auth.go).
		s.log.Info("session end", "duration", time.Since(start).Round(time.Millisecond))
	}()
	s.log.Info("session start", "local", s.local.String())
	s.srv.cfg.Observer.SessionStarted()
	defer s.srv.cfg.Observer.SessionEnded()

	select {
	case <-s.srv.draining:
		s.replyClosing("Server shutting down.")
		return
	default:
	}
	if s.implicitTLS {
		if err := s.startTLS(ctx); err != nil {
			s.log.Info("implicit TLS handshake failed", "err", err)
			return
		}
		s.newReader = nil
		s.pbsz, s.protP = true, true
	}
	s.reply(codeServiceReady, s.srv.cfg.Banner)

	lines := make(chan lineMsg)
	go s.readLoop(ctx, lines)

	idle := time.NewTimer(s.srv.cfg.IdleTimeout)
	defer idle.Stop()
	// The login deadline runs from the connection (and from REIN) until
	// a login succeeds; nothing else a client sends extends it.
	loginTimer := time.NewTimer(s.srv.cfg.LoginTimeout)
	defer loginTimer.Stop()
	loginDeadline := loginTimer.C
	s.setPreLogin(true)
	draining := s.srv.draining
	for {
		switch {
		case s.state == stateReady && loginDeadline != nil:
			loginTimer.Stop()
			loginDeadline = nil
			s.setPreLogin(false)
		case s.state != stateReady && loginDeadline == nil:
			loginTimer.Reset(s.srv.cfg.LoginTimeout)
			loginDeadline = loginTimer.C
			s.setPreLogin(true)
		}
		var xferDone <-chan error
		if s.xfer != nil {
			xferDone = s.xfer.done
		}
		select {
		case m := <-lines:
			// The reader waits after an AUTH line (m.waits); it goes on
			// after the handshake, on the TLS stream, or at once if the
			// AUTH is refused during a transfer.
			holdReader := m.waits && s.xfer == nil
			if m.waits && !holdReader {
				s.acks <- nil
			}
			if errors.Is(m.err, errLineTooLong) {
				s.replyError(ctx, "", refuse(codeSyntaxError, "Command line too long."), false)
				continue
			}
			if m.err != nil {
				if s.xfer != nil {
					s.finishTransfer(ctx, s.abortTransfer(false))
				}
				s.log.Debug("control connection closed", "err", m.err)
				return
			}
			if s.xfer != nil {
				s.duringTransfer(ctx, m.line)
				s.runQueued(ctx) // after ABOR, what came before it
				if s.quit {
					return
				}
				continue
			}
			s.execute(ctx, m.line)
			if holdReader {
				s.acks <- s.newReader
				s.newReader = nil
			}
			if s.quit {
				return
			}
			idle.Reset(s.srv.cfg.IdleTimeout)
		case err := <-xferDone:
			s.finishTransfer(ctx, err)
			s.runQueued(ctx)
			if s.quit {
				return
			}
			if s.xfer == nil && draining == nil {
				s.replyClosing("Server shutting down.")
				return
			}
			idle.Reset(s.srv.cfg.IdleTimeout)
		case <-loginDeadline:
			loginDeadline = nil
			if s.state == stateReady {
				continue
			}
			s.log.Info("login timeout")
			s.replyClosing("Login timeout, closing control connection.")
			return
		case <-idle.C:
			if s.xfer != nil {
				idle.Reset(s.srv.cfg.IdleTimeout)
				continue
			}
			s.log.Info("idle timeout")
			s.replyClosing("Timeout, closing control connection.")
			return
		case <-draining:
			draining = nil
			if s.xfer == nil {
				s.replyClosing("Server shutting down.")
				return
			}
		case <-ctx.Done():
			if s.xfer != nil {
				s.finishTransfer(ctx, s.abortTransfer(true))
			}
			s.replyClosing("Server shutting down.")
			return
		}
	}
}

// readLoop reads command lines and hands them to serve one at a time.
// After a line it reads on at once, except after an AUTH (lineMsg.waits):
// the unbuffered channel still hands serve one line at a time, and not
// waiting saves a hand-off between goroutines per command.
func (s *session) readLoop(ctx context.Context, out chan<- lineMsg) {
	r := bufio.NewReaderSize(s.conn, 4096)
	for {
		line, err := readLine(r, s.srv.cfg.MaxLineLength)
		verb, _ := parseCommand(line)
		m := lineMsg{line: line, err: err, waits: verb == "AUTH" && err == nil}
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			return
		}
		if !m.waits {
			continue
		}
		select {
		case next := <-s.acks:
			if next != nil {
				r = next
			}
		case <-ctx.Done():
			return
		}
	}
}

// duringTransfer handles a command that arrives while a transfer runs:
// those marked inXfer in the table (ABOR, STAT: RFC 959 4.1.3) run at
// once, anything else waits its turn.
func (s *session) duringTransfer(ctx context.Context, line string) {
	verb, _ := parseCommand(line)
	switch {
	case commands[verb].inXfer:
		s.execute(ctx, line)
	default:
		if len(s.queue) >= s.srv.cfg.MaxQueuedCommands || s.queueBytes+len(line) > s.srv.cfg.MaxQueuedBytes {
			// A client that does not wait for replies: end the session
			// rather than hold its commands without bound.
			s.log.Warn("too many commands during a transfer; closing", "queued", len(s.queue), "bytes", s.queueBytes)
			s.finishTransfer(ctx, s.abortTransfer(true))
			s.replyError(ctx, verb, refuseAndClose("Too many commands sent during a transfer, closing control connection."), false)
			return
		}
		s.queue = append(s.queue, line)
		s.queueBytes += len(line)
	}
}

// runQueued runs the commands that arrived during a transfer, once none
// runs, in order, until one starts another transfer.
func (s *session) runQueued(ctx context.Context) {
	for s.xfer == nil && len(s.queue) > 0 && !s.quit {
		line := s.queue[0]
		s.queue = s.queue[1:]
		s.queueBytes -= len(line)
		s.execute(ctx, line)
	}
	if len(s.queue) == 0 {
		s.queue = nil // let a large backing array go
	}
}

// execute runs one command through the command table, doing the
// cross-cutting checks once.
func (s *session) execute(ctx context.Context, line string) {
	verb, arg := parseCommand(line)
	s.logCommand(line)
	defer s.observeCommand(verb)
	arg, argErr := s.decodeArg(verb, arg)
	if isProxyLine(verb) && s.srv.cfg.ProxyProtocol != ProxyOff {
		s.log.Warn("connection refused", "reason", errUntrustedProxy)
		argErr = refuseAndClose("PROXY header from an untrusted address.")
	}

	cmd, ok := commands[verb]
	// RNFR's path is for the very next command; REST's offset waits for
	// the transfer command that takes it.
	s.took = pending{}
	if cmd.takes&takesRNFR != 0 {
		s.took.rnfr = s.pend.rnfr
	}
	s.pend.rnfr = ""
	if cmd.takes&takesREST != 0 {
		s.took.rest, s.pend.rest = s.pend.rest, 0
	}
	if err := cmp.Or(argErr, s.admit(cmd, ok, arg)); err != nil {
		s.replyError(ctx, verb, err, false)
		return
	}

	defer func() {
		if p := recover(); p != nil {
			s.dropPrepared()
			ref := newRef()
			s.log.Error("panic in command handler", "verb", verb, "panic", fmt.Sprint(p), "ref", ref, "stack", string(debug.Stack()))
			s.replyError(ctx, verb, refuse(codeLocalError, "Local error in processing (ref "+ref+")."), false)
		}
	}()
	if s.acct != nil {
		// The store sees who asks: a user's own pending (resumable)
		// uploads show in their listings and nobody else's.
		ctx = storage.WithUploader(ctx, storage.Uploader{User: s.acct.User, Client: s.remote.String(), Session: s.id})
	}
	s.cmdPerm = cmd.perm
	err := cmd.fn(s, ctx, arg)
	s.cmdPerm = 0
	if cmd.xfer {
		s.dropPrepared()
	}
	if err != nil {
		s.replyError(ctx, verb, err, false)
	}
}

// admit does the dispatcher's checks of a command, in RFC 959's order:
// unknown (500), not implemented (502), not logged in (530), missing
// argument (501), not permitted (550), no data connection (425).
func (s *session) admit(cmd command, known bool, arg string) error {
	public := cmd.public || (cmd.publicBare && arg == "")
	switch {
	case !known:
		return refuse(codeSyntaxError, "Command not understood.")
	case cmd.fn == nil:
		return refuse(codeNotImplemented, "Command not implemented.")
	case !public && s.state != stateReady:
		return refuse(codeNotLoggedIn, "Please login with USER and PASS.")
	case cmd.arg == argRequired && arg == "":
		return refuse(codeArgSyntax, "Syntax error in parameters or arguments.")
	case !public && cmd.perm != 0 && !s.acct.Perms.Has(cmd.perm):
		return errDenied
	case cmd.xfer && s.xfer == nil:
		if err := s.needData(); err != nil {
			s.closeData()
			return err
		}
	}
	return nil
}

// dropPrepared gives up the data connection of a transfer command that
// returned without starting its transfer.
func (s *session) dropPrepared() {
	if s.prepared != nil && s.prepared != s.xfer {
		s.prepared.discard()
	}
	s.prepared = nil
	s.closeData()
}

// observeCommand reports a command with its (last) reply code; verbs not in
// the table are "other", so clients cannot grow the metric without bound.
func (s *session) observeCommand(verb string) {
	if _, ok := commands[verb]; !ok {
		verb = "other"
	}
	s.wmu.Lock()
	code := s.lastCode
	s.wmu.Unlock()
	s.srv.cfg.Observer.Command(verb, code)
}

func (s *session) logCommand(line string) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if looksLikePASS(line) {
		line = "PASS ****"
	}
	s.log.Debug("command", "line", line)
}

func (s *session) setPreLogin(b bool) {
	s.wmu.Lock()
	s.preLogin = b
	s.wmu.Unlock()
}

// looksLikePASS reports a line that may carry a password, masked in the
// log: a PASS, and lines that are not a well-formed one (" PASS x",
// "PASS\tx", answered 500) but carry one all the same.
func looksLikePASS(line string) bool {
	t := strings.TrimLeft(line, " \t")
	if len(t) < 4 || !strings.EqualFold(t[:4], "PASS") {
		return false
	}
	return len(t) == 4 || !('a' <= t[4]|0x20 && t[4]|0x20 <= 'z')
}

// statusText is STAT's reply without an argument (RFC 959: during a
// transfer too).
func (s *session) statusText() string {
	user := "not logged in"
	if s.acct != nil {
		user = "logged in as " + s.acct.User
	}
	typ := "ASCII"
	if s.binary {
		typ = "BINARY"
	}
	lines := []string{
		"bucketftp status:",
		"Connected from " + s.remote.Addr().String(),
		"Session " + user,
		"TYPE: " + typ + ", STRUcture: File, MODE: Stream",
		"Control connection: " + map[bool]string{true: "TLS", false: "plain"}[s.secure] + "; data connections: " + map[bool]string{true: "private (PROT P)", false: "clear"}[s.protP],
		"Idle timeout: " + s.srv.cfg.IdleTimeout.String(),
	}
	switch {
	case s.xfer != nil:
		lines = append(lines, fmt.Sprintf("Transfer in progress: %s %s, %d bytes so far", s.xfer.verb, s.xfer.path, s.xfer.bytes.Load()))
	case s.data != nil:
		lines = append(lines, "Data connection: "+s.data.describe())
	default:
		lines = append(lines, "No data connection")
	}
	return joinLines(append(lines, "End of status")...)
}

func joinLines(lines ...string) string {
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	b := make([]byte, 0, n)
	for i, l := range lines {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, l...)
	}
	return string(b)
}

// copyData copies src to dst counting into n; a failure writing to or
// reading from the data connection is reported as a *dataConnError.
func copyData(dst io.Writer, src io.Reader, n *countingInt, dstIsData bool) error {
	buf := make([]byte, 256<<10)
	for {
		// Gather at least 128 KiB per write: a store's socket yields a few
		// packets per read, and one write per read doubles the system calls
		// and wakeups of a download.
		nr, rerr := io.ReadAtLeast(src, buf, 128<<10)
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n.Add(int64(nw))
			if werr != nil {
				if dstIsData {
					return &dataConnError{err: werr}
				}
				return werr
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if !dstIsData {
				return &dataConnError{err: rerr}
			}
			return rerr
		}
	}
}
