package ftp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// lineResult is one readLine call's outcome.
type lineResult struct {
	line string
	err  error
}

// readAllLines calls readLine until it fails with anything but
// errLineTooLong, and returns every outcome including that last one.
func readAllLines(t *testing.T, r *bufio.Reader, max, limit int) []lineResult {
	t.Helper()
	var out []lineResult
	for range limit {
		line, err := readLine(r, max)
		out = append(out, lineResult{line, err})
		if err != nil && !errors.Is(err, errLineTooLong) {
			return out
		}
	}
	t.Fatalf("readLine still reading after %d calls", limit)
	return nil
}

func (r lineResult) String() string { return fmt.Sprintf("{%q %v}", r.line, r.err) }

func sameResults(a, b []lineResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].line != b[i].line || !errors.Is(a[i].err, b[i].err) || (a[i].err == nil) != (b[i].err == nil) {
			return false
		}
	}
	return true
}

func TestReadLineTable(t *testing.T) {
	t.Parallel()
	ok := func(line string) lineResult { return lineResult{line, nil} }
	eof := lineResult{"", io.EOF}
	unexpectedEOF := lineResult{"", io.ErrUnexpectedEOF}
	tooLong := lineResult{"", errLineTooLong}
	cases := []struct {
		name string
		in   string
		max  int
		want []lineResult
	}{
		{"crlf", "USER bob\r\n", 512, []lineResult{ok("USER bob"), eof}},
		{"bare lf", "NOOP\nPWD\n", 512, []lineResult{ok("NOOP"), ok("PWD"), eof}},
		{"empty line", "\r\n\n", 512, []lineResult{ok(""), ok(""), eof}},
		{"nothing at all", "", 512, []lineResult{eof}},
		{"only one CR is the line end", "STOR a\r\r\n", 512, []lineResult{ok("STOR a\r"), eof}},
		{"CR inside a line is kept", "STOR a\rb\r\n", 512, []lineResult{ok("STOR a\rb"), eof}},
		{"spaces kept", "STOR  a b \r\n", 512, []lineResult{ok("STOR  a b "), eof}},
		{"utf-8 kept", "STOR résumé.txt\r\n", 512, []lineResult{ok("STOR résumé.txt"), eof}},
		{"eof mid line", "NOOP", 512, []lineResult{unexpectedEOF}},
		{"eof after CR", "NOOP\r", 512, []lineResult{unexpectedEOF}},
		{"eof after a full line and part of another", "NOOP\r\nPW", 512, []lineResult{ok("NOOP"), unexpectedEOF}},

		{"IAC IAC is one 0xFF", "STOR a\xff\xffb\r\n", 512, []lineResult{ok("STOR a\xffb"), eof}},
		{"IAC IAC IAC IAC", "\xff\xff\xff\xff\r\n", 512, []lineResult{ok("\xff\xff"), eof}},
		{"IAC WILL option dropped", "\xff\xfb\x01NOOP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"IAC WONT option dropped", "NO\xff\xfc\x22OP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"IAC DO option dropped", "NO\xff\xfd\x01OP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"IAC DONT option dropped", "NO\xff\xfe\xffOP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"option byte may be LF", "\xff\xfb\nNOOP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"IAC NOP dropped", "NO\xff\xf1OP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"IAC SE dropped", "NO\xff\xf0OP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"IAC GA dropped", "NO\xff\xf9OP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		// SB is dropped like any other command; the server never asks for
		// subnegotiation, so its content is not parsed.
		{"IAC SB and IAC SE dropped, content kept", "\xff\xfax\xff\xf0NOOP\r\n", 512, []lineResult{ok("xNOOP"), eof}},

		// Abort sequences (RFC 959 4.1.3).
		{"ABOR with IAC IP IAC DM inline", "\xff\xf4\xff\xf2ABOR\r\n", 512, []lineResult{ok("ABOR"), eof}},
		{"ABOR with urgent DM removed by the kernel", "\xff\xf4\xffABOR\r\n", 512, []lineResult{ok("ABOR"), eof}},
		{"ABOR with urgent IAC removed by the kernel (BSD ftp)", "\xff\xf4\xf2ABOR\r\n", 512, []lineResult{ok("ABOR"), eof}},
		{"ABOR after a previous command", "NOOP\r\n\xff\xf4\xff\xf2ABOR\r\n", 512, []lineResult{ok("NOOP"), ok("ABOR"), eof}},
		{"bare DM after option negotiation dropped", "\xff\xfb\x01\xf2ABOR\r\n", 512, []lineResult{ok("ABOR"), eof}},
		{"bare DM at line start without a Telnet command is kept", "\xf2ABOR\r\n", 512, []lineResult{ok("\xf2ABOR"), eof}},
		{"bare DM after content is kept", "A\xff\xf4\xf2BOR\r\n", 512, []lineResult{ok("A\xf2BOR"), eof}},
		{"only one bare DM is dropped", "\xff\xf4\xf2\xf2ABOR\r\n", 512, []lineResult{ok("\xf2ABOR"), eof}},
		{"DM rule does not carry over a line end", "\xff\xf4\r\n\xf2X\r\n", 512, []lineResult{ok(""), ok("\xf2X"), eof}},

		{"stray IAC before a letter", "N\xffOOP\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"IAC in the argument is a literal 0xFF (Windows-1251 я)", "STOR \xff\xed\xe2.csv\r\n", 512, []lineResult{ok("STOR \xff\xed\xe2.csv"), eof}},
		{"IAC and a command byte in the argument are kept (яр)", "STOR \xff\xf0.txt\r\n", 512, []lineResult{ok("STOR \xff\xf0.txt"), eof}},
		{"IAC before LF in the argument", "MKD a\xff\n", 512, []lineResult{ok("MKD a\xff"), eof}},
		{"IAC IP and IAC DM in the argument are bytes (яф, ят)", "STOR a\xff\xf4b\xff\xf2c\r\n", 512, []lineResult{ok("STOR a\xff\xf4b\xff\xf2c"), eof}},
		{"IAC WILL in the argument is bytes (яы)", "STOR a\xff\xfb\x01b\r\n", 512, []lineResult{ok("STOR a\xff\xfb\x01b"), eof}},
		{"IAC IAC in the argument is one 0xFF", "STOR a\xff\xffb\r\n", 512, []lineResult{ok("STOR a\xffb"), eof}},
		{"a literal 0xFF counts in the limit", "A \xffx\r\n", 3, []lineResult{{"", errLineTooLong}, eof}},
		{"stray IAC before LF ends the line", "NOOP\xff\n", 512, []lineResult{ok("NOOP"), eof}},
		{"stray IAC before CR LF", "NOOP\xff\r\n", 512, []lineResult{ok("NOOP"), eof}},
		{"eof after IAC", "NOOP\xff", 512, []lineResult{unexpectedEOF}},
		{"eof after IAC WILL", "\xff\xfb", 512, []lineResult{unexpectedEOF}},
		{"eof after a complete Telnet command", "\xff\xf1", 512, []lineResult{unexpectedEOF}},

		{"exactly max", "ABCD\r\nNOOP\r\n", 4, []lineResult{ok("ABCD"), ok("NOOP"), eof}},
		{"exactly max, bare lf", "ABCD\nNOOP\n", 4, []lineResult{ok("ABCD"), ok("NOOP"), eof}},
		{"one over max", "ABCDE\r\nNOOP\r\n", 4, []lineResult{tooLong, ok("NOOP"), eof}},
		{"one over max, bare lf", "ABCDE\nNOOP\n", 4, []lineResult{tooLong, ok("NOOP"), eof}},
		{"max bytes and a CR that is content", "ABCD\r\r\n", 4, []lineResult{tooLong, eof}},
		{"far over max", strings.Repeat("x", 5000) + "\r\nNOOP\r\n", 512, []lineResult{tooLong, ok("NOOP"), eof}},
		{"two long lines in a row", "ABCDEF\nABCDEFG\r\nA\n", 4, []lineResult{tooLong, tooLong, ok("A"), eof}},
		{"Telnet bytes do not count", "\xff\xfb\x01AB\xff\xf4CD\r\n", 4, []lineResult{ok("ABCD"), eof}},
		{"IAC IAC counts once", "AB\xff\xffC\r\n", 4, []lineResult{ok("AB\xffC"), eof}},
		{"Telnet in a discarded line still parsed", "ABCDEF\xff\xfb\n\r\nOK\r\n", 4, []lineResult{tooLong, ok("OK"), eof}},
		{"eof inside a long line", strings.Repeat("x", 100), 4, []lineResult{unexpectedEOF}},
		{"max zero allows only empty lines", "\r\nA\r\n", 0, []lineResult{ok(""), tooLong, eof}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"plain", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
	}
	for _, tc := range cases {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				t.Parallel()
				r := bufio.NewReaderSize(rd.wrap(strings.NewReader(tc.in)), 16)
				got := readAllLines(t, r, tc.max, len(tc.want)+2)
				if !sameResults(got, tc.want) {
					t.Errorf("readLine(%q, %d):\n got %v\nwant %v", tc.in, tc.max, got, tc.want)
				}
			})
		}
	}
}

func TestReadLinePassesReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	cases := []struct {
		name string
		in   string
	}{
		{"before any byte", ""},
		{"mid line", "NOO"},
		{"after IAC", "NOOP\xff"},
		{"after IAC WILL", "\xff\xfb"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := bufio.NewReader(io.MultiReader(strings.NewReader(tc.in), iotest.ErrReader(boom)))
			if _, err := readLine(r, 512); !errors.Is(err, boom) {
				t.Errorf("readLine = %v, want %v", err, boom)
			}
		})
	}
}

// TestReadLineMemoryBounded sends an 8 MiB line: it must be refused without
// being held in memory. Not parallel, so that other tests' allocations do not
// count.
func TestReadLineMemoryBounded(t *testing.T) {
	const lineLen = 8 << 20
	src := io.MultiReader(io.LimitReader(repeatReader('x'), lineLen), strings.NewReader("\r\nNOOP\r\n"))
	r := bufio.NewReader(src)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readLine(r, 4096)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errLineTooLong) {
		t.Fatalf("readLine = %v, want errLineTooLong", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("reading a %d-byte line allocated %d bytes", lineLen, alloc)
	}
	if line, err := readLine(r, 4096); line != "NOOP" || err != nil {
		t.Errorf("line after the long one = %q, %v", line, err)
	}
}

