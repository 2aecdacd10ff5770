// Package metrics exposes bucketftp's Prometheus metrics, /healthz and
// /readyz. It implements ftp.Observer and wraps the storage backend to time
// its operations.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bucketftp/bucketftp/storage"
)

// Metrics holds the collectors, registered on their own registry.
type Metrics struct {
	reg *prometheus.Registry

	sessions     prometheus.Gauge
	logins       *prometheus.CounterVec
	refused      *prometheus.CounterVec
	commands     *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	transfers    *prometheus.CounterVec
	transferTime *prometheus.HistogramVec
	backendOps   *prometheus.CounterVec
	backendTime  *prometheus.HistogramVec
}

// New registers the collectors. abortedUploads, when not nil, reports the
// multipart uploads the S3 store aborted.
func New(abortedUploads func() int64) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:      reg,
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bucketftp_sessions_active", Help: "Control connections being served."}),
		logins:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bucketftp_logins_total", Help: "Login attempts by result (ok, failed)."}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bucketftp_connections_refused_total",
			Help: "Connections refused at connect by reason (banned: the address failed to log in too often; limit; shutdown)."}, []string{"reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bucketftp_commands_total", Help: "Commands by verb and reply code."}, []string{"verb", "code"}),
		bytes:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bucketftp_transfer_bytes_total", Help: "Bytes over data connections, by direction (in: uploads, out: downloads and listings)."}, []string{"direction"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bucketftp_transfers_total", Help: "Finished transfers by operation and result (ok, aborted, failed)."},
			[]string{"op", "result"}),
		transferTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bucketftp_transfer_duration_seconds", Help: "Transfer durations by operation.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"op"}),
		backendOps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bucketftp_backend_operations_total", Help: "Storage operations by kind and result (ok or the error class)."},
			[]string{"op", "result"}),
		backendTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bucketftp_backend_operation_duration_seconds", Help: "Storage operation latency by kind (for put, open and list: until the call returned).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"op"}),
	}
	reg.MustRegister(m.sessions, m.logins, m.refused, m.commands, m.bytes, m.transfers, m.transferTime, m.backendOps, m.backendTime)
	if abortedUploads != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bucketftp_multipart_uploads_aborted_total",
			Help: "Multipart uploads aborted (failed, cut or stale uploads)."}, func() float64 { return float64(abortedUploads()) }))
	}
	return m
}

func (m *Metrics) SessionStarted() { m.sessions.Inc() }
func (m *Metrics) SessionEnded()   { m.sessions.Dec() }

func (m *Metrics) Login(ok bool) {
	if ok {
		m.logins.WithLabelValues("ok").Inc()
	} else {
		m.logins.WithLabelValues("failed").Inc()
	}
}

func (m *Metrics) Refused(reason string) { m.refused.WithLabelValues(reason).Inc() }

// WatchBans exports the number of banned addresses, read from bans at
// each scrape.
func (m *Metrics) WatchBans(bans func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bucketftp_bans_active",
		Help: "Client addresses refused now for failed logins."}, func() float64 { return float64(bans()) }))
}

func (m *Metrics) Command(verb string, code int) {
	m.commands.WithLabelValues(verb, strconv.Itoa(code)).Inc()
}

func (m *Metrics) Transfer(op string, code int, in, out int64, d time.Duration) {
	result := "failed"
	switch {
	case code == 226:
		result = "ok"
	case code == 426:
		result = "aborted"
	}
	m.transfers.WithLabelValues(op, result).Inc()
	m.transferTime.WithLabelValues(op).Observe(d.Seconds())
	m.bytes.WithLabelValues("in").Add(float64(in))
	m.bytes.WithLabelValues("out").Add(float64(out))
}

// errorClass names an error's kind for the result label.
func errorClass(err error) string {
	if name, _ := storage.KindOf(err); name != "" {
		return name
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return "other"
}

func (m *Metrics) observe(op string, start time.Time, err error) {
	m.backendTime.WithLabelValues(op).Observe(time.Since(start).Seconds())
	result := "ok"
	if err != nil {
		result = errorClass(err)
	}
	m.backendOps.WithLabelValues(op, result).Inc()
}

// Handler serves /metrics, /healthz (the process is alive) and /readyz
// (accepting connections and the storage answering).
func (m *Metrics) Handler(ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}
