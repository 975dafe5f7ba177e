package datatree

import (
	"hash/crc32"
	"slices"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

func TestNewTree(t *testing.T) {
	tree := New()
	tests := []struct {
		path     string
		stat     proto.Stat
		acl      []proto.ACL
		children []string
	}{
		// The children of / and /zookeeper are added without a cversion
		// bump, so clients see 2*0 - numChildren.
		{"/", proto.Stat{Cversion: -1, NumChildren: 1}, proto.OpenACLUnsafe, []string{"zookeeper"}},
		{"/zookeeper", proto.Stat{Cversion: -2, NumChildren: 2}, proto.OpenACLUnsafe, []string{"config", "quota"}},
		{"/zookeeper/quota", proto.Stat{}, proto.OpenACLUnsafe, []string{}},
		// Set through setACL with version -1, as addConfigNode does.
		{"/zookeeper/config", proto.Stat{Aversion: -1}, proto.ReadACLUnsafe, []string{}},
	}
	for _, tt := range tests {
		data, stat, code := tree.GetData(tt.path, nil, nil)
		if code != proto.ErrOK {
			t.Fatalf("%s: %s", tt.path, proto.CodeName(code))
		}
		if data == nil || len(data) != 0 {
			t.Errorf("%s: data %v, want empty non-null", tt.path, data)
		}
		if stat != tt.stat {
			t.Errorf("%s: stat %+v, want %+v", tt.path, stat, tt.stat)
		}
		acl, _, _ := tree.GetACL(tt.path)
		if !slices.Equal(acl, tt.acl) {
			t.Errorf("%s: ACL %v, want %v", tt.path, acl, tt.acl)
		}
		children, _, _ := tree.GetChildren(tt.path, nil, nil)
		if !slices.Equal(children, tt.children) {
			t.Errorf("%s: children %v, want %v", tt.path, children, tt.children)
		}
	}
	// mntr on a fresh ZooKeeper: zk_znode_count 5 (root counted as "" and
	// "/") and zk_approximate_data_size 44 (0 + 1 + 10 + 16 + 17).
	if got := tree.NodeCount(); got != 5 {
		t.Errorf("NodeCount = %d, want 5", got)
	}
	if got := tree.ApproximateDataSize(); got != 44 {
		t.Errorf("ApproximateDataSize = %d, want 44", got)
	}
	if n, _ := tree.AllChildrenNumber("/"); n != 3 {
		t.Errorf("AllChildrenNumber(/) = %d, want 3", n)
	}
	// Only "" (the root) and /zookeeper count; both have zero stats and
	// empty data.
	var zeros [60]byte
	want := int64(crc32.ChecksumIEEE(zeros[:])) + int64(crc32.ChecksumIEEE(append([]byte("/zookeeper"), zeros[:]...)))
	if got := tree.Digest(); got != want {
		t.Errorf("Digest = %d, want %d", got, want)
	}
	if tree.LastProcessedZxid() != 0 || tree.EphemeralCount() != 0 {
		t.Errorf("fresh tree: lastZxid %d, ephemerals %d", tree.LastProcessedZxid(), tree.EphemeralCount())
	}
}

func TestReadsOnMissingNodes(t *testing.T) {
	tree := New()
	w := &recorder{}
	if _, _, code := tree.GetData("/nope", w, nil); code != proto.ErrNoNode {
		t.Errorf("GetData: %s", proto.CodeName(code))
	}
	if _, _, code := tree.GetChildren("/nope", w, nil); code != proto.ErrNoNode {
		t.Errorf("GetChildren: %s", proto.CodeName(code))
	}
	if _, _, code := tree.GetACL("/nope"); code != proto.ErrNoNode {
		t.Errorf("GetACL: %s", proto.CodeName(code))
	}
	if _, code := tree.AllChildrenNumber("/nope"); code != proto.ErrNoNode {
		t.Errorf("AllChildrenNumber: %s", proto.CodeName(code))
	}
	if _, ok := tree.Lookup("/nope"); ok {
		t.Error("Lookup found /nope")
	}
	data, child := tree.WatchManagers()
	if data.Count() != 0 || child.Count() != 0 {
		t.Errorf("reads of a missing node set watches: data %d, child %d", data.Count(), child.Count())
	}
	// exists sets a watch on a missing node, so the client hears of its
	// creation.
	if _, code := tree.Exists("/nope", w); code != proto.ErrNoNode {
		t.Errorf("Exists: %s", proto.CodeName(code))
	}
	if _, ok := data.Has("/nope", w); !ok {
		t.Error("Exists did not set a data watch on a missing node")
	}
}

func TestCheckerRunsBeforeWatch(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/a", "x"))
	deny := func([]proto.ACL) proto.Code { return proto.ErrNoAuth }
	var seen []proto.ACL
	allow := func(acl []proto.ACL) proto.Code { seen = acl; return proto.ErrOK }
	w := &recorder{}
	tree := r.tree
	if _, _, code := tree.GetData("/a", w, deny); code != proto.ErrNoAuth {
		t.Errorf("GetData with a denying checker: %s", proto.CodeName(code))
	}
	if _, _, code := tree.GetChildren("/a", w, deny); code != proto.ErrNoAuth {
		t.Errorf("GetChildren with a denying checker: %s", proto.CodeName(code))
	}
	data, child := tree.WatchManagers()
	if data.Count()+child.Count() != 0 {
		t.Fatal("a denied read set a watch")
	}
	got, _, code := tree.GetData("/a", w, allow)
	if code != proto.ErrOK || string(got) != "x" || !slices.Equal(seen, proto.OpenACLUnsafe) {
		t.Errorf("GetData = %q, %s; checker saw %v", got, proto.CodeName(code), seen)
	}
	if _, ok := data.Has("/a", w); !ok {
		t.Error("GetData did not set the watch")
	}
}

func TestNullData(t *testing.T) {
	r := newRunner(t)
	c := mkCreate("/null", "")
	c.Data = nil
	r.must(c)
	r.must(mkCreate("/empty", ""))
	for _, tt := range []struct {
		path   string
		isNull bool
	}{{"/null", true}, {"/empty", false}} {
		data, stat, _ := r.tree.GetData(tt.path, nil, nil)
		if (data == nil) != tt.isNull || len(data) != 0 || stat.DataLength != 0 {
			t.Errorf("%s: data %#v, dataLength %d", tt.path, data, stat.DataLength)
		}
	}
	r.must(mkSetData("/empty", "", 1))
	s := mkSetData("/empty", "", 2)
	s.Data = nil
	r.must(s)
	if data, _, _ := r.tree.GetData("/empty", nil, nil); data != nil {
		t.Errorf("setData with null data left %#v", data)
	}
}

func TestAllChildrenNumber(t *testing.T) {
	r := newRunner(t)
	for _, p := range []string{"/a", "/a/b", "/a/b/c", "/a/d", "/e"} {
		r.must(mkCreate(p, ""))
	}
	for _, tt := range []struct {
		path string
		want int32
	}{{"/a", 3}, {"/a/b", 1}, {"/a/b/c", 0}, {"/e", 0}, {"/zookeeper", 2}, {"/", 8}} {
		got, code := r.tree.AllChildrenNumber(tt.path)
		if code != proto.ErrOK || got != tt.want {
			t.Errorf("AllChildrenNumber(%s) = %d, %s; want %d", tt.path, got, proto.CodeName(code), tt.want)
		}
	}
}

func TestEphemeralQueries(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/app", ""))
	r.must(mkEphemeral("/app/b"))
	r.must(mkEphemeral("/app/a"))
	r.must(mkEphemeral("/lock"))
	other := session + 1
	r.applyAs(other, mkEphemeral("/other"))
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"/app/a", "/app/b", "/lock"}},
		{" / ", []string{"/app/a", "/app/b", "/lock"}},
		{"/app", []string{"/app/a", "/app/b"}},
		{"/l", []string{"/lock"}},
		{"/x", []string{}},
	}
	for _, tt := range tests {
		if got := r.tree.Ephemerals(session, tt.prefix); !slices.Equal(got, tt.want) {
			t.Errorf("Ephemerals(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
	if got := r.tree.SessionEphemerals(other); !slices.Equal(got, []string{"/other"}) {
		t.Errorf("SessionEphemerals(other) = %v", got)
	}
	by := r.tree.EphemeralsBySession()
	if len(by) != 2 || len(by[session]) != 3 || len(by[other]) != 1 {
		t.Errorf("EphemeralsBySession = %v", by)
	}
	if r.tree.EphemeralCount() != 4 {
		t.Errorf("EphemeralCount = %d, want 4", r.tree.EphemeralCount())
	}
	st := r.stat("/lock")
	if st.EphemeralOwner != session {
		t.Errorf("ephemeralOwner = %x, want %x", st.EphemeralOwner, session)
	}
}

func TestEphemeralKindOf(t *testing.T) {
	ttl, _ := ttlOwner(5000)
	tests := []struct {
		owner    int64
		extended EphemeralKind
		legacy   EphemeralKind
	}{
		{0, KindPersistent, KindPersistent},
		{session, KindEphemeral, KindEphemeral},
		{proto.ContainerEphemeralOwner, KindContainer, KindContainer},
		{ttl, KindTTL, KindEphemeral},
		// Extended marker with an unknown feature bit: ZooKeeper throws.
		{extendedMask | 1<<40 | 5, KindEphemeral, KindEphemeral},
	}
	ext, legacy := New(), NewWithOptions(Options{DisableExtendedTypes: true})
	for _, tt := range tests {
		if got := ext.EphemeralKindOf(tt.owner); got != tt.extended {
			t.Errorf("extended: kind of %x = %d, want %d", tt.owner, got, tt.extended)
		}
		if got := legacy.EphemeralKindOf(tt.owner); got != tt.legacy {
			t.Errorf("legacy: kind of %x = %d, want %d", tt.owner, got, tt.legacy)
		}
	}
	if owner, ok := ttlOwner(proto.MaxTTL); !ok || owner != -0x0100000000000000|proto.MaxTTL {
		t.Errorf("ttlOwner(MaxTTL) = %x, %v", owner, ok)
	}
	for _, bad := range []int64{0, -1, proto.MaxTTL + 1} {
		if _, ok := ttlOwner(bad); ok {
			t.Errorf("ttlOwner(%d) accepted", bad)
		}
	}
}

func TestJavaLength(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want int64
	}{{"", 0}, {"/abc", 4}, {"/é", 2}, {"/日本", 3}, {"/😀", 3}} {
		if got := javaLength(tt.s); got != tt.want {
			t.Errorf("javaLength(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}
