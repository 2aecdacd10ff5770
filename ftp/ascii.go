package ftp

import (
	"bufio"
	"io"
)

// toNetASCII converts stored text to the wire form of TYPE A for RETR:
// each LF not already preceded by CR becomes CRLF.
func toNetASCII(r io.Reader) io.Reader {
	return &netASCIIWriterSide{r: bufio.NewReaderSize(r, 64<<10)}
}

type netASCIIWriterSide struct {
	r       *bufio.Reader
	prevCR  bool
	pending bool // an LF still owed after a CR we already emitted
}

func (a *netASCIIWriterSide) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if a.pending {
			p[n] = '\n'
			n++
			a.pending = false
			a.prevCR = false
			continue
		}
		c, err := a.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c == '\n' && !a.prevCR {
			p[n] = '\r'
			n++
			a.pending = true
			continue
		}
		p[n] = c
		n++
		a.prevCR = c == '\r'
	}
	return n, nil
}

// fromNetASCII converts TYPE A wire data to stored text for STOR: CRLF
// becomes LF; a CR not followed by LF is kept.
func fromNetASCII(r io.Reader) io.Reader {
	return &netASCIIReaderSide{r: bufio.NewReaderSize(r, 64<<10)}
}

type netASCIIReaderSide struct {
	r      *bufio.Reader
	heldCR bool
	err    error
}

func (a *netASCIIReaderSide) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if a.err != nil {
			if a.heldCR {
				p[n] = '\r'
				n++
				a.heldCR = false
				continue
			}
			break
		}
		c, err := a.r.ReadByte()
		if err != nil {
			a.err = err
			continue
		}
		if a.heldCR {
			a.heldCR = false
			if c == '\n' {
				p[n] = '\n'
				n++
				continue
			}
			p[n] = '\r'
			n++
			if n == len(p) {
				_ = a.r.UnreadByte()
				return n, nil
			}
		}
		if c == '\r' {
			a.heldCR = true
			continue
		}
		p[n] = c
		n++
	}
	if n == 0 && a.err != nil {
		return 0, a.err
	}
	return n, nil
}
