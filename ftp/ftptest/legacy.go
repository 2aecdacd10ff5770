package ftptest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

// testNameEncodings: with a legacy character set, names arrive as the
// client's bytes and are stored as UTF-8, and come back in the client's
// bytes; names the set cannot carry are left out of listings, and OPTS
// UTF8 ON switches the session to UTF-8.
func testNameEncodings(t *testing.T, nb newBackend) {
	t.Parallel()
	for _, tc := range []struct {
		set, raw, stored string
		invalid          string // bytes not valid in the set, if it has any
	}{
		{"gbk", "\xd6\xd0\xce\xc4.txt", "中文.txt", "a\x81"},
		{"gb18030", "\xd6\xd0\xce\xc4.txt", "中文.txt", "a\x81"},
		{"big5", "\xa4\xa4\xa4\xe5.txt", "中文.txt", "a\xa4"},
		{"shift_jis", "\x93\xfa\x96\x7b.csv", "日本.csv", "a\x93"},
		{"euc-kr", "\xc7\xd1\xb1\xb9.txt", "한국.txt", ""},
		{"windows-1252", "\x80uro.txt", "€uro.txt", ""},
		{"iso-8859-1", "caf\xe9.csv", "café.csv", ""},
		{"koi8-r", "\xc6\xc1\xca\xcc.txt", "файл.txt", ""},
		// 0xFF (я) is Telnet's IAC: undoubled in a name, it is a literal byte.
		{"windows-1251", "\xff\xed\xe2\xe0\xf0\xfc.csv", "январь.csv", ""},
		{"windows-1251", "\xff\xf0.txt", "яр.txt", ""},
		{"windows-1251", "\xef\xff\xf2\xed\xe8\xf6\xe0.csv", "пятница.csv", ""}, // я т: IAC DM
		{"windows-1251", "\xff\xfb.txt", "яы.txt", ""},                          // я ы: IAC WILL
	} {
		t.Run(tc.set, func(t *testing.T) {
			t.Parallel()
			e := startServer(t, nb(t), func(c *ftp.Config) { c.NameEncoding = tc.set })
			// GB18030 encodes all of Unicode; none of the others has ☃.
			e.put("/alice/snow☃man.txt", "not representable")
			wantNLST := []string{tc.raw}
			if tc.set == "gb18030" {
				wantNLST = []string{"snow\x817\xa30man.txt", tc.raw}
			}
			c := e.login("alice")
			c.must("TYPE I", 200)
			if code, _ := c.stor("STOR", tc.raw, "payload"); code != 226 {
				t.Fatalf("STOR %q: %d", tc.raw, code)
			}
			if got, err := e.stored("/alice/" + tc.stored); err != nil || got != "payload" {
				t.Fatalf("stored as UTF-8 %q: %q %v", tc.stored, got, err)
			}
			if got := strings.Fields(c.list("NLST")); !slices.Equal(got, wantNLST) {
				t.Fatalf("NLST: %q, want %q", got, wantNLST)
			}
			if left := strings.Contains(e.logs.String(), "names left out of a listing"); left != (tc.set != "gb18030") {
				t.Errorf("left-out names logged: %v", left)
			}
			if got := c.retr(tc.raw); got != "payload" {
				t.Fatalf("RETR: %q", got)
			}
			if text := c.must("MKD d"+tc.raw, 257); !strings.Contains(text, "d"+tc.raw) {
				t.Fatalf("257 %q does not name the directory in the client's bytes", text)
			}
			if tc.invalid != "" {
				c.must("SIZE "+tc.invalid, 553)
			}
			c.must("OPTS UTF8 ON", 200)
			got := strings.Fields(c.list("NLST"))
			slices.Sort(got)
			want := []string{"d" + tc.stored, tc.stored, "snow☃man.txt"}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("NLST after OPTS UTF8 ON: %q, want %q", got, want)
			}
			if got := c.retr(tc.stored); got != "payload" {
				t.Fatalf("RETR in UTF-8: %q", got)
			}
		})
	}
	t.Run("per user", func(t *testing.T) {
		t.Parallel()
		e := startServer(t, nb(t))
		c := e.login("latin")
		c.must("TYPE I", 200)
		if code, _ := c.stor("STOR", "caf\xe9.csv", "x"); code != 226 {
			t.Fatalf("STOR: %d", code)
		}
		if _, err := e.stored("/latin/café.csv"); err != nil {
			t.Fatal(err)
		}
		// alice has no setting: the server's UTF-8, where those bytes
		// are not a valid name.
		a := e.login("alice")
		if code, _ := a.stor("STOR", "caf\xe9.csv", "x"); code != 553 {
			t.Fatalf("Latin-1 bytes from a UTF-8 user: %d, want 553", code)
		}
		if _, err := e.stored("/alice/café.csv"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
	})
}

