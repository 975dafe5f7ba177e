package prep

import (
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
)

// pendingTxn is a prepped txn waiting to be applied.
type pendingTxn struct {
	hdr proto.TxnHeader
	txn proto.Txn
}

// step is one request prepped against the overlay; apply applies everything
// prepped so far.
type step struct {
	req   *Request
	want  proto.Code
	path  string // for a successful create: the path the txn creates
	apply bool
}

func runSteps(t *testing.T, h *harness, steps []step) {
	t.Helper()
	var queue []pendingTxn
	for i, s := range steps {
		if s.apply {
			for _, q := range queue {
				if res := h.apply(q.hdr, q.txn); res.Err != proto.ErrOK && q.hdr.Type != proto.OpError {
					t.Fatalf("step %d: applying zxid %d: %s", i, q.hdr.Zxid, proto.CodeName(res.Err))
				}
			}
			queue = nil
			continue
		}
		hdr, txn := h.prep(s.req)
		code := proto.ErrOK
		if e, ok := txn.(*proto.ErrorTxn); ok {
			code = e.Err
		}
		if code != s.want {
			t.Fatalf("step %d (%s %+v): got %s, want %s", i, proto.OpName(s.req.Op), s.req.Body, proto.CodeName(code), proto.CodeName(s.want))
		}
		if s.path != "" {
			if got := createdPath(txn); got != s.path {
				t.Fatalf("step %d: created %q, want %q", i, got, s.path)
			}
		}
		queue = append(queue, pendingTxn{hdr, txn})
	}
}

func createdPath(txn proto.Txn) string {
	switch t := txn.(type) {
	case *proto.CreateTxn:
		return t.Path
	case *proto.CreateContainerTxn:
		return t.Path
	case *proto.CreateTTLTxn:
		return t.Path
	}
	return ""
}

