package ftp

import (
	"context"
	"path"
	"strings"

	"github.com/bucketftp/bucketftp/storage"
)

func (s *session) handleCWD(ctx context.Context, arg string) error {
	return s.chdir(ctx, arg)
}

// handleCDUP replies 250: RFC 959 4.1.1 says CDUP's reply codes are those
// of CWD (its table in 5.4 lists 200, but clients such as jlaffaye/ftp
// accept only 250, as vsftpd and ProFTPD send).
func (s *session) handleCDUP(ctx context.Context, arg string) error {
	return s.chdir(ctx, "..")
}

func (s *session) chdir(ctx context.Context, arg string) error {
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
	s.cwd = p
	s.reply(codeFileActionOK, "Directory changed to "+quotePath(p)+".")
	return nil
}

func (s *session) handlePWD(ctx context.Context, arg string) error {
	s.reply(codePathCreated, quotePath(s.cwd)+" is the current directory.")
	return nil
}

func (s *session) handleMKD(ctx context.Context, arg string) error {
	p, err := s.resolve(arg)
	if err != nil {
		return err
	}
	if err := s.needDir(ctx, path.Dir(p)); err != nil {
		return err
	}
	if err := s.acct.FS.Mkdir(ctx, p); err != nil {
		return err
	}
	if err := s.emit(ctx, s.event(EventDirCreated, p), "Directory created"); err != nil {
		return err
	}
	s.reply(codePathCreated, quotePath(p)+" created.")
	return nil
}

func (s *session) handleRMD(ctx context.Context, arg string) error {
	p, err := s.resolve(arg)
	if err != nil {
		return err
	}
	if p == "/" {
		return refuse(codeActionNotTaken, "Can't remove the home directory.")
	}
	if err := s.acct.FS.Rmdir(ctx, p); err != nil {
		return s.wrongKind(ctx, p, err, true)
	}
	if s.cwd == p || strings.HasPrefix(s.cwd, p+"/") {
		s.cwd = path.Dir(p)
	}
	if err := s.emit(ctx, s.event(EventDirRemoved, p), "Directory removed"); err != nil {
		return err
	}
	s.reply(codeFileActionOK, "Directory removed.")
	return nil
}

// wrongKind gives a DELE (dir false) or RMD (dir true) that the store
// answered "not found" the true reason when the path is there as the
// other kind: the stores report a directory to DELE, and a file to RMD,
// as not found.
func (s *session) wrongKind(ctx context.Context, p string, err error, dir bool) error {
	if !isNotFound(err) {
		return err
	}
	e, serr := s.acct.FS.Stat(ctx, p)
	switch {
	case serr != nil || e.IsDir == dir:
		return err
	case e.IsDir:
		return refuse(codeActionNotTaken, "Is a directory; use RMD.")
	default:
		return refuse(codeActionNotTaken, "Not a directory; use DELE.")
	}
}

// needDir checks that dir exists and is a directory, so an upload or MKD
// into a missing directory fails alike on every backend (S3 would
// otherwise create it implicitly).
func (s *session) needDir(ctx context.Context, dir string) error {
	if dir == "/" {
		return nil // the user's home, made at login: save the store a lookup per upload
	}
	e, err := s.acct.FS.Stat(ctx, dir)
	if err != nil {
		return err
	}
	if !e.IsDir {
		return storage.E("stat", dir, storage.ErrNotFound, nil)
	}
	return nil
}
