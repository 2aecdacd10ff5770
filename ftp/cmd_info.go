package ftp

import (
	"context"
	"slices"
	"strings"

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
	for v := range commands {
		verbs = append(verbs, v)
	}
	slices.Sort(verbs)
	lines := []string{"The following commands are recognized:"}
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
	default:
		return refuse(codeArgSyntax, "Option not understood.")
	}
	return nil
}

// handleSITE: HELP, and CHMOD/UMASK accepted as superfluous (202) since
// object stores keep no Unix modes.
func (s *session) handleSITE(ctx context.Context, arg string) error {
	sub, _, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(sub) {
	case "HELP":
		s.reply(codeHelp, "SITE commands: CHMOD HELP UMASK\nEnd")
	case "CHMOD", "UMASK":
		s.reply(codeSuperfluous, "SITE "+strings.ToUpper(sub)+" not necessary; file modes are not stored.")
	default:
		return refuse(codeSyntaxError, "Unknown SITE command.")
	}
	return nil
}
