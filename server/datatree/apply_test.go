package datatree

import (
	"slices"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

var digestACL = []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "digest", ID: "alice:V55/p2T0OpjQ+low3NVAH4aLvm0="}}}

func TestProcessTxn(t *testing.T) {
	ttlOwner5s, _ := ttlOwner(5000)
	tests := []struct {
		name     string
		setup    []proto.Txn
		txn      proto.Txn
		wantErr  proto.Code
		wantPath string
		wantStat bool // Result.Stat is set
		// check runs after the txn; zxid is the txn's zxid.
		check func(t *testing.T, r *runner, res Result, zxid int64)
	}{
		{
			name: "create", setup: []proto.Txn{mkCreate("/p", "")}, txn: mkCreate("/p/c", "abc"),
			wantPath: "/p/c",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				want := proto.Stat{Czxid: zxid, Mzxid: zxid, Pzxid: zxid, Ctime: zxid * 10, Mtime: zxid * 10, DataLength: 3}
				if got := r.stat("/p/c"); got != want {
					t.Errorf("stat %+v, want %+v", got, want)
				}
				if p := r.stored("/p"); p.Cversion != 1 || p.Pzxid != zxid {
					t.Errorf("parent stored cversion %d pzxid %x", p.Cversion, p.Pzxid)
				}
				if p := r.stat("/p"); p.Cversion != 1 || p.NumChildren != 1 {
					t.Errorf("parent client cversion %d numChildren %d", p.Cversion, p.NumChildren)
				}
			},
		},
		{
			name: "create2 returns the stat", txn: mkCreate2("/c", "ab"), wantPath: "/c", wantStat: true,
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if *res.Stat != r.stat("/c") {
					t.Errorf("Result.Stat %+v, node stat %+v", *res.Stat, r.stat("/c"))
				}
			},
		},
		{
			name: "create ephemeral", txn: mkEphemeral("/e"), wantPath: "/e",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if got := r.stat("/e").EphemeralOwner; got != session {
					t.Errorf("ephemeralOwner %x", got)
				}
				if got := r.tree.SessionEphemerals(session); !slices.Equal(got, []string{"/e"}) {
					t.Errorf("session ephemerals %v", got)
				}
			},
		},
		{
			name:     "create with the parent cversion from prep",
			setup:    []proto.Txn{mkCreate("/p", "")},
			txn:      &proto.CreateTxn{Path: "/p/seq-0000000006", ParentCVersion: 7, Op: proto.OpCreate},
			wantPath: "/p/seq-0000000006",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if p := r.stored("/p"); p.Cversion != 7 || p.Pzxid != zxid {
					t.Errorf("parent stored cversion %d pzxid %x", p.Cversion, p.Pzxid)
				}
			},
		},
		{
			name:     "create never lowers the parent cversion",
			setup:    []proto.Txn{mkCreate("/p", ""), mkCreate("/p/a", ""), mkCreate("/p/b", "")},
			txn:      &proto.CreateTxn{Path: "/p/c", ParentCVersion: 1, Op: proto.OpCreate},
			wantPath: "/p/c",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if p := r.stored("/p"); p.Cversion != 2 || p.Pzxid == zxid {
					t.Errorf("parent stored cversion %d pzxid %x", p.Cversion, p.Pzxid)
				}
			},
		},
		{
			name:     "createContainer",
			txn:      &proto.CreateContainerTxn{Path: "/box", Data: []byte("d"), ACL: proto.OpenACLUnsafe, ParentCVersion: -1},
			wantPath: "/box", wantStat: true,
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if r.stored("/box").EphemeralOwner != proto.ContainerEphemeralOwner || res.Stat.EphemeralOwner != 0 || r.stat("/box").EphemeralOwner != 0 {
					t.Errorf("container owner: stored %x, client %x", r.stored("/box").EphemeralOwner, res.Stat.EphemeralOwner)
				}
				if r.tree.EphemeralCount() != 0 {
					t.Error("a container counts as an ephemeral")
				}
			},
		},
		{
			name:     "createTTL",
			txn:      &proto.CreateTTLTxn{Path: "/ttl", ACL: proto.OpenACLUnsafe, ParentCVersion: -1, TTL: 5000},
			wantPath: "/ttl", wantStat: true,
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if r.stored("/ttl").EphemeralOwner != ttlOwner5s || r.stat("/ttl").EphemeralOwner != 0 {
					t.Errorf("TTL owner: stored %x, client %x", r.stored("/ttl").EphemeralOwner, r.stat("/ttl").EphemeralOwner)
				}
				info, _ := r.tree.Lookup("/ttl")
				if info.Kind != KindTTL || info.TTL() != 5000 {
					t.Errorf("kind %d ttl %d", info.Kind, info.TTL())
				}
			},
		},
		{
			name: "delete", setup: []proto.Txn{mkCreate("/p", ""), mkCreate("/p/a", ""), mkCreate("/p/b", "")},
			txn: mkDelete("/p/a"), wantPath: "/p/a",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if _, ok := r.tree.Lookup("/p/a"); ok {
					t.Error("node still there")
				}
				// Delete moves pzxid only; clients see creates + deletes.
				if p := r.stored("/p"); p.Cversion != 2 || p.Pzxid != zxid {
					t.Errorf("parent stored cversion %d pzxid %x", p.Cversion, p.Pzxid)
				}
				if p := r.stat("/p"); p.Cversion != 3 || p.NumChildren != 1 {
					t.Errorf("parent client cversion %d numChildren %d", p.Cversion, p.NumChildren)
				}
			},
		},
		{
			name: "deleteContainer", setup: []proto.Txn{&proto.CreateContainerTxn{Path: "/box", ParentCVersion: -1}},
			txn: &proto.DeleteTxn{Path: "/box", Op: proto.OpDeleteContainer}, wantPath: "/box",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if _, ok := r.tree.Lookup("/box"); ok || len(r.tree.containers) != 0 {
					t.Error("container still tracked")
				}
			},
		},
		{
			name: "setData", setup: []proto.Txn{mkCreate("/n", "old")}, txn: mkSetData("/n", "newer", 7),
			wantPath: "/n", wantStat: true,
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				st := r.stat("/n")
				if st.Version != 7 || st.Mzxid != zxid || st.Mtime != zxid*10 || st.Czxid == zxid || st.DataLength != 5 {
					t.Errorf("stat %+v", st)
				}
				if *res.Stat != st {
					t.Errorf("Result.Stat %+v, node %+v", *res.Stat, st)
				}
			},
		},
		{
			name: "reconfig", txn: &proto.SetDataTxn{Path: "/zookeeper/config", Data: []byte("server.1=x"), Version: -1, Op: proto.OpReconfig},
			wantPath: "/zookeeper/config", wantStat: true,
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if data, _, _ := r.tree.GetData("/zookeeper/config", nil, nil); string(data) != "server.1=x" {
					t.Errorf("config %q", data)
				}
			},
		},
		{
			name: "setACL", setup: []proto.Txn{mkCreate("/n", "")},
			txn: &proto.SetACLTxn{Path: "/n", ACL: digestACL, Version: 3}, wantPath: "/n", wantStat: true,
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				acl, st, _ := r.tree.GetACL("/n")
				if !slices.Equal(acl, digestACL) || st.Aversion != 3 || res.Stat.Aversion != 3 {
					t.Errorf("ACL %v aversion %d", acl, st.Aversion)
				}
			},
		},
		{name: "check", setup: []proto.Txn{mkCreate("/n", "")}, txn: &proto.CheckVersionTxn{Path: "/n", Version: 0}, wantPath: "/n"},
		{name: "error", txn: &proto.ErrorTxn{Err: proto.ErrBadVersion}, wantErr: proto.ErrBadVersion},
		{name: "createSession", txn: &proto.CreateSessionTxn{TimeOut: 30000}},

		// What replaying txns over a fuzzy snapshot meets.
		{name: "create without parent", txn: mkCreate("/no/c", ""), wantErr: proto.ErrNoNode, wantPath: "/no/c"},
		{
			name:    "create of an existing node fixes the parent",
			setup:   []proto.Txn{mkCreate("/p", ""), mkCreate("/p/c", "")},
			txn:     &proto.CreateTxn{Path: "/p/c", ACL: digestACL, ParentCVersion: 5, Op: proto.OpCreate},
			wantErr: proto.ErrNodeExists, wantPath: "/p/c",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if p := r.stored("/p"); p.Cversion != 5 || p.Pzxid != zxid {
					t.Errorf("parent stored cversion %d pzxid %x", p.Cversion, p.Pzxid)
				}
				if acl, _, _ := r.tree.GetACL("/p/c"); !slices.Equal(acl, digestACL) {
					t.Errorf("existing node's ACL %v, want the txn's", acl)
				}
			},
		},
		{
			name:    "create2 of an existing node leaves the parent",
			setup:   []proto.Txn{mkCreate("/p", ""), mkCreate("/p/c", "")},
			txn:     &proto.CreateTxn{Path: "/p/c", ParentCVersion: 5, Op: proto.OpCreate2},
			wantErr: proto.ErrNodeExists, wantPath: "/p/c",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if p := r.stored("/p"); p.Cversion != 1 {
					t.Errorf("parent stored cversion %d", p.Cversion)
				}
			},
		},
		{
			name: "delete of a missing node still moves the parent pzxid", setup: []proto.Txn{mkCreate("/p", "")},
			txn: mkDelete("/p/gone"), wantErr: proto.ErrNoNode, wantPath: "/p/gone",
			check: func(t *testing.T, r *runner, res Result, zxid int64) {
				if p := r.stored("/p"); p.Pzxid != zxid || p.Cversion != 0 {
					t.Errorf("parent pzxid %x cversion %d", p.Pzxid, p.Cversion)
				}
			},
		},
		{name: "delete without parent", txn: mkDelete("/no/c"), wantErr: proto.ErrNoNode, wantPath: "/no/c"},
		{name: "setData of a missing node", txn: mkSetData("/no", "x", 1), wantErr: proto.ErrNoNode, wantPath: "/no"},
		{name: "setACL of a missing node", txn: &proto.SetACLTxn{Path: "/no", ACL: digestACL, Version: 1}, wantErr: proto.ErrNoNode, wantPath: "/no"},

		// Input ZooKeeper would throw on: nothing changes.
		{name: "TTL out of range", txn: &proto.CreateTTLTxn{Path: "/ttl", ParentCVersion: -1, TTL: 0}, wantErr: proto.ErrBadArguments, wantPath: "/ttl"},
		{name: "path without slash", txn: mkCreate("nope", ""), wantErr: proto.ErrBadArguments, wantPath: "nope"},
		{name: "delete of the root", txn: mkDelete("/"), wantErr: proto.ErrBadArguments, wantPath: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			for _, s := range tt.setup {
				r.must(s)
			}
			before := r.tree.Digest()
			res := r.apply(tt.txn)
			zxid := r.zxid
			if res.Err != tt.wantErr || res.Path != tt.wantPath || (res.Stat != nil) != tt.wantStat {
				t.Errorf("result err %s path %q stat %v; want %s %q %v", proto.CodeName(res.Err), res.Path, res.Stat,
					proto.CodeName(tt.wantErr), tt.wantPath, tt.wantStat)
			}
			if res.Zxid != zxid || res.ClientID != session || res.Cxid != int32(zxid) || res.Type != tt.txn.TxnType() {
				t.Errorf("result header %+v", res)
			}
			if r.tree.LastProcessedZxid() != zxid {
				t.Errorf("lastProcessedZxid %x, want %x", r.tree.LastProcessedZxid(), zxid)
			}
			if got := fullDigest(r.tree); got != r.tree.Digest() {
				t.Errorf("incremental digest %d, recomputed %d", r.tree.Digest(), got)
			}
			if (tt.wantErr == proto.ErrBadArguments || tt.txn.TxnType() == proto.OpError) && r.tree.Digest() != before {
				t.Error("a failed txn changed the tree")
			}
			if tt.check != nil {
				tt.check(t, r, res, zxid)
			}
		})
	}
}

