package ftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// dataSetup is what PASV/EPSV or PORT/EPRT prepared for the next transfer.
type dataSetup struct {
	passive *passive
	active  netip.AddrPort
}

// passive is a listener waiting for the client's data connection. It accepts
// in the background from the moment PASV is answered, so a transfer command
// can tell whether the connection is already open (125) or not yet (150).
type passive struct {
	l     net.Listener
	conns chan net.Conn // the one accepted connection

	mu     sync.Mutex
	closed bool // by close: a connection accepted now is closed, not kept
}

func (d *dataSetup) describe() string {
	if d.passive == nil {
		return "active, to " + d.active.String()
	}
	if len(d.passive.conns) > 0 {
		return "passive, connected"
	}
	return "passive, listening on " + d.passive.l.Addr().String()
}

func (d *dataSetup) close() {
	if d == nil || d.passive == nil {
		return
	}
	d.passive.mu.Lock()
	d.passive.closed = true
	d.passive.mu.Unlock()
	d.passive.l.Close()
	select {
	case c := <-d.passive.conns:
		c.Close()
	default:
	}
}

func (s *session) closeData() {
	s.data.close()
	s.data = nil
}

// startPassive opens a passive listener on the control connection's local
// address and starts accepting on it.
func (s *session) startPassive() (uint16, error) {
	s.closeData()
	l, err := s.srv.listenPassive(s.local.Addr(), s.remote.Addr())
	if err != nil {
		return 0, err
	}
	p := &passive{l: l, conns: make(chan net.Conn, 1)}
	want := s.remote.Addr()
	go func() {
		defer l.Close()
		for {
			raw, err := l.Accept()
			if err != nil {
				return
			}
			// The data connection's client address (from its own PROXY
			// header, through a balancer) must be the control connection's.
			c, err := s.srv.acceptProxied(raw, s.srv.cfg.ProxyProtocolData)
			if err != nil {
				s.log.Warn("refused data connection", "reason", err)
				raw.Close()
				continue
			}
			peer := c.client.Addr()
			if peer != want && !s.srv.cfg.AllowForeignDataPeers {
				s.log.Warn("refused data connection from another address", "peer", peer.String())
				c.Close()
				continue
			}
			// The port refuses connections from here on, before the
			// transfer can begin (and end) on this one.
			l.Close()
			// Hand it over unless the setup was given up meanwhile (ABOR
			// right after the client connected), which closes it.
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				c.Close()
				return
			}
			p.conns <- c
			p.mu.Unlock()
			return
		}
	}()
	s.data = &dataSetup{passive: p}
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// publicIP is the address to advertise in a PASV reply.
func (s *session) publicIP(ctx context.Context) (netip.Addr, error) {
	host := s.srv.cfg.PublicHost
	switch {
	case host == PublicHostFromProxy && s.proxyDest.IsValid():
		return s.proxyDest.Addr(), nil
	case host == "" || host == PublicHostFromProxy:
		return s.local.Addr(), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("resolving public host %q: %w", host, err)
	}
	return ips[0].Unmap(), nil
}

// openData establishes the data connection prepared by setup. alreadyOpen
// reports a passive connection the client had made before the transfer
// command arrived.
func (s *session) openData(ctx context.Context, setup *dataSetup) (c net.Conn, alreadyOpen bool, err error) {
	timeout := s.srv.cfg.DataTimeout
	if setup.passive != nil {
		select {
		case c := <-setup.passive.conns:
			return c, true, nil
		default:
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case c := <-setup.passive.conns:
			return c, false, nil
		case <-t.C:
			setup.close()
			return nil, false, &dataConnError{opening: true, err: errors.New("client did not connect in time")}
		case <-ctx.Done():
			setup.close()
			return nil, false, &dataConnError{opening: true, err: ctx.Err()}
		}
	}
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: s.local.Addr().AsSlice()}}
	c, err = d.DialContext(ctx, "tcp", setup.active.String())
	if err != nil {
		return nil, false, &dataConnError{opening: true, err: err}
	}
	return c, false, nil
}
