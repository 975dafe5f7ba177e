package datatree

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/zkd-io/zkd/server/testpeer"

	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

var fixtureDir = testpeer.SharedPath("fixtures", "zk38-ensemble")

// logEntry is one txn read from a ZooKeeper txn log.
type logEntry struct {
	hdr    proto.TxnHeader
	txn    proto.Txn
	digest *proto.TxnDigest
}

// fixture is the unpacked datadirs.tar.gz, shared by the tests of this
// file and removed by TestMain.
var fixture struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

// extractFixture returns the directory datadirs.tar.gz was unpacked into.
func extractFixture(t *testing.T) string {
	t.Helper()
	fixture.once.Do(func() {
		fixture.dir, fixture.err = os.MkdirTemp("", "datatree-fixture-")
		if fixture.err == nil {
			fixture.err = testpeer.ExtractEnsembleTo(filepath.Join(fixtureDir, "datadirs.tar.gz"), fixture.dir)
		}
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.dir
}

// readLog decodes a txn log: a 16-byte file header, then entries
// int64 checksum | int32 length | payload | 0x42, a zero length ending it.
func readLog(path string) ([]logEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 16 || binary.BigEndian.Uint32(b) != 0x5A4B4C47 {
		return nil, fmt.Errorf("%s: not a txn log", path)
	}
	var out []logEntry
	for off := 16; off+12 <= len(b); {
		n := int(int32(binary.BigEndian.Uint32(b[off+8:])))
		if n <= 0 {
			break
		}
		start := off + 12
		if start+n+1 > len(b) || b[start+n] != 0x42 {
			return nil, fmt.Errorf("%s: partial entry at offset %d", path, off)
		}
		hdr, txn, dig, err := proto.DecodeTxn(b[start:start+n], 1<<22)
		if err != nil {
			return nil, fmt.Errorf("%s at offset %d: %w", path, off, err)
		}
		out = append(out, logEntry{hdr, txn, dig})
		off = start + n + 1
	}
	return out, nil
}

// readLogs reads every log.* file of a version-2 directory, in zxid order.
func readLogs(t *testing.T, dir string) []logEntry {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "log.*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(names, func(i, j int) bool { return logZxid(names[i]) < logZxid(names[j]) })
	var all []logEntry
	for _, n := range names {
		es, err := readLog(n)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, es...)
	}
	return all
}

func logZxid(name string) int64 {
	z, _ := strconv.ParseInt(strings.TrimPrefix(filepath.Base(name), "log."), 16, 64)
	return z
}

// readFormatterOutput parses stored `SnapshotFormatter -d` text.
func readFormatterOutput(t *testing.T, name string) *testpeer.FormatterDump {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, "apache-tool-output", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	out, err := testpeer.ParseSnapshotFormatter(string(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// TestFixtureReplay replays the txn logs a real ZooKeeper 3.8 ensemble
// wrote, from an empty tree, and checks the tree digest after every txn
// against the TxnDigest ZooKeeper logged with it.
func TestFixtureReplay(t *testing.T) {
	dir := extractFixture(t)
	for _, server := range []string{"n1", "n2", "n3"} {
		t.Run(server, func(t *testing.T) {
			entries := readLogs(t, filepath.Join(dir, server, "data/version-2"))
			reg := prometheus.NewRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			tree := NewWithOptions(Options{Metrics: m})
			checked := 0
			types := map[int32]bool{}
			for i, e := range entries {
				if i > 0 && e.hdr.Zxid <= entries[i-1].hdr.Zxid {
					t.Fatalf("log goes backwards at %x", e.hdr.Zxid)
				}
				tree.Lock()
				tree.ProcessTxn(&e.hdr, e.txn)
				ok := tree.CheckDigest(e.digest)
				tree.Unlock()
				types[e.hdr.Type] = true
				if e.digest == nil {
					continue
				}
				checked++
				if !ok {
					t.Fatalf("zxid 0x%x (%s %+v): tree digest %d, ZooKeeper logged %d",
						e.hdr.Zxid, proto.OpName(e.hdr.Type), e.txn, tree.Digest(), e.digest.TreeDigest)
				}
				if got := tree.LastProcessedZxid(); got != e.hdr.Zxid {
					t.Fatalf("lastProcessedZxid 0x%x after txn 0x%x", got, e.hdr.Zxid)
				}
			}
			if checked < 300 {
				t.Fatalf("only %d txns carried a digest", checked)
			}
			for _, typ := range []int32{proto.OpCreate, proto.OpCreateContainer, proto.OpCreateTTL, proto.OpDelete,
				proto.OpDeleteContainer, proto.OpSetData, proto.OpSetACL, proto.OpMulti, proto.OpError,
				proto.OpCreateSession, proto.OpCloseSession} {
				if !types[typ] {
					t.Errorf("fixture has no %s txn; the replay proves less than it claims", proto.OpName(typ))
				}
			}
			if got := testutil.ToFloat64(m.mismatches); got != 0 {
				t.Errorf("digest mismatch counter = %v", got)
			}
			if got, want := testutil.ToFloat64(m.applied.WithLabelValues("setData")), 210.0; got != want {
				t.Errorf("setData txns counted = %v, want %v", got, want)
			}
			if got := testutil.ToFloat64(m.znodes); got != float64(tree.NodeCount()) {
				t.Errorf("znodes gauge = %v, want %d", got, tree.NodeCount())
			}
		})
	}
}

// TestFixtureSnapshots replays server 1's logs and, at the zxid of each
// snapshot server 1 took, compares every node's stored stat and data with
// what SnapshotFormatter printed for that snapshot.
func TestFixtureSnapshots(t *testing.T) {
	dir := extractFixture(t)
	entries := readLogs(t, filepath.Join(dir, "n1/data/version-2"))
	snaps := map[int64]string{
		0x100000060: "n1-snapshot.100000060.snapshotformatter.txt.gz",
		0x1000000ac: "n1-snapshot.1000000ac.snapshotformatter.txt.gz",
		0x200000011: "n1-snapshot.200000011.snapshotformatter.txt.gz",
		0x20000006f: "n1-snapshot.20000006f.snapshotformatter.txt.gz",
	}
	tree := New()
	// The ensemble's dynamic config, which each peer writes into
	// /zookeeper/config at startup (version=0), not through the log.
	config := []byte("server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\n" +
		"server.3=127.0.0.1:2890:3890:participant\nversion=0")
	tree.InitConfig(config, 0, 1795340238000)
	compared, fuzzy := 0, 0
	for _, e := range entries {
		tree.ProcessTxn(&e.hdr, e.txn)
		name, ok := snaps[e.hdr.Zxid]
		if !ok {
			continue
		}
		want := readFormatterOutput(t, name)
		got := map[string]NodeView{}
		if err := tree.Walk(func(p string, n NodeView) error { got[p] = n; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want.Nodes) {
			t.Errorf("%s: tree has %d nodes, snapshot %d", name, len(got), len(want.Nodes))
		}
		for path, w := range want.Nodes {
			if w.Czxid > e.hdr.Zxid || w.Mzxid > e.hdr.Zxid || w.Pzxid > e.hdr.Zxid {
				// Snapshots are fuzzy: this node was serialized after a
				// later txn changed it.
				fuzzy++
				continue
			}
			n, ok := got[path]
			if !ok {
				t.Errorf("%s: %s missing", name, path)
				continue
			}
			s := n.Stat
			if s.Czxid != w.Czxid || s.Mzxid != w.Mzxid || s.Pzxid != w.Pzxid || s.Cversion != w.Cversion ||
				s.Version != w.Version || s.Aversion != w.Aversion || s.EphemeralOwner != w.EphemeralOwner {
				t.Errorf("%s: %s stat %+v, snapshot has %+v", name, path, s, w)
			}
			if !bytes.Equal(n.Data, w.Data) {
				t.Errorf("%s: %s data %q, snapshot has %q", name, path, n.Data, w.Data)
			}
			compared++
		}
	}
	if compared < 100 || fuzzy > 5 {
		t.Fatalf("compared %d nodes, skipped %d fuzzy ones", compared, fuzzy)
	}
}

// expectedNode is one line of expected-tree.jsonl: what a client read.
type expectedNode struct {
	Path  string     `json:"path"`
	Data  string     `json:"data_b64"`
	Stat  proto.Stat `json:"stat"`
	ACL   []jsonACL  `json:"acl"`
	Ephem bool       `json:"ephemeral"`
}

type jsonACL struct {
	Perms  int32
	Scheme string
	ID     string
}

// TestFixtureExpectedTree compares the client view of the replayed tree with
// what clients read from the real ensemble after it restarted on these data
// directories.
func TestFixtureExpectedTree(t *testing.T) {
	dir := extractFixture(t)
	tree := New()
	for _, e := range readLogs(t, filepath.Join(dir, "n1/data/version-2")) {
		tree.ProcessTxn(&e.hdr, e.txn)
	}
	b, err := os.ReadFile(filepath.Join(fixtureDir, "expected-tree.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var want expectedNode
		if err := json.Unmarshal([]byte(line), &want); err != nil {
			t.Fatal(err)
		}
		seen[want.Path] = true
		data, stat, code := tree.GetData(want.Path, nil, nil)
		if code != proto.ErrOK {
			t.Errorf("%s: %s", want.Path, proto.CodeName(code))
			continue
		}
		if stat != want.Stat {
			t.Errorf("%s: stat\n got %+v\nwant %+v", want.Path, stat, want.Stat)
		}
		if got := base64.StdEncoding.EncodeToString(data); got != want.Data {
			t.Errorf("%s: data %q, want %q", want.Path, got, want.Data)
		}
		acl, _, _ := tree.GetACL(want.Path)
		var gotACL []jsonACL
		for _, a := range acl {
			gotACL = append(gotACL, jsonACL{a.Perms, a.ID.Scheme, a.ID.ID})
		}
		if !slices.Equal(gotACL, want.ACL) {
			t.Errorf("%s: ACL %v, want %v", want.Path, gotACL, want.ACL)
		}
		if (stat.EphemeralOwner != 0) != want.Ephem {
			t.Errorf("%s: ephemeral %v, want %v", want.Path, stat.EphemeralOwner != 0, want.Ephem)
		}
	}
	tree.Walk(func(p string, _ NodeView) error {
		if !seen[p] && p != procPath && !strings.HasPrefix(p, procSubtree) {
			t.Errorf("%s: in the replayed tree but not in the expected one", p)
		}
		return nil
	})
}

// snapshotDigest is the digest record that follows a snapshot's nodes.
type snapshotDigest struct {
	zxid    int64
	version int32
	digest  int64
}

// loadSnapshot reads an uncompressed ZooKeeper snapshot into a Loader:
// file header, sessions, ACL cache, nodes up to the "/" marker, a checksum
// and "/", then the digest record.
func loadSnapshot(t *testing.T, path string) (*Tree, snapshotDigest) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := jute.NewDecoder(b, 1<<22)
	var fh proto.FileHeader
	fh.Decode(d)
	if fh.Magic != 0x5A4B534E {
		t.Fatalf("%s: magic %x", path, fh.Magic)
	}
	for n := d.Int(); n > 0 && d.Err() == nil; n-- {
		d.Long()
		d.Int()
	}
	l := NewLoader(Options{})
	for n := d.Int(); n > 0 && d.Err() == nil; n-- {
		id := d.Long()
		acl := proto.DecodeACLs(d)
		if err := l.ACL(id, acl); err != nil {
			t.Fatal(err)
		}
	}
	for d.Err() == nil {
		p := d.String()
		if p == "/" {
			break
		}
		data := d.Buffer()
		aclID := d.Long()
		var st proto.StatPersisted
		st.Decode(d)
		if d.Err() != nil {
			break
		}
		if err := l.Node(p, data, aclID, st); err != nil {
			t.Fatal(err)
		}
	}
	d.Long()       // checksum
	_ = d.String() // "/"
	sd := snapshotDigest{zxid: d.Long(), version: d.Int(), digest: d.Long()}
	if err := d.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tree, err := l.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return tree, sd
}

// TestFixtureSnapshotLoad loads every snapshot server 1 wrote, checks the
// loaded tree's digest against the digest record in the snapshot where it
// applies, then replays the rest of the log on top, checking every logged
// digest, as ZooKeeper does at startup.
func TestFixtureSnapshotLoad(t *testing.T) {
	dir := extractFixture(t)
	v2 := filepath.Join(dir, "n1/data/version-2")
	entries := readLogs(t, v2)
	names, err := filepath.Glob(filepath.Join(v2, "snapshot.*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no snapshots: %v", err)
	}
	for _, name := range names {
		snapZxid, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(name), "snapshot."), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			tree, sd := loadSnapshot(t, name)
			tree.SetLastProcessedZxid(snapZxid)
			if sd.version != DigestVersion {
				t.Fatalf("digest version %d", sd.version)
			}
			// Until the txn the digest record names has been replayed the
			// tree is fuzzy and its digest cannot be compared.
			// The ACL cache must have evolved exactly as ZooKeeper's: same
			// ids for the same lists, same node -> id references.
			replayed := New()
			for _, e := range entries {
				if e.hdr.Zxid <= snapZxid {
					replayed.ProcessTxn(&e.hdr, e.txn)
				}
			}
			if got, want := replayed.ACLs(), tree.ACLs(); !reflect.DeepEqual(got, want) {
				t.Errorf("ACL cache after replay %v, snapshot has %v", got, want)
			}
			ids := map[string]int64{}
			tree.Walk(func(p string, n NodeView) error { ids[p] = n.ACLID; return nil })
			replayed.Walk(func(p string, n NodeView) error {
				if id, ok := ids[p]; ok && id != n.ACLID {
					t.Errorf("%s: ACL id %d after replay, %d in the snapshot", p, n.ACLID, id)
				}
				return nil
			})

			pending := sd.zxid > snapZxid
			switch {
			case sd.zxid == 0:
				// snapshot.0 holds the initial tree and an empty record.
				if want := New().Digest(); tree.Digest() != want {
					t.Fatalf("loaded tree digest %d, a new tree's is %d", tree.Digest(), want)
				}
			case sd.zxid == snapZxid:
				if tree.Digest() != sd.digest {
					t.Fatalf("loaded tree digest %d, snapshot recorded %d", tree.Digest(), sd.digest)
				}
			}
			checked := 0
			for _, e := range entries {
				if e.hdr.Zxid <= snapZxid {
					continue
				}
				tree.ProcessTxn(&e.hdr, e.txn)
				if pending {
					if e.hdr.Zxid == sd.zxid {
						if tree.Digest() != sd.digest {
							t.Fatalf("digest after 0x%x is %d, snapshot recorded %d", e.hdr.Zxid, tree.Digest(), sd.digest)
						}
						pending = false
					}
					continue
				}
				if !tree.CheckDigest(e.digest) {
					t.Fatalf("zxid 0x%x: tree digest %d, logged %d", e.hdr.Zxid, tree.Digest(), e.digest.TreeDigest)
				}
				checked++
			}
			if checked < 30 {
				t.Fatalf("only %d txns checked after the snapshot", checked)
			}
		})
	}
}