// testASCIIPolicy: with ascii: binary, TYPE A is accepted but transfers
// bytes unchanged (Windows ftp.exe's default would otherwise corrupt binary
// drops), and SIZE works in it; with convert, line endings are converted
// and SIZE in TYPE A is refused.
func testASCIIPolicy(t *testing.T, nb newBackend) {
	t.Parallel()
	data := "line1\nline2\r\nbin\x00\xff\n"
	for _, tc := range []struct {
		name, server, user string
		wantStored         string
		sizeCode           int
	}{
		{"convert", "convert", "alice", "line1\nline2\nbin\x00\xff\n", 550},
		{"server binary", "binary", "alice", data, 213},
		{"user binary", "convert", "latin", data, 213},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startServer(t, nb(t), func(c *ftp.Config) { c.ASCII = tc.server })
			c := e.login(tc.user)
			c.must("TYPE A", 200)
			if code, _ := c.stor("STOR", "f.bin", data); code != 226 {
				t.Fatalf("STOR: %d", code)
			}
			home := "/alice"
			if tc.user == "latin" {
				home = "/latin"
			}
			if got, _ := e.stored(home + "/f.bin"); got != tc.wantStored {
				t.Fatalf("stored %q, want %q", got, tc.wantStored)
			}
			c.must("SIZE f.bin", tc.sizeCode)
			want := strings.ReplaceAll(tc.wantStored, "\n", "\r\n")
			if tc.server == "binary" || tc.user == "latin" {
				want = data
			}
			if got := c.retr("f.bin"); got != want {
				t.Fatalf("RETR in TYPE A: %q, want %q", got, want)
			}
		})
	}
}

// testSmallCommands: AVBL, CLNT, LANG and SITE UTIME as legacy clients send
// them.
func testSmallCommands(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.dial()
	c.must("CLNT WS_FTP Pro 12", 200)
	c.must("LANG fr", 502)
	c.must("AVBL", 530)
	c.must("USER quota", 331)
	c.must("PASS quota-pw", 230)
	c.must("TYPE I", 200)
	if got := c.must("AVBL", 213); got != "1000" {
		t.Fatalf("AVBL with a 1000-byte quota and nothing stored: %q", got)
	}
	if code, _ := c.stor("STOR", "f", strings.Repeat("x", 300)); code != 226 {
		t.Fatalf("STOR: %d", code)
	}
	if got := c.must("AVBL /", 213); got != "700" {
		t.Fatalf("AVBL after 300 bytes: %q", got)
	}
	c.must("AVBL nosuchdir", 550)
	c.must("AVBL f", 550)

	a := e.login("alice")
	a.must("AVBL", 550) // no quota: not known
	e.put("/alice/with space.txt", "x")
	for _, tc := range []struct{ cmd, mdtm string }{
		{"SITE UTIME with space.txt 20200102030405", "20200102030405"},
		{"SITE UTIME 201901020304 with space.txt", "20190102030400"},
		{"SITE UTIME with space.txt 20180102030405 20170102030405 20160102030405 UTC", "20170102030405"},
	} {
		a.must(tc.cmd, 200)
		if got := a.must("MDTM with space.txt", 213); got != tc.mdtm {
			t.Errorf("%s: MDTM %s, want %s", tc.cmd, got, tc.mdtm)
		}
	}
	a.must("SITE UTIME with space.txt", 501)
	a.must("SITE UTIME missing.txt 20200102030405", 550)

	// The write-only rule holds for SITE UTIME as for MFMT.
	e.put("/dropbox/theirs", "x")
	wo := e.login("wo")
	wo.must("SITE UTIME theirs 20200102030405", 550)
}
