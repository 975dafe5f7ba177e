package session

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics"
)

// Metrics are the operator-facing counters of a Tracker. A nil *Metrics is
// valid and records nothing, so trackers built for tests or simulations need
// no registry.
//
// Every session that leaves the tracker is counted exactly once, in
// zkd_session_expired_total if the tracker expired it and in
// zkd_session_closed_total otherwise, so a rise in expirations (clients that
// stopped pinging: GC pauses, partitions, overloaded servers) is not hidden
// among ordinary closes.
type Metrics struct {
	active  prometheus.Gauge
	created prometheus.Counter
	expired prometheus.Counter
	closed  prometheus.Counter
	timeout prometheus.Histogram
}

// timeoutBuckets cover ZooKeeper's defaults (tickTime 2 s, so 4 s to 40 s)
// and common client choices (kazoo 10 s, Kafka 18 s, Curator 60 s before the
// server clamps it).
var timeoutBuckets = []float64{2, 4, 6, 10, 15, 20, 30, 40, 60, 120}

// NewMetrics creates the session metrics and registers them with reg. A nil
// reg means "no metrics": NewMetrics returns nil, nil.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_session_active",
			Help: "Sessions currently tracked, including those being closed.",
		}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_session_created_total",
			Help: "Sessions created for clients (not counting sessions restored from a snapshot or log).",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_session_expired_total",
			Help: "Sessions expired because the client did not ping within its timeout.",
		}),
		closed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_session_closed_total",
			Help: "Sessions removed without having expired, normally because the client closed them.",
		}),
		timeout: prometheus.NewHistogram(metrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_session_timeout_seconds",
			Help:    "Negotiated timeouts of sessions created for clients.",
			Buckets: timeoutBuckets,
		})),
	}
	// Registering m as one collector makes registration all-or-nothing.
	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("register session metrics: %w", err)
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.active, m.created, m.expired, m.closed, m.timeout}
}

func (m *Metrics) setActive(n int) {
	if m != nil {
		m.active.Set(float64(n))
	}
}

func (m *Metrics) sessionCreated(timeoutSeconds float64) {
	if m != nil {
		m.created.Inc()
		m.timeout.Observe(timeoutSeconds)
	}
}

func (m *Metrics) sessionsExpired(n int) {
	if m != nil && n > 0 {
		m.expired.Add(float64(n))
	}
}

func (m *Metrics) sessionClosed() {
	if m != nil {
		m.closed.Inc()
	}
}
