// Package storage is a server's durable state in ZooKeeper 3.8's data
// directory layout: the txn log being written (dataLogDir/version-2/log.*),
// the snapshots (dataDir/version-2/snapshot.*), recovery from both, when to
// take the next snapshot, the epoch files, and retention.
//
// The rules come from ZooKeeper's FileTxnSnapLog and where ZooKeeper is
// silent or lenient zkd is strict: a damaged record inside the log stops
// start-up with an error naming file, offset and zxid instead of being
// skipped, a gap in zxids is an error, and a torn last record (a crash in
// the middle of a write) is cut off with a warning and a metric.
package storage

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

// VersionDir is the subdirectory ZooKeeper keeps its files in.
const VersionDir = "version-2"

// maxSnapshotsTried bounds how many snapshots recovery tries, newest first,
// as ZooKeeper does.
const maxSnapshotsTried = 100

// Options configure a Store. Zero values take ZooKeeper's defaults.
type Options struct {
	DataDir    string // snapshots (and epoch files) go to DataDir/version-2
	DataLogDir string // the txn log goes to DataLogDir/version-2; "" means DataDir
	// SnapCount is the number of txns between snapshots (default 100000):
	// a snapshot is taken after a random count in [SnapCount/2+1, SnapCount].
	SnapCount int
	// SnapCompression is "", "gz" or "snappy".
	SnapCompression       string
	PreAllocSize          int64 // bytes (zoo.cfg's default is 64 MiB); <= 0 turns preallocation off
	ForceSync             bool
	FsyncWarningThreshold time.Duration
	Logger                zerolog.Logger
	Registerer            prometheus.Registerer
	// Metrics, if set, is used instead of registering new metrics with
	// Registerer: a quorum peer reopens its Store after a TRUNC or SNAP
	// and keeps exporting the same series.
	Metrics *MetricSet
	// rand picks the snapshot threshold; tests make it deterministic.
	rand func(n int) int
}

// Store is one server's durable state.
type Store struct {
	opts    Options
	snapDir string
	logDir  string
	log     zerolog.Logger
	metrics *Metrics
	snapM   *snapshot.Metrics
	logM    *txnlog.Metrics

	writer *txnlog.Writer

	mu            sync.Mutex
	sinceSnapshot int
	threshold     int
	snapshotting  bool
}

// MetricSet is a Store's metrics: its own, the txn log's and the
// snapshots', and the filesystem gauges of its directories.
type MetricSet struct {
	storage *Metrics
	snap    *snapshot.Metrics
	log     *txnlog.Metrics
}

// NewMetricSet creates the metrics of a Store over dataDir and dataLogDir
// ("" means dataDir) and registers them with reg (nil: none).
func NewMetricSet(reg prometheus.Registerer, dataDir, dataLogDir string) (*MetricSet, error) {
	if dataLogDir == "" {
		dataLogDir = dataDir
	}
	ms := &MetricSet{}
	var err error
	if ms.storage, err = newMetrics(reg); err != nil {
		return nil, err
	}
	dirs := map[string]string{"snapshot": filepath.Join(dataDir, VersionDir), "txnlog": filepath.Join(dataLogDir, VersionDir)}
	if err := registerFilesystem(reg, dirs); err != nil {
		return nil, err
	}
	if ms.snap, err = snapshot.NewMetrics(reg); err != nil {
		return nil, err
	}
	if ms.log, err = txnlog.NewMetrics(reg); err != nil {
		return nil, err
	}
	return ms, nil
}

