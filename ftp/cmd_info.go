package ftp

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

func (s *session) handleSYST(ctx context.Context, arg string) error {
	s.reply(codeSystemType, "UNIX Type: L8")
	return nil
}

func (s *session) handleNOOP(ctx context.Context, arg string) error {
	s.reply(codeOK, "NOOP ok.")
	return nil
}

// handleHELP lists the verbs, or shows one verb's syntax.
func (s *session) handleHELP(ctx context.Context, arg string) error {
	if arg != "" {
		verb := strings.ToUpper(strings.TrimSpace(arg))
		c, ok := commands[verb]
		if !ok {
			return refuse(codeArgSyntax, "Unknown command "+verb+".")
		}
		text := "Syntax: " + c.help
		if c.fn == nil {
			text += " (not implemented)"
		}
		s.reply(codeHelp, text)
		return nil
	}
	verbs := make([]string, 0, len(commands))
	for v, c := range commands {
		if c.fn == nil || (s.srv.cfg.TLS == nil && (v == "AUTH" || v == "PBSZ" || v == "PROT")) {
			v += "*" // recognized, answered 502
		}
		verbs = append(verbs, v)
	}
	slices.Sort(verbs)
	lines := []string{"The following commands are recognized (* = not implemented here):"}
	for i := 0; i < len(verbs); i += 8 {
		lines = append(lines, strings.Join(verbs[i:min(i+8, len(verbs))], " "))
	}
	s.reply(codeHelp, joinLines(append(lines, "Help OK.")...))
	return nil
}

// handleFEAT lists the extensions (RFC 2389), only those the store can do.
func (s *session) handleFEAT(ctx context.Context, arg string) error {
	feats := []string{"EPRT", "EPSV", "MDTM", "PASV", "SIZE", "TVFS", "UTF8", featMLST(s.facts)}
	if storage.Has[storage.Appender](s.srv.cfg.Storage) {
		feats = append(feats, "REST STREAM")
	}
	if storage.Has[storage.ModTimeSetter](s.srv.cfg.Storage) {
		feats = append(feats, "MFMT")
	}
	if s.srv.cfg.TLS != nil {
		feats = append(feats, "AUTH TLS", "PBSZ", "PROT")
	}
	feats = append(feats, featHASH(s.sums.selected()), "XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512")
	slices.Sort(feats)
	lines := []string{"Features:"}
	lines = append(lines, feats...)
	s.reply(codeSystemStatus, joinLines(append(lines, "End")...))
	return nil
}

// handleOPTS: OPTS UTF8 (RFC 2640; names are always UTF-8) and OPTS MLST
// (RFC 3659 7.9).
func (s *session) handleOPTS(ctx context.Context, arg string) error {
	opt, val, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(opt) {
	case "UTF8", "UTF-8":
		switch strings.ToUpper(strings.TrimSpace(val)) {
		case "ON", "":
			s.utf8On = true
			s.applySettings()
			s.reply(codeOK, "UTF8 mode on.")
		case "OFF":
			s.utf8On = false
			s.applySettings()
			s.reply(codeOK, "UTF8 mode off; names are in "+s.names.Name()+".")
		default:
			return refuse(codeArgSyntax, "Syntax: OPTS UTF8 ON.")
		}
	case "MLST":
		s.facts = parseFacts(val)
		s.reply(codeOK, strings.TrimSpace("MLST OPTS "+s.facts.String()))
	case "HASH":
		return s.optsHash(val)
	default:
		return refuse(codeArgSyntax, "Option not understood.")
	}
	return nil
}

