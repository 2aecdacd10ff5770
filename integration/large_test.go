package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/auth"
	ftpserver "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
)

// startFTP serves backend over FTP on 127.0.0.1:0 with one user "u"/"pw"
// whose home is the root.
func startFTP(t testing.TB, backend storage.Backend) string {
	t.Helper()
	users := auth.NewStore(auth.StoreConfig{Backend: backend})
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := users.SetUsers([]auth.User{{Name: "u", PasswordHash: h, Home: "/"}}); err != nil {
		t.Fatal(err)
	}
	addr, _ := serveFTP(t, ftpserver.Config{Auth: users, Storage: backend})
	return addr
}

// hashingSource produces n pseudo-random bytes and hashes what it gave.
type hashingSource struct {
	rng  *rand.ChaCha8
	left int64
	h    hash.Hash
}

func (s *hashingSource) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	s.rng.Read(p)
	s.h.Write(p)
	s.left -= int64(len(p))
	return len(p), nil
}

func TestOneGiBThroughFTP(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("1 GiB transfer")
	}
	bucket := shared.newBucket(t)
	store := shared.newStore(t, bucket, "")
	addr := startFTP(t, store)
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login("u", "pw"); err != nil {
		t.Fatal(err)
	}
	const size = 1 << 30
	src := &hashingSource{rng: rand.NewChaCha8([32]byte{7}), left: size, h: sha256.New()}
	if err := c.Stor("one-gib.bin", src); err != nil {
		t.Fatal(err)
	}
	sent := hex.EncodeToString(src.h.Sum(nil))

	r, err := c.Retr("one-gib.bin")
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, r)
	r.Close()
	if err != nil || n != size || hex.EncodeToString(got.Sum(nil)) != sent {
		t.Fatalf("download: %d bytes, %v, sha256 match %v", n, err, hex.EncodeToString(got.Sum(nil)) == sent)
	}
	// And as another S3 client sees it.
	obj, err := shared.client.GetObject(t.Context(), bucket, "one-gib.bin", miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	viaS3 := sha256.New()
	n, err = io.Copy(viaS3, obj)
	obj.Close()
	if err != nil || n != size || hex.EncodeToString(viaS3.Sum(nil)) != sent {
		t.Fatalf("object in the bucket: %d bytes, %v, sha256 match %v", n, err, hex.EncodeToString(viaS3.Sum(nil)) == sent)
	}
	if n := shared.openUploads(t, bucket); n != 0 {
		t.Fatalf("%d multipart uploads open", n)
	}
}

func TestAbortStaleUploads(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	ctx := t.Context()
	raw := s3.New(s3.Options{
		BaseEndpoint: aws.String(shared.endpoint), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(minioUser, minioPass, ""),
	})
	// A crash left uploads behind, inside and outside the store's prefix.
	for _, key := range []string{"ftp/left-behind.bin", "other/not-ours.bin"} {
		if _, err := raw.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	s := shared.newStore(t, bucket, "ftp")
	if n, err := s.AbortStaleUploads(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("fresh uploads aborted: %d, %v", n, err)
	}
	n, err := s.AbortStaleUploads(ctx, 0)
	if err != nil || n != 1 {
		t.Fatalf("AbortStaleUploads = %d, %v; want 1", n, err)
	}
	left := map[string]bool{}
	for u := range shared.client.ListIncompleteUploads(ctx, bucket, "", true) {
		left[u.Key] = true
	}
	if left["ftp/left-behind.bin"] || !left["other/not-ours.bin"] {
		t.Fatalf("open uploads after cleanup: %v", left)
	}
}