func TestOverlay(t *testing.T) {
	ok := proto.ErrOK
	tests := []struct {
		name  string
		steps []step
		// tree lists paths that must exist (or, prefixed with '!', not
		// exist) once everything is applied.
		tree []string
		// digestQuirk: the root is "" as a parent and "/" as a target in
		// ZooKeeper's overlay, so a setData of "/" while a create under it
		// is outstanding precalculates from the tree's stale root, in
		// ZooKeeper as here: that txn's digest does not match the tree.
		digestQuirk bool
	}{
		{name: "second create of the same path", steps: []step{
			{req: createReq("/x", 0, open), want: ok},
			{req: createReq("/x", 0, open), want: proto.ErrNodeExists},
			{apply: true},
			{req: createReq("/x", 0, open), want: proto.ErrNodeExists},
		}, tree: []string{"/x"}},
		{name: "sequence numbers across unapplied creates", steps: []step{
			{req: createReq("/seq/n", proto.FlagPersistentSequential, open), want: ok, path: "/seq/n0000000001"},
			{req: createReq("/seq/n", proto.FlagEphemeralSequential, open), want: ok, path: "/seq/n0000000002"},
			{req: createReq("/seq/n", proto.FlagPersistentSequential, open), want: ok, path: "/seq/n0000000003"},
			{apply: true},
			{req: createReq("/seq/n", proto.FlagPersistentSequential, open), want: ok, path: "/seq/n0000000004"},
			{apply: true},
		}, tree: []string{"/seq/n0000000001", "/seq/n0000000002", "/seq/n0000000003", "/seq/n0000000004"}},
		{name: "delete of a node an unapplied txn creates", steps: []step{
			{req: createReq("/x", 0, open), want: ok},
			{req: deleteReq("/x", 0), want: ok},
			{req: deleteReq("/x", -1), want: proto.ErrNoNode},
			{req: createReq("/x", 0, open), want: ok},
			{apply: true},
		}, tree: []string{"/x"}},
		{name: "delete of a parent with an unapplied child", steps: []step{
			{req: createReq("/x", 0, open), want: ok},
			{req: createReq("/x/y", 0, open), want: ok},
			{req: deleteReq("/x", -1), want: proto.ErrNotEmpty},
			{req: deleteReq("/x/y", -1), want: ok},
			{req: deleteReq("/x", -1), want: ok},
			{apply: true},
		}, tree: []string{"!/x", "!/x/y"}},
		{name: "child of an unapplied ephemeral", steps: []step{
			{req: createReq("/e", proto.FlagEphemeral, open), want: ok},
			{req: createReq("/e/c", 0, open), want: proto.ErrNoChildrenForEphemerals},
			{apply: true},
		}, tree: []string{"/e", "!/e/c"}},
		{name: "child of an unapplied container", steps: []step{
			{req: createOp(proto.OpCreateContainer, "/c", proto.FlagContainer, open), want: ok},
			{req: createReq("/c/x", 0, open), want: ok},
			{req: deleteContainerReq("/c"), want: proto.ErrNotEmpty},
			{apply: true},
		}, tree: []string{"/c/x"}},
		{name: "versions chain", steps: []step{
			{req: setDataReq("/a", "3", 2), want: ok},
			{req: setDataReq("/a", "4", 2), want: proto.ErrBadVersion},
			{req: setDataReq("/a", "4", 3), want: ok},
			{req: checkReq("/a", 4), want: ok},
			{req: setACLReq("/a", open, 0), want: ok},
			{req: setACLReq("/a", open, 1), want: ok},
			{apply: true},
			{req: setDataReq("/a", "5", 4), want: ok},
			{req: setACLReq("/a", open, 2), want: ok},
			{apply: true},
		}},
		{name: "unapplied setACL already binds", steps: []step{
			{req: setACLReq("/a", proto.ReadACLUnsafe, -1), want: ok},
			{req: setDataReq("/a", "x", -1), want: proto.ErrNoAuth},
			{req: createReq("/a/new", 0, open), want: proto.ErrNoAuth},
			{req: as(asSuper, setDataReq("/a", "x", -1)), want: ok},
			{apply: true},
		}},
		{name: "root as parent and as target", steps: []step{
			{req: createReq("/r1", 0, open), want: ok},
			{req: setDataReq("/", "root", -1), want: ok},
			{req: createReq("/", proto.FlagPersistentSequential, open), want: ok},
			{apply: true},
		}, digestQuirk: true},
		{name: "close session sees unapplied ephemerals", steps: []step{
			{req: createReq("/e1", proto.FlagEphemeral, open), want: ok},
			{req: inSession(sessOther, createReq("/e2", proto.FlagEphemeral, open)), want: ok},
			{req: deleteReq("/eph", -1), want: ok},
			{req: req(proto.OpCloseSession, nil), want: ok},
			{req: deleteReq("/e1", -1), want: proto.ErrNoNode},
			{req: setDataReq("/e2", "still there", -1), want: ok},
			{apply: true},
		}, tree: []string{"!/e1", "/e2", "!/eph"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, newFixture(t), Options{Sessions: testSessions})
			h.digestQuirk = tt.digestQuirk
			runSteps(t, h, tt.steps)
			for _, p := range tt.tree {
				want := !strings.HasPrefix(p, "!")
				p = strings.TrimPrefix(p, "!")
				if _, got := h.lookup(p); got != want {
					t.Errorf("after applying, %s exists = %v, want %v", p, got, want)
				}
			}
			if n := h.p.Outstanding(); n != 0 {
				t.Errorf("%d overlay records left after applying everything", n)
			}
		})
	}
}