// handleSITE: HELP, and CHMOD/UMASK accepted as superfluous (202) since
// object stores keep no Unix modes.
func (s *session) handleSITE(ctx context.Context, arg string) error {
	sub, rest, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(sub) {
	case "HELP":
		s.reply(codeHelp, "SITE commands: CHECKSUM CHMOD HELP UMASK UTIME\n"+
			"SITE CHECKSUM <SHA-256|SHA-1|SHA-512|MD5|CRC32> <hex>: the next upload is stored only if it has this checksum (else 451)\n"+
			"SITE CHECKSUM NONE: forget it\nEnd")
	case "UTIME":
		if s.state != stateReady {
			return refuse(codeNotLoggedIn, "Please login with USER and PASS.")
		}
		name, t, ok := parseUTIME(rest)
		if !ok {
			return refuse(codeArgSyntax, "Syntax: SITE UTIME path YYYYMMDDhhmmss, or SITE UTIME path atime mtime ctime UTC.")
		}
		if _, err := s.setModTime(ctx, name, t); err != nil {
			return err
		}
		s.reply(codeOK, "SITE UTIME command successful.")
	case "CHECKSUM":
		if s.state != stateReady {
			return refuse(codeNotLoggedIn, "Please login with USER and PASS.")
		}
		return s.siteChecksum(rest)
	case "CHMOD":
		// Clients send it after uploads (lftp mirror, WinSCP): accepted
		// without a look at the file, which would cost a request each.
		mode, name, _ := strings.Cut(strings.TrimSpace(rest), " ")
		if !validMode(mode) || strings.TrimSpace(name) == "" {
			return refuse(codeArgSyntax, "Syntax: SITE CHMOD <octal mode> <path>.")
		}
		s.reply(codeSuperfluous, "SITE CHMOD not necessary; file modes are not stored.")
	case "UMASK":
		s.reply(codeSuperfluous, "SITE UMASK not necessary; file modes are not stored.")
	default:
		return refuse(codeSyntaxError, "Unknown SITE command.")
	}
	return nil
}

// validMode reports whether m is a file mode in octal, as chmod takes it.
func validMode(m string) bool {
	if len(m) == 0 || len(m) > 4 {
		return false
	}
	for _, c := range m {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// handleCLNT notes the client's name (draft-peterson): logged, for
// support; nothing depends on it.
func (s *session) handleCLNT(ctx context.Context, arg string) error {
	s.log.Info("client", "name", arg)
	s.reply(codeOK, "Noted.")
	return nil
}

// parseUTIME reads the forms of SITE UTIME clients send: "path mtime",
// "mtime path" (ProFTPD's mod_site_misc), and "path atime mtime ctime UTC"
// (Pure-FTPd, Total Commander). Times are YYYYMMDDhhmm[ss], UTC.
func parseUTIME(arg string) (string, time.Time, bool) {
	f := strings.Fields(arg)
	parse := func(s string) (time.Time, bool) {
		if len(s) == 12 {
			s += "00"
		}
		t, err := parseMDTM(s)
		return t, err == nil
	}
	// rest is the text after the first n fields, keeping a name's spaces.
	rest := func(n int) string {
		s := strings.TrimLeft(arg, " ")
		for range n {
			_, s, _ = strings.Cut(s, " ")
			s = strings.TrimLeft(s, " ")
		}
		return s
	}
	// head is the text before the last n fields.
	head := func(n int) string {
		s := strings.TrimRight(arg, " ")
		for range n {
			if i := strings.LastIndexByte(s, ' '); i >= 0 {
				s = strings.TrimRight(s[:i], " ")
			}
		}
		return s
	}
	switch {
	case len(f) >= 5 && strings.EqualFold(f[len(f)-1], "UTC"):
		_, ok1 := parse(f[len(f)-4])
		mtime, ok2 := parse(f[len(f)-3])
		_, ok3 := parse(f[len(f)-2])
		if ok1 && ok2 && ok3 {
			return head(4), mtime, true
		}
	case len(f) >= 2:
		if t, ok := parse(f[0]); ok {
			return rest(1), t, true
		}
		if t, ok := parse(f[len(f)-1]); ok {
			return head(1), t, true
		}
	}
	return "", time.Time{}, false
}
