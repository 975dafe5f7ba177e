package peer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/quorum/zab"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/storage"
)

func entry(zxid int64) zab.Entry {
	return zab.Entry{
		Hdr: proto.TxnHeader{ClientID: 1, Zxid: zxid, Type: int32(proto.OpCreate)},
		Txn: &proto.CreateTxn{Path: fmt.Sprintf("/n%x", zxid), ACL: proto.OpenACLUnsafe, ParentCVersion: -1, Op: int32(proto.OpCreate)},
	}
}

func zxids(es []zab.Entry) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.Zxid())
	}
	return out
}

func openTestDisk(t *testing.T, dir string) (*disk, *restored) {
	t.Helper()
	d, rs, err := openDisk(storage.Options{DataDir: dir, ForceSync: true, PreAllocSize: -1}, datatree.Options{})
	if err != nil {
		t.Fatalf("openDisk: %v", err)
	}
	t.Cleanup(func() { _ = d.close() })
	return d, rs
}

// checkView compares the zab.Storage view with what it should be.
func checkView(t *testing.T, d *disk, first, last, snap int64, logged []int64) {
	t.Helper()
	if d.FirstZxid() != first || d.LastZxid() != last || d.SnapshotZxid() != snap {
		t.Errorf("first, last, snapshot = %#x, %#x, %#x; want %#x, %#x, %#x", d.FirstZxid(), d.LastZxid(), d.SnapshotZxid(), first, last, snap)
	}
	es, err := d.Entries(0, 1<<62)
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	if got := zxids(es); !slices.Equal(got, logged) {
		t.Errorf("logged %x, want %x", got, logged)
	}
}

func TestDiskAppendTruncateEpochsAndRecovery(t *testing.T) {
	dir := t.TempDir()
	d, rs := openTestDisk(t, dir)
	if rs.applied != 0 || d.LastZxid() != 0 || d.AcceptedEpoch() != 0 || d.CurrentEpoch() != 0 {
		t.Fatalf("empty dir: applied %#x last %#x epochs %d/%d", rs.applied, d.LastZxid(), d.AcceptedEpoch(), d.CurrentEpoch())
	}
	var batch []zab.Entry
	for i := int64(1); i <= 5; i++ {
		batch = append(batch, entry(1<<32|i))
	}
	if err := d.append(batch[:2]); err != nil {
		t.Fatal(err)
	}
	if err := d.append(batch[2:]); err != nil {
		t.Fatal(err)
	}
	checkView(t, d, 0x100000001, 0x100000005, 0, []int64{0x100000001, 0x100000002, 0x100000003, 0x100000004, 0x100000005})
	es, err := d.Entries(0x100000002, 0x100000004)
	if err != nil || !slices.Equal(zxids(es), []int64{0x100000002, 0x100000003, 0x100000004}) {
		t.Errorf("Entries(2, 4) = %x, %v", zxids(es), err)
	}

	if err := d.truncate(0x100000003); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	checkView(t, d, 0x100000001, 0x100000003, 0, []int64{0x100000001, 0x100000002, 0x100000003})
	if err := d.append([]zab.Entry{entry(0x200000001)}); err != nil {
		t.Fatalf("append after truncate: %v", err)
	}
	if err := d.setAcceptedEpoch(2); err != nil {
		t.Fatal(err)
	}
	if err := d.setCurrentEpoch(2); err != nil {
		t.Fatal(err)
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}

	// Recovery: the tree is the snapshot's (snapshot.0); the log tail is
	// left for the core to commit.
	d2, rs2 := openTestDisk(t, dir)
	if rs2.applied != 0 || rs2.tree.LastProcessedZxid() != 0 {
		t.Errorf("recovered applied %#x, tree at %#x; want both 0", rs2.applied, rs2.tree.LastProcessedZxid())
	}
	if d2.AcceptedEpoch() != 2 || d2.CurrentEpoch() != 2 {
		t.Errorf("recovered epochs %d/%d, want 2/2", d2.AcceptedEpoch(), d2.CurrentEpoch())
	}
	checkView(t, d2, 0x100000001, 0x200000001, 0, []int64{0x100000001, 0x100000002, 0x100000003, 0x200000001})
}

