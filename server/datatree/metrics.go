package datatree

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics"

	"github.com/zkd-io/zkd/server/proto"
)

// Metrics are the tree's operator-facing metrics. A nil *Metrics is valid
// and records nothing.
//
// The gauges are set after every applied txn (and after a load), so they
// need no lock at scrape time. zkd_tree_znodes and zkd_tree_data_bytes use
// ZooKeeper's definitions (mntr's zk_znode_count and
// zk_approximate_data_size) so that dashboards built for ZooKeeper read the
// same numbers.
type Metrics struct {
	znodes     prometheus.Gauge
	ephemerals prometheus.Gauge
	dataBytes  prometheus.Gauge
	applied    *prometheus.CounterVec
	duration   prometheus.Histogram
	mismatches prometheus.Counter
	slow       prometheus.Counter
	// SlowApply, if set, is called (with the tree locked) for a txn whose
	// apply took longer than SlowApplyThreshold, so the server can log it.
	SlowApply func(zxid int64, typ int32, d time.Duration)
}

// SlowApplyThreshold is when applying one txn counts as slow: a plain txn
// applies in microseconds; 100 ms means a huge multi, a watch storm or a
// stalled process, and every reader waits behind it.
const SlowApplyThreshold = 100 * time.Millisecond

// txnTypes are the header types a txn log holds; their series are created
// up front so that dashboards see zeros rather than gaps.
var txnTypes = []proto.Op{
	proto.OpCreate, proto.OpCreate2, proto.OpCreateTTL, proto.OpCreateContainer,
	proto.OpDelete, proto.OpDeleteContainer, proto.OpSetData, proto.OpSetACL,
	proto.OpReconfig, proto.OpMulti, proto.OpError, proto.OpCreateSession, proto.OpCloseSession,
}

// NewMetrics creates the tree metrics and registers them with reg. A nil reg
// means "no metrics": NewMetrics returns nil, nil.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		znodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_tree_znodes",
			Help: "Znodes in the tree, counted as ZooKeeper's zk_znode_count (the root counts twice).",
		}),
		ephemerals: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_tree_ephemerals",
			Help: "Ephemeral znodes owned by sessions.",
		}),
		dataBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_tree_data_bytes",
			Help: "Approximate size of the tree: path lengths plus data lengths, as ZooKeeper's zk_approximate_data_size.",
		}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_tree_txns_applied_total",
			Help: "Transactions applied to the tree, by txn type (failed requests are type error).",
		}, []string{"type"}),
		duration: prometheus.NewHistogram(metrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_tree_apply_duration_seconds",
			Help:    "Time to apply one transaction to the tree, watch notifications included.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1µs .. 0.26s
		})),
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_tree_digest_mismatches_total",
			Help: "Transactions after which the tree digest differed from the digest logged with them.",
		}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_tree_slow_applies_total",
			Help: "Transactions whose apply to the tree (watch notifications included) took longer than 100 ms.",
		}),
	}
	for _, op := range txnTypes {
		m.applied.WithLabelValues(proto.OpName(op))
	}
	// Registering m as one collector makes registration all-or-nothing.
	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("register tree metrics: %w", err)
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.znodes, m.ephemerals, m.dataBytes, m.applied, m.duration, m.mismatches, m.slow}
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

func (m *Metrics) observeApply(zxid int64, typ int32, d time.Duration) {
	if m == nil {
		return
	}
	m.applied.WithLabelValues(proto.OpName(typ)).Inc()
	m.duration.Observe(d.Seconds())
	if d > SlowApplyThreshold {
		m.slow.Inc()
		if m.SlowApply != nil {
			m.SlowApply(zxid, typ, d)
		}
	}
}

func (m *Metrics) digestMismatch() {
	if m == nil {
		return
	}
	m.mismatches.Inc()
}

// updateGauges publishes the tree's sizes.
func (t *Tree) updateGauges() {
	m := t.metrics
	if m == nil {
		return
	}
	m.znodes.Set(float64(t.NodeCount()))
	m.ephemerals.Set(float64(t.EphemeralCount()))
	m.dataBytes.Set(float64(t.ApproximateDataSize()))
}
