package ftp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/pires/go-proxyproto"
)

// ProxyMode says whether connections from a load balancer carry a PROXY
// protocol header (v1 or v2) naming the real client.
type ProxyMode int

const (
	proxyUnset    ProxyMode = iota // the default: off for control, the control mode for data
	ProxyOff                       // no header is expected; bytes are taken as they come
	ProxyOptional                  // a trusted source may send a header
	ProxyRequired                  // a trusted source must send a header
)

// ParseProxyMode reads off, optional or required.
func ParseProxyMode(s string) (ProxyMode, error) {
	switch s {
	case "off", "":
		return ProxyOff, nil
	case "optional":
		return ProxyOptional, nil
	case "required":
		return ProxyRequired, nil
	}
	return proxyUnset, fmt.Errorf("%q is not off, optional or required", s)
}

func (m ProxyMode) String() string {
	return [...]string{"unset", "off", "optional", "required"}[m]
}

// PublicHostFromProxy as Config.PublicHost puts in PASV replies the
// destination address of the control connection's PROXY header (the
// balancer's address the client reached), for balancers with several.
const PublicHostFromProxy = "from-proxy"

// errUntrustedProxy is a PROXY header from a source not in ProxyTrusted.
var errUntrustedProxy = errors.New("PROXY header from an address that is not a trusted proxy")

// proxied is an accepted connection after its PROXY header, if any: the
// client's address (the header's source, or the socket's peer) and the
// address the client reached (the header's destination, if it had one).
type proxied struct {
	net.Conn
	client netip.AddrPort
	dest   netip.AddrPort // zero without a header
}

// acceptProxied reads the PROXY header of c, as mode and the trusted
// sources say: a connection from a trusted source is read through
// go-proxyproto (with mode required, one without a header is refused); one
// from anywhere else is taken as it is, and its own address is the
// client's. It blocks up to ProxyHeaderTimeout: call it on the
// connection's own goroutine, never in the accept loop.
func (srv *Server) acceptProxied(c net.Conn, mode ProxyMode) (*proxied, error) {
	p := &proxied{Conn: c, client: addrPortOf(c.RemoteAddr())}
	if mode == ProxyOff || !srv.trustedProxy(p.client.Addr()) {
		return p, nil
	}
	policy := proxyproto.USE
	if mode == ProxyRequired {
		policy = proxyproto.REQUIRE
	}
	pc := proxyproto.NewConn(c, proxyproto.WithPolicy(policy), proxyproto.SetReadHeaderTimeout(srv.cfg.ProxyHeaderTimeout))
	// A read of nothing processes the header and reports its error.
	if _, err := pc.Read(nil); err != nil {
		return nil, fmt.Errorf("PROXY header from %s: %w", p.client, err)
	}
	p.Conn = pc
	if h := pc.ProxyHeader(); h != nil && !h.Command.IsLocal() {
		if a, ok := h.SourceAddr.(*net.TCPAddr); ok {
			p.client = addrPortOf(a)
		}
		if a, ok := h.DestinationAddr.(*net.TCPAddr); ok {
			p.dest = addrPortOf(a)
		}
	}
	return p, nil
}

func (srv *Server) trustedProxy(ip netip.Addr) bool {
	for _, pr := range srv.cfg.ProxyTrusted {
		if pr.Contains(ip) {
			return true
		}
	}
	return false
}

// isProxyLine reports a command line that is a PROXY v1 header: sent by a
// balancer the server does not trust, it is refused rather than answered.
func isProxyLine(verb string) bool { return verb == "PROXY" }
