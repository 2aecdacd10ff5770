package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// replicaConfig loads a config from args and env, with hostname as the
// host name (an error when it is "!").
func replicaConfig(t *testing.T, args []string, env map[string]string, hostname string) *config {
	t.Helper()
	c, err := loadConfig(args, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c.hostname = func() (string, error) {
		if hostname == "!" {
			return "", errors.New("uname failed")
		}
		return hostname, nil
	}
	return c
}

// TestReplicaSlice: each replica of a StatefulSet takes its own slice of the
// passive range and its own public host; a slice that does not fit, or an
// ordinal that is needed and cannot be found, is refused.
func TestReplicaSlice(t *testing.T) {
	t.Parallel()
	issue := []string{"--passive-ports", "30000-30299", "--passive-ports-per-replica", "100"}
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		hostname string
		// want, when no errors are wanted
		ordinal, lo, hi int
		host            string
		errs            []string // one substring per reported problem
	}{
		{name: "replica 0 from the host name", args: issue, hostname: "bucketftp-0", ordinal: 0, lo: 30000, hi: 30099},
		{name: "replica 1 from the host name", args: issue, hostname: "bucketftp-1", ordinal: 1, lo: 30100, hi: 30199},
		{name: "last replica ends at the range's end", args: issue, hostname: "bucketftp-2", ordinal: 2, lo: 30200, hi: 30299},
		{name: "host name as FQDN", args: issue, hostname: "ftp-eu-2.ftp-eu.partners.svc.cluster.local", ordinal: 2, lo: 30200, hi: 30299},
		{name: "flag beats host name", args: append([]string{"--replica-ordinal", "2"}, issue...), hostname: "bucketftp-0", ordinal: 2, lo: 30200, hi: 30299},
		{name: "explicit ordinal needs no host name", args: append([]string{"--replica-ordinal", "1"}, issue...), hostname: "!", ordinal: 1, lo: 30100, hi: 30199},
		{name: "from the environment", env: map[string]string{"BUCKETFTP_PASSIVE_PORTS": "40000-40009",
			"BUCKETFTP_PASSIVE_PORTS_PER_REPLICA": "5", "BUCKETFTP_REPLICA_ORDINAL": "1"}, hostname: "bucketftp-0", ordinal: 1, lo: 40005, hi: 40009},
		{name: "environment -1 means the host name", env: map[string]string{"BUCKETFTP_PASSIVE_PORTS": "40000-40009",
			"BUCKETFTP_PASSIVE_PORTS_PER_REPLICA": "5", "BUCKETFTP_REPLICA_ORDINAL": "-1"}, hostname: "bucketftp-1", ordinal: 1, lo: 40005, hi: 40009},
		{name: "one replica without slicing: whole range", args: []string{"--passive-ports", "30000-30009"}, hostname: "3f4e5a6b7c8d", ordinal: 0, lo: 30000, hi: 30009},
		{name: "no slicing, host name unknown", args: []string{"--passive-ports", "30000-30009"}, hostname: "!", ordinal: 0, lo: 30000, hi: 30009},
		{name: "no range", hostname: "bucketftp-4", ordinal: 4},
		{name: "per-replica public host", args: append([]string{"--public-host", "ftp-{ordinal}.example.com"}, issue...), hostname: "bucketftp-1",
			ordinal: 1, lo: 30100, hi: 30199, host: "ftp-1.example.com"},
		{name: "public host unchanged", args: append([]string{"--public-host", "ftp.example.com"}, issue...), hostname: "bucketftp-2",
			ordinal: 2, lo: 30200, hi: 30299, host: "ftp.example.com"},
		{name: "uneven range: the remainder is unused", args: []string{"--passive-ports", "30000-30250", "--passive-ports-per-replica", "100"},
			hostname: "bucketftp-1", ordinal: 1, lo: 30100, hi: 30199},

		{name: "slice beyond the range", args: issue, hostname: "bucketftp-3",
			errs: []string{"--passive-ports-per-replica 100: replica 3's slice 30300-30399 is outside --passive-ports 30000-30299, which has room for replicas 0-2"}},
		{name: "slice partly beyond the range", args: []string{"--passive-ports", "30000-30250", "--passive-ports-per-replica", "100"}, hostname: "bucketftp-2",
			errs: []string{"replica 2's slice 30200-30299 is outside --passive-ports 30000-30250, which has room for replicas 0-1"}},
		{name: "huge ordinal", args: issue, hostname: "bucketftp-99999999999999999",
			errs: []string{"replica 99999999999999999's slice is outside --passive-ports 30000-30299"}},
		{name: "slice larger than the range", args: []string{"--passive-ports", "30000-30009", "--passive-ports-per-replica", "20"}, hostname: "bucketftp-0",
			errs: []string{"--passive-ports-per-replica 20: more than all of --passive-ports 30000-30009"}},
		{name: "slices need a range", args: []string{"--passive-ports-per-replica", "10"}, hostname: "bucketftp-0",
			errs: []string{"--passive-ports-per-replica 10 needs --passive-ports"}},
		{name: "slices need an ordinal", args: issue, hostname: "ftp-host",
			errs: []string{`--replica-ordinal: needed by --passive-ports-per-replica or {ordinal} in --public-host, and the host name "ftp-host" does not end in -N`}},
		{name: "trailing dash is no ordinal", args: issue, hostname: "bucketftp-",
			errs: []string{`host name "bucketftp-" does not end in -N`}},
		{name: "host name unknown", args: issue, hostname: "!",
			errs: []string{"host name unknown: uname failed"}},
		{name: "per-replica public host needs an ordinal", args: []string{"--public-host", "ftp-{ordinal}.example.com"}, hostname: "ftp",
			errs: []string{`--replica-ordinal: needed by`, `--public-host "ftp-{ordinal}.example.com": {ordinal} is the only placeholder`}},
		{name: "unknown placeholder", args: []string{"--public-host", "ftp-{replica}.example.com"}, hostname: "bucketftp-0",
			errs: []string{`--public-host "ftp-{replica}.example.com": {ordinal} is the only placeholder`}},
		{name: "no ordinal and no room", args: []string{"--passive-ports-per-replica", "10"}, hostname: "ftp",
			errs: []string{"--replica-ordinal: needed by", "--passive-ports-per-replica 10 needs --passive-ports"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := replicaConfig(t, tc.args, tc.env, tc.hostname)
			r, err := replica(c)
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatalf("accepted: %+v", r)
				}
				for _, w := range tc.errs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("no %q in:\n%v", w, err)
					}
				}
				if got := strings.Split(err.Error(), "\n"); len(got) != len(tc.errs) {
					t.Errorf("%d problems reported, want %d:\n%v", len(got), len(tc.errs), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := replicaShare{ordinal: tc.ordinal, lo: tc.lo, hi: tc.hi, publicHost: tc.host}
			if r != want {
				t.Errorf("got %+v, want %+v", r, want)
			}
		})
	}
}

