package events

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Outbox keeps events until they are delivered. Several deliverers (one
// per replica) may share one: each claims an event with a lease before
// sending it, so two rarely send the same one, and the lease of a
// deliverer that died expires. A lease also carries the event's failed
// attempts and, after a failure, holds the event until its next attempt,
// so every replica keeps to one backoff.
//
// S3Outbox keeps it in the bucket, DirOutbox in a local directory.
type Outbox interface {
	// Put stores a new pending event durably.
	Put(ctx context.Context, id string, b []byte) error
	// Pending lists up to limit pending event ids, oldest first.
	Pending(ctx context.Context, limit int) ([]string, error)
	// Read returns a pending event; ErrGone when there is none (it was
	// delivered meanwhile).
	Read(ctx context.Context, id string) ([]byte, error)
	// Claim takes the event's lease until until, unless another holder's
	// lease lasts past now: then ErrClaimed, with that lease (its Until).
	// A lease taken over keeps its Attempts.
	Claim(ctx context.Context, id string, now, until time.Time) (*Lease, error)
	// Hold rewrites a lease held with its new Until and Attempts; ErrClaimed
	// when it was lost.
	Hold(ctx context.Context, l *Lease) error
	// Done removes a delivered event and its lease.
	Done(ctx context.Context, l *Lease) error
	// Dead moves the event to the dead letters and removes its lease.
	Dead(ctx context.Context, l *Lease, b []byte) error
}

// ErrClaimed reports an event whose lease another deliverer holds.
var ErrClaimed = errors.New("events: claimed by another deliverer")

// ErrGone reports an event no longer pending.
var ErrGone = errors.New("events: no such pending event")

// Lease is a claim on one event.
type Lease struct {
	ID       string
	Until    time.Time
	Attempts int    // failed deliveries so far
	token    string // the lease's version (an ETag) or its owner mark
}

// leaseDoc is a lease as stored.
type leaseDoc struct {
	Owner    string    `json:"owner"`
	Until    time.Time `json:"until"`
	Attempts int       `json:"attempts"`
}

func (l *Lease) doc(owner string) []byte {
	b, _ := json.Marshal(leaseDoc{Owner: owner, Until: l.Until.UTC(), Attempts: l.Attempts})
	return b
}

// validID keeps ids to what Build makes (and what is safe in a key or a
// file name).
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

// Observer is told what the events subsystem does, for metrics. Its
// methods must be quick and safe for concurrent use.
type Observer interface {
	Recorded(typ string)     // an event written to the outbox
	RecordFailed(typ string) // an event that could not be written
	Pending(n int)           // pending events seen at the last scan (at most one scan's worth)
	Delivered(latency time.Duration)
	Retried()      // a failed delivery, to be tried again
	DeadLettered() // an event given up after the maximum age
}

type nopObserver struct{}

func (nopObserver) Recorded(string)         {}
func (nopObserver) RecordFailed(string)     {}
func (nopObserver) Pending(int)             {}
func (nopObserver) Delivered(time.Duration) {}
func (nopObserver) Retried()                {}
func (nopObserver) DeadLettered()           {}
