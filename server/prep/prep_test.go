package prep

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/auth"
	"github.com/zkd-io/zkd/server/proto"
)

// opCase is one request against a fresh fixture.
type opCase struct {
	name    string
	ext     bool // Options.ExtendedTypes
	maxData int  // Options.MaxDataBytes
	req     *Request
	want    proto.Code
	// txn, if set, returns the txn Prep must produce on success.
	txn func(h *harness) proto.Txn
	// digestQuirk: ZooKeeper precalculates this txn's digest from a stat
	// that differs from the one the tree gives the node, so its digest
	// does not match the tree (nor does zkd's, which follows it).
	digestQuirk bool
}

func runOpCases(t *testing.T, cases []opCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, newFixture(t), Options{ExtendedTypes: tc.ext, MaxDataBytes: tc.maxData, Sessions: testSessions})
			h.digestQuirk = tc.digestQuirk
			var want proto.Txn
			if tc.want == proto.ErrOK && tc.txn != nil {
				want = tc.txn(h) // computed before the tree changes
			}
			tc.req.Cxid = 42
			hdr, txn := h.prep(tc.req)
			wantHdr := proto.TxnHeader{ClientID: tc.req.SessionID, Cxid: 42, Zxid: h.zxid, Time: tc.req.TimeMs, Type: tc.req.Op}
			if tc.want != proto.ErrOK {
				wantHdr.Type = proto.OpError
				want = &proto.ErrorTxn{Err: tc.want}
			}
			if hdr != wantHdr {
				t.Errorf("header = %+v, want %+v", hdr, wantHdr)
			}
			if e, ok := txn.(*proto.ErrorTxn); ok && tc.want == proto.ErrOK {
				t.Fatalf("got error %s, want success", proto.CodeName(e.Err))
			}
			if want != nil && !reflect.DeepEqual(txn, want) {
				t.Errorf("txn = %#v\nwant  %#v", txn, want)
			}
			// Whatever Prep produced must apply cleanly, with the error
			// (if any) as the result.
			if res := h.apply(hdr, txn); res.Err != tc.want {
				t.Errorf("applying the txn gave %s, want %s", proto.CodeName(res.Err), proto.CodeName(tc.want))
			}
			if n := h.p.Outstanding(); n != 0 {
				t.Errorf("%d overlay records left after applying", n)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	data := []byte("d")
	createTxn := func(op int32, path string, eph bool, parent string, acl []proto.ACL) func(h *harness) proto.Txn {
		return func(h *harness) proto.Txn {
			return &proto.CreateTxn{Path: path, Data: data, ACL: acl, Ephemeral: eph, ParentCVersion: h.cversion(parent) + 1, Op: op}
		}
	}
	runOpCases(t, []opCase{
		{name: "persistent", req: createReq("/new", proto.FlagPersistent, open), txn: createTxn(proto.OpCreate, "/new", false, "/", open)},
		{name: "create2", req: createOp(proto.OpCreate2, "/new", proto.FlagPersistent, open), txn: createTxn(proto.OpCreate2, "/new", false, "/", open)},
		{name: "ephemeral", req: createReq("/a/e", proto.FlagEphemeral, open), txn: createTxn(proto.OpCreate, "/a/e", true, "/a", open)},
		{name: "sequential uses the parent's stored cversion", req: createReq("/seq/n", proto.FlagPersistentSequential, open),
			txn: func(h *harness) proto.Txn {
				return &proto.CreateTxn{Path: "/seq/n0000000001", Data: data, ACL: open, ParentCVersion: 2, Op: proto.OpCreate}
			}},
		{name: "ephemeral sequential", req: createReq("/seq/", proto.FlagEphemeralSequential, open),
			txn: func(h *harness) proto.Txn {
				return &proto.CreateTxn{Path: "/seq/0000000001", Data: data, ACL: open, Ephemeral: true, ParentCVersion: 2, Op: proto.OpCreate}
			}},
		{name: "sequential child of the root named by the root", req: createReq("/", proto.FlagPersistentSequential, open),
			txn: func(h *harness) proto.Txn {
				cv := h.cversion("/")
				return &proto.CreateTxn{Path: "/" + pad10(cv), Data: data, ACL: open, ParentCVersion: cv + 1, Op: proto.OpCreate}
			}},
		{name: "container", req: createOp(proto.OpCreateContainer, "/c2", proto.FlagContainer, open),
			txn: func(h *harness) proto.Txn {
				return &proto.CreateContainerTxn{Path: "/c2", Data: data, ACL: open, ParentCVersion: h.cversion("/") + 1}
			}},
		// In these two the ephemeral owner ZooKeeper precalculates the
		// digest with comes from the flags, while the tree takes it from
		// the txn type (PrepRequestProcessor.pRequest2TxnCreate).
		{name: "createContainer does not insist on the container flag", req: createOp(proto.OpCreateContainer, "/c2", proto.FlagPersistent, open),
			txn: func(h *harness) proto.Txn {
				return &proto.CreateContainerTxn{Path: "/c2", Data: data, ACL: open, ParentCVersion: h.cversion("/") + 1}
			}, digestQuirk: true},
		{name: "container flag on create makes a plain node", req: createReq("/c2", proto.FlagContainer, open), txn: createTxn(proto.OpCreate, "/c2", false, "/", open),
			digestQuirk: true},
		{name: "ttl", ext: true, req: createTTLReq("/t2", proto.FlagPersistentWithTTL, 5000),
			txn: func(h *harness) proto.Txn {
				return &proto.CreateTTLTxn{Path: "/t2", Data: data, ACL: open, ParentCVersion: h.cversion("/") + 1, TTL: 5000}
			}},
		{name: "ttl sequential", ext: true, req: createTTLReq("/seq/t", proto.FlagPersistentSequentialWithTTL, 1),
			txn: func(h *harness) proto.Txn {
				return &proto.CreateTTLTxn{Path: "/seq/t0000000001", Data: data, ACL: open, ParentCVersion: 2, TTL: 1}
			}},
		{name: "largest ttl", ext: true, req: createTTLReq("/t2", proto.FlagPersistentWithTTL, proto.MaxTTL)},
		{name: "child of a container", req: createReq("/container/x", proto.FlagPersistent, open)},
		{name: "child of a ttl node", ext: true, req: createReq("/ttl/x", proto.FlagPersistent, open)},
		{name: "under /zookeeper", req: createReq("/zookeeper/mine", proto.FlagPersistent, open)},
		{name: "data at the limit", maxData: 1, req: createReq("/new", proto.FlagPersistent, open)},

		{name: "unknown flags", req: createReq("/new", 7, open), want: proto.ErrBadArguments},
		{name: "negative flags", req: createReq("/new", -1, open), want: proto.ErrBadArguments},
		{name: "ttl flag on create, ttl disabled", req: createReq("/new", proto.FlagPersistentWithTTL, open), want: proto.ErrUnimplemented},
		{name: "ttl flag on create, ttl enabled", ext: true, req: createReq("/new", proto.FlagPersistentWithTTL, open), want: proto.ErrBadArguments},
		{name: "createTTL disabled", req: createTTLReq("/new", proto.FlagPersistentWithTTL, 100), want: proto.ErrUnimplemented},
		{name: "createTTL zero ttl", ext: true, req: createTTLReq("/new", proto.FlagPersistentWithTTL, 0), want: proto.ErrBadArguments},
		{name: "createTTL ttl too large", ext: true, req: createTTLReq("/new", proto.FlagPersistentWithTTL, proto.MaxTTL+1), want: proto.ErrBadArguments},
		{name: "createTTL without ttl flag", ext: true, req: createTTLReq("/new", proto.FlagPersistent, 100), want: proto.ErrBadArguments},
		{name: "createTTL without ttl flag, disabled", req: createTTLReq("/new", proto.FlagPersistent, 100), want: proto.ErrBadArguments},
		{name: "createTTL without ttl flag or ttl", ext: true, req: createTTLReq("/new", proto.FlagPersistent, -1), want: proto.ErrBadArguments},
		{name: "flags before session", req: inSession(sessExpired, createReq("/new", 9, open)), want: proto.ErrBadArguments},
		{name: "ttl support before session", req: inSession(sessExpired, createTTLReq("/new", proto.FlagPersistentWithTTL, 1)), want: proto.ErrUnimplemented},
		{name: "data size before session", maxData: 0 + 1, req: inSession(sessExpired, req(proto.OpCreate, &proto.CreateRequest{Path: "/new", Data: []byte("xx"), ACL: open})), want: proto.ErrMarshallingError},
		{name: "expired session", req: inSession(sessExpired, createReq("/new", proto.FlagPersistent, open)), want: proto.ErrSessionExpired},
		{name: "moved session", req: inSession(sessMoved, createReq("/new", proto.FlagPersistent, open)), want: proto.ErrSessionMoved},
		{name: "unknown session", req: inSession(sessUnknown, createReq("/new", proto.FlagPersistent, open)), want: proto.ErrUnknownSession},
		{name: "unknown session, ephemeral", req: inSession(sessUnknown, createReq("/new", proto.FlagEphemeral, open)), want: proto.ErrSessionExpired},
		{name: "session before path", req: inSession(sessExpired, createReq("new", proto.FlagPersistent, open)), want: proto.ErrSessionExpired},
		{name: "no slash", req: createReq("new", proto.FlagPersistent, open), want: proto.ErrBadArguments},
		{name: "empty path", req: createReq("", proto.FlagPersistent, open), want: proto.ErrBadArguments},
		{name: "nul", req: createReq("/a\x00b", proto.FlagPersistent, open), want: proto.ErrBadArguments},
		{name: "nul before acl", req: createReq("/a\x00b", proto.FlagPersistent, nil), want: proto.ErrBadArguments},
		{name: "empty acl", req: createReq("/new", proto.FlagPersistent, nil), want: proto.ErrInvalidACL},
		{name: "acl before parent", req: createReq("/missing/x", proto.FlagPersistent, nil), want: proto.ErrInvalidACL},
		{name: "auth acl without identity", req: createReq("/new", proto.FlagPersistent, []proto.ACL{{Perms: 31, ID: proto.IDAuth}}), want: proto.ErrInvalidACL},
		{name: "ip v6 acl", req: createReq("/new", proto.FlagPersistent, []proto.ACL{{Perms: 31, ID: proto.ID{Scheme: "ip", ID: "::1"}}}), want: proto.ErrInvalidACL},
		{name: "missing parent", req: createReq("/missing/x", proto.FlagPersistent, open), want: proto.ErrNoNode},
		{name: "empty segment means a missing parent", req: createReq("/a//b", proto.FlagPersistent, open), want: proto.ErrNoNode},
		{name: "parent before path validity", req: createReq("/missing/.", proto.FlagPersistent, open), want: proto.ErrNoNode},
		{name: "trailing slash", req: createReq("/a/", proto.FlagPersistent, open), want: proto.ErrBadArguments},
		{name: "dot", req: createReq("/a/.", proto.FlagPersistent, open), want: proto.ErrBadArguments},
		{name: "bad character", req: createReq("/a/\x01", proto.FlagPersistent, open), want: proto.ErrBadArguments},
		{name: "not utf-8", req: createReq("/a/\xff", proto.FlagPersistent, open), want: proto.ErrBadArguments},
		{name: "no create permission", req: createReq("/noc/y", proto.FlagPersistent, open), want: proto.ErrNoAuth},
		{name: "permission before path validity", req: createReq("/noc/.", proto.FlagPersistent, open), want: proto.ErrNoAuth},
		{name: "permission before existence", req: createReq("/noc/x", proto.FlagPersistent, open), want: proto.ErrNoAuth},
		{name: "super needs no permission", req: as(asSuper, createReq("/noc/y", proto.FlagPersistent, open))},
		{name: "digest parent, anonymous", req: as(asNobody, createReq("/alice/y", proto.FlagPersistent, open)), want: proto.ErrNoAuth},
		{name: "digest parent, owner", req: as(asAlice, createReq("/alice/y", proto.FlagPersistent, open))},
		{name: "ip parent, inside", req: as(&auth.Identity{RemoteIP: "10.9.8.7"}, createReq("/net/y", proto.FlagPersistent, open))},
		{name: "ip parent, outside", req: as(&auth.Identity{RemoteIP: "11.0.0.1"}, createReq("/net/y", proto.FlagPersistent, open)), want: proto.ErrNoAuth},
		{name: "exists", req: createReq("/a/b", proto.FlagPersistent, open), want: proto.ErrNodeExists},
		{name: "root exists", req: createReq("/", proto.FlagPersistent, open), want: proto.ErrNodeExists},
		{name: "zookeeper exists", req: createReq("/zookeeper", proto.FlagPersistent, open), want: proto.ErrNodeExists},
		{name: "exists before ephemeral parent", req: createReq("/eph", proto.FlagEphemeral, open), want: proto.ErrNodeExists},
		{name: "child of an ephemeral", req: createReq("/eph/x", proto.FlagPersistent, open), want: proto.ErrNoChildrenForEphemerals},
		{name: "child of a ttl node, ttl disabled", req: createReq("/ttl/x", proto.FlagPersistent, open), want: proto.ErrNoChildrenForEphemerals},
		{name: "data too large", maxData: 1, req: req(proto.OpCreate, &proto.CreateRequest{Path: "/new", Data: []byte("xx"), ACL: open}), want: proto.ErrMarshallingError},
		{name: "wrong body", req: req(proto.OpCreate, &proto.DeleteRequest{Path: "/x"}), want: proto.ErrMarshallingError},
		{name: "no body", req: req(proto.OpCreateTTL, nil), want: proto.ErrMarshallingError},
	})
}

