package datatree

import (
	"reflect"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

// copyTree saves src the way a snapshot does and loads it back.
func copyTree(t *testing.T, src *Tree) *Tree {
	t.Helper()
	l := NewLoader(Options{})
	for id, acl := range src.ACLs() {
		if err := l.ACL(id, acl); err != nil {
			t.Fatal(err)
		}
	}
	err := src.Walk(func(p string, n NodeView) error {
		if p == "/" {
			p = "" // snapshots store the root as ""
		}
		return l.Node(p, n.Data, n.ACLID, n.Stat)
	})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := l.Finish()
	if err != nil {
		t.Fatal(err)
	}
	tree.SetLastProcessedZxid(src.LastProcessedZxid())
	return tree
}

func TestLoaderRoundTrip(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/a", "data"))
	r.must(&proto.CreateTxn{Path: "/a/secret", ACL: digestACL, ParentCVersion: -1})
	r.must(mkEphemeral("/a/e"))
	r.must(&proto.CreateContainerTxn{Path: "/box", ParentCVersion: -1})
	r.must(&proto.CreateTTLTxn{Path: "/ttl", ParentCVersion: -1, TTL: 10})
	r.must(mkDelete("/a/e"))
	r.must(mkEphemeral("/a/e2"))

	loaded := copyTree(t, r.tree)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"digest", loaded.Digest(), r.tree.Digest()},
		{"node count", loaded.NodeCount(), r.tree.NodeCount()},
		{"data size", loaded.ApproximateDataSize(), r.tree.ApproximateDataSize()},
		{"ephemerals", loaded.EphemeralsBySession(), r.tree.EphemeralsBySession()},
		{"ACLs", loaded.ACLs(), r.tree.ACLs()},
		{"containers", loaded.containers, r.tree.containers},
		{"ttls", loaded.ttls, r.tree.ttls},
		{"reap", loaded.ReapCandidates(1 << 50), r.tree.ReapCandidates(1 << 50)},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: loaded %v, original %v", c.name, c.got, c.want)
		}
	}
	for _, p := range []string{"/", "/a", "/a/secret", "/a/e2", "/box", "/zookeeper/config"} {
		d1, s1, _ := loaded.GetData(p, nil, nil)
		d2, s2, _ := r.tree.GetData(p, nil, nil)
		if string(d1) != string(d2) || s1 != s2 {
			t.Errorf("%s: loaded %q %+v, original %q %+v", p, d1, s1, d2, s2)
		}
	}
	// Both evolve the same way afterwards, ACL ids included.
	next := []proto.Txn{
		&proto.CreateTxn{Path: "/a/more", ACL: digestACL, ParentCVersion: -1},
		&proto.SetACLTxn{Path: "/a", ACL: digestACL, Version: 1},
		&proto.CloseSessionTxn{Paths2Delete: []string{"/a/e2"}},
	}
	for i, txn := range next {
		h := &proto.TxnHeader{ClientID: session, Zxid: r.zxid + int64(i) + 1, Time: 1, Type: txn.TxnType()}
		r.tree.ProcessTxn(h, txn)
		loaded.ProcessTxn(h, txn)
	}
	if loaded.Digest() != r.tree.Digest() || !reflect.DeepEqual(loaded.ACLs(), r.tree.ACLs()) {
		t.Errorf("diverged: digest %d/%d, ACLs %v/%v", loaded.Digest(), r.tree.Digest(), loaded.ACLs(), r.tree.ACLs())
	}
}

func TestLoaderPurgesUnusedACLs(t *testing.T) {
	l := NewLoader(Options{})
	l.ACL(3, digestACL)
	l.ACL(7, proto.ReadACLUnsafe)
	l.Node("", nil, -1, proto.StatPersisted{})
	l.Node("/a", nil, 7, proto.StatPersisted{})
	tree, err := l.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if acls := tree.ACLs(); len(acls) != 1 || acls[7] == nil {
		t.Errorf("ACLs %v, want only id 7", acls)
	}
	// New ids continue after the highest one the snapshot had.
	tree.ProcessTxn(&proto.TxnHeader{Zxid: 1, Type: proto.OpCreate}, &proto.CreateTxn{Path: "/b", ACL: digestACL, ParentCVersion: -1})
	if acls := tree.ACLs(); acls[8] == nil {
		t.Errorf("ACLs %v, want a new id 8", acls)
	}
}

func TestLoaderErrors(t *testing.T) {
	root := func(l *Loader) error { return l.Node("", nil, -1, proto.StatPersisted{}) }
	tests := []struct {
		name string
		run  func(l *Loader) error
		want string
	}{
		{"missing parent", func(l *Loader) error { root(l); return l.Node("/a/b", nil, -1, proto.StatPersisted{}) }, "unable to find parent"},
		{"unknown ACL", func(l *Loader) error { root(l); return l.Node("/a", nil, 4, proto.StatPersisted{}) }, "ACL 4"},
		{"duplicate", func(l *Loader) error {
			root(l)
			l.Node("/a", nil, -1, proto.StatPersisted{})
			return l.Node("/a", nil, -1, proto.StatPersisted{})
		}, "twice"},
		{"root twice", func(l *Loader) error { root(l); return root(l) }, "twice"},
		{"bad path", func(l *Loader) error { root(l); return l.Node("a", nil, -1, proto.StatPersisted{}) }, "invalid node path"},
		{"trailing slash", func(l *Loader) error { root(l); return l.Node("/a/", nil, -1, proto.StatPersisted{}) }, "invalid node path"},
		{"ACL after nodes", func(l *Loader) error { root(l); return l.ACL(1, digestACL) }, "after the first node"},
		{"reserved ACL id", func(l *Loader) error { return l.ACL(-1, digestACL) }, "reserved"},
		{"no root", func(l *Loader) error { _, err := l.Finish(); return err }, "no root"},
		{"finish twice", func(l *Loader) error { root(l); l.Finish(); _, err := l.Finish(); return err }, "already finished"},
		{"node after finish", func(l *Loader) error { root(l); l.Finish(); return root(l) }, "already finished"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(NewLoader(Options{}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