func TestProcessTxnMalformed(t *testing.T) {
	tree := New()
	before := tree.Digest()
	tests := []struct {
		hdr *proto.TxnHeader
		txn proto.Txn
	}{
		{&proto.TxnHeader{Zxid: 1, Type: proto.OpCreate}, mkDelete("/a")},
		{&proto.TxnHeader{Zxid: 2, Type: proto.OpDelete}, nil},
		{&proto.TxnHeader{Zxid: 3, Type: proto.OpMulti}, mkCreate("/a", "")},
		{&proto.TxnHeader{Zxid: 4, Type: proto.OpCloseSession}, mkCreate("/a", "")},
		{&proto.TxnHeader{Zxid: 5, Type: proto.OpSetACL}, mkSetData("/a", "", 1)},
	}
	for _, tt := range tests {
		if res := tree.ProcessTxn(tt.hdr, tt.txn); res.Err != proto.ErrMarshallingError {
			t.Errorf("%s with %T: %s", proto.OpName(tt.hdr.Type), tt.txn, proto.CodeName(res.Err))
		}
	}
	if res := tree.ProcessTxn(nil, nil); res.Err != proto.ErrMarshallingError {
		t.Errorf("nil header: %s", proto.CodeName(res.Err))
	}
	if tree.Digest() != before || tree.NodeCount() != 5 {
		t.Error("malformed txns changed the tree")
	}
}