// pad10 zero-pads a non-negative number to ten digits.
func pad10(v int32) string {
	s := strings.Repeat("0", 10) + strconv.Itoa(int(v))
	return s[len(s)-10:]
}

func TestCreateACLFixup(t *testing.T) {
	h := newHarness(t, newFixture(t), Options{})
	id := &auth.Identity{RemoteIP: "127.0.0.1"}
	if err := id.AddAuth("digest", []byte("bob:pw"), ""); err != nil {
		t.Fatal(err)
	}
	_, txn := h.prep(as(id, createReq("/new", proto.FlagPersistent, []proto.ACL{
		{Perms: proto.PermRead, ID: proto.IDAnyoneUnsafe},
		{Perms: proto.PermRead, ID: proto.IDAnyoneUnsafe},
		{Perms: proto.PermAll, ID: proto.IDAuth},
		{Perms: proto.PermAdmin, ID: proto.ID{Scheme: "ip", ID: "10.0.0.0/8"}},
	})))
	want := []proto.ACL{
		{Perms: proto.PermRead, ID: proto.IDAnyoneUnsafe},
		{Perms: proto.PermAll, ID: mustDigest("bob:pw")},
		{Perms: proto.PermAdmin, ID: proto.ID{Scheme: "ip", ID: "10.0.0.0/8"}},
	}
	ct, ok := txn.(*proto.CreateTxn)
	if !ok || !reflect.DeepEqual(ct.ACL, want) {
		t.Fatalf("txn = %#v, want ACL %v", txn, want)
	}
}

