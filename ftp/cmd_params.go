package ftp

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// handlePORT and handleEPRT accept only the client's own address and ports
// from 1024 up (RFC 2577: no bounce attacks), replying 504 otherwise.
func (s *session) handlePORT(ctx context.Context, arg string) error {
	if s.epsvAll {
		return refuse(codeBadSequence, "Only EPSV is allowed after EPSV ALL.")
	}
	target, err := parsePORT(arg)
	if err != nil {
		return refuse(codeArgSyntax, "Syntax: PORT h1,h2,h3,h4,p1,p2.")
	}
	return s.setActive(target)
}

func (s *session) handleEPRT(ctx context.Context, arg string) error {
	if s.epsvAll {
		return refuse(codeBadSequence, "Only EPSV is allowed after EPSV ALL.")
	}
	target, err := parseEPRT(arg)
	// Data connections go only to the client's own address (setActive),
	// so the one protocol usable is that of its address (RFC 2428 2).
	own, ownName := 1, "(1)"
	if !s.remote.Addr().Unmap().Is4() {
		own, ownName = 2, "(2)"
	}
	switch {
	case errors.Is(err, errNetProto), err == nil && target.Addr().Unmap().Is4() != (own == 1):
		return refuse(codeNetProtoUnsupported, "Network protocol not supported, use "+ownName)
	case err != nil:
		return refuse(codeArgSyntax, "Syntax: EPRT |af|address|port|.")
	}
	return s.setActive(target)
}

func (s *session) setActive(target netip.AddrPort) error {
	if err := checkActiveTarget(target, s.remote.Addr()); err != nil {
		s.log.Warn("refused active data address", "target", target.String(), "err", err)
		return refuse(codeParamNotImplemented, "Refused: data connections go only to your own address and ports 1024 and up.")
	}
	s.closeData()
	s.data = &dataSetup{active: target}
	s.reply(codeOK, "Active data connection to "+target.String()+" okay.")
	return nil
}

func (s *session) handlePASV(ctx context.Context, arg string) error {
	if s.epsvAll {
		return refuse(codeBadSequence, "Only EPSV is allowed after EPSV ALL.")
	}
	ip, err := s.publicIP(ctx)
	if err != nil {
		return err
	}
	if !ip.Is4() {
		return refuse(codeCantOpenData, "PASV needs IPv4; use EPSV.")
	}
	port, err := s.startPassive()
	if err != nil {
		return s.passiveFailed(err)
	}
	s.reply(codePassive, formatPASV(ip, port))
	return nil
}

func (s *session) handleEPSV(ctx context.Context, arg string) error {
	all, proto, err := parseEPSVArg(arg)
	own := 1
	if !s.local.Addr().Is4() {
		own = 2
	}
	switch {
	case errors.Is(err, errNetProto) || (proto != 0 && proto != own):
		return refuse(codeNetProtoUnsupported, "Network protocol not supported, use ("+strconv.Itoa(own)+")")
	case err != nil:
		return refuse(codeArgSyntax, "Syntax: EPSV [1|2|ALL].")
	case all:
		s.epsvAll = true
		s.reply(codeOK, "EPSV ALL ok.")
		return nil
	}
	port, err := s.startPassive()
	if err != nil {
		return s.passiveFailed(err)
	}
	s.reply(codeExtendedPassive, formatEPSV(port))
	return nil
}

// handleTYPE: A (N) and I, and L 8 as a synonym of I; E, A T/C and other
// byte sizes are refused with 504 (RFC 959 5.4).
func (s *session) handleTYPE(ctx context.Context, arg string) error {
	f := strings.Fields(strings.ToUpper(arg))
	switch {
	case len(f) == 0 || len(f) > 2:
		return refuse(codeArgSyntax, "Syntax: TYPE A|I|L 8.")
	case f[0] == "I" && len(f) == 1, f[0] == "L" && len(f) == 2 && f[1] == "8":
		s.binary = true
		s.reply(codeOK, "Switching to Binary mode.")
	case f[0] == "A" && (len(f) == 1 || f[1] == "N"):
		s.binary = false
		s.reply(codeOK, "Switching to ASCII mode.")
	case f[0] == "A" && (f[1] == "T" || f[1] == "C"), f[0] == "E", f[0] == "L":
		return refuse(codeParamNotImplemented, "TYPE "+strings.Join(f, " ")+" not implemented.")
	default:
		return refuse(codeArgSyntax, "Unknown TYPE "+strings.Join(f, " ")+".")
	}
	return nil
}