func TestLastProcessedZxid(t *testing.T) {
	tree := New()
	tree.ProcessTxn(&proto.TxnHeader{Zxid: 10, Type: proto.OpCreateSession}, &proto.CreateSessionTxn{TimeOut: 1})
	if tree.LastProcessedZxid() != 10 {
		t.Errorf("after createSession: %d", tree.LastProcessedZxid())
	}
	tree.ProcessTxn(&proto.TxnHeader{Zxid: 12, Type: proto.OpError}, &proto.ErrorTxn{Err: proto.ErrNoNode})
	// Replaying an older txn (fuzzy snapshot) never moves it back.
	tree.ProcessTxn(&proto.TxnHeader{Zxid: 11, Type: proto.OpCreate}, mkCreate("/a", ""))
	if tree.LastProcessedZxid() != 12 {
		t.Errorf("after an older txn: %d", tree.LastProcessedZxid())
	}
	tree.SetLastProcessedZxid(100)
	if tree.LastProcessedZxid() != 100 {
		t.Errorf("after SetLastProcessedZxid: %d", tree.LastProcessedZxid())
	}
}

// TestCversionPzxid follows a parent's cversion and pzxid through creates
// and deletes, as clients see them.
func TestCversionPzxid(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/p", ""))
	type want struct {
		stored, client, children int32
		pzxidStep                bool // pzxid is the zxid of this step
	}
	steps := []struct {
		txn  proto.Txn
		want want
	}{
		{mkCreate("/p/a", ""), want{1, 1, 1, true}},
		{mkCreate("/p/b", ""), want{2, 2, 2, true}},
		{mkDelete("/p/a"), want{2, 3, 1, true}},
		{mkEphemeral("/p/e"), want{3, 4, 2, true}},
		{&proto.CloseSessionTxn{Paths2Delete: []string{"/p/e"}}, want{3, 5, 1, true}},
		{mkSetData("/p/b", "x", 1), want{3, 5, 1, false}},
		{mkDelete("/p/b"), want{3, 6, 0, true}},
	}
	for i, s := range steps {
		r.must(s.txn)
		st, stored := r.stat("/p"), r.stored("/p")
		if stored.Cversion != s.want.stored || st.Cversion != s.want.client || st.NumChildren != s.want.children {
			t.Errorf("step %d: stored %d client %d children %d, want %+v", i, stored.Cversion, st.Cversion, st.NumChildren, s.want)
		}
		if (st.Pzxid == r.zxid) != s.want.pzxidStep {
			t.Errorf("step %d: pzxid %x at zxid %x", i, st.Pzxid, r.zxid)
		}
	}
	// The root counts its own children the same way, but /zookeeper was
	// added without a bump: stored 1 (/p), 2 children, so 2*1-2.
	if st := r.stat("/"); st.Cversion != 0 || st.NumChildren != 2 {
		t.Errorf("root cversion %d numChildren %d", st.Cversion, st.NumChildren)
	}
}

