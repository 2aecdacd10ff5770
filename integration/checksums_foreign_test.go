package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/auth"
	ftpserver "github.com/bucketftp/bucketftp/ftp"
)

// An object written by another S3 client has no recorded checksum: HASH
// reads it and answers the computed value, and refuses (550) one larger
// than the server hashes by reading.
func TestChecksumsOfForeignObjects(t *testing.T) {
	t.Parallel()
	bucket := shared.newBucket(t)
	store := shared.newStore(t, bucket, "")
	small := strings.Repeat("written by minio-go\n", 3)
	large := strings.Repeat("x", 4096)
	shared.putByOtherClient(t, bucket, "u/small.txt", small)
	shared.putByOtherClient(t, bucket, "u/large.txt", large)

	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	us := auth.NewStore(auth.StoreConfig{Backend: store})
	if err := us.SetUsers([]auth.User{{Name: "u", Home: "/u", PasswordHash: h}}); err != nil {
		t.Fatal(err)
	}
	addr, _ := serveFTP(t, ftpserver.Config{Auth: us, Storage: store, HashMaxBytes: 1000})

	c := loginAs(t, addr, "u")
	sum := sha256.Sum256([]byte(small))
	code, text := c.cmdText("HASH small.txt")
	if want := fmt.Sprintf("SHA-256 0-%d %s small.txt", len(small), hex.EncodeToString(sum[:])); code != 213 || !strings.EqualFold(text, "213 "+want) {
		t.Errorf("HASH of a foreign object: %d %q, want 213 %q", code, text, want)
	}
	if code, text := c.cmdText("HASH large.txt"); code != 550 {
		t.Errorf("HASH of a foreign object above --hash-max-bytes: %d %q, want 550", code, text)
	}
}
