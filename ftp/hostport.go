package ftp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

var errNetProto = errors.New("network protocol not supported")

// parsePORT reads RFC 959's "h1,h2,h3,h4,p1,p2".
func parsePORT(arg string) (netip.AddrPort, error) {
	f := strings.Split(arg, ",")
	if len(f) != 6 {
		return netip.AddrPort{}, fmt.Errorf("PORT %q: want six numbers", arg)
	}
	var b [6]byte
	for i, s := range f {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil || s == "" || len(s) > 3 {
			return netip.AddrPort{}, fmt.Errorf("PORT %q: %q is not 0-255", arg, s)
		}
		b[i] = byte(n)
	}
	port := uint16(b[4])<<8 | uint16(b[5])
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]}), port), nil
}

// parseEPRT reads RFC 2428's "<d><af><d><addr><d><port><d>".
func parseEPRT(arg string) (netip.AddrPort, error) {
	if len(arg) < 2 || arg[0] < 33 || arg[0] > 126 {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: bad delimiter", arg)
	}
	f := strings.Split(arg, arg[:1])
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: want <d>af<d>addr<d>port<d>", arg)
	}
	if f[1] != "1" && f[1] != "2" {
		if _, err := strconv.Atoi(f[1]); err == nil {
			return netip.AddrPort{}, errNetProto
		}
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: bad address family", arg)
	}
	ip, err := netip.ParseAddr(f[2])
	if err != nil || ip.Zone() != "" || (f[1] == "1") != ip.Is4() {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: address does not match family %s", arg, f[1])
	}
	port, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("EPRT %q: bad port", arg)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// formatPASV renders a 227 reply's text; ip must be IPv4 (or v4-mapped).
func formatPASV(ip netip.Addr, port uint16) string {
	a := ip.Unmap().As4()
	return fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], port>>8, port&0xff)
}

// formatEPSV renders a 229 reply's text (RFC 2428).
func formatEPSV(port uint16) string {
	return fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port)
}

// checkActiveTarget refuses data connections to anyone but the client, and
// to privileged ports (RFC 2577: FTP bounce attacks).
func checkActiveTarget(target netip.AddrPort, client netip.Addr) error {
	if target.Addr().Unmap() != client.Unmap() {
		return fmt.Errorf("address %s is not the client's %s", target.Addr(), client)
	}
	if target.Port() < 1024 {
		return fmt.Errorf("port %d is below 1024", target.Port())
	}
	return nil
}

// parseEPSVArg reads EPSV's optional argument: a protocol number or ALL.
func parseEPSVArg(arg string) (all bool, proto int, err error) {
	arg = strings.TrimSpace(arg)
	switch {
	case arg == "":
		return false, 0, nil
	case strings.EqualFold(arg, "ALL"):
		return true, 0, nil
	}
	n, err := strconv.Atoi(arg)
	if err != nil {
		return false, 0, fmt.Errorf("EPSV %q: want 1, 2 or ALL", arg)
	}
	if n != 1 && n != 2 {
		return false, 0, errNetProto
	}
	return false, n, nil
}