func TestCloseSession(t *testing.T) {
	other := session + 1
	tests := []struct {
		name string
		txn  proto.Txn
		// gone are the nodes deleted by the close.
		gone []string
	}{
		{"listed paths", &proto.CloseSessionTxn{Paths2Delete: []string{"/a", "/b"}}, []string{"/a", "/b"}},
		// Paths the txn does not list are deleted anyway, and paths it
		// lists are deleted whoever owns them.
		{"partial list", &proto.CloseSessionTxn{Paths2Delete: []string{"/a", "/x", "/missing"}}, []string{"/a", "/b", "/x"}},
		{"old empty body", &proto.CloseSessionTxn{Empty: true}, []string{"/a", "/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			r.must(mkEphemeral("/a"))
			r.must(mkEphemeral("/b"))
			r.applyAs(other, mkEphemeral("/x"))
			r.must(mkCreate("/keep", ""))
			if res := r.apply(tt.txn); res.Err != proto.ErrOK {
				t.Fatalf("closeSession: %s", proto.CodeName(res.Err))
			}
			for _, p := range []string{"/a", "/b", "/x", "/keep"} {
				_, exists := r.tree.Lookup(p)
				if exists == slices.Contains(tt.gone, p) {
					t.Errorf("%s exists = %v", p, exists)
				}
			}
			if len(r.tree.SessionEphemerals(session)) != 0 {
				t.Errorf("session still owns %v", r.tree.SessionEphemerals(session))
			}
			want := 1
			if slices.Contains(tt.gone, "/x") {
				want = 0
			}
			if r.tree.EphemeralCount() != want {
				t.Errorf("EphemeralCount %d, want %d", r.tree.EphemeralCount(), want)
			}
		})
	}
	t.Run("nil body", func(t *testing.T) {
		r := newRunner(t)
		r.must(mkEphemeral("/a"))
		r.tree.ProcessTxn(&proto.TxnHeader{ClientID: session, Zxid: 99, Type: proto.OpCloseSession}, nil)
		if _, ok := r.tree.Lookup("/a"); ok || r.tree.EphemeralCount() != 0 {
			t.Error("ephemeral survived its session")
		}
	})
}

