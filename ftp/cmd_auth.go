package ftp

import (
	"context"
	"errors"
	"time"

	"github.com/bucketftp/bucketftp/auth"
)

// handleUSER starts a login. It says 331 for every name, known or not, so
// replies cannot be used to find user names. USER while logged in starts
// over as another user (RFC 959 4.1.1).
func (s *session) handleUSER(ctx context.Context, arg string) error {
	if !s.secure && s.tlsRequired(arg) {
		s.logout()
		return refuse(codeNotLoggedIn, "TLS required: send AUTH TLS before USER.")
	}
	s.logout()
	s.userName = arg
	s.state = stateNeedPass
	s.reply(codeNeedPassword, "Please specify the password.")
	return nil
}

func (s *session) handlePASS(ctx context.Context, arg string) error {
	if s.state != stateNeedPass {
		return refuse(codeBadSequence, "Login with USER first.")
	}
	s.state = stateNeedUser
	actx := auth.WithConn(ctx, auth.ConnInfo{TLS: s.secure, Implicit: s.implicitTLS})
	acct, err := s.srv.cfg.Auth.Authenticate(actx, s.userName, arg, s.remote.Addr())
	if err == nil {
		s.acct = acct
		s.holdTempNames()
		s.state = stateReady
		s.cwd = "/"
		s.log = s.sessionLog.With("user", acct.User)
		s.applySettings()
		s.log.Info("login", "result", "ok")
		s.srv.cfg.Observer.Login(true)
		s.reply(codeLoggedIn, "Login successful.")
		return nil
	}

	s.srv.cfg.Observer.Login(false)
	s.loginFailed(ctx, codeNotLoggedIn)
	if !errors.Is(err, auth.ErrLoginFailed) {
		// The directory or hook could not answer, or the user's storage
		// (their home) could not be reached or made: not the client's
		// failure, so neither counted nor delayed (an outage of the store
		// must not ban everyone), and never a login.
		if errors.Is(err, auth.ErrUnavailable) {
			s.log.Warn("login", "result", "unavailable", "user", s.userName, "err", err)
		} else {
			s.log.Error("login", "result", "error", "user", s.userName, "err", err)
		}
		return refuseAndClose("Login service not available, try again later.")
	}
	s.loginFails++
	s.log.Info("login", "result", "failed", "user", s.userName, "failures", s.loginFails)
	client := s.remote.Addr()
	userFails, ban := s.srv.defender.failed(client, s.userName)
	if ban > 0 {
		// One line per ban, in a fixed shape (deploy/fail2ban matches it).
		s.srv.log.Warn("address banned", "client", client.String(), "duration", ban.String(),
			"failures", s.srv.defender.p.After, "window", s.srv.defender.p.Window.String())
	}
	// A growing delay makes guessing passwords slow: by this connection's
	// failures, or the user name's failures from every address, whichever
	// is more (at most ten times the delay).
	t := time.NewTimer(s.srv.cfg.LoginFailDelay * time.Duration(min(max(s.loginFails, userFails), 10)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil
	}
	if ban > 0 {
		return refuseAndClose("Too many failed logins from your address, closing control connection.")
	}
	if s.loginFails >= s.srv.cfg.MaxLoginFailures {
		return refuseAndClose("Too many failed logins, closing control connection.")
	}
	return refuse(codeNotLoggedIn, "Login incorrect.")
}

// handleACCT: no site needs an account, so 332 and 532 are never sent.
func (s *session) handleACCT(ctx context.Context, arg string) error {
	if s.state != stateReady {
		return refuse(codeBadSequence, "Login with USER and PASS first.")
	}
	s.reply(codeSuperfluous, "ACCT not needed.")
	return nil
}

// handleREIN ends the login but keeps the connection (RFC 959 4.1.1).
func (s *session) handleREIN(ctx context.Context, arg string) error {
	s.logout()
	s.reply(codeServiceReady, "Ready for new user.")
	return nil
}

func (s *session) logout() {
	s.releaseHeld()
	if s.acct != nil {
		s.log.Info("logout")
		s.acct.Close()
	}
	s.acct = nil
	s.log = s.sessionLog
	s.state = stateNeedUser
	s.userName = ""
	s.cwd = "/"
	s.binary = false
	s.pend = pending{}
	s.epsvAll = false
	s.sums.reset()
	s.closeData()
	s.applySettings()
}

func (s *session) handleQUIT(ctx context.Context, arg string) error {
	s.reply(codeClosing, "Goodbye.")
	s.quit = true
	return nil
}
