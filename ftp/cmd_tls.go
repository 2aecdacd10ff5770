package ftp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"strings"
)

// SessionReuse says whether a PROT P data connection must resume the TLS
// session of its control connection.
type SessionReuse int

const (
	// ReuseAllow (the default) lets clients resume the control connection's
	// session on data connections, and accepts full handshakes too.
	ReuseAllow SessionReuse = iota
	// ReuseOff never resumes.
	ReuseOff
	// ReuseRequire refuses a data connection that did not resume the session
	// of its own control connection (522), as FileZilla Server and vsftpd's
	// require_ssl_reuse do: a stolen data connection cannot present it.
	ReuseRequire
)

// ParseSessionReuse reads "off", "allow" or "require".
func ParseSessionReuse(s string) (SessionReuse, error) {
	switch strings.ToLower(s) {
	case "allow", "":
		return ReuseAllow, nil
	case "off":
		return ReuseOff, nil
	case "require":
		return ReuseRequire, nil
	}
	return 0, errors.New("want off, allow or require")
}

// errNoReuse: a PROT P data connection did not resume the control
// connection's TLS session while reuse is required.
var errNoReuse = errors.New("data connection did not resume the control connection's TLS session")

// handleAUTH upgrades the control connection (RFC 4217 4). The reader
// waits while the handshake runs; afterwards it reads the TLS stream.
func (s *session) handleAUTH(ctx context.Context, arg string) error {
	if s.xfer != nil {
		return refuse(codeBadSequence, "AUTH is not allowed during a transfer.")
	}
	if s.srv.cfg.TLS == nil {
		return refuse(codeNotImplemented, "AUTH not available: no TLS certificate configured.")
	}
	mech := strings.ToUpper(strings.TrimSpace(arg))
	switch mech {
	case "TLS", "TLS-C", "SSL", "TLS-P":
	default:
		return refuse(codeParamNotImplemented, "AUTH type not supported; use AUTH TLS.")
	}
	if s.secure {
		return refuse(codeBadSequence, "Already using TLS.")
	}
	s.reply(codeAuthOK, "AUTH "+mech+" successful.")
	if err := s.startTLS(ctx); err != nil {
		s.log.Info("TLS handshake on the control connection failed", "err", err)
		s.quit = true
		return nil
	}
	s.logout() // RFC 4217 4: a login before AUTH does not carry over
	// The older names ask for protected data too (draft-murray-auth-ftp-ssl,
	// which RFC 4217 replaced; ProFTPD does the same): as if PBSZ 0 and
	// PROT P followed.
	if mech == "SSL" || mech == "TLS-P" {
		s.pbsz, s.protP = true, true
	}
	return nil
}

// startTLS runs the server side of a TLS handshake on the control
// connection and switches reading and writing to it.
func (s *session) startTLS(ctx context.Context) error {
	s.binding = make([]byte, 16)
	_, _ = rand.Read(s.binding)
	tc := tls.Server(s.conn, s.controlTLS())
	hctx, cancel := context.WithTimeout(ctx, s.srv.cfg.DataTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return err
	}
	s.wmu.Lock()
	s.conn = tc
	s.w = bufio.NewWriter(tc)
	s.wmu.Unlock()
	s.newReader = bufio.NewReaderSize(tc, 4096)
	s.secure = true
	st := tc.ConnectionState()
	s.log.Info("TLS on control connection", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return nil
}

// controlTLS is the server's TLS settings for this control connection: its
// session tickets carry this session's binding, so that a data connection
// can prove it resumed this very control session.
func (s *session) controlTLS() *tls.Config {
	base := s.srv.cfg.TLS
	c := base.Clone()
	binding := s.binding
	c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		ss.Extra = append(ss.Extra, binding)
		return base.EncryptTicket(cs, ss)
	}
	return c
}

// dataTLS is the TLS settings for this session's data connections.
func (s *session) dataTLS() *tls.Config {
	base := s.srv.cfg.TLS
	c := base.Clone()
	if s.srv.cfg.SessionReuse == ReuseOff {
		c.SessionTicketsDisabled = true
		return c
	}
	binding := s.binding
	c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := base.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return nil, nil // not ours: a full handshake
		}
		for _, e := range ss.Extra {
			if bytes.Equal(e, binding) {
				return ss, nil
			}
		}
		return nil, nil // another control connection's session
	}
	c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		ss.Extra = append(ss.Extra, binding)
		return base.EncryptTicket(cs, ss)
	}
	return c
}

// handlePBSZ: the only buffer size TLS needs is 0 (RFC 4217 8).
func (s *session) handlePBSZ(ctx context.Context, arg string) error {
	if !s.secure {
		return refuse(codeBadSequence, "PBSZ needs AUTH TLS first.")
	}
	if strings.TrimSpace(arg) == "" || strings.Trim(arg, "0123456789 ") != "" {
		return refuse(codeArgSyntax, "PBSZ needs a number.")
	}
	s.pbsz = true
	s.reply(codeOK, "PBSZ=0")
	return nil
}

// handlePROT chooses clear (C) or private (P) data connections (RFC 4217 9).
func (s *session) handlePROT(ctx context.Context, arg string) error {
	if !s.pbsz {
		return refuse(codeBadSequence, "PROT needs PBSZ first.")
	}
	switch strings.ToUpper(strings.TrimSpace(arg)) {
	case "P":
		s.protP = true
		s.reply(codeOK, "Protection level set to Private.")
	case "C":
		if s.srv.cfg.RequireDataTLS {
			return refuse(codeDeniedPolicy, "Data connections must be encrypted (PROT P).")
		}
		s.protP = false
		s.reply(codeOK, "Protection level set to Clear.")
	case "S", "E":
		return refuse(codeProtNotSupported, "Protection level not supported; use PROT P or C.")
	default:
		return refuse(codeParamNotImplemented, "Unknown protection level.")
	}
	return nil
}

// handleCCC: the control connection stays encrypted (RFC 2228 CCC refused).
func (s *session) handleCCC(ctx context.Context, arg string) error {
	return refuse(codeDeniedPolicy, "CCC refused: the control connection stays encrypted.")
}

// tlsRequired reports whether user must log in over TLS. A user whose
// entry requires TLS cannot log in at all on a server without a
// certificate, rather than log in in clear.
func (s *session) tlsRequired(user string) bool {
	if s.srv.cfg.TLSRequired {
		return true
	}
	if r, ok := s.srv.cfg.Auth.(TLSPolicy); ok {
		return r.RequiresTLS(user)
	}
	return false
}