func TestMulti(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/m", "v0"))
	r.must(mkCreate("/gone", ""))
	multi := &proto.MultiTxn{Txns: []proto.Txn{
		mkCreate("/m/a", "1"),
		mkCreate2("/m/b", "2"),
		&proto.CheckVersionTxn{Path: "/m", Version: 0},
		mkSetData("/m", "v1", 1),
		mkDelete("/gone"),
	}}
	res := r.must(multi)
	zxid := r.zxid
	wantTypes := []int32{proto.OpCreate, proto.OpCreate2, proto.OpCheck, proto.OpSetData, proto.OpDelete}
	wantPaths := []string{"/m/a", "/m/b", "/m", "/m", "/gone"}
	wantStat := []bool{false, true, false, true, false}
	if len(res.Multi) != len(wantTypes) {
		t.Fatalf("%d results", len(res.Multi))
	}
	for i, sr := range res.Multi {
		if sr.Type != wantTypes[i] || sr.Path != wantPaths[i] || sr.Err != 0 || (sr.Stat != nil) != wantStat[i] || sr.Zxid != zxid {
			t.Errorf("result %d: %+v", i, sr)
		}
	}
	if res.Multi[3].Stat.Version != 1 || r.stat("/m/a").Czxid != zxid {
		t.Error("sub-txns did not share the multi's zxid")
	}
	if r.tree.LastProcessedZxid() != zxid {
		t.Errorf("lastProcessedZxid %x", r.tree.LastProcessedZxid())
	}
}