func (s *session) handleSTRU(ctx context.Context, arg string) error {
	return s.oneOf(arg, "F", "R P", "STRU", "Structure set to File.")
}

func (s *session) handleMODE(ctx context.Context, arg string) error {
	return s.oneOf(arg, "S", "B C", "MODE", "Mode set to Stream.")
}

// oneOf accepts the one supported value, refuses the RFC's other values
// with 504 and anything else with 501.
func (s *session) oneOf(arg, ok, known, verb, text string) error {
	v := strings.ToUpper(strings.TrimSpace(arg))
	switch {
	case v == ok:
		s.reply(codeOK, text)
	case len(v) == 1 && strings.Contains(known, v):
		return refuse(codeParamNotImplemented, verb+" "+v+" not implemented.")
	default:
		return refuse(codeArgSyntax, "Unknown "+verb+" "+v+".")
	}
	return nil
}

// handleREST records a restart offset for the next RETR, STOR or APPE
// (RFC 3659 5: REST STREAM).
func (s *session) handleREST(ctx context.Context, arg string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(strings.TrimSpace(arg), "-") {
		return refuse(codeArgSyntax, "REST offset out of range.")
	}
	if err != nil || n < 0 {
		return refuse(codeArgSyntax, "REST needs a byte offset of 0 or more.")
	}
	if n > 0 && s.convertsASCII() {
		return errRestASCII
	}
	s.pend.rest = n
	s.reply(codePending, "Restarting at "+itoa(n)+". Send STOR or RETR to initiate transfer.")
	return nil
}

// errRestASCII refuses a restart in TYPE A with line endings converted,
// as ProFTPD does: the client counts the offset in the converted stream
// (CRLF line endings) and the file's bytes differ from it, so a resumed
// transfer would skip or repeat bytes.
var errRestASCII = refuse(codeArgSyntax, "Resuming transfers is not possible in ASCII mode (TYPE A): offsets on the wire are not the file's; use TYPE I.")

// convertsASCII reports whether transfers convert line endings now
// (TYPE A, with --ascii convert).
func (s *session) convertsASCII() bool { return !s.binary && !s.asciiRaw }

// handleALLO: storage needs no allocation, so 202, unless the size asked
// for is more than the user's quota has left (552).
func (s *session) handleALLO(ctx context.Context, arg string) error {
	f := append(strings.Fields(arg), "")
	n, err := strconv.ParseInt(f[0], 10, 64)
	f = f[:len(f)-1]
	if err != nil || n < 0 || (len(f) != 1 && (len(f) != 3 || !strings.EqualFold(f[1], "R"))) {
		return refuse(codeArgSyntax, "Syntax: ALLO <bytes> [R <record size>].")
	}
	left, limited, err := s.acct.QuotaRemaining(ctx)
	if err != nil {
		return err
	}
	if limited && n > left {
		return refuse(codeExceededStorage, "Not enough quota left: "+itoa(left)+" bytes available.")
	}
	s.reply(codeSuperfluous, "No storage allocation necessary.")
	return nil
}

// passiveFailed answers a PASV or EPSV that could not open a listener.
func (s *session) passiveFailed(err error) error {
	if errors.Is(err, errPassiveShare) {
		s.log.Warn("passive listener refused", "reason", err)
		return refuse(codeCantOpenData, "Too many passive connections from your address; finish or abort one first.")
	}
	s.log.Error("no passive port", "err", err)
	return refuse(codeCantOpenData, "Can't open passive connection.")
}
