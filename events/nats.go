package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS publishes each event to JetStream on SUBJECT.TYPE (e.g.
// bucketftp.events.upload.completed), the CloudEvent as JSON, with
// Nats-Msg-Id the event id so the stream drops a repeat within its
// duplicate window. Delivered means the stream acknowledged it; a stream
// must capture the subjects (e.g. bucketftp.events.>).
type NATS struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
}

// NewNATS connects to url (nats://host:port; several, comma-separated).
// The connection reconnects on its own.
func NewNATS(url, subject string, opts ...nats.Option) (*NATS, error) {
	if subject == "" {
		return nil, errors.New("events nats: no subject")
	}
	opts = append([]nats.Option{nats.Name("bucketftp"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true), nats.Timeout(10 * time.Second)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("events nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("events nats: %w", err)
	}
	return &NATS{nc: nc, js: js, subject: subject}, nil
}

// Close closes the connection.
func (n *NATS) Close() { n.nc.Close() }

// Subject is where an event of CloudEvents type typ is published.
func (n *NATS) Subject(typ string) string {
	if len(typ) > len(TypePrefix) && typ[:len(TypePrefix)] == TypePrefix {
		typ = typ[len(TypePrefix):]
	}
	return n.subject + "." + typ
}

func (n *NATS) Send(ctx context.Context, e event.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	m := nats.NewMsg(n.Subject(e.Type()))
	m.Data = body
	m.Header.Set("Content-Type", "application/cloudevents+json")
	if _, err := n.js.PublishMsg(ctx, m, jetstream.WithMsgID(e.ID())); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	return nil
}
