package prep

import (
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/proto"
)

func errTxn(code proto.Code) proto.Txn { return &proto.ErrorTxn{Err: code} }

func TestMulti(t *testing.T) {
	m := []byte("m")
	rt := errTxn(proto.ErrRuntimeInconsistency)
	tests := []struct {
		name string
		ext  bool
		req  *Request
		// want is the MultiTxn's sub-txns, or nil when the whole request
		// fails with wantWhole.
		want      func(h *harness) []proto.Txn
		wantWhole proto.Code
	}{
		{name: "empty", req: multiReq(), want: func(*harness) []proto.Txn { return []proto.Txn{} }},
		{name: "empty multi needs no session", req: inSession(sessExpired, multiReq()), want: func(*harness) []proto.Txn { return []proto.Txn{} }},
		{name: "ops see the ops before them",
			req: multiReq(mCreate("/x", 0), mCreate("/x/y", 0), mOp(setDataReq("/x", "2", 0)), mOp(deleteReq("/x/y", 0)), mOp(checkReq("/x", 1)), mOp(deleteReq("/x", 1))),
			want: func(h *harness) []proto.Txn {
				cv := h.cversion("/")
				return []proto.Txn{
					&proto.CreateTxn{Path: "/x", Data: m, ACL: open, ParentCVersion: cv + 1, Op: proto.OpCreate},
					&proto.CreateTxn{Path: "/x/y", Data: m, ACL: open, ParentCVersion: 1, Op: proto.OpCreate},
					&proto.SetDataTxn{Path: "/x", Data: []byte("2"), Version: 1, Op: proto.OpSetData},
					&proto.DeleteTxn{Path: "/x/y", Op: proto.OpDelete},
					&proto.CheckVersionTxn{Path: "/x", Version: 2},
					&proto.DeleteTxn{Path: "/x", Op: proto.OpDelete},
				}
			}},
		{name: "sequence numbers inside a multi",
			req: multiReq(mCreate("/seq/s", proto.FlagPersistentSequential), mCreate("/seq/s", proto.FlagPersistentSequential)),
			want: func(*harness) []proto.Txn {
				return []proto.Txn{
					&proto.CreateTxn{Path: "/seq/s0000000001", Data: m, ACL: open, ParentCVersion: 2, Op: proto.OpCreate},
					&proto.CreateTxn{Path: "/seq/s0000000002", Data: m, ACL: open, ParentCVersion: 3, Op: proto.OpCreate},
				}
			}},
		{name: "failure in the middle",
			req: multiReq(mCreate("/x", 0), mCreate("/a", 0), mCreate("/y", 0), mOp(deleteReq("/a/b", -1))),
			want: func(h *harness) []proto.Txn {
				return []proto.Txn{
					&proto.CreateTxn{Path: "/x", Data: m, ACL: open, ParentCVersion: h.cversion("/") + 1, Op: proto.OpCreate},
					errTxn(proto.ErrNodeExists), rt, rt,
				}
			}},
		{name: "first op fails",
			req:  multiReq(mOp(checkReq("/a", 0)), mCreate("/x", 0)),
			want: func(*harness) []proto.Txn { return []proto.Txn{errTxn(proto.ErrBadVersion), rt} }},
		{name: "last op fails on what the first did",
			req: multiReq(mCreate("/x", 0), mCreate("/x", 0)),
			want: func(h *harness) []proto.Txn {
				return []proto.Txn{
					&proto.CreateTxn{Path: "/x", Data: m, ACL: open, ParentCVersion: h.cversion("/") + 1, Op: proto.OpCreate},
					errTxn(proto.ErrNodeExists),
				}
			}},
		{name: "expired session fails the first op",
			req:  inSession(sessExpired, multiReq(mCreate("/x", 0), mCreate("/y", 0))),
			want: func(*harness) []proto.Txn { return []proto.Txn{errTxn(proto.ErrSessionExpired), rt} }},
		{name: "create2 stays create2",
			req: multiReq(proto.MultiOp{Type: proto.OpCreate2, Req: &proto.CreateRequest{Path: "/x", Data: m, ACL: open}}),
			want: func(h *harness) []proto.Txn {
				return []proto.Txn{&proto.CreateTxn{Path: "/x", Data: m, ACL: open, ParentCVersion: h.cversion("/") + 1, Op: proto.OpCreate2}}
			}},
		{name: "container flag makes createContainer",
			req: multiReq(mCreate("/x", proto.FlagContainer)),
			want: func(h *harness) []proto.Txn {
				return []proto.Txn{&proto.CreateContainerTxn{Path: "/x", Data: m, ACL: open, ParentCVersion: h.cversion("/") + 1}}
			}},
		{name: "createTTL without ttl flag becomes create", ext: true,
			req: multiReq(proto.MultiOp{Type: proto.OpCreateTTL, Req: &proto.CreateTTLRequest{Path: "/x", Data: m, ACL: open, Flags: proto.FlagEphemeral, TTL: 100}}),
			want: func(h *harness) []proto.Txn {
				return []proto.Txn{&proto.CreateTxn{Path: "/x", Data: m, ACL: open, Ephemeral: true, ParentCVersion: h.cversion("/") + 1, Op: proto.OpCreate}}
			}},
		{name: "createTTL with container flag becomes createContainer",
			req: multiReq(proto.MultiOp{Type: proto.OpCreateTTL, Req: &proto.CreateTTLRequest{Path: "/x", Data: m, ACL: open, Flags: proto.FlagContainer, TTL: 100}}),
			want: func(h *harness) []proto.Txn {
				return []proto.Txn{&proto.CreateContainerTxn{Path: "/x", Data: m, ACL: open, ParentCVersion: h.cversion("/") + 1}}
			}},
		{name: "createTTL with unknown flags fails its op",
			req:  multiReq(proto.MultiOp{Type: proto.OpCreateTTL, Req: &proto.CreateTTLRequest{Path: "/x", Data: m, ACL: open, Flags: 9, TTL: 100}}),
			want: func(*harness) []proto.Txn { return []proto.Txn{errTxn(proto.ErrBadArguments)} }},
		{name: "createTTL", ext: true,
			req: multiReq(proto.MultiOp{Type: proto.OpCreateTTL, Req: &proto.CreateTTLRequest{Path: "/x", Data: m, ACL: open, Flags: proto.FlagPersistentWithTTL, TTL: 100}}),
			want: func(h *harness) []proto.Txn {
				return []proto.Txn{&proto.CreateTTLTxn{Path: "/x", Data: m, ACL: open, ParentCVersion: h.cversion("/") + 1, TTL: 100}}
			}},
		{name: "createTTL disabled",
			req:  multiReq(proto.MultiOp{Type: proto.OpCreateTTL, Req: &proto.CreateTTLRequest{Path: "/x", Data: m, ACL: open, Flags: proto.FlagPersistentWithTTL, TTL: 100}}),
			want: func(*harness) []proto.Txn { return []proto.Txn{errTxn(proto.ErrUnimplemented)} }},

		{name: "unknown create flags", req: multiReq(mCreate("/x", 0), mCreate("/y", 9)), wantWhole: proto.ErrMarshallingError},
		{name: "ttl flag on create", ext: true, req: multiReq(mCreate("/y", proto.FlagPersistentWithTTL)), wantWhole: proto.ErrMarshallingError},
		{name: "reads only", req: multiReq(proto.MultiOp{Type: proto.OpGetData, Req: &proto.PathWatchRequest{Path: "/a"}}), wantWhole: proto.ErrMarshallingError},
		{name: "reads mixed in", req: multiReq(mCreate("/x", 0), proto.MultiOp{Type: proto.OpGetChildren, Req: &proto.PathWatchRequest{Path: "/a"}}), wantWhole: proto.ErrMarshallingError},
		{name: "deleteContainer", req: multiReq(proto.MultiOp{Type: proto.OpDeleteContainer, Req: &proto.DeleteRequest{Path: "/container"}}), wantWhole: proto.ErrMarshallingError},
		{name: "mismatched body", req: multiReq(proto.MultiOp{Type: proto.OpSetData, Req: &proto.DeleteRequest{Path: "/a"}}), wantWhole: proto.ErrMarshallingError},
		{name: "data too large", req: multiReq(mCreate("/x", 0), mOp(setDataReq("/a", "too large", -1))), wantWhole: proto.ErrMarshallingError},
		{name: "not a multi body", req: req(proto.OpMulti, &proto.CreateRequest{Path: "/x"}), wantWhole: proto.ErrMarshallingError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, newFixture(t), Options{ExtendedTypes: tt.ext, MaxDataBytes: 5, Sessions: testSessions})
			var want proto.Txn
			wantType := int32(proto.OpMulti)
			if tt.want != nil {
				want = &proto.MultiTxn{Txns: tt.want(h)}
			} else {
				want = errTxn(tt.wantWhole)
				wantType = proto.OpError
			}
			hdr, txn := h.prep(tt.req)
			if hdr.Type != wantType || hdr.Zxid != h.zxid || hdr.ClientID != tt.req.SessionID {
				t.Errorf("header = %+v, want type %d", hdr, wantType)
			}
			if !reflect.DeepEqual(txn, want) {
				t.Errorf("txn =  %#v\nwant %#v", txn, want)
				if got, ok := txn.(*proto.MultiTxn); ok {
					for i, sub := range got.Txns {
						t.Logf("  sub %d: %#v", i, sub)
					}
				}
			}
			failed := tt.want == nil
			if mt, ok := txn.(*proto.MultiTxn); ok {
				for _, sub := range mt.Txns {
					if _, isErr := sub.(*proto.ErrorTxn); isErr {
						failed = true
					}
				}
			}
			if failed && h.p.Outstanding() != 0 {
				t.Errorf("a failed multi left %d overlay records", h.p.Outstanding())
			}
			// The tree applies what Prep produced; a failed multi changes
			// nothing.
			before := h.tree.Digest()
			res := h.apply(hdr, txn)
			if failed && h.tree.Digest() != before {
				t.Error("applying a failed multi changed the tree")
			}
			if !failed && res.Err != proto.ErrOK {
				t.Errorf("applying the multi: %s", proto.CodeName(res.Err))
			}
		})
	}
}

