package ftp

import (
	"bufio"
	"context"
	"iter"
	"path"
	"strings"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// listStyle is how a directory listing prints each entry.
type listStyle int

const (
	styleLIST listStyle = iota // ls -l lines
	styleNLST                  // names only
	styleMLSD                  // RFC 3659 fact lines
)

func (s *session) handleLIST(ctx context.Context, arg string) error {
	return s.list(ctx, "LIST", stripListOptions(arg), styleLIST)
}

func (s *session) handleNLST(ctx context.Context, arg string) error {
	return s.list(ctx, "NLST", stripListOptions(arg), styleNLST)
}

func (s *session) handleMLSD(ctx context.Context, arg string) error {
	return s.list(ctx, "MLSD", arg, styleMLSD)
}

// stripListOptions drops ls-style flags ("-la", "-al dir") that clients
// send with LIST and NLST.
func stripListOptions(arg string) string {
	for strings.HasPrefix(arg, "-") {
		_, rest, _ := strings.Cut(arg, " ")
		arg = strings.TrimLeft(rest, " ")
	}
	return arg
}

// list streams a directory listing over the data connection. The first
// page is fetched before 150, so a missing directory or a refused listing
// is a plain 550; later pages stream as they come, so memory stays flat
// whatever the size of the directory.
func (s *session) list(ctx context.Context, verb, arg string, style listStyle) error {
	x, err := s.prepare(ctx, verb, arg)
	if err != nil {
		return err
	}
	p := x.path
	e, err := s.acct.FS.Stat(x.ctx, p)
	if err != nil {
		dir, pattern, ok := globTarget(p)
		if !isNotFound(err) || style == styleMLSD || !ok {
			return err
		}
		// As ProFTPD: NLST of a pattern matching nothing is 450 (mget
		// reports it), LIST an empty listing.
		var whenEmpty error
		if style == styleNLST {
			whenEmpty = errNoMatch
		}
		return s.startListing(x, style, argDir(arg), dir, matching(x.ctx, s.acct.FS, dir, pattern), whenEmpty)
	}
	if !e.IsDir {
		if style == styleMLSD {
			return refuse(codeActionNotTaken, "Not a directory; use MLST for a file.")
		}
		e.Name = path.Base(p)
		if style == styleNLST {
			e.Name = arg
		}
		s.run(x, func(x *transfer) error {
			return s.writeListing(x, style, "", p, func(yield func(storage.Entry, error) bool) { yield(e, nil) })
		})
		return nil
	}
	prefix := ""
	if style == styleNLST && arg != "" {
		prefix = strings.TrimSuffix(arg, "/") + "/"
	}
	return s.startListing(x, style, prefix, p, s.acct.FS.List(x.ctx, p), nil)
}

// errNoMatch is a wildcard that matched nothing.
var errNoMatch = refuse(codeFileUnavailable, "No files found.")

// startListing fetches the first entry of a listing before 150, so a
// failure is a plain reply; whenEmpty, if not nil, refuses an empty one.
// The rest streams in the transfer.
func (s *session) startListing(x *transfer, style listStyle, prefix, dir string, list iter.Seq2[storage.Entry, error], whenEmpty error) error {
	next, stop := iter.Pull2(list)
	first, ferr, more := next()
	if more && ferr != nil {
		stop()
		return ferr
	}
	if !more && whenEmpty != nil {
		stop()
		return whenEmpty
	}
	entries := func(yield func(storage.Entry, error) bool) {
		defer stop()
		if !more || !yield(first, nil) {
			return
		}
		for {
			e, err, ok := next()
			if !ok || !yield(e, err) {
				return
			}
		}
	}
	s.run(x, func(x *transfer) error {
		return s.writeListing(x, style, prefix, dir, entries)
	})
	return nil
}

func (s *session) writeListing(x *transfer, style listStyle, prefix, dir string, entries iter.Seq2[storage.Entry, error]) error {
	c, err := s.open(x)
	if err != nil {
		for range entries { // release the listing
			break
		}
		return err
	}
	w := bufio.NewWriterSize(&countingWriter{w: c, n: &x.bytes}, 64<<10)
	now := time.Now()
	perms := s.acct.Perms
	if style == styleMLSD {
		self, err := s.acct.FS.Stat(x.ctx, dir)
		if err == nil {
			self.Name = "."
			w.WriteString(mlsxLine(self, "cdir", s.facts, perms) + "\r\n")
		}
	}
	names := s.names
	left := 0
	defer func() {
		if left > 0 {
			s.log.Info("names left out of a listing: not representable in the client's character set",
				"dir", dir, "charset", names.Name(), "count", left)
		}
	}()
	for e, err := range entries {
		if err != nil {
			return err
		}
		if !listable(e.Name) {
			continue
		}
		name, err := names.Encode(e.Name)
		if err != nil {
			left++
			continue
		}
		e.Name = name
		var line string
		switch style {
		case styleLIST:
			line = lsLine(e, now)
		case styleNLST:
			line = names.EncodeLossy(prefix) + e.Name
		case styleMLSD:
			typ := "file"
			if e.IsDir {
				typ = "dir"
			}
			line = mlsxLine(e, typ, s.facts, perms)
		}
		if _, err := w.WriteString(line + "\r\n"); err != nil {
			return &dataConnError{err: err}
		}
	}
	if err := w.Flush(); err != nil {
		return &dataConnError{err: err}
	}
	return c.Close()
}

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n *countingInt
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// handleMLST describes one file or directory on the control connection
// (RFC 3659 7).
func (s *session) handleMLST(ctx context.Context, arg string) error {
	p, e, err := s.lookup(ctx, arg)
	if err != nil {
		return err
	}
	e.Name = p
	typ := "file"
	if e.IsDir {
		typ = "dir"
	}
	s.reply(codeFileActionOK, "Listing "+p+"\n"+mlsxLine(e, typ, s.facts, s.acct.Perms)+"\nEnd")
	return nil
}

// handleSTAT: without an argument, the server status (211); with a path, a
// directory listing on the control connection (212) or a file's line (213).
func (s *session) handleSTAT(ctx context.Context, arg string) error {
	if arg == "" || s.xfer != nil {
		s.reply(codeSystemStatus, s.statusText())
		return nil
	}
	p, e, err := s.lookup(ctx, stripListOptions(arg))
	entries := s.acct.FS.List(ctx, p)
	if err != nil {
		dir, pattern, ok := globTarget(p)
		if !isNotFound(err) || !ok {
			return err
		}
		entries = matching(ctx, s.acct.FS, dir, pattern)
	} else if !e.IsDir {
		e.Name = path.Base(p)
		s.reply(codeFileStatus, "Status of "+p+":\n"+lsLine(e, time.Now())+"\nEnd of status")
		return nil
	}
	now := time.Now()
	lines := []string{"Status of " + p + ":"}
	const maxLines = 10000 // the control connection is no place for a huge listing
	for e, err := range entries {
		if err != nil {
			return err
		}
		if !listable(e.Name) {
			continue
		}
		if _, err := s.names.Encode(e.Name); err != nil {
			continue // would be sent as '?', which no later command could use
		}
		if len(lines) > maxLines {
			lines = append(lines, "... listing cut at 10000 entries; use LIST")
			break
		}
		lines = append(lines, lsLine(e, now))
	}
	s.reply(codeDirStatus, joinLines(append(lines, "End of status")...))
	return nil
}
