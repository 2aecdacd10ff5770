package integration

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"
	miniogo "github.com/minio/minio-go/v7"
	"github.com/testcontainers/testcontainers-go"
	tcminio "github.com/testcontainers/testcontainers-go/modules/minio"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/crypto/bcrypt"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/events"
	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

// TestPerUserStorage: users whose homes are buckets of their own, on two
// MinIO servers with different keys, so neither key can reach the other's
// bucket; one user's key comes from a credentials file (a mounted
// Secret), the other's from the environment and through STS AssumeRole;
// one user has a read-only mount of the other server's bucket.
func TestPerUserStorage(t *testing.T) {
	ctx := t.Context()
	const otherUser, otherPass = "other-minio-user", "other-minio-secret"
	c, err := tcminio.Run(ctx, minioImage, tcminio.WithUsername(otherUser), tcminio.WithPassword(otherPass),
		testcontainers.WithWaitStrategyAndDeadline(3*time.Minute, wait.ForHTTP("/minio/health/live").WithPort("9000")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testcontainers.TerminateContainer(c) })
	hostPort, err := c.ConnectionString(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := &minioServer{c: c, endpoint: "http://" + hostPort}
	if other.client, err = newMinioClientWith(hostPort, otherUser, otherPass); err != nil {
		t.Fatal(err)
	}

	bucketA, bucketB := shared.newBucket(t), other.newBucket(t)
	if _, err := other.client.PutObject(ctx, bucketB, "arch/report.csv", strings.NewReader("a,b\n"), 4, miniogo.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir()
	credFile := filepath.Join(secrets, "alpha")
	if err := os.WriteFile(credFile, []byte("[default]\naws_access_key_id = "+minioUser+"\naws_secret_access_key = "+minioPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BETA_KEY", otherUser)
	t.Setenv("BETA_SECRET", otherPass)

	s3url := func(srv *minioServer, bucket, extra string) string {
		return "s3://" + bucket + "?endpoint=" + srv.endpoint + "&region=us-east-1&path_style=true&timeout=5s&stale_upload_age=-1s" + extra
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := []auth.User{
		{Name: "alpha", PasswordHash: string(hash), StorageRef: auth.StorageRef{Storage: s3url(shared, bucketA, ""), CredentialsFile: credFile},
			Mounts: []auth.MountSpec{{Path: "/archive", StorageRef: auth.StorageRef{Storage: strings.Replace(s3url(other, bucketB, ""), bucketB+"?", bucketB+"/arch?", 1),
				AccessKeyEnv: "BETA_KEY", SecretKeyEnv: "BETA_SECRET"}, Permissions: []string{"list", "read"}}}},
		{Name: "beta", PasswordHash: string(hash), StorageRef: auth.StorageRef{
			Storage:      s3url(other, bucketB, "&role_arn=arn:minio:iam:::role/bucketftp&external_id=partner-7&sts_endpoint="+other.endpoint),
			AccessKeyEnv: "BETA_KEY", SecretKeyEnv: "BETA_SECRET"}},
		// The first server's key on the second server's bucket.
		{Name: "wrongkey", PasswordHash: string(hash), StorageRef: auth.StorageRef{Storage: s3url(other, bucketB, ""), CredentialsFile: credFile}},
	}
	logs := &logBuffer{}
	store := auth.NewStore(auth.StoreConfig{Backend: memstore.New(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	t.Cleanup(store.Close)
	if err := store.SetUsers(users); err != nil {
		t.Fatal(err)
	}
	evlog := &eventLog{}
	srv, err := ftp.New(ftp.Config{Auth: store, Storage: memstore.New(), Events: evlog, Logger: slog.New(slog.NewTextHandler(logs, nil)), LoginFailDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	dial := func(user string) (*jftp.ServerConn, error) {
		cc, err := jftp.Dial(l.Addr().String(), jftp.DialWithTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Quit() })
		return cc, cc.Login(user, "pw")
	}

	a, err := dial("alpha")
	if err != nil {
		t.Fatalf("alpha: %v", err)
	}
	if err := a.Stor("in.txt", strings.NewReader("from alpha")); err != nil {
		t.Fatal(err)
	}
	if got := objectBody(t, shared.client, bucketA, "in.txt"); got != "from alpha" {
		t.Fatalf("alpha's upload in bucket A: %q", got)
	}
	names, err := a.NameList("/")
	if err != nil || strings.Join(names, " ") != "/archive /in.txt" {
		t.Fatalf("alpha's / lists %v %v, want the mount point and the file", names, err)
	}
	r, err := a.Retr("archive/report.csv")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "a,b\n" {
		t.Fatalf("the mounted archive gave %q", b)
	}
	if err := a.Stor("archive/new.csv", strings.NewReader("x")); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("STOR into the read-only mount: %v, want 550", err)
	}
	if err := a.Rename("in.txt", "archive/in.txt"); err == nil || !strings.HasPrefix(err.Error(), "553") {
		t.Fatalf("RNTO across storages: %v, want 553", err)
	}

	bc, err := dial("beta")
	if err != nil {
		t.Fatalf("beta (AssumeRole): %v", err)
	}
	if err := bc.Stor("b.txt", bytes.NewReader([]byte("from beta"))); err != nil {
		t.Fatal(err)
	}
	if got := objectBody(t, other.client, bucketB, "b.txt"); got != "from beta" {
		t.Fatalf("beta's upload in bucket B: %q", got)
	}
	// Each upload's event names the bucket and key where it landed, not
	// the server's storage.
	done := evlog.of(ftp.EventUploadCompleted)
	if len(done) != 2 {
		t.Fatalf("%d upload events, want 2", len(done))
	}
	for i, want := range []events.Data{{Bucket: bucketA, Key: "in.txt"}, {Bucket: bucketB, Key: "b.txt"}} {
		ce, err := events.Build(done[i], "bucketftp://test", events.Namer{})
		if err != nil {
			t.Fatal(err)
		}
		if d := data(t, ce); d.Bucket != want.Bucket || d.Key != want.Key {
			t.Errorf("upload event %d names %s/%s, want %s/%s", i, d.Bucket, d.Key, want.Bucket, want.Key)
		}
	}
	if names, err := bc.NameList("/"); err != nil || strings.Contains(strings.Join(names, " "), "in.txt") {
		t.Fatalf("beta sees %v %v", names, err)
	}

	// The first server's key is refused by the second server: nothing is
	// stored, nothing listed (550, never the store's text).
	w, err := dial("wrongkey")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Stor("w.txt", strings.NewReader("x")); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("STOR with the other server's key: %v, want 550", err)
	}
	if names, err := w.NameList("/"); err == nil {
		t.Fatalf("listing with the other server's key: %v", names)
	}
	if _, err := other.client.StatObject(ctx, bucketB, "w.txt", miniogo.StatObjectOptions{}); err == nil {
		t.Fatal("an upload with the wrong key was stored")
	}
	for _, secret := range []string{minioPass, otherPass} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a secret key is in the log")
		}
	}
}

func objectBody(t *testing.T, c *miniogo.Client, bucket, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	o, err := c.GetObject(ctx, bucket, key, miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("%s/%s: %v", bucket, key, err)
	}
	return string(b)
}
