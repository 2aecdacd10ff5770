package ftp_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/ftp"
	"github.com/bucketftp/bucketftp/storage"
	"github.com/bucketftp/bucketftp/storage/memstore"
)

type gatedHeld struct {
	b    *gatedStore
	data []byte
}

func (h *gatedHeld) Publish(ctx context.Context, name string) error {
	h.b.entered <- struct{}{}
	<-h.b.gate
	_, err := h.b.Put(ctx, name, bytes.NewReader(h.data), -1)
	return err
}
func (h *gatedHeld) Abort(context.Context) error { return nil }

type gatedStore struct {
	*memstore.Store
	entered, gate chan struct{}
}

func (b *gatedStore) PutHeld(ctx context.Context, name, final string, r io.Reader, size int64) (storage.Held, int64, error) {
	d, err := io.ReadAll(r)
	if err != nil {
		return nil, int64(len(d)), err
	}
	return &gatedHeld{b: b, data: d}, int64(len(d)), nil
}
func (b *gatedStore) AppendHeld(ctx context.Context, name, final string, off int64, r io.Reader) (storage.Held, int64, error) {
	return nil, 0, storage.ErrNoHeldUpload
}

// TestHoldTimerAfterLogout: the hold timer publishes a held upload from
// its own goroutine; a logout meanwhile (REIN, QUIT) does not crash the
// server, and the upload's event names the final object of the login that
// held it. (The event used to look the key up through the session's
// account, which the logout had cleared: a nil dereference outside any
// recover, ending the process.)
func TestHoldTimerAfterLogout(t *testing.T) {
	t.Parallel()
	store := &gatedStore{Store: memstore.New(), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	rec := &recorder{}
	addr := serveUsers(t, store, ftp.Config{Events: rec, TempNameHold: 50 * time.Millisecond})
	c := login(t, addr)
	if err := c.Stor(".in.a.csv", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-store.entered: // the timer is publishing
	case <-time.After(10 * time.Second):
		t.Fatal("the hold timer did not publish")
	}
	if err := c.Logout(); err != nil { // REIN
		t.Fatal(err)
	}
	close(store.gate)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []ftp.Event
		for _, e := range rec.events() {
			if e.Type == ftp.EventUploadCompleted {
				got = append(got, e)
			}
		}
		if len(got) == 1 {
			if got[0].Path != "/alice/.in.a.csv" {
				t.Fatalf("the event of the published upload: %+v", got[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no completed event after the publication: %+v", rec.events())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
