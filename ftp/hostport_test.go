package ftp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestParsePORT(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want string // "" when it must fail
	}{
		{"loopback", "127,0,0,1,4,1", "127.0.0.1:1025"},
		{"rfc example", "132,235,1,2,24,131", "132.235.1.2:6275"},
		{"all zero", "0,0,0,0,0,0", "0.0.0.0:0"},
		{"all max", "255,255,255,255,255,255", "255.255.255.255:65535"},
		{"leading zeros", "010,000,0,01,0,021", "10.0.0.1:21"},

		{"empty", "", ""},
		{"five numbers", "1,2,3,4,5", ""},
		{"seven numbers", "1,2,3,4,5,6,7", ""},
		{"trailing comma", "1,2,3,4,5,6,", ""},
		{"empty field", "1,2,,4,5,6", ""},
		{"only commas", ",,,,,", ""},
		{"256", "256,0,0,1,1,1", ""},
		{"port byte 256", "1,2,3,4,256,0", ""},
		{"negative", "1,2,3,4,5,-1", ""},
		{"plus sign", "1,2,3,4,5,+1", ""},
		{"space before", " 1,2,3,4,5,6", ""},
		{"space after comma", "1, 2,3,4,5,6", ""},
		{"space at end", "1,2,3,4,5,6 ", ""},
		{"hex", "0x7f,0,0,1,4,1", ""},
		{"letters", "a,b,c,d,e,f", ""},
		{"dotted address", "127.0.0.1,4,1", ""},
		{"non-ASCII digit", "١,2,3,4,5,6", ""},
		{"huge number", "99999999999999999999999,0,0,1,4,1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePORT(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("parsePORT(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != netip.MustParseAddrPort(tc.want) {
				t.Fatalf("parsePORT(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseEPRT(t *testing.T) {
	t.Parallel()
	errSyntax := errors.New("any error but errNetProto")
	cases := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "rfc IPv4 example", in: "|1|132.235.1.2|6275|", want: "132.235.1.2:6275"},
		{name: "rfc IPv6 example", in: "|2|1080::8:800:200C:417A|5282|", want: "[1080::8:800:200c:417a]:5282"},
		{name: "loopback v6", in: "|2|::1|1025|", want: "[::1]:1025"},
		{name: "other delimiter", in: "!1!10.0.0.1!2000!", want: "10.0.0.1:2000"},
		{name: "tilde delimiter", in: "~2~::1~2000~", want: "[::1]:2000"},
		{name: "v4-mapped as family 2", in: "|2|::ffff:10.0.0.1|2000|", want: "[::ffff:10.0.0.1]:2000"},
		{name: "port 1", in: "|1|10.0.0.1|1|", want: "10.0.0.1:1"},
		{name: "port 65535", in: "|1|10.0.0.1|65535|", want: "10.0.0.1:65535"},
		{name: "leading zero in family", in: "|01|10.0.0.1|2000|", want: "10.0.0.1:2000"},

		{name: "family 3", in: "|3|10.0.0.1|2000|", wantErr: errNetProto},
		{name: "family 0", in: "|0|10.0.0.1|2000|", wantErr: errNetProto},
		{name: "huge family", in: "|99999999999999999999999|x|1|", wantErr: errNetProto},

		{name: "empty", in: "", wantErr: errSyntax},
		{name: "only delimiter", in: "|", wantErr: errSyntax},
		{name: "all delimiters", in: "||||", wantErr: errSyntax},
		{name: "family letter", in: "|x|10.0.0.1|2000|", wantErr: errSyntax},
		{name: "empty family", in: "||10.0.0.1|2000|", wantErr: errSyntax},
		{name: "negative family", in: "|-1|10.0.0.1|2000|", wantErr: errSyntax},
		{name: "IPv6 as family 1", in: "|1|::1|2000|", wantErr: errSyntax},
		{name: "v4-mapped as family 1", in: "|1|::ffff:10.0.0.1|2000|", wantErr: errSyntax},
		{name: "IPv4 as family 2", in: "|2|10.0.0.1|2000|", wantErr: errSyntax},
		{name: "zone", in: "|2|fe80::1%eth0|2000|", wantErr: errSyntax},
		{name: "host name", in: "|1|example.com|2000|", wantErr: errSyntax},
		{name: "IPv4 leading zero", in: "|1|010.0.0.1|2000|", wantErr: errSyntax},
		{name: "bracketed IPv6", in: "|2|[::1]|2000|", wantErr: errSyntax},
		{name: "port 0", in: "|1|10.0.0.1|0|", wantErr: errSyntax},
		{name: "port 65536", in: "|1|10.0.0.1|65536|", wantErr: errSyntax},
		{name: "port sign", in: "|1|10.0.0.1|+2000|", wantErr: errSyntax},
		{name: "port letters", in: "|1|10.0.0.1|http|", wantErr: errSyntax},
		{name: "empty port", in: "|1|10.0.0.1||", wantErr: errSyntax},
		{name: "missing last delimiter", in: "|1|10.0.0.1|2000", wantErr: errSyntax},
		{name: "extra field", in: "|1|10.0.0.1|2000|x|", wantErr: errSyntax},
		{name: "mixed delimiters", in: "|1!10.0.0.1!2000!", wantErr: errSyntax},
		{name: "space delimiter", in: " 1 10.0.0.1 2000 ", wantErr: errSyntax},
		{name: "DEL delimiter", in: "\x7f1\x7f10.0.0.1\x7f2000\x7f", wantErr: errSyntax},
		{name: "non-ASCII delimiter", in: "¦1¦10.0.0.1¦2000¦", wantErr: errSyntax},
		{name: "dot delimiter splits the address", in: ".1.10.0.0.1.2000.", wantErr: errSyntax},
		{name: "space around fields", in: "| 1 | 10.0.0.1 | 2000 |", wantErr: errSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseEPRT(tc.in)
			switch tc.wantErr {
			case nil:
				if err != nil || got != netip.MustParseAddrPort(tc.want) {
					t.Fatalf("parseEPRT(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
				}
			case errSyntax:
				if err == nil || errors.Is(err, errNetProto) {
					t.Fatalf("parseEPRT(%q) = %v, %v; want a syntax error", tc.in, got, err)
				}
			default:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("parseEPRT(%q) = %v, %v; want %v", tc.in, got, err, tc.wantErr)
				}
			}
		})
	}
}

func TestFormatPASV(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ip   string
		port uint16
		want string
	}{
		{"loopback", "127.0.0.1", 1025, "Entering Passive Mode (127,0,0,1,4,1)."},
		{"high port", "192.0.2.200", 65535, "Entering Passive Mode (192,0,2,200,255,255)."},
		{"low port", "10.0.0.1", 255, "Entering Passive Mode (10,0,0,1,0,255)."},
		{"v4-mapped", "::ffff:10.1.2.3", 50000, "Entering Passive Mode (10,1,2,3,195,80)."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := formatPASV(netip.MustParseAddr(tc.ip), tc.port)
			if got != tc.want {
				t.Fatalf("formatPASV(%s, %d) = %q, want %q", tc.ip, tc.port, got, tc.want)
			}
			// What a client does with it: the numbers make a PORT argument.
			inner := got[strings.Index(got, "(")+1 : strings.Index(got, ")")]
			ap, err := parsePORT(inner)
			if err != nil || ap != netip.AddrPortFrom(netip.MustParseAddr(tc.ip).Unmap(), tc.port) {
				t.Errorf("parsePORT(%q) = %v, %v", inner, ap, err)
			}
		})
	}
	for _, ip := range []netip.Addr{netip.MustParseAddr("::1"), {}} {
		t.Run("panics for "+ip.String(), func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("formatPASV(%v) did not panic", ip)
				}
			}()
			formatPASV(ip, 2000)
		})
	}
}

