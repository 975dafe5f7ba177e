package console

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	zkdmetrics "github.com/zkd-io/zkd/metrics"
)

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures prometheus.Counter
	forbidden    prometheus.Counter
	csrfRejected prometheus.Counter
	writes       *prometheus.CounterVec
	sseClients   prometheus.Gauge
	peerPolls    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_console_requests_total",
			Help: "Console API requests by route template and HTTP status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(zkdmetrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_console_request_duration_seconds",
			Help:    "Console API request latency by route template (the health event stream excluded).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}), []string{"route"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_console_auth_failures_total",
			Help: "Failed console logins and unknown bearer tokens.",
		}),
		forbidden: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_console_forbidden_total",
			Help: "Console requests refused because the caller's role is too low.",
		}),
		csrfRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_console_csrf_rejections_total",
			Help: "Console requests refused for a missing or wrong CSRF token.",
		}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_console_writes_total",
			Help: "Writes made through the console by operation and result (ok, conflict, error).",
		}, []string{"op", "result"}),
		sseClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_console_sse_clients",
			Help: "Browsers connected to the console's live health stream.",
		}),
		peerPolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_console_peer_polls_total",
			Help: "Health polls of ensemble members' HTTP ports by result (ok, down).",
		}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.authFailures, m.forbidden, m.csrfRejected, m.writes, m.sseClients, m.peerPolls} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("console metrics: %w", err)
		}
	}
	return m, nil
}
