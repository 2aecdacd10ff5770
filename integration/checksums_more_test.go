package integration

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha512"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/bucketftp/bucketftp/auth"
	ftpserver "github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/s3store"
)

// TestChecksumsAtPartBoundaries: uploads through FTP of 0 B, 1 B and one
// part size less one, exactly and plus one (a single PUT, a multipart
// upload of one part, one of two parts), with every algorithm enabled.
// For each, MinIO's own CRC32 of the whole object (HeadObject with
// checksum mode, read with minio-go) is the CRC32 of the bytes sent, and
// HASH (with each OPTS HASH algorithm), XSHA256, XSHA1, XSHA512, XMD5 and
// XCRC answer what the test computed from the source, without a GET of
// the object at the recording proxy (HEAD and tag reads only).
func TestChecksumsAtPartBoundaries(t *testing.T) {
	t.Parallel()
	const part = 5 << 20 // S3's minimum part size
	bucket := shared.newBucket(t)
	rec := newS3Recorder(t, shared.endpoint)
	via := *shared
	via.endpoint = rec.addr
	store := via.newStore(t, bucket, "", func(c *s3store.Config) { c.PartSize = part })
	addr := startFTPChecksums(t, store, storage.Algorithms())
	ctx := t.Context()

	rng := rand.NewChaCha8([32]byte{'p', 'a', 'r', 't'})
	for _, tc := range []struct {
		name  string
		size  int
		parts int // of the multipart upload; 0: a single PUT
	}{
		{"empty", 0, 0},
		{"one-byte", 1, 0},
		{"part-minus-one", part - 1, 0},
		{"part", part, 1},
		{"part-plus-one", part + 1, 2},
	} {
		data := make([]byte, tc.size)
		rng.Read(data)
		t.Run(tc.name, func(t *testing.T) {
			c := loginAs(t, addr, "u")
			name := tc.name + ".bin"
			rec.take()
			if code, text := c.storFrom(name, bytes.NewReader(data)); code != 226 {
				t.Fatalf("STOR %d bytes: %d %s", tc.size, code, text)
			}
			key := "u/" + name
			// Below one part a single PUT; from one part on, parts.
			ups := rec.take()
			wantPuts := 0
			if tc.parts == 0 {
				wantPuts = 1
			}
			if parts, puts := count(ups, "MPU-PART"), count(ups, "PUT", "PUT-IF-NONE-MATCH"); parts != tc.parts || puts != wantPuts {
				t.Errorf("STOR %d bytes sent %d parts and %d PUTs (%s), want %d and %d", tc.size, parts, puts, summary(ups), tc.parts, wantPuts)
			}

			info, err := shared.client.StatObject(ctx, bucket, key, miniogo.StatObjectOptions{Checksum: true})
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(tc.size) {
				t.Errorf("stored %d bytes, want %d", info.Size, tc.size)
			}
			if info.ChecksumCRC32 != b64crc(data) {
				t.Errorf("store's CRC32 %q (type %q), want %q of the whole object", info.ChecksumCRC32, info.ChecksumMode, b64crc(data))
			}

			want := map[string]string{
				storage.SHA256: sha(data),
				storage.SHA1:   fmt.Sprintf("%x", sha1.Sum(data)),
				storage.SHA512: fmt.Sprintf("%x", sha512.Sum512(data)),
				storage.MD5:    fmt.Sprintf("%x", md5.Sum(data)),
				storage.CRC32:  fmt.Sprintf("%08x", crc32.ChecksumIEEE(data)),
			}
			rec.take()
			if _, text := c.cmdText("HASH " + name); text != fmt.Sprintf("213 SHA-256 0-%d %s %s", tc.size, want[storage.SHA256], name) {
				t.Errorf("HASH: %q, want SHA-256 %s", text, want[storage.SHA256])
			}
			for _, x := range []struct{ verb, algo string }{
				{"XSHA256", storage.SHA256}, {"XSHA1", storage.SHA1}, {"XSHA512", storage.SHA512},
				{"XMD5", storage.MD5}, {"XCRC", storage.CRC32},
			} {
				if _, text := c.cmdText(x.verb + " " + name); text != "250 "+want[x.algo] {
					t.Errorf("%s: %q, want 250 %s", x.verb, text, want[x.algo])
				}
			}
			for _, algo := range storage.Algorithms() {
				c.must("OPTS HASH "+algo, 200)
				if _, text := c.cmdText("HASH " + name); text != fmt.Sprintf("213 %s 0-%d %s %s", algo, tc.size, want[algo], name) {
					t.Errorf("OPTS HASH %s, HASH: %q, want %s", algo, text, want[algo])
				}
			}
			reqs := rec.take()
			if n := count(reqs, "GET"); n > 0 {
				t.Errorf("answering HASH and the X commands read the object: %d GETs (%s)", n, summary(reqs))
			}
			if count(reqs, "HEAD") == 0 {
				t.Errorf("HASH asked the store nothing (%s): not answered from what it recorded", summary(reqs))
			}
			t.Logf("%d bytes: store's CRC32 %s (%s); HASH and the X commands cost %s", tc.size, info.ChecksumCRC32, info.ChecksumMode, summary(reqs))
		})
	}
}

// startFTPChecksums serves store over FTP on 127.0.0.1:0 with user "u"
// (password "pw", home /u), computing the algos at every upload.
func startFTPChecksums(t *testing.T, store *s3store.Store, algos []string) string {
	t.Helper()
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	us := auth.NewStore(auth.StoreConfig{Backend: store})
	if err := us.SetUsers([]auth.User{{Name: "u", Home: "/u", PasswordHash: h}}); err != nil {
		t.Fatal(err)
	}
	addr, _ := serveFTP(t, ftpserver.Config{Auth: us, Storage: store, Checksums: algos})
	return addr
}
