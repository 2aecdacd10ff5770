package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	miniogo "github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/testcontainers/testcontainers-go"
	tcminio "github.com/testcontainers/testcontainers-go/modules/minio"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/bucketftp/bucketftp/storage/s3store"
)

// minioImage is the official image; integration/build-minio-image.sh
// builds it from source under this name where no registry is reachable.
const minioImage = "minio/minio:RELEASE.2025-09-07T16-13-09Z"

const (
	minioUser = "bucketftp-test"
	minioPass = "bucketftp-test-secret"
)

// shared is the MinIO most tests use; fault tests start their own.
var shared *minioServer

type minioServer struct {
	c        *tcminio.MinioContainer
	endpoint string // http://host:port
	client   *miniogo.Client
}

func TestMain(m *testing.M) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// With a local Docker socket, published ports are on loopback. Without
	// this, testcontainers may guess the machine's default gateway, which
	// tests must never send traffic to.
	if h := os.Getenv("DOCKER_HOST"); (h == "" || strings.HasPrefix(h, "unix://")) && os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	ctx := context.Background()
	srv, err := startMinio(ctx)
	shared = srv
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "integration: cannot start MinIO (%v); under CI=true that fails the run\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "integration: skipped, cannot start MinIO: %v\n(needs a Docker engine; without a registry run integration/build-minio-image.sh first)\n", err)
		os.Exit(0)
	}
	code := m.Run()
	srv.stop()
	os.Exit(code)
}

// ensureImage builds the MinIO image from source when it is not present
// and no registry can provide it (build-minio-image.sh is a no-op when the
// image exists).
func ensureImage(ctx context.Context) error {
	if exec.CommandContext(ctx, "docker", "image", "inspect", minioImage).Run() == nil {
		return nil
	}
	if exec.CommandContext(ctx, "docker", "pull", "-q", minioImage).Run() == nil {
		return nil
	}
	fmt.Fprintln(os.Stderr, "integration: building", minioImage, "from source")
	cmd := exec.CommandContext(ctx, "bash", "build-minio-image.sh")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "MINIO_IMAGE="+minioImage)
	return cmd.Run()
}

func startMinio(ctx context.Context) (*minioServer, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, err
	}
	if err := ensureImage(ctx); err != nil {
		return nil, fmt.Errorf("MinIO image: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	c, err := tcminio.Run(ctx, minioImage, tcminio.WithUsername(minioUser), tcminio.WithPassword(minioPass),
		// A loaded CI machine can take longer than the module's 60s default.
		testcontainers.WithWaitStrategyAndDeadline(3*time.Minute, wait.ForHTTP("/minio/health/live").WithPort("9000")))
	if err != nil {
		if c != nil {
			if logs, lerr := c.Logs(context.WithoutCancel(ctx)); lerr == nil {
				b, _ := io.ReadAll(logs)
				fmt.Fprintf(os.Stderr, "MinIO log:\n%s\n", b)
			}
			_ = testcontainers.TerminateContainer(c)
		}
		return nil, err
	}
	hostPort, err := c.ConnectionString(ctx)
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return nil, err
	}
	client, err := newMinioClient(hostPort)
	if err != nil {
		_ = testcontainers.TerminateContainer(c)
		return nil, err
	}
	return &minioServer{c: c, endpoint: "http://" + hostPort, client: client}, nil
}

func (m *minioServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = testcontainers.TerminateContainer(m.c, testcontainers.StopContext(ctx))
}

// newBucket makes an empty bucket with a unique name.
func (m *minioServer) newBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t-" + hex.EncodeToString(b[:])
	if err := m.client.MakeBucket(t.Context(), name, miniogo.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// newStore returns an s3store on a fresh bucket under prefix.
func (m *minioServer) newStore(t testing.TB, bucket, prefix string, tune ...func(*s3store.Config)) *s3store.Store {
	t.Helper()
	cfg := s3store.Config{
		Bucket: bucket, Prefix: prefix, Endpoint: m.endpoint, Region: "us-east-1", PathStyle: true,
		Credentials:    credentials.NewStaticCredentialsProvider(minioUser, minioPass, ""),
		Timeout:        5 * time.Second,
		StaleUploadAge: -1,
	}
	for _, f := range tune {
		f(&cfg)
	}
	s, err := s3store.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// objects lists every key in bucket, read with minio-go.
func (m *minioServer) objects(t testing.TB, bucket string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for o := range m.client.ListObjects(t.Context(), bucket, miniogo.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		obj, err := m.client.GetObject(t.Context(), bucket, o.Key, miniogo.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[o.Key] = string(b)
	}
	return out
}

// openUploads counts multipart uploads not completed or aborted.
func (m *minioServer) openUploads(t testing.TB, bucket string) int {
	t.Helper()
	n := 0
	for u := range m.client.ListIncompleteUploads(t.Context(), bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		n++
	}
	return n
}

// putByOtherClient writes an object with minio-go, as another S3 client would.
func (m *minioServer) putByOtherClient(t testing.TB, bucket, key, data string) {
	t.Helper()
	if _, err := m.client.PutObject(t.Context(), bucket, key, strings.NewReader(data), int64(len(data)), miniogo.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newMinioClient(hostPort string) (*miniogo.Client, error) {
	return newMinioClientWith(hostPort, minioUser, minioPass)
}

func newMinioClientWith(hostPort, user, pass string) (*miniogo.Client, error) {
	return miniogo.New(hostPort, &miniogo.Options{Creds: miniocreds.NewStaticV4(user, pass, "")})
}
