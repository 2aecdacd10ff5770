package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"golang.org/x/sync/errgroup"
)

// Sink sends one event somewhere: nil means delivered. Any error is
// retried with backoff until the event is older than MaxAge.
type Sink interface {
	Send(ctx context.Context, e event.Event) error
}

// DelivererConfig configures a Deliverer. Zero values take the defaults
// noted.
type DelivererConfig struct {
	Outbox   Outbox // required
	Sink     Sink   // required
	Logger   *slog.Logger
	Observer Observer

	Poll        time.Duration // how often the outbox is scanned; default 1s (an event this replica writes is sent at once)
	SendTimeout time.Duration // one delivery attempt; default 10s
	LeaseTTL    time.Duration // how long a claim lasts, so a dead replica's claims expire; default 1m, at least 2 * SendTimeout
	BackoffMin  time.Duration // the wait after the first failure; default 1s
	BackoffMax  time.Duration // the longest wait; default 5m
	MaxAge      time.Duration // an event older than this goes to the dead letters; default 24h
	Batch       int           // events taken per scan; default 100
	Concurrency int           // events sent at once; default 4

	Now    func() time.Time  // default time.Now
	Jitter func(int64) int64 // a random number in [0, n); default math/rand/v2
}

// Deliverer sends the outbox's events through the sink until stopped.
type Deliverer struct {
	cfg  DelivererConfig
	wake chan struct{}

	mu        sync.Mutex
	notBefore map[string]time.Time // events held by a lease (ours after a failure, or another's)
}

// NewDeliverer checks cfg and makes a Deliverer; Run starts it.
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	if cfg.Outbox == nil || cfg.Sink == nil {
		return nil, errors.New("events: deliverer needs an outbox and a sink")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Poll, time.Second)
	def(&cfg.SendTimeout, 10*time.Second)
	def(&cfg.LeaseTTL, max(time.Minute, 2*cfg.SendTimeout))
	def(&cfg.BackoffMin, time.Second)
	def(&cfg.BackoffMax, 5*time.Minute)
	def(&cfg.MaxAge, 24*time.Hour)
	if cfg.Batch == 0 {
		cfg.Batch = 100
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Int64N
	}
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"poll", cfg.Poll}, {"send timeout", cfg.SendTimeout}, {"lease", cfg.LeaseTTL}, {"minimum backoff", cfg.BackoffMin}, {"maximum backoff", cfg.BackoffMax}, {"maximum age", cfg.MaxAge}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("events: %s %v is negative", d.name, d.v))
		}
	}
	if cfg.LeaseTTL < 2*cfg.SendTimeout {
		errs = append(errs, fmt.Errorf("events: lease %v must be at least twice the send timeout %v", cfg.LeaseTTL, cfg.SendTimeout))
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		errs = append(errs, fmt.Errorf("events: maximum backoff %v is below the minimum %v", cfg.BackoffMax, cfg.BackoffMin))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Deliverer{cfg: cfg, wake: make(chan struct{}, 1), notBefore: map[string]time.Time{}}, nil
}

// Wake makes the deliverer scan now (an event was just written).
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Backoff is the wait after the n-th failed attempt (n >= 1): BackoffMin
// doubled each time, capped at BackoffMax, of which a random half is
// taken off (so replicas and events do not retry in step).
func (d *Deliverer) Backoff(n int) time.Duration {
	w := d.cfg.BackoffMax
	if n-1 < 40 {
		w = min(d.cfg.BackoffMin<<(n-1), d.cfg.BackoffMax)
	}
	if w <= 0 {
		return d.cfg.BackoffMax
	}
	half := int64(w) / 2
	return time.Duration(int64(w) - half + d.cfg.Jitter(half+1))
}

