package ftptest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clientDeadline bounds one run of a real client.
const clientDeadline = time.Minute

// needFile is needTool for a client that is a file rather than a command
// (a Java library): a skip, except in CI, where .ci/run installs it.
func needFile(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (.ci/run installs it)", path)
		}
		t.Skipf("%s is missing", path)
	}
	return path
}

// runInput runs a client in dir with stdin as its input, bounded by
// clientDeadline, and returns its combined output; a non-zero exit fails.
func runInput(t *testing.T, dir, stdin, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), clientDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// localNames lists the regular files in dir, sorted.
func localNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range ents {
		if en.Type().IsRegular() {
			names = append(names, en.Name())
		}
	}
	slices.Sort(names)
	return names
}

// globFixture is what the wildcard cases find in alice's home: two .csv
// files in binary (bytes that ASCII mode would change), two .tmp files and
// two that match neither pattern.
type globFixture struct {
	csv, tmp, other map[string]string
}

func putGlobFixture(t *testing.T, e *env) globFixture {
	t.Helper()
	fx := globFixture{
		csv: map[string]string{
			"a.csv": "id,v\r\n1,\x00\xff\n2,\r\r\n" + string(randomData(t, 70000)),
			"b.csv": "id,v\n3,x\n",
		},
		tmp:   map[string]string{"x.tmp": "scratch x", "y.tmp": "scratch y"},
		other: map[string]string{"notes.txt": "not a csv", "csv.bak": "old"},
	}
	for _, m := range []map[string]string{fx.csv, fx.tmp, fx.other} {
		for name, data := range m {
			e.put("/alice/"+name, data)
		}
	}
	return fx
}

// checkBSDFtp runs one of the classic command-line clients descended from
// 4.2BSD ftp (inetutils-ftp, tnftp) with a script on stdin, as cron jobs
// and shell scripts drive them: mget and mdelete over a server-side
// pattern (NLST), mput over a local one. mode is the client's command
// that turns passive mode on, or "" when it is on already.
func checkBSDFtp(t *testing.T, e *env, client, mode string) {
	t.Helper()
	fx := putGlobFixture(t, e)
	if err := e.backend.Mkdir(t.Context(), "/alice/old"); err != nil {
		t.Fatal(err)
	}
	e.put("/alice/old/2025.csv", "id\n")
	dir := t.TempDir()
	up := map[string]string{"up1.dat": "upload one\r\n", "up2.dat": string(randomData(t, 50000))}
	for name, data := range up {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := strings.Cut(e.addr, ":")
	script := strings.Join(slices.DeleteFunc([]string{
		"open " + host + " " + port,
		"user alice alice-pw",
		"binary",
		mode,
		"prompt", // off: mget, mdelete and mput would read yes/no from the script
		"lcd " + dir,
		"mget *.csv",
		"mdelete *.tmp",
		"mput up*.dat",
		"ls -R", // LIST -R
		"bye",
	}, func(s string) bool { return s == "" }), "\n") + "\n"
	out := runInput(t, dir, script, client, "-n", "-v")
	t.Logf("%s transcript:\n%s", filepath.Base(client), out)

	if mode != "" && !strings.Contains(out, "Passive mode on") {
		t.Errorf("%q did not turn passive mode on", mode)
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 3 && (line[0] == '4' || line[0] == '5') && line[3] == ' ' {
			t.Errorf("error reply in the transcript: %q", line)
		}
	}
	if !regexp.MustCompile(`(?m)^old:\r?\n-\S+ .* 2025\.csv\r?$`).MatchString(out) {
		t.Errorf("ls -R did not list the subdirectory old")
	}
	want := []string{"a.csv", "b.csv", "up1.dat", "up2.dat"}
	if got := localNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("local files after mget *.csv: %q, want %q", got, want)
	}
	for name, data := range fx.csv {
		if got, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(got, []byte(data)) {
			t.Errorf("mget %s: %d bytes differ from the %d stored", name, len(got), len(data))
		}
	}
	for name := range fx.tmp {
		if _, err := e.backend.Stat(t.Context(), "/alice/"+name); err == nil {
			t.Errorf("mdelete *.tmp left %s", name)
		}
	}
	for _, m := range []map[string]string{fx.csv, fx.other, up} {
		for name, data := range m {
			if got, err := e.stored("/alice/" + name); err != nil || got != data {
				t.Errorf("%s after the script: %d bytes, %v; want the %d bytes it had", name, len(got), err, len(data))
			}
		}
	}
}

// testInetutilsFtp: GNU inetutils' ftp (PASV, not EPSV, on IPv4).
func testInetutilsFtp(t *testing.T, nb newBackend) {
	t.Parallel()
	client := needTool(t, "inetutils-ftp")
	checkBSDFtp(t, startServer(t, nb(t)), client, "passive")
}

// testTnftp: NetBSD's ftp (EPSV, passive by default; MDTM after a get).
func testTnftp(t *testing.T, nb newBackend) {
	t.Parallel()
	client := needTool(t, "tnftp")
	checkBSDFtp(t, startServer(t, nb(t)), client, "")
}

