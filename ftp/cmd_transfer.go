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

// needData refuses a transfer command that no PASV/EPSV/PORT/EPRT
// prepared a data connection for (425), or whose data connection would be
// clear when encrypted ones are required (521). The dispatcher checks it
// for every transfer command, before the handler.
func (s *session) needData() error {
	if s.srv.cfg.RequireDataTLS && !s.protP {
		return refuse(codeDataProtection, "Data connections must be encrypted: use PBSZ 0 and PROT P.")
	}
	if s.data == nil {
		return refuse(codeCantOpenData, "Use PORT, EPRT, PASV or EPSV first.")
	}
	return nil
}

// prepare resolves a transfer command's path and takes the prepared data
// connection for it. A handler that returns without running the transfer
// leaves it to the dispatcher to give the data connection up.
func (s *session) prepare(ctx context.Context, verb, arg string) (*transfer, error) {
	p, err := s.resolve(arg)
	if err != nil {
		return nil, err
	}
	return s.newTransfer(ctx, verb, p), nil
}

func (s *session) handleRETR(ctx context.Context, arg string) error {
	off := s.took.rest
	if off > 0 && s.convertsASCII() {
		return errRestASCII
	}
	x, err := s.prepare(ctx, "RETR", arg)
	if err != nil {
		return err
	}
	p := x.path
	e, err := s.acct.FS.Stat(x.ctx, p)
	switch {
	case err != nil:
		return err
	case e.IsDir:
		return refuse(codeActionNotTaken, "Not a regular file.")
	case off > e.Size:
		return refuse(codeInvalidRest, "Restart offset "+itoa(off)+" is beyond the file size "+itoa(e.Size)+".")
	}
	rc, err := s.acct.FS.Open(x.ctx, p, off)
	if err != nil {
		return err
	}
	x.preText = "Opening " + s.typeName() + " mode data connection for " + path.Base(p) + " (" + itoa(e.Size-off) + " bytes)."
	binary := s.binary || s.asciiRaw
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
	return s.store(ctx, "STOR", arg, s.took.rest, false)
}

// handleAPPE appends to the file; after REST n it writes from offset n, as
// STOR does (the resume some clients send as REST + APPE).
func (s *session) handleAPPE(ctx context.Context, arg string) error {
	if off := s.took.rest; off > 0 {
		return s.store(ctx, "APPE", arg, off, false)
	}
	return s.store(ctx, "APPE", arg, 0, true)
}

// handleSTOU stores under a name the server makes up, reported in the 150
// reply as RFC 1123 4.1.2.9 asks ("150 FILE: name").
func (s *session) handleSTOU(ctx context.Context, arg string) error {
	for range 10 {
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := "stou-" + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
		if _, _, err := s.lookup(ctx, name); err == nil {
			continue
		}
		return s.store(ctx, "STOU", name, 0, false)
	}
	return refuse(codeActionNotTaken, "Could not make a unique name.")
}

// store runs STOR, STOU and APPE. The backend pulls the upload through
// lazyData, which opens the data connection and sends 150 on the first
// read, so a refusal before any data (permission, quota, bad name) is a
// plain 5xx with no data connection.
func (s *session) store(ctx context.Context, verb, arg string, off int64, appendMode bool) error {
	if off > 0 && s.convertsASCII() {
		return errRestASCII
	}
	x, err := s.prepare(ctx, verb, arg)
	if err != nil {
		return err
	}
	p := x.path
	if err := s.needDir(x.ctx, path.Dir(p)); err != nil {
		return err
	}
	if !appendMode && off == 0 {
		// A plain STOR: the store itself refuses a directory in the way
		// (ErrExist, 550) before reading any data.
		return s.startStore(x, verb, p, 0, false)
	}
	e, err := s.acct.FS.Stat(x.ctx, p)
	exists := err == nil
	if s.hidesLookup(p, e, err) && !appendMode {
		// A drop box's REST n + STOR of a name it may not know of: one
		// answer whether a file is there or not, and whatever n, the
		// file's exact size too, so that the offset cannot find it out
		// (n by n). Its own uploads, interrupted or just made, it may
		// resume; APPE adds to any file without telling its size.
		return errHidden
	}
	switch {
	case err != nil && !isNotFound(err):
		return err
	case exists && e.IsDir:
		return refuse(codeActionNotTaken, "Is a directory.")
	case appendMode && exists:
		off = e.Size
	case off > 0 && (!exists || off > e.Size):
		return refuse(codeInvalidRest, "Restart offset "+itoa(off)+" is beyond the file size.")
	}
	return s.startStore(x, verb, p, off, appendMode || off > 0)
}

// refusedWhileSending: an upload the store or the quota refused for good
// (not a failure of the connection or the store), which its client may
// still be sending.
func refusedWhileSending(err error) bool {
	return errors.Is(err, storage.ErrQuota) || errors.Is(err, storage.ErrWouldReplace) || errors.Is(err, storage.ErrPermission)
}

// startStore runs the upload in the background.
func (s *session) startStore(x *transfer, verb, p string, off int64, useAppend bool) error {
	var appender storage.Appender
	if useAppend {
		a, ok := storage.As[storage.Appender](s.acct.FS)
		if !ok {
			return refuse(codeNotImplemented, verb+" at an offset is not supported by this storage.")
		}
		appender = a
	}
	x.preText = "Ok to send data."
	if verb == "STOU" {
		x.preText = "FILE: " + path.Base(p)
		x.okText = "Transfer complete (unique file name: " + path.Base(p) + ")."
	}
	binary := s.binary || s.asciiRaw
	s.run(x, func(x *transfer) error {
		var uctx context.Context
		uctx, x.up = s.uploadCtx(x.ctx)
		lr := &lazyData{s: s, x: x}
		uctx = storage.WithEndCheck(uctx, lr.confirmEnd)
		var src io.Reader = lr
		if !binary {
			src = fromNetASCII(lr)
		}
		var n int64
		var err error
		if useAppend {
			n, err = appender.Append(uctx, p, off, src)
		} else {
			n, err = s.acct.FS.Put(uctx, p, src, -1)
		}
		x.size = off + n
		if refusedWhileSending(err) {
			lr.drain()
		}
		if err != nil && lr.err != nil {
			return lr.err // the data connection failed first; report that, not the backend's wrapping of it
		}
		if err != nil && x.ctx.Err() != nil {
			return errAborted
		}
		if errors.Is(err, storage.ErrWouldReplace) {
			// The store refused to replace the file in the request that
			// carried the data (If-None-Match), so after the 150: still
			// the refusal it is before one.
			return errDenied
		}
		if err != nil {
			return err
		}
		return s.uploadedOrHeld(x) // tempname.go
	})
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

// handleABOR aborts the running transfer (426 for it, then 226). With none
// running there is nothing to abort, but a prepared data connection is
// closed (RFC 959: 225).
func (s *session) handleABOR(ctx context.Context, arg string) error {
	if s.xfer != nil {
		s.finishTransfer(ctx, s.abortTransfer(true))
		s.reply(codeTransferComplete, "ABOR successful.")
		return nil
	}
	s.closeData()
	s.reply(codeNoTransfer, "No transfer to abort.")
	return nil
}
