package ftptest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/ftp"
)

func testTransferLog(t *testing.T, nb newBackend) {
	t.Parallel()
	xfer := &syncBuffer{}
	e := startServer(t, nb(t), func(c *ftp.Config) { c.TransferLog = xfer })
	c := e.login("alice")
	c.must("TYPE I", 200)
	if code, _ := c.stor("STOR", "my file.bin", "12345"); code != 226 {
		t.Fatal(code)
	}
	c.must("TYPE A", 200)
	if got := c.retr("my file.bin"); got != "12345" {
		t.Fatal(got)
	}
	c.list("LIST")
	lines := strings.Split(strings.TrimSpace(xfer.String()), "\n")
	want := []string{
		`^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \d+ 127\.0\.0\.1 5 /my_file\.bin b _ i r alice ftp 0 \* c$`,
		`^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \d+ 127\.0\.0\.1 5 /my_file\.bin a _ o r alice ftp 0 \* c$`,
	}
	if len(lines) != len(want) {
		t.Fatalf("xferlog has %d lines, want %d (listings are left out):\n%s", len(lines), len(want), xfer.String())
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("xferlog line %d = %q", i, lines[i])
		}
	}
	// Each log line names the user once (a repeated key is two JSON keys).
	transfers := 0
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, "msg=transfer") {
			transfers++
			if n := strings.Count(l, " user="); n != 1 {
				t.Errorf("transfer log line names the user %d times: %s", n, l)
			}
		}
	}
	if transfers < 2 {
		t.Errorf("%d transfer log lines, want one per transfer:\n%s", transfers, e.logs.String())
	}
}

func testTranscriptMasksPasswords(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	c.must("NOOP", 200)
	// Malformed lines that still carry a password: answered 500, masked
	// too.
	for _, line := range []string{" PASS alice-pw", "PASS\talice-pw", "\tpass alice-pw"} {
		c.must(line, 500)
	}
	c.must("PASSWORDS", 500) // another word: logged as sent
	logs := e.logs.String()
	if !strings.Contains(logs, `line="PASS ****"`) || !strings.Contains(logs, `line=NOOP`) || !strings.Contains(logs, `line=PASSWORDS`) {
		t.Fatalf("the debug transcript lacks the masked PASS or the commands:\n%s", logs)
	}
	if strings.Contains(logs, "alice-pw") {
		t.Fatalf("a password reached the log:\n%s", logs)
	}
}

// testRepeatedLogins: a client logging in again and again on one
// connection (USER, PASS, USER, PASS...; two users in turn) gets log lines that name the
// user once, not once per earlier login: the log grew with the square of
// the logins, a way to fill the disk.
func testRepeatedLogins(t *testing.T, nb newBackend) {
	t.Parallel()
	e := startServer(t, nb(t))
	c := e.login("alice")
	for range 20 {
		c.must("USER ro", 331)
		c.must("PASS ro-pw", 230)
		c.must("USER alice", 331)
		c.must("PASS alice-pw", 230)
	}
	c.must("REIN", 220)
	c.must("NOOP", 200)
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if n := strings.Count(l, " user="); n > 1 {
			t.Fatalf("a log line names the user %d times: %.300s", n, l)
		}
		if strings.Contains(l, "line=NOOP") && strings.Contains(l, " user=") {
			t.Errorf("after REIN, the log still names a user: %s", l)
		}
	}
}