func TestFormatEPSV(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		port uint16
		want string
	}{
		{"rfc example", 6446, "Entering Extended Passive Mode (|||6446|)"},
		{"max", 65535, "Entering Extended Passive Mode (|||65535|)"},
		{"small", 1024, "Entering Extended Passive Mode (|||1024|)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := formatEPSV(tc.port); got != tc.want {
				t.Errorf("formatEPSV(%d) = %q, want %q", tc.port, got, tc.want)
			}
		})
	}
}

func TestCheckActiveTarget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		target  string
		client  string
		wantErr error
	}{
		{name: "client itself", target: "192.0.2.7:1024", client: "192.0.2.7"},
		{name: "high port", target: "192.0.2.7:65535", client: "192.0.2.7"},
		{name: "v4-mapped client", target: "192.0.2.7:2000", client: "::ffff:192.0.2.7"},
		{name: "v4-mapped target", target: "[::ffff:192.0.2.7]:2000", client: "192.0.2.7"},
		{name: "IPv6", target: "[2001:db8::7]:2000", client: "2001:db8::7"},
		{name: "client zone ignored", target: "[fe80::7]:2000", client: "fe80::7%eth0"},

		{name: "another host", target: "192.0.2.8:2000", client: "192.0.2.7", wantErr: errForeignTarget},
		{name: "internal host", target: "10.0.0.1:2000", client: "192.0.2.7", wantErr: errForeignTarget},
		{name: "another IPv6 host", target: "[2001:db8::8]:2000", client: "2001:db8::7", wantErr: errForeignTarget},
		{name: "unspecified", target: "0.0.0.0:2000", client: "192.0.2.7", wantErr: errForeignTarget},
		{name: "IPv4 target for IPv6 client", target: "192.0.2.7:2000", client: "2001:db8::7", wantErr: errForeignTarget},
		{name: "port 1023", target: "192.0.2.7:1023", client: "192.0.2.7", wantErr: errPrivilegedTarget},
		{name: "port 25", target: "192.0.2.7:25", client: "192.0.2.7", wantErr: errPrivilegedTarget},
		{name: "port 0", target: "192.0.2.7:0", client: "192.0.2.7", wantErr: errPrivilegedTarget},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkActiveTarget(netip.MustParseAddrPort(tc.target), netip.MustParseAddr(tc.client))
			if (err == nil) != (tc.wantErr == nil) || !errors.Is(err, tc.wantErr) {
				t.Errorf("checkActiveTarget(%s, %s) = %v, want %v", tc.target, tc.client, err, tc.wantErr)
			}
		})
	}
	t.Run("unknown client", func(t *testing.T) {
		t.Parallel()
		if err := checkActiveTarget(netip.AddrPort{}, netip.Addr{}); !errors.Is(err, errForeignTarget) {
			t.Errorf("zero target and client: %v", err)
		}
	})
}

