package ftp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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
	flags, rest := splitListOptions(arg)
	return s.list(ctx, "LIST", rest, styleLIST, strings.Contains(flags, "R"))
}

func (s *session) handleNLST(ctx context.Context, arg string) error {
	return s.list(ctx, "NLST", stripListOptions(arg), styleNLST, false)
}

func (s *session) handleMLSD(ctx context.Context, arg string) error {
	return s.list(ctx, "MLSD", arg, styleMLSD, false)
}

// stripListOptions drops ls-style flags ("-la", "-al dir") that clients
// send with LIST and NLST.
func stripListOptions(arg string) string {
	_, rest := splitListOptions(arg)
	return rest
}

// splitListOptions splits the ls-style flags at the start of arg ("-lR",
// "-a -R dir"), run together, from the rest.
func splitListOptions(arg string) (flags, rest string) {
	for strings.HasPrefix(arg, "-") {
		opt, after, _ := strings.Cut(arg, " ")
		flags += opt[1:]
		arg = strings.TrimLeft(after, " ")
	}
	return flags, arg
}

// list streams a directory listing over the data connection. The first
// page is fetched before 150, so a missing directory or a refused listing
// is a plain 550; later pages stream as they come, so memory stays flat
// whatever the size of the directory. With tree (LIST -R), a directory is
// listed with its subdirectories (writeTree).
func (s *session) list(ctx context.Context, verb, arg string, style listStyle, tree bool) error {
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
	if tree {
		root, err := prefetch(s.acct.FS.List(x.ctx, p), nil)
		if err != nil {
			return err
		}
		s.run(x, func(x *transfer) error {
			return s.writeTree(x, arg, root)
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
	entries, err := prefetch(list, whenEmpty)
	if err != nil {
		return err
	}
	s.run(x, func(x *transfer) error {
		return s.writeListing(x, style, prefix, dir, entries)
	})
	return nil
}

// prefetch takes the first entry of list now, so its failure (or an empty
// listing, with whenEmpty not nil) is returned here, and gives back the
// whole listing to range over once. A listing that is not ranged over
// must still be released, by ranging over it and breaking at once.
func prefetch(list iter.Seq2[storage.Entry, error], whenEmpty error) (iter.Seq2[storage.Entry, error], error) {
	next, stop := iter.Pull2(list)
	first, ferr, more := next()
	if more && ferr != nil {
		stop()
		return nil, ferr
	}
	if !more && whenEmpty != nil {
		stop()
		return nil, whenEmpty
	}
	return func(yield func(storage.Entry, error) bool) {
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
	}, nil
}

func (s *session) writeListing(x *transfer, style listStyle, prefix, dir string, entries iter.Seq2[storage.Entry, error]) error {
	return s.sendListing(x, entries, func(w *bufio.Writer) error {
		if style == styleMLSD {
			self, err := s.acct.FS.Stat(x.ctx, dir)
			if err == nil {
				self.Name = "."
				w.WriteString(mlsxLine(self, "cdir", s.facts, s.acct.PermsAt(dir)) + "\r\n")
			}
		}
		return s.writeEntries(w, style, prefix, dir, entries, nil)
	})
}

// sendListing opens x's data connection, has write fill a buffered writer
// over it, then flushes and closes it. entries, the listing write ranges
// over, is released if the connection does not open.
func (s *session) sendListing(x *transfer, entries iter.Seq2[storage.Entry, error], write func(w *bufio.Writer) error) error {
	c, err := s.open(x)
	if err != nil {
		for range entries { // release the listing
			break
		}
		return err
	}
	w := bufio.NewWriterSize(&countingWriter{w: c, n: &x.bytes}, 64<<10)
	if err := write(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return &dataConnError{err: err}
	}
	return c.Close()
}

// writeEntries writes one line per listable entry. With wrote not nil,
// it is told of each entry written, with its name as stored.
func (s *session) writeEntries(w *bufio.Writer, style listStyle, prefix, dir string, entries iter.Seq2[storage.Entry, error], wrote func(e storage.Entry, name string)) error {
	now := time.Now()
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
		stored := e.Name
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
			line = mlsxLine(e, typ, s.facts, s.acct.PermsAt(path.Join(dir, e.Name)))
		}
		if _, err := w.WriteString(line + "\r\n"); err != nil {
			return &dataConnError{err: err}
		}
		if wrote != nil {
			wrote(e, stored)
		}
	}
	return nil
}

// writeTree answers LIST -R as ProFTPD does: the directory's entries,
// then for each subdirectory, depth first, a blank line, its path relative
// to the argument as given ("sub/deeper:") and its entries. A file or a
// wildcard is listed as by plain LIST. As the walk costs a listing
// request per directory, it stops after Config.ListTreeMax entries,
// saying so in the 226; a subdirectory that cannot be listed
// (gone since, or refused) is left out, and a link to a directory is
// listed but not entered, as ls -R does.
func (s *session) writeTree(x *transfer, arg string, root iter.Seq2[storage.Entry, error]) error {
	return s.sendListing(x, root, func(w *bufio.Writer) error { return s.walkTree(w, x, arg, root) })
}

// walkTree writes writeTree's listing to w.
func (s *session) walkTree(w *bufio.Writer, x *transfer, arg string, root iter.Seq2[storage.Entry, error]) error {
	type dir struct{ path, shown string }
	var stack []dir // directories still to list, the next one last
	lines, treeMax, cut := 0, s.srv.cfg.ListTreeMax, false
	// walk writes one directory's entries, after header if not empty, and
	// queues its subdirectories in order.
	walk := func(d dir, header string, entries iter.Seq2[storage.Entry, error]) error {
		var subs []dir
		err := s.writeEntries(w, styleLIST, "", d.path, func(yield func(storage.Entry, error) bool) {
			for e, err := range entries {
				if err == nil && lines >= treeMax {
					cut = true
					return
				}
				w.WriteString(header)
				header = ""
				if !yield(e, err) {
					return
				}
			}
		}, func(e storage.Entry, name string) {
			lines++
			if !e.IsDir || e.Link {
				return
			}
			shown := name // the header as ProFTPD shows it: "sub", "./sub", "/sub"
			switch {
			case d.shown == "":
			case strings.HasSuffix(d.shown, "/"):
				shown = d.shown + name
			default:
				shown = d.shown + "/" + name
			}
			subs = append(subs, dir{path.Join(d.path, name), shown})
		})
		if err != nil {
			return err
		}
		if !cut {
			w.WriteString(header) // an empty directory
		}
		for i := len(subs) - 1; i >= 0; i-- {
			stack = append(stack, subs[i])
		}
		return nil
	}
	shown := arg
	if len(shown) > 1 {
		shown = strings.TrimSuffix(shown, "/")
	}
	if err := walk(dir{x.path, shown}, "", root); err != nil {
		return err
	}
	for len(stack) > 0 && !cut {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		entries, err := prefetch(s.acct.FS.List(x.ctx, d.path), nil)
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrPermission) {
			continue
		}
		if err != nil {
			return err
		}
		if err := walk(d, "\r\n"+s.names.EncodeLossy(d.shown)+":\r\n", entries); err != nil {
			return err
		}
	}
	if cut {
		x.okText = fmt.Sprintf("Transfer complete; the recursive listing stopped at %d entries.", treeMax)
	}
	return nil
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
	s.reply(codeFileActionOK, "Listing "+p+"\n"+mlsxLine(e, typ, s.facts, s.acct.PermsAt(p))+"\nEnd")
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
