package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/auth"
)

// secretVolume is a directory the way the kubelet keeps a mounted Secret
// or ConfigMap:
//
//	dir/..2026_12_02_10_00_00.000000001/users.yaml
//	dir/..data -> ..2026_12_02_10_00_00.000000001
//	dir/users.yaml -> ..data/users.yaml
//
// and update changes it the way the kubelet does: a new timestamped
// directory, a ..data_tmp symlink to it renamed over ..data (atomic), the
// old directory removed.
type secretVolume struct {
	t   *testing.T
	dir string
	n   int
	cur string
}

func (v *secretVolume) file() string { return filepath.Join(v.dir, "users.yaml") }

func (v *secretVolume) update(content string) {
	v.t.Helper()
	v.n++
	ts := fmt.Sprintf("..2026_12_02_10_00_00.%09d", v.n)
	for _, err := range []error{
		os.Mkdir(filepath.Join(v.dir, ts), 0o755),
		os.WriteFile(filepath.Join(v.dir, ts, "users.yaml"), []byte(content), 0o644),
		os.Symlink(ts, filepath.Join(v.dir, "..data_tmp")),
		os.Rename(filepath.Join(v.dir, "..data_tmp"), filepath.Join(v.dir, "..data")),
	} {
		if err != nil {
			v.t.Fatal(err)
		}
	}
	var err error
	if v.cur == "" {
		err = os.Symlink(filepath.Join("..data", "users.yaml"), v.file())
	} else {
		err = os.RemoveAll(filepath.Join(v.dir, v.cur))
	}
	if err != nil {
		v.t.Fatal(err)
	}
	v.cur = ts
}

// usersFile is a users file with the given name/password pairs.
func usersFile(t *testing.T, users ...[2]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("users:\n")
	for _, u := range users {
		h, err := auth.HashPassword(u[1])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    password_hash: %q\n", u[0], h)
	}
	return b.String()
}

// waitLogCount waits (bounded) until re matches n lines of the log.
func (s *server) waitLogCount(t *testing.T, re *regexp.Regexp, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if len(re.FindAllString(s.logs.String(), -1)) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d log lines matching %s:\n%s", n, re, s.logs.String())
		}
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServeReloadsKubernetesSecret: a users file in a volume the kubelet
// updates by swapping its ..data symlink is reloaded without a signal; a
// broken version keeps the users, is logged once and counted in
// bucketftp_users_reloads_total{result="error"}; SIGHUP still reloads.
func TestServeReloadsKubernetesSecret(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	vol := &secretVolume{t: t, dir: t.TempDir()}
	ann, bob, carl := [2]string{"ann", "ann-pw"}, [2]string{"bob", "bob-pw"}, [2]string{"carl", "carl-pw"}
	vol.update(usersFile(t, ann))
	s := startServe(t, bin, nil, "--users", vol.file(), "--users-poll", "100ms", "--storage", "mem://",
		"--metrics-listen", "127.0.0.1:0", "--ban-after", "0")
	metricsAddr := s.waitLog(t, regexp.MustCompile(`msg="metrics listening" addr=(\S+)`))[1]
	canLogIn := func(u [2]string) bool {
		t.Helper()
		c, err := login(t, s.addr, u[0], u[1])
		if err == nil {
			c.Quit()
		}
		return err == nil
	}
	reloaded := regexp.MustCompile(`msg="users file reloaded" file=\S+ trigger=(change|sighup)`)
	failed := regexp.MustCompile(`level=ERROR msg="users file not reloaded; keeping the previous users" file=\S+ trigger=(change|sighup) err=`)

	if !canLogIn(ann) || canLogIn(bob) {
		t.Fatal("start-up users wrong")
	}
	session, err := login(t, s.addr, ann[0], ann[1])
	if err != nil {
		t.Fatal(err)
	}
	defer session.Quit()

	// A new version adding bob: picked up by polling, no signal.
	start := time.Now()
	vol.update(usersFile(t, ann, bob))
	s.waitLogCount(t, regexp.MustCompile(`msg="users file reloaded" file=\S+ trigger=change`), 1)
	if !canLogIn(bob) {
		t.Fatal("bob cannot log in after the swap was reloaded")
	}
	t.Logf("swap to login: %v", time.Since(start))
	if err := session.NoOp(); err != nil {
		t.Fatalf("session dropped by the reload: %v", err)
	}

	// A broken version: the users stay, one log line, one error counted,
	// however many polls see it.
	vol.update("users:\n  - name: carl\n    password_hash: nope\n")
	s.waitLogCount(t, failed, 1)
	time.Sleep(500 * time.Millisecond) // five polls
	if n := len(failed.FindAllString(s.logs.String(), -1)); n != 1 {
		t.Fatalf("broken version logged %d times, want once", n)
	}
	if !canLogIn(ann) || !canLogIn(bob) || canLogIn(carl) {
		t.Fatal("a broken version changed the users")
	}
	body := scrape(t, metricsAddr)
	for _, want := range []string{`bucketftp_users_reloads_total{result="ok"} 1`, `bucketftp_users_reloads_total{result="error"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// SIGHUP still reloads: the broken version again, then a fixed one.
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLogCount(t, regexp.MustCompile(`msg="users file not reloaded; keeping the previous users" file=\S+ trigger=sighup`), 1)
	vol.update(usersFile(t, carl))
	s.waitLogCount(t, reloaded, 2)
	if !canLogIn(carl) || canLogIn(ann) {
		t.Fatal("the fixed version was not loaded")
	}
	if body := scrape(t, metricsAddr); !strings.Contains(body, `bucketftp_users_reloads_total{result="ok"} 2`) ||
		!strings.Contains(body, `bucketftp_users_reloads_total{result="error"} 2`) {
		t.Errorf("reload counters after SIGHUP and a fix:\n%s", grepLines(body, "users_reloads"))
	}
	session.Quit()
	logs := s.stop(t)
	for _, secret := range []string{"ann-pw", "bob-pw", "carl-pw", "$argon2id$"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("%s reached the log", secret)
		}
	}
}

// TestServeUsersPollOff: --users-poll 0 leaves a changed file alone until
// SIGHUP.
func TestServeUsersPollOff(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	vol := &secretVolume{t: t, dir: t.TempDir()}
	vol.update(usersFile(t, [2]string{"ann", "ann-pw"}))
	s := startServe(t, bin, nil, "--users", vol.file(), "--users-poll", "0", "--storage", "mem://", "--ban-after", "0")
	vol.update(usersFile(t, [2]string{"bob", "bob-pw"}))
	time.Sleep(300 * time.Millisecond)
	if strings.Contains(s.logs.String(), "users file reloaded") {
		t.Fatal("reloaded with polling off")
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(t, regexp.MustCompile(`msg="users file reloaded" file=\S+ trigger=sighup`))
	c, err := login(t, s.addr, "bob", "bob-pw")
	if err != nil {
		t.Fatal(err)
	}
	c.Quit()
	s.stop(t)
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