// TestReplicaOrdinalFlag: --replica-ordinal takes -1 and up.
func TestReplicaOrdinalFlag(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil || c.ReplicaOrdinal != -1 || c.PassivePortsPerReplica != 0 {
		t.Fatalf("defaults: ordinal %d, per replica %d, %v", c.ReplicaOrdinal, c.PassivePortsPerReplica, err)
	}
	for _, bad := range []string{"-2", "one"} {
		if _, err := loadConfig([]string{"--replica-ordinal", bad}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
			t.Errorf("--replica-ordinal %s accepted", bad)
		}
	}
	if _, err := loadConfig(nil, func(k string) string {
		return map[string]string{"BUCKETFTP_PASSIVE_PORTS_PER_REPLICA": "-5"}[k]
	}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "BUCKETFTP_PASSIVE_PORTS_PER_REPLICA") {
		t.Errorf("negative per-replica count: %v", err)
	}
}

// TestValidateJoinsReplicaProblems: slice problems come with every other
// problem in one error, each once.
func TestValidateJoinsReplicaProblems(t *testing.T) {
	t.Parallel()
	c := replicaConfig(t, []string{"--passive-ports", "30000-30299", "--passive-ports-per-replica", "100",
		"--public-host", "ftp-{ordinal}.example.com", "--log-level", "loud"}, nil, "bucketftp")
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{"--replica-ordinal: needed by", `--public-host "ftp-{ordinal}.example.com"`, `log level "loud"`}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("no %q in:\n%v", w, err)
		}
	}
	if got := strings.Split(err.Error(), "\n"); len(got) != len(want) {
		t.Errorf("%d problems reported, want %d:\n%v", len(got), len(want), err)
	}

	c = replicaConfig(t, []string{"--passive-ports", "30000-30299", "--passive-ports-per-replica", "100"}, nil, "bucketftp-7")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "replica 7's slice 30700-30799 is outside") {
		t.Errorf("replica 7 of 3: %v", err)
	}
	c = replicaConfig(t, []string{"--passive-ports", "30000-30299", "--passive-ports-per-replica", "100"}, nil, "bucketftp-2")
	if err := c.Validate(); err != nil {
		t.Errorf("replica 2 of 3 refused: %v", err)
	}
}

