package ftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"

	"github.com/bucketftp/bucketftp/storage"
)

// errAborted marks a transfer cut short by ABOR, shutdown or the client.
var errAborted = errors.New("transfer aborted")

// dataConnError is a failure of the data connection itself: it could not be
// opened (425) or it broke during the transfer (426).
type dataConnError struct {
	opening bool
	err     error
}

func (e *dataConnError) Error() string {
	if e.opening {
		return "opening data connection: " + e.err.Error()
	}
	return "data connection: " + e.err.Error()
}

// Unwrap gives the cause and, for a connection that broke during the
// transfer, storage.ErrInterrupted, so a store can tell a broken upload
// from a failed one.
func (e *dataConnError) Unwrap() []error {
	if e.opening {
		return []error{e.err}
	}
	return []error{e.err, storage.ErrInterrupted}
}

// refusal is a handler's "no": the reply it wants, returned as an error so
// that a failure reply is only ever written by replyError.
type refusal struct {
	code  int
	text  string
	close bool // end the session after the reply
}

func (r *refusal) Error() string { return strconv.Itoa(r.code) + " " + r.text }

// refuse answers the command with a 4xx/5xx code and text.
func refuse(code int, text string) error { return &refusal{code: code, text: text} }

// refuseAndClose answers 421 and ends the session.
func refuseAndClose(text string) error {
	return &refusal{code: codeNotAvailable, text: text, close: true}
}

// mapped is the reply chosen for an error.
type mapped struct {
	code  int
	text  string
	level slog.Level // how loudly to log the error behind it
	ref   bool       // the reply carries a reference id that is in the log
	close bool       // end the session after the reply
}

// mapError is the only place an error becomes a 4xx/5xx reply. after150 says
// whether a preliminary 1xx reply was already sent for this command: once a
// transfer has started, only the outcomes a client can act on keep their own
// codes (quota, space, abort); everything else is a local error.
func mapError(err error, after150 bool) mapped {
	var dce *dataConnError
	var r *refusal
	switch {
	case errors.As(err, &r):
		return mapped{code: r.code, text: r.text, level: slog.LevelDebug, close: r.close}
	case errors.Is(err, errAborted):
		return abortedReply
	case errors.Is(err, errNoReuse):
		return mapped{code: codeNetProtoUnsupported, text: "TLS session reuse required on data connections.", level: slog.LevelInfo}
	case errors.As(err, &dce) && dce.opening:
		return mapped{code: codeCantOpenData, text: "Can't open data connection.", level: slog.LevelInfo}
	case errors.As(err, &dce):
		return abortedReply
	case isChecksumMismatch(err):
		return checksumMismatchReply
	case errors.Is(err, storage.ErrDeclaredWhole):
		return mapped{code: codeParamNotImplemented, text: "SITE CHECKSUM is for uploads of whole files: STOR or STOU, not APPE or REST.", level: slog.LevelInfo}
	}
	_, kind := storage.KindOf(err)
	switch {
	case kind == storage.ErrQuota, kind == storage.ErrNoSpace:
		return kindReplies[kind]
	case errors.Is(err, context.Canceled):
		return abortedReply
	case after150:
		return localErrorReply
	case kind != nil:
		return kindReplies[kind]
	case errors.Is(err, context.DeadlineExceeded):
		return kindReplies[storage.ErrTransient]
	default:
		return localErrorReply
	}
}

var (
	abortedReply    = mapped{code: codeTransferAborted, text: "Connection closed; transfer aborted.", level: slog.LevelInfo}
	localErrorReply = mapped{code: codeLocalError, text: "Local error in processing.", level: slog.LevelError, ref: true}

	// checksumMismatchReply: the upload's bytes are not the ones SITE
	// CHECKSUM declared, so nothing was stored. 451, transient: the bytes
	// were damaged on the way, and sending them again may succeed.
	checksumMismatchReply = mapped{code: codeLocalError, text: "Upload does not match its declared checksum; nothing was stored.", level: slog.LevelInfo}
)

// kindReplies is the reply for each kind of storage failure (before a 150;
// after it only quota and space keep theirs).
var kindReplies = map[error]mapped{
	storage.ErrQuota:        {code: codeExceededStorage, text: "Exceeded storage allocation.", level: slog.LevelInfo},
	storage.ErrNoSpace:      {code: codeInsufficientStorage, text: "Insufficient storage space.", level: slog.LevelWarn, ref: true},
	storage.ErrInvalidName:  {code: codeNameNotAllowed, text: "File name not allowed.", level: slog.LevelInfo},
	storage.ErrPermission:   {code: codeActionNotTaken, text: "Permission denied.", level: slog.LevelInfo},
	storage.ErrNotFound:     {code: codeActionNotTaken, text: "No such file or directory.", level: slog.LevelDebug},
	storage.ErrExist:        {code: codeActionNotTaken, text: "File exists.", level: slog.LevelDebug},
	storage.ErrNotEmpty:     {code: codeActionNotTaken, text: "Directory not empty.", level: slog.LevelDebug},
	storage.ErrNotSupported: {code: codeNotImplemented, text: "Not supported by this storage.", level: slog.LevelInfo},
	storage.ErrTransient:    {code: codeFileUnavailable, text: "Storage temporarily unavailable, try again.", level: slog.LevelWarn, ref: true},
	storage.ErrCrossDevice:  {code: codeNameNotAllowed, text: "Cannot rename across storages; copy the file instead.", level: slog.LevelInfo},
	storage.ErrBadOffset:    {code: codeInvalidRest, text: "Cannot continue the upload at that offset; restart at the size SIZE reports.", level: slog.LevelInfo},
}

// replyError logs err in full and sends the mapped reply. The reply never
// carries the error's text; where the error is ours to investigate, it
// carries a reference id that is in the log line.
func (s *session) replyError(ctx context.Context, verb string, err error, after150 bool) int {
	m := mapError(err, after150)
	text := m.text
	attrs := []any{"verb", verb, "code", m.code, "err", err}
	if m.ref {
		ref := newRef()
		text = text[:len(text)-1] + " (ref " + ref + ")."
		attrs = append(attrs, "ref", ref)
	}
	s.log.Log(ctx, m.level, "command failed", attrs...)
	s.reply(m.code, text)
	if m.close {
		s.quit = true
	}
	return m.code
}

func newRef() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
