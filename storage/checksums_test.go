package storage_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bucketftp/bucketftp/storage"
)

// wholeSums are the checksums of b computed directly.
func wholeSums(b []byte) storage.Checksums {
	s256, s1, s512, m5 := sha256.Sum256(b), sha1.Sum(b), sha512.Sum512(b), md5.Sum(b)
	c := crc32.ChecksumIEEE(b)
	return storage.Checksums{
		storage.SHA256: hex.EncodeToString(s256[:]), storage.SHA1: hex.EncodeToString(s1[:]),
		storage.SHA512: hex.EncodeToString(s512[:]), storage.MD5: hex.EncodeToString(m5[:]),
		storage.CRC32: fmt.Sprintf("%08x", c),
	}
}

// TestEndStateResumes: a file hashed to its end, its EndState recorded,
// then bytes appended through ResumeHashing (given only the state, the
// file's last bytes EndStateSize names and its recorded CRC32) gives the checksums
// of the whole, for every algorithm, at sizes around each block size.
// It fails if the state lost the chaining value, the length or the pending
// bytes, if the state held the file's bytes, or if it did not fit an S3 tag.
func TestEndStateResumes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 63, 64, 65, 127, 128, 129, 1000, 5 << 20} {
		for _, more := range []int{0, 1, 64, 300} {
			t.Run(fmt.Sprintf("%d+%d", size, more), func(t *testing.T) {
				whole := make([]byte, size+more)
				for i := range whole {
					whole[i] = byte(rng.Uint32())
				}
				first := storage.NewHashing(storage.Algorithms(), nil)
				if _, err := io.Copy(io.Discard, first.Reader(bytes.NewReader(whole[:size]))); err != nil {
					t.Fatal(err)
				}
				state := first.EndState()
				if state == "" {
					t.Fatal("no end state")
				}
				if len(state) > 256 || strings.ContainsFunc(state, func(r rune) bool {
					return !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 +-=.:/_@", r)
				}) {
					t.Fatalf("state %q does not fit an S3 tag value", state)
				}
				if tailBytes := whole[max(0, size-16):size]; size >= 16 && strings.Contains(state, string(tailBytes)) {
					t.Fatal("the state holds the file's bytes")
				}
				total, n, err := storage.EndStateSize(state)
				if err != nil || total != int64(size) || n > 127 || n > int64(size) {
					t.Fatalf("EndStateSize = %d, %d, %v", total, n, err)
				}
				next, err := storage.ResumeHashing(state, whole[int64(size)-n:size], first.Sums(), storage.Algorithms())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, next.Reader(bytes.NewReader(whole[size:]))); err != nil {
					t.Fatal(err)
				}
				got, want := next.Sums(), wholeSums(whole)
				for _, a := range storage.Algorithms() {
					if got[a] != want[a] {
						t.Errorf("%s = %s, want %s", a, got[a], want[a])
					}
				}
				// Going on once more from the resumed Hashing's own state.
				if again := next.EndState(); again == "" {
					t.Error("no end state after a resume")
				}
			})
		}
	}
}

// TestEndStateRefusals: ResumeHashing refuses what it cannot go on from
// rather than return wrong checksums: an algorithm missing from the state
// or without a recorded CRC32, a short tail, a state of another form.
func TestEndStateRefusals(t *testing.T) {
	h := storage.NewHashing([]string{storage.CRC32}, nil)
	if _, err := io.Copy(io.Discard, h.Reader(strings.NewReader(strings.Repeat("x", 100)))); err != nil {
		t.Fatal(err)
	}
	state := h.EndState()
	if _, err := storage.ResumeHashing(state, bytes.Repeat([]byte("x"), 36), h.Sums(), []string{storage.SHA256, storage.MD5}); err == nil {
		t.Error("went on with MD5, which the state lacks")
	}
	if _, err := storage.ResumeHashing(state, bytes.Repeat([]byte("x"), 36), nil, []string{storage.SHA256, storage.CRC32}); err == nil {
		t.Error("went on with CRC32 without its recorded value")
	}
	if _, err := storage.ResumeHashing(state, []byte("x"), h.Sums(), []string{storage.SHA256}); err == nil {
		t.Error("went on with a short tail")
	}
	if _, err := storage.ResumeHashing("v2 100", nil, h.Sums(), []string{storage.CRC32}); err == nil {
		t.Error("took a state of another form")
	}
	if got := storage.NewHashing(nil, nil).EndState(); got != "" {
		t.Errorf("EndState before the end of the data = %q", got)
	}
	if !strings.HasPrefix(state, "v1 100 sha256=") {
		t.Errorf("EndState = %q", state)
	}
}
