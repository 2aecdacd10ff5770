package events_test

import (
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bucketftp/bucketftp/events"
	"github.com/bucketftp/bucketftp/events/natstest"
	"github.com/bucketftp/bucketftp/ftp"
)

// TestNATSJetStream: events published through the deliverer reach the
// stream on SUBJECT.TYPE, acknowledged; the same event sent again (a
// retry after a lost ack, another replica) is dropped by its Nats-Msg-Id.
func TestNATSJetStream(t *testing.T) {
	t.Parallel()
	url, js, _ := natstest.Start(t)
	sink, err := events.NewNATS(url, "bucketftp.events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	ctx := t.Context()

	up, _ := events.Build(sampleEvent(), "bucketftp://h", events.Namer{Bucket: "b"})
	del := sampleEvent()
	del.Type = ftp.EventDeleted
	gone, _ := events.Build(del, "bucketftp://h", events.Namer{Bucket: "b"})
	for _, ce := range []event.Event{up, up, gone, up} {
		if err := sink.Send(ctx, ce); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	st, err := js.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages, want 2 (repeats of one id dropped)", info.State.Msgs)
	}
	for _, want := range []struct {
		subject string
		ce      event.Event
	}{{"bucketftp.events.upload.completed", up}, {"bucketftp.events.deleted", gone}} {
		m, err := st.GetLastMsgForSubject(ctx, want.subject)
		if err != nil {
			t.Fatalf("%s: %v", want.subject, err)
		}
		var got event.Event
		if err := got.UnmarshalJSON(m.Data); err != nil || got.ID() != want.ce.ID() || got.Type() != want.ce.Type() {
			t.Errorf("%s: %s (%v), want event %s", want.subject, m.Data, err, want.ce.ID())
		}
		if m.Header.Get(jetstream.MsgIDHeader) != want.ce.ID() {
			t.Errorf("%s: Nats-Msg-Id %q, want the event id", want.subject, m.Header.Get(jetstream.MsgIDHeader))
		}
	}

	// Through the outbox and a deliverer.
	o, err := events.NewDirOutbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d, err := events.NewDeliverer(events.DelivererConfig{Outbox: o, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	if err := newEmitter(t, o, nil).Emit(ctx, sampleEvent()); err != nil {
		t.Fatal(err)
	}
	if n := d.Scan(ctx); n != 1 {
		t.Fatalf("Scan delivered %d, want 1", n)
	}
	if info, _ := st.Info(ctx); info.State.Msgs != 3 {
		t.Errorf("stream holds %d messages after the deliverer's, want 3", info.State.Msgs)
	}
}