func TestFailedMulti(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/m", "v0"))
	w := &recorder{}
	r.tree.Exists("/m/a", w)
	before, nodes := r.tree.Digest(), r.tree.NodeCount()
	// As prep logs a multi whose third op failed: ops before it keep their
	// records, the failing op and the ones after become ErrorTxns.
	multi := &proto.MultiTxn{Txns: []proto.Txn{
		mkCreate("/m/a", "1"),
		mkSetData("/m", "v1", 1),
		&proto.ErrorTxn{Err: proto.ErrBadVersion},
		&proto.ErrorTxn{Err: proto.ErrRuntimeInconsistency},
	}}
	res := r.apply(multi)
	if res.Err != proto.ErrBadVersion || res.Type != proto.OpMulti {
		t.Errorf("multi err %s", proto.CodeName(res.Err))
	}
	wantErrs := []proto.Code{proto.ErrOK, proto.ErrOK, proto.ErrBadVersion, proto.ErrRuntimeInconsistency}
	for i, sr := range res.Multi {
		if sr.Type != proto.OpError || sr.Err != wantErrs[i] || sr.Path != "" || sr.Stat != nil {
			t.Errorf("result %d: %+v", i, sr)
		}
	}
	if r.tree.Digest() != before || r.tree.NodeCount() != nodes || r.stat("/m").Version != 0 {
		t.Error("a failed multi changed the tree")
	}
	if ev := w.take(); len(ev) != 0 {
		t.Errorf("a failed multi fired %v", ev)
	}
	if r.tree.LastProcessedZxid() != r.zxid {
		t.Error("a failed multi did not advance lastProcessedZxid")
	}

	// Ops after an error that prep did not turn into errors still fail
	// with RUNTIMEINCONSISTENCY.
	res = r.apply(&proto.MultiTxn{Txns: []proto.Txn{&proto.ErrorTxn{Err: proto.ErrNoNode}, mkCreate("/m/z", "")}})
	if res.Multi[1].Err != proto.ErrRuntimeInconsistency || res.Err != proto.ErrNoNode {
		t.Errorf("results %+v", res.Multi)
	}

	// A sub-txn a multi cannot hold stops the loop where it is, keeping
	// what was applied, as ZooKeeper's IOException does.
	res = r.apply(&proto.MultiTxn{Txns: []proto.Txn{
		mkCreate("/m/x", ""),
		&proto.SetACLTxn{Path: "/m", ACL: digestACL, Version: 1},
		mkCreate("/m/y", ""),
	}})
	if len(res.Multi) != 1 {
		t.Errorf("%d results after an invalid sub-txn", len(res.Multi))
	}
	if _, ok := r.tree.Lookup("/m/x"); !ok {
		t.Error("sub-txn before the invalid one was not applied")
	}
	if _, ok := r.tree.Lookup("/m/y"); ok {
		t.Error("sub-txn after the invalid one was applied")
	}
}

func TestMultiReplayFixup(t *testing.T) {
	// The NODEEXISTS fix-up also applies to creates inside a multi.
	r := newRunner(t)
	r.must(mkCreate("/p", ""))
	r.must(mkCreate("/p/c", ""))
	res := r.apply(&proto.MultiTxn{Txns: []proto.Txn{&proto.CreateTxn{Path: "/p/c", ParentCVersion: 4, Op: proto.OpCreate}}})
	if res.Err != proto.ErrNodeExists || r.stored("/p").Cversion != 4 || r.stored("/p").Pzxid != r.zxid {
		t.Errorf("err %s, parent %+v", proto.CodeName(res.Err), r.stored("/p"))
	}
}

func TestDigestFollowsChanges(t *testing.T) {
	r := newRunner(t)
	start := r.tree.Digest()
	r.must(mkCreate("/a", "data"))
	afterCreate := r.tree.Digest()
	if afterCreate == start {
		t.Fatal("create did not change the digest")
	}
	// Changes below /zookeeper/ are not part of the digest.
	r.must(&proto.SetDataTxn{Path: "/zookeeper/config", Data: []byte("cfg"), Version: -1, Op: proto.OpReconfig})
	r.must(mkCreate("/zookeeper/quota/x", ""))
	if r.tree.Digest() != afterCreate {
		t.Error("a change below /zookeeper/ changed the digest")
	}
	// /zookeeper itself is: a new child raises its cversion and pzxid.
	r.must(mkCreate("/zookeeper/y", ""))
	if r.tree.Digest() == afterCreate {
		t.Error("a change of /zookeeper did not change the digest")
	}
	r.must(mkSetData("/", "rootdata", 1))
	if got := fullDigest(r.tree); got != r.tree.Digest() {
		t.Errorf("incremental digest %d, recomputed %d", r.tree.Digest(), got)
	}
	if new(Digester).NodeDigest("/", nil, &proto.StatPersisted{}) != new(Digester).NodeDigest("", nil, &proto.StatPersisted{}) {
		t.Error("/ and \"\" hash differently")
	}
	if new(Digester).NodeDigest("/zookeeper/quota", nil, &proto.StatPersisted{}) != 0 || new(Digester).NodeDigest("/zookeeper", nil, &proto.StatPersisted{}) == 0 {
		t.Error("wrong paths excluded from the digest")
	}
}

