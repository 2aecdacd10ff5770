package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/bucketftp/bucketftp/auth"
)

// TestConfigValidate: every problem of a config is reported, each once, in
// one error.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		mod  func(*config) // for what flags cannot say
		want []string      // one substring per reported problem; none: valid
	}{
		{name: "defaults"},
		{name: "TLS with certificate and key", args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem",
			"--implicit-tls-listen", "127.0.0.1:990", "--tls-required", "--tls-data-required", "--tls-session-reuse", "require"}},
		{name: "every option wrong", args: []string{"--listen", "nope", "--passive-ports", "9-1", "--storage", "ftp://host",
			"--log-level", "loud", "--log-format", "xml", "--implicit-tls-listen", "127.0.0.1:0", "--tls-required",
			"--tls-data-required", "--tls-session-reuse", "sometimes", "--ban-exempt", "10.0.0.1, 10.0.0.0/33",
			"--metrics-listen", "localhost", "--max-line-length", "100"},
			want: []string{
				`--listen "nope": address nope: missing port in address`,
				`passive ports "9-1": want LO-HI`,
				`storage "ftp://host": unknown scheme "ftp"`,
				`log level "loud"`,
				`--ban-exempt: "10.0.0.0/33" is not a CIDR or address`,
				`--metrics-listen "localhost"`,
				`--tls-session-reuse: want off, allow or require`,
				`--implicit-tls-listen needs --tls-cert and --tls-key`,
				`--tls-required needs --tls-cert and --tls-key`,
				`--tls-data-required needs --tls-cert and --tls-key`,
				`--max-line-length 100: must be at least 512`,
			}},
		{name: "PROXY protocol", args: []string{"--proxy-protocol", "optional", "--proxy-protocol-data", "always"},
			want: []string{`--proxy-protocol-data: "always" is not off, optional or required`, "--proxy-protocol needs --proxy-trusted"}},
		{name: "PROXY protocol trusted", args: []string{"--proxy-protocol", "required", "--proxy-trusted", "10.0.0.0/8, 192.0.2.1", "--public-host", "from-proxy"}},
		{name: "log format", args: []string{"--log-format", "xml"}, want: []string{`log format "xml": want text or json`}},
		{name: "certificate without key", args: []string{"--tls-cert", "c.pem", "--implicit-tls-listen", "127.0.0.1:990"},
			want: []string{"--tls-cert and --tls-key go together", "--implicit-tls-listen needs --tls-cert and --tls-key"}},
		{name: "ports out of range", args: []string{"--listen", "127.0.0.1:70000", "--implicit-tls-listen", ":x-no-such-service",
			"--tls-cert", "c.pem", "--tls-key", "k.pem"},
			want: []string{`--listen "127.0.0.1:70000": address 70000: invalid port`, `--implicit-tls-listen ":x-no-such-service"`}},
		{name: "empty listen", args: []string{"--listen", ""}, want: []string{`--listen ""`}},
		{name: "file without directory", args: []string{"--storage", "file://"}, want: []string{`storage "file://": no directory`}},
		{name: "storage without scheme", args: []string{"--storage", "/srv/ftp?secret=1"}, want: []string{`storage "/srv/ftp": want file:///path`}},
		{name: "s3 keys", args: []string{"--storage", "s3://bucket/p?part_size=big&colour=red&timeout=5s"},
			want: []string{`storage URL key "part_size"`, `storage URL key "colour": unknown key`}},
		{name: "negative values", mod: func(c *config) {
			c.IdleTimeout, c.ShutdownGrace, c.BanWindow, c.MaxConnections = -time.Second, -time.Minute, -1, -1
		}, want: []string{"--idle-timeout -1s: must not be negative", "--shutdown-grace -1m0s: must not be negative",
			"--ban-window -1ns: must not be negative", "--max-connections -1: must not be negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tc.args, func(string) string { return "" }, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.mod != nil {
				tc.mod(c)
			}
			err = c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("no %q in:\n%v", w, err)
				}
			}
			if got := strings.Split(err.Error(), "\n"); len(got) != len(tc.want) {
				t.Errorf("%d problems reported, want %d:\n%v", len(got), len(tc.want), err)
			}
		})
	}
}

