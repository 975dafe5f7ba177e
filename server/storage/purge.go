package storage

import (
	"fmt"
	"os"

	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

// PurgeResult lists what a purge deleted (or would delete, in a dry run).
type PurgeResult struct {
	Snapshots []string
	Logs      []string
	// Oldest is the zxid of the oldest snapshot kept.
	Oldest int64
}

// Purge keeps the newest `keep` valid snapshots (at least 3) and the txn
// logs recovery needs from the oldest of them: the log file that starts at
// or before that snapshot and every later one (ZooKeeper's PurgeTxnLog,
// with the ZOOKEEPER-2574 retention rule). Newer invalid snapshots and
// unrelated files are left alone. dryRun reports without deleting.
func Purge(snapDir, logDir string, keep int, dryRun bool) (*PurgeResult, error) {
	if keep < 3 {
		return nil, fmt.Errorf("storage: purge must keep at least 3 snapshots, not %d", keep)
	}
	snaps, err := snapshot.List(snapDir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var valid []snapshot.File
	for _, f := range snaps { // newest first
		if f.Valid {
			valid = append(valid, f)
		}
	}
	res := &PurgeResult{Oldest: -1}
	if len(valid) <= keep {
		return res, nil
	}
	least := valid[keep-1].Zxid
	res.Oldest = least
	for _, f := range snaps {
		if f.Zxid < least {
			res.Snapshots = append(res.Snapshots, f.Path)
		}
	}
	logs, err := txnlog.Files(logDir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	// Keep the newest log that starts at or before least: it holds the
	// txns right after that snapshot.
	keepFrom := -1
	for i, l := range logs {
		if l.StartZxid <= least {
			keepFrom = i
		}
	}
	for i, l := range logs {
		if i < keepFrom {
			res.Logs = append(res.Logs, l.Path)
		}
	}
	if dryRun {
		return res, nil
	}
	for _, p := range append(append([]string(nil), res.Snapshots...), res.Logs...) {
		if err := os.Remove(p); err != nil {
			return res, fmt.Errorf("storage: purge %s: %w", p, err)
		}
	}
	return res, nil
}

// Purge runs retention on this store's directories and counts it.
func (s *Store) Purge(keep int) (*PurgeResult, error) {
	res, err := Purge(s.snapDir, s.logDir, keep, false)
	if err != nil {
		s.metrics.purgeErrors.Inc()
		s.log.Error().Err(err).Msg("purge failed")
		return res, err
	}
	s.metrics.purgedFiles.WithLabelValues("snapshot").Add(float64(len(res.Snapshots)))
	s.metrics.purgedFiles.WithLabelValues("log").Add(float64(len(res.Logs)))
	if len(res.Snapshots)+len(res.Logs) > 0 {
		s.log.Info().Int("snapshots", len(res.Snapshots)).Int("logs", len(res.Logs)).Str("oldest_kept", hex(res.Oldest)).
			Msg("purged old snapshots and txn logs")
	}
	return res, nil
}