func TestSequenceNumberOverflow(t *testing.T) {
	h := newHarness(t, newFixture(t), Options{})
	h.do(createReq("/big", proto.FlagPersistent, open))
	// A create txn sets its parent's cversion to the txn's value.
	h.zxid++
	h.apply(proto.TxnHeader{ClientID: 1, Zxid: h.zxid, Type: proto.OpCreate},
		&proto.CreateTxn{Path: "/big/x", Data: nil, ACL: open, ParentCVersion: math.MaxInt32, Op: proto.OpCreate})
	_, first := h.prep(createReq("/big/s", proto.FlagPersistentSequential, open))
	_, second := h.prep(createReq("/big/s", proto.FlagPersistentSequential, open))
	want := []proto.Txn{
		&proto.CreateTxn{Path: "/big/s2147483647", Data: []byte("d"), ACL: open, ParentCVersion: math.MinInt32, Op: proto.OpCreate},
		&proto.CreateTxn{Path: "/big/s-2147483648", Data: []byte("d"), ACL: open, ParentCVersion: math.MinInt32 + 1, Op: proto.OpCreate},
	}
	if !reflect.DeepEqual([]proto.Txn{first, second}, want) {
		t.Errorf("txns = %#v, %#v\nwant %#v, %#v", first, second, want[0], want[1])
	}
}

