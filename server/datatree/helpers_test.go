package datatree

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/watch"
)

const session = int64(0x1000000abcd0001)

// recorder is a watch.Watcher that records the events it gets.
type recorder struct {
	mu     sync.Mutex
	events []watch.Event
}

func (r *recorder) Process(ev watch.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// take returns the recorded events as (type, path) pairs and forgets them.
func (r *recorder) take() []evt {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []evt
	for _, e := range r.events {
		out = append(out, evt{e.Type, e.Path})
	}
	r.events = nil
	return out
}

type evt struct {
	typ  int32
	path string
}

// runner applies txns with consecutive zxids; the txn time is zxid*10.
type runner struct {
	t    *testing.T
	tree *Tree
	zxid int64
}

func newRunner(t *testing.T) *runner {
	return &runner{t: t, tree: New(), zxid: 0x100000000}
}

// apply applies txn as session with the next zxid.
func (r *runner) apply(txn proto.Txn) Result {
	return r.applyAs(session, txn)
}

func (r *runner) applyAs(s int64, txn proto.Txn) Result {
	r.zxid++
	h := &proto.TxnHeader{ClientID: s, Cxid: int32(r.zxid), Zxid: r.zxid, Time: r.zxid * 10, Type: txn.TxnType()}
	r.tree.Lock()
	defer r.tree.Unlock()
	return r.tree.ProcessTxn(h, txn)
}

// must applies txn and fails the test unless it succeeds.
func (r *runner) must(txn proto.Txn) Result {
	r.t.Helper()
	res := r.apply(txn)
	if res.Err != proto.ErrOK {
		r.t.Fatalf("%s %+v: %s", proto.OpName(txn.TxnType()), txn, proto.CodeName(res.Err))
	}
	return res
}

func mkCreate(path, data string) *proto.CreateTxn {
	return &proto.CreateTxn{Path: path, Data: []byte(data), ACL: proto.OpenACLUnsafe, ParentCVersion: -1, Op: proto.OpCreate}
}

func mkCreate2(path, data string) *proto.CreateTxn {
	c := mkCreate(path, data)
	c.Op = proto.OpCreate2
	return c
}

func mkEphemeral(path string) *proto.CreateTxn {
	c := mkCreate(path, "")
	c.Ephemeral = true
	return c
}

func mkDelete(path string) *proto.DeleteTxn { return &proto.DeleteTxn{Path: path, Op: proto.OpDelete} }

func mkSetData(path, data string, version int32) *proto.SetDataTxn {
	return &proto.SetDataTxn{Path: path, Data: []byte(data), Version: version, Op: proto.OpSetData}
}

// stat returns the client stat of path, failing the test if it is missing.
func (r *runner) stat(path string) proto.Stat {
	r.t.Helper()
	r.tree.RLock()
	defer r.tree.RUnlock()
	st, code := r.tree.Exists(path, nil)
	if code != proto.ErrOK {
		r.t.Fatalf("exists %s: %s", path, proto.CodeName(code))
	}
	return st
}

// stored returns the stored stat of path.
func (r *runner) stored(path string) proto.StatPersisted {
	r.t.Helper()
	info, ok := r.tree.Lookup(path)
	if !ok {
		r.t.Fatalf("lookup %s: missing", path)
	}
	return info.Stat
}

// fullDigest recomputes the tree digest from scratch, to check the
// incrementally maintained one.
func fullDigest(t *Tree) int64 {
	var sum int64
	for p, n := range t.nodes {
		sum += new(Digester).NodeDigest(p, n.data, &n.stat)
	}
	return sum
}

func newTestMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}
