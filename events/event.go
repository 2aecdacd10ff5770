// Package events tells other systems what bucketftp did to files: each
// upload, rename, deletion, directory made or removed (and, when asked,
// failed login) becomes a CloudEvents 1.0 event, written to a durable
// outbox before the FTP reply and delivered at least once, with retries,
// to an HTTP webhook or NATS JetStream by any replica sharing the outbox.
// See docs/events.md.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/bucketftp/bucketftp/ftp"
)

// TypePrefix starts every event's CloudEvents type:
// org.bucketftp.upload.completed, org.bucketftp.deleted, ...
const TypePrefix = "org.bucketftp."

// Data is an event's payload (the CloudEvent's data, JSON).
type Data struct {
	Bucket    string            `json:"bucket,omitempty"` // "" for local storage
	Key       string            `json:"key"`              // the object key (directories: with a trailing "/")
	FromKey   string            `json:"fromKey,omitempty"`
	VersionID string            `json:"versionId,omitempty"`
	ETag      string            `json:"etag,omitempty"`
	Size      *int64            `json:"size,omitempty"` // uploads only
	Checksums map[string]string `json:"checksums,omitempty"`
	KeptBytes int64             `json:"keptBytes,omitempty"` // upload.failed: kept for resuming

	User          string    `json:"user,omitempty"`
	ClientAddress string    `json:"clientAddress,omitempty"`
	SessionID     string    `json:"sessionId,omitempty"`
	TLS           bool      `json:"tls"`
	Protocol      string    `json:"protocol"`
	StartTime     time.Time `json:"startTime"`
	EndTime       time.Time `json:"endTime"`
	ReplyCode     int       `json:"replyCode"`
}

// Namer maps a server path ("/a/b.txt") to the bucket and key its events
// carry.
type Namer struct {
	Bucket string // "" for local storage
	Prefix string // the storage's key prefix, without slashes
}

// Key is the object key of p (dir: a directory, whose marker key ends in
// "/").
func (n Namer) Key(p string, dir bool) string {
	k := strings.TrimPrefix(p, "/")
	if n.Prefix != "" {
		k = n.Prefix + "/" + k
	}
	if dir && k != "" {
		k += "/"
	}
	return k
}

// Build makes the CloudEvent of e, with a new id (time-ordered, so the
// outbox delivers the oldest first).
func Build(e ftp.Event, source string, n Namer) (event.Event, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return event.Event{}, err
	}
	dir := e.Type == ftp.EventDirCreated || e.Type == ftp.EventDirRemoved
	d := Data{
		Bucket: n.Bucket, VersionID: e.VersionID, ETag: strings.Trim(e.ETag, `"`), Checksums: e.Checksums,
		User: e.User, ClientAddress: e.Client, SessionID: e.SessionID, TLS: e.TLS, Protocol: e.Protocol,
		StartTime: e.Start.UTC(), EndTime: e.End.UTC(), ReplyCode: e.Code,
	}
	switch {
	case e.Key != "": // the user's storage said where (a user's own bucket, a mount)
		d.Bucket, d.Key = e.Bucket, e.Key
		if dir {
			d.Key += "/"
		}
	case e.Path != "":
		d.Key = n.Key(e.Path, dir)
	}
	switch {
	case e.FromKey != "":
		d.FromKey = e.FromKey
	case e.From != "":
		d.FromKey = n.Key(e.From, false)
	}
	if e.Type == ftp.EventUploadCompleted || e.Type == ftp.EventUploadFailed {
		size := e.Size
		d.Size = &size
	}
	if e.Type == ftp.EventUploadFailed {
		d.KeptBytes = e.Kept
	}
	ce := event.New()
	ce.SetID(id.String())
	ce.SetSource(source)
	ce.SetType(TypePrefix + e.Type)
	if d.Key != "" {
		ce.SetSubject(d.Key)
	}
	ce.SetTime(e.End.UTC())
	if err := ce.SetData(event.ApplicationJSON, d); err != nil {
		return event.Event{}, err
	}
	return ce, ce.Validate()
}

// maxEventSize bounds an event read back from the outbox.
const maxEventSize = 1 << 20

// decode reads an event as the outbox keeps it (CloudEvents JSON).
func decode(b []byte) (event.Event, error) {
	var ce event.Event
	if err := json.Unmarshal(b, &ce); err != nil {
		return ce, err
	}
	return ce, ce.Validate()
}

// Emitter is the FTP server's event sink (ftp.Config.Events): it writes
// each event to the outbox and wakes the deliverer.
type Emitter struct {
	cfg EmitterConfig
}

// EmitterConfig configures an Emitter.
type EmitterConfig struct {
	Outbox Outbox // required
	Source string // the CloudEvents source, bucketftp://HOST
	Namer  Namer
	// LoginFailed keeps login.failed events; they are dropped otherwise.
	LoginFailed bool
	Observer    Observer // default: none
	Wake        func()   // called after each event is written (Deliverer.Wake); may be nil
}

var _ ftp.EventSink = (*Emitter)(nil)

// NewEmitter makes an Emitter.
func NewEmitter(cfg EmitterConfig) (*Emitter, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("events: no outbox")
	}
	if cfg.Source == "" {
		return nil, errors.New("events: no source")
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Emitter{cfg: cfg}, nil
}

// Emit builds e's CloudEvent and writes it to the outbox; it returns once
// the outbox has it.
func (m *Emitter) Emit(ctx context.Context, e ftp.Event) error {
	if e.Type == ftp.EventLoginFailed && !m.cfg.LoginFailed {
		return nil
	}
	ce, err := Build(e, m.cfg.Source, m.cfg.Namer)
	if err != nil {
		m.cfg.Observer.RecordFailed(e.Type)
		return fmt.Errorf("events: building %s: %w", e.Type, err)
	}
	b, err := json.Marshal(ce)
	if err != nil {
		m.cfg.Observer.RecordFailed(e.Type)
		return fmt.Errorf("events: encoding %s: %w", e.Type, err)
	}
	if err := m.cfg.Outbox.Put(ctx, ce.ID(), b); err != nil {
		m.cfg.Observer.RecordFailed(e.Type)
		return fmt.Errorf("events: writing %s %s to the outbox: %w", e.Type, ce.ID(), err)
	}
	m.cfg.Observer.Recorded(e.Type)
	if m.cfg.Wake != nil {
		m.cfg.Wake()
	}
	return nil
}