func TestDelete(t *testing.T) {
	del := func(path string) func(*harness) proto.Txn {
		return func(*harness) proto.Txn { return &proto.DeleteTxn{Path: path, Op: proto.OpDelete} }
	}
	runOpCases(t, []opCase{
		{name: "any version", req: deleteReq("/a/b", -1), txn: del("/a/b")},
		{name: "exact version", req: deleteReq("/a/b", 0), txn: del("/a/b")},
		{name: "ephemeral", req: deleteReq("/eph", -1), txn: del("/eph")},
		{name: "container", req: deleteReq("/container", -1), txn: del("/container")},
		{name: "super ignores the parent's ACL", req: as(asSuper, deleteReq("/nod/child", -1)), txn: del("/nod/child")},
		{name: "digest owner", req: as(asAlice, deleteReq("/alice/kid", -1)), txn: del("/alice/kid")},

		{name: "expired session", req: inSession(sessExpired, deleteReq("/a/b", -1)), want: proto.ErrSessionExpired},
		{name: "session before path", req: inSession(sessMoved, deleteReq("/", -1)), want: proto.ErrSessionMoved},
		{name: "unknown session", req: inSession(sessUnknown, deleteReq("/a/b", -1)), want: proto.ErrUnknownSession},
		{name: "root", req: deleteReq("/", -1), want: proto.ErrBadArguments},
		{name: "/zookeeper", req: deleteReq("/zookeeper", -1), want: proto.ErrBadArguments},
		{name: "/zookeeper/quota", req: deleteReq("/zookeeper/quota", -1), want: proto.ErrBadArguments},
		{name: "/zookeeper/config", req: deleteReq("/zookeeper/config", -1), want: proto.ErrBadArguments},
		{name: "no slash", req: deleteReq("a", -1), want: proto.ErrBadArguments},
		{name: "nul", req: deleteReq("/a\x00", -1), want: proto.ErrBadArguments},
		{name: "missing under /zookeeper", req: deleteReq("/zookeeper/other", -1), want: proto.ErrNoNode},
		{name: "missing", req: deleteReq("/missing", -1), want: proto.ErrNoNode},
		{name: "missing parent", req: deleteReq("/missing/x", -1), want: proto.ErrNoNode},
		{name: "trailing slash is just missing", req: deleteReq("/a/", -1), want: proto.ErrNoNode},
		{name: "empty segment is just missing", req: deleteReq("/a//b", -1), want: proto.ErrNoNode},
		{name: "no delete permission", req: deleteReq("/nod/child", -1), want: proto.ErrNoAuth},
		{name: "permission before existence", req: deleteReq("/nod/missing", -1), want: proto.ErrNoAuth},
		{name: "digest parent, anonymous", req: as(asNobody, deleteReq("/alice/kid", -1)), want: proto.ErrNoAuth},
		{name: "bad version", req: deleteReq("/a/b", 3), want: proto.ErrBadVersion},
		{name: "not empty", req: deleteReq("/a", -1), want: proto.ErrNotEmpty},
		{name: "version before emptiness", req: deleteReq("/a", 0), want: proto.ErrBadVersion},
		{name: "wrong body", req: req(proto.OpDelete, &proto.SetDataRequest{Path: "/a"}), want: proto.ErrMarshallingError},
	})
}