// A failed multi must restore the records it replaced, including the
// parent's, so that sequence numbers and versions continue from the txns
// prepped before it (ZOOKEEPER-1624).
func TestMultiRollbackRestoresPendingRecords(t *testing.T) {
	h := newHarness(t, newFixture(t), Options{})
	var queue []pendingTxn
	prep := func(r *Request) proto.Txn {
		hdr, txn := h.prep(r)
		queue = append(queue, pendingTxn{hdr, txn})
		return txn
	}
	prep(createReq("/seq/s", proto.FlagPersistentSequential, open)) // s0000000001, unapplied
	prep(setDataReq("/a", "v3", 2))                                 // version 3, unapplied
	failed := prep(multiReq(
		mCreate("/seq/s", proto.FlagPersistentSequential), // would be s0000000002
		mOp(setDataReq("/a", "v4", 3)),
		mCreate("/a/b", 0), // exists: the multi fails
	))
	if mt := failed.(*proto.MultiTxn); !reflect.DeepEqual(mt.Txns[2], errTxn(proto.ErrNodeExists)) {
		t.Fatalf("multi did not fail as planned: %#v", mt.Txns)
	}
	if got := createdPath(prep(createReq("/seq/s", proto.FlagPersistentSequential, open))); got != "/seq/s0000000002" {
		t.Errorf("sequential create after the failed multi: %s, want /seq/s0000000002", got)
	}
	if _, code := h.prepCode(setDataReq("/a", "v4", 3)); code != proto.ErrOK {
		t.Errorf("setData with the version of the txn before the multi: %s", proto.CodeName(code))
	}
	for _, q := range queue {
		h.apply(q.hdr, q.txn)
	}
	for _, p := range []string{"/seq/s0000000001", "/seq/s0000000002"} {
		if _, ok := h.lookup(p); !ok {
			t.Errorf("%s missing after applying", p)
		}
	}
}

// After a failed multi whose records were the only outstanding ones, the
// tree decides again.
func TestMultiRollbackToEmptyOverlay(t *testing.T) {
	h := newHarness(t, newFixture(t), Options{})
	h.prep(multiReq(mCreate("/x", 0), mCreate("/a", 0)))
	if n := h.p.Outstanding(); n != 0 {
		t.Fatalf("Outstanding = %d after a failed multi", n)
	}
	if _, code := h.prepCode(createReq("/x", 0, open)); code != proto.ErrOK {
		t.Errorf("create /x after the failed multi: %s", proto.CodeName(code))
	}
}

func newRegistry() *prometheus.Registry { return prometheus.NewPedanticRegistry() }

func counterValue(t *testing.T, m *Metrics, typ, result string) float64 {
	t.Helper()
	return testutil.ToFloat64(m.txns.WithLabelValues(typ, result))
}

func gaugeValue(t *testing.T, m *Metrics) float64 {
	t.Helper()
	return testutil.ToFloat64(m.outstanding)
}
