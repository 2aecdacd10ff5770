package ftp

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/bucketftp/bucketftp/auth"
	"github.com/bucketftp/bucketftp/storage"
)

func (s *session) handleDELE(ctx context.Context, arg string) error {
	p, err := s.resolve(arg)
	if err != nil {
		return err
	}
	if err := s.acct.FS.Remove(ctx, p); err != nil {
		return s.wrongKind(ctx, p, err, false)
	}
	if err := s.emit(ctx, s.event(EventDeleted, p), "File deleted"); err != nil {
		return err
	}
	s.reply(codeFileActionOK, "File deleted.")
	return nil
}

func (s *session) handleRNFR(ctx context.Context, arg string) error {
	p, err := s.resolve(arg)
	if err != nil {
		return err
	}
	if !s.mayRename(p) {
		return errDenied
	}
	if p == "/" {
		return refuse(codeActionNotTaken, "Can't rename the home directory.")
	}
	if _, err := s.acct.FS.Stat(ctx, p); err != nil {
		return err
	}
	s.pend.rnfr = p
	s.reply(codePending, "Ready for RNTO.")
	return nil
}

// mayRename: the rename permission, or (for a drop box, write alone) a
// file this login has just uploaded, as the account's view tells (auth).
func (s *session) mayRename(p string) bool {
	if s.acct.PermsAt(p).Has(auth.PermRename) {
		return true
	}
	m, ok := s.acct.FS.(renameChecker)
	return ok && m.MayRename(p)
}

func (s *session) handleRNTO(ctx context.Context, arg string) error {
	if !s.acct.Perms.Has(auth.PermRename) && !s.acct.Perms.Has(auth.PermWrite) {
		return errDenied
	}
	from := s.took.rnfr
	if from == "" {
		return refuse(codeBadSequence, "RNFR required first.")
	}
	to, err := s.resolve(arg)
	if err != nil {
		return err
	}
	if to == "/" || strings.HasPrefix(to, from+"/") {
		return refuse(codeActionNotTaken, "Can't move a directory into itself.")
	}
	if err := s.needDir(ctx, path.Dir(to)); err != nil {
		return err
	}
	held := s.temp.isHeld(from) // published under to, with its upload event (tempname.go)
	if from != to {
		if err := s.acct.FS.Rename(ctx, from, to); err != nil {
			return err
		}
	}
	if s.cwd == from || strings.HasPrefix(s.cwd, from+"/") {
		s.cwd = to + strings.TrimPrefix(s.cwd, from)
	}
	if from != to && !held {
		if err := s.emit(ctx, s.renameEvent(from, to), "Renamed"); err != nil {
			return err
		}
	}
	s.reply(codeFileActionOK, "Rename successful.")
	return nil
}

// handleSIZE reports the size in bytes of a file (RFC 3659 4). In TYPE A
// the transfer size differs from the stored size and would need a full
// read, so SIZE is refused there, as ProFTPD does.
func (s *session) handleSIZE(ctx context.Context, arg string) error {
	p, e, err := s.statFile(ctx, arg)
	if p != "" && s.dropBoxAt(p) && (err != nil || !e.Partial || !s.acct.PermsAt(p).Has(auth.PermWrite)) {
		// A drop box is told the length of its interrupted uploads
		// only, and the same errHidden for every other name.
		return errHidden
	}
	if err != nil {
		return err
	}
	if s.convertsASCII() {
		return refuse(codeActionNotTaken, "SIZE not allowed in ASCII mode; use TYPE I.")
	}
	s.reply(codeFileStatus, itoa(e.Size))
	return nil
}

func (s *session) handleMDTM(ctx context.Context, arg string) error {
	_, e, err := s.statFile(ctx, arg)
	if err != nil {
		return err
	}
	if e.ModTime.IsZero() {
		return refuse(codeActionNotTaken, "Modification time not known.")
	}
	s.reply(codeFileStatus, formatMDTM(e.ModTime))
	return nil
}

