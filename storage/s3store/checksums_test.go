package s3store

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][]int{{0, 5}, {5, 0}, {1, 1}, {7, 1 << 20}, {6 << 20, 6 << 20, 123}, {3, 4, 5, 6, 7}} {
		var all []byte
		var c uint32
		for i, n := range sizes {
			b := make([]byte, n)
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			all = append(all, b...)
			if i == 0 {
				c = crc32.ChecksumIEEE(b)
			} else {
				c = crc32Combine(c, crc32.ChecksumIEEE(b), int64(n))
			}
		}
		if want := crc32.ChecksumIEEE(all); c != want {
			t.Errorf("sizes %v: combined %08x, want %08x", sizes, c, want)
		}
	}
}