func TestDeleteContainer(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "empty container", req: deleteContainerReq("/container"),
			txn: func(*harness) proto.Txn { return &proto.DeleteTxn{Path: "/container", Op: proto.OpDeleteContainer} }},
		{name: "ttl node", ext: true, req: deleteContainerReq("/ttl"),
			txn: func(*harness) proto.Txn { return &proto.DeleteTxn{Path: "/ttl", Op: proto.OpDeleteContainer} }},
		{name: "plain node passes, as in ZooKeeper", req: deleteContainerReq("/a/b")},
		{name: "ephemeral", req: deleteContainerReq("/eph"), want: proto.ErrBadVersion},
		{name: "ttl node with ttl disabled looks ephemeral", req: deleteContainerReq("/ttl"), want: proto.ErrBadVersion},
		{name: "not empty", req: deleteContainerReq("/a"), want: proto.ErrNotEmpty},
		{name: "missing", req: deleteContainerReq("/gone"), want: proto.ErrNoNode},
		{name: "root", req: deleteContainerReq("/"), want: proto.ErrBadArguments},
		{name: "no slash", req: deleteContainerReq("container"), want: proto.ErrBadArguments},
	})
}

func TestSetData(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "any version", req: setDataReq("/a", "new", -1),
			txn: func(*harness) proto.Txn {
				return &proto.SetDataTxn{Path: "/a", Data: []byte("new"), Version: 3, Op: proto.OpSetData}
			}},
		{name: "exact version", req: setDataReq("/a", "new", 2)},
		{name: "root", req: setDataReq("/", "x", -1)},
		{name: "config as super", req: as(asSuper, setDataReq("/zookeeper/config", "x", -1))},
		{name: "data at the limit", maxData: 3, req: setDataReq("/a", "new", -1)},

		{name: "expired session", req: inSession(sessExpired, setDataReq("/a", "x", -1)), want: proto.ErrSessionExpired},
		{name: "session before data size", maxData: 1, req: inSession(sessExpired, setDataReq("/a", "xx", -1)), want: proto.ErrSessionExpired},
		{name: "data too large", maxData: 1, req: setDataReq("/a", "xx", -1), want: proto.ErrMarshallingError},
		{name: "data size before path", maxData: 1, req: setDataReq("a", "xx", -1), want: proto.ErrMarshallingError},
		{name: "bad path", req: setDataReq("/a/", "x", -1), want: proto.ErrBadArguments},
		{name: "relative path", req: setDataReq("/a/..", "x", -1), want: proto.ErrBadArguments},
		{name: "missing", req: setDataReq("/missing", "x", -1), want: proto.ErrNoNode},
		{name: "read only", req: setDataReq("/ro", "x", -1), want: proto.ErrNoAuth},
		{name: "permission before version", req: setDataReq("/ro", "x", 5), want: proto.ErrNoAuth},
		{name: "config is read only", req: setDataReq("/zookeeper/config", "x", -1), want: proto.ErrNoAuth},
		{name: "bad version", req: setDataReq("/a", "x", 1), want: proto.ErrBadVersion},
	})
}