// TestFtpConfigServesTheSlice: the server gets the replica's slice and
// public host, and says so at start.
func TestFtpConfigServesTheSlice(t *testing.T) {
	t.Parallel()
	c := replicaConfig(t, []string{"--passive-ports", "30000-30299", "--passive-ports-per-replica", "100",
		"--public-host", "ftp-{ordinal}.example.com"}, nil, "bucketftp-1")
	var logs bytes.Buffer
	cfg, err := ftpConfig(c, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PassivePortMin != 30100 || cfg.PassivePortMax != 30199 || cfg.PublicHost != "ftp-1.example.com" {
		t.Errorf("server gets ports %d-%d and host %q, want 30100-30199 and ftp-1.example.com", cfg.PassivePortMin, cfg.PassivePortMax, cfg.PublicHost)
	}
	var line struct {
		Msg             string
		Lo, Hi, Ordinal int
		PublicHost      string `json:"public_host"`
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, logs.String())
	}
	if line.Msg != "passive ports" || line.Lo != 30100 || line.Hi != 30199 || line.Ordinal != 1 || line.PublicHost != "ftp-1.example.com" {
		t.Errorf("start log: %s", logs.String())
	}
}

// TestServeHandsOutOnlyItsSlice: a replica started with an ordinal answers
// every PASV and EPSV with a port of its own slice and PASV with its own
// address.
func TestServeHandsOutOnlyItsSlice(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	// 127.0.0.{ordinal} is 127.0.0.1 for replica 1: a per-replica address
	// the test can check.
	s := startServe(t, bin, []string{"BUCKETFTP_USER=me", "BUCKETFTP_PASSWORD=pw"}, "--storage", "mem://",
		"--passive-ports", "42100-42129", "--passive-ports-per-replica", "10", "--replica-ordinal", "1",
		"--public-host", "127.0.0.{ordinal}", "--max-passive-per-ip", "64")
	s.waitLog(t, regexp.MustCompile(`msg="passive ports" lo=42110 hi=42119 ordinal=1 public_host=127.0.0.1`))
	c, err := textproto.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cmd := func(code int, format string, args ...any) string {
		t.Helper()
		id, err := c.Cmd(format, args...)
		if err != nil {
			t.Fatal(err)
		}
		c.StartResponse(id)
		defer c.EndResponse(id)
		_, msg, err := c.ReadResponse(code)
		if err != nil {
			t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
		}
		return msg
	}
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	cmd(331, "USER me")
	cmd(230, "PASS pw")
	pasv := regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)
	epsv := regexp.MustCompile(`\(\|\|\|(\d+)\|\)`)
	seen := map[int]bool{}
	for i := range 60 {
		var port int
		if i%2 == 0 {
			m := pasv.FindStringSubmatch(cmd(227, "PASV"))
			if m == nil {
				t.Fatal("PASV reply without an address")
			}
			if host := strings.Join(m[1:5], "."); host != "127.0.0.1" {
				t.Errorf("PASV names %s, want 127.0.0.1", host)
			}
			p1, _ := strconv.Atoi(m[5])
			p2, _ := strconv.Atoi(m[6])
			port = p1*256 + p2
		} else {
			m := epsv.FindStringSubmatch(cmd(229, "EPSV"))
			if m == nil {
				t.Fatal("EPSV reply without a port")
			}
			port, _ = strconv.Atoi(m[1])
		}
		if port < 42110 || port > 42119 {
			t.Fatalf("replica 1 handed out port %d, outside its slice 42110-42119", port)
		}
		seen[port] = true
	}
	if len(seen) < 2 {
		t.Errorf("60 PASV/EPSV used only ports %v", seen)
	}
	cmd(221, "QUIT")
	s.stop(t)
}

// TestLoginFailDelayZero: --login-fail-delay 0 turns the delay off; the
// server takes a Config's 0 for its default (1s), so the flag's 0 reaches
// it as a negative delay, which it accepts.
func TestLoginFailDelayZero(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want func(time.Duration) bool
	}{
		{nil, func(d time.Duration) bool { return d == time.Second }},
		{[]string{"--login-fail-delay", "0"}, func(d time.Duration) bool { return d < 0 }},
		{[]string{"--login-fail-delay", "250ms"}, func(d time.Duration) bool { return d == 250*time.Millisecond }},
	} {
		c := replicaConfig(t, tc.args, nil, "")
		cfg, err := ftpConfig(c, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if !tc.want(cfg.LoginFailDelay) {
			t.Errorf("%v: the server gets a login failure delay of %v", tc.args, cfg.LoginFailDelay)
		}
		cfg.Auth, cfg.Storage = auth.NewStore(auth.StoreConfig{Backend: memstore.New()}), memstore.New()
		if err := cfg.Validate(); err != nil {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
}