// TestDigesterAllocations: a node digest, computed on every write by prep
// and by the tree, allocates nothing (a stat buffer on the stack and a
// path converted to bytes both escaped into the CRC routines).
func TestDigesterAllocations(t *testing.T) {
	var d Digester
	path := "/services/payments/instances/instance-0000000042"
	data := []byte("some node data")
	stat := &proto.StatPersisted{Czxid: 1, Mzxid: 2, Version: 3}
	want := new(Digester).NodeDigest(path, data, stat)
	if allocs := testing.AllocsPerRun(100, func() {
		if d.NodeDigest(path, data, stat) != want {
			t.Fatal("digest changed")
		}
	}); allocs != 0 {
		t.Errorf("NodeDigest allocates %.1f times, want 0", allocs)
	}
}

func TestCheckDigest(t *testing.T) {
	m := newTestMetrics(t)
	tree := NewWithOptions(Options{Metrics: m})
	tests := []struct {
		d    *proto.TxnDigest
		want bool
	}{
		{nil, true},
		{&proto.TxnDigest{Version: DigestVersion, TreeDigest: tree.Digest()}, true},
		{&proto.TxnDigest{Version: 1, TreeDigest: 42}, true},
		{&proto.TxnDigest{Version: DigestVersion, TreeDigest: tree.Digest() + 1}, false},
	}
	for _, tt := range tests {
		if got := tree.CheckDigest(tt.d); got != tt.want {
			t.Errorf("CheckDigest(%+v) = %v", tt.d, got)
		}
	}
	if got := counterValue(t, m.mismatches); got != 1 {
		t.Errorf("mismatches = %v, want 1", got)
	}
}

func TestApproximateDataSize(t *testing.T) {
	r := newRunner(t)
	base := r.tree.ApproximateDataSize()
	r.must(mkCreate("/abc", "12345"))
	if got := r.tree.ApproximateDataSize(); got != base+4+5 {
		t.Errorf("after create: %d", got)
	}
	r.must(mkSetData("/abc", "1", 1))
	if got := r.tree.ApproximateDataSize(); got != base+4+1 {
		t.Errorf("after setData: %d", got)
	}
	r.must(mkDelete("/abc"))
	if got := r.tree.ApproximateDataSize(); got != base {
		t.Errorf("after delete: %d", got)
	}
}

func TestACLCacheRefcounts(t *testing.T) {
	r := newRunner(t)
	r.must(&proto.CreateTxn{Path: "/a", ACL: digestACL, ParentCVersion: -1})
	r.must(&proto.CreateTxn{Path: "/b", ACL: digestACL, ParentCVersion: -1})
	acls := r.tree.ACLs()
	// id 1 is /zookeeper/config's READ_ACL_UNSAFE.
	if len(acls) != 2 || !slices.Equal(acls[2], digestACL) {
		t.Fatalf("ACL cache %v", acls)
	}
	r.must(mkDelete("/a"))
	if len(r.tree.ACLs()) != 2 {
		t.Error("entry dropped while /b still uses it")
	}
	// setACL releases before interning: the only user setting the same list
	// again gets a fresh id, as in ZooKeeper.
	r.must(&proto.SetACLTxn{Path: "/b", ACL: digestACL, Version: 1})
	acls = r.tree.ACLs()
	if _, ok := acls[2]; ok || !slices.Equal(acls[3], digestACL) {
		t.Errorf("after setACL: %v", acls)
	}
	r.must(mkDelete("/b"))
	if acls := r.tree.ACLs(); len(acls) != 1 {
		t.Errorf("after the last user went: %v", acls)
	}
	// A nil ACL is OPEN_ACL_UNSAFE without an entry.
	r.must(&proto.CreateTxn{Path: "/open", ParentCVersion: -1})
	if acl, _, _ := r.tree.GetACL("/open"); !slices.Equal(acl, proto.OpenACLUnsafe) || len(r.tree.ACLs()) != 1 {
		t.Errorf("nil ACL: %v, cache %v", acl, r.tree.ACLs())
	}
}
