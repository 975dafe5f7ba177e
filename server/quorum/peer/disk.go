package peer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/quorum/zab"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/txnlog"
)

// disk is a peer's durable state: the storage.Store it writes through and
// the zab.Storage view the core reads. The view is kept in memory and
// updated by every write, so the core's frequent LastZxid/epoch reads never
// touch the disk; only Entries reads the txn log.
type disk struct {
	opts     storage.Options // with a MetricSet: the Store is reopened
	treeOpts datatree.Options
	store    *storage.Store
	// ioMu serialises log writes by the log writer goroutine
	// with reads of the log files (Entries).
	ioMu sync.Mutex

	first, last   int64 // zxids of the first and last logged txn, 0 if none
	snapZxid      int64 // newest durable snapshot
	snapDue       bool  // storage asked for a snapshot
	acceptedEpoch int64
	currentEpoch  int64
}

var _ zab.Storage = (*disk)(nil)

// restored is the state a peer starts a role from.
type restored struct {
	tree     *datatree.Tree
	sessions map[int64]int32
	applied  int64 // the zxid tree reflects
}

// openDisk opens the data directory and rebuilds the tree as of the newest
// snapshot. Logged txns after it are deliberately not applied: some may
// never have been committed, and the core re-commits the rest
// (zab.Config.Applied, ZOOKEEPER-2845).
func openDisk(opts storage.Options, treeOpts datatree.Options) (*disk, *restored, error) {
	if opts.Metrics == nil {
		ms, err := storage.NewMetricSet(opts.Registerer, opts.DataDir, opts.DataLogDir)
		if err != nil {
			return nil, nil, fmt.Errorf("peer: storage metrics: %w", err)
		}
		opts.Metrics = ms
	}
	opts.Registerer = nil
	d := &disk{opts: opts, treeOpts: treeOpts}
	res, err := d.reopen()
	if err != nil {
		return nil, nil, err
	}
	rs := &restored{tree: res.Tree, sessions: map[int64]int32{}, applied: res.LastZxid}
	for _, s := range res.Sessions {
		rs.sessions[s.ID] = s.TimeoutMs
	}
	if res.Replayed > 0 {
		snap, err := d.readSnapshot(res.SnapZxid)
		if err != nil {
			_ = d.store.Close()
			return nil, nil, err
		}
		rs.tree, rs.applied = snap.Tree, res.SnapZxid
		clear(rs.sessions)
		for _, s := range snap.Sessions {
			rs.sessions[s.ID] = s.TimeoutMs
		}
		if err := d.completeFuzzy(rs, snap); err != nil {
			_ = d.store.Close()
			return nil, nil, err
		}
	}
	for name, dst := range map[string]*int64{storage.AcceptedEpochFile: &d.acceptedEpoch, storage.CurrentEpochFile: &d.currentEpoch} {
		v, ok, err := d.store.ReadEpoch(name)
		if err != nil {
			_ = d.store.Close()
			return nil, nil, fmt.Errorf("peer: read %s: %w", name, err)
		}
		if ok {
			*dst = v
		}
	}
	return d, rs, nil
}

// completeFuzzy brings the tree of a fuzzy snapshot (one taken while txns
// were applied, as zkd and ZooKeeper take them) to the zxid of its digest
// record by replaying the log up to there. Every txn up to that zxid was
// applied before, so it was committed: replaying it is safe, unlike the
// rest of the log. Without this the tree would hold some of those txns
// while the core re-committed all of them over it, and their replies and
// digests would be those of a replay over a fuzzy snapshot. If the log
// ends first (a crash before this peer logged txns it had applied), the
// tree stays ahead of rs.applied there, as it does in ZooKeeper.
func (d *disk) completeFuzzy(rs *restored, snap *snapshot.Snapshot) error {
	fuzzy := snap.FuzzyDigest()
	if fuzzy == nil {
		return nil
	}
	end := fuzzy.Zxid
	rs.tree.Lock()
	defer rs.tree.Unlock()
	return d.each(rs.applied+1, func(e *txnlog.Entry) bool {
		if e.Hdr.Zxid > end {
			return false
		}
		_ = rs.tree.ProcessTxn(&e.Hdr, e.Txn) // errors are the fuzzy state's
		trackSession(rs.sessions, &e.Hdr, e.Txn)
		rs.applied = e.Hdr.Zxid
		return true
	})
}

