package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	miniogo "github.com/minio/minio-go/v7"
)

// freePorts finds n consecutive TCP ports free on every address (Docker
// publishes on 0.0.0.0, which a port taken on any one address blocks).
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(30000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp4", ":"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// TestDockerCompose brings up docker-compose.yml with locally built
// images, uploads and downloads over FTP in passive mode from the host,
// checks the object in MinIO, and tears everything down.
func TestDockerCompose(t *testing.T) {
	t.Parallel()
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose is not installed")
		}
		t.Skip("docker-compose is not installed")
	}
	build := exec.CommandContext(t.Context(), "bash", "../deploy/build-image.sh", "bucketftp:compose-test")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the image: %v\n%s", err, out)
	}
	project := fmt.Sprintf("bftp%d", rand.IntN(1e9))
	var env []string
	var ftpPort, minioPort int
	pickPorts := func() {
		pasv := freePorts(t, 4)
		ftpPort, minioPort = freePorts(t, 1), freePorts(t, 1)
		env = append(os.Environ(), "BUCKETFTP_IMAGE=bucketftp:compose-test",
			"FTP_PORT="+strconv.Itoa(ftpPort), "MINIO_PORT="+strconv.Itoa(minioPort),
			"PASV_MIN="+strconv.Itoa(pasv), "PASV_MAX="+strconv.Itoa(pasv+3), "PUBLIC_HOST=127.0.0.1")
	}
	pickPorts()
	dc := func(ctx context.Context, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, compose, append([]string{"-p", project, "-f", "../docker-compose.yml"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			out, _ := dc(ctx, "logs", "--no-color")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := dc(ctx, "down", "-v", "-t", "5"); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	// A port found free can be taken by another process before Docker
	// binds it: then take others, a bounded number of times.
	for try := 1; ; try++ {
		out, err := dc(ctx, "up", "-d")
		if err == nil {
			break
		}
		if try == 3 || !strings.Contains(out, "address already in use") {
			t.Fatalf("compose up: %v\n%s", err, out)
		}
		if out, err := dc(ctx, "down", "-v", "-t", "5"); err != nil {
			t.Fatalf("compose down before retrying: %v\n%s", err, out)
		}
		pickPorts()
	}

	addr := "127.0.0.1:" + strconv.Itoa(ftpPort)
	var c *ftp.ServerConn
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		c, err = ftp.Dial(addr, ftp.DialWithTimeout(5*time.Second))
		if err == nil {
			if err = c.Login("demo", "demo-password"); err == nil {
				break
			}
			c.Quit()
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucketftp in compose never answered: %v", err)
		}
	}
	defer c.Quit()
	payload := strings.Repeat("through compose ", 100000)
	if err := c.Stor("hello.txt", strings.NewReader(payload)); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retr("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != payload {
		t.Fatalf("downloaded %d bytes", len(got))
	}
	mc, err := newMinioClientWith("127.0.0.1:"+strconv.Itoa(minioPort), "bucketftp", "bucketftp-secret")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := mc.GetObject(ctx, "ftp", "hello.txt", miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inBucket, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(inBucket) != payload {
		t.Fatalf("object in MinIO: %d bytes, %v", len(inBucket), err)
	}
}
