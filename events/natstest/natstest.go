// Package natstest runs an embedded NATS server with JetStream for the
// tests of the NATS sink, in events/ and in integration/.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Start runs a NATS server with JetStream on 127.0.0.1 (a free port, a
// temporary directory) and a stream EVENTS on bucketftp.events.> that
// drops duplicates within an hour; all stop when t ends.
func Start(t testing.TB) (url string, js jetstream.JetStream, st jetstream.Stream) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"bucketftp.events.>"}, Duplicates: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return ns.ClientURL(), js, st
}
