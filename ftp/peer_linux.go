package ftp

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerClosed reports whether the client has closed (or reset) the control
// connection c, as the kernel knows it: a FIN or RST that arrived, even if
// the session has not read to it yet. A client killed mid-upload closes
// both its sockets at once: when the control connection's end is seen
// first, the data connection's end that follows is not the end of the
// file. The kernel may deliver the two in either order (on Linux 6.x the
// data connection's end came first in about one kill in six, the
// other up to milliseconds later), so the upload asks again just before
// it becomes final (lazyData.confirmEnd).
func peerClosed(c net.Conn) bool {
	sc := tcpOf(c)
	if sc == nil {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var state uint8
	if err := rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			state = info.State
		}
	}); err != nil {
		return true // the socket is closed
	}
	switch state {
	case unix.BPF_TCP_CLOSE_WAIT, unix.BPF_TCP_LAST_ACK, unix.BPF_TCP_CLOSE:
		return true
	}
	return false
}
