package snapshot

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics"

	"github.com/zkd-io/zkd/server/datatree"
)

// Metrics records what operators watch about snapshots: how long writing
// and loading take, how big the last one was, and failures. A nil *Metrics
// records nothing.
type Metrics struct {
	encode       prometheus.Histogram
	duration     prometheus.Histogram
	bytes        prometheus.Gauge
	lastSuccess  prometheus.Gauge
	writes       prometheus.Counter
	errs         *prometheus.CounterVec
	loadDuration prometheus.Histogram
}

// NewMetrics creates the snapshot metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	// Snapshots of large trees take seconds to minutes.
	buckets := prometheus.ExponentialBuckets(0.001, 4, 12)
	m := &Metrics{
		encode: prometheus.NewHistogram(metrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_snapshot_encode_duration_seconds",
			Help:    "Time to encode the tree for a snapshot. Writes go on meanwhile: the walk holds the tree's read lock for a few thousand nodes at a time.",
			Buckets: buckets,
		})),
		duration: prometheus.NewHistogram(metrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_snapshot_duration_seconds",
			Help:    "Time to write a snapshot file, fsyncs included.",
			Buckets: buckets,
		})),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_snapshot_last_success_timestamp_seconds",
			Help: "Unix time the last snapshot file was written successfully (0: none since start-up).",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_snapshot_bytes",
			Help: "Size of the last snapshot file written, after compression.",
		}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_snapshot_written_total",
			Help: "Snapshot files written successfully.",
		}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_snapshot_errors_total",
			Help: "Snapshot files that could not be written or read, by op (write, read).",
		}, []string{"op"}),
		loadDuration: prometheus.NewHistogram(metrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_snapshot_load_duration_seconds",
			Help:    "Time to read and load a snapshot file into a tree.",
			Buckets: buckets,
		})),
	}
	// Export both label values from the start so that rate() works before
	// the first failure.
	m.errs.WithLabelValues("write")
	m.errs.WithLabelValues("read")
	if reg == nil {
		return m, nil // working but unregistered, like the other packages' metrics
	}
	for _, c := range []prometheus.Collector{m.encode, m.duration, m.bytes, m.lastSuccess, m.writes, m.errs, m.loadDuration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("snapshot: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) written(d time.Duration, size int64) {
	if m == nil {
		return
	}
	m.duration.Observe(d.Seconds())
	m.bytes.Set(float64(size))
	m.writes.Inc()
	m.lastSuccess.SetToCurrentTime()
}

// EncodeFuzzy is the package's EncodeFuzzy (chunks of FuzzyChunk nodes)
// that also records how long it took, or a write error. The caller does
// not hold the tree's lock. m may be nil.
func (m *Metrics) EncodeFuzzy(tree *datatree.Tree, sessions []Session, zxid int64) ([]byte, error) {
	start := time.Now()
	stream, err := EncodeFuzzy(tree, sessions, zxid, FuzzyChunk)
	if m != nil {
		if err != nil {
			m.writeError()
		} else {
			m.encode.Observe(time.Since(start).Seconds())
		}
	}
	return stream, err
}

func (m *Metrics) writeError() {
	if m != nil {
		m.errs.WithLabelValues("write").Inc()
	}
}

// ReadFile is the package's ReadFile that also records the load time, or a
// read error. m may be nil.
func (m *Metrics) ReadFile(path string, opts datatree.Options) (*Snapshot, error) {
	start := time.Now()
	s, err := ReadFile(path, opts)
	if m != nil {
		if err != nil {
			m.errs.WithLabelValues("read").Inc()
		} else {
			m.loadDuration.Observe(time.Since(start).Seconds())
		}
	}
	return s, err
}
