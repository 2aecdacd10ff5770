package ftp

import (
	"bufio"
	"errors"
	"io"
	"net/netip"
	"path"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage"
)

func TestReadLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		in    string
		lines []string
		err   error
	}{
		{"crlf", "NOOP\r\n", []string{"NOOP"}, io.EOF},
		{"bare lf", "NOOP\nPWD\n", []string{"NOOP", "PWD"}, io.EOF},
		{"abort with IP and DM inline", "\xff\xf4\xff\xf2ABOR\r\n", []string{"ABOR"}, io.EOF},
		{"abort with DM taken out of band", "\xff\xf4\xffABOR\r\n", []string{"ABOR"}, io.EOF},
		{"escaped 0xFF", "STOR a\xff\xffb\r\n", []string{"STOR a\xffb"}, io.EOF},
		{"option negotiation dropped", "\xff\xfb\x01NOOP\r\n", []string{"NOOP"}, io.EOF},
		{"spaces kept in argument", "STOR  two  spaces \r\n", []string{"STOR  two  spaces "}, io.EOF},
		{"eof mid line", "NOO", nil, io.ErrUnexpectedEOF},
		{"too long then fine", strings.Repeat("x", 600) + "\r\nNOOP\r\n", nil, errLineTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := bufio.NewReader(iotest.OneByteReader(strings.NewReader(tc.in)))
			var got []string
			var err error
			for {
				var line string
				line, err = readLine(r, 512)
				if err != nil {
					break
				}
				got = append(got, line)
			}
			if strings.Join(got, "|") != strings.Join(tc.lines, "|") || !errors.Is(err, tc.err) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.lines, tc.err)
			}
		})
	}
	// The session survives an over-long line: the next one reads fine.
	r := bufio.NewReader(strings.NewReader(strings.Repeat("x", 600) + "\r\nNOOP\r\n"))
	if _, err := readLine(r, 512); !errors.Is(err, errLineTooLong) {
		t.Fatal(err)
	}
	if line, err := readLine(r, 512); line != "NOOP" || err != nil {
		t.Fatalf("after a long line: %q, %v", line, err)
	}
}

func TestParseCommand(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]string{
		"retr file":        {"RETR", "file"},
		"STOR  lead space": {"STOR", " lead space"},
		"NOOP":             {"NOOP", ""},
		"":                 {"", ""},
		"mkd a b ":         {"MKD", "a b "},
	} {
		if v, a := parseCommand(in); v != want[0] || a != want[1] {
			t.Errorf("parseCommand(%q) = %q, %q", in, v, a)
		}
	}
}

