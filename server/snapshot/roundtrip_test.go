package snapshot

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
)

var update = flag.Bool("update", false, "rewrite golden files")

const sess1 = 0x100000abc0001

var digestACL = []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "digest", ID: "alice:V55/p2T0OpjQ+low3NVAH4aLvm0="}}}

// nodeDump is everything a snapshot stores about a node.
type nodeDump struct {
	Data  []byte
	Null  bool
	ACL   []proto.ACL
	Stat  proto.StatPersisted
	Child int32
}

func dumpTree(t *testing.T, tree *datatree.Tree) map[string]nodeDump {
	t.Helper()
	out := map[string]nodeDump{}
	err := tree.Walk(func(path string, n datatree.NodeView) error {
		out[path] = nodeDump{Data: n.Data, Null: n.Data == nil, ACL: n.ACL, Stat: n.Stat, Child: n.NumChildren}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	src := buildTree(t)
	sessions := []Session{{ID: sess1, TimeoutMs: 6000}, {ID: 0x200000def0002, TimeoutMs: 30000}}
	for _, method := range []string{MethodNone, MethodGzip, MethodSnappy} {
		t.Run("method="+method, func(t *testing.T) {
			dir := t.TempDir()
			reg := prometheus.NewPedanticRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			src.RLock()
			path, err := WriteFile(dir, src.LastProcessedZxid(), src, sessions, method, m)
			src.RUnlock()
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, FileName(src.LastProcessedZxid(), method)); path != want {
				t.Errorf("path %s, want %s", path, want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the snapshot (no temporary file)", len(entries))
			}
			if got := testutil.ToFloat64(m.writes); got != 1 {
				t.Errorf("zkd_snapshot_written_total %v, want 1", got)
			}
			fi, _ := os.Stat(path)
			if got := testutil.ToFloat64(m.bytes); got != float64(fi.Size()) {
				t.Errorf("zkd_snapshot_bytes %v, want %d", got, fi.Size())
			}

			s, err := m.ReadFile(path, datatree.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := dumpTree(t, s.Tree), dumpTree(t, src); !reflect.DeepEqual(got, want) {
				t.Errorf("tree differs after round trip:\n got  %v\n want %v", got, want)
			}
			if !reflect.DeepEqual(s.Sessions, sessions) {
				t.Errorf("sessions %v, want %v", s.Sessions, sessions)
			}
			wantDigest := &ZxidDigest{Zxid: src.LastProcessedZxid(), Version: DigestVersion, Digest: src.Digest()}
			if !reflect.DeepEqual(s.Digest, wantDigest) {
				t.Errorf("digest record %+v, want %+v", s.Digest, wantDigest)
			}
			if s.Tree.Digest() != src.Digest() {
				t.Errorf("loaded tree digest %#x, want %#x", s.Tree.Digest(), src.Digest())
			}
			if s.Zxid != src.LastProcessedZxid() || s.Tree.LastProcessedZxid() != s.Zxid {
				t.Errorf("zxid %#x / tree %#x, want %#x", s.Zxid, s.Tree.LastProcessedZxid(), src.LastProcessedZxid())
			}
			if !reflect.DeepEqual(s.Tree.ACLs(), src.ACLs()) {
				t.Errorf("ACL cache %v, want %v", s.Tree.ACLs(), src.ACLs())
			}
			if !reflect.DeepEqual(s.Tree.EphemeralsBySession(), src.EphemeralsBySession()) {
				t.Errorf("ephemerals %v, want %v", s.Tree.EphemeralsBySession(), src.EphemeralsBySession())
			}
			files, err := List(dir)
			if err != nil || len(files) != 1 || !files[0].Valid || files[0].Method != method {
				t.Errorf("List = %+v, %v; want one valid %q snapshot", files, err, method)
			}
		})
	}
}

// buildTree applies a mix of txns with consecutive zxids from 0x100000001.
func buildTree(t *testing.T) *datatree.Tree {
	t.Helper()
	tree := datatree.New()
	zxid := int64(0x100000000)
	tree.Lock()
	defer tree.Unlock()
	apply := func(txn proto.Txn) {
		t.Helper()
		zxid++
		h := &proto.TxnHeader{ClientID: sess1, Cxid: int32(zxid), Zxid: zxid, Time: 1_700_000_000_000 + zxid, Type: txn.TxnType()}
		if r := tree.ProcessTxn(h, txn); r.Err != proto.ErrOK {
			t.Fatalf("%s %+v: %s", proto.OpName(txn.TxnType()), txn, proto.CodeName(r.Err))
		}
	}
	create := func(path string, data []byte, acl []proto.ACL, eph bool) {
		apply(&proto.CreateTxn{Path: path, Data: data, ACL: acl, Ephemeral: eph, ParentCVersion: -1, Op: proto.OpCreate})
	}
	create("/app", []byte("hello"), proto.OpenACLUnsafe, false)
	create("/app/bin", []byte{0, 1, 2, 0xff}, proto.OpenACLUnsafe, false)
	create("/app/empty", []byte{}, proto.OpenACLUnsafe, false)
	create("/app/null", nil, proto.OpenACLUnsafe, false)
	create("/app/secret", []byte("s"), digestACL, false)
	create("/app/eph", []byte("e"), proto.OpenACLUnsafe, true)
	// Larger than a snappy block and than bufio's buffer.
	create("/big", bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16), proto.ReadACLUnsafe, false)
	apply(&proto.CreateContainerTxn{Path: "/box", ACL: proto.OpenACLUnsafe, ParentCVersion: -1})
	apply(&proto.CreateTTLTxn{Path: "/ttl", ACL: proto.OpenACLUnsafe, ParentCVersion: -1, TTL: 5000})
	apply(&proto.SetDataTxn{Path: "/app", Data: []byte("world"), Version: 1})
	apply(&proto.SetACLTxn{Path: "/app/bin", ACL: digestACL, Version: 1})
	create("/app/gone", nil, proto.OpenACLUnsafe, false)
	apply(&proto.DeleteTxn{Path: "/app/gone", Op: proto.OpDelete})
	create("/many", nil, proto.OpenACLUnsafe, false)
	for i := range 50 {
		create(fmt.Sprintf("/many/n%03d", i), []byte(strings.Repeat("x", i)), proto.OpenACLUnsafe, false)
	}
	return tree
}

// TestGolden pins the exact bytes of a tiny tree's snapshot: a fresh tree
// (/, /zookeeper, /zookeeper/quota, /zookeeper/config) plus one node.
func TestGolden(t *testing.T) {
	tree := datatree.New()
	tree.Lock()
	h := &proto.TxnHeader{ClientID: sess1, Cxid: 1, Zxid: 0x100000001, Time: 0x18b0d8f5c00, Type: proto.OpCreate}
	r := tree.ProcessTxn(h, &proto.CreateTxn{Path: "/a", Data: []byte("x"), ACL: proto.OpenACLUnsafe, ParentCVersion: -1, Op: proto.OpCreate})
	tree.Unlock()
	if r.Err != proto.ErrOK {
		t.Fatal(proto.CodeName(r.Err))
	}
	var buf bytes.Buffer
	d := &ZxidDigest{Zxid: 0x100000001, Version: DigestVersion, Digest: tree.Digest()}
	if err := Write(&buf, tree, []Session{{ID: sess1, TimeoutMs: 6000}}, d); err != nil {
		t.Fatal(err)
	}
	got := hex.Dump(buf.Bytes())
	golden := filepath.Join("testdata", "tiny.snapshot.hexdump")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("snapshot bytes differ from %s (run with -update after checking):\n%s", golden, got)
	}
	b := buf.Bytes()
	// Structure checks that do not depend on the golden file.
	if !bytes.HasPrefix(b, []byte{'Z', 'K', 'S', 'N', 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("header % x", b[:16])
	}
	if !bytes.HasSuffix(b, []byte{0, 0, 0, 1, '/'}) {
		t.Errorf("does not end with the seal's \"/\"")
	}
	s, err := Read(bytes.NewReader(b), datatree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dumpTree(t, s.Tree), dumpTree(t, tree)) || !reflect.DeepEqual(s.Digest, d) {
		t.Error("golden snapshot does not read back as written")
	}
}

// TestWriteNilDigest checks the empty digest record ZooKeeper writes when
// it has none (zxid 0, current version, digest 0).
func TestWriteNilDigest(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, datatree.New(), nil, nil); err != nil {
		t.Fatal(err)
	}
	s, err := Read(&buf, datatree.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (&ZxidDigest{Version: DigestVersion}); !reflect.DeepEqual(s.Digest, want) {
		t.Errorf("digest %+v, want %+v", s.Digest, want)
	}
	if s.Zxid != -1 || len(s.Sessions) != 0 || s.Tree.NodeCount() != 5 {
		t.Errorf("zxid %d, %d sessions, %d nodes; want -1, 0, 5", s.Zxid, len(s.Sessions), s.Tree.NodeCount())
	}
}

func TestWriteFileErrors(t *testing.T) {
	tree := datatree.New()
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, dir, method string
		zxid              int64
	}{
		{"unknown method", t.TempDir(), "lz4", 1},
		{"negative zxid", t.TempDir(), "", -1},
		{"missing dir", filepath.Join(t.TempDir(), "nope"), "", 1},
	} {
		if _, err := WriteFile(tt.dir, tt.zxid, tree, nil, tt.method, m); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if got := testutil.ToFloat64(m.errs.WithLabelValues("write")); got != 3 {
		t.Errorf("write errors %v, want 3", got)
	}
	if _, err := m.ReadFile(filepath.Join(t.TempDir(), "snapshot.1"), datatree.Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	if got := testutil.ToFloat64(m.errs.WithLabelValues("read")); got != 1 {
		t.Errorf("read errors %v, want 1", got)
	}
}