// Open prepares the directories and the metrics. It reads nothing yet:
// call Restore, then write with Append and Commit.
func Open(opts Options) (*Store, error) {
	if opts.DataDir == "" {
		return nil, errors.New("storage: dataDir is not set")
	}
	if opts.DataLogDir == "" {
		opts.DataLogDir = opts.DataDir
	}
	if opts.SnapCount <= 0 {
		opts.SnapCount = 100000
	}
	if opts.SnapCount < 2 {
		opts.SnapCount = 2
	}
	if opts.rand == nil {
		opts.rand = rand.IntN
	}
	s := &Store{
		opts:    opts,
		snapDir: filepath.Join(opts.DataDir, VersionDir),
		logDir:  filepath.Join(opts.DataLogDir, VersionDir),
		log:     opts.Logger,
	}
	for _, d := range []string{s.snapDir, s.logDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	if err := s.checkLayout(); err != nil {
		return nil, err
	}
	s.removeLeftovers()
	ms := opts.Metrics
	if ms == nil {
		var err error
		if ms, err = NewMetricSet(opts.Registerer, opts.DataDir, opts.DataLogDir); err != nil {
			return nil, err
		}
	}
	s.metrics, s.snapM, s.logM = ms.storage, ms.snap, ms.log
	s.newThreshold()
	return s, nil
}

// checkLayout refuses a log directory holding snapshots or a snapshot
// directory holding logs when they differ (ZOOKEEPER-2967): that is a
// swapped dataDir/dataLogDir, and writing on would mix two histories.
func (s *Store) checkLayout() error {
	if s.snapDir == s.logDir {
		return nil
	}
	if m, _ := filepath.Glob(filepath.Join(s.logDir, "snapshot.*")); len(m) > 0 {
		return fmt.Errorf("storage: the log directory %s holds snapshots (%s): are dataDir and dataLogDir swapped?", s.logDir, m[0])
	}
	if m, _ := filepath.Glob(filepath.Join(s.snapDir, "log.*")); len(m) > 0 {
		return fmt.Errorf("storage: the snapshot directory %s holds txn logs (%s): are dataDir and dataLogDir swapped?", s.snapDir, m[0])
	}
	return nil
}

// removeLeftovers deletes the temporary files of snapshots and epoch files
// that a crash interrupted: they were never renamed into place, so nothing
// refers to them, and left alone they would pile up.
func (s *Store) removeLeftovers() {
	patterns := []string{".snapshot.*.tmp", CurrentEpochFile + ".tmp", AcceptedEpochFile + ".tmp"}
	for _, p := range patterns {
		matches, _ := filepath.Glob(filepath.Join(s.snapDir, p))
		for _, m := range matches {
			if err := os.Remove(m); err != nil {
				s.log.Warn().Str("file", m).Err(err).Msg("cannot remove leftover temporary file")
				continue
			}
			s.log.Info().Str("file", m).Msg("removed a temporary file left by an interrupted write")
		}
	}
}

// SnapDir and LogDir are the version-2 directories.
func (s *Store) SnapDir() string { return s.snapDir }

// LogDir is the directory of the txn log.
func (s *Store) LogDir() string { return s.logDir }

// Restored is what recovery rebuilt.
type Restored struct {
	Tree     *datatree.Tree
	Sessions []snapshot.Session
	// SnapZxid is the zxid of the snapshot recovery started from (-1: none).
	SnapZxid int64
	// LastZxid is the last txn applied.
	LastZxid  int64
	Replayed  int
	TornTails []txnlog.TornTail
	Duration  time.Duration
}

// CorruptionError stops start-up: the txn log is damaged inside, not at a
// torn tail, and replaying on would lose or invent acknowledged writes.
type CorruptionError struct {
	File   string
	Offset int64
	Zxid   int64 // the last good zxid before the damage
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("txn log %s is damaged at offset %d, after zxid 0x%x: %s. "+
		"Inspect it with `zkd logdump --verify %s`. To start from the data before the damage, cut the log there "+
		"with `zkd truncate-log --zxid 0x%x %s` (writes after that zxid are then lost on this server; "+
		"in an ensemble they return from the leader)",
		e.File, e.Offset, e.Zxid, e.Reason, filepath.Dir(e.File), e.Zxid, filepath.Dir(filepath.Dir(e.File)))
}

// Restore rebuilds the tree and the sessions: the newest snapshot that
// reads cleanly, then every later txn from the log. With no snapshot and
// no log it starts an empty database and writes snapshot.0, as ZooKeeper
// does. It opens the log for writing afterwards.
func (s *Store) Restore(treeOpts datatree.Options) (*Restored, error) {
	start := time.Now()
	res, err := s.restore(treeOpts)
	if err != nil {
		s.metrics.recoveryFailures.Inc()
		return nil, err
	}
	res.Duration = time.Since(start)
	s.metrics.recoveryDuration.Observe(res.Duration.Seconds())
	s.metrics.replayedTxns.Add(float64(res.Replayed))
	s.log.Info().Str("snapshot_zxid", hex(res.SnapZxid)).Str("last_zxid", hex(res.LastZxid)).
		Int("replayed", res.Replayed).Int("sessions", len(res.Sessions)).Dur("took", res.Duration).
		Msg("data restored from disk")
	w, err := txnlog.OpenWriter(txnlog.Options{
		Dir:                   s.logDir,
		PreAllocSize:          s.opts.PreAllocSize,
		ForceSync:             s.opts.ForceSync,
		FsyncWarningThreshold: s.opts.FsyncWarningThreshold,
		Logger:                s.log,
		Metrics:               s.logM,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: open txn log: %w", err)
	}
	s.writer = w
	return res, nil
}

func (s *Store) restore(treeOpts datatree.Options) (*Restored, error) {
	snap, err := s.loadSnapshot(treeOpts)
	if err != nil {
		return nil, err
	}
	res := &Restored{SnapZxid: -1}
	if snap == nil {
		logs, err := txnlog.Files(s.logDir)
		if err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		if len(logs) > 0 {
			return nil, fmt.Errorf("storage: no snapshot in %s but txn logs in %s (%s...): refusing to guess the starting state "+
				"(ZooKeeper refuses too); restore the snapshot, or move the logs away to start empty", s.snapDir, s.logDir, logs[0].Path)
		}
		tree := datatree.NewWithOptions(treeOpts)
		if _, err := snapshot.WriteFile(s.snapDir, 0, tree, nil, s.opts.SnapCompression, s.snapM); err != nil {
			return nil, fmt.Errorf("storage: initial snapshot: %w", err)
		}
		s.log.Info().Str("dir", s.snapDir).Msg("empty data directory: created snapshot.0")
		res.Tree, res.SnapZxid = tree, 0
		return res, nil
	}
	res.Tree, res.Sessions, res.SnapZxid = snap.Tree, snap.Sessions, snap.Zxid
	if res.Tree.LastProcessedZxid() < snap.Zxid {
		res.Tree.SetLastProcessedZxid(snap.Zxid)
	}
	if err := s.replay(res, snap.FuzzyDigest()); err != nil {
		return nil, err
	}
	res.LastZxid = res.Tree.LastProcessedZxid()
	return res, nil
}

// loadSnapshot reads the newest snapshot that is whole, falling back to
// older ones as ZooKeeper does (a damaged newest snapshot is the case
// InvalidSnapshotTest covers). nil, nil means there is none.
func (s *Store) loadSnapshot(treeOpts datatree.Options) (*snapshot.Snapshot, error) {
	files, err := snapshot.List(s.snapDir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	tried := 0
	var lastErr error
	for _, f := range files {
		if !f.Valid {
			s.log.Warn().Str("file", f.Path).Msg("skipping snapshot that fails the validity check")
			continue
		}
		if tried == maxSnapshotsTried {
			break
		}
		tried++
		snap, err := snapshot.ReadFile(f.Path, treeOpts)
		if err != nil {
			lastErr = err
			s.metrics.badSnapshots.Inc()
			s.log.Warn().Str("file", f.Path).Err(err).Msg("problem reading snapshot; trying an older one")
			continue
		}
		return snap, nil
	}
	if tried > 0 {
		return nil, fmt.Errorf("storage: no valid snapshot in %s (last error: %w)", s.snapDir, lastErr)
	}
	return nil, nil
}

// dropHeaderlessTail removes the newest log file when it is too short to
// hold even its header: a crash just after the file was created. It cannot
// hold a record, let alone an acknowledged one (ZooKeeper 3.9.3 does the
// same, ZOOKEEPER-2332). Only the last file: a short file before others is
// damage and recovery reports it.
func (s *Store) dropHeaderlessTail() error {
	files, err := txnlog.Files(s.logDir)
	if err != nil || len(files) == 0 {
		return err
	}
	last := files[len(files)-1].Path
	st, err := os.Stat(last)
	if err != nil {
		return err
	}
	if st.Size() >= logHeaderSize {
		return nil
	}
	s.metrics.tornTails.Inc()
	s.log.Warn().Str("file", last).Int64("bytes", st.Size()).
		Msg("newest txn log is shorter than its header (a crash right after it was created); removing it")
	return os.Remove(last)
}

// logHeaderSize is the size of a txn log's file header.
const logHeaderSize = 16

// replay applies every logged txn after the snapshot. fuzzy is the
// snapshot's digest record if the snapshot is fuzzy (Snapshot.FuzzyDigest):
// logged digests are compared only from its zxid on, where the tree's
// digest is also compared with the record itself.
func (s *Store) replay(res *Restored, fuzzy *snapshot.ZxidDigest) error {
	if err := s.dropHeaderlessTail(); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	it, err := txnlog.NewIterator(s.logDir, res.SnapZxid+1, txnlog.ReadOptions{})
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer it.Close()
	sessions := map[int64]int32{}
	order := []int64{}
	for _, ss := range res.Sessions {
		sessions[ss.ID] = ss.TimeoutMs
		order = append(order, ss.ID)
	}
	prev := res.SnapZxid
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var ce *txnlog.CorruptError
			if errors.As(err, &ce) {
				s.metrics.corruptions.WithLabelValues(ce.Kind).Inc()
				return &CorruptionError{File: ce.File, Offset: ce.Offset, Zxid: prev, Reason: ce.Kind + ": " + errString(ce.Err)}
			}
			return fmt.Errorf("storage: replay after zxid 0x%x: %w", prev, err)
		}
		z := e.Hdr.Zxid
		if z <= prev {
			// The same zxid again: a file started after a torn record
			// re-used it, or logs overlap after a TRUNC. ZooKeeper
			// applies only newer txns.
			continue
		}
		if gap(prev, z) {
			return &CorruptionError{File: e.File, Offset: e.Offset, Zxid: prev,
				Reason: fmt.Sprintf("zxid gap: 0x%x follows 0x%x (txns 0x%x..0x%x are missing)", z, prev, prev+1, z-1)}
		}
		switch t := e.Txn.(type) {
		case *proto.CreateSessionTxn:
			if _, ok := sessions[e.Hdr.ClientID]; !ok {
				order = append(order, e.Hdr.ClientID)
			}
			sessions[e.Hdr.ClientID] = t.TimeOut
		case *proto.CloseSessionTxn:
			delete(sessions, e.Hdr.ClientID)
		}
		// Errors are expected when replaying over a fuzzy snapshot
		// (ZooKeeper ignores them the same way).
		_ = res.Tree.ProcessTxn(&e.Hdr, e.Txn)
		if fuzzy != nil && z >= fuzzy.Zxid {
			if z == fuzzy.Zxid && !res.Tree.CheckDigest(&proto.TxnDigest{Version: fuzzy.Version, TreeDigest: fuzzy.Digest}) {
				s.log.Warn().Str("zxid", hex(z)).Str("snapshot_zxid", hex(res.SnapZxid)).
					Msg("tree digest differs from the one the snapshot recorded for this zxid")
			}
			fuzzy = nil
		}
		if fuzzy == nil && e.Digest != nil && !res.Tree.CheckDigest(e.Digest) {
			s.log.Warn().Str("zxid", hex(z)).Str("file", e.File).Msg("tree digest differs from the one logged with this txn")
		}
		prev = z
		res.Replayed++
	}
	if fuzzy != nil {
		// ZooKeeper warns the same way: the snapshot holds txns the log
		// does not, so this server may be ahead of what it can replay.
		s.metrics.unverifiedSnapshots.Inc()
		s.log.Warn().Str("snapshot_zxid", hex(res.SnapZxid)).Str("digest_zxid", hex(fuzzy.Zxid)).Str("last_zxid", hex(prev)).
			Msg("the txn log ends before the zxid of the snapshot's digest record: the snapshot could not be verified")
	}
	res.TornTails = it.TornTails()
	for _, tt := range res.TornTails {
		s.metrics.tornTails.Inc()
		s.log.Warn().Str("file", tt.File).Int64("offset", tt.Offset).Str("reason", tt.Reason).
			Msg("txn log ends in a partial record (a write cut short by a crash); truncating it there")
		if err := txnlog.TruncateAt(tt.File, tt.Offset); err != nil {
			return fmt.Errorf("storage: truncate torn tail of %s at %d: %w", tt.File, tt.Offset, err)
		}
	}
	res.Sessions = res.Sessions[:0]
	for _, id := range order {
		if to, ok := sessions[id]; ok {
			res.Sessions = append(res.Sessions, snapshot.Session{ID: id, TimeoutMs: to})
		}
	}
	return nil
}

// gap reports whether z cannot directly follow prev: within an epoch the
// counter goes up by one; a new epoch may start anywhere above.
func gap(prev, z int64) bool {
	if prev < 0 {
		return false
	}
	if z>>32 != prev>>32 {
		return false
	}
	return z != prev+1
}

// Append buffers one txn for the next Commit.
func (s *Store) Append(hdr *proto.TxnHeader, txn proto.Txn, digest *proto.TxnDigest) error {
	return s.writer.Append(hdr, txn, digest)
}

// Commit makes every txn appended since the last Commit durable (one
// fsync for the whole batch: the group commit).
func (s *Store) Commit() error { return s.writer.Commit() }

// Rollback discards what was appended since the last successful Commit
// after a failure, so the log holds only whole, committed records.
func (s *Store) Rollback() error { return s.writer.Rollback() }

// Committed counts n txns made durable and reports whether a snapshot is
// due (and none is running). When it returns true the log was rolled, so
// the snapshot and the next log file start at the same point.
func (s *Store) Committed(n int) (due bool, err error) {
	s.mu.Lock()
	s.sinceSnapshot += n
	due = s.sinceSnapshot >= s.threshold
	s.mu.Unlock()
	if !due {
		return false, nil
	}
	return s.StartSnapshot()
}

// StartSnapshot starts a snapshot now, out of snapCount's turn, unless one
// is running (then it reports false). Like Committed reporting one due, it
// rolls the log and restarts the count towards the next one.
func (s *Store) StartSnapshot() (bool, error) {
	s.mu.Lock()
	if s.snapshotting {
		s.mu.Unlock()
		return false, nil
	}
	s.sinceSnapshot = 0
	s.newThreshold()
	s.snapshotting = true
	s.mu.Unlock()
	if err := s.writer.Roll(); err != nil {
		s.endSnapshot()
		return false, fmt.Errorf("storage: roll txn log: %w", err)
	}
	return true, nil
}

// newThreshold picks the next snapshot point in [SnapCount/2+1, SnapCount]
// (ZooKeeper randomises it so that servers of an ensemble do not all
// snapshot at once).
func (s *Store) newThreshold() {
	half := s.opts.SnapCount / 2
	s.threshold = half + 1 + s.opts.rand(s.opts.SnapCount-half)
}

// endSnapshot ends the snapshot Committed started (written or failed):
// the next one may start.
func (s *Store) endSnapshot() {
	s.mu.Lock()
	s.snapshotting = false
	s.mu.Unlock()
}

// Snapshot writes an encoded snapshot (EncodeSnapshot of the tree at zxid)
// to disk, then allows the next one.
// It runs without any tree lock: compression, writing and fsync never hold
// up requests.
func (s *Store) Snapshot(zxid int64, stream []byte) (string, error) {
	defer s.endSnapshot()
	path, err := snapshot.WriteEncoded(s.snapDir, zxid, stream, s.opts.SnapCompression, s.snapM)
	if err != nil {
		s.log.Error().Err(err).Msg("snapshot failed")
		return "", err
	}
	s.log.Info().Str("file", path).Str("zxid", hex(zxid)).Int("bytes", len(stream)).Msg("snapshot written")
	// The encoded stream is as large as the tree's data, and with it the
	// heap just peaked at about twice the live tree. Go's background
	// scavenger returns such a peak to the OS only over minutes, so the
	// resident size would stay at the peak: hand it back now, off the
	// caller's goroutine.
	go debug.FreeOSMemory()
	return path, nil
}

// EncodeSnapshot encodes a fuzzy snapshot (snapshot.EncodeFuzzy) of tree
// at zxid for Snapshot, timing it. sessions are the sessions at zxid, and
// the tree must have applied at least every txn up to zxid. The caller
// does not hold the tree's lock: writes go on while it runs. A failure is
// logged and counted, and ends the snapshot: the next one may start.
func (s *Store) EncodeSnapshot(tree *datatree.Tree, sessions []snapshot.Session, zxid int64) ([]byte, error) {
	stream, err := s.snapM.EncodeFuzzy(tree, sessions, zxid)
	if err != nil {
		s.endSnapshot()
		s.log.Error().Err(err).Msg("snapshot failed")
	}
	return stream, err
}

// Close closes the txn log.
func (s *Store) Close() error {
	if s.writer == nil {
		return nil
	}
	return s.writer.Close()
}

func hex(v int64) string { return fmt.Sprintf("0x%x", uint64(v)) }

func errString(err error) string {
	if err == nil {
		return "unknown"
	}
	return err.Error()
}