func TestCloseSessionTxn(t *testing.T) {
	h := newHarness(t, newFixture(t), Options{})
	_, pendingCreate := h.prep(createReq("/e1", proto.FlagEphemeral, open))
	_, pendingDelete := h.prep(deleteReq("/eph", -1))
	_, txn := h.prep(req(proto.OpCloseSession, nil))
	if got, want := txn, (&proto.CloseSessionTxn{Paths2Delete: []string{"/e1"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("closeSession txn = %#v, want %#v (the tree's /eph is being deleted, /e1 is being created)", got, want)
	}
	if pendingCreate == nil || pendingDelete == nil {
		t.Fatal("setup failed")
	}
}

// TestCloseSessionOrder checks the order of a CloseSessionTxn's paths
// against the order Java's HashSet gives (ephemerals.golden, row 5).
func TestCloseSessionOrder(t *testing.T) {
	rows := readGolden(t, "ephemerals.golden")
	row := rows[4]
	created := strings.Fields(row[0])
	if !strings.HasPrefix(created[0], "/app/members/") {
		t.Fatalf("unexpected golden row %q", row)
	}
	h := newHarness(t, nil, Options{})
	h.do(createReq("/app", 0, open))
	h.do(createReq("/app/members", 0, open))
	for _, p := range created {
		h.do(inSession(9, createReq(p, proto.FlagEphemeral, open)))
	}
	hdr, txn := h.prep(inSession(9, req(proto.OpCloseSession, nil)))
	cs, ok := txn.(*proto.CloseSessionTxn)
	if !ok || strings.Join(cs.Paths2Delete, " ") != row[1] {
		t.Fatalf("closeSession txn %#v\nwant paths in Java's order %s", txn, row[1])
	}
	if res := h.apply(hdr, txn); res.Err != proto.ErrOK {
		t.Fatalf("apply closeSession: %s", proto.CodeName(res.Err))
	}
	info, _ := h.lookup("/app/members")
	if info.NumChildren != 0 {
		t.Errorf("%d ephemerals left", info.NumChildren)
	}
}

func TestAppliedTrimming(t *testing.T) {
	h := newHarness(t, newFixture(t), Options{})
	h1, t1 := h.prep(createReq("/x", 0, open))
	h2, t2 := h.prep(setDataReq("/x", "v", -1))
	h3, t3 := h.prep(createReq("/y", 0, open))
	if n := h.p.Outstanding(); n != 5 { // parent+node, node, parent+node
		t.Fatalf("Outstanding = %d, want 5", n)
	}
	h.apply(h1, t1)
	if n := h.p.Outstanding(); n != 3 {
		t.Errorf("after the first txn: Outstanding = %d, want 3", n)
	}
	// /x's newest record (version 1) must survive the trim of the older one.
	if _, code := h.prepCode(setDataReq("/x", "w", 1)); code != proto.ErrOK {
		t.Errorf("setData /x version 1 before its txn applied: %s", proto.CodeName(code))
	}
	h.p.Reset()
	if n := h.p.Outstanding(); n != 0 {
		t.Errorf("after Reset: Outstanding = %d", n)
	}
	// With the overlay gone the tree decides: /y is not there yet.
	if _, code := h.prepCode(createReq("/y", 0, open)); code != proto.ErrOK {
		t.Errorf("create /y after Reset: %s", proto.CodeName(code))
	}
	h.p.Reset()
	h.apply(h2, t2)
	h.apply(h3, t3)
	if _, code := h.prepCode(createReq("/y", 0, open)); code != proto.ErrNodeExists {
		t.Errorf("create /y after it was applied: %s", proto.CodeName(code))
	}
}

func TestMetrics(t *testing.T) {
	reg := newRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, newFixture(t), Options{Metrics: m})
	hdr, txn := h.prep(createReq("/x", 0, open))
	h.prep(createReq("/x", 0, open))
	h.prep(multiReq(mCreate("/y", 0), mCreate("/a", 0)))
	h.prep(multiReq(proto.MultiOp{Type: proto.OpGetData, Req: &proto.PathWatchRequest{Path: "/a"}}))
	want := map[[2]string]float64{
		{"create", "ok"}:              1,
		{"create", "nodeexists"}:      1,
		{"multi", "nodeexists"}:       1,
		{"multi", "marshallingerror"}: 1,
		{"setData", "ok"}:             0,
	}
	for k, v := range want {
		if got := counterValue(t, m, k[0], k[1]); got != v {
			t.Errorf("zkd_prep_txns_total{type=%q,result=%q} = %v, want %v", k[0], k[1], got, v)
		}
	}
	if got := gaugeValue(t, m); got != 2 {
		t.Errorf("zkd_prep_outstanding_changes = %v, want 2", got)
	}
	h.apply(hdr, txn)
	if got := gaugeValue(t, m); got != 0 {
		t.Errorf("zkd_prep_outstanding_changes after apply = %v, want 0", got)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	if m, err := NewMetrics(nil); m != nil || err != nil {
		t.Errorf("NewMetrics(nil) = %v, %v", m, err)
	}
}

// TestConcurrentPipeline runs prep and apply the way the server does, from
// different goroutines, for the race detector.
func TestConcurrentPipeline(t *testing.T) {
	tree := datatree.New()
	p := New(tree, Options{})
	type prepped struct {
		hdr proto.TxnHeader
		txn proto.Txn
	}
	ch := make(chan prepped, 8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for x := range ch {
			tree.Lock()
			tree.ProcessTxn(&x.hdr, x.txn)
			tree.Unlock()
			p.Applied(x.hdr.Zxid)
		}
	}()
	var names []string
	for z := int64(1); z <= 200; z++ {
		hdr, txn := p.Prep(createReq("/n", proto.FlagPersistentSequential, open), z)
		names = append(names, createdPath(txn))
		ch <- prepped{hdr, txn}
	}
	close(ch)
	wg.Wait()
	tree.RLock()
	kids, _, _ := tree.GetChildren("/", nil, nil)
	tree.RUnlock()
	if len(kids) != 201 || p.Outstanding() != 0 { // plus "zookeeper"
		t.Errorf("%d children, %d outstanding", len(kids), p.Outstanding())
	}
	if !slices.IsSorted(names) || names[0] != "/n0000000000" {
		t.Errorf("sequence names out of order: %v...", names[:3])
	}
}
