package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

func TestParseStorageRef(t *testing.T) {
	t.Parallel()
	a, err := parseStorageRef(StorageRef{Storage: "s3://partner/in?region=eu-west-1&endpoint=http://minio:9000&role_arn=arn:aws:iam::1:role/x&external_id=sekrit"})
	if err != nil {
		t.Fatal(err)
	}
	if a.s3.Bucket != "partner" || a.s3.Prefix != "in" || a.roleARN != "arn:aws:iam::1:role/x" || a.externalID != "sekrit" {
		t.Fatalf("parsed %+v", a)
	}
	if s := a.String(); strings.Contains(s, "sekrit") || strings.Contains(s, "role") {
		t.Fatalf("String shows the query: %q", s)
	}
	b, _ := parseStorageRef(StorageRef{Storage: "s3://partner/in/?external_id=sekrit&role_arn=arn:aws:iam::1:role/x&endpoint=http://minio:9000&region=eu-west-1"})
	if a.key != b.key {
		t.Fatalf("one storage, two keys:\n%q\n%q", a.key, b.key)
	}
	c, _ := parseStorageRef(StorageRef{Storage: a.ref.Storage, CredentialsFile: "/run/secrets/acme"})
	if c.key == a.key {
		t.Fatal("other credentials, same client")
	}
	for _, bad := range []struct {
		ref  StorageRef
		want string
	}{
		{StorageRef{Storage: "ftp://x"}, "want s3://"},
		{StorageRef{Storage: "s3://b?nosuchkey=1&external_id=sekrit"}, "nosuchkey"},
		{StorageRef{Storage: "s3://b?external_id=sekrit"}, "external_id needs role_arn"},
		{StorageRef{Storage: "s3://b", AccessKeyEnv: "A"}, "go together"},
		{StorageRef{Storage: "s3://b", AccessKeyEnv: "A", SecretKeyEnv: "B", CredentialsFile: "/f"}, "choose one"},
		{StorageRef{Storage: "file:///d", CredentialsFile: "/f"}, "credentials are for s3"},
	} {
		_, err := parseStorageRef(bad.ref)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.ref, err, bad.want)
		}
		if err != nil && strings.Contains(err.Error(), "sekrit") {
			t.Errorf("%+v: the error shows the query: %v", bad.ref, err)
		}
	}
}

