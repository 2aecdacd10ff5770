package ftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"path"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// needData replies 425 when no PASV/EPSV/PORT/EPRT prepared a data
// connection; transfers check it before anything else.
func (s *session) needData() bool {
	if s.srv.cfg.RequireDataTLS && !s.protP {
		s.closeData()
		s.reply(codeDataProtection, "Data connections must be encrypted: use PBSZ 0 and PROT P.")
		return false
	}
	if s.data == nil {
		s.reply(codeCantOpenData, "Use PORT, EPRT, PASV or EPSV first.")
		return false
	}
	return true
}

// takeRest returns the REST offset and clears it: it applies to one transfer.
func (s *session) takeRest() int64 {
	n := s.rest
	s.rest = 0
	return n
}

func (s *session) handleRETR(ctx context.Context, arg string) error {
	off := s.takeRest()
	if !s.needData() {
		return nil
	}
	p, err := resolvePath(s.cwd, arg)
	if err != nil {
		s.closeData()
		return err
	}
	x := s.newTransfer(ctx, "RETR", p)
	e, err := s.acct.FS.Stat(x.ctx, p)
	switch {
	case err != nil:
		x.discard()
		return err
	case e.IsDir:
		x.discard()
		s.reply(codeActionNotTaken, "Not a regular file.")
		return nil
	case off > e.Size:
		x.discard()
		s.reply(codeInvalidRest, "Restart offset "+itoa(off)+" is beyond the file size "+itoa(e.Size)+".")
		return nil
	}
	rc, err := s.acct.FS.Open(x.ctx, p, off)
	if err != nil {
		x.discard()
		return err
	}
	x.preText = "Opening " + s.typeName() + " mode data connection for " + path.Base(p) + " (" + itoa(e.Size-off) + " bytes)."
	binary := s.binary
	s.run(x, func(x *transfer) error {
		defer rc.Close()
		c, err := s.open(x)
		if err != nil {
			return err
		}
		var src io.Reader = rc
		if !binary {
			src = toNetASCII(rc)
		}
		if err := copyData(c, src, &x.bytes, true); err != nil {
			return err
		}
		return c.Close()
	})
	return nil
}

func (s *session) typeName() string {
	if s.binary {
		return "BINARY"
	}
	return "ASCII"
}

func (s *session) handleSTOR(ctx context.Context, arg string) error {
	return s.store(ctx, "STOR", arg, s.takeRest(), false)
}

// handleAPPE appends to the file; after REST n it writes from offset n, as
// STOR does (the resume some clients send as REST + APPE).
func (s *session) handleAPPE(ctx context.Context, arg string) error {
	if off := s.takeRest(); off > 0 {
		return s.store(ctx, "APPE", arg, off, false)
	}
	return s.store(ctx, "APPE", arg, 0, true)
}

// handleSTOU stores under a name the server makes up, reported in the 150
// reply as RFC 1123 4.1.2.9 asks ("150 FILE: name").
func (s *session) handleSTOU(ctx context.Context, arg string) error {
	s.takeRest()
	if !s.needData() {
		return nil
	}
	for range 10 {
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := "stou-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
		p, err := resolvePath(s.cwd, name)
		if err != nil {
			s.closeData()
			return err
		}
		if _, err := s.acct.FS.Stat(ctx, p); err == nil {
			continue
		}
		return s.store(ctx, "STOU", name, 0, false)
	}
	s.closeData()
	s.reply(codeActionNotTaken, "Could not make a unique name.")
	return nil
}

// store runs STOR, STOU and APPE. The backend pulls the upload through
// lazyData, which opens the data connection and sends 150 on the first
// read, so a refusal before any data (permission, quota, bad name) is a
// plain 5xx with no data connection.
func (s *session) store(ctx context.Context, verb, arg string, off int64, appendMode bool) error {
	if !s.needData() {
		return nil
	}
	p, err := resolvePath(s.cwd, arg)
	if err != nil {
		s.closeData()
		return err
	}
	x := s.newTransfer(ctx, verb, p)
	if err := s.needDir(x.ctx, path.Dir(p)); err != nil {
		x.discard()
		return err
	}
	if !appendMode && off == 0 {
		// A plain STOR: the store itself refuses a directory in the way
		// (ErrExist, 550) before reading any data.
		return s.startStore(x, verb, p, 0, false)
	}
	e, err := s.acct.FS.Stat(x.ctx, p)
	exists := err == nil
	switch {
	case err != nil && !isNotFound(err):
		x.discard()
		return err
	case exists && e.IsDir:
		x.discard()
		s.reply(codeActionNotTaken, "Is a directory.")
		return nil
	case appendMode && exists:
		off = e.Size
	case off > 0 && (!exists || off > e.Size):
		x.discard()
		s.reply(codeInvalidRest, "Restart offset "+itoa(off)+" is beyond the file size.")
		return nil
	}
	return s.startStore(x, verb, p, off, appendMode || off > 0)
}

// startStore runs the upload in the background.
func (s *session) startStore(x *transfer, verb, p string, off int64, useAppend bool) error {
	var appender storage.Appender
	if useAppend {
		a, ok := s.acct.FS.(storage.Appender)
		if !ok || !storage.Has[storage.Appender](s.acct.FS) {
			x.discard()
			s.reply(codeNotImplemented, verb+" at an offset is not supported by this storage.")
			return nil
		}
		appender = a
	}
	x.preText = "Ok to send data."
	if verb == "STOU" {
		x.preText = "FILE: " + path.Base(p)
		x.okText = "Transfer complete (unique file name: " + path.Base(p) + ")."
	}
	binary := s.binary
	s.run(x, func(x *transfer) error {
		lr := &lazyData{s: s, x: x}
		var src io.Reader = lr
		if !binary {
			src = fromNetASCII(lr)
		}
		var err error
		if useAppend {
			_, err = appender.Append(x.ctx, p, off, src)
		} else {
			_, err = s.acct.FS.Put(x.ctx, p, src, -1)
		}
		if err != nil && lr.err != nil {
			return lr.err // the data connection failed first; report that, not the backend's wrapping of it
		}
		if err != nil && x.ctx.Err() != nil {
			return errAborted
		}
		return err
	})
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

// handleABOR with no transfer running: nothing to abort, but a prepared
// data connection is closed (RFC 959: 225).
func (s *session) handleABOR(ctx context.Context, arg string) error {
	s.closeData()
	s.reply(codeNoTransfer, "No transfer to abort.")
	return nil
}
