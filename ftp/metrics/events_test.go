package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestEventsMetrics: what the events subsystem reports shows in /metrics.
func TestEventsMetrics(t *testing.T) {
	t.Parallel()
	m := New(nil)
	e := m.Events()
	e.Recorded("upload.completed")
	e.RecordFailed("deleted")
	e.Pending(7)
	e.Retried()
	e.Retried()
	e.DeadLettered()
	e.Delivered(30 * time.Millisecond)
	srv := httptest.NewServer(m.Handler(func(context.Context) error { return nil }))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`bucketftp_events_recorded_total{type="upload.completed"} 1`,
		`bucketftp_events_record_errors_total{type="deleted"} 1`,
		`bucketftp_events_pending 7`,
		`bucketftp_events_retries_total 2`,
		`bucketftp_events_dead_lettered_total 1`,
		`bucketftp_events_delivered_total 1`,
		`bucketftp_events_delivery_latency_seconds_bucket{le="0.08"} 1`,
		`bucketftp_events_delivery_latency_seconds_count 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