func TestParseEPSVArg(t *testing.T) {
	t.Parallel()
	errSyntax := errors.New("any error but errNetProto")
	cases := []struct {
		name      string
		in        string
		wantAll   bool
		wantProto int
		wantErr   error
	}{
		{name: "none", in: ""},
		{name: "ALL", in: "ALL", wantAll: true},
		{name: "all", in: "all", wantAll: true},
		{name: "All", in: "All", wantAll: true},
		{name: "IPv4", in: "1", wantProto: 1},
		{name: "IPv6", in: "2", wantProto: 2},
		{name: "leading zero", in: "02", wantProto: 2},
		{name: "unknown protocol", in: "3", wantErr: errNetProto},
		{name: "zero", in: "0", wantErr: errNetProto},
		{name: "huge", in: "99999999999999999999999", wantErr: errNetProto},
		{name: "word", in: "IPV4", wantErr: errSyntax},
		{name: "ALL with space", in: "ALL ", wantErr: errSyntax},
		{name: "space before number", in: " 1", wantErr: errSyntax},
		{name: "negative", in: "-1", wantErr: errSyntax},
		{name: "two args", in: "1 2", wantErr: errSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			all, proto, err := parseEPSVArg(tc.in)
			switch tc.wantErr {
			case nil:
				if err != nil || all != tc.wantAll || proto != tc.wantProto {
					t.Errorf("parseEPSVArg(%q) = %v, %d, %v; want %v, %d", tc.in, all, proto, err, tc.wantAll, tc.wantProto)
				}
			case errSyntax:
				if err == nil || errors.Is(err, errNetProto) {
					t.Errorf("parseEPSVArg(%q) = %v, %d, %v; want a syntax error", tc.in, all, proto, err)
				}
			default:
				if !errors.Is(err, tc.wantErr) || all || proto != 0 {
					t.Errorf("parseEPSVArg(%q) = %v, %d, %v; want %v", tc.in, all, proto, err, tc.wantErr)
				}
			}
		})
	}
}

