package ftp

import (
	"bufio"
	"errors"
	"io"
)

// errLineTooLong is returned by readLine for a line longer than its limit.
// The line has been read to its end, so the session can reply 500 and go on.
var errLineTooLong = errors.New("command line too long")

// Telnet bytes (RFC 854) a client may put on the control connection.
const (
	telnetSE   = 240 // lowest command byte; everything from here up is a command
	telnetDM   = 242 // Data Mark: the end of a Synch, sent as TCP urgent data
	telnetWILL = 251 // WILL, WONT, DO and DONT (251-254) carry one option byte
	telnetDONT = 254
	telnetIAC  = 255 // Interpret As Command
)

// readLine reads one command line from the control connection.
//
// The line ends at LF; one CR just before it is dropped, and a bare LF is
// accepted as well. Telnet commands are taken out of the stream as it is
// read:
//   - IAC IAC is one literal 0xFF byte of the line;
//   - before the argument (in the verb): IAC WILL/WONT/DO/DONT and their
//     option byte are dropped (the server never negotiates options, so
//     refusing silently is fine); IAC and any other command byte (IP, DM,
//     NOP, ...) are dropped; a stray IAC before an ordinary byte drops only
//     the IAC. A client aborts with IAC IP, then IAC DM sent as TCP urgent
//     data, then ABOR, all before the verb; the kernel may take the urgent
//     DM out of the stream, leaving IAC IP IAC "ABOR".
//   - in the argument (after the line's first space), every other IAC is
//     a literal 0xFF byte, and so is the byte after it. Clients that do not
//     double 0xFF send it in names in Latin-1 (ÿ), Windows-1251 (я) or
//     KOI8-R (Ъ), and no client sends Telnet commands inside an argument:
//     "январь" stays "январь", "пятница" (я then т, IAC DM) stays itself.
//   - A bare DM byte (0xF2) right after a dropped Telnet command, before any
//     byte of the line, is dropped too. BSD-derived clients send
//     IAC IP IAC as urgent data and then DM "ABOR", and the kernel removes
//     the urgent IAC, leaving IAC IP DM "ABOR". No command verb starts with
//     0xF2 (verbs are ASCII), so this cannot eat a real command.
//
// A line longer than max bytes (after Telnet processing, not counting the
// CR LF) is read to its LF and discarded, and errLineTooLong is returned; at
// most max+1 bytes are buffered. io.EOF is returned when the stream ends
// before the first byte of a line, io.ErrUnexpectedEOF when it ends inside
// one (Telnet bytes count); other read errors are returned as they are.
func readLine(r *bufio.Reader, max int) (string, error) {
	var (
		buf      []byte
		started  bool // a byte of this line has been read
		tooLong  bool // content is being discarded up to the LF
		afterCmd bool // a Telnet command was dropped and no content followed yet
		inArg    bool // the line's argument has begun (a space was read)
	)
	next := func() (byte, error) {
		c, err := r.ReadByte()
		if err == io.EOF && started {
			err = io.ErrUnexpectedEOF
		}
		started = true
		return c, err
	}
	// add keeps one byte of content (max+1 bytes fit: the last may be the
	// CR of the line end).
	add := func(c byte) {
		afterCmd = false
		if c == ' ' {
			inArg = true
		}
		if tooLong {
			return
		}
		if len(buf) > max {
			tooLong = true
			buf = nil
			return
		}
		buf = append(buf, c)
	}
	for {
		c, err := next()
		if err != nil {
			return "", err
		}
		if c == telnetIAC {
			cmd, err := next()
			if err != nil {
				return "", err
			}
			start := len(buf) == 0 && !tooLong // before the line's first byte
			switch {
			case cmd == telnetIAC:
				// An escaped 0xFF: content, handled below.
			case inArg:
				// In the argument, from a client that does not double
				// 0xFF: both bytes are content.
				add(telnetIAC)
				c = cmd
			case cmd >= telnetWILL && cmd <= telnetDONT:
				if _, err := next(); err != nil {
					return "", err
				}
				afterCmd = start
				continue
			case cmd >= telnetSE:
				afterCmd = start
				continue
			default:
				// A stray IAC: drop it, keep the byte.
				c = cmd
			}
		} else if c == telnetDM && afterCmd && len(buf) == 0 {
			afterCmd = false
			continue
		}
		if c == '\n' {
			if n := len(buf); n > 0 && buf[n-1] == '\r' {
				buf = buf[:n-1]
			}
			if tooLong || len(buf) > max {
				return "", errLineTooLong
			}
			return string(buf), nil
		}
		add(c)
	}
}

// parseCommand splits a command line into its verb, upper-cased (ASCII
// only), and its argument: everything after the first space, unchanged,
// since FTP paths may begin or end with spaces. A single trailing CR is
// dropped. An empty line gives "", "".
func parseCommand(line string) (verb, arg string) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	verb, arg = line, ""
	for i := 0; i < len(line); i++ {
		if line[i] == ' ' {
			verb, arg = line[:i], line[i+1:]
			break
		}
	}
	return asciiUpper(verb), arg
}

// asciiUpper upper-cases ASCII letters and leaves every other byte as it is
// (strings.ToUpper would also rewrite invalid UTF-8 and non-ASCII letters).
func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
