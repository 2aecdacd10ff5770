package ftptest

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// needTool skips a test whose client is not installed, except in CI, where
// .ci/run installs them and a missing one is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (.ci/run installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

func randomData(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// run runs a client with a bounded time and returns its combined output.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx := t.Context()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = time.Second
	done := make(chan struct{})
	timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	close(done)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func testJlaffayeClient(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	for _, epsv := range []bool{true, false} {
		opts := []ftp.DialOption{ftp.DialWithTimeout(wait), ftp.DialWithDisabledEPSV(!epsv)}
		c, err := ftp.Dial(e.addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("alice", "alice-pw"); err != nil {
			t.Fatal(err)
		}
		dir := "epsv"
		if !epsv {
			dir = "pasv"
		}
		if err := c.MakeDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := c.ChangeDir(dir); err != nil {
			t.Fatal(err)
		}
		data := randomData(t, 3<<20)
		if err := c.Stor("f.bin", bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		r, err := c.Retr("f.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("RETR: %d bytes, %v", len(got), err)
		}
		if size, err := c.FileSize("f.bin"); err != nil || size != int64(len(data)) {
			t.Fatalf("SIZE = %d, %v", size, err)
		}
		// Resume an interrupted upload: REST then STOR.
		if err := c.StorFrom("f.bin", bytes.NewReader([]byte("TAIL")), 1000); err != nil {
			t.Fatal(err)
		}
		if size, _ := c.FileSize("f.bin"); size != 1004 {
			t.Fatalf("after resume SIZE = %d", size)
		}
		if err := c.Append("f.bin", strings.NewReader("MORE")); err != nil {
			t.Fatal(err)
		}
		r, err = c.RetrFrom("f.bin", 1000)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(r)
		r.Close()
		if string(got) != "TAILMORE" {
			t.Fatalf("RETR from 1000 = %q", got)
		}
		mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
		if err := c.SetTime("f.bin", mtime); err != nil {
			t.Fatal(err)
		}
		if got, err := c.GetTime("f.bin"); err != nil || !got.Equal(mtime) {
			t.Fatalf("MDTM = %v, %v", got, err)
		}
		if err := c.Rename("f.bin", "g.bin"); err != nil {
			t.Fatal(err)
		}
		entries, err := c.List(".")
		var files []*ftp.Entry
		for _, en := range entries {
			if en.Type == ftp.EntryTypeFile {
				files = append(files, en)
			}
		}
		if err != nil || len(files) != 1 || files[0].Name != "g.bin" || files[0].Size != 1008 {
			t.Fatalf("MLSD = %+v, %v", files, err)
		}
		names, err := c.NameList(".")
		if err != nil || len(names) != 1 {
			t.Fatalf("NLST = %v, %v", names, err)
		}
		if err := c.Delete("g.bin"); err != nil {
			t.Fatal(err)
		}
		if err := c.ChangeDirToParent(); err != nil {
			t.Fatal(err)
		}
		if err := c.RemoveDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
}

func testCurlClient(t *testing.T, nb newBackend) {
	t.Parallel()
	curl := needTool(t, "curl")
	e := startServer(t, nb(t))
	dir := t.TempDir()
	data := randomData(t, 1<<20)
	src := filepath.Join(dir, "src.bin")
	os.WriteFile(src, data, 0o600)
	base := "ftp://alice:alice-pw@" + e.addr + "/"

	// Passive upload into a new directory, passive and active downloads.
	run(t, dir, curl, "-sS", "--ftp-create-dirs", "-T", src, base+"in/up.bin")
	run(t, dir, curl, "-sS", "-o", "pasv.bin", base+"in/up.bin")
	run(t, dir, curl, "-sS", "-P", "127.0.0.1", "-o", "port.bin", base+"in/up.bin")
	run(t, dir, curl, "-sS", "--disable-eprt", "-P", "127.0.0.1", "-o", "port4.bin", base+"in/up.bin")
	for _, f := range []string{"pasv.bin", "port.bin", "port4.bin"} {
		got, _ := os.ReadFile(filepath.Join(dir, f))
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes differ from the upload", f, len(got))
		}
	}
	// Resumed download (REST) and resumed upload (APPE).
	os.WriteFile(filepath.Join(dir, "part.bin"), data[:1000], 0o600)
	run(t, dir, curl, "-sS", "-C", "-", "-o", "part.bin", base+"in/up.bin")
	if got, _ := os.ReadFile(filepath.Join(dir, "part.bin")); !bytes.Equal(got, data) {
		t.Fatal("resumed download differs")
	}
	half := filepath.Join(dir, "half.bin")
	os.WriteFile(half, data[:4096], 0o600)
	run(t, dir, curl, "-sS", "-T", half, base+"in/resumed.bin")
	run(t, dir, curl, "-sS", "-C", "-", "-T", src, base+"in/resumed.bin")
	if got, _ := e.stored("/alice/in/resumed.bin"); got != string(data) {
		t.Fatalf("resumed upload: %d bytes", len(got))
	}
	// ASCII mode converts line endings.
	text := filepath.Join(dir, "text.txt")
	os.WriteFile(text, []byte("one\ntwo\n"), 0o600)
	run(t, dir, curl, "-sS", "-B", "-T", text, base+"in/text.txt")
	if got, _ := e.stored("/alice/in/text.txt"); got != "one\ntwo\n" {
		t.Fatalf("ASCII upload stored %q", got)
	}
	if out := run(t, dir, curl, "-sS", "-B", base+"in/text.txt"); out != "one\ntwo\n" {
		t.Fatalf("ASCII download %q", out)
	}
	// Listing, and a quote command.
	if out := run(t, dir, curl, "-sS", "-l", base+"in/"); strings.Join(strings.Fields(out), ",") != "resumed.bin,text.txt,up.bin" {
		t.Fatalf("NLST = %q", out)
	}
	if out := run(t, dir, curl, "-sS", base+"in/"); !strings.Contains(out, " up.bin") {
		t.Fatalf("LIST = %q", out)
	}
	run(t, dir, curl, "-sS", "-Q", "-DELE in/text.txt", base)
	if _, err := e.stored("/alice/in/text.txt"); err == nil {
		t.Fatal("DELE via curl -Q did not delete")
	}
	// A wrong password fails with curl's login error.
	cmd := exec.CommandContext(t.Context(), curl, "-sS", "ftp://alice:wrong@"+e.addr+"/")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "530") {
		t.Fatalf("bad login: %v %s", err, out)
	}
}

func testLftpClient(t *testing.T, nb newBackend) {
	t.Parallel()
	lftp := needTool(t, "lftp")
	e := startServer(t, nb(t))
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "tree", "a.txt"), []byte("A"), 0o600)
	os.WriteFile(filepath.Join(dir, "tree", "sub", "b.bin"), randomData(t, 200000), 0o600)
	for _, passive := range []string{"on", "off"} {
		remote := "m-" + passive
		script := strings.Join([]string{
			"set ftp:ssl-allow no", "set net:max-retries 1", "set net:timeout 10", "set ftp:passive-mode " + passive,
			"mirror -R tree " + remote,
			"mirror " + remote + " back-" + passive,
			"mv " + remote + "/a.txt " + remote + "/renamed.txt",
			"cls -1 " + remote,
			"rm " + remote + "/renamed.txt",
			"bye",
		}, "; ")
		out := run(t, dir, lftp, "-u", "alice,alice-pw", "-e", script, "ftp://"+e.addr)
		if !strings.Contains(out, "renamed.txt") {
			t.Fatalf("passive %s: listing after mv lacks renamed.txt:\n%s", passive, out)
		}
		for _, f := range []string{"a.txt", "sub/b.bin"} {
			want, _ := os.ReadFile(filepath.Join(dir, "tree", f))
			got, _ := os.ReadFile(filepath.Join(dir, "back-"+passive, f))
			if !bytes.Equal(got, want) {
				t.Fatalf("passive %s: %s differs after mirroring both ways", passive, f)
			}
		}
		if _, err := e.stored("/alice/" + remote + "/renamed.txt"); err == nil {
			t.Fatalf("passive %s: rm did not remove", passive)
		}
	}
}

