package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
	"testing/iotest"
)

// TestLBContentCompare: the RETR check accepts exactly the bytes a
// session stored, read in pieces of any size, and nothing else.
func TestLBContentCompare(t *testing.T) {
	t.Parallel()
	const size = 3<<20 + 17
	r := &lbRig{base: bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]}
	c := r.content("direct round 1 session 3")
	want, err := io.ReadAll(c.reader())
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != size || !bytes.HasPrefix(want, []byte("direct round 1 session 3 ")) {
		t.Fatalf("content: %d bytes starting %q", len(want), want[:lbTagLen])
	}
	if got, sum := c.sum(), sha256.Sum256(want); !bytes.Equal(got, sum[:]) {
		t.Fatalf("sum %x, want %x", got, sum)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(want)
		b[i] ^= 1
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"same", want, true},
		{"byte in the tag differs", flip(5), false},
		{"last byte of the tag differs", flip(lbTagLen - 1), false},
		{"byte after the tag differs", flip(lbTagLen), false},
		{"last byte differs", flip(size - 1), false},
		{"another session's", mustRead(t, r.content("direct round 1 session 4").reader()), false},
		{"short", want[:size-1], false},
		{"long", append(bytes.Clone(want), 'x'), false},
		{"empty", nil, false},
	} {
		for _, rd := range []struct {
			how string
			r   io.Reader
		}{{"whole", bytes.NewReader(tc.data)}, {"one byte at a time", iotest.OneByteReader(io.LimitReader(bytes.NewReader(tc.data), 100))}, {"halves", iotest.HalfReader(bytes.NewReader(tc.data))}} {
			if rd.how == "one byte at a time" && len(tc.data) > lbTagLen { // the tag and just past it, then the rest
				rd.r = io.MultiReader(rd.r, bytes.NewReader(tc.data[min(100, len(tc.data)):]))
			}
			err := c.compare(rd.r, size)
			if (err == nil) != tc.ok {
				t.Errorf("%s, %s: compare = %v, want ok %v", tc.name, rd.how, err, tc.ok)
			}
		}
	}
}

func mustRead(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
