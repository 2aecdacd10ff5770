package ftp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// errNetProto means a network protocol (address family) the server does not
// speak was asked for in EPRT or EPSV; the reply is 522 (RFC 2428).
var errNetProto = errors.New("network protocol not supported")

// Why checkActiveTarget refuses a data connection target (RFC 2577).
var (
	errForeignTarget    = errors.New("data connection target is not the client's address")
	errPrivilegedTarget = errors.New("data connection target port is below 1024")
)

// parsePORT reads PORT's "h1,h2,h3,h4,p1,p2" (RFC 959 4.1.2): exactly six
// decimal numbers 0-255, no signs or spaces. Port 0 parses; checkActiveTarget
// refuses it.
func parsePORT(arg string) (netip.AddrPort, error) {
	var b [6]byte
	rest := arg
	for i := range b {
		field, tail, found := strings.Cut(rest, ",")
		if found == (i == len(b)-1) { // five commas, the last field ends the text
			return netip.AddrPort{}, fmt.Errorf("PORT %q: want h1,h2,h3,h4,p1,p2", arg)
		}
		n, ok := parseDecimal(field, 255)
		if !ok {
			return netip.AddrPort{}, fmt.Errorf("PORT %q: %q is not a number from 0 to 255", arg, field)
		}
		b[i] = byte(n)
		rest = tail
	}
	ip := netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	return netip.AddrPortFrom(ip, uint16(b[4])<<8|uint16(b[5])), nil
}

// parseEPRT reads EPRT's "<d><af><d><addr><d><port><d>" (RFC 2428 2). The
// delimiter <d> is any printable ASCII character but space (33-126), the
// same throughout; "|" is usual. Family 1 takes an IPv4 literal, 2 an IPv6
// literal (no zone); another family number gives errNetProto, so the caller
// can reply 522. The port is 1-65535.
func parseEPRT(arg string) (netip.AddrPort, error) {
	bad := func(what string) (netip.AddrPort, error) {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: %s", arg, what)
	}
	if len(arg) < 2 || arg[0] < 33 || arg[0] > 126 {
		return bad("want <d>af<d>addr<d>port<d> with a printable delimiter")
	}
	f := strings.Split(arg, arg[:1])
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return bad("want <d>af<d>addr<d>port<d>")
	}
	af, ok := parseDecimal(f[1], 1<<16)
	switch {
	case !ok && allDigits(f[1]): // a very long number
		return netip.AddrPort{}, errNetProto
	case !ok:
		return bad("address family is not a number")
	case af != 1 && af != 2:
		return netip.AddrPort{}, errNetProto
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil || ip.Zone() != "" || ip.Is4() != (af == 1) {
		return bad("address does not fit family " + f[1])
	}
	port, ok := parseDecimal(f[3], 65535)
	if !ok || port == 0 {
		return bad("port is not a number from 1 to 65535")
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// parseDecimal reads a non-empty string of ASCII digits (leading zeros
// allowed, no sign) whose value is at most max.
func parseDecimal(s string, max uint64) (uint64, bool) {
	if !allDigits(s) {
		return 0, false
	}
	s = strings.TrimLeft(s, "0") // leading zeros do not make a number large
	if s == "" {
		return 0, true
	}
	if len(s) > 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

// formatPASV renders a 227 reply's text (RFC 959 4.1.2). ip must be IPv4 or
// IPv4-mapped IPv6: PASV cannot express anything else, so the caller checks
// first (and answers 425 or points to EPSV), and any other ip panics here.
func formatPASV(ip netip.Addr, port uint16) string {
	ip = ip.Unmap()
	if !ip.Is4() {
		panic(fmt.Sprintf("formatPASV: %v is not an IPv4 address", ip))
	}
	a := ip.As4()
	return fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], port>>8, port&0xff)
}

// formatEPSV renders a 229 reply's text (RFC 2428 3).
func formatEPSV(port uint16) string {
	return "Entering Extended Passive Mode (|||" + strconv.Itoa(int(port)) + "|)"
}

// checkActiveTarget guards PORT and EPRT against FTP bounce attacks (RFC
// 2577): the data connection may only go to the client's own address (IPv4
// and IPv4-mapped IPv6 compare equal, zones are ignored), and never to a
// privileged port. The error says which rule was broken, for the log; the
// caller replies 504.
func checkActiveTarget(target netip.AddrPort, client netip.Addr) error {
	want := client.Unmap().WithZone("")
	got := target.Addr().Unmap().WithZone("")
	if !want.IsValid() || got != want {
		return fmt.Errorf("%w: %v, client %v", errForeignTarget, target.Addr(), client)
	}
	if target.Port() < 1024 {
		return fmt.Errorf("%w: %d", errPrivilegedTarget, target.Port())
	}
	return nil
}

// parseEPSVArg reads EPSV's optional argument (RFC 2428 3): none, "ALL"
// (any case), or a network protocol number. 1 and 2 are returned as proto
// (the caller checks it matches the control connection); other numbers give
// errNetProto (522); anything else is a syntax error (501). No spaces are
// trimmed.
func parseEPSVArg(arg string) (all bool, proto int, err error) {
	if arg == "" {
		return false, 0, nil
	}
	if strings.EqualFold(arg, "ALL") {
		return true, 0, nil
	}
	if !allDigits(arg) {
		return false, 0, fmt.Errorf("EPSV %q: want 1, 2 or ALL", arg)
	}
	if n, ok := parseDecimal(arg, 2); ok && n >= 1 {
		return false, int(n), nil
	}
	return false, 0, errNetProto
}
