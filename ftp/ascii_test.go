package ftp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// sourceWrappers change how the converters' input arrives.
var sourceWrappers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"plain", func(r io.Reader) io.Reader { return r }},
	{"one byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data with EOF", iotest.DataErrReader},
}

// readWith reads r to EOF with reads of at most size bytes, as a caller
// with a small buffer would.
func readWith(r io.Reader, size int) ([]byte, error) {
	var out []byte
	p := make([]byte, size)
	for range 1 << 20 {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, errors.New("no EOF")
}

// chunkReader returns its chunks one Read at a time.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// convertAllWays runs conv over in with every source wrapper and several
// read sizes, failing unless each gives want.
func convertAllWays(t *testing.T, conv func(io.Reader) io.Reader, in, want string) {
	t.Helper()
	for _, w := range sourceWrappers {
		for _, size := range []int{1, 2, 3, 7, 64 << 10} {
			got, err := readWith(conv(w.wrap(strings.NewReader(in))), size)
			if err != nil || string(got) != want {
				t.Errorf("%s source, %d-byte reads: %q gave %q, %v; want %q", w.name, size, in, got, err, want)
			}
		}
	}
}

func TestToNetASCII(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no line ends", "abc", "abc"},
		{"LF", "a\nb\n", "a\r\nb\r\n"},
		{"LF first", "\nx", "\r\nx"},
		{"LF only", "\n\n\n", "\r\n\r\n\r\n"},
		{"CRLF unchanged", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"mixed", "a\r\nb\nc\r\n\n", "a\r\nb\r\nc\r\n\r\n"},
		{"lone CR unchanged", "a\rb\r", "a\rb\r"},
		{"CR CR LF", "\r\r\n", "\r\r\n"},
		{"LF CR", "\n\r", "\r\n\r"},
		{"binary bytes pass", "\x00\xff\x1a", "\x00\xff\x1a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			convertAllWays(t, toNetASCII, tc.in, tc.want)
		})
	}
}

func TestFromNetASCII(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no line ends", "abc", "abc"},
		{"CRLF", "a\r\nb\r\n", "a\nb\n"},
		{"CRLF only", "\r\n\r\n", "\n\n"},
		{"bare LF kept", "a\nb", "a\nb"},
		{"lone CR kept", "a\rb", "a\rb"},
		{"CR at the end kept", "a\r", "a\r"},
		{"only CR", "\r", "\r"},
		{"CR CR LF", "\r\r\n", "\r\n"},
		{"CR CR", "\r\r", "\r\r"},
		{"CR CR CR LF", "x\r\r\r\ny", "x\r\r\ny"},
		{"LF CR LF", "\n\r\n", "\n\n"},
		{"binary bytes pass", "\x00\xff\x1a", "\x00\xff\x1a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			convertAllWays(t, fromNetASCII, tc.in, tc.want)
		})
	}
}

// TestNetASCIIChunkEdges puts the CR and the LF of a pair in different
// reads of the source.
func TestNetASCIIChunkEdges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		conv   func(io.Reader) io.Reader
		chunks []string
		want   string
	}{
		{"to: CR ends a read, LF starts the next", toNetASCII, []string{"a\r", "\nb"}, "a\r\nb"},
		{"to: LF alone in a read", toNetASCII, []string{"a", "\n", "b"}, "a\r\nb"},
		{"to: CR alone in a read", toNetASCII, []string{"a", "\r", "\n"}, "a\r\n"},
		{"from: CR ends a read, LF starts the next", fromNetASCII, []string{"a\r", "\nb"}, "a\nb"},
		{"from: CR ends a read, other byte next", fromNetASCII, []string{"a\r", "b"}, "a\rb"},
		{"from: CR ends the last read", fromNetASCII, []string{"a", "\r"}, "a\r"},
		{"from: CR, empty reads, LF", fromNetASCII, []string{"\r", "", "", "\n"}, "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &chunkReader{chunks: append([]string(nil), tc.chunks...)}
			got, err := readWith(tc.conv(src), 64)
			if err != nil || string(got) != tc.want {
				t.Errorf("%q gave %q, %v; want %q", tc.chunks, got, err, tc.want)
			}
		})
	}
}

func TestNetASCIIPassesErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	cases := []struct {
		name string
		conv func(io.Reader) io.Reader
		in   string
		want string
	}{
		{"to", toNetASCII, "a\nb", "a\r\nb"},
		{"from", fromNetASCII, "a\r\nb\r", "a\nb\r"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := io.ReadAll(tc.conv(io.MultiReader(strings.NewReader(tc.in), iotest.ErrReader(boom))))
			if !errors.Is(err, boom) || string(got) != tc.want {
				t.Errorf("got %q, %v; want %q, %v", got, err, tc.want, boom)
			}
		})
	}
}

// flakyReader returns its data, then err once, then io.EOF, as a network
// body may after a failure.
type flakyReader struct {
	data string
	err  error
	step int
}

func (f *flakyReader) Read(p []byte) (int, error) {
	f.step++
	switch f.step {
	case 1:
		return copy(p, f.data), nil
	case 2:
		return 0, f.err
	}
	return 0, io.EOF
}

// TestNetASCIIKeepsErrors: a source failing mid-transfer must fail the
// transfer, even if reading on after the failure would give io.EOF; a lost
// error is a truncated file reported as complete.
func TestNetASCIIKeepsErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	cases := []struct {
		name string
		conv func(io.Reader) io.Reader
	}{
		{"to", toNetASCII},
		{"from", fromNetASCII},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := io.ReadAll(tc.conv(&flakyReader{data: "abc\n", err: boom}))
			if !errors.Is(err, boom) {
				t.Errorf("got %v, want %v", err, boom)
			}
		})
	}
}

// wantToNet and wantFromNet restate the conversions simply.
func wantToNet(b []byte) []byte {
	var out []byte
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

func wantFromNet(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

// randomReader returns at most a random number of bytes per Read.
type randomReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1+r.rng.IntN(len(p))]
	}
	return r.r.Read(p)
}

func TestNetASCIIRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\r\n\n")
	for i := range 2000 {
		data := make([]byte, rng.IntN(300))
		for j := range data {
			data[j] = alphabet[rng.IntN(len(alphabet))]
		}
		size := 1 + rng.IntN(40)
		src := func(b []byte) io.Reader { return &randomReader{r: bytes.NewReader(b), rng: rng} }

		wire, err := readWith(toNetASCII(src(data)), size)
		if err != nil || !bytes.Equal(wire, wantToNet(data)) {
			t.Fatalf("case %d: toNetASCII(%q) = %q, %v; want %q", i, data, wire, err, wantToNet(data))
		}
		stored, err := readWith(fromNetASCII(src(data)), size)
		if err != nil || !bytes.Equal(stored, wantFromNet(data)) {
			t.Fatalf("case %d: fromNetASCII(%q) = %q, %v; want %q", i, data, stored, err, wantFromNet(data))
		}
		// Text without CR survives a download and an upload.
		noCR := bytes.ReplaceAll(data, []byte("\r"), nil)
		back, err := readWith(fromNetASCII(toNetASCII(src(noCR))), size)
		if err != nil || !bytes.Equal(back, noCR) {
			t.Fatalf("case %d: round trip of %q gave %q, %v", i, noCR, back, err)
		}
	}
}
