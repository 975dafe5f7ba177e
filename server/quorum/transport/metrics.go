package transport

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	zkdmetrics "github.com/zkd-io/zkd/metrics"
)

// metrics are what an operator watches of elections: how often they run
// and how long they take, whether notifications flow, which peers are
// reachable and what this server became.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	rounds     prometheus.Counter
	duration   prometheus.Histogram
	received   prometheus.Counter
	sent       prometheus.Counter
	connErrors *prometheus.CounterVec
	state      prometheus.Gauge
	last       prometheus.Gauge
}

// Connection error reasons (label values of
// zkd_election_connection_errors_total): dial, handshake, accept,
// unknown_peer, decode, io.
func newMetrics(reg prometheus.Registerer, connected func() float64) (*metrics, error) {
	m := &metrics{
		reg: reg,
		rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_election_rounds_total",
			Help: "Leader election rounds started by this server.",
		}),
		duration: prometheus.NewHistogram(zkdmetrics.Native(prometheus.HistogramOpts{
			Name: "zkd_election_duration_seconds",
			Help: "Time from the start of a leader election to its decision.",
			// ZooKeeper's finalizeWait alone is 200 ms; a partitioned
			// server may look for a minute or more.
			Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 120},
		})),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_election_notifications_received_total",
			Help: "Election notifications received from peers and decoded.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_election_notifications_sent_total",
			Help: "Election notifications written to peers (replaced unsent ones are not counted).",
		}),
		connErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_election_connection_errors_total",
			Help: "Election connection failures by reason (dial, handshake, accept, unknown_peer, decode, io).",
		}, []string{"reason"}),
		state: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_election_state",
			Help: "This server's state after its last election: 0 looking, 1 following, 2 leading, 3 observing.",
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_election_last_timestamp_seconds",
			Help: "Unix time at which this server's last leader election ended (0: none yet).",
		}),
	}
	m.collectors = []prometheus.Collector{m.rounds, m.duration, m.received, m.sent, m.connErrors, m.state, m.last,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "zkd_election_connections",
			Help: "Peers this server currently has an election connection to.",
		}, connected),
	}
	// Every reason exists from the start, so rate() and dashboards see a
	// zero rather than no series before the first failure.
	for _, r := range []string{"dial", "handshake", "accept", "unknown_peer", "decode", "io"} {
		m.connErrors.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register election metrics: %w", err)
		}
	}
	return m, nil
}

// unregister removes the metrics, so that a server can build a new Manager
// on the same registry after closing the old one.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

// RegisterCatalogueMetrics registers the election metrics with reg without
// running an election, so that the metrics catalogue and the tests that
// check dashboards and alert rules against it see the whole set. A server
// gets them from New instead.
func RegisterCatalogueMetrics(reg prometheus.Registerer) error {
	_, err := newMetrics(reg, func() float64 { return 0 })
	return err
}