type repeatReader byte

func (b repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestParseCommandTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, line, verb, arg string
	}{
		{"verb and argument", "USER bob", "USER", "bob"},
		{"lower case verb", "retr file.txt", "RETR", "file.txt"},
		{"mixed case verb", "oPtS UTF8 ON", "OPTS", "UTF8 ON"},
		{"no argument", "NOOP", "NOOP", ""},
		{"empty line", "", "", ""},
		{"trailing space gives empty argument", "USER ", "USER", ""},
		{"argument spaces kept", "CWD  lead and trail  ", "CWD", " lead and trail  "},
		{"inner spaces kept", "STOR a  b", "STOR", "a  b"},
		{"leading space means no verb", " USER bob", "", "USER bob"},
		{"one trailing CR dropped", "NOOP\r", "NOOP", ""},
		{"one trailing CR dropped from argument", "STOR a\r", "STOR", "a"},
		{"only one CR dropped", "STOR a\r\r", "STOR", "a\r"},
		{"argument case kept", "stor MixedCase.TXT", "STOR", "MixedCase.TXT"},
		{"non-ASCII letters not upper-cased", "stör x", "STöR", "x"},
		{"invalid UTF-8 kept", "\xffnoop x", "\xffNOOP", "x"},
		{"tab is not a separator", "USER\tbob", "USER\tBOB", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			verb, arg := parseCommand(tc.line)
			if verb != tc.verb || arg != tc.arg {
				t.Errorf("parseCommand(%q) = %q, %q; want %q, %q", tc.line, verb, arg, tc.verb, tc.arg)
			}
		})
	}
}

