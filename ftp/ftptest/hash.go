package ftptest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

func sha256hex(s string) string { b := sha256.Sum256([]byte(s)); return hex.EncodeToString(b[:]) }

// allSums are data's checksums as the X commands name them.
func allSums(data string) map[string]string {
	s1 := sha1.Sum([]byte(data))
	s5 := sha512.Sum512([]byte(data))
	m5 := md5.Sum([]byte(data))
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], crc32.ChecksumIEEE([]byte(data)))
	return map[string]string{
		"XSHA256": sha256hex(data), "XSHA1": hex.EncodeToString(s1[:]), "XSHA512": hex.EncodeToString(s5[:]),
		"XMD5": hex.EncodeToString(m5[:]), "XCRC": hex.EncodeToString(c[:]),
	}
}

// testHash: HASH (draft-bryan-ftpext-hash-02), OPTS HASH, the X commands
// and SITE CHECKSUM, on files uploaded whole, appended, resumed, renamed
// and re-timed, and the refusals.
func testHash(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t), func(c *ftp.Config) {
		c.Checksums = []string{storage.CRC32, storage.MD5, storage.SHA1, storage.SHA512}
	})
	c := e.login("alice")
	c.must("TYPE I", 200)
	small := "hello, checksums\n"
	// Above one part (6 MiB by default): a multipart upload on S3.
	big := strings.Repeat("0123456789abcdef", 7<<16)
	for name, data := range map[string]string{"small.txt": small, "big.bin": big} {
		if code, text := c.stor("STOR", name, data); code != 226 {
			t.Fatalf("STOR %s: %d %s", name, code, text)
		}
	}

	t.Run("FEAT", func(t *testing.T) {
		feat := c.must("FEAT", 211)
		for _, want := range []string{" HASH SHA-256*;SHA-1;SHA-512;MD5;CRC32\n", " XCRC\n", " XMD5\n", " XSHA1\n", " XSHA256\n", " XSHA512\n"} {
			if !strings.Contains(feat+"\n", want) {
				t.Errorf("FEAT lacks %q:\n%s", want, feat)
			}
		}
	})
	t.Run("HASH", func(t *testing.T) {
		for name, data := range map[string]string{"small.txt": small, "big.bin": big} {
			want := "SHA-256 0-" + strconv.Itoa(len(data)) + " " + sha256hex(data) + " " + name
			if got := c.must("HASH "+name, 213); got != want {
				t.Errorf("HASH %s = %q, want %q", name, got, want)
			}
		}
	})
	t.Run("X commands", func(t *testing.T) {
		for name, data := range map[string]string{"small.txt": small, "big.bin": big} {
			for verb, want := range allSums(data) {
				if got := c.must(verb+" "+name, 250); got != want {
					t.Errorf("%s %s = %q, want %q", verb, name, got, want)
				}
			}
		}
		if got := c.must(`XSHA256 "small.txt"`, 250); got != sha256hex(small) {
			t.Errorf("quoted XSHA256 = %q", got)
		}
	})
	t.Run("X command ranges", func(t *testing.T) {
		// <start> <end>: bytes start to end-1, read from the store (ProFTPD's
		// mod_digest takes them so).
		for _, r := range []struct {
			arg        string
			start, end int
		}{
			{`"small.txt" 0 5`, 0, 5},
			{"small.txt 7 16", 7, 16},
			{"small.txt  3  4 ", 3, 4},
			{"big.bin 6291455 6291457", 6291455, 6291457}, // across the first 6 MiB part
			{"big.bin 1 " + strconv.Itoa(len(big)), 1, len(big)},
			{"small.txt 0 " + strconv.Itoa(len(small)), 0, len(small)}, // the whole file: the recorded value
		} {
			data := small
			if strings.HasPrefix(r.arg, "big") {
				data = big
			}
			for verb, want := range allSums(data[r.start:r.end]) {
				if got := c.must(verb+" "+r.arg, 250); got != want {
					t.Errorf("%s %s = %q, want %q", verb, r.arg, got, want)
				}
			}
		}
		// A path of spaces and numbers given quoted is a path.
		if code, text := c.stor("STOR", "v 1 2", small); code != 226 {
			t.Fatalf("STOR: %d %s", code, text)
		}
		if got := c.must(`XMD5 "v 1 2"`, 250); got != allSums(small)["XMD5"] {
			t.Errorf(`XMD5 "v 1 2" = %q`, got)
		}
		c.must("XMD5 v 1 2", 550) // the path "v" and bytes 1 to 2
		for _, arg := range []string{
			"small.txt 0 " + strconv.Itoa(len(small)+1), // beyond the end
			"small.txt 5 5", "small.txt 6 5",
			`"small.txt" 5`, `"small.txt" 0 x`, `"small.txt" -1 4`, `"small.txt" 0 1 2`,
		} {
			if code, text := c.cmd("XCRC " + arg); code != 501 {
				t.Errorf("XCRC %s: %d %s, want 501", arg, code, text)
			}
		}
		// A range counts against --hash-max-bytes as a file does.
		e := startServer(t, nb(t), func(c *ftp.Config) { c.HashMaxBytes = 4 })
		lc := e.login("alice")
		lc.must("TYPE I", 200)
		if code, text := lc.stor("STOR", "s.txt", small); code != 226 {
			t.Fatalf("STOR: %d %s", code, text)
		}
		if got := lc.must("XSHA1 s.txt 2 6", 250); got != allSums(small[2:6])["XSHA1"] {
			t.Errorf("XSHA1 s.txt 2 6 = %q", got)
		}
		if code, text := lc.cmd("XSHA1 s.txt 2 7"); code != 550 || !strings.Contains(text, "larger than the 4") {
			t.Errorf("a range above --hash-max-bytes: %d %q, want 550 naming the limit", code, text)
		}
	})
	t.Run("OPTS HASH", func(t *testing.T) {
		c := e.login("alice")
		c.must("OPTS HASH", 200)
		if got := c.must("OPTS HASH SHA-512", 200); got != "SHA-512" {
			t.Errorf("OPTS HASH SHA-512 = %q", got)
		}
		if got := c.must("OPTS HASH", 200); got != "SHA-512" {
			t.Errorf("OPTS HASH = %q after selecting SHA-512", got)
		}
		if feat := c.must("FEAT", 211); !strings.Contains(feat, " HASH SHA-256;SHA-1;SHA-512*;MD5;CRC32") {
			t.Errorf("FEAT does not star SHA-512:\n%s", feat)
		}
		want := "SHA-512 0-" + strconv.Itoa(len(small)) + " " + allSums(small)["XSHA512"] + " small.txt"
		if got := c.must("HASH small.txt", 213); got != want {
			t.Errorf("HASH = %q, want %q", got, want)
		}
		c.must("OPTS HASH WHIRLPOOL", 501)
		c.must("OPTS HASH CRC32", 200)
		if got := c.must("HASH small.txt", 213); !strings.HasPrefix(got, "CRC32 0-17 "+allSums(small)["XCRC"]) {
			t.Errorf("HASH with CRC32 = %q", got)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		c.must("MKD adir", 257)
		c.must("HASH adir", 550)
		c.must("HASH missing", 550)
		c.must("XSHA256 missing", 550)
		c.must("HASH", 501)
		// A write-only user may not learn about contents, even of a file
		// it uploaded.
		wo := e.login("wo")
		wo.must("TYPE I", 200)
		if code, text := wo.stor("STOR", "drop.txt", small); code != 226 {
			t.Fatalf("STOR as wo: %d %s", code, text)
		}
		wo.must("HASH drop.txt", 550)
		wo.must("XSHA256 drop.txt", 550)
		wo.must("XCRC drop.txt", 550)
	})
	t.Run("REIN resets OPTS HASH and SITE CHECKSUM", func(t *testing.T) {
		c := e.login("alice")
		c.must("TYPE I", 200)
		c.must("OPTS HASH MD5", 200)
		c.must("SITE CHECKSUM SHA-256 "+sha256hex("not this"), 200)
		c.must("REIN", 220)
		c.must("USER alice", 331)
		c.must("PASS alice-pw", 230)
		c.must("TYPE I", 200)
		if got := c.must("OPTS HASH", 200); got != "SHA-256" {
			t.Errorf("OPTS HASH after REIN = %q, want SHA-256", got)
		}
		if code, text := c.stor("STOR", "after-rein.txt", small); code != 226 {
			t.Errorf("STOR after REIN: %d %s, want 226 (the declared checksum forgotten)", code, text)
		}
		if got := c.must("HASH after-rein.txt", 213); !strings.HasPrefix(got, "SHA-256 ") {
			t.Errorf("HASH after REIN = %q, want SHA-256", got)
		}
	})
	t.Run("SITE CHECKSUM", func(t *testing.T) {
		if help := c.must("SITE HELP", 214); !strings.Contains(help, "SITE CHECKSUM") {
			t.Errorf("SITE HELP does not mention CHECKSUM:\n%s", help)
		}
		c.must("SITE CHECKSUM SHA-256", 501)
		c.must("SITE CHECKSUM SHA-256 abcd", 501)
		c.must("SITE CHECKSUM WHIRLPOOL "+sha256hex(small), 501)
		for name, data := range map[string]string{"bad-small": small, "bad-big": big} {
			c.must("SITE CHECKSUM SHA-256 "+sha256hex(data+"x"), 200)
			if code, text := c.stor("STOR", name, data); code != 451 || !strings.Contains(text, "declared checksum") {
				t.Errorf("STOR %s with a wrong declared checksum: %d %s, want 451", name, code, text)
			}
			if _, err := e.backend.Stat(t.Context(), "/alice/"+name); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s is visible after a mismatch: %v", name, err)
			}
		}
		// The declaration was for one upload: the next one is not checked.
		if code, text := c.stor("STOR", "bad-small", small); code != 226 {
			t.Errorf("STOR after a mismatch: %d %s", code, text)
		}
		c.must("SITE CHECKSUM SHA-256 "+strings.ToUpper(sha256hex(big)), 200)
		if code, text := c.stor("STOR", "good-big", big); code != 226 {
			t.Errorf("STOR with the right declared checksum: %d %s", code, text)
		}
		if got, _ := e.stored("/alice/good-big"); got != big {
			t.Error("good-big not stored whole")
		}
		c.must("SITE CHECKSUM MD5 "+allSums(small)["XMD5"], 200)
		if code, text := c.stor("STOR", "good-md5", small); code != 226 {
			t.Errorf("STOR with the right declared MD5: %d %s", code, text)
		}
		c.must("SITE CHECKSUM SHA-256 "+sha256hex(small+small), 200)
		if code, text := c.stor("APPE", "good-md5", small); code != 504 {
			t.Errorf("APPE with a declared checksum: %d %s, want 504", code, text)
		}
		if got, _ := e.stored("/alice/good-md5"); got != small {
			t.Error("good-md5 changed by a refused APPE")
		}
		c.must("SITE CHECKSUM SHA-256 "+sha256hex(small), 200)
		c.must("SITE CHECKSUM NONE", 200)
		if code, text := c.stor("STOR", "undeclared", "other"); code != 226 {
			t.Errorf("STOR after SITE CHECKSUM NONE: %d %s", code, text)
		}
	})
	t.Run("after APPE, REST, rename and MFMT", func(t *testing.T) {
		check := func(name, data string) {
			t.Helper()
			for verb, want := range allSums(data) {
				if got := c.must(verb+" "+name, 250); got != want {
					t.Errorf("%s %s = %q, want %q", verb, name, got, want)
				}
			}
		}
		// APPE onto a small file, and onto a big one (whose kept bytes S3
		// copies in the store).
		for name, data := range map[string]string{"small.txt": small, "big.bin": big} {
			if code, text := c.stor("APPE", name, "appended"); code != 226 {
				t.Fatalf("APPE %s: %d %s", name, code, text)
			}
			check(name, data+"appended")
		}
		if code, text := c.stor("STOR", "resume.txt", "hello world"); code != 226 {
			t.Fatalf("STOR: %d %s", code, text)
		}
		check("resume.txt", "hello world")
		c.must("REST 6", 350)
		if code, text := c.stor("STOR", "resume.txt", "there"); code != 226 {
			t.Fatalf("REST+STOR: %d %s", code, text)
		}
		check("resume.txt", "hello there")
		c.must("RNFR good-big", 350)
		c.must("RNTO renamed-big", 250)
		check("renamed-big", big)
		c.must("RNFR good-md5", 350)
		c.must("RNTO renamed-small", 250)
		check("renamed-small", small)
		c.must("MFMT 20200102030405 renamed-small", 213)
		check("renamed-small", small)
		c.must("MFMT 20200102030405 renamed-big", 213)
		check("renamed-big", big)
		// Replaced by another upload: its own checksums.
		if code, text := c.stor("STOR", "renamed-small", "replaced"); code != 226 {
			t.Fatalf("STOR: %d %s", code, text)
		}
		check("renamed-small", "replaced")
	})
	t.Run("hash-max-bytes", func(t *testing.T) {
		e := startServer(t, nb(t), func(c *ftp.Config) { c.HashMaxBytes = 100 })
		data := string(bytes.Repeat([]byte("x"), 101))
		e.put("/alice/foreign.bin", data) // not through FTP: nothing recorded
		e.put("/alice/foreign-small.bin", data[:100])
		c := e.login("alice")
		if code, text := c.cmd("HASH foreign.bin"); code != 550 || !strings.Contains(text, "larger than the 100") {
			t.Errorf("HASH above --hash-max-bytes: %d %q, want 550 naming the limit", code, text)
		}
		want := "SHA-256 0-100 " + sha256hex(data[:100]) + " foreign-small.bin"
		if got := c.must("HASH foreign-small.bin", 213); got != want {
			t.Errorf("HASH of a foreign file = %q, want %q", got, want)
		}
		// Uploaded through FTP, a file is hashed from its recorded checksums
		// where the store records them, else read: either way the answer is
		// the same, but only a store with recorded values answers above the
		// limit.
		c.must("TYPE I", 200)
		if code, text := c.stor("STOR", "mine.bin", data); code != 226 {
			t.Fatalf("STOR: %d %s", code, text)
		}
		if code, text := c.cmd("HASH mine.bin"); code == 213 && text != "SHA-256 0-101 "+sha256hex(data)+" mine.bin" {
			t.Errorf("HASH mine.bin = %q", text)
		}
	})
}