// TestServeRefusesBadConfigBeforeListening: a config with problems makes
// serve exit non-zero, reporting all of them, without ever opening the
// plain listener.
func TestServeRefusesBadConfigBeforeListening(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "implicit FTPS without certificate", args: []string{"--implicit-tls-listen", "127.0.0.1:0"},
			want: []string{"--implicit-tls-listen needs --tls-cert and --tls-key"}},
		{name: "several problems", args: []string{"--implicit-tls-listen", "127.0.0.1:0", "--tls-data-required",
			"--log-level", "loud", "--storage", "s3://b?colour=red"},
			want: []string{"--implicit-tls-listen needs", "--tls-data-required needs", `log level "loud"`, `storage URL key "colour"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, logs := serveExpectingExit(t, bin, []string{"BUCKETFTP_USER=me", "BUCKETFTP_PASSWORD=pw"},
				append([]string{"--storage", "mem://"}, tc.args...)...)
			if code == 0 {
				t.Fatalf("exit 0 with a bad config:\n%s", logs)
			}
			if strings.Contains(logs, "listening") {
				t.Fatalf("a listener opened before the config was refused:\n%s", logs)
			}
			for _, w := range tc.want {
				if !strings.Contains(logs, w) {
					t.Errorf("no %q in:\n%s", w, logs)
				}
			}
		})
	}
}

// serveExpectingExit runs bucketftp serve as startServe does, and waits
// (bounded) for it to exit by itself; it returns the exit code and stderr.
func serveExpectingExit(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--login-fail-delay", "1ms"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("serve did not exit:\n%s", stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestServeRequiresTLSPerUser: require_tls in the users file refuses that
// user's login in clear (the users store is the server's ftp.TLSPolicy)
// and lets the others log in as before.
func TestServeRequiresTLSPerUser(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dir := t.TempDir()
	cert, key, users := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "users.yaml")
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"gen-cert", "--cert", cert, "--key", key}, nil, &out, &errOut, os.Getenv); code != 0 {
		t.Fatalf("gen-cert: %s", errOut.String())
	}
	var file strings.Builder
	file.WriteString("users:\n")
	for _, u := range []struct{ name, tls string }{{"ann", "true"}, {"bob", "false"}} {
		h, err := auth.HashPassword(u.name + "-pw")
		if err != nil {
			t.Fatal(err)
		}
		file.WriteString("  - name: " + u.name + "\n    password_hash: \"" + h + "\"\n    require_tls: " + u.tls + "\n")
	}
	if err := os.WriteFile(users, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, bin, nil, "--users", users, "--storage", "mem://", "--tls-cert", cert, "--tls-key", key)

	// In clear, ann's USER gets 530 before any password is sent.
	tc, err := textproto.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tc.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	id, err := tc.Cmd("USER ann")
	if err != nil {
		t.Fatal(err)
	}
	tc.StartResponse(id)
	code, msg, err := tc.ReadResponse(530)
	tc.EndResponse(id)
	if err != nil || !strings.Contains(msg, "TLS required") {
		t.Fatalf("USER ann in clear: %d %s (%v), want 530 TLS required", code, msg, err)
	}
	tc.Close()
	c, err := login(t, s.addr, "bob", "bob-pw")
	if err != nil {
		t.Fatalf("bob (no require_tls) in clear: %v", err)
	}
	c.Quit()
	c, err = jftp.Dial(s.addr, jftp.DialWithTimeout(10*time.Second),
		jftp.DialWithExplicitTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("ann", "ann-pw"); err != nil {
		t.Fatalf("ann over TLS: %v", err)
	}
	c.Quit()
	s.stop(t)
}
