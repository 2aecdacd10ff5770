package ftp

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

var errLineTooLong = errors.New("command line too long")

// Telnet bytes (RFC 854) that can appear on an FTP control connection.
const (
	telnetIAC  = 255
	telnetDONT = 254
	telnetWILL = 251
	telnetSE   = 240
)

// readLine reads one command line. It ends at LF (a CR before it is
// dropped). Telnet commands are removed: IAC IAC is a literal 0xFF,
// IAC WILL/WONT/DO/DONT take an option byte, other IAC commands (IP, DM,
// ...) stand alone. An IAC followed by an ordinary byte drops only the IAC:
// clients send ABOR as IAC IP IAC DM "ABOR" with DM as TCP urgent data,
// which the kernel may take out of the stream. A line longer than max is
// read to its end and discarded, and errLineTooLong returned.
func readLine(r *bufio.Reader, max int) (string, error) {
	var b strings.Builder
	tooLong := false
	started := false
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && started {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		started = true
		if c == telnetIAC {
			cmd, err := r.ReadByte()
			if err != nil {
				if err == io.EOF {
					return "", io.ErrUnexpectedEOF
				}
				return "", err
			}
			switch {
			case cmd == telnetIAC:
				// a literal 0xFF, kept below
			case cmd >= telnetWILL && cmd <= telnetDONT:
				if _, err := r.ReadByte(); err != nil {
					return "", io.ErrUnexpectedEOF
				}
				continue
			case cmd >= telnetSE:
				continue
			default:
				if err := r.UnreadByte(); err != nil {
					return "", err
				}
				continue
			}
		}
		if c == '\n' {
			if tooLong {
				return "", errLineTooLong
			}
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		if tooLong {
			continue
		}
		if b.Len() >= max+1 { // +1: room for the CR before LF
			tooLong = true
			b.Reset()
			continue
		}
		b.WriteByte(c)
	}
}

// parseCommand splits a line into its verb, upper-cased, and its argument,
// everything after the first space, unchanged.
func parseCommand(line string) (verb, arg string) {
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), arg
}
