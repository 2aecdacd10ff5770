package metrics

import "github.com/prometheus/client_golang/prometheus"

// WatchUsersReloads exports bucketftp_users_reloads_total{result="ok|error"}:
// reloads of the users file (on a change or SIGHUP) that replaced the
// users, and those that kept the previous users because the new version
// could not be read or was invalid. reloads is read at each scrape.
func (m *Metrics) WatchUsersReloads(reloads func() (ok, failed int64)) {
	for _, result := range []string{"ok", "error"} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bucketftp_users_reloads_total",
			Help:        "Reloads of the users file by result: ok, or error (the previous users were kept).",
			ConstLabels: prometheus.Labels{"result": result}}, func() float64 {
			ok, failed := reloads()
			if result == "ok" {
				return float64(ok)
			}
			return float64(failed)
		}))
	}
}