// Run delivers until ctx ends; it returns nil then.
func (d *Deliverer) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		d.Scan(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Drain delivers what is pending and ready now, scan after scan, until a
// scan sends nothing or ctx ends: the last work before a shutdown.
func (d *Deliverer) Drain(ctx context.Context) {
	for ctx.Err() == nil && d.Scan(ctx) > 0 {
	}
}

// scanAhead is how many pending events a scan lists for each one it may
// try: events waiting out their backoff are passed over, so that a batch
// of undeliverable ones does not hold back the events after them.
const scanAhead = 10

// Scan takes one batch of pending events that are not waiting out a
// backoff, from the first Batch*scanAhead listed, and tries each that no
// lease holds; it returns how many it delivered.
func (d *Deliverer) Scan(ctx context.Context) int {
	ids, err := d.cfg.Outbox.Pending(ctx, d.cfg.Batch*scanAhead)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("events: listing the outbox", "err", err)
		}
		return 0
	}
	d.cfg.Observer.Pending(len(ids))
	now := d.cfg.Now()
	d.mu.Lock()
	listed := make(map[string]bool, len(ids))
	var ready []string
	for _, id := range ids {
		listed[id] = true
		if nb, ok := d.notBefore[id]; (!ok || !nb.After(now)) && len(ready) < d.cfg.Batch {
			ready = append(ready, id)
		}
	}
	for id := range d.notBefore { // bounded: only events still listed are kept
		if !listed[id] {
			delete(d.notBefore, id)
		}
	}
	d.mu.Unlock()

	var mu sync.Mutex
	delivered := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(d.cfg.Concurrency)
	for _, id := range ready {
		g.Go(func() error {
			if d.try(gctx, id) {
				mu.Lock()
				delivered++
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return delivered
}

func (d *Deliverer) hold(id string, until time.Time) {
	d.mu.Lock()
	d.notBefore[id] = until
	d.mu.Unlock()
}

// try claims, sends and settles one event; it reports whether the event
// was delivered.
func (d *Deliverer) try(ctx context.Context, id string) bool {
	log := d.cfg.Logger.With("event", id)
	now := d.cfg.Now()
	l, err := d.cfg.Outbox.Claim(ctx, id, now, now.Add(d.cfg.LeaseTTL))
	if errors.Is(err, ErrClaimed) {
		d.hold(id, l.Until)
		return false
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("events: claiming", "err", err)
		}
		return false
	}
	// Settling uses its own time, from when it begins: a shutdown must not
	// leave a lease on an event just sent, and a send that took all its
	// time must still have its failure recorded (the attempts, and so the
	// backoff every replica follows).
	settle := func(f func(context.Context)) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.SendTimeout)
		defer cancel()
		f(sctx)
	}
	b, err := d.cfg.Outbox.Read(ctx, id)
	if errors.Is(err, ErrGone) {
		settle(func(c context.Context) { _ = d.cfg.Outbox.Done(c, l) }) // delivered by another replica meanwhile
		return false
	}
	if err != nil {
		settle(func(c context.Context) { d.retry(c, log, l, fmt.Errorf("reading: %w", err)) })
		return false
	}
	ce, err := decode(b)
	if err != nil {
		log.Error("events: unreadable event; moved to the dead letters", "err", err)
		settle(func(c context.Context) { d.dead(c, log, l, b) })
		return false
	}
	if age := now.Sub(ce.Time()); age > d.cfg.MaxAge {
		log.Error("events: undelivered past the maximum age; moved to the dead letters", "type", ce.Type(), "age", age.Round(time.Second), "attempts", l.Attempts)
		settle(func(c context.Context) { d.dead(c, log, l, b) })
		return false
	}
	sctx, scancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	err = d.cfg.Sink.Send(sctx, ce)
	scancel()
	if err != nil {
		settle(func(c context.Context) { d.retry(c, log, l, err) })
		return false
	}
	latency := d.cfg.Now().Sub(ce.Time())
	settle(func(c context.Context) {
		if err := d.cfg.Outbox.Done(c, l); err != nil {
			log.Warn("events: delivered, but not removed from the outbox (it will be sent again)", "err", err)
		}
	})
	d.cfg.Observer.Delivered(latency)
	return true
}

// retry records a failed attempt in the lease, which then holds the event
// until its next attempt for every replica.
func (d *Deliverer) retry(ctx context.Context, log *slog.Logger, l *Lease, cause error) {
	l.Attempts++
	wait := d.Backoff(l.Attempts)
	l.Until = d.cfg.Now().Add(wait)
	d.cfg.Observer.Retried()
	log.Warn("events: delivery failed; will retry", "attempts", l.Attempts, "in", wait.Round(time.Millisecond), "err", cause)
	if err := d.cfg.Outbox.Hold(ctx, l); err != nil {
		log.Warn("events: recording the failed attempt", "err", err)
	}
	d.hold(l.ID, l.Until)
}

func (d *Deliverer) dead(ctx context.Context, log *slog.Logger, l *Lease, b []byte) {
	if err := d.cfg.Outbox.Dead(ctx, l, b); err != nil {
		log.Warn("events: moving to the dead letters", "err", err)
		return
	}
	d.cfg.Observer.DeadLettered()
}
