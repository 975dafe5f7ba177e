package datatree

import (
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

func TestStatsTrack(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string // rendering after parsing
	}{
		{"count=1,bytes=2", true, "count=1,bytes=2"},
		{"count=1,bytes=2=;countHardLimit=5;byteHardLimit=9", true, "count=1,bytes=2=;byteHardLimit=9;countHardLimit=5"},
		{"", true, "count=-1,bytes=-1"},
		{"count==5,bytes=3", true, "count=-1,bytes=3"}, // Java: kv[1] is ""
		{"count=,bytes=3", false, ""},                  // Java: kv[1] is out of bounds
		{"count=1,bytes=2,", true, "count=1,bytes=2"},
		{"bytes=7;;count=+3", true, "count=3,bytes=7"},
		{"garbage", false, ""},
		{",count=1", false, ""},
		{"count=x", false, ""},
	}
	for _, tt := range tests {
		st, ok := parseStatsTrack([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("parse %q: ok %v", tt.in, ok)
			continue
		}
		if ok && string(st.bytes()) != tt.want {
			t.Errorf("parse %q: renders %q, want %q", tt.in, st.bytes(), tt.want)
		}
	}
}

func TestQuotaSetMaxPrefix(t *testing.T) {
	var q quotaSet
	if q.maxPrefix("/a") != "" {
		t.Error("empty set matched")
	}
	q.add("/a")
	q.add("/a/b/c")
	q.add("") // ignored, as PathTrie rejects it
	tests := []struct{ path, want string }{
		{"/a", "/a"}, {"/a/b", "/a"}, {"/a/b/c/d", "/a/b/c"}, {"/ab", ""}, {"/", ""}, {"/x/a", ""},
	}
	for _, tt := range tests {
		if got := q.maxPrefix(tt.path); got != tt.want {
			t.Errorf("maxPrefix(%s) = %q, want %q", tt.path, got, tt.want)
		}
	}
	q.remove("/a/b/c")
	if got := q.maxPrefix("/a/b/c/d"); got != "/a" {
		t.Errorf("after remove: %q", got)
	}
}

func TestQuotaStats(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/app", "abc"))
	r.must(mkCreate("/app/x", "12"))
	r.must(mkCreate("/zookeeper/quota/app", ""))
	r.must(mkCreate("/zookeeper/quota/app/zookeeper_limits", "count=10,bytes=-1"))
	// Creating the stat node counts the subtree: /app and /app/x.
	r.must(mkCreate("/zookeeper/quota/app/zookeeper_stats", "count=0,bytes=0"))
	statPath := "/zookeeper/quota/app/zookeeper_stats"
	steps := []struct {
		txn  proto.Txn
		want string
	}{
		{mkCreate("/other", "zzzz"), "count=2,bytes=5"},
		{mkCreate("/app/y", "1234"), "count=3,bytes=9"},
		{mkSetData("/app/y", "1", 1), "count=3,bytes=6"},
		{mkDelete("/app/x"), "count=2,bytes=4"},
		{mkDelete("/zookeeper/quota/app/zookeeper_limits"), "count=2,bytes=4"},
		{mkCreate("/app/z", "after"), "count=2,bytes=4"}, // quota gone
	}
	check := func(step int, want string) {
		t.Helper()
		data, st, _ := r.tree.GetData(statPath, nil, nil)
		if string(data) != want {
			t.Errorf("step %d: stats %q, want %q", step, data, want)
		}
		// Stat updates change the data in place, like ZooKeeper.
		if st.Version != 0 {
			t.Errorf("step %d: stat node version %d", step, st.Version)
		}
	}
	check(-1, "count=2,bytes=5")
	for i, s := range steps {
		r.must(s.txn)
		check(i, s.want)
	}
	if fullDigest(r.tree) != r.tree.Digest() {
		t.Error("quota updates broke the digest")
	}
}

func TestQuotaSetupOnLoad(t *testing.T) {
	l := NewLoader(Options{})
	nodes := []struct{ path, data string }{
		{"", ""}, {"/zookeeper", ""}, {"/zookeeper/quota", ""}, {"/zookeeper/quota/app", ""},
		{"/zookeeper/quota/app/zookeeper_limits", "count=10,bytes=-1"},
		{"/zookeeper/quota/app/zookeeper_stats", "count=99,bytes=99"}, // stale: recounted
		{"/app", "ab"}, {"/app/c", "cde"},
	}
	for _, n := range nodes {
		if err := l.Node(n.path, []byte(n.data), -1, proto.StatPersisted{}); err != nil {
			t.Fatal(err)
		}
	}
	tree, err := l.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if data, _, _ := tree.GetData("/zookeeper/quota/app/zookeeper_stats", nil, nil); string(data) != "count=2,bytes=5" {
		t.Errorf("stats after load %q", data)
	}
	tree.ProcessTxn(&proto.TxnHeader{Zxid: 1, Type: proto.OpCreate}, mkCreate("/app/d", "f"))
	if data, _, _ := tree.GetData("/zookeeper/quota/app/zookeeper_stats", nil, nil); string(data) != "count=3,bytes=6" {
		t.Errorf("stats after a create %q", data)
	}
}