func TestResolvePath(t *testing.T) {
	t.Parallel()
	cases := []struct{ cwd, arg, want string }{
		{"/", "a", "/a"},
		{"/a", "b/c", "/a/b/c"},
		{"/a", "/x", "/x"},
		{"/a/b", "..", "/a"},
		{"/", "..", "/"},
		{"/", "../../../etc/passwd", "/etc/passwd"},
		{"/a", "", "/a"},
		{"/a", ".", "/a"},
		{"/", "//x//y/", "/x/y"},
		{"/", `..\..\etc`, `/..\..\etc`},
		{"/", "%2e%2e/x", "/%2e%2e/x"},
		{"/", "résumé", "/résumé"},
	}
	for _, tc := range cases {
		got, err := resolvePath(tc.cwd, tc.arg)
		if err != nil || got != tc.want {
			t.Errorf("resolvePath(%q, %q) = %q, %v; want %q", tc.cwd, tc.arg, got, err, tc.want)
		}
	}
	for _, bad := range []string{"a\x00b", "a\nb", "\x7f", "\xc3\x28", strings.Repeat("n", 256), strings.Repeat("d/", 2100)} {
		if _, err := resolvePath("/", bad); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("resolvePath(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
	if got := quotePath(`/say "hi"`); got != `"/say ""hi"""` {
		t.Errorf("quotePath = %s", got)
	}
}

func FuzzResolvePath(f *testing.F) {
	for _, s := range []string{"..", "../..", "//x", `..\..`, "%2e%2e", "a/../../b", "\x00", "\xff", "./././"} {
		f.Add("/", s)
		f.Add("/a/b", s)
	}
	f.Fuzz(func(t *testing.T, cwd, arg string) {
		cwd, err := resolvePath("/", cwd)
		if err != nil {
			return
		}
		p, err := resolvePath(cwd, arg)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsRune(p, 0) || !utf8.ValidString(p) {
			t.Fatalf("resolvePath(%q, %q) = %q", cwd, arg, p)
		}
		for _, part := range strings.Split(p, "/") {
			if part == ".." {
				t.Fatalf("resolvePath(%q, %q) = %q keeps ..", cwd, arg, p)
			}
		}
		if again, err := resolvePath("/", p); err != nil || again != p {
			t.Fatalf("not idempotent: %q -> %q, %v", p, again, err)
		}
	})
}

func FuzzReadLine(f *testing.F) {
	for _, s := range []string{"NOOP\r\n", "\xff\xf4\xff\xf2ABOR\r\n", "\xff\xff\n", "\xff", "\xff\xfb", strings.Repeat("a", 700) + "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(strings.NewReader(string(in)))
		for range len(in) + 1 {
			line, err := readLine(r, 512)
			if errors.Is(err, errLineTooLong) {
				continue
			}
			if err != nil {
				return
			}
			if len(line) > 513 || strings.ContainsRune(line, '\n') {
				t.Fatalf("bad line %q", line)
			}
		}
	})
}

func TestPORTandEPRT(t *testing.T) {
	t.Parallel()
	ap, err := parsePORT("127,0,0,1,4,1")
	if err != nil || ap != netip.MustParseAddrPort("127.0.0.1:1025") {
		t.Fatalf("parsePORT = %v, %v", ap, err)
	}
	for _, bad := range []string{"", "1,2,3,4,5", "1,2,3,4,5,6,7", "256,0,0,1,1,1", "a,b,c,d,e,f", "1,2,3,4,5,-1", " 1,2,3,4,5,6"} {
		if _, err := parsePORT(bad); err == nil {
			t.Errorf("parsePORT(%q) succeeded", bad)
		}
	}
	for in, want := range map[string]string{"|1|127.0.0.1|2000|": "127.0.0.1:2000", "!2!::1!3000!": "[::1]:3000"} {
		ap, err := parseEPRT(in)
		if err != nil || ap.String() != want {
			t.Errorf("parseEPRT(%q) = %v, %v", in, ap, err)
		}
	}
	if _, err := parseEPRT("|3|1.2.3.4|5|"); !errors.Is(err, errNetProto) {
		t.Errorf("family 3: %v", err)
	}
	for _, bad := range []string{"", "|1|::1|5|", "|2|1.2.3.4|5|", "|1|1.2.3.4|0|", "|1|1.2.3.4|70000|", "|1|1.2.3.4|5", "|x|1.2.3.4|5|"} {
		if _, err := parseEPRT(bad); err == nil {
			t.Errorf("parseEPRT(%q) succeeded", bad)
		}
	}
	client := netip.MustParseAddr("192.0.2.7")
	for target, ok := range map[string]bool{"192.0.2.7:1024": true, "192.0.2.7:1023": false, "192.0.2.8:2000": false, "[::ffff:192.0.2.7]:5000": true} {
		if err := checkActiveTarget(netip.MustParseAddrPort(target), client); (err == nil) != ok {
			t.Errorf("checkActiveTarget(%s) = %v", target, err)
		}
	}
	if got := formatPASV(netip.MustParseAddr("10.1.2.3"), 1025); got != "Entering Passive Mode (10,1,2,3,4,1)." {
		t.Errorf("formatPASV = %q", got)
	}
	for in, want := range map[string][2]any{"": {false, 0}, "ALL": {true, 0}, "all": {true, 0}, "2": {false, 2}} {
		all, proto, err := parseEPSVArg(in)
		if err != nil || all != want[0] || proto != want[1] {
			t.Errorf("parseEPSVArg(%q) = %v %v %v", in, all, proto, err)
		}
	}
	if _, _, err := parseEPSVArg("3"); !errors.Is(err, errNetProto) {
		t.Errorf("EPSV 3: %v", err)
	}
}

func FuzzParseEPRT(f *testing.F) {
	for _, s := range []string{"|1|127.0.0.1|2000|", "|2|::1|1|", "||||", "|1|1.2.3.4|99999|"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := parseEPRT(s)
		if err != nil {
			return
		}
		fam := "1"
		if ap.Addr().Is6() {
			fam = "2"
		}
		back, err := parseEPRT("|" + fam + "|" + ap.Addr().String() + "|" + itoa(int64(ap.Port())) + "|")
		if err != nil || back != ap {
			t.Fatalf("%q parsed to %v, which does not round trip: %v %v", s, ap, back, err)
		}
	})
}

