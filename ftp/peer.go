package ftp

import (
	"net"
	"syscall"
)

// tcpOf is the TCP connection under c: through the PROXY protocol
// wrappers and TLS. Nil when there is none (a test's pipe).
func tcpOf(c net.Conn) syscall.Conn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *proxied:
			c = v.Conn
		case interface{ NetConn() net.Conn }: // *tls.Conn
			c = v.NetConn()
		case interface{ Raw() net.Conn }: // go-proxyproto's *Conn
			c = v.Raw()
		default:
			return nil
		}
	}
	return nil
}
