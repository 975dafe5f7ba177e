package datatree

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

func TestWalk(t *testing.T) {
	r := newRunner(t)
	for _, p := range []string{"/b", "/a", "/a/c", "/a/b", "/a/b/z"} {
		r.must(mkCreate(p, p))
	}
	r.must(&proto.CreateTxn{Path: "/b/secret", ACL: digestACL, ParentCVersion: -1})
	var got []string
	views := map[string]NodeView{}
	err := r.tree.Walk(func(p string, n NodeView) error {
		got = append(got, p)
		views[p] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/a", "/a/b", "/a/b/z", "/a/c", "/b", "/b/secret", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v\nwant  %v", got, want)
	}
	if v := views["/a"]; string(v.Data) != "/a" || v.NumChildren != 2 || v.Stat.Cversion != 2 {
		t.Errorf("/a view %+v", v)
	}
	if v := views["/"]; v.ACLID != openACLID || !slices.Equal(v.ACL, proto.OpenACLUnsafe) {
		t.Errorf("root ACL %d %v", v.ACLID, v.ACL)
	}
	acls := r.tree.ACLs()
	if v := views["/b/secret"]; !slices.Equal(acls[v.ACLID], digestACL) {
		t.Errorf("/b/secret ACL id %d maps to %v", v.ACLID, acls[v.ACLID])
	}

	stop := errors.New("stop")
	n := 0
	err = r.tree.Walk(func(p string, _ NodeView) error {
		n++
		if p == "/a/b" {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("Walk returned %v after %d nodes", err, n)
	}
}

func TestChildrenPage(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/d", ""))
	var all []string
	for i := 24; i >= 0; i-- { // created out of order
		name := fmt.Sprintf("c%02d", i)
		r.must(mkCreate("/d/"+name, ""))
		all = append(all, name)
	}
	slices.Sort(all)
	tests := []struct {
		path, after string
		limit       int
		want        []string
		more        bool
	}{
		{"/d", "", 10, all[:10], true},
		{"/d", "c09", 10, all[10:20], true},
		{"/d", "c19", 10, all[20:], false},
		{"/d", "c20", 4, all[21:], false},
		{"/d", "c24", 10, nil, false},
		{"/d", "", 0, all, false},
		{"/d", "c0", 3, all[:3], true},
		{"/missing", "", 10, nil, false},
		{"/d/c00", "", 10, nil, false},
	}
	for _, tt := range tests {
		got, more := r.tree.ChildrenPage(tt.path, tt.after, tt.limit)
		if !slices.Equal(got, tt.want) || more != tt.more {
			t.Errorf("ChildrenPage(%s, %q, %d) = %v, %v; want %v, %v", tt.path, tt.after, tt.limit, got, more, tt.want, tt.more)
		}
	}
}

func TestReapCandidates(t *testing.T) {
	r := newRunner(t)
	container := func(p string) proto.Txn {
		return &proto.CreateContainerTxn{Path: p, ACL: proto.OpenACLUnsafe, ParentCVersion: -1}
	}
	ttl := func(p string, ms int64) proto.Txn {
		return &proto.CreateTTLTxn{Path: p, ACL: proto.OpenACLUnsafe, ParentCVersion: -1, TTL: ms}
	}
	r.must(container("/used"))
	r.must(mkCreate("/used/c", ""))
	r.must(mkDelete("/used/c"))
	r.must(container("/fresh"))
	r.must(container("/busy"))
	r.must(mkCreate("/busy/c", ""))
	r.must(ttl("/short", 100)) // mtime = zxid*10
	shortMtime := r.stored("/short").Mtime
	r.must(ttl("/long", 1_000_000))
	r.must(ttl("/parent", 100))
	r.must(mkCreate("/parent/c", ""))
	freshMtime := r.stored("/fresh").Mtime

	tests := []struct {
		now, neverUsed int64
		want           []string
	}{
		{shortMtime + 100, 0, []string{"/used"}}, // TTL must be exceeded, not reached
		{shortMtime + 101, 0, []string{"/short", "/used"}},
		{freshMtime + 1000, 500, []string{"/fresh", "/short", "/used"}},
	}
	for _, tt := range tests {
		if got := r.tree.ReapCandidatesNeverUsed(tt.now, tt.neverUsed); !slices.Equal(got, tt.want) {
			t.Errorf("ReapCandidatesNeverUsed(%d, %d) = %v, want %v", tt.now, tt.neverUsed, got, tt.want)
		}
	}
	if got := r.tree.ReapCandidates(shortMtime + 101); !slices.Equal(got, []string{"/short", "/used"}) {
		t.Errorf("ReapCandidates = %v", got)
	}
	// With extended types off, TTL-shaped owners are sessions, not TTLs.
	legacy := NewWithOptions(Options{DisableExtendedTypes: true})
	legacy.ProcessTxn(&proto.TxnHeader{Zxid: 1, Time: 0, Type: proto.OpCreateTTL}, ttl("/t", 1))
	if got := legacy.ReapCandidates(1 << 40); len(got) != 0 || legacy.EphemeralCount() != 1 {
		t.Errorf("legacy tree: candidates %v, ephemerals %d", got, legacy.EphemeralCount())
	}
}

func TestInitConfig(t *testing.T) {
	tree := New()
	w := &recorder{}
	tree.GetData(configPath, w, nil)
	before := tree.Digest()
	tree.InitConfig([]byte("server.1=a:1:2\nversion=100000000"), 0x100000000, 1234)
	data, st, _ := tree.GetData(configPath, nil, nil)
	if string(data) != "server.1=a:1:2\nversion=100000000" || st.Version != -1 || st.Mzxid != 0x100000000 || st.Mtime != 1234 || st.Aversion != -1 {
		t.Errorf("config %q %+v", data, st)
	}
	if tree.Digest() != before {
		t.Error("config data is part of the digest")
	}
	if ev := w.take(); !slices.Equal(ev, []evt{{proto.EventNodeDataChanged, configPath}}) {
		t.Errorf("events %v", ev)
	}
	// A snapshot from before 3.5 has no config node: it is recreated.
	l := NewLoader(Options{})
	l.Node("", []byte{}, -1, proto.StatPersisted{})
	l.Node("/zookeeper", []byte{}, -1, proto.StatPersisted{})
	old, err := l.Finish()
	if err != nil {
		t.Fatal(err)
	}
	old.InitConfig([]byte("x"), 5, 6)
	acl, st, code := old.GetACL(configPath)
	if code != proto.ErrOK || !slices.Equal(acl, proto.ReadACLUnsafe) || st.Aversion != -1 || st.Version != -1 {
		t.Errorf("recreated config node: %s %v %+v", proto.CodeName(code), acl, st)
	}
}