// reopen (re)opens the Store, which reads the snapshot and log and opens a
// fresh log writer, then rescans the log's bounds.
func (d *disk) reopen() (*storage.Restored, error) {
	st, err := storage.Open(d.opts)
	if err != nil {
		return nil, fmt.Errorf("peer: open storage: %w", err)
	}
	res, err := st.Restore(d.treeOpts)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("peer: restore storage: %w", err)
	}
	d.store = st
	d.snapZxid = max(res.SnapZxid, 0)
	if err := d.scan(); err != nil {
		_ = st.Close()
		return nil, err
	}
	return res, nil
}

func (d *disk) readSnapshot(zxid int64) (*snapshot.Snapshot, error) {
	files, err := snapshot.List(d.store.SnapDir())
	if err != nil {
		return nil, fmt.Errorf("peer: list snapshots: %w", err)
	}
	for _, f := range files {
		if f.Zxid == zxid && f.Valid {
			snap, err := snapshot.ReadFile(f.Path, d.treeOpts)
			if err != nil {
				return nil, fmt.Errorf("peer: read snapshot %s: %w", f.Path, err)
			}
			if snap.Tree.LastProcessedZxid() < zxid {
				snap.Tree.SetLastProcessedZxid(zxid)
			}
			return snap, nil
		}
	}
	return nil, fmt.Errorf("peer: snapshot of zxid %#x not found in %s", zxid, d.store.SnapDir())
}

// scan finds the first and last txn of the log.
func (d *disk) scan() error {
	d.first, d.last = 0, 0
	return d.each(0, func(e *txnlog.Entry) bool {
		if d.first == 0 {
			d.first = e.Hdr.Zxid
		}
		d.last = e.Hdr.Zxid
		return true
	})
}

// each calls fn for every logged txn from zxid from on, skipping zxids
// met again (overlapping files), until fn returns false.
func (d *disk) each(from int64, fn func(*txnlog.Entry) bool) error {
	it, err := txnlog.NewIterator(d.store.LogDir(), from, txnlog.ReadOptions{})
	if err != nil {
		return fmt.Errorf("peer: read txn log: %w", err)
	}
	defer it.Close()
	prev := int64(-1)
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("peer: read txn log: %w", err)
		}
		if e.Hdr.Zxid <= prev || e.Hdr.Zxid < from {
			continue
		}
		prev = e.Hdr.Zxid
		if !fn(e) {
			return nil
		}
	}
}

// LastZxid implements zab.Storage.
func (d *disk) LastZxid() int64 { return max(d.last, d.snapZxid) }

// AcceptedEpoch implements zab.Storage.
func (d *disk) AcceptedEpoch() int64 { return d.acceptedEpoch }

// CurrentEpoch implements zab.Storage.
func (d *disk) CurrentEpoch() int64 { return d.currentEpoch }

// FirstZxid implements zab.Storage.
func (d *disk) FirstZxid() int64 { return d.first }

// SnapshotZxid implements zab.Storage.
func (d *disk) SnapshotZxid() int64 { return d.snapZxid }

// Snapshots implements zab.Storage.
func (d *disk) Snapshots() ([]int64, error) {
	files, err := snapshot.List(d.store.SnapDir())
	if err != nil {
		return nil, err
	}
	zxids := make([]int64, len(files))
	for i, f := range files { // newest first
		zxids[len(files)-1-i] = f.Zxid
	}
	return zxids, nil
}

// Entries implements zab.Storage.
func (d *disk) Entries(fromZxid, toZxid int64) ([]zab.Entry, error) {
	d.ioMu.Lock()
	defer d.ioMu.Unlock()
	var out []zab.Entry
	err := d.each(fromZxid, func(e *txnlog.Entry) bool {
		if e.Hdr.Zxid > toZxid {
			return false
		}
		out = append(out, zab.Entry{Hdr: e.Hdr, Txn: e.Txn, Digest: e.Digest})
		return true
	})
	return out, err
}

// append makes entries durable with one group commit (owner goroutine).
func (d *disk) append(entries []zab.Entry) error {
	due, err := d.write(entries)
	if err != nil {
		return err
	}
	d.appended(entries, due)
	return nil
}

