package prep

import (
	"testing"

	"github.com/zkd-io/zkd/server/auth"
	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
)

// Sessions used by the tests: 1 and 5 are fine, the others fail checks.
const (
	sessOwner   int64 = 1
	sessExpired int64 = 2
	sessMoved   int64 = 3
	sessUnknown int64 = 4
	sessOther   int64 = 5
)

type fakeSessions map[int64]proto.Code

func (f fakeSessions) Check(id int64) proto.Code { return f[id] }

var testSessions = fakeSessions{
	sessExpired: proto.ErrSessionExpired,
	sessMoved:   proto.ErrSessionMoved,
	sessUnknown: proto.ErrUnknownSession,
}

func worldACL(perms int32) []proto.ACL {
	return []proto.ACL{{Perms: perms, ID: proto.IDAnyoneUnsafe}}
}

var (
	open      = proto.OpenACLUnsafe
	aliceID   = mustDigest("alice:secret")
	asAlice   = &auth.Identity{RemoteIP: "192.168.0.9", IDs: []proto.ID{aliceID}}
	asNobody  = &auth.Identity{RemoteIP: "192.168.0.9"}
	asSuper   = &auth.Identity{Super: true}
	aliceOnly = []proto.ACL{{Perms: proto.PermAll, ID: aliceID}}
)

