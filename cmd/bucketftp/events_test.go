package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	jftp "github.com/jlaffaye/ftp"

	"github.com/bucketftp/bucketftp/events"
)

// TestEventsOptions: the --events-* options are checked together.
func TestEventsOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "webhook on S3", args: []string{"--storage", "s3://b/p", "--events-webhook", "https://h.example/x", "--events-secret", "k", "--events-required"}},
		{name: "NATS on a directory", args: []string{"--storage", "file://" + dir + "/data", "--events-nats", "nats://n:4222", "--events-dir", dir + "/outbox"}},
		{name: "two sinks", args: []string{"--storage", "s3://b", "--events-webhook", "https://h.example/x", "--events-nats", "nats://n:4222"},
			want: []string{"--events-webhook and --events-nats: choose one"}},
		{name: "bad values", args: []string{"--storage", "s3://b", "--events-webhook", "ftp://h", "--events-max-age", "0s", "--events-timeout", "0s"},
			want: []string{"--events-webhook: want an http:// or https:// URL", "--events-max-age 0s: must be positive", "--events-timeout 0s: must be positive"}},
		{name: "secret alone", args: []string{"--events-secret", "k", "--events-login-failed"},
			want: []string{"--events-secret is for --events-webhook", "--events-required and --events-login-failed need"}},
		{name: "no outbox directory", args: []string{"--storage", "mem://", "--events-nats", "nats://n:4222", "--events-nats-subject", "a.>"},
			want: []string{"--events-dir: needed for events with mem storage", `--events-nats-subject "a.>"`}},
		{name: "outbox inside the storage", args: []string{"--storage", "file://" + dir, "--events-webhook", "http://h/", "--events-dir", dir + "/ev"},
			want: []string{"must be outside the storage directory"}},
	} {
		c, err := loadConfig(tc.args, func(string) string { return "" }, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Validate()
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error, want %q", tc.name, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nlacks %q", tc.name, err, w)
			}
		}
	}
}

// TestServeSendsEvents: bucketftp serve on a directory with
// --events-webhook sends a signed event for a failed login (with
// --events-login-failed, without the password), an upload and a deletion, and
// logs neither the secret nor the webhook's path.
func TestServeSendsEvents(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	var mu sync.Mutex
	var got []event.Event
	secret := "hook-secret-value"
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !events.Verify([]byte(secret), body, r.Header.Get(events.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ce event.Event
		if json.Unmarshal(body, &ce) == nil {
			mu.Lock()
			got = append(got, ce)
			mu.Unlock()
		}
	}))
	t.Cleanup(hook.Close)
	dir := t.TempDir()
	s := startServe(t, bin, []string{"BUCKETFTP_USER=u", "BUCKETFTP_PASSWORD=pw", "BUCKETFTP_EVENTS_SECRET=" + secret},
		"--storage", "file://"+filepath.Join(dir, "data"), "--events-dir", filepath.Join(dir, "outbox"), "--events-webhook", hook.URL+"/private/path", "--events-login-failed")
	c, err := jftp.Dial(s.addr, jftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "wrong-password"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if err := c.Login("u", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stor("a.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("a.txt"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events at the webhook, want 3; logs:\n%s", n, s.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	byType := map[string]event.Event{}
	for _, ce := range got {
		byType[ce.Type()] = ce
	}
	if up, del := byType["org.bucketftp.upload.completed"], byType["org.bucketftp.deleted"]; len(got) != 3 || up.Subject() != "a.txt" || del.Subject() != "a.txt" {
		t.Errorf("%d events %v; want upload.completed and deleted of a.txt, and login.failed", len(got), byType)
	}
	var d events.Data
	if err := byType["org.bucketftp.login.failed"].DataAs(&d); err != nil || d.User != "u" || d.ReplyCode != 530 || strings.Contains(byType["org.bucketftp.login.failed"].String(), "wrong-password") {
		t.Errorf("login.failed: %+v, %v; want user u, 530 and no password", d, err)
	}
	if logs := s.logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, "/private/path") || !strings.Contains(logs, "events on") {
		t.Errorf("logs show the secret or the webhook path, or not that events are on:\n%s", logs)
	}
}
