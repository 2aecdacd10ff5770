package main

// What the benchmarks read about the server process from /proc.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (s *server) procFile(name string) string {
	return fmt.Sprintf("/proc/%d/%s", s.cmd.Process.Pid, name)
}

func (s *server) status(field string) int64 {
	b, err := os.ReadFile(s.procFile("status"))
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			v, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			if strings.HasSuffix(l, " kB") {
				return v << 10
			}
			return v
		}
	}
	return 0
}

func (s *server) rss() int64  { return s.status("VmRSS") }
func (s *server) peak() int64 { return s.status("VmHWM") }

// resetPeak resets VmHWM to the current RSS (Linux 4.0+).
func (s *server) resetPeak() {
	_ = os.WriteFile(s.procFile("clear_refs"), []byte("5"), 0)
}

func (s *server) fds() int {
	entries, err := os.ReadDir(s.procFile("fd"))
	check(err)
	return len(entries)
}

// cpu is the user and system time the server used so far.
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(s.procFile("stat"))
	check(err)
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:])) // fields from the 3rd on
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func (s *server) limit(name string) string {
	b, err := os.ReadFile(s.procFile("limits"))
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			return strings.Fields(strings.TrimPrefix(l, name))[0]
		}
	}
	return "?"
}

// sockets lists the server's TCP sockets: those in LISTEN, and the others
// with their state, found by matching the socket inodes of its fds in
// /proc/PID/net/tcp and tcp6.
func (s *server) sockets() (listening, others []string) {
	inodes := map[string]bool{}
	entries, err := os.ReadDir(s.procFile("fd"))
	check(err)
	for _, e := range entries {
		if l, err := os.Readlink(filepath.Join(s.procFile("fd"), e.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	states := map[string]string{"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
		"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}
	for _, table := range []string{"net/tcp", "net/tcp6"} {
		b, err := os.ReadFile(s.procFile(table))
		check(err)
		for _, l := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(l)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			addr := procAddr(f[1])
			if f[3] == "0A" {
				listening = append(listening, addr)
			} else {
				others = append(others, addr+" "+states[f[3]])
			}
		}
	}
	slices.Sort(listening)
	slices.Sort(others)
	return listening, others
}

// procAddr decodes /proc/net/tcp's "0100007F:0869": the address is in host
// byte order, 32 bits at a time; the port is big-endian hex.
func procAddr(s string) string {
	h, p, _ := strings.Cut(s, ":")
	port, _ := strconv.ParseUint(p, 16, 16)
	var ip net.IP
	for i := 0; i+8 <= len(h); i += 8 {
		w, _ := strconv.ParseUint(h[i:i+8], 16, 32)
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}