func TestListFormats(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	recent := storage.Entry{Name: "a b.txt", Size: 1234, ModTime: time.Date(2024, 5, 3, 9, 7, 0, 0, time.UTC)}
	old := storage.Entry{Name: "d", IsDir: true, ModTime: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)}
	if got := lsLine(recent, now); got != "-rw-r--r-- 1 ftp ftp         1234 May  3 09:07 a b.txt" {
		t.Errorf("lsLine recent = %q", got)
	}
	if got := lsLine(old, now); got != "drwxr-xr-x 1 ftp ftp            0 Jan  2  2020 d" {
		t.Errorf("lsLine old = %q", got)
	}
	if got := mlsxLine(recent, "file", defaultFacts, auth.PermAll); got != "type=file;size=1234;modify=20240503090700;perm=adfrw; a b.txt" {
		t.Errorf("mlsxLine file = %q", got)
	}
	if got := mlsxLine(old, "dir", defaultFacts, auth.PermList); got != "type=dir;modify=20200102000000;perm=el; d" {
		t.Errorf("mlsxLine dir = %q", got)
	}
	if f := parseFacts("Size;TYPE;bogus;"); f != factSize|factType || f.String() != "type;size;" {
		t.Errorf("parseFacts = %v %q", f, f.String())
	}
	if got := featMLST(factType); got != "MLST type*;size;modify;perm;" {
		t.Errorf("featMLST = %q", got)
	}
	if tm, err := parseMDTM("20240102030405"); err != nil || formatMDTM(tm) != "20240102030405" {
		t.Errorf("MDTM round trip: %v %v", tm, err)
	}
	for _, bad := range []string{"2024010203040", "20241302030405", "2024010203040x", "20240102030405."} {
		if _, err := parseMDTM(bad); err == nil {
			t.Errorf("parseMDTM(%q) succeeded", bad)
		}
	}
}

func TestNetASCII(t *testing.T) {
	t.Parallel()
	cases := []struct{ stored, wire string }{
		{"a\nb\n", "a\r\nb\r\n"},
		{"", ""},
		{"\n\n", "\r\n\r\n"},
		{"no newline", "no newline"},
	}
	for _, tc := range cases {
		for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, func(r io.Reader) io.Reader { return r }} {
			got, err := io.ReadAll(toNetASCII(wrap(strings.NewReader(tc.stored))))
			if err != nil || string(got) != tc.wire {
				t.Errorf("toNetASCII(%q) = %q, %v", tc.stored, got, err)
			}
			back, err := io.ReadAll(fromNetASCII(wrap(strings.NewReader(tc.wire))))
			if err != nil || string(back) != tc.stored {
				t.Errorf("fromNetASCII(%q) = %q, %v", tc.wire, back, err)
			}
		}
	}
	// Existing CRLF is not doubled; a lone CR survives the upload direction.
	if got, _ := io.ReadAll(toNetASCII(iotest.OneByteReader(strings.NewReader("a\r\nb")))); string(got) != "a\r\nb" {
		t.Errorf("CRLF doubled: %q", got)
	}
	if got, _ := io.ReadAll(fromNetASCII(iotest.OneByteReader(strings.NewReader("a\rb\r")))); string(got) != "a\rb\r" {
		t.Errorf("lone CR lost: %q", got)
	}
}

func FuzzNetASCIIRoundTrip(f *testing.F) {
	f.Add([]byte("a\nb\n"))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if strings.ContainsRune(string(in), '\r') {
			return
		}
		wire, err := io.ReadAll(toNetASCII(iotest.HalfReader(strings.NewReader(string(in)))))
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(fromNetASCII(iotest.OneByteReader(strings.NewReader(string(wire)))))
		if err != nil || string(back) != string(in) {
			t.Fatalf("round trip of %q gave %q", in, back)
		}
	})
}
