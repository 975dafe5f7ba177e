package storage

import (
	"fmt"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics"
)

// Metrics are recovery's and retention's instruments; the txn log and the
// snapshots have their own (server/txnlog, server/snapshot).
type Metrics struct {
	recoveryDuration prometheus.Histogram
	recoveryFailures prometheus.Counter
	replayedTxns     prometheus.Counter
	tornTails        prometheus.Counter
	corruptions      *prometheus.CounterVec
	badSnapshots     prometheus.Counter
	// unverifiedSnapshots counts fuzzy snapshots whose digest record's
	// zxid the log did not reach.
	unverifiedSnapshots prometheus.Counter
	purgedFiles         *prometheus.CounterVec
	purgeErrors         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		recoveryDuration: prometheus.NewHistogram(metrics.Native(prometheus.HistogramOpts{
			Name:    "zkd_storage_recovery_duration_seconds",
			Help:    "Time to restore the data tree from the newest snapshot and the txn log at start-up.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		})),
		recoveryFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_storage_recovery_failures_total", Help: "Start-ups whose recovery from disk failed."}),
		replayedTxns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_storage_replayed_txns_total", Help: "Txns replayed from the log on top of a snapshot at start-up."}),
		tornTails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_storage_torn_tails_total",
			Help: "Partial last records (writes cut short by a crash) found and truncated at start-up."}),
		corruptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_storage_log_corruptions_total",
			Help: "Damaged txn log records that stopped start-up, by kind (checksum, length, magic, decode).",
		}, []string{"kind"}),
		badSnapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_storage_bad_snapshots_total",
			Help: "Snapshots that failed to load at start-up (an older one was used instead)."}),
		unverifiedSnapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_storage_unverified_snapshots_total",
			Help: "Start-ups from a fuzzy snapshot whose digest record names a zxid the txn log does not reach, so the snapshot could not be verified."}),
		purgedFiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_storage_purged_files_total", Help: "Old snapshots and txn logs deleted by retention, by kind (snapshot, log).",
		}, []string{"kind"}),
		purgeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_storage_purge_errors_total", Help: "Retention runs that failed to delete a file."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.recoveryDuration, m.recoveryFailures, m.replayedTxns, m.tornTails,
			m.corruptions, m.badSnapshots, m.unverifiedSnapshots, m.purgedFiles, m.purgeErrors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("storage metrics: %w", err)
			}
		}
	}
	return m, nil
}

// registerFilesystem exports the free and total space of the filesystems
// holding the snapshots and the txn log, read when scraped: a full disk is
// the most common way a ZooKeeper server stops taking writes.
func registerFilesystem(reg prometheus.Registerer, dirs map[string]string) error {
	if reg == nil {
		return nil
	}
	for role, dir := range dirs {
		dir := dir
		avail := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "zkd_storage_filesystem_avail_bytes",
			Help:        "Bytes available to zkd on the filesystem holding the snapshots (dir=snapshot) or the txn log (dir=txnlog).",
			ConstLabels: prometheus.Labels{"dir": role},
		}, func() float64 { a, _ := statfs(dir); return float64(a) })
		size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "zkd_storage_filesystem_size_bytes",
			Help:        "Total size of the filesystem holding the snapshots (dir=snapshot) or the txn log (dir=txnlog).",
			ConstLabels: prometheus.Labels{"dir": role},
		}, func() float64 { _, t := statfs(dir); return float64(t) })
		for _, c := range []prometheus.Collector{avail, size} {
			if err := reg.Register(c); err != nil {
				return fmt.Errorf("storage metrics: %w", err)
			}
		}
	}
	return nil
}

// statfs returns the available and total bytes of dir's filesystem (0, 0
// when it cannot be read).
func statfs(dir string) (avail, total uint64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize)
}
