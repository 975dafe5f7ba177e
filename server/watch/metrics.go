package watch

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/server/proto"
)

// Manager kinds, for NewManagerWithMetrics: they name the standard-watch
// series a Manager updates (standard_data or standard_child).
const (
	KindData  = "data"
	KindChild = "child"
)

// Metrics are the watch metrics shared by the data and child Managers of one
// tree. A nil *Metrics is valid and records nothing.
//
// zkd_watch_active breaks ZooKeeper's single watch_count down by kind, because
// a leak of persistent watches (a client that never removes them) looks very
// different from ordinary one-shot churn. As in ZooKeeper, a persistent watch
// set with addWatch lives in both Managers and is counted once in each.
type Metrics struct {
	watches *prometheus.GaugeVec
	fired   *prometheus.CounterVec
}

// NewMetrics creates the watch metrics and registers them with reg. A nil reg
// means "no metrics": NewMetrics returns nil, nil. Register once per
// registry and pass the result to both Managers.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		watches: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zkd_watch_active",
			Help: "Watches currently set, by kind (standard_data, standard_child, persistent, persistent_recursive).",
		}, []string{"kind"}),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_watch_events_fired_total",
			Help: "Watch events delivered to watchers, by event type.",
		}, []string{"type"}),
	}
	// Create every series up front so dashboards see zeros, not gaps.
	for _, kind := range []string{"standard_" + KindData, "standard_" + KindChild, Persistent.String(), PersistentRecursive.String()} {
		m.watches.WithLabelValues(kind)
	}
	for typ := range eventLabels {
		if eventLabels[typ] != "" {
			m.fired.WithLabelValues(eventLabels[typ])
		}
	}
	// Registering m as one collector makes registration all-or-nothing.
	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("register watch metrics: %w", err)
	}
	return m, nil
}

// eventLabels maps an event type to its label; other types are not counted.
var eventLabels = [...]string{
	proto.EventNodeCreated:         "created",
	proto.EventNodeDeleted:         "deleted",
	proto.EventNodeDataChanged:     "data_changed",
	proto.EventNodeChildrenChanged: "children_changed",
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.watches.Describe(ch)
	m.fired.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.watches.Collect(ch)
	m.fired.Collect(ch)
}

// managerMetrics is a Manager's view of Metrics, resolved once at
// construction so that the hot paths do no label lookups. The zero value
// records nothing.
type managerMetrics struct {
	watches [numModes]prometheus.Gauge
	fired   [len(eventLabels)]prometheus.Counter
}

func (m *Metrics) forManager(kind string) managerMetrics {
	var mm managerMetrics
	if m == nil {
		return mm
	}
	mm.watches[Standard] = m.watches.WithLabelValues("standard_" + kind)
	mm.watches[Persistent] = m.watches.WithLabelValues(Persistent.String())
	mm.watches[PersistentRecursive] = m.watches.WithLabelValues(PersistentRecursive.String())
	for typ, label := range eventLabels {
		if label != "" {
			mm.fired[typ] = m.fired.WithLabelValues(label)
		}
	}
	return mm
}

func (mm *managerMetrics) addWatches(mode Mode, delta int) {
	if g := mm.watches[mode]; g != nil && delta != 0 {
		g.Add(float64(delta))
	}
}

func (mm *managerMetrics) eventsFired(typ int32, n int) {
	if typ < 0 || int(typ) >= len(mm.fired) || n == 0 {
		return
	}
	if c := mm.fired[typ]; c != nil {
		c.Add(float64(n))
	}
}
