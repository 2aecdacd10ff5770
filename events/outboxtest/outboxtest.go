// Package outboxtest is the contract every events.Outbox meets, run
// against the local directory outbox in go test and against MinIO in
// integration/.
package outboxtest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bucketftp/bucketftp/events"
)

// Run checks the outbox newOutbox makes; two calls must give two handles
// (two replicas) on one empty outbox.
func Run(t *testing.T, newOutbox func(t *testing.T) (a, b events.Outbox)) {
	ctx := t.Context()
	a, b := newOutbox(t)
	now := time.Now()
	ids := []string{"0190a000-0000-7000-8000-000000000003", "0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002"}
	for _, id := range ids {
		if err := a.Put(ctx, id, []byte(`{"id":"`+id+`"}`)); err != nil {
			t.Fatalf("Put %s: %v", id, err)
		}
	}
	if err := a.Put(ctx, "../escape", []byte("{}")); err == nil {
		t.Error("Put of an id with a slash: no error")
	}
	got, err := b.Pending(ctx, 10)
	if want := slices.Sorted(slices.Values(ids)); err != nil || !slices.Equal(got, want) {
		t.Fatalf("Pending from the other handle = %q, %v; want %q (oldest first)", got, err, want)
	}
	if got, _ := b.Pending(ctx, 2); len(got) != 2 {
		t.Errorf("Pending(2) = %q, want 2 ids", got)
	}
	if body, err := b.Read(ctx, ids[0]); err != nil || string(body) != `{"id":"`+ids[0]+`"}` {
		t.Errorf("Read = %q, %v", body, err)
	}
	if _, err := b.Read(ctx, "0190a000-0000-7000-8000-00000000ffff"); !errors.Is(err, events.ErrGone) {
		t.Errorf("Read of a missing event: %v, want ErrGone", err)
	}

	// Claims exclude each other until they expire; a takeover keeps the
	// attempts and the old holder cannot rewrite the lease any more.
	id := ids[1]
	la, err := a.Claim(ctx, id, now, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if lb, err := b.Claim(ctx, id, now, now.Add(time.Minute)); !errors.Is(err, events.ErrClaimed) || !lb.Until.Equal(la.Until) {
		t.Fatalf("second Claim: %+v, %v; want ErrClaimed until %v", lb, err, la.Until)
	}
	la.Attempts, la.Until = 3, now.Add(10*time.Second)
	if err := a.Hold(ctx, la); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if lb, err := b.Claim(ctx, id, now.Add(5*time.Second), now.Add(time.Minute)); !errors.Is(err, events.ErrClaimed) || lb.Attempts != 3 {
		t.Fatalf("Claim while held for the next attempt: %+v, %v; want ErrClaimed with 3 attempts", lb, err)
	}
	later := now.Add(11 * time.Second)
	lb, err := b.Claim(ctx, id, later, later.Add(time.Minute))
	if err != nil || lb.Attempts != 3 {
		t.Fatalf("Claim of an expired lease: %+v, %v; want it, with 3 attempts", lb, err)
	}
	la.Until = later.Add(time.Hour)
	if err := a.Hold(ctx, la); !errors.Is(err, events.ErrClaimed) {
		t.Errorf("Hold of a lease taken over: %v, want ErrClaimed", err)
	}

	// Done removes the event; Dead moves it.
	if err := b.Done(ctx, lb); err != nil {
		t.Fatalf("Done: %v", err)
	}
	if _, err := a.Read(ctx, id); !errors.Is(err, events.ErrGone) {
		t.Errorf("Read after Done: %v, want ErrGone", err)
	}
	ld, err := a.Claim(ctx, ids[2], now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Dead(ctx, ld, []byte("{}")); err != nil {
		t.Fatalf("Dead: %v", err)
	}
	if got, _ := a.Pending(ctx, 10); !slices.Equal(got, []string{ids[0]}) {
		t.Errorf("Pending after Done and Dead = %q, want %q", got, ids[:1])
	}
	// A claim after Done finds no lease in the way.
	if l, err := a.Claim(ctx, id, later, later.Add(time.Minute)); err != nil {
		t.Errorf("Claim after Done: %v", err)
	} else {
		_ = a.Done(ctx, l)
	}

	// Of many claimers racing for one event, one wins.
	race := "0190a000-0000-7000-8000-000000000009"
	if err := a.Put(ctx, race, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	for i := range 8 {
		o := a
		if i%2 == 1 {
			o = b
		}
		wg.Go(func() {
			_, err := o.Claim(ctx, race, now, now.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, fmt.Sprint(i))
			case !errors.Is(err, events.ErrClaimed):
				t.Errorf("racing Claim: %v", err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Errorf("racing claims won by %q, want exactly one", won)
	}
}
