package s3store

import (
	"bytes"
	"runtime"
	"testing"
)

func TestBufferPoolKeepsOneUploadResident(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	p := newBufferPool(2)
	var got []*partBuffer
	for range 4 {
		pb := p.get(size)
		if len(pb.b) != size {
			t.Fatalf("buffer of %d bytes", len(pb.b))
		}
		for i := range pb.b {
			pb.b[i] = 0xAA
		}
		got = append(got, pb)
	}
	for _, pb := range got {
		p.put(pb)
	}
	if n := len(p.free[size]); n != 4 {
		t.Fatalf("%d buffers kept for reuse, want all 4", n)
	}
	// Resident buffers come back first, with their pages still there.
	for range 2 {
		if pb := p.get(size); !pb.resident || pb.b[size-1] != 0xAA {
			t.Fatal("a resident buffer was not reused first")
		}
	}
	// The others were given back to the system: still usable, but on Linux
	// their old contents are gone.
	pb := p.get(size)
	if runtime.GOOS == "linux" && !bytes.Equal(pb.b, make([]byte, size)) {
		t.Fatal("a dropped buffer kept its pages")
	}
	pb.b[0] = 1 // writable again
}
