package ftp

import (
	"context"
	"path"
	"strings"

	"github.com/bucketftp/bucketftp/storage"
)

func (s *session) handleDELE(ctx context.Context, arg string) error {
	p, err := resolvePath(s.cwd, arg)
	if err != nil {
		return err
	}
	if err := s.acct.FS.Remove(ctx, p); err != nil {
		return err
	}
	s.reply(codeFileActionOK, "File deleted.")
	return nil
}

func (s *session) handleRNFR(ctx context.Context, arg string) error {
	p, err := resolvePath(s.cwd, arg)
	if err != nil {
		return err
	}
	if p == "/" {
		s.reply(codeActionNotTaken, "Can't rename the home directory.")
		return nil
	}
	if _, err := s.acct.FS.Stat(ctx, p); err != nil {
		return err
	}
	s.rnfr = p
	s.reply(codePending, "Ready for RNTO.")
	return nil
}

func (s *session) handleRNTO(ctx context.Context, arg string) error {
	from := s.rnfrArg
	if from == "" {
		s.reply(codeBadSequence, "RNFR required first.")
		return nil
	}
	to, err := resolvePath(s.cwd, arg)
	if err != nil {
		return err
	}
	if to == "/" || strings.HasPrefix(to, from+"/") {
		s.reply(codeActionNotTaken, "Can't move a directory into itself.")
		return nil
	}
	if err := s.needDir(ctx, path.Dir(to)); err != nil {
		return err
	}
	if from != to {
		if err := s.acct.FS.Rename(ctx, from, to); err != nil {
			return err
		}
	}
	if s.cwd == from || strings.HasPrefix(s.cwd, from+"/") {
		s.cwd = to + strings.TrimPrefix(s.cwd, from)
	}
	s.reply(codeFileActionOK, "Rename successful.")
	return nil
}

// handleSIZE reports the size in bytes of a file (RFC 3659 4). In TYPE A
// the transfer size differs from the stored size and would need a full
// read, so SIZE is refused there, as ProFTPD does.
func (s *session) handleSIZE(ctx context.Context, arg string) error {
	e, err := s.statFile(ctx, arg)
	if err != nil || e == nil {
		return err
	}
	if !s.binary {
		s.reply(codeActionNotTaken, "SIZE not allowed in ASCII mode; use TYPE I.")
		return nil
	}
	s.reply(codeFileStatus, itoa(e.Size))
	return nil
}

func (s *session) handleMDTM(ctx context.Context, arg string) error {
	e, err := s.statFile(ctx, arg)
	if err != nil || e == nil {
		return err
	}
	if e.ModTime.IsZero() {
		s.reply(codeActionNotTaken, "Modification time not known.")
		return nil
	}
	s.reply(codeFileStatus, formatMDTM(e.ModTime))
	return nil
}

// handleMFMT sets a file's modification time (draft-somers-ftp-mfxx).
func (s *session) handleMFMT(ctx context.Context, arg string) error {
	ts, name, ok := strings.Cut(arg, " ")
	t, err := parseMDTM(ts)
	if !ok || name == "" || err != nil {
		s.reply(codeArgSyntax, "Syntax: MFMT YYYYMMDDHHMMSS path.")
		return nil
	}
	setter, ok := s.acct.FS.(storage.ModTimeSetter)
	if !ok || !storage.Has[storage.ModTimeSetter](s.acct.FS) {
		s.reply(codeNotImplemented, "MFMT not supported by this storage.")
		return nil
	}
	e, err := s.statFile(ctx, name)
	if err != nil || e == nil {
		return err
	}
	p, _ := resolvePath(s.cwd, name)
	if err := setter.SetModTime(ctx, p, t); err != nil {
		return err
	}
	s.reply(codeFileStatus, "Modify="+formatMDTM(t)+"; "+p)
	return nil
}

// statFile resolves arg and stats it, replying 550 itself (and returning a
// nil entry) when it is a directory.
func (s *session) statFile(ctx context.Context, arg string) (*storage.Entry, error) {
	p, err := resolvePath(s.cwd, arg)
	if err != nil {
		return nil, err
	}
	e, err := s.acct.FS.Stat(ctx, p)
	if err != nil {
		return nil, err
	}
	if e.IsDir {
		s.reply(codeActionNotTaken, "Not a regular file.")
		return nil, nil
	}
	return &e, nil
}