func TestSetACL(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "any version", req: setACLReq("/a", proto.ReadACLUnsafe, -1),
			txn: func(*harness) proto.Txn { return &proto.SetACLTxn{Path: "/a", ACL: proto.ReadACLUnsafe, Version: 1} }},
		{name: "exact version", req: setACLReq("/a", proto.ReadACLUnsafe, 0)},
		{name: "auth expands", req: as(asAlice, setACLReq("/a", []proto.ACL{{Perms: 3, ID: proto.IDAuth}}, -1)),
			txn: func(*harness) proto.Txn {
				return &proto.SetACLTxn{Path: "/a", ACL: []proto.ACL{{Perms: 3, ID: aliceID}}, Version: 1}
			}},
		{name: "config as super", req: as(asSuper, setACLReq("/zookeeper/config", open, -1)),
			txn: func(*harness) proto.Txn { return &proto.SetACLTxn{Path: "/zookeeper/config", ACL: open, Version: 0} }},

		{name: "expired session", req: inSession(sessExpired, setACLReq("/a", open, -1)), want: proto.ErrSessionExpired},
		{name: "bad path", req: setACLReq("a", open, -1), want: proto.ErrBadArguments},
		{name: "path before acl", req: setACLReq("a", nil, -1), want: proto.ErrBadArguments},
		{name: "empty acl", req: setACLReq("/a", nil, -1), want: proto.ErrInvalidACL},
		{name: "acl before existence", req: setACLReq("/missing", nil, -1), want: proto.ErrInvalidACL},
		{name: "bad digest id", req: setACLReq("/a", []proto.ACL{{Perms: 1, ID: proto.ID{Scheme: "digest", ID: "nohash"}}}, -1), want: proto.ErrInvalidACL},
		{name: "missing", req: setACLReq("/missing", open, -1), want: proto.ErrNoNode},
		{name: "no admin", req: setACLReq("/noadmin", open, -1), want: proto.ErrNoAuth},
		{name: "permission before version", req: setACLReq("/noadmin", open, 9), want: proto.ErrNoAuth},
		{name: "digest node, anonymous", req: as(asNobody, setACLReq("/alice", open, -1)), want: proto.ErrNoAuth},
		{name: "bad version", req: setACLReq("/a", open, 1), want: proto.ErrBadVersion},
	})
}

