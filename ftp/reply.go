package ftp

import (
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bucketftp/bucketftp/storage"
)

// Reply codes, named after RFC 959 section 4.2 (and RFC 2428, 3659, 4217
// where noted).
const (
	codeRestartMarker       = 110 // never sent: MODE B only
	codeReadyInMinutes      = 120 // never sent: connections are served or refused at once
	codeAlreadyOpen         = 125 // data connection already open; transfer starting
	codeAboutToOpen         = 150 // file status okay; about to open data connection
	codeOK                  = 200
	codeSuperfluous         = 202
	codeSystemStatus        = 211
	codeDirStatus           = 212
	codeFileStatus          = 213
	codeHelp                = 214
	codeSystemType          = 215
	codeServiceReady        = 220
	codeClosing             = 221
	codeNoTransfer          = 225 // data connection open; no transfer in progress
	codeTransferComplete    = 226
	codePassive             = 227
	codeExtendedPassive     = 229 // RFC 2428
	codeAuthOK              = 234 // RFC 2228: security data exchange complete
	codeLoggedIn            = 230
	codeFileActionOK        = 250
	codePathCreated         = 257
	codeNeedPassword        = 331
	codeNeedAccount         = 332 // never sent: no site needs ACCT
	codePending             = 350
	codeNotAvailable        = 421
	codeCantOpenData        = 425
	codeTransferAborted     = 426
	codeFileUnavailable     = 450
	codeLocalError          = 451
	codeInsufficientStorage = 452
	codeSyntaxError         = 500
	codeArgSyntax           = 501
	codeNotImplemented      = 502
	codeBadSequence         = 503
	codeParamNotImplemented = 504
	codeDataProtection      = 521 // RFC 4217 9: data connection not allowed with this PROT
	codeNetProtoUnsupported = 522 // RFC 2428; also RFC 4217's TLS failure on a data connection
	codeNotLoggedIn         = 530
	codeNeedAccountToStore  = 532 // never sent: no site needs ACCT
	codeActionNotTaken      = 550
	codePageTypeUnknown     = 551 // never sent: STRU P is refused with 504
	codeExceededStorage     = 552
	codeNameNotAllowed      = 553
	codeInvalidRest         = 554 // RFC 1123 4.1.3.4, RFC 3659 5.5
	codeDeniedPolicy        = 534 // RFC 2228: request denied for policy reasons
	codeProtNotSupported    = 536 // RFC 2228: protection level not supported
)

// reply writes one reply. Safe to call from a transfer goroutine.
func (s *session) reply(code int, text string) {
	s.replyWithin(code, text, s.srv.cfg.DataTimeout+s.srv.cfg.IdleTimeout)
}

// replyWithin sends a reply, giving a client that does not read its
// replies d to take it, and before login no more than closingWait (or the
// login timeout, if shorter): a client flooding commands before login
// without reading would otherwise hold the session while the login
// deadline cannot fire. Past that the connection is closed, which ends
// the session.
func (s *session) replyWithin(code int, text string, d time.Duration) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.preLogin {
		d = min(d, closingWait, s.srv.cfg.LoginTimeout)
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(d))
	_, err := s.w.WriteString(s.names.EncodeLossy(formatReply(code, text)))
	if err == nil {
		err = s.w.Flush()
	}
	if err != nil && !s.writeFailed {
		s.writeFailed = true
		s.log.Info("control connection closed: a reply could not be sent", "err", err)
		s.conn.Close()
	}
	s.lastCode = code
	s.log.Debug("reply", "code", code, "text", text)
}

// replyClosing tells the client the server is closing the control
// connection (421), for reasons of the session rather than of a command:
// timeouts and shutdown.
func (s *session) replyClosing(text string) {
	s.replyWithin(codeNotAvailable, text, closingWait)
}

// closingWait is how long a 421 before closing may wait for a client that
// does not read.
const closingWait = 5 * time.Second

// refuseConnection answers a connection that will not be served with 421
// and closes it.
func refuseConnection(c net.Conn, text string) {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte(formatReply(codeNotAvailable, text)))
	c.Close()
}

// formatReply renders a reply. A text with several lines becomes a
// multi-line reply (RFC 959 4.2): "code-first", the middle lines each
// indented by one space so none can be taken for the end, and "code last".
//
// Every line goes through replyText, so client text in a reply (an echoed
// verb or path) can never end a line early or carry control characters.
func formatReply(code int, text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = replyText(l)
	}
	if len(lines) == 1 {
		return fmt.Sprintf("%d %s\r\n", code, lines[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d-%s\r\n", code, lines[0])
	for _, l := range lines[1 : len(lines)-1] {
		b.WriteString(" ")
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "%d %s\r\n", code, lines[len(lines)-1])
	return b.String()
}

// replyText makes one line of reply text safe to send: invalid UTF-8 (and
// U+FFFD, which stands for it after case mapping) and the characters
// storage.Printable refuses (CR, NUL, C1 controls, bidirectional overrides)
// become '?'.
func replyText(line string) string {
	if storage.Printable(line) && !strings.ContainsRune(line, utf8.RuneError) {
		return line
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(line, "?") {
		if r == utf8.RuneError || storage.Unprintable(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
