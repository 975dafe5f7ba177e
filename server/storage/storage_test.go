package storage

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/testpeer"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

var fixtures = testpeer.SharedPath("fixtures", "zk38-ensemble")

// extractFixture unpacks the real ZooKeeper 3.8 ensemble's data
// directories into a fresh temporary directory (tests may change them).
func extractFixture(t *testing.T) string {
	t.Helper()
	return testpeer.ExtractEnsemble(t)
}

func open(t *testing.T, dataDir string, reg prometheus.Registerer) *Store {
	t.Helper()
	s, err := Open(Options{DataDir: dataDir, PreAllocSize: 64 << 10, ForceSync: true, Logger: zerolog.Nop(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// expectedNode is one line of expected-tree.jsonl.
type expectedNode struct {
	Path    string     `json:"path"`
	DataB64 string     `json:"data_b64"`
	Stat    proto.Stat `json:"stat"`
	ACL     []jsonACL  `json:"acl"`
}

type jsonACL struct {
	Perms  int32
	Scheme string
	ID     string
}

// TestRestoreZooKeeperEnsemble recovers server 1 of a real Apache
// ZooKeeper 3.8 ensemble (snapshots + logs over two epochs) and checks that
// a client would see exactly the tree a client saw on that ensemble.
func TestRestoreZooKeeperEnsemble(t *testing.T) {
	root := extractFixture(t)
	s := open(t, filepath.Join(root, "n1", "data"), nil)
	res, err := s.Restore(datatree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.SnapZxid <= 0 || res.Replayed == 0 {
		t.Fatalf("expected a snapshot plus replayed txns, got snapshot 0x%x and %d txns", res.SnapZxid, res.Replayed)
	}
	f, err := os.Open(filepath.Join(fixtures, "expected-tree.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tree := res.Tree
	tree.RLock()
	defer tree.RUnlock()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	n := 0
	seen := map[string]bool{}
	for sc.Scan() {
		var want expectedNode
		if err := json.Unmarshal(sc.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		n++
		seen[want.Path] = true
		data, stat, code := tree.GetData(want.Path, nil, nil)
		if code != proto.ErrOK {
			t.Errorf("%s: %s", want.Path, proto.CodeName(code))
			continue
		}
		wantData, _ := base64.StdEncoding.DecodeString(want.DataB64)
		if string(data) != string(wantData) {
			t.Errorf("%s: data %q, want %q", want.Path, trunc(data), trunc(wantData))
		}
		if stat != want.Stat {
			t.Errorf("%s: stat\n got %+v\nwant %+v", want.Path, stat, want.Stat)
		}
		acl, _, _ := tree.GetACL(want.Path)
		if len(acl) != len(want.ACL) {
			t.Errorf("%s: acl %v, want %v", want.Path, acl, want.ACL)
			continue
		}
		for i, a := range acl {
			w := want.ACL[i]
			if a.Perms != w.Perms || a.ID.Scheme != w.Scheme || a.ID.ID != w.ID {
				t.Errorf("%s: acl %v, want %v", want.Path, acl, want.ACL)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d expected nodes read", n)
	}
	// Nothing more than the expected tree (outside /zookeeper).
	_ = tree.Walk(func(path string, _ datatree.NodeView) error {
		if path != "/zookeeper" && !strings.HasPrefix(path, "/zookeeper/") && !seen[path] {
			t.Errorf("restored tree has %s, which the ensemble did not", path)
		}
		return nil
	})
	if got := tree.LastProcessedZxid(); got != res.LastZxid || got>>32 != 2 {
		t.Errorf("last zxid 0x%x (restored says 0x%x), want one in epoch 2", got, res.LastZxid)
	}
}

func trunc(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// writeTxns restores an empty store and commits n creates, one per Commit.
func writeTxns(t *testing.T, s *Store, n int) {
	t.Helper()
	if _, err := s.Restore(datatree.Options{}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		hdr := proto.TxnHeader{ClientID: 1, Cxid: int32(i), Zxid: int64(i), Time: 1000, Type: proto.OpCreate}
		txn := &proto.CreateTxn{Path: "/n" + string(rune('a'+i)), Data: []byte("data"), ACL: proto.OpenACLUnsafe, ParentCVersion: int32(i)}
		if err := s.Append(&hdr, txn, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func onlyLog(t *testing.T, dir string) string {
	t.Helper()
	files, err := txnlog.Files(filepath.Join(dir, VersionDir))
	if err != nil || len(files) != 1 {
		t.Fatalf("log files %v, %v", files, err)
	}
	return files[0].Path
}

// recordOffsets returns where each record of a log file starts.
func recordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	it, err := txnlog.NewFileIterator(path, txnlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var offs []int64
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return offs
		}
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, e.Offset)
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	writeTxns(t, open(t, dir, nil), 5)
	path := onlyLog(t, dir)
	offs := recordOffsets(t, path)
	// Cut the last record in half, as a crash in the middle of a write.
	cut := offs[4] + 20
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := open(t, dir, reg)
	res, err := s.Restore(datatree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.LastZxid != 4 || res.Replayed != 4 {
		t.Fatalf("restored up to 0x%x with %d txns, want 4 and 4", res.LastZxid, res.Replayed)
	}
	if len(res.TornTails) != 1 {
		t.Fatalf("torn tails %v", res.TornTails)
	}
	if v := testutil.ToFloat64(s.metrics.tornTails); v != 1 {
		t.Fatalf("zkd_storage_torn_tails_total = %v", v)
	}
	st, _ := os.Stat(path)
	if st.Size() != offs[4] {
		t.Fatalf("log is %d bytes after restore, want it cut at %d", st.Size(), offs[4])
	}
}

func TestCorruptRecordStopsStartup(t *testing.T) {
	dir := t.TempDir()
	writeTxns(t, open(t, dir, nil), 5)
	path := onlyLog(t, dir)
	offs := recordOffsets(t, path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[offs[2]+20] ^= 0xff // inside the third record's payload
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = open(t, dir, nil).Restore(datatree.Options{})
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("restore error %v, want a CorruptionError", err)
	}
	if ce.File != path || ce.Offset != offs[2] || ce.Zxid != 2 {
		t.Fatalf("corruption reported at %s:%d after 0x%x, want %s:%d after 0x2", ce.File, ce.Offset, ce.Zxid, path, offs[2])
	}
	for _, want := range []string{path, "zkd logdump --verify", "truncate-log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestZxidGapStopsStartup(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	if _, err := s.Restore(datatree.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, z := range []int64{1, 2, 4} {
		hdr := proto.TxnHeader{ClientID: 1, Zxid: z, Time: 1, Type: proto.OpCreateSession}
		if err := s.Append(&hdr, &proto.CreateSessionTxn{TimeOut: 4000}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := open(t, dir, nil).Restore(datatree.Options{})
	if err == nil || !strings.Contains(err.Error(), "zxid gap") {
		t.Fatalf("restore error %v, want a zxid gap", err)
	}
}

func TestLogsWithoutSnapshotAreRefused(t *testing.T) {
	dir := t.TempDir()
	writeTxns(t, open(t, dir, nil), 2)
	matches, _ := filepath.Glob(filepath.Join(dir, VersionDir, "snapshot.*"))
	for _, m := range matches {
		os.Remove(m)
	}
	if _, err := open(t, dir, nil).Restore(datatree.Options{}); err == nil || !strings.Contains(err.Error(), "no snapshot") {
		t.Fatalf("restore error %v", err)
	}
}

func TestSwappedDirectoriesAreRefused(t *testing.T) {
	data, logs := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(logs, VersionDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, VersionDir, "snapshot.0"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{DataDir: data, DataLogDir: logs}); err == nil || !strings.Contains(err.Error(), "swapped") {
		t.Fatalf("open error %v", err)
	}
}

func TestSnapshotThresholdAndRoll(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{DataDir: dir, SnapCount: 10, PreAllocSize: 4096, Logger: zerolog.Nop(),
		rand: func(n int) int { return n - 1 }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Restore(datatree.Options{}); err != nil {
		t.Fatal(err)
	}
	// Threshold = 10/2 + 1 + (5-1) = 10 txns.
	for i := 1; i <= 9; i++ {
		due, err := s.Committed(1)
		if err != nil || due {
			t.Fatalf("after %d txns: due=%v err=%v", i, due, err)
		}
	}
	if due, err := s.Committed(1); err != nil || !due {
		t.Fatalf("after 10 txns: due=%v err=%v", due, err)
	}
	if due, _ := s.Committed(100); due {
		t.Fatal("a second snapshot is due while the first runs")
	}
}

func TestEpochFiles(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	if _, ok, err := s.ReadEpoch(CurrentEpochFile); ok || err != nil {
		t.Fatalf("missing file: ok=%v err=%v", ok, err)
	}
	if err := s.WriteEpoch(CurrentEpochFile, 7); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(s.SnapDir(), CurrentEpochFile))
	if string(b) != "7" {
		t.Fatalf("file holds %q, want ZooKeeper's format \"7\"", b)
	}
	if v, ok, err := s.ReadEpoch(CurrentEpochFile); v != 7 || !ok || err != nil {
		t.Fatalf("read %d %v %v", v, ok, err)
	}
	if _, err := os.Stat(filepath.Join(s.SnapDir(), CurrentEpochFile+".tmp")); !os.IsNotExist(err) {
		t.Fatal("temporary file left behind")
	}
}

func TestPurgeKeepsWhatRecoveryNeeds(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := open(t, dir, reg)
	res, err := s.Restore(datatree.Options{}) // writes snapshot.0
	if err != nil {
		t.Fatal(err)
	}
	tree := res.Tree
	zxid := int64(0)
	// Five rounds of: some txns, a log roll and a snapshot.
	for round := 0; round < 5; round++ {
		for i := 0; i < 3; i++ {
			zxid++
			hdr := proto.TxnHeader{ClientID: 1, Zxid: zxid, Time: 1, Type: proto.OpCreate}
			txn := &proto.CreateTxn{Path: "/p" + string(rune('a'+int(zxid))), Data: []byte("x"), ACL: proto.OpenACLUnsafe, ParentCVersion: int32(zxid)}
			if err := s.Append(&hdr, txn, nil); err != nil {
				t.Fatal(err)
			}
			tree.Lock()
			tree.ProcessTxn(&hdr, txn)
			tree.Unlock()
		}
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := s.writer.Roll(); err != nil {
			t.Fatal(err)
		}
		s.snapshotting = true
		z := tree.LastProcessedZxid()
		stream, err := s.EncodeSnapshot(tree, nil, z)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Snapshot(z, stream); err != nil {
			t.Fatal(err)
		}
	}
	if n := metricvalue.Of(t, reg, "zkd_snapshot_encode_duration_seconds"); n != 5 {
		t.Errorf("zkd_snapshot_encode_duration_seconds counted %v encodes, want 5", n)
	}
	dry, err := Purge(s.SnapDir(), s.LogDir(), 3, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Snapshots) != 3 { // snapshot.0, .3 and .6 go; .9, .c and .f stay
		t.Fatalf("dry run would delete snapshots %v", dry.Snapshots)
	}
	if _, err := s.Purge(3); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// What is left restores to the same tree.
	res2, err := open(t, dir, nil).Restore(datatree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res2.LastZxid != zxid || res2.Tree.NodeCount() != tree.NodeCount() {
		t.Fatalf("after purge: restored to 0x%x with %d nodes, want 0x%x with %d", res2.LastZxid, res2.Tree.NodeCount(), zxid, tree.NodeCount())
	}
	if _, err := Purge(s.SnapDir(), s.LogDir(), 2, true); err == nil {
		t.Fatal("purge keeping 2 snapshots was accepted")
	}
}

func TestLeftoverTemporaryFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	v2 := filepath.Join(dir, VersionDir)
	if err := os.MkdirAll(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".snapshot.1f.123.tmp", CurrentEpochFile + ".tmp", "snapshot.keep-me"} {
		if err := os.WriteFile(filepath.Join(v2, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open(t, dir, nil)
	left, _ := filepath.Glob(filepath.Join(v2, "*"))
	hidden, _ := filepath.Glob(filepath.Join(v2, ".*"))
	if len(hidden) != 0 || len(left) != 1 || filepath.Base(left[0]) != "snapshot.keep-me" {
		t.Fatalf("left in version-2: %v %v", left, hidden)
	}
}

func TestHeaderlessLastLogIsRemoved(t *testing.T) {
	dir := t.TempDir()
	writeTxns(t, open(t, dir, nil), 3)
	v2 := filepath.Join(dir, VersionDir)
	empty := filepath.Join(v2, txnlog.LogName(4))
	if err := os.WriteFile(empty, nil, 0o644); err != nil { // kill -9 right after creating it
		t.Fatal(err)
	}
	res, err := open(t, dir, nil).Restore(datatree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.LastZxid != 3 {
		t.Fatalf("restored to 0x%x", res.LastZxid)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatal("the empty newest log was not removed")
	}
	// The same file before another one is damage, not a torn tail.
	dir2 := t.TempDir()
	writeTxns(t, open(t, dir2, nil), 3)
	if err := os.WriteFile(filepath.Join(dir2, VersionDir, txnlog.LogName(0)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, dir2, nil).Restore(datatree.Options{}); err == nil {
		t.Fatal("an empty log before the others was accepted")
	}
}

func TestFilesystemGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	open(t, t.TempDir(), reg)
	for _, dir := range []string{"snapshot", "txnlog"} {
		avail := metricvalue.OfSeries(t, reg, "zkd_storage_filesystem_avail_bytes", "dir", dir)
		size := metricvalue.OfSeries(t, reg, "zkd_storage_filesystem_size_bytes", "dir", dir)
		if avail <= 0 || size < avail {
			t.Errorf("%s: avail %v, size %v", dir, avail, size)
		}
	}
}

// TestRestoreFromEachZooKeeperSnapshot recovers every member of the real
// ZooKeeper 3.8 ensemble from each of its snapshots in turn (the newer
// ones removed), replaying the logs from there. Several of those snapshots
// are fuzzy: ZooKeeper serialized them while applying writes, so they
// hold txns after the zxid in their name. Replay must reach the same tree
// every time, and, as in ZooKeeper, must not report a digest mismatch for
// the txns the snapshot already held.
func TestRestoreFromEachZooKeeperSnapshot(t *testing.T) {
	for _, member := range []string{"n1", "n2", "n3"} {
		snaps, err := snapshot.List(filepath.Join(extractFixture(t), member, "data", VersionDir))
		if err != nil {
			t.Fatal(err)
		}
		var wantLast int64 = -1
		var wantDigest int64
		// Newest first: the first restore is the reference.
		for _, sn := range snaps {
			if sn.Zxid == 0 {
				continue
			}
			t.Run(fmt.Sprintf("%s/snapshot.%x", member, sn.Zxid), func(t *testing.T) {
				dataDir := filepath.Join(extractFixture(t), member, "data")
				removeSnapshotsAfter(t, filepath.Join(dataDir, VersionDir), sn.Zxid)
				res, reg := restoreCounting(t, dataDir)
				if res.SnapZxid != sn.Zxid {
					t.Fatalf("restored from snapshot 0x%x, want 0x%x", res.SnapZxid, sn.Zxid)
				}
				if got := metricvalue.Of(t, reg, "zkd_tree_digest_mismatches_total"); got != 0 {
					t.Errorf("%v digest mismatches reported", got)
				}
				if wantLast < 0 {
					wantLast, wantDigest = res.LastZxid, res.Tree.Digest()
					return
				}
				if res.LastZxid != wantLast || res.Tree.Digest() != wantDigest {
					t.Errorf("last zxid 0x%x, digest 0x%x; from the newest snapshot 0x%x, 0x%x",
						res.LastZxid, res.Tree.Digest(), wantLast, wantDigest)
				}
			})
		}
	}
}

// restoreCounting restores dataDir with the store's and the tree's
// metrics registered in the returned registry.
func restoreCounting(t *testing.T, dataDir string) (*Restored, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	tm, err := datatree.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := open(t, dataDir, reg).Restore(datatree.Options{Metrics: tm})
	if err != nil {
		t.Fatal(err)
	}
	return res, reg
}

// removeSnapshotsAfter deletes the snapshots newer than zxid from dir.
func removeSnapshotsAfter(t *testing.T, dir string, zxid int64) {
	t.Helper()
	snaps, err := snapshot.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range snaps {
		if sn.Zxid > zxid {
			if err := os.Remove(sn.Path); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFuzzySnapshotDigests replays a log over a fuzzy snapshot written the
// way ZooKeeper writes them under load: snapshot.1 already holds txns 2
// and 3 (the create of /b and a setData of it), and its digest record is
// the tree's at 3. Replaying the create of /b over the changed node leaves
// the tree in a state the log's digest for txn 2 does not describe; that is
// the fuzzy state, not damage. From txn 3 on, the logged digests and the
// snapshot's record are compared, so damage there is still reported.
func TestFuzzySnapshotDigests(t *testing.T) {
	cases := []struct {
		name           string
		logEnd         int64 // last txn written to the log
		badTxnDigest   int64 // zxid whose logged digest is wrong (0: none)
		badRecord      bool  // the snapshot's digest record is wrong
		wantMismatches float64
		wantUnverified float64
		wantLastZxid   int64
	}{
		{name: "clean", logEnd: 5, wantLastZxid: 5},
		{name: "damaged digest inside the fuzzy window is not compared", logEnd: 5, badTxnDigest: 2, wantLastZxid: 5},
		{name: "damaged digest at the record's zxid", logEnd: 5, badTxnDigest: 3, wantMismatches: 1, wantLastZxid: 5},
		{name: "damaged digest after the window", logEnd: 5, badTxnDigest: 4, wantMismatches: 1, wantLastZxid: 5},
		{name: "snapshot record differs from the replayed tree", logEnd: 5, badRecord: true, wantMismatches: 1, wantLastZxid: 5},
		{name: "log ends inside the window", logEnd: 2, wantUnverified: 1, wantLastZxid: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFuzzySnapshot(t, dir, tc.logEnd, tc.badTxnDigest, tc.badRecord)
			res, reg := restoreCounting(t, dir)
			if got := metricvalue.Of(t, reg, "zkd_tree_digest_mismatches_total"); got != tc.wantMismatches {
				t.Errorf("digest mismatches %v, want %v", got, tc.wantMismatches)
			}
			if got := metricvalue.Of(t, reg, "zkd_storage_unverified_snapshots_total"); got != tc.wantUnverified {
				t.Errorf("unverified snapshots %v, want %v", got, tc.wantUnverified)
			}
			if res.SnapZxid != 1 || res.LastZxid != tc.wantLastZxid {
				t.Errorf("snapshot 0x%x, last zxid 0x%x; want 0x1, 0x%x", res.SnapZxid, res.LastZxid, tc.wantLastZxid)
			}
			res.Tree.RLock()
			defer res.Tree.RUnlock()
			if data, stat, code := res.Tree.GetData("/b", nil, nil); code != proto.ErrOK || string(data) != "b1" || stat.Version != 1 {
				t.Errorf("/b = %q version %d (%s), want \"b1\" version 1", data, stat.Version, proto.CodeName(code))
			}
		})
	}
}

// writeFuzzySnapshot writes five txns to a fresh store in dir (creates of
// /a and /b, a setData of /b and of /a, a create of /c), logging the first
// logEnd of them with the digest the tree had after each, and
// snapshot.1 holding the tree after txn 3 with that tree's digest as its
// record. badTxn damages the logged digest of that zxid; badRecord the
// snapshot's record.
func writeFuzzySnapshot(t *testing.T, dir string, logEnd, badTxn int64, badRecord bool) {
	t.Helper()
	s := open(t, dir, nil)
	if _, err := s.Restore(datatree.Options{}); err != nil {
		t.Fatal(err)
	}
	txns := []proto.Txn{
		&proto.CreateTxn{Path: "/a", Data: []byte("a0"), ACL: proto.OpenACLUnsafe, ParentCVersion: 1},
		&proto.CreateTxn{Path: "/b", Data: []byte("b0"), ACL: proto.OpenACLUnsafe, ParentCVersion: 2},
		&proto.SetDataTxn{Path: "/b", Data: []byte("b1"), Version: 1},
		&proto.SetDataTxn{Path: "/a", Data: []byte("a1"), Version: 1},
		&proto.CreateTxn{Path: "/c", Data: []byte("c0"), ACL: proto.OpenACLUnsafe, ParentCVersion: 3},
	}
	types := map[bool]int32{true: proto.OpCreate, false: proto.OpSetData}
	shadow := datatree.New()
	shadow.Lock()
	defer shadow.Unlock()
	for i, txn := range txns {
		zxid := int64(i + 1)
		_, create := txn.(*proto.CreateTxn)
		hdr := proto.TxnHeader{ClientID: 1, Cxid: int32(zxid), Zxid: zxid, Time: 1000 + zxid, Type: types[create]}
		if res := shadow.ProcessTxn(&hdr, txn); res.Err != proto.ErrOK {
			t.Fatalf("txn %d: %s", zxid, proto.CodeName(res.Err))
		}
		digest := &proto.TxnDigest{Version: datatree.DigestVersion, TreeDigest: shadow.Digest()}
		if zxid == badTxn {
			digest.TreeDigest++
		}
		if zxid <= logEnd {
			if err := s.Append(&hdr, txn, digest); err != nil {
				t.Fatal(err)
			}
		}
		if zxid == 3 {
			record := &snapshot.ZxidDigest{Zxid: 3, Version: snapshot.DigestVersion, Digest: shadow.Digest()}
			if badRecord {
				record.Digest++
			}
			var buf bytes.Buffer
			if err := snapshot.Write(&buf, shadow, nil, record); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, VersionDir, snapshot.FileName(1, snapshot.MethodNone)), buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