// FuzzParsePORT checks that whatever parsePORT accepts is the canonical
// form but for leading zeros, and formats back through formatPASV.
func FuzzParsePORT(f *testing.F) {
	for _, s := range []string{"127,0,0,1,4,1", "0,0,0,0,0,0", "255,255,255,255,255,255", "010,0,0,1,0,21", "1,2,3,4,5", "256,0,0,1,1,1", ",,,,,", " 1,2,3,4,5,6", "1,2,3,4,5,-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ap, err := parsePORT(arg)
		if err != nil {
			return
		}
		if !ap.Addr().Is4() {
			t.Fatalf("parsePORT(%q) = %v, not IPv4", arg, ap)
		}
		a := ap.Addr().As4()
		canonical := fmt.Sprintf("%d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], ap.Port()>>8, ap.Port()&0xff)
		// The input was canonical but for leading zeros: nothing else slipped in.
		var fields []string
		for _, f := range strings.Split(arg, ",") {
			if f = strings.TrimLeft(f, "0"); f == "" {
				f = "0"
			}
			fields = append(fields, f)
		}
		if strings.Join(fields, ",") != canonical {
			t.Fatalf("parsePORT(%q) = %v, which is %q", arg, ap, canonical)
		}
		if back, err := parsePORT(canonical); err != nil || back != ap {
			t.Fatalf("parsePORT(%q) = %v, %v; want %v", canonical, back, err, ap)
		}
		if got, want := formatPASV(ap.Addr(), ap.Port()), "Entering Passive Mode ("+canonical+")."; got != want {
			t.Fatalf("formatPASV(%v) = %q, want %q", ap, got, want)
		}
	})
}

// FuzzParseEPRT checks that what parseEPRT accepts has a sane
// family, address and port and parses again from its canonical form, and
// that errNetProto is only for well-formed unknown families.
func FuzzParseEPRT(f *testing.F) {
	for _, s := range []string{
		"|1|132.235.1.2|6275|", "|2|1080::8:800:200C:417A|5282|", "!2!::ffff:1.2.3.4!2000!",
		"|3|1.2.3.4|5|", "||||", "|1|1.2.3.4|99999|", "|2|fe80::1%eth0|2000|", "f2f::FFFF:1.2.3.4f1234f",
		"|1|1.2.3.4|0|", "$2$fe80::1$21$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ap, err := parseEPRT(arg)
		if errors.Is(err, errNetProto) {
			// Only a well-formed numeric family other than 1 and 2.
			fields := strings.Split(arg, arg[:1])
			if len(fields) != 5 || !allDigits(fields[1]) || strings.TrimLeft(fields[1], "0") == "1" || strings.TrimLeft(fields[1], "0") == "2" {
				t.Fatalf("parseEPRT(%q) = errNetProto", arg)
			}
			return
		}
		if err != nil {
			return
		}
		if ap.Port() == 0 || ap.Addr().Zone() != "" || !ap.Addr().IsValid() {
			t.Fatalf("parseEPRT(%q) = %v", arg, ap)
		}
		family := "2"
		if ap.Addr().Is4() {
			family = "1"
		}
		if got := strings.TrimLeft(strings.Split(arg, arg[:1])[1], "0"); got != family {
			t.Fatalf("parseEPRT(%q) = %v, family %s", arg, ap, got)
		}
		canonical := "|" + family + "|" + ap.Addr().String() + "|" + strconv.Itoa(int(ap.Port())) + "|"
		if back, err := parseEPRT(canonical); err != nil || back != ap {
			t.Fatalf("parseEPRT(%q) = %v, %v; want %v (from %q)", canonical, back, err, ap, arg)
		}
	})
}