// write appends entries to the txn log and fsyncs them, and reports
// whether a snapshot is due. The log writer calls it from its own
// goroutine; ioMu keeps readers of the log files (Entries) out meanwhile.
func (d *disk) write(entries []zab.Entry) (snapDue bool, err error) {
	d.ioMu.Lock()
	defer d.ioMu.Unlock()
	for i := range entries {
		if err := d.store.Append(&entries[i].Hdr, entries[i].Txn, entries[i].Digest); err != nil {
			_ = d.store.Rollback()
			return false, fmt.Errorf("peer: append txn %#x: %w", entries[i].Hdr.Zxid, err)
		}
	}
	if err := d.store.Commit(); err != nil {
		_ = d.store.Rollback()
		return false, fmt.Errorf("peer: commit txn log: %w", err)
	}
	due, err := d.store.Committed(len(entries))
	if err != nil {
		return false, fmt.Errorf("peer: %w", err)
	}
	return due, nil
}

// startSnapshot asks storage for a snapshot out of snapCount's turn; the
// owner goroutine takes it at its next snapshotIfDue. ioMu keeps the log
// writer out while the log rolls.
func (d *disk) startSnapshot() error {
	d.ioMu.Lock()
	defer d.ioMu.Unlock()
	due, err := d.store.StartSnapshot()
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	d.snapDue = d.snapDue || due
	return nil
}

// appended records durable entries in the in-memory view (owner
// goroutine).
func (d *disk) appended(entries []zab.Entry, snapDue bool) {
	if len(entries) == 0 {
		return
	}
	if d.first == 0 {
		d.first = entries[0].Hdr.Zxid
	}
	d.last = entries[len(entries)-1].Hdr.Zxid
	d.snapDue = d.snapDue || snapDue
}

// truncate cuts the log after zxid (TRUNC). The log writer holds the last
// file open and would keep writing at its old offset, so the store is
// closed around the cut and reopened after it.
func (d *disk) truncate(zxid int64) error {
	if err := d.store.Close(); err != nil {
		return fmt.Errorf("peer: close txn log for truncation: %w", err)
	}
	files, err := txnlog.Files(d.store.LogDir())
	if err != nil {
		return fmt.Errorf("peer: truncate: %w", err)
	}
	if len(files) > 0 {
		if err := txnlog.Truncate(d.store.LogDir(), zxid); err != nil {
			return fmt.Errorf("peer: truncate log to %#x: %w", zxid, err)
		}
	}
	if _, err := d.reopen(); err != nil {
		return err
	}
	return nil
}

// installSnapshot makes a leader's snapshot stream this peer's history
// (SNAP): the snapshot file first, then the whole old log goes, so that
// neither recovery nor a later sync from this peer's log can mix the old
// history with the leader's.
func (d *disk) installSnapshot(zxid int64, stream []byte) error {
	if _, err := d.store.Snapshot(zxid, stream); err != nil {
		return fmt.Errorf("peer: write received snapshot %#x: %w", zxid, err)
	}
	if err := d.store.Close(); err != nil {
		return fmt.Errorf("peer: close txn log: %w", err)
	}
	files, err := txnlog.Files(d.store.LogDir())
	if err != nil {
		return fmt.Errorf("peer: list txn logs: %w", err)
	}
	for _, f := range files {
		if err := os.Remove(f.Path); err != nil {
			return fmt.Errorf("peer: drop txn log superseded by snapshot: %w", err)
		}
	}
	if _, err := d.reopen(); err != nil {
		return err
	}
	if d.snapZxid != zxid {
		return fmt.Errorf("peer: installed snapshot %#x but storage restored %#x", zxid, d.snapZxid)
	}
	return nil
}

func (d *disk) setAcceptedEpoch(e int64) error {
	if err := d.store.WriteEpoch(storage.AcceptedEpochFile, e); err != nil {
		return fmt.Errorf("peer: write acceptedEpoch %s: %w", strconv.FormatInt(e, 10), err)
	}
	d.acceptedEpoch = e
	return nil
}

func (d *disk) setCurrentEpoch(e int64) error {
	if err := d.store.WriteEpoch(storage.CurrentEpochFile, e); err != nil {
		return fmt.Errorf("peer: write currentEpoch %s: %w", strconv.FormatInt(e, 10), err)
	}
	d.currentEpoch = e
	return nil
}

func (d *disk) close() error { return d.store.Close() }
