package zkserver_test

import (
	"testing"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// TestGetDataAllocations holds the read path to its allocation budget: a
// getData answered over a real socket allocates a few small records and
// nothing per byte (reads are what a coordination service serves most,
// and garbage per read is GC work taken from every other request). The
// client is a raw socket with a prebuilt request and a reused reply buffer
// (benchConn), so it allocates nothing.
func TestGetDataAllocations(t *testing.T) {
	addr, _ := startServer(t)
	c := dialBench(t, addr)
	createParent(t, c, make([]byte, 128))
	req := request(2, proto.OpGetData, proto.Marshal(&proto.PathWatchRequest{Path: "/b"}))
	// The request record (it reaches an interface), its path and the
	// response record. The decoder is recycled (jute.GetDecoder). Reading
	// the frame, encoding the reply and writing it allocate nothing: 14
	// before those were made to reuse their buffers and callbacks.
	allocsWithin(t, "getData", 2000, 3, func() error { return c.call(req, true) })
}

// TestEnsembleWriteAllocations holds the replicated write path to its
// allocation budget: one client's setData, through a follower (forwarded to
// the leader, proposed, logged by all three, committed, applied by all three
// and answered), counted over the whole process, that is over all three
// members. With one request at a time every batch holds one txn, so no
// per-batch cost is shared and the count is the path's worst case.
func TestEnsembleWriteAllocations(t *testing.T) {
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{})
	follower := e.Followers(e.WaitServing())[0]
	c := dialBench(t, e.Addr(follower))
	payload := make([]byte, 128)
	createParent(t, c, payload)
	req := request(2, proto.OpSetData, proto.Marshal(&proto.SetDataRequest{Path: "/b", Data: payload, Version: -1}))
	// 105 before the core and the log writer recycled their batch arrays,
	// a sent packet stopped escaping, the leader's status stopped being
	// rebuilt in new arrays and decoders were recycled; 58 after. What is
	// left is about one object per member per stage: the request and txn
	// records, the copies of the data each member keeps, the proposal,
	// the reply.
	allocsWithin(t, "replicated setData", 1000, 70, func() error { return c.call(req, true) })
}

// allocsWithin measures the allocations per call of call (the process's,
// as testing.AllocsPerRun counts them) over runs calls, and fails the test
// if a call fails or the count is over budget.
func allocsWithin(t *testing.T, what string, runs int, budget float64, call func() error) {
	t.Helper()
	var failed error
	allocs := testing.AllocsPerRun(runs, func() {
		if failed == nil {
			failed = call()
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	t.Logf("%.1f allocations per %s", allocs, what)
	if allocs > budget {
		t.Errorf("%.1f allocations per %s, budget %v", allocs, what, budget)
	}
}
