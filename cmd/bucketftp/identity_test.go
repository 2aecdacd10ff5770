package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/auth/ldaptest"
)

// TestServeIdentitySources: the real server with a users file, a real
// slapd and an HTTP hook, in the default order, logged in to with a real
// FTP client: each source's users get their own homes and permissions,
// a wrong password and an unknown user get the same 530, and a source
// that stops answering gets 421, never a login.
func TestServeIdentitySources(t *testing.T) {
	t.Parallel()
	dir := ldaptest.Start(t)
	svc := dir.AddService(t, "ftp-reader", "svc-Secret-1")
	alice := dir.AddUser(t, "alice", "alice-Secret-2", map[string][]string{"employeeNumber": {"1000"}})
	rw := dir.AddGroup(t, "ftp-rw", alice)

	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req auth.HookRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch {
		case req.User != "hooked":
			_, _ = io.WriteString(w, `{"result":"unknown"}`)
		case req.Password != "hook-Secret-3" || req.Protocol != "ftp" || req.ClientAddress != "127.0.0.1":
			_, _ = io.WriteString(w, `{"result":"reject"}`)
		default:
			_, _ = io.WriteString(w, `{"result":"accept","settings":{"home":"/drops/hooked","permissions":["list","read"]}}`)
		}
	}))
	t.Cleanup(hook.Close)

	root := t.TempDir()
	users := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(users, []byte(usersFile(t, [2]string{"filer", "file-Secret-4"})), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	s := startServe(t, bin, []string{"BUCKETFTP_LDAP_BIND_PASSWORD=svc-Secret-1"},
		"--storage", "file://"+root, "--users", users,
		"--ldap-url", dir.URL, "--ldap-base-dn", "ou=people,"+ldaptest.Suffix, "--ldap-bind-dn", svc,
		"--ldap-home", "/partners/{user}", "--ldap-quota-attribute", "employeeNumber", "--ldap-group-permissions", rw+"=list,read,write,mkdir",
		"--auth-hook", hook.URL)

	upload := func(user, pass, name string) error {
		t.Helper()
		c, err := login(t, s.addr, user, pass)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		defer c.Quit()
		return c.Stor(name, strings.NewReader("hello"))
	}
	if err := upload("filer", "file-Secret-4", "f.txt"); err != nil {
		t.Fatal(err)
	}
	if err := upload("alice", "alice-Secret-2", "a.txt"); err != nil {
		t.Fatal(err)
	}
	if err := upload("hooked", "hook-Secret-3", "h.txt"); err == nil {
		t.Fatal("the hook's read-only user could upload")
	}
	for _, f := range []string{"filer/f.txt", "partners/alice/a.txt"} {
		if b, err := os.ReadFile(filepath.Join(root, f)); err != nil || string(b) != "hello" {
			t.Errorf("%s: %q, %v", f, b, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "drops/hooked")); err != nil || !fi.IsDir() {
		t.Errorf("hook user's home: %v", err)
	}

	replyTo := func(user, pass string) *textproto.Error {
		t.Helper()
		c, err := login(t, s.addr, user, pass)
		if err == nil {
			c.Quit()
			t.Fatalf("%s/%s logged in", user, pass)
		}
		var te *textproto.Error
		if !errors.As(err, &te) {
			t.Fatalf("%s: %v", user, err)
		}
		return te
	}
	wrong := replyTo("alice", "file-Secret-4")
	for _, tc := range [][2]string{{"nobody", "x"}, {"filer", "alice-Secret-2"}, {"hooked", "alice-Secret-2"}, {"*)(uid=*", "alice-Secret-2"}} {
		if got := replyTo(tc[0], tc[1]); got.Code != 530 || got.Msg != wrong.Msg {
			t.Errorf("%s: %d %s; want %d %s like a wrong password", tc[0], got.Code, got.Msg, wrong.Code, wrong.Msg)
		}
	}
	if wrong.Code != 530 {
		t.Fatalf("wrong password: %d %s", wrong.Code, wrong.Msg)
	}

	hook.Close()
	// The answer cached within --auth-hook-cache still logs in; anything
	// the hook must be asked about is refused.
	if c, err := login(t, s.addr, "hooked", "hook-Secret-3"); err != nil {
		t.Errorf("cached hook answer with the hook down: %v", err)
	} else {
		c.Quit()
	}
	if got := replyTo("hooked", "hook-Secret-5"); got.Code != 421 {
		t.Errorf("hook down: %d %s; want 421", got.Code, got.Msg)
	}
	dir.Stop()
	if got := replyTo("alice", "alice-Secret-2"); got.Code != 421 {
		t.Errorf("slapd stopped: %d %s; want 421", got.Code, got.Msg)
	}
	if c, err := login(t, s.addr, "filer", "file-Secret-4"); err != nil {
		t.Errorf("users file user with the directory down: %v", err)
	} else {
		c.Quit()
	}

	logs := s.stop(t)
	for _, secret := range []string{"Secret-1", "Secret-2", "Secret-3", "Secret-4", "Secret-5"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a password is in the log:\n%s", logs)
		}
	}
	if !bytes.Contains([]byte(logs), []byte(`msg="identity sources" order=file,ldap,hook`)) {
		t.Errorf("no identity sources line:\n%s", logs)
	}
}

// TestIdentityConfigValidate: the identity options' problems are reported
// with the others, before anything is opened.
func TestIdentityConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "hook and LDAP", args: []string{"--auth-hook", "https://auth.example.org/login", "--ldap-url", "ldaps://ldap.example.org",
			"--ldap-base-dn", "dc=example,dc=org", "--ldap-group-permissions", "cn=ftp,dc=example,dc=org=list,read", "--auth-order", "hook,file,ldap"}},
		{name: "hook URL", args: []string{"--auth-hook", "ftp://x"}, want: []string{"--auth-hook: want an http:// or https:// URL"}},
		{name: "LDAP without base", args: []string{"--ldap-url", "ldap://x"}, want: []string{"a base DN is needed"}},
		{name: "LDAP options without URL", args: []string{"--ldap-base-dn", "dc=x", "--ldap-start-tls", "--auth-hook-ca", "ca.pem"},
			want: []string{"--ldap-base-dn needs --ldap-url", "--ldap-start-tls needs --ldap-url", "--auth-hook-ca needs --auth-hook"}},
		{name: "group mapping", args: []string{"--ldap-url", "ldap://x", "--ldap-base-dn", "dc=x", "--ldap-group-permissions", "cn=a,dc=x=root"},
			want: []string{`unknown permission "root"`}},
		{name: "order", args: []string{"--ldap-url", "ldap://x", "--ldap-base-dn", "dc=x", "--auth-order", "file,hook,radius"},
			want: []string{`--auth-order "file,hook,radius": "radius" is not a source (file, ldap, hook)` + "\nldap is configured but not in the order"}},
		{name: "injectable filter", args: []string{"--ldap-url", "ldap://x", "--ldap-base-dn", "dc=x", "--ldap-user-filter", "(uid=alice)"},
			want: []string{"lacks {user}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tc.args, func(string) string { return "" }, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
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
		})
	}
}
