package datatree

import (
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/proto"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{t: t, tree: NewWithOptions(Options{Metrics: m}), zxid: 0x100000000}
	r.must(mkCreate("/a", "12345"))
	r.must(mkEphemeral("/e"))
	r.must(mkSetData("/a", "1", 1))
	r.apply(&proto.ErrorTxn{Err: proto.ErrNodeExists})

	want := `
# HELP zkd_tree_ephemerals Ephemeral znodes owned by sessions.
# TYPE zkd_tree_ephemerals gauge
zkd_tree_ephemerals 1
# HELP zkd_tree_znodes Znodes in the tree, counted as ZooKeeper's zk_znode_count (the root counts twice).
# TYPE zkd_tree_znodes gauge
zkd_tree_znodes 7
# HELP zkd_tree_data_bytes Approximate size of the tree: path lengths plus data lengths, as ZooKeeper's zk_approximate_data_size.
# TYPE zkd_tree_data_bytes gauge
zkd_tree_data_bytes 49
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "zkd_tree_ephemerals", "zkd_tree_znodes", "zkd_tree_data_bytes"); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		typ  string
		want float64
	}{{"create", 2}, {"setData", 1}, {"error", 1}, {"delete", 0}} {
		if got := testutil.ToFloat64(m.applied.WithLabelValues(c.typ)); got != c.want {
			t.Errorf("txns_applied_total{type=%s} = %v, want %v", c.typ, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("duration histogram series = %d", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP zkd_tree_digest_mismatches_total Transactions after which the tree digest differed from the digest logged with them.
# TYPE zkd_tree_digest_mismatches_total counter
zkd_tree_digest_mismatches_total 0
`), "zkd_tree_digest_mismatches_total"); err != nil {
		t.Error(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	if m, err := NewMetrics(nil); m != nil || err != nil {
		t.Errorf("NewMetrics(nil) = %v, %v", m, err)
	}
}

// TestConcurrentReadsAndWrites exercises the locking contract under -race:
// readers under RLock, one writer under Lock, watches set and fired.
func TestConcurrentReadsAndWrites(t *testing.T) {
	tree := New()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &recorder{}
			for i := 0; i < 200; i++ {
				tree.RLock()
				tree.GetData("/n", w, nil)
				tree.GetChildren("/", w, nil)
				tree.Exists("/n/c", w)
				tree.Walk(func(string, NodeView) error { return nil })
				tree.RUnlock()
			}
			tree.RemoveWatcher(w)
		}()
	}
	for i := int64(1); i <= 200; i++ {
		var txn proto.Txn
		switch i % 4 {
		case 1:
			txn = mkCreate("/n", "")
		case 2:
			txn = mkCreate("/n/c", "")
		case 3:
			txn = mkDelete("/n/c")
		default:
			txn = mkDelete("/n")
		}
		tree.Lock()
		res := tree.ProcessTxn(&proto.TxnHeader{Zxid: i, Type: txn.TxnType()}, txn)
		tree.Unlock()
		if res.Err != proto.ErrOK {
			t.Fatalf("txn %d: %s", i, proto.CodeName(res.Err))
		}
	}
	wg.Wait()
	if tree.NodeCount() != 5 || tree.Digest() != fullDigest(tree) {
		t.Errorf("node count %d, digest %d, recomputed %d", tree.NodeCount(), tree.Digest(), fullDigest(tree))
	}
}
