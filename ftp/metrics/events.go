package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Events counts what the events subsystem does; it implements
// events.Observer. Made by (*Metrics).Events.
type Events struct {
	recorded  *prometheus.CounterVec
	failed    *prometheus.CounterVec
	pending   prometheus.Gauge
	delivered prometheus.Counter
	retried   prometheus.Counter
	dead      prometheus.Counter
	latency   prometheus.Histogram
}

// Events registers the events collectors:
// bucketftp_events_recorded_total{type}, bucketftp_events_record_errors_total{type},
// bucketftp_events_pending, bucketftp_events_delivered_total,
// bucketftp_events_retries_total, bucketftp_events_dead_lettered_total and
// bucketftp_events_delivery_latency_seconds (from the event's time to its
// delivery).
func (m *Metrics) Events() *Events {
	e := &Events{
		recorded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bucketftp_events_recorded_total", Help: "Events written to the outbox, by type."}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bucketftp_events_record_errors_total",
			Help: "Events that could not be written to the outbox, by type (the FTP command still succeeded unless --events-required)."}, []string{"type"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bucketftp_events_pending",
			Help: "Events waiting in the outbox at the last scan (at most one scan's batch)."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "bucketftp_events_delivered_total", Help: "Events delivered to the sink by this process."}),
		retried:   prometheus.NewCounter(prometheus.CounterOpts{Name: "bucketftp_events_retries_total", Help: "Failed delivery attempts, each to be retried after a backoff."}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{Name: "bucketftp_events_dead_lettered_total",
			Help: "Events moved to the dead letters, undelivered after --events-max-age."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bucketftp_events_delivery_latency_seconds",
			Help: "Time from an event to its delivery.", Buckets: prometheus.ExponentialBuckets(0.005, 4, 10)}),
	}
	m.reg.MustRegister(e.recorded, e.failed, e.pending, e.delivered, e.retried, e.dead, e.latency)
	return e
}

func (e *Events) Recorded(typ string)     { e.recorded.WithLabelValues(typ).Inc() }
func (e *Events) RecordFailed(typ string) { e.failed.WithLabelValues(typ).Inc() }
func (e *Events) Pending(n int)           { e.pending.Set(float64(n)) }
func (e *Events) Retried()                { e.retried.Inc() }
func (e *Events) DeadLettered()           { e.dead.Inc() }

func (e *Events) Delivered(latency time.Duration) {
	e.delivered.Inc()
	e.latency.Observe(latency.Seconds())
}