func TestCredentialsNeverInErrors(t *testing.T) {
	t.Setenv("BFTP_TEST_KEY", "AKIDVISIBLE")
	t.Setenv("BFTP_TEST_SECRET", "")
	sp, err := parseStorageRef(StorageRef{Storage: "s3://b?endpoint=http://127.0.0.1:1", AccessKeyEnv: "BFTP_TEST_KEY", SecretKeyEnv: "BFTP_TEST_SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sp.credentials(t.Context())
	if err == nil || !strings.Contains(err.Error(), "BFTP_TEST_SECRET") || strings.Contains(err.Error(), "AKIDVISIBLE") {
		t.Fatalf("empty secret variable: %v", err)
	}
	t.Setenv("BFTP_TEST_SECRET", "VERYSECRET")
	p, err := sp.credentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Retrieve(t.Context())
	if err != nil || v.AccessKeyID != "AKIDVISIBLE" || v.SecretAccessKey != "VERYSECRET" {
		t.Fatalf("credentials from the environment: %v", err)
	}
	// A credentials file: its profile section, never the environment's keys.
	t.Setenv("AWS_ACCESS_KEY_ID", "FROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "FROMENV")
	f := filepath.Join(t.TempDir(), "acme")
	if err := os.WriteFile(f, []byte("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n[other]\naws_access_key_id = OTHERKEY\naws_secret_access_key = OTHERSECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, want string }{{"s3://b", "FILEKEY"}, {"s3://b?profile=other", "OTHERKEY"}} {
		sp, err := parseStorageRef(StorageRef{Storage: c.url, CredentialsFile: f})
		if err != nil {
			t.Fatal(err)
		}
		p, err := sp.credentials(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if v, err := p.Retrieve(t.Context()); err != nil || v.AccessKeyID != c.want {
			t.Fatalf("%s with credentials_file: %q %v, want %s", c.url, v.AccessKeyID, err, c.want)
		}
	}
}

func TestUsersFileStorageValidation(t *testing.T) {
	t.Parallel()
	h := cheap(t, "pw")
	for _, c := range []struct{ yaml, want string }{
		{"credentials_file: /f", "need storage"},
		{"storage: s3://b\n    access_key_env: A", "go together"},
		{"mounts: [{path: /, storage: file:///x}]", "below /"},
		{"mounts: [{path: /a/../b, storage: file:///x}]", "must not contain"},
		{"mounts: [{path: /a, storage: file:///x}, {path: /a/, storage: file:///y}]", "mounted twice"},
		{"mounts: [{path: /a}]", "needs storage, or home"},
		{"mounts: [{path: /a, home: /x, permissions: [fly]}]", "unknown permission"},
		{"mounts: [{path: /a, storage: 's3://b?region=x&external_id=sekrit'}]", "external_id needs role_arn"},
	} {
		_, err := ParseUsers([]byte("users:\n  - name: u\n    password_hash: " + h + "\n    " + c.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "sekrit") {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
	us, err := ParseUsers([]byte("users:\n  - name: u\n    password_hash: " + h + "\n    storage: file:///srv/acme\n    mounts:\n      - {path: /archive, storage: 's3://archive/acme?region=eu-west-1&role_arn=arn:aws:iam::1:role/r&external_id=x', permissions: [list, read]}\n      - {path: /shared, home: /common}\n"))
	if err != nil || len(us[0].Mounts) != 2 || us[0].Storage != "file:///srv/acme" {
		t.Fatalf("%+v %v", us, err)
	}
}

func storageUsers(t *testing.T, s *Store, users ...User) {
	t.Helper()
	for i := range users {
		users[i].PasswordHash = cheap(t, "pw")
	}
	if err := s.SetUsers(users); err != nil {
		t.Fatal(err)
	}
}

func putFile(t *testing.T, b storage.Backend, name, data string) error {
	t.Helper()
	_, err := b.Put(t.Context(), name, strings.NewReader(data), int64(len(data)))
	return err
}

func TestOwnStorageAndMounts(t *testing.T) {
	t.Parallel()
	server := memstore.New()
	own, archive := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(archive, "old.txt"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewStore(StoreConfig{Backend: server})
	t.Cleanup(s.Close)
	storageUsers(t, s,
		User{Name: "acme", StorageRef: StorageRef{Storage: "file://" + own}, QuotaBytes: 10,
			Mounts: []MountSpec{
				{Path: "/archive", StorageRef: StorageRef{Storage: "file://" + archive}, Permissions: []string{"list", "read"}},
				{Path: "/shared", Home: "/common"},
			}},
		User{Name: "other", Home: "/other"},
	)
	a := login(t, s, "acme")
	defer a.Close()
	if err := putFile(t, a.FS, "/in.txt", "hello"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(own, "in.txt")); err != nil || string(b) != "hello" {
		t.Fatalf("the home is not the user's own storage: %q %v", b, err)
	}
	if _, err := server.Stat(t.Context(), "/acme"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a home was made in the server's storage: %v", err)
	}
	// The quota counts the own storage: 5 bytes stored, 6 more are too many.
	if err := putFile(t, a.FS, "/more.txt", "123456"); !errors.Is(err, storage.ErrQuota) {
		t.Fatalf("quota in the own storage: %v", err)
	}
	rc, err := a.FS.Open(t.Context(), "/archive/old.txt", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "old" {
		t.Fatalf("archive read %q", b)
	}
	if err := putFile(t, a.FS, "/archive/new.txt", "x"); !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("write into a read-only mount: %v", err)
	}
	if err := a.FS.Rename(t.Context(), "/in.txt", "/shared/in.txt"); !errors.Is(err, storage.ErrCrossDevice) {
		t.Fatalf("rename across mounts: %v", err)
	}
	if err := server.Mkdir(t.Context(), "/common"); err != nil {
		t.Fatal(err)
	}
	if err := putFile(t, a.FS, "/shared/s.txt", "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Stat(t.Context(), "/common/s.txt"); err != nil {
		t.Fatalf("the /shared mount is not /common of the server's storage: %v", err)
	}
	var top []string
	for e, err := range a.FS.List(t.Context(), "/") {
		if err != nil {
			t.Fatal(err)
		}
		top = append(top, e.Name)
	}
	if strings.Join(top, " ") != "archive in.txt shared" {
		t.Fatalf("List / = %v", top)
	}
	if !a.Perms.Has(PermList | PermRead | PermWrite) {
		t.Fatalf("account permissions %v", a.Perms)
	}
	if _, ok := storage.As[storage.Appender](a.FS); !ok {
		t.Fatal("the tree hides Appender")
	}
}

// One client per storage, shared by the sessions using it, closed once
// unused for the idle time.
func TestStorageClientsShared(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := NewStore(StoreConfig{Backend: memstore.New()})
	s.st.idle = 50 * time.Millisecond
	opened, closed := 0, make(chan struct{}, 10)
	realOpen := s.st.open
	s.st.open = func(ctx context.Context, sp storageSpec, window time.Duration, log *slog.Logger) (storage.Backend, func(), error) {
		opened++
		b, c, err := realOpen(ctx, sp, window, log)
		return b, func() { c(); closed <- struct{}{} }, err
	}
	storageUsers(t, s,
		User{Name: "a", StorageRef: StorageRef{Storage: "file://" + dir}, Home: "/a"},
		User{Name: "b", StorageRef: StorageRef{Storage: "file://" + dir + "/"}, Home: "/b"},
	)
	x, y, z := login(t, s, "a"), login(t, s, "b"), login(t, s, "a")
	if opened != 1 || s.st.len() != 1 {
		t.Fatalf("%d clients opened for one storage", opened)
	}
	x.Close()
	y.Close()
	x.Close() // twice: once only
	s.st.mu.Lock()
	for _, c := range s.st.clients {
		if c.refs != 1 || c.timer != nil {
			t.Errorf("with one session left: %d refs, idle timer set %v", c.refs, c.timer != nil)
		}
	}
	s.st.mu.Unlock()
	z.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("an unused client was not closed")
	}
	if s.st.len() != 0 {
		t.Fatalf("%d clients kept", s.st.len())
	}
	w := login(t, s, "a")
	defer w.Close()
	if opened != 2 {
		t.Fatalf("opened %d times, want a new client after the idle close", opened)
	}
}

// Users' own storages take the server's resume window where their URL
// sets none: a file:// storage with the window off keeps no interrupted
// upload, an s3:// one gets the window unless its URL has resume_window.
func TestStorageResumeWindow(t *testing.T) {
	t.Parallel()
	interrupted := func(window time.Duration) bool {
		t.Helper()
		dir := t.TempDir()
		s := NewStore(StoreConfig{Backend: memstore.New(), ResumeWindow: window})
		t.Cleanup(s.Close)
		storageUsers(t, s, User{Name: "a", StorageRef: StorageRef{Storage: "file://" + dir}, Home: "/a"})
		a := login(t, s, "a")
		ctx := storage.WithUploader(t.Context(), storage.Uploader{User: "a"})
		_, err := a.FS.Put(ctx, "/f", io.MultiReader(strings.NewReader("kept"), brokenData{}), -1)
		if !errors.Is(err, storage.ErrInterrupted) {
			t.Fatalf("the interrupted upload: %v", err)
		}
		e, err := a.FS.Stat(ctx, "/f")
		return err == nil && e.Partial
	}
	if !interrupted(0) {
		t.Error("the default window kept nothing")
	}
	if interrupted(-1) {
		t.Error("with the window off, an interrupted upload was kept")
	}

	for url, want := range map[string]time.Duration{
		"s3://b/p":                     2 * time.Hour,
		"s3://b/p?resume_window=30m":   30 * time.Minute,
		"s3://b/p?resume_window=-1s":   -time.Second,
		"s3://b/p?endpoint=http://x:9": 2 * time.Hour,
	} {
		sp, err := parseStorageRef(StorageRef{Storage: url})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if got := sp.s3Config(2 * time.Hour).ResumeWindow; got != want {
			t.Errorf("%s with the server's 2h: window %v, want %v", url, got, want)
		}
	}
}
