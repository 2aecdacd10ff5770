package ftp

import (
	"context"
	"path"
	"time"

	"github.com/bucketftp/bucketftp/storage"
)

// EventSink records what sessions did to files, for the events subsystem
// (package events: a durable outbox delivered to webhooks and NATS). Emit
// must return only once the event is durably recorded, or with an error:
// a completed upload's event is emitted before its 226. It is called from
// session and transfer goroutines at once.
type EventSink interface {
	Emit(ctx context.Context, e Event) error
}

// The kinds of Event.
const (
	EventUploadCompleted = "upload.completed" // STOR, APPE, STOU stored the file (before 226)
	EventUploadFailed    = "upload.failed"    // failed or aborted: no new object (after the failure reply)
	EventRenamed         = "renamed"          // RNTO: From is the old name
	EventDeleted         = "deleted"          // DELE
	EventDirCreated      = "dir.created"      // MKD
	EventDirRemoved      = "dir.removed"      // RMD
	EventLoginFailed     = "login.failed"     // PASS refused; Path is empty
)

// Event is one thing a session did. Names are clean absolute paths in the
// server's (unscoped) storage: the user's home joined with the name they
// used.
type Event struct {
	Type string
	Path string
	From string // renamed: the old name

	// Where Path (and From) are stored, when the user's storage says
	// (storage.Locator): the bucket and object key, which differ from the
	// server's bucket for a user with their own storage or a mount.
	// Empty: the events package names them from Path.
	Bucket, Key, FromKey string

	User      string // the user (for login.failed: the name tried)
	Client    string // the client's address and port: a trusted PROXY header's, else the socket's
	SessionID string
	TLS       bool   // the control connection is TLS
	Protocol  string // "ftp" or "ftps"

	// Uploads: bytes received, and what the store reported (empty when it
	// reports nothing): ETag, version id, checksums by algorithm in hex.
	Size      int64
	ETag      string
	VersionID string
	Checksums map[string]string
	// upload.failed: the bytes the store kept for the owner to resume
	// (whole parts of an interrupted upload; 0 when nothing was kept).
	Kept int64

	Start, End time.Time
	Code       int // the reply code sent (or, for a completed upload, about to be)
}

// emitTimeout bounds writing one event, so a slow outbox cannot hold a
// reply forever.
const emitTimeout = 30 * time.Second

// event is an Event of kind typ on the user's name p, with the session's
// fields filled in.
func (s *session) event(typ, p string) Event {
	e := Event{Type: typ, SessionID: s.id, Client: s.remote.String(), TLS: s.secure, Protocol: "ftp",
		Start: time.Now(), End: time.Now()}
	if s.secure {
		e.Protocol = "ftps"
	}
	if s.acct != nil {
		e.User = s.acct.User
		if p != "" {
			e.Path = path.Join(s.acct.Home(), p)
			if l, ok := s.locate(p); ok {
				e.Bucket, e.Key = l.Bucket, l.Key
			}
		}
	}
	return e
}

// emit records e. Without an event sink it does nothing. A failure is
// logged; it becomes the command's reply (451: the change is made but its
// event is not recorded) only when the server was told events are
// required, otherwise the command succeeds as usual.
func (s *session) emit(ctx context.Context, e Event, done string) error {
	sink := s.srv.cfg.Events
	if sink == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), emitTimeout)
	defer cancel()
	err := sink.Emit(ctx, e)
	if err == nil {
		return nil
	}
	s.log.Error("event not recorded", "type", e.Type, "path", e.Path, "err", err)
	if s.srv.cfg.EventsRequired && done != "" {
		return refuse(codeLocalError, done+" but its event was not recorded.")
	}
	return nil
}

// uploadCtx is the context an upload stores under: it names the uploader
// (the store records it with the object) and collects what the store
// reports about the object.
func (s *session) uploadCtx(ctx context.Context) (context.Context, *storage.Uploaded) {
	if s.acct != nil {
		ctx = storage.WithUploader(ctx, storage.Uploader{User: s.acct.User, Client: s.remote.String(), Session: s.id})
	}
	if h := s.startHashing(); h != nil {
		ctx = storage.WithHashing(ctx, h) // computed as the data streams in (cmd_hash.go)
	}
	return storage.WithUploaded(ctx)
}

// uploaded records a completed upload, before its 226.
func (s *session) uploaded(x *transfer) error {
	x.stored.Store(true)
	if s.srv.cfg.Events == nil {
		return nil
	}
	e := s.event(EventUploadCompleted, x.path)
	e.Start, e.Size, e.Code = x.started, x.size, codeTransferComplete
	e.ETag, e.VersionID, e.Checksums = x.up.Result()
	e.Checksums = s.uploadSums(e.Checksums)
	return s.emit(x.ctx, e, "Upload stored")
}

// uploadFailed records an upload that stored nothing, after its failure
// reply.
func (s *session) uploadFailed(ctx context.Context, x *transfer, code int) {
	if s.srv.cfg.Events == nil || x.stored.Load() {
		return
	}
	e := s.event(EventUploadFailed, x.path)
	e.Start, e.Size, e.Code = x.started, x.bytes.Load(), code
	if x.up != nil { // nil for an upload refused before it started
		e.Kept = x.up.Kept()
	}
	_ = s.emit(ctx, e, "")
}

// isUpload reports whether verb stores a file.
func isUpload(verb string) bool { return verb == "STOR" || verb == "APPE" || verb == "STOU" }

// loginFailed records a refused login (the events subsystem drops it
// unless asked for them). The password is never part of it.
func (s *session) loginFailed(ctx context.Context, code int) {
	if s.srv.cfg.Events == nil {
		return
	}
	e := s.event(EventLoginFailed, "")
	e.User, e.Code = s.userName, code
	_ = s.emit(ctx, e, "")
}

// renameEvent is the event of RNTO moving the user's name from to to.
func (s *session) renameEvent(from, to string) Event {
	e := s.event(EventRenamed, to)
	if s.acct != nil {
		e.From = path.Join(s.acct.Home(), from)
		if l, ok := s.locate(from); ok && e.Key != "" {
			e.FromKey = l.Key
		}
	}
	return e
}

// locate is where the user's name p is stored, when the user's storage
// can say.
func (s *session) locate(p string) (storage.Location, bool) {
	l, ok := storage.As[storage.Locator](s.acct.FS)
	if !ok {
		return storage.Location{}, false
	}
	loc, err := l.Locate(p)
	return loc, err == nil
}
