package ftptest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testHashSizesAndClients: for files of 0 B, 1 B and either side of the
// S3 part size (6 MiB: one PUT below, a multipart upload above), HASH and
// the X commands answer what the test computes from the source bytes, and
// real clients ask for them: lftp's quote, curl -Q and Python ftplib's
// sendcmd.
func testHashSizesAndClients(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	c.must("TYPE I", 200)
	const part = 6 << 20
	files := map[string][]byte{}
	for _, n := range []int{0, 1, part - 1, part + 1} {
		name := fmt.Sprintf("size-%d.bin", n)
		files[name] = randomData(t, n)
		if code, text := c.stor("STOR", name, string(files[name])); code != 226 {
			t.Fatalf("STOR %s: %d %s", name, code, text)
		}
	}
	for name, data := range files {
		sha := sha256.Sum256(data)
		md := md5.Sum(data)
		want := map[string]string{"SHA-256": hex.EncodeToString(sha[:]), "MD5": hex.EncodeToString(md[:]),
			"CRC32": fmt.Sprintf("%08x", crc32.ChecksumIEEE(data))}
		for _, algo := range []string{"SHA-256", "MD5", "CRC32"} {
			c.must("OPTS HASH "+algo, 200)
			text := c.must("HASH "+name, 213)
			if wantText := fmt.Sprintf("%s 0-%d %s %s", algo, len(data), want[algo], name); !strings.EqualFold(text, wantText) {
				t.Errorf("HASH %s with %s: %q, want %q", name, algo, text, wantText)
			}
		}
		for verb, algo := range map[string]string{"XSHA256": "SHA-256", "XMD5": "MD5", "XCRC": "CRC32"} {
			text := c.must(verb+" "+name, 250)
			if !strings.EqualFold(strings.TrimSpace(text), want[algo]) {
				t.Errorf("%s %s: %q, want %s", verb, name, text, want[algo])
			}
		}
	}

	name := fmt.Sprintf("size-%d.bin", part+1)
	sha := sha256.Sum256(files[name])
	want := hex.EncodeToString(sha[:])
	dir := t.TempDir()
	t.Run("lftp", func(t *testing.T) {
		lftp := needTool(t, "lftp")
		out := run(t, dir, lftp, "-u", "alice,alice-pw", "-e",
			"set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; quote HASH "+name+"; bye", "ftp://"+e.addr)
		if !strings.Contains(strings.ToLower(out), want) {
			t.Errorf("lftp quote HASH: %s", out)
		}
	})
	t.Run("curl", func(t *testing.T) {
		curl := needTool(t, "curl")
		out := run(t, dir, curl, "-sS", "-v", "--list-only", "-Q", "XSHA256 "+name, "ftp://alice:alice-pw@"+e.addr+"/")
		if !strings.Contains(strings.ToLower(out), "< 250 "+want) {
			t.Errorf("curl -Q XSHA256: %s", out)
		}
	})
	t.Run("ftplib", func(t *testing.T) {
		py := needTool(t, "python3")
		host, port, _ := strings.Cut(e.addr, ":")
		script := filepath.Join(dir, "hash.py")
		if err := os.WriteFile(script, []byte(`import ftplib, sys
f = ftplib.FTP()
f.connect(sys.argv[1], int(sys.argv[2]), timeout=10)
f.login("alice", "alice-pw")
print(f.sendcmd("HASH " + sys.argv[3]))
f.quit()
`), 0o600); err != nil {
			t.Fatal(err)
		}
		out := run(t, dir, py, script, host, port, name)
		if !strings.Contains(strings.ToLower(out), "213 sha-256 0-"+fmt.Sprint(part+1)+" "+want) {
			t.Errorf("ftplib sendcmd HASH: %s", out)
		}
	})
}
