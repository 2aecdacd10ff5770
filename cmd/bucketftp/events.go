package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bucketftp/bucketftp/events"
	"github.com/bucketftp/bucketftp/ftp"
)

// eventsConfig is the --events-* options (docs/events.md).
type eventsConfig struct {
	EventsWebhook     string
	EventsSecret      string
	EventsNATS        string
	EventsNATSSubject string
	EventsDir         string
	EventsMaxAge      time.Duration
	EventsTimeout     time.Duration
	EventsRequired    bool
	EventsLoginFailed bool
}

func (c *config) eventsOn() bool { return c.EventsWebhook != "" || c.EventsNATS != "" }

// eventsProblems checks the --events-* options.
func (c *config) eventsProblems() []error {
	var errs []error
	if c.EventsWebhook != "" && c.EventsNATS != "" {
		errs = append(errs, errors.New("--events-webhook and --events-nats: choose one"))
	}
	if c.EventsWebhook != "" {
		if u, err := url.Parse(c.EventsWebhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("--events-webhook: want an http:// or https:// URL"))
		}
	}
	if c.EventsSecret != "" && c.EventsWebhook == "" {
		errs = append(errs, errors.New("--events-secret is for --events-webhook, which is not set"))
	}
	if c.EventsNATS != "" && !strings.HasPrefix(c.EventsNATS, "nats://") && !strings.HasPrefix(c.EventsNATS, "tls://") {
		errs = append(errs, fmt.Errorf("--events-nats %q: want nats://host:port", c.EventsNATS))
	}
	if c.EventsNATS != "" && (c.EventsNATSSubject == "" || strings.ContainsAny(c.EventsNATSSubject, " *>")) {
		errs = append(errs, fmt.Errorf("--events-nats-subject %q: want a subject without wildcards, e.g. bucketftp.events", c.EventsNATSSubject))
	}
	if c.EventsMaxAge <= 0 {
		errs = append(errs, fmt.Errorf("--events-max-age %v: must be positive", c.EventsMaxAge))
	}
	if c.EventsTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--events-timeout %v: must be positive", c.EventsTimeout))
	}
	if (c.EventsRequired || c.EventsLoginFailed) && !c.eventsOn() {
		errs = append(errs, errors.New("--events-required and --events-login-failed need --events-webhook or --events-nats"))
	}
	if st, err := parseStorage(c.Storage); err == nil && c.eventsOn() && st.scheme != "s3" {
		switch {
		case c.EventsDir == "":
			errs = append(errs, fmt.Errorf("--events-dir: needed for events with %s storage (with s3:// the outbox is in the bucket)", st.scheme))
		case st.scheme == "file" && inside(c.EventsDir, st.root):
			errs = append(errs, fmt.Errorf("--events-dir %s: must be outside the storage directory, where FTP users could reach it", c.EventsDir))
		}
	}
	return errs
}

// inside reports whether dir is root or under it.
func inside(dir, root string) bool {
	d, err1 := filepath.Abs(dir)
	r, err2 := filepath.Abs(root)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(r, d)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// s3Client is a store whose S3 client the outbox can share (s3store).
type s3Client interface {
	Client() (c *s3.Client, bucket, prefix string)
}

// buildEvents makes the outbox, the sink and the deliverer of the --events-*
// options and sets cfg.Events; without a sink it does nothing.
func (a *app) buildEvents(cfg *ftp.Config) error {
	c := a.cfg
	if !c.eventsOn() {
		return nil
	}
	var (
		outbox events.Outbox
		namer  events.Namer
	)
	if sc, ok := a.backend.(s3Client); ok {
		client, bucket, prefix := sc.Client()
		outbox, namer = events.NewS3Outbox(client, bucket, prefix, 0), events.Namer{Bucket: bucket, Prefix: prefix}
	} else {
		if st, _ := parseStorage(c.Storage); st.scheme == "s3" {
			return errors.New("events: the storage gives no S3 client for the outbox")
		}
		o, err := events.NewDirOutbox(c.EventsDir)
		if err != nil {
			return fmt.Errorf("--events-dir: %w", err)
		}
		outbox = o
	}
	var sink events.Sink
	if c.EventsWebhook != "" {
		w, err := events.NewWebhook(c.EventsWebhook, []byte(c.EventsSecret), c.EventsTimeout)
		if err != nil {
			return err
		}
		sink = w
	} else {
		n, err := events.NewNATS(c.EventsNATS, c.EventsNATSSubject)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, n.Close)
		sink = n
	}
	var obs events.Observer
	if a.metrics != nil {
		obs = a.metrics.Events()
	}
	d, err := events.NewDeliverer(events.DelivererConfig{Outbox: outbox, Sink: sink, Logger: a.log, Observer: obs,
		SendTimeout: c.EventsTimeout, LeaseTTL: max(time.Minute, 3*c.EventsTimeout), MaxAge: c.EventsMaxAge})
	if err != nil {
		return err
	}
	hostname := c.hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	host, err := hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	em, err := events.NewEmitter(events.EmitterConfig{Outbox: outbox, Source: "bucketftp://" + host, Namer: namer,
		LoginFailed: c.EventsLoginFailed, Observer: obs, Wake: d.Wake})
	if err != nil {
		return err
	}
	a.deliverer = d
	cfg.Events, cfg.EventsRequired = em, c.EventsRequired
	target := "nats"
	if c.EventsWebhook != "" {
		u, _ := url.Parse(c.EventsWebhook)
		target = u.Scheme + "://" + u.Host // no path or credentials in the log
	}
	a.log.Info("events on", "sink", target, "max_age", c.EventsMaxAge, "required", c.EventsRequired)
	return nil
}

// startEvents runs the deliverer until the returned stop, which lets it
// send what is pending (for up to --shutdown-grace) and then stops it.
func (a *app) startEvents(ctx context.Context) (stop func()) {
	if a.deliverer == nil {
		return func() {}
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.deliverer.Run(rctx)
	}()
	return func() {
		cancel()
		<-done
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownGrace)
		defer dcancel()
		a.deliverer.Drain(dctx)
	}
}