func TestCheck(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "any version", req: checkReq("/a", -1),
			txn: func(*harness) proto.Txn { return &proto.CheckVersionTxn{Path: "/a", Version: 3} }},
		{name: "exact version", req: checkReq("/a", 2)},
		{name: "expired session", req: inSession(sessExpired, checkReq("/a", -1)), want: proto.ErrSessionExpired},
		{name: "bad path", req: checkReq("/a/", -1), want: proto.ErrBadArguments},
		{name: "missing", req: checkReq("/missing", -1), want: proto.ErrNoNode},
		{name: "no read", req: checkReq("/noread", -1), want: proto.ErrNoAuth},
		{name: "permission before version", req: checkReq("/noread", 7), want: proto.ErrNoAuth},
		{name: "bad version", req: checkReq("/a", 0), want: proto.ErrBadVersion},
	})
}

func TestSessionsAndOthers(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "createSession", req: inSession(77, req(proto.OpCreateSession, &proto.CreateSessionTxn{TimeOut: 30000})),
			txn: func(*harness) proto.Txn { return &proto.CreateSessionTxn{TimeOut: 30000} }},
		{name: "createSession without timeout", req: req(proto.OpCreateSession, nil), want: proto.ErrMarshallingError},
		{name: "closeSession of an expired session", req: inSession(sessExpired, req(proto.OpCloseSession, nil)),
			txn: func(*harness) proto.Txn { return &proto.CloseSessionTxn{Paths2Delete: []string{}} }},
		{name: "closeSession with an ephemeral", req: req(proto.OpCloseSession, nil),
			txn: func(*harness) proto.Txn { return &proto.CloseSessionTxn{Paths2Delete: []string{"/eph"}} }},
		{name: "reconfig", req: req(proto.OpReconfig, nil), want: proto.ErrReconfigDisabled},
		{name: "a read", req: req(proto.OpGetData, &proto.PathWatchRequest{Path: "/a"}), want: proto.ErrUnimplemented},
	})
}

func TestNilRequest(t *testing.T) {
	p := New(newFixture(t), Options{})
	hdr, txn := p.Prep(nil, 9)
	if hdr.Type != proto.OpError || hdr.Zxid != 9 || !reflect.DeepEqual(txn, &proto.ErrorTxn{Err: proto.ErrMarshallingError}) {
		t.Errorf("Prep(nil) = %+v, %#v", hdr, txn)
	}
}
