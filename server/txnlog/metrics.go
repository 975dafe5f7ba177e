package txnlog

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics"
)

// Metrics are the txn log's operator-facing measurements. A nil *Metrics
// records nothing, so tests and tools can skip them.
type Metrics struct {
	fsyncDuration     prometheus.Histogram
	txnsPerFsync      prometheus.Histogram
	preallocations    prometheus.Counter
	preallocatedBytes prometheus.Counter
	zeroFilledBytes   prometheus.Counter
	writtenBytes      prometheus.Counter
	writtenRecords    prometheus.Counter
	files             prometheus.Gauge
	rolls             prometheus.Counter
	slowFsyncs        prometheus.Counter
	writeErrors       *prometheus.CounterVec
}

// Values of the op label of zkd_txnlog_write_errors_total.
const (
	opWrite       = "write"
	opFsync       = "fsync"
	opPreallocate = "preallocate"
	opCreate      = "create"
)

// NewMetrics creates the txn log metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		fsyncDuration: prometheus.NewHistogram(metrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_txnlog_fsync_duration_seconds",
			Help:    "Time to fsync the txn log at a commit (ZooKeeper's fsynctime).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs .. ~3.3s
		})),
		txnsPerFsync: prometheus.NewHistogram(metrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_txnlog_txns_per_fsync",
			Help:    "Txns made durable by one fsync (group commit size).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12), // 1 .. 2048
		})),
		preallocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_txnlog_preallocations_total",
			Help: "Times a txn log file was extended by preAllocSize (FilePadding).",
		}),
		preallocatedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_txnlog_preallocated_bytes_total",
			Help: "Bytes by which txn log files were extended ahead of writes.",
		}),
		zeroFilledBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_txnlog_zero_filled_bytes_total",
			Help: "Bytes of zeros written over preallocated holes ahead of the records, so that commits do not allocate blocks.",
		}),
		writtenBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_txnlog_written_bytes_total",
			Help: "Bytes of txn records committed to the log (headers and padding excluded).",
		}),
		writtenRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_txnlog_written_records_total",
			Help: "Txn records committed to the log.",
		}),
		files: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_txnlog_files",
			Help: "log.* files in the txn log directory, as known to the writer.",
		}),
		rolls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_txnlog_rolls_total",
			Help: "Txn log rolls (the next append starts a new file).",
		}),
		slowFsyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_txnlog_slow_fsyncs_total",
			Help: "Fsyncs slower than the warning threshold (ZooKeeper's fsync_threshold_exceed_count).",
		}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_txnlog_write_errors_total",
			Help: "Failed txn log operations by kind; each needs a Rollback.",
		}, []string{"op"}),
	}
	for _, op := range []string{opWrite, opFsync, opPreallocate, opCreate} {
		m.writeErrors.WithLabelValues(op)
	}
	if reg == nil {
		return m, nil // working but unregistered, like the other packages' metrics
	}
	for _, c := range []prometheus.Collector{m.fsyncDuration, m.txnsPerFsync, m.preallocations, m.preallocatedBytes, m.zeroFilledBytes,
		m.writtenBytes, m.writtenRecords, m.files, m.rolls, m.slowFsyncs, m.writeErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("txnlog: registering metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) preallocated(n int64) {
	if m != nil {
		m.preallocations.Inc()
		m.preallocatedBytes.Add(float64(n))
	}
}

func (m *Metrics) zeroFilled(n int64) {
	if m != nil {
		m.zeroFilledBytes.Add(float64(n))
	}
}

func (m *Metrics) committed(records int, bytes int64) {
	if m != nil {
		m.writtenRecords.Add(float64(records))
		m.writtenBytes.Add(float64(bytes))
	}
}

func (m *Metrics) fsynced(seconds float64, txns int) {
	if m != nil {
		m.fsyncDuration.Observe(seconds)
		m.txnsPerFsync.Observe(float64(txns))
	}
}

func (m *Metrics) slowFsync() {
	if m != nil {
		m.slowFsyncs.Inc()
	}
}

func (m *Metrics) failed(op string) {
	if m != nil {
		m.writeErrors.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) setFiles(n int) {
	if m != nil {
		m.files.Set(float64(n))
	}
}

func (m *Metrics) addFiles(d int) {
	if m != nil {
		m.files.Add(float64(d))
	}
}

func (m *Metrics) rolled() {
	if m != nil {
		m.rolls.Inc()
	}
}
