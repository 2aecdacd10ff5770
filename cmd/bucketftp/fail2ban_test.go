package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// TestFail2banFilterMatchesBans runs the real binary in both log formats,
// gets an address banned, and checks with fail2ban's own fail2ban-regex that
// the shipped filter finds exactly that address in the log, once per ban,
// and nothing in the other lines.
func TestFail2banFilterMatchesBans(t *testing.T) {
	t.Parallel()
	f2b, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("fail2ban-regex not installed (Debian package fail2ban)")
		}
		t.Skip("fail2ban-regex not installed (Debian package fail2ban)")
	}
	filter, err := filepath.Abs("../../deploy/fail2ban/filter.d/bucketftp.conf")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, bin, []string{"BUCKETFTP_USER=me", "BUCKETFTP_PASSWORD=right"}, "--storage", "mem://",
				"--log-format", format, "--ban-after", "2", "--max-login-failures", "5", "--metrics-listen", "127.0.0.1:0")
			metricsAddr := s.waitLog(t, regexp.MustCompile(`(?:msg="metrics listening" addr=|"msg":"metrics listening","addr":")([^\s"]+)`))[1]
			for range 2 {
				if c, err := login(t, s.addr, "me", "wrong"); err == nil {
					c.Quit()
					t.Fatal("wrong password accepted")
				}
			}
			if format == "text" {
				s.waitLog(t, regexp.MustCompile(`msg="address banned" client=127\.0\.0\.1 `))
			} else {
				s.waitLog(t, regexp.MustCompile(`"msg":"address banned","client":"127\.0\.0\.1"`))
			}
			// The banned address is refused at connect, right password or not.
			if c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(10*time.Second)); err == nil {
				c.Quit()
				t.Fatal("banned address greeted")
			} else if !strings.Contains(err.Error(), "421") {
				t.Fatalf("banned address: %v, want 421", err)
			}
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{"bucketftp_bans_active 1\n", `bucketftp_connections_refused_total{reason="banned"} 1` + "\n"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("metrics lack %q", want)
				}
			}
			logs := s.stop(t)
			file := filepath.Join(t.TempDir(), "bucketftp.log")
			if err := os.WriteFile(file, []byte(logs), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(f2b, "-o", "ip", file, filter).CombinedOutput()
			if err != nil {
				t.Fatalf("fail2ban-regex: %v\n%s", err, out)
			}
			ips := strings.Fields(string(out))
			if !slices.Equal(ips, []string{"127.0.0.1"}) {
				t.Fatalf("fail2ban-regex matched %q in:\n%s", ips, logs)
			}
		})
	}
}
