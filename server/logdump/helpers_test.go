package logdump

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/testpeer"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	sess1 = int64(0x100000abc)
	sess2 = int64(0x200000def)
)

var (
	world = []proto.ACL{{Perms: proto.PermAll, ID: proto.IDAnyoneUnsafe}}
	alice = []proto.ACL{{Perms: proto.PermRead | proto.PermAdmin, ID: proto.ID{Scheme: "digest", ID: "alice:V55/p2T0OpjQ+low3NVAH4aLvm0="}}}
)

type sampleTxn struct {
	session int64
	txn     proto.Txn
}

// sampleTxns is one of every kind of txn, zxid 0x100000001 on.
func sampleTxns() []sampleTxn {
	return []sampleTxn{
		{sess1, &proto.CreateSessionTxn{TimeOut: 30000}},
		{sess1, &proto.CreateTxn{Path: "/a", Data: []byte("hello"), ACL: world, ParentCVersion: 1, Op: proto.OpCreate}},
		{sess1, &proto.CreateTxn{Path: "/a/e-0000000001", Data: nil, ACL: world, Ephemeral: true, ParentCVersion: 1, Op: proto.OpCreate2}},
		{sess1, &proto.CreateContainerTxn{Path: "/c", Data: []byte("x"), ACL: world, ParentCVersion: 2}},
		{sess1, &proto.CreateTTLTxn{Path: "/t", Data: []byte("y"), ACL: world, ParentCVersion: 3, TTL: 5000}},
		{sess1, &proto.SetDataTxn{Path: "/a", Data: []byte("world"), Version: 1, Op: proto.OpSetData}},
		{sess1, &proto.SetACLTxn{Path: "/a", ACL: alice, Version: 1}},
		{sess1, &proto.ErrorTxn{Err: proto.ErrNodeExists}},
		{sess1, &proto.MultiTxn{Txns: []proto.Txn{
			&proto.CreateTxn{Path: "/m", Data: []byte("1"), ACL: world, ParentCVersion: 4, Op: proto.OpCreate},
			&proto.CheckVersionTxn{Path: "/m", Version: 0},
			&proto.SetDataTxn{Path: "/m", Data: []byte("2"), Version: 1, Op: proto.OpSetData},
			&proto.DeleteTxn{Path: "/m", Op: proto.OpDelete},
		}}},
		{sess1, &proto.MultiTxn{Txns: []proto.Txn{
			&proto.CreateTxn{Path: "/n", Data: []byte("1"), ACL: world, ParentCVersion: 5, Op: proto.OpCreate},
			&proto.ErrorTxn{Err: proto.ErrNoNode},
			&proto.ErrorTxn{Err: proto.ErrRuntimeInconsistency},
		}}},
		{sess1, &proto.CreateTxn{Path: "/bin", Data: []byte{0, 1, 0xff, 'a'}, ACL: world, ParentCVersion: 5, Op: proto.OpCreate}},
		{sess1, &proto.CreateTxn{Path: "/c/child", Data: []byte(strings.Repeat("long text ", 10)), ACL: world, ParentCVersion: 1, Op: proto.OpCreate}},
		{sess1, &proto.DeleteTxn{Path: "/c/child", Op: proto.OpDelete}},
		{0, &proto.DeleteTxn{Path: "/c", Op: proto.OpDeleteContainer}},
		{sess2, &proto.CreateSessionTxn{TimeOut: 6000}},
		{sess2, &proto.CreateTxn{Path: "/a/e2", Data: []byte("eph"), ACL: world, Ephemeral: true, ParentCVersion: 2, Op: proto.OpCreate}},
		{sess2, &proto.CloseSessionTxn{Paths2Delete: []string{"/a/e2"}}},
	}
}

const (
	firstZxid = int64(0x100000001)
	baseTime  = int64(1700000000000) // 2023-11-14T22:13:20Z
)

// writeSample writes a version-2 directory as ZooKeeper leaves it: the
// initial snapshot.0, one log with sampleTxns (each carrying the tree digest
// after it, as 3.8 writes), and a snapshot of the final tree. It returns the
// version-2 path and the log's path.
func writeSample(t testing.TB, dir string) (string, string) {
	t.Helper()
	v2 := filepath.Join(dir, "version-2")
	if err := os.MkdirAll(v2, 0o755); err != nil {
		t.Fatal(err)
	}
	tree := datatree.New()
	tree.RLock()
	if _, err := snapshot.WriteFile(v2, 0, tree, nil, "", nil); err != nil {
		t.Fatal(err)
	}
	tree.RUnlock()
	w, err := txnlog.OpenWriter(txnlog.Options{Dir: v2, PreAllocSize: 0})
	if err != nil {
		t.Fatal(err)
	}
	var logPath string
	for i, s := range sampleTxns() {
		hdr := proto.TxnHeader{ClientID: s.session, Cxid: int32(i), Zxid: firstZxid + int64(i), Time: baseTime + int64(i)*1500, Type: s.txn.TxnType()}
		if s.session == 0 {
			hdr.Cxid = 0
		}
		tree.Lock()
		tree.ProcessTxn(&hdr, s.txn)
		d := &proto.TxnDigest{Version: datatree.DigestVersion, TreeDigest: tree.Digest()}
		tree.Unlock()
		if err := w.Append(&hdr, s.txn, d); err != nil {
			t.Fatal(err)
		}
		if logPath == "" {
			logPath = w.CurrentFile()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tree.RLock()
	last := tree.LastProcessedZxid()
	if _, err := snapshot.WriteFile(v2, last, tree, []snapshot.Session{{ID: sess1, TimeoutMs: 30000}}, "", nil); err != nil {
		t.Fatal(err)
	}
	tree.RUnlock()
	return v2, logPath
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}

var fixtureDir = testpeer.SharedPath("fixtures", "zk38-ensemble")

// extractFixture unpacks server 1's dataDir of the real ZooKeeper 3.8
// ensemble and returns its version-2 path.
func extractFixture(t testing.TB) string {
	t.Helper()
	return filepath.Join(testpeer.ExtractEnsemble(t), "n1", "data", "version-2")
}