// modelLines states readLine's contract a second way, for
// FuzzReadLine: one pass over the stream, byte by byte, deciding each
// Telnet sequence by whether the line's argument (after its first
// space) has begun, then the DM rule and the length limit per line.
func modelLines(data []byte, max int) []lineResult {
	var (
		out     []lineResult
		content []byte
		inArg   bool // the line's content holds a space
		prevCmd bool // the last thing in the line was a dropped Telnet command
		started bool // a byte of the current line was read
	)
	emit := func(c byte) {
		if c == '\n' {
			line := bytes.TrimSuffix(content, []byte("\r"))
			if len(line) > max {
				out = append(out, lineResult{"", errLineTooLong})
			} else {
				out = append(out, lineResult{string(line), nil})
			}
			content, inArg, prevCmd, started = nil, false, false, false
			return
		}
		if c == 0xf2 && len(content) == 0 && prevCmd {
			prevCmd = false // DM right after a Telnet command, before any content
			return
		}
		prevCmd = false
		content = append(content, c)
		if c == ' ' {
			inArg = true
		}
	}
	cmd := func() { prevCmd = len(content) == 0 }
	for i := 0; i < len(data); {
		started = true
		c := data[i]
		if c != 0xff {
			emit(c)
			i++
			continue
		}
		if i+1 >= len(data) {
			return append(out, lineResult{"", io.ErrUnexpectedEOF})
		}
		x := data[i+1]
		switch {
		case x == 0xff:
			emit(0xff)
		case inArg:
			emit(0xff) // in the argument: a literal 0xFF, and the byte after it
			emit(x)
		case x >= 251:
			if i+2 >= len(data) {
				return append(out, lineResult{"", io.ErrUnexpectedEOF})
			}
			cmd()
			i++
		case x >= 240:
			cmd()
		default:
			emit(x) // a stray IAC before the argument: dropped
		}
		i += 2
	}
	if started {
		return append(out, lineResult{"", io.ErrUnexpectedEOF})
	}
	return append(out, lineResult{"", io.EOF})
}

// FuzzReadLine checks readLine against modelLines, with several limits
// per input, and that no line is longer than the limit or holds an LF.
func FuzzReadLine(f *testing.F) {
	for _, s := range []string{
		"USER bob\r\nPASS x\r\n",
		"\xff\xf4\xff\xf2ABOR\r\n",
		"\xff\xf4\xffABOR\r\n",
		"\xff\xf4\xf2ABOR\r\n",
		"\xff\xff\xff\xfb\x01\xff\n",
		"ABCD\r\r\nABCDE\nA\r\n",
		"NOOP\xff",
		"\xff\xfd\x01\xf2\xf2X\n",
		"NOOP\xff\n\xff\xfb\n\r\n",
		"\xff\xfa\x18\x01\xff\xf0NOOP\r\n",
		"STOR \xff\xed\xff\xf0 \xff\xf4\xff\n",
		"ABCDEFGH\r\nABCD\r\r\nAB\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, max := range []int{0, 1, 4, 16, 512} {
			want := modelLines(data, max)
			r := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(data)), 16)
			got := readAllLines(t, r, max, len(data)+2)
			for _, g := range got {
				if len(g.line) > max || strings.Contains(g.line, "\n") {
					t.Fatalf("readLine(%q, %d) returned %q", data, max, g.line)
				}
			}
			if !sameResults(got, want) {
				t.Fatalf("readLine(%q, %d):\n got %v\nwant %v", data, max, got, want)
			}
		}
	})
}
