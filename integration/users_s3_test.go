package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jlaffaye/ftp"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// usersS3Server is one bucketftp serve process of TestUsersInBucket.
type usersS3Server struct {
	name string
	addr string // control address
	mu   sync.Mutex
	logs strings.Builder
}

func (s *usersS3Server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// waitLogCount waits (bounded) until re matches n lines of the log.
func (s *usersS3Server) waitLogCount(t *testing.T, re *regexp.Regexp, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); len(re.FindAllString(s.log(), -1)) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: fewer than %d log lines matching %s:\n%s", s.name, n, re, s.log())
		}
	}
}

// canLogIn reports whether user logs in with password user+"-pw".
func (s *usersS3Server) canLogIn(t *testing.T, user string) bool {
	t.Helper()
	c, err := ftp.Dial(s.addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	defer c.Quit()
	return c.Login(user, user+"-pw") == nil
}

// startUsersS3Server runs the real binary and waits for it to listen; it
// is stopped (SIGTERM, then killed) when the test ends.
func startUsersS3Server(t *testing.T, bin, name string, args ...string) *usersS3Server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--login-fail-delay", "1ms", "--ban-after", "0"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+minioUser, "AWS_SECRET_ACCESS_KEY="+minioPass, "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PROFILE=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	s := &usersS3Server{name: name}
	listening := make(chan string, 1)
	re := regexp.MustCompile(`msg=listening addr=(\S+)`)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				listening <- m[1]
			}
		}
		cmd.Wait()
	}()
	select {
	case s.addr = <-listening:
	case <-done:
		t.Fatalf("%s exited before listening:\n%s", name, s.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start listening:\n%s", name, s.log())
	}
	return s
}

// usersS3File is a users file whose users log in with name+"-pw".
func usersS3File(t *testing.T, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("users:\n")
	for _, n := range names {
		h, err := auth.HashPassword(n + "-pw")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    password_hash: %q\n", n, h)
	}
	return b.String()
}

// TestUsersInBucket: two replicas read their users from one object
// (--users s3://BUCKET/KEY), polled by ETag. A new version of the object
// reaches both within a bounded wait, without a restart or SIGHUP; a
// broken version keeps the users on both and is logged once by each.
func TestUsersInBucket(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "bucketftp")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../cmd/bucketftp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bucket := shared.newBucket(t)
	const key = "config/users.yaml"
	shared.putByOtherClient(t, bucket, key, usersS3File(t, "alice"))
	q := "?endpoint=" + shared.endpoint + "&path_style=true"
	users := "s3://" + bucket + "/" + key + q
	storage := "s3://" + bucket + "/ftp" + q
	var replicas []*usersS3Server
	for _, name := range []string{"replica-0", "replica-1"} {
		replicas = append(replicas, startUsersS3Server(t, bin, name, "--users", users, "--users-poll", "200ms", "--storage", storage))
	}
	for _, r := range replicas {
		if !r.canLogIn(t, "alice") || r.canLogIn(t, "bob") {
			t.Fatalf("%s: start-up users wrong", r.name)
		}
	}

	reloaded := regexp.MustCompile(`msg="users file reloaded" file=s3://\S+ trigger=change`)
	start := time.Now()
	shared.putByOtherClient(t, bucket, key, usersS3File(t, "alice", "bob"))
	for _, r := range replicas {
		r.waitLogCount(t, reloaded, 1)
		if !r.canLogIn(t, "bob") {
			t.Fatalf("%s: bob cannot log in after the object was replaced", r.name)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the new users took %v to reach both replicas with --users-poll 200ms", d)
	}

	failed := regexp.MustCompile(`level=ERROR msg="users file not reloaded; keeping the previous users" file=s3://\S+ trigger=change err=`)
	shared.putByOtherClient(t, bucket, key, "users:\n  - name: carol\n    password_hash: nope\n")
	for _, r := range replicas {
		r.waitLogCount(t, failed, 1)
	}
	time.Sleep(time.Second) // five polls
	for _, r := range replicas {
		if n := len(failed.FindAllString(r.log(), -1)); n != 1 {
			t.Errorf("%s: the broken version was logged %d times, want once", r.name, n)
		}
		if !r.canLogIn(t, "alice") || !r.canLogIn(t, "bob") || r.canLogIn(t, "carol") {
			t.Fatalf("%s: a broken version changed the users", r.name)
		}
		if l := r.log(); strings.Contains(l, "$argon2id$") || strings.Contains(l, minioPass) || strings.Contains(l, "endpoint=") {
			t.Fatalf("%s: a hash, the secret key or the users URL's query reached the log:\n%s", r.name, l)
		}
	}
}

// TestUsersInBucketConditionalGet: against MinIO, an unchanged object is
// answered 304 to the ETag's If-None-Match and comes back unchanged, a
// replaced one with its new content and ETag.
func TestUsersInBucketConditionalGet(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	shared.putByOtherClient(t, bucket, "users.yaml", "v1")
	o, err := s3store.NewObject(t.Context(), s3store.Config{Bucket: bucket, Prefix: "users.yaml", Endpoint: shared.endpoint, Region: "us-east-1", PathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(minioUser, minioPass, ""), Timeout: 5 * time.Second}, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	b, etag, changed, err := o.Fetch(t.Context(), "")
	if err != nil || !changed || string(b) != "v1" || etag == "" {
		t.Fatalf("first fetch: %q %q %v %v", b, etag, changed, err)
	}
	if b, again, changed, err := o.Fetch(t.Context(), etag); err != nil || changed || b != nil || again != etag {
		t.Fatalf("unchanged fetch: %q %q %v %v", b, again, changed, err)
	}
	shared.putByOtherClient(t, bucket, "users.yaml", "v2")
	if b, next, changed, err := o.Fetch(t.Context(), etag); err != nil || !changed || string(b) != "v2" || next == etag {
		t.Fatalf("fetch after a change: %q %q %v %v", b, next, changed, err)
	}
}
