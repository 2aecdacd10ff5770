package ftp

import (
	"bytes"
	"io"
)

// asciiBufSize is the read buffer of the TYPE A converters.
const asciiBufSize = 32 << 10

// toNetASCII converts stored text to TYPE A's wire form for RETR: every LF
// not already preceded by CR becomes CRLF; all other bytes pass unchanged.
// A CR ending one read and an LF starting the next count as a CRLF.
func toNetASCII(r io.Reader) io.Reader {
	return &toNetASCIIReader{src: asciiSource{r: r}}
}

type toNetASCIIReader struct {
	src    asciiSource
	prevCR bool // the last byte taken from src was a CR
	owedLF bool // the CR of an inserted CRLF went out; its LF did not fit
}

func (a *toNetASCIIReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if a.owedLF {
			p[n] = '\n'
			n++
			a.owedLF = false
			continue
		}
		in, err := a.src.fill(n > 0)
		if len(in) == 0 {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if in[0] == '\n' {
			a.src.advance(1)
			if a.prevCR {
				p[n] = '\n'
				n++
			} else {
				p[n] = '\r'
				n++
				a.owedLF = true
			}
			a.prevCR = false
			continue
		}
		// Copy up to the next LF.
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			in = in[:i]
		}
		k := copy(p[n:], in)
		a.src.advance(k)
		n += k
		a.prevCR = in[k-1] == '\r'
	}
	return n, nil
}

// fromNetASCII converts TYPE A wire data to stored text for STOR: CRLF
// becomes LF; a CR followed by anything else, or ending the data, is kept.
// A CR ending one read is held until the next byte is known.
func fromNetASCII(r io.Reader) io.Reader {
	return &fromNetASCIIReader{src: asciiSource{r: r}}
}

type fromNetASCIIReader struct {
	src    asciiSource
	heldCR bool // a CR whose next byte has not been seen yet
}

func (a *fromNetASCIIReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		in, err := a.src.fill(n > 0)
		if len(in) == 0 {
			if err == nil {
				break // n > 0, or the source returned 0, nil
			}
			if a.heldCR { // CR at the end of the data
				p[n] = '\r'
				n++
				a.heldCR = false
				continue
			}
			if n > 0 {
				break
			}
			return 0, err
		}
		if a.heldCR {
			a.heldCR = false
			if in[0] == '\n' {
				a.src.advance(1)
				p[n] = '\n'
			} else {
				p[n] = '\r' // a lone CR; in[0] is looked at next time round
			}
			n++
			continue
		}
		if in[0] == '\r' {
			a.src.advance(1)
			a.heldCR = true
			continue
		}
		// Copy up to the next CR.
		if i := bytes.IndexByte(in, '\r'); i >= 0 {
			in = in[:i]
		}
		k := copy(p[n:], in)
		a.src.advance(k)
		n += k
	}
	return n, nil
}

// asciiSource buffers the reader under a converter.
type asciiSource struct {
	r        io.Reader
	buf      []byte
	pos, end int
	err      error // sticky: the error that ended r
}

// fill returns the buffered bytes, reading once more when there are none
// and haveSome is false (a converter that already has output returns it
// rather than block). An empty result comes with src's error, or with nil
// when haveSome is true or r returned no bytes and no error.
func (s *asciiSource) fill(haveSome bool) ([]byte, error) {
	if s.pos == s.end && s.err == nil && !haveSome {
		if s.buf == nil {
			s.buf = make([]byte, asciiBufSize)
		}
		n, err := s.r.Read(s.buf)
		s.pos, s.end, s.err = 0, n, err
	}
	return s.buf[s.pos:s.end], s.err
}

func (s *asciiSource) advance(n int) { s.pos += n }
