package prep

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/server/proto"
)

// Metrics are the prep stage's metrics. A nil *Metrics is valid and records
// nothing.
//
// zkd_prep_txns_total says which writes clients send and why they fail
// (NODEEXISTS from lock recipes is normal; NOAUTH or BADARGUMENTS bursts
// point at a misconfigured client). zkd_prep_outstanding_changes is the
// number of node changes prepped but not yet applied: it grows when the
// log or the quorum falls behind.
type Metrics struct {
	txns        *prometheus.CounterVec
	outstanding prometheus.Gauge
}

// NewMetrics creates the prep metrics and registers them with reg. A nil
// reg means "no metrics": NewMetrics returns nil, nil.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_prep_txns_total",
			Help: "Write requests turned into txns, by op type and result (ok, or the lower-case error, e.g. nodeexists; the first failing op's error for a multi).",
		}, []string{"type", "result"}),
		outstanding: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_prep_outstanding_changes",
			Help: "Node changes prepped but not yet applied to the tree.",
		}),
	}
	for _, op := range []int32{proto.OpCreate, proto.OpCreate2, proto.OpDelete, proto.OpSetData, proto.OpMulti} {
		m.txns.WithLabelValues(proto.OpName(op), resultOf(proto.ErrOK))
	}
	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("register prep metrics: %w", err)
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.txns.Describe(ch)
	m.outstanding.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.txns.Collect(ch)
	m.outstanding.Collect(ch)
}

func resultOf(code proto.Code) string {
	if code == proto.ErrOK {
		return "ok"
	}
	return strings.ToLower(proto.CodeName(code))
}

func (m *Metrics) observe(op int32, code proto.Code, outstanding int) {
	if m == nil {
		return
	}
	m.txns.WithLabelValues(proto.OpName(op), resultOf(code)).Inc()
	m.outstanding.Set(float64(outstanding))
}

func (m *Metrics) setOutstanding(n int) {
	if m == nil {
		return
	}
	m.outstanding.Set(float64(n))
}