// handleMFMT sets a file's modification time (draft-somers-ftp-mfxx).
func (s *session) handleMFMT(ctx context.Context, arg string) error {
	ts, name, ok := strings.Cut(arg, " ")
	t, err := parseMDTM(ts)
	if !ok || name == "" || err != nil {
		return refuse(codeArgSyntax, "Syntax: MFMT YYYYMMDDHHMMSS path.")
	}
	p, err := s.setModTime(ctx, name, t)
	if err != nil {
		return err
	}
	s.reply(codeFileStatus, "Modify="+formatMDTM(t)+"; "+p)
	return nil
}

// setModTime is MFMT's and SITE UTIME's work: it sets the time of the file
// name and returns its path.
func (s *session) setModTime(ctx context.Context, name string, t time.Time) (string, error) {
	if !s.acct.Perms.Has(auth.PermWrite) {
		return "", errDenied
	}
	setter, ok := storage.As[storage.ModTimeSetter](s.acct.FS)
	if !ok {
		return "", refuse(codeNotImplemented, "Setting modification times is not supported by this storage.")
	}
	p, e, err := s.statFile(ctx, name)
	if s.hidesLookup(p, e, err) {
		return "", errHidden
	}
	if err != nil {
		return "", err
	}
	return p, setter.SetModTime(ctx, p, t)
}

// handleAVBL reports the bytes the user may still store
// (draft-peterson-streamlined-ftp-command-extensions): what the quota has
// left. Without a quota the space is not known (550).
func (s *session) handleAVBL(ctx context.Context, arg string) error {
	if arg != "" {
		p, e, err := s.lookup(ctx, arg)
		if s.hidesLookup(p, e, err) {
			return errHidden
		}
		if err != nil {
			return err
		}
		if !e.IsDir {
			return refuse(codeActionNotTaken, "Not a directory.")
		}
	}
	left, limited, err := s.acct.QuotaRemaining(ctx)
	switch {
	case err != nil:
		return err
	case !limited:
		return refuse(codeActionNotTaken, "Available space is not known: no quota.")
	}
	s.reply(codeFileStatus, itoa(left))
	return nil
}

// errHidden is the one answer a drop box gets about a name it may not
// learn of, whether a file is there or not: the reply of any refused
// permission, so it tells nothing more.
var errHidden = errDenied

// hidesLookup reports whether what a look-up of p found (e, err) must be
// kept from the user: a drop box, which may neither list nor read, learns
// of directories (it may change into them and upload there), of its own
// interrupted uploads (their length, which curl -C - and lftp reput ask
// before resuming) and of files this login has just uploaded (clients
// time them after the upload: MFMT), and of nothing else: for every
// other name, a file or none, SIZE, MFMT, AVBL and CWD give the same
// errHidden, so they tell no file's existence (MDTM, MLST and STAT need
// the list permission). A user who may read (a pickup box without list)
// learns of a file by RETR anyway, so is told.
func (s *session) hidesLookup(p string, e storage.Entry, err error) bool {
	if !s.dropBoxAt(p) {
		return false
	}
	if err != nil {
		return !errors.Is(err, storage.ErrInvalidName) // a bad name tells nothing
	}
	if e.IsDir || (e.Partial && s.acct.PermsAt(p).Has(auth.PermWrite)) {
		return false
	}
	m, ok := s.acct.FS.(uploadChecker)
	return !ok || !m.Wrote(p)
}

// dropBoxAt: at p the user may neither list nor read (hidesLookup), what
// their other mounts allow aside.
func (s *session) dropBoxAt(p string) bool {
	perms := s.acct.PermsAt(p)
	return !perms.Has(auth.PermList) && !perms.Has(auth.PermRead)
}

// lookup resolves arg against the working directory and stats it.
func (s *session) lookup(ctx context.Context, arg string) (string, storage.Entry, error) {
	p, err := s.resolve(arg)
	if err != nil {
		return "", storage.Entry{}, err
	}
	e, err := s.acct.FS.Stat(ctx, p)
	return p, e, err
}

// statFile looks arg up as a file; a directory is refused with 550.
func (s *session) statFile(ctx context.Context, arg string) (string, storage.Entry, error) {
	p, e, err := s.lookup(ctx, arg)
	if err == nil && e.IsDir {
		err = refuse(codeActionNotTaken, "Not a regular file.")
	}
	return p, e, err
}