const perlNetFTPScript = `
use strict;
use Net::FTP;
my ($host, $port) = @ARGV;
my $f = Net::FTP->new($host, Port => $port, Timeout => 10, Passive => 1)
    or die "connect: $@\n";
$f->login("alice", "alice-pw") or die "login: ", $f->message;
$f->binary or die "binary: ", $f->message;
my @ls = $f->ls("*.csv");
die "ls: ", $f->code, " ", $f->message unless @ls;
print "ls $_\n" for @ls;
my @dir = $f->dir("*.csv");
die "dir: ", $f->code, " ", $f->message unless @dir;
print "dir $_\n" for @dir;
my @none = $f->ls("*.xyz");
print "none ", scalar(@none), " ", $f->code, "\n";
$f->quit;
print "ok\n";
`

// testPerlNetFTP: Perl's core Net::FTP, ls (NLST) and dir (LIST) with a
// pattern, and a pattern that matches nothing.
func testPerlNetFTP(t *testing.T, nb newBackend) {
	t.Parallel()
	perl := needTool(t, "perl")
	e := startServer(t, nb(t))
	putGlobFixture(t, e)
	host, port, _ := strings.Cut(e.addr, ":")
	out := runInput(t, t.TempDir(), "", perl, "-e", perlNetFTPScript, host, port)
	var ls, dir []string
	var none string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "ls":
			ls = append(ls, rest)
		case "dir":
			f := strings.Fields(rest)
			dir = append(dir, f[len(f)-1])
			if len(f) < 9 || !strings.HasPrefix(f[0], "-") {
				t.Errorf("dir line is not ls -l style: %q", rest)
			}
		case "none":
			none = rest
		}
	}
	slices.Sort(ls)
	slices.Sort(dir)
	want := []string{"a.csv", "b.csv"}
	if !slices.Equal(ls, want) || !slices.Equal(dir, want) || none != "0 450" || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("Net::FTP: ls %q, dir %q, ls *.xyz %q; want %q, %q, \"0 450\":\n%s", ls, dir, none, want, want, out)
	}
}

const commonsNetProgram = `
import java.util.Arrays;
import org.apache.commons.net.ftp.FTP;
import org.apache.commons.net.ftp.FTPClient;
import org.apache.commons.net.ftp.FTPFile;
import org.apache.commons.net.ftp.FTPReply;

public class CommonsNetCheck {
    public static void main(String[] args) throws Exception {
        FTPClient f = new FTPClient();
        f.setConnectTimeout(10000);
        f.setDefaultTimeout(10000);
        f.setDataTimeout(java.time.Duration.ofSeconds(10));
        f.connect(args[0], Integer.parseInt(args[1]));
        f.setSoTimeout(10000);
        if (!FTPReply.isPositiveCompletion(f.getReplyCode())) throw new Exception("greeting: " + f.getReplyString());
        if (!f.login("alice", "alice-pw")) throw new Exception("login: " + f.getReplyString());
        f.enterLocalPassiveMode();
        if (!f.setFileType(FTP.BINARY_FILE_TYPE)) throw new Exception("TYPE: " + f.getReplyString());
        FTPFile[] files = f.listFiles("*.csv");
        if (!FTPReply.isPositiveCompletion(f.getReplyCode())) throw new Exception("LIST: " + f.getReplyString());
        for (FTPFile file : files) {
            System.out.println("file " + file.getName() + " " + file.getSize() + " " + file.isFile());
        }
        String[] names = f.listNames("*.csv");
        if (names == null) throw new Exception("NLST: " + f.getReplyString());
        for (String n : names) System.out.println("name " + n);
        String[] none = f.listNames("*.xyz");
        System.out.println("none " + (none == null ? "null" : Arrays.toString(none)) + " " + f.getReplyCode());
        f.logout();
        f.disconnect();
        System.out.println("ok");
    }
}
`

// testCommonsNet: Apache Commons Net's FTPClient (the Java library most
// Java programs use), listFiles (LIST, parsed after SYST) and listNames
// (NLST) with a pattern, and a pattern that matches nothing.
func testCommonsNet(t *testing.T, nb newBackend) {
	t.Parallel()
	javac := needTool(t, "javac")
	java := needTool(t, "java")
	jar := needFile(t, "/usr/share/java/commons-net.jar")
	e := startServer(t, nb(t))
	fx := putGlobFixture(t, e)
	dir := t.TempDir()
	src := filepath.Join(dir, "CommonsNetCheck.java")
	if err := os.WriteFile(src, []byte(commonsNetProgram), 0o600); err != nil {
		t.Fatal(err)
	}
	runInput(t, dir, "", javac, "-cp", jar, "-d", dir, src)
	host, port, _ := strings.Cut(e.addr, ":")
	out := runInput(t, dir, "", java, "-cp", jar+string(os.PathListSeparator)+dir, "CommonsNetCheck", host, port)
	var files, names []string
	var none string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "file":
			files = append(files, rest)
		case "name":
			names = append(names, rest)
		case "none":
			none = rest
		}
	}
	slices.Sort(files)
	slices.Sort(names)
	wantFiles := []string{
		"a.csv " + strconv.Itoa(len(fx.csv["a.csv"])) + " true",
		"b.csv " + strconv.Itoa(len(fx.csv["b.csv"])) + " true",
	}
	wantNames := []string{"a.csv", "b.csv"}
	if !slices.Equal(files, wantFiles) || !slices.Equal(names, wantNames) || none != "null 450" || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("Commons Net: listFiles %q, listNames %q, listNames *.xyz %q; want %q, %q, \"null 450\":\n%s",
			files, names, none, wantFiles, wantNames, out)
	}
}