func TestDiskInstallSnapshotDropsLog(t *testing.T) {
	dir := t.TempDir()
	d, _ := openTestDisk(t, dir)
	if err := d.append([]zab.Entry{entry(0x100000001), entry(0x100000002)}); err != nil {
		t.Fatal(err)
	}
	// The leader's tree at 0x300000007.
	tree := datatree.New()
	tree.Lock()
	e := entry(0x300000007)
	tree.ProcessTxn(&e.Hdr, e.Txn)
	tree.Unlock()
	tree.RLock()
	stream, err := snapshot.Encode(tree, []snapshot.Session{{ID: 1, TimeoutMs: 3000}})
	tree.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.installSnapshot(0x300000007, stream); err != nil {
		t.Fatalf("installSnapshot: %v", err)
	}
	checkView(t, d, 0, 0x300000007, 0x300000007, nil)
	if err := d.append([]zab.Entry{entry(0x300000008)}); err != nil {
		t.Fatal(err)
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	d2, rs := openTestDisk(t, dir)
	if rs.applied != 0x300000007 {
		t.Errorf("recovered applied %#x, want the snapshot's 0x300000007", rs.applied)
	}
	if _, ok := rs.tree.Lookup("/n300000007"); !ok {
		t.Error("recovered tree lacks the snapshot's node")
	}
	if rs.sessions[1] != 3000 {
		t.Errorf("recovered sessions %v, want 1:3000", rs.sessions)
	}
	checkView(t, d2, 0x300000008, 0x300000008, 0x300000007, []int64{0x300000008})
	// The snapshots, ascending: the empty tree's snapshot.0 taken when the
	// directory was new, and a torn one, whose name still says that this
	// member applied 0x100000002 once.
	if err := os.WriteFile(filepath.Join(d2.store.SnapDir(), "snapshot.100000002"), []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	if snaps, err := d2.Snapshots(); err != nil || !slices.Equal(snaps, []int64{0, 0x100000002, 0x300000007}) {
		t.Errorf("Snapshots() = %x, %v; want [0 100000002 300000007]", snaps, err)
	}
}

func TestRoleEndReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w (epoch 3)", zab.ErrQuorumLost), "quorum_lost"},
		{fmt.Errorf("%w: leader 2 silent", zab.ErrLeaderSilent), "leader_silent"},
		{fmt.Errorf("%w: leader 2: %w", errLeaderConnLost, io.EOF), "leader_connection_lost"},
		{fmt.Errorf("%w: leader 2", errLeaderUnreachable), "leader_unreachable"},
		{fmt.Errorf("%w: epoch 4", zab.ErrNotEstablished), "not_established"},
		{fmt.Errorf("%w: TRUNC below applied", zab.ErrUnsafe), "unsafe"},
		{errors.New("something else"), "other"},
	} {
		if got := roleEndReason(tc.err); got != tc.want {
			t.Errorf("roleEndReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestDiskCompletesFuzzySnapshot: recovery starts from a snapshot taken
// while txns were applied (named 0x100000002, holding the creates up to
// 0x100000004, its digest record at 0x100000004) and brings the tree to
// the record's zxid from the log, since those txns were applied, so
// committed. The logged txn after it is left for the core to commit.
func TestDiskCompletesFuzzySnapshot(t *testing.T) {
	dir := t.TempDir()
	d, _ := openTestDisk(t, dir)
	src := datatree.New()
	src.Lock()
	var entries []zab.Entry
	var atRecord int64
	for zxid := int64(0x100000001); zxid <= 0x100000005; zxid++ {
		// /p, then children of it with the parent cversion prep sets.
		path, pcv := "/p", int32(-1)
		if zxid > 0x100000001 {
			_, parent, _ := src.GetData("/p", nil, nil)
			path, pcv = fmt.Sprintf("/p/n%x", zxid), parent.Cversion+1
		}
		e := zab.Entry{
			Hdr: proto.TxnHeader{ClientID: 1, Zxid: zxid, Type: int32(proto.OpCreate)},
			Txn: &proto.CreateTxn{Path: path, ACL: proto.OpenACLUnsafe, ParentCVersion: pcv, Op: int32(proto.OpCreate)},
		}
		if r := src.ProcessTxn(&e.Hdr, e.Txn); r.Err != proto.ErrOK {
			t.Fatalf("%#x: %s", zxid, proto.CodeName(r.Err))
		}
		entries = append(entries, e)
		if zxid == 0x100000004 {
			atRecord = src.Digest()
			if _, err := snapshot.WriteFile(d.store.SnapDir(), 0x100000002, src, nil, snapshot.MethodNone, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	src.Unlock()
	if err := d.append(entries); err != nil {
		t.Fatal(err)
	}
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	d2, rs := openTestDisk(t, dir)
	if rs.applied != 0x100000004 || rs.tree.LastProcessedZxid() != 0x100000004 {
		t.Errorf("recovered applied %#x, tree at %#x; want the digest record's 0x100000004", rs.applied, rs.tree.LastProcessedZxid())
	}
	if got := rs.tree.Digest(); got != atRecord {
		t.Errorf("recovered tree digest %#x, want %#x (the tree at 0x100000004)", got, atRecord)
	}
	if _, ok := rs.tree.Lookup("/p/n100000005"); ok {
		t.Error("recovered tree holds 0x100000005, which may not have been committed")
	}
	checkView(t, d2, 0x100000001, 0x100000005, 0x100000002, zxids(entries))
}

// TestCloseWriterFailsOnWriteError: a write that fails while a role's end
// closes the log writer must come back as an error, which run makes fatal
// (a learner's tree already holds those txns), and the disk view, which
// the next role starts from, must not count what was not written.
func TestCloseWriterFailsOnWriteError(t *testing.T) {
	dir := t.TempDir()
	d, _ := openTestDisk(t, dir)
	r := &role{d: d, writer: startLogWriter(d)}
	r.writer.enqueue([]zab.Entry{entry(1)})
	// A record above the log's limit: Append refuses it, as it would a
	// full disk.
	tooBig := entry(2)
	tooBig.Txn = &proto.CreateTxn{Path: "/big", Data: make([]byte, 3*1024*1024), ACL: proto.OpenACLUnsafe, ParentCVersion: -1, Op: int32(proto.OpCreate)}
	r.writer.enqueue([]zab.Entry{tooBig})
	err := r.closeWriter()
	if err == nil {
		t.Fatal("closeWriter after a failed write: no error")
	}
	if d.last >= 2 {
		t.Errorf("disk view counts txn %#x, which was not written (%v)", d.last, err)
	}
	// Whether txn 1 shared the failed write depends on timing; what the
	// view counts must be what the log holds.
	logged := d.last
	if err := d.close(); err != nil {
		t.Fatal(err)
	}
	d2, _ := openTestDisk(t, dir)
	if d2.last != logged {
		t.Errorf("log holds up to %#x after reopening, the view counted %#x", d2.last, logged)
	}
}

// TestSnapshotWaitsForTheLog: a learner's tree can be ahead of its
// durable log (writeAsync applies COMMITs of txns still being logged). A
// snapshot due then must wait until the log holds everything the tree
// does, or a crash could leave a gap in the log under the snapshot.
func TestSnapshotWaitsForTheLog(t *testing.T) {
	d, rs := openTestDisk(t, t.TempDir())
	r := &role{d: d, st: &state{tree: rs.tree, sessions: map[int64]int32{}}, snapDone: make(chan snapResult, 1)}
	if err := d.append([]zab.Entry{entry(1)}); err != nil {
		t.Fatal(err)
	}
	for _, z := range []int64{1, 2} { // applied; 2 is still with the log writer
		e := entry(z)
		rs.tree.Lock()
		rs.tree.ProcessTxn(&e.Hdr, e.Txn)
		rs.tree.Unlock()
		r.st.applied = z
	}
	d.snapDue = true
	r.snapshotIfDue()
	if r.snapping || !d.snapDue {
		t.Fatalf("snapshot started at %#x with the log durable only to %#x", r.st.applied, d.LastZxid())
	}
	if err := d.append([]zab.Entry{entry(2)}); err != nil {
		t.Fatal(err)
	}
	r.snapshotIfDue()
	if !r.snapping {
		t.Fatal("no snapshot once the log caught up with the tree")
	}
	res := <-r.snapDone
	r.snapshotWritten(res)
	if res.err != nil || res.zxid != 2 || d.SnapshotZxid() != 2 {
		t.Fatalf("snapshot: zxid %#x, err %v; disk view's snapshot %#x; want 0x2", res.zxid, res.err, d.SnapshotZxid())
	}
	r.wg.Wait()
}