const ftplibScript = `
import ftplib, io, sys
host, port = sys.argv[1], int(sys.argv[2])
for passive in (True, False):
    f = ftplib.FTP()
    f.connect(host, port, timeout=10)
    f.login("alice", "alice-pw")
    f.set_pasv(passive)
    d = "py-%s" % passive
    f.mkd(d)
    f.cwd(d)
    payload = bytes(range(256)) * 4096
    f.storbinary("STOR bin", io.BytesIO(payload))
    got = io.BytesIO()
    f.retrbinary("RETR bin", got.write)
    assert got.getvalue() == payload, "binary round trip"
    f.storlines("STOR text", io.BytesIO(b"alpha\nbeta\n"))
    lines = []
    f.retrlines("RETR text", lines.append)
    assert lines == ["alpha", "beta"], lines
    assert sorted(f.nlst()) == ["bin", "text"], f.nlst()
    facts = dict(f.mlsd())
    assert facts["bin"]["type"] == "file" and facts["bin"]["size"] == str(len(payload)), facts
    f.rename("text", "text2")
    f.delete("text2")
    try:
        f.delete("nope")
        raise SystemExit("DELE of a missing file succeeded")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
    f.sendcmd("TYPE I")
    assert f.size("bin") == len(payload)
    f.quit()
print("ok")
`

func testPythonFtplib(t *testing.T, nb newBackend) {
	t.Parallel()
	py := needTool(t, "python3")
	e := startServer(t, nb(t))
	host, port, _ := strings.Cut(e.addr, ":")
	out := run(t, t.TempDir(), py, "-c", ftplibScript, host, port)
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("ftplib: %s", out)
	}
	var got []string
	for _, d := range []string{"py-True", "py-False"} {
		if s, err := e.stored("/alice/" + d + "/bin"); err == nil && len(s) == 256*4096 {
			got = append(got, d)
		}
	}
	sort.Strings(got)
	if len(got) != 2 {
		t.Fatalf("uploads present: %v", got)
	}
}