func mustDigest(s string) proto.ID {
	id, err := auth.DigestID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// harness preps requests with a Prepper and applies the txns to a real tree.
//
// Every txn's precalculated digest is checked when it is applied: the
// tree's digest must then equal it, so every test that applies txns also
// tests the digests (including txns prepped while others were
// outstanding).
type harness struct {
	t       *testing.T
	tree    *datatree.Tree
	p       *Prepper
	zxid    int64
	digests map[int64]*proto.TxnDigest // by zxid, from PrepTxn
	// digestQuirk skips the digest check for the cases where ZooKeeper's
	// own precalculated digest differs from the tree it produces, and
	// zkd's does too, on purpose (see the tests that set it).
	digestQuirk bool
}

func newHarness(t *testing.T, tree *datatree.Tree, opts Options) *harness {
	if tree == nil {
		tree = datatree.New()
	}
	return &harness{t: t, tree: tree, p: New(tree, opts), zxid: tree.LastProcessedZxid(), digests: map[int64]*proto.TxnDigest{}}
}

// prep preps req under the next zxid without applying it.
func (h *harness) prep(req *Request) (proto.TxnHeader, proto.Txn) {
	h.zxid++
	if req.TimeMs == 0 {
		req.TimeMs = 1_700_000_000_000 + h.zxid
	}
	hdr, txn, digest := h.p.PrepTxn(req, h.zxid)
	if (digest == nil) != (hdr.Type == proto.OpError) {
		h.t.Errorf("zxid %#x %s: digest %v; want one exactly when the txn is not an error txn", hdr.Zxid, proto.OpName(hdr.Type), digest)
	}
	h.digests[hdr.Zxid] = digest
	return hdr, txn
}

// apply applies a prepped txn and trims the overlay, as the server does.
func (h *harness) apply(hdr proto.TxnHeader, txn proto.Txn) datatree.Result {
	h.tree.Lock()
	res := h.tree.ProcessTxn(&hdr, txn)
	got := h.tree.Digest()
	h.tree.Unlock()
	h.p.Applied(hdr.Zxid)
	if d := h.digests[hdr.Zxid]; d != nil && d.TreeDigest != got && !h.digestQuirk {
		h.t.Errorf("zxid %#x %s: precalculated digest %#x, tree digest after applying it %#x", hdr.Zxid, proto.OpName(hdr.Type), d.TreeDigest, got)
	}
	return res
}

// do preps and applies req, failing the test unless both succeed.
func (h *harness) do(req *Request) proto.Txn {
	h.t.Helper()
	hdr, txn := h.prep(req)
	if e, ok := txn.(*proto.ErrorTxn); ok {
		h.t.Fatalf("prep %s %v: %s", proto.OpName(req.Op), req.Body, proto.CodeName(e.Err))
	}
	if res := h.apply(hdr, txn); res.Err != proto.ErrOK {
		h.t.Fatalf("apply %s %v: %s", proto.OpName(req.Op), req.Body, proto.CodeName(res.Err))
	}
	return txn
}

// prepCode preps req and returns its error code (ErrOK for a txn).
func (h *harness) prepCode(req *Request) (proto.Txn, proto.Code) {
	hdr, txn := h.prep(req)
	if e, ok := txn.(*proto.ErrorTxn); ok && hdr.Type == proto.OpError {
		return txn, e.Err
	}
	return txn, proto.ErrOK
}

func (h *harness) lookup(path string) (datatree.NodeInfo, bool) {
	h.tree.RLock()
	defer h.tree.RUnlock()
	return h.tree.Lookup(path)
}

func (h *harness) cversion(path string) int32 {
	h.t.Helper()
	info, ok := h.lookup(path)
	if !ok {
		h.t.Fatalf("%s does not exist", path)
	}
	return info.Stat.Cversion
}

// Request builders. Session 1, no identity, unless changed.

func req(op int32, body proto.Record) *Request {
	return &Request{SessionID: sessOwner, Cxid: 7, Op: op, Body: body}
}

func as(id *auth.Identity, r *Request) *Request {
	r.Identity = id
	return r
}

func inSession(s int64, r *Request) *Request {
	r.SessionID = s
	return r
}

func createReq(path string, flags int32, acl []proto.ACL) *Request {
	return req(proto.OpCreate, &proto.CreateRequest{Path: path, Data: []byte("d"), ACL: acl, Flags: flags})
}

func createOp(op int32, path string, flags int32, acl []proto.ACL) *Request {
	return req(op, &proto.CreateRequest{Path: path, Data: []byte("d"), ACL: acl, Flags: flags})
}

func createTTLReq(path string, flags int32, ttl int64) *Request {
	return req(proto.OpCreateTTL, &proto.CreateTTLRequest{Path: path, Data: []byte("d"), ACL: open, Flags: flags, TTL: ttl})
}

func deleteReq(path string, version int32) *Request {
	return req(proto.OpDelete, &proto.DeleteRequest{Path: path, Version: version})
}

func deleteContainerReq(path string) *Request {
	r := req(proto.OpDeleteContainer, &proto.DeleteRequest{Path: path})
	r.SessionID = 0
	return r
}

func setDataReq(path string, data string, version int32) *Request {
	return req(proto.OpSetData, &proto.SetDataRequest{Path: path, Data: []byte(data), Version: version})
}

func setACLReq(path string, acl []proto.ACL, version int32) *Request {
	return req(proto.OpSetACL, &proto.SetACLRequest{Path: path, ACL: acl, Version: version})
}

func checkReq(path string, version int32) *Request {
	return req(proto.OpCheck, &proto.CheckVersionRequest{Path: path, Version: version})
}

func multiReq(ops ...proto.MultiOp) *Request {
	return req(proto.OpMulti, &proto.MultiRequest{Ops: ops})
}

func mCreate(path string, flags int32) proto.MultiOp {
	return proto.MultiOp{Type: proto.OpCreate, Req: &proto.CreateRequest{Path: path, Data: []byte("m"), ACL: open, Flags: flags}}
}

func mOp(r *Request) proto.MultiOp {
	return proto.MultiOp{Type: r.Op, Req: r.Body}
}

// newFixture returns a tree with one node for each situation the tests need.
func newFixture(t *testing.T) *datatree.Tree {
	t.Helper()
	h := newHarness(t, nil, Options{ExtendedTypes: true})
	h.do(createReq("/a", proto.FlagPersistent, open))
	h.do(createReq("/a/b", proto.FlagPersistent, open))
	h.do(createReq("/eph", proto.FlagEphemeral, open))
	h.do(createReq("/ro", proto.FlagPersistent, worldACL(proto.PermRead)))
	h.do(createReq("/noc", proto.FlagPersistent, worldACL(proto.PermAll&^proto.PermCreate)))
	h.do(as(asSuper, createReq("/noc/x", proto.FlagPersistent, open)))
	h.do(createReq("/nod", proto.FlagPersistent, worldACL(proto.PermAll&^proto.PermDelete)))
	h.do(createReq("/nod/child", proto.FlagPersistent, open)) // CREATE is allowed
	h.do(createReq("/noread", proto.FlagPersistent, worldACL(proto.PermAll&^proto.PermRead)))
	h.do(createReq("/noadmin", proto.FlagPersistent, worldACL(proto.PermAll&^proto.PermAdmin)))
	h.do(createReq("/alice", proto.FlagPersistent, aliceOnly))
	h.do(as(asAlice, createReq("/alice/kid", proto.FlagPersistent, open)))
	h.do(createReq("/net", proto.FlagPersistent, []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "ip", ID: "10.0.0.0/8"}}}))
	h.do(createOp(proto.OpCreateContainer, "/container", proto.FlagContainer, open))
	h.do(createTTLReq("/ttl", proto.FlagPersistentWithTTL, 60_000))
	h.do(createReq("/seq", proto.FlagPersistent, open))
	h.do(createReq("/seq/x", proto.FlagPersistent, open))
	h.do(deleteReq("/seq/x", -1))
	h.do(setDataReq("/a", "v1", -1))
	h.do(setDataReq("/a", "v2", -1))
	return h.tree
}
