package datatree

import (
	"slices"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/watch"
)

func TestWatchesFireOnApply(t *testing.T) {
	tests := []struct {
		name  string
		setup []proto.Txn
		// watch sets the watches; the recorders are indexed 0..2.
		watch func(tr *Tree, w []*recorder)
		txn   proto.Txn
		want  [3][]evt
	}{
		{
			name:  "create fires NodeCreated and the parent's NodeChildrenChanged",
			setup: []proto.Txn{mkCreate("/p", "")},
			watch: func(tr *Tree, w []*recorder) {
				tr.Exists("/p/c", w[0])
				tr.GetChildren("/p", w[1], nil)
				tr.GetData("/p", w[2], nil) // the parent's data does not change
			},
			txn:  mkCreate("/p/c", ""),
			want: [3][]evt{{{proto.EventNodeCreated, "/p/c"}}, {{proto.EventNodeChildrenChanged, "/p"}}, nil},
		},
		{
			name:  "a child of the root notifies child watches on /",
			watch: func(tr *Tree, w []*recorder) { tr.GetChildren("/", w[0], nil) },
			txn:   mkCreate("/top", ""),
			want:  [3][]evt{{{proto.EventNodeChildrenChanged, "/"}}},
		},
		{
			name:  "delete notifies data and child watchers of the node once each, then the parent",
			setup: []proto.Txn{mkCreate("/p", ""), mkCreate("/p/c", "")},
			watch: func(tr *Tree, w []*recorder) {
				tr.GetData("/p/c", w[0], nil)
				tr.GetChildren("/p/c", w[0], nil) // same watcher: one NodeDeleted
				tr.GetChildren("/p/c", w[1], nil)
				tr.GetChildren("/p", w[2], nil)
			},
			txn: mkDelete("/p/c"),
			want: [3][]evt{
				{{proto.EventNodeDeleted, "/p/c"}},
				{{proto.EventNodeDeleted, "/p/c"}},
				{{proto.EventNodeChildrenChanged, "/p"}},
			},
		},
		{
			name:  "setData fires NodeDataChanged to data watchers only",
			setup: []proto.Txn{mkCreate("/n", "")},
			watch: func(tr *Tree, w []*recorder) {
				tr.GetData("/n", w[0], nil)
				tr.Exists("/n", w[1])
				tr.GetChildren("/n", w[2], nil)
			},
			txn:  mkSetData("/n", "x", 1),
			want: [3][]evt{{{proto.EventNodeDataChanged, "/n"}}, {{proto.EventNodeDataChanged, "/n"}}, nil},
		},
		{
			name:  "setACL fires nothing",
			setup: []proto.Txn{mkCreate("/n", "")},
			watch: func(tr *Tree, w []*recorder) {
				tr.GetData("/n", w[0], nil)
				tr.GetChildren("/n", w[1], nil)
			},
			txn: &proto.SetACLTxn{Path: "/n", ACL: digestACL, Version: 1},
		},
		{
			name:  "a failed txn fires nothing",
			setup: []proto.Txn{mkCreate("/n", "")},
			watch: func(tr *Tree, w []*recorder) { tr.GetData("/n", w[0], nil) },
			txn:   &proto.ErrorTxn{Err: proto.ErrBadVersion},
		},
		{
			name:  "persistent watches see every event on their path",
			setup: []proto.Txn{mkCreate("/n", "")},
			watch: func(tr *Tree, w []*recorder) { tr.AddWatch("/n", w[0], proto.AddWatchPersistent) },
			txn: &proto.MultiTxn{Txns: []proto.Txn{
				mkSetData("/n", "1", 1), mkCreate("/n/c", ""), mkSetData("/n", "2", 2), mkDelete("/n/c"), mkDelete("/n"),
			}},
			want: [3][]evt{{
				{proto.EventNodeDataChanged, "/n"}, {proto.EventNodeChildrenChanged, "/n"}, {proto.EventNodeDataChanged, "/n"},
				{proto.EventNodeChildrenChanged, "/n"}, {proto.EventNodeDeleted, "/n"},
			}},
		},
		{
			name:  "recursive watches see descendants but no NodeChildrenChanged",
			setup: []proto.Txn{mkCreate("/r", "")},
			watch: func(tr *Tree, w []*recorder) { tr.AddWatch("/r", w[0], proto.AddWatchPersistentRecursive) },
			txn: &proto.MultiTxn{Txns: []proto.Txn{
				mkCreate("/r/a", ""), mkCreate("/r/a/b", ""), mkSetData("/r/a/b", "x", 1), mkDelete("/r/a/b"), mkCreate("/other", ""),
			}},
			want: [3][]evt{{
				{proto.EventNodeCreated, "/r/a"}, {proto.EventNodeCreated, "/r/a/b"},
				{proto.EventNodeDataChanged, "/r/a/b"}, {proto.EventNodeDeleted, "/r/a/b"},
			}},
		},
		{
			name:  "closing a session deletes its ephemerals with events",
			setup: []proto.Txn{mkCreate("/p", ""), mkEphemeral("/p/e1"), mkEphemeral("/p/e2")},
			watch: func(tr *Tree, w []*recorder) {
				tr.Exists("/p/e1", w[0])
				tr.AddWatch("/p", w[1], proto.AddWatchPersistent)
			},
			txn: &proto.CloseSessionTxn{Paths2Delete: []string{"/p/e2", "/p/e1"}},
			want: [3][]evt{
				{{proto.EventNodeDeleted, "/p/e1"}},
				{{proto.EventNodeChildrenChanged, "/p"}, {proto.EventNodeChildrenChanged, "/p"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			for _, s := range tt.setup {
				r.must(s)
			}
			w := []*recorder{{}, {}, {}}
			if tt.watch != nil {
				tt.watch(r.tree, w)
			}
			r.apply(tt.txn)
			for i := range w {
				if got := w[i].take(); !slices.Equal(got, tt.want[i]) {
					t.Errorf("watcher %d got %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestStandardWatchesFireOnce(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/n", ""))
	w := &recorder{}
	r.tree.GetData("/n", w, nil)
	r.must(mkSetData("/n", "1", 1))
	r.must(mkSetData("/n", "2", 2))
	if got := w.take(); len(got) != 1 {
		t.Errorf("one-shot watch fired %d times", len(got))
	}
}

func TestEventCarriesACLAndZxid(t *testing.T) {
	r := newRunner(t)
	r.must(&proto.CreateTxn{Path: "/p", ACL: digestACL, ParentCVersion: -1})
	data, child := &recorder{}, &recorder{}
	r.tree.Exists("/p/c", data)
	r.tree.GetChildren("/p", child, nil)
	r.must(&proto.CreateTxn{Path: "/p/c", ACL: proto.ReadACLUnsafe, ParentCVersion: -1})
	if len(data.events) != 1 || !slices.Equal(data.events[0].ACL, proto.ReadACLUnsafe) || data.events[0].Zxid != r.zxid {
		t.Errorf("NodeCreated event %+v", data.events)
	}
	// NodeChildrenChanged is about the parent and carries its ACL.
	if len(child.events) != 1 || !slices.Equal(child.events[0].ACL, digestACL) {
		t.Errorf("NodeChildrenChanged event %+v", child.events)
	}
}

func TestAddWatchRegistersInBothManagers(t *testing.T) {
	tree := New()
	w := &recorder{}
	for _, mode := range []int32{proto.AddWatchPersistent, proto.AddWatchPersistentRecursive} {
		tree.AddWatch("/x", w, mode)
		data, child := tree.WatchManagers()
		dm, dok := data.Has("/x", w)
		cm, cok := child.Has("/x", w)
		want, _ := watch.ModeFromAddWatch(mode)
		if !dok || !cok || dm != want || cm != want {
			t.Errorf("mode %d: data %v/%v child %v/%v", mode, dm, dok, cm, cok)
		}
	}
	tree.AddWatch("/y", w, 7)
	if data, _ := tree.WatchManagers(); data.Count() != 1 {
		t.Error("an unknown addWatch mode set a watch")
	}
}

func TestRemoveWatches(t *testing.T) {
	tests := []struct {
		name      string
		set       func(tr *Tree, w watch.Watcher)
		typ       int32
		checkOnly bool
		want      proto.Code
		// left is how many watches remain (data, child).
		left [2]int
	}{
		{"check data", func(tr *Tree, w watch.Watcher) { tr.Exists("/n", w) }, proto.WatcherData, true, proto.ErrOK, [2]int{1, 0}},
		{"check children of a data watch", func(tr *Tree, w watch.Watcher) { tr.Exists("/n", w) }, proto.WatcherChildren, true, proto.ErrNoWatcher, [2]int{1, 0}},
		{"check any", func(tr *Tree, w watch.Watcher) { tr.GetChildren("/n", w, nil) }, proto.WatcherAny, true, proto.ErrOK, [2]int{0, 1}},
		{"remove data", func(tr *Tree, w watch.Watcher) { tr.Exists("/n", w); tr.GetChildren("/n", w, nil) }, proto.WatcherData, false, proto.ErrOK, [2]int{0, 1}},
		{"remove children", func(tr *Tree, w watch.Watcher) { tr.Exists("/n", w); tr.GetChildren("/n", w, nil) }, proto.WatcherChildren, false, proto.ErrOK, [2]int{1, 0}},
		{"remove any", func(tr *Tree, w watch.Watcher) { tr.Exists("/n", w); tr.GetChildren("/n", w, nil) }, proto.WatcherAny, false, proto.ErrOK, [2]int{0, 0}},
		{"remove persistent as data", func(tr *Tree, w watch.Watcher) { tr.AddWatch("/n", w, proto.AddWatchPersistent) }, proto.WatcherData, false, proto.ErrOK, [2]int{0, 1}},
		{"remove nothing", func(tr *Tree, w watch.Watcher) {}, proto.WatcherAny, false, proto.ErrNoWatcher, [2]int{0, 0}},
		{"someone else's watch", func(tr *Tree, w watch.Watcher) { tr.Exists("/n", &recorder{}) }, proto.WatcherAny, true, proto.ErrNoWatcher, [2]int{1, 0}},
		{"unknown type", func(tr *Tree, w watch.Watcher) { tr.Exists("/n", w) }, 9, false, proto.ErrMarshallingError, [2]int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			r.must(mkCreate("/n", ""))
			w := &recorder{}
			tt.set(r.tree, w)
			if got := r.tree.RemoveWatches("/n", w, tt.typ, tt.checkOnly); got != tt.want {
				t.Errorf("RemoveWatches = %s, want %s", proto.CodeName(got), proto.CodeName(tt.want))
			}
			data, child := r.tree.WatchManagers()
			if got := [2]int{data.Count(), child.Count()}; got != tt.left {
				t.Errorf("watches left %v, want %v", got, tt.left)
			}
		})
	}
}

func TestRemoveWatcher(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/n", ""))
	w := &recorder{}
	r.tree.Exists("/n", w)
	r.tree.GetChildren("/n", w, nil)
	r.tree.AddWatch("/", w, proto.AddWatchPersistentRecursive)
	r.tree.RemoveWatcher(w)
	r.must(mkSetData("/n", "x", 1))
	r.must(mkDelete("/n"))
	data, child := r.tree.WatchManagers()
	if ev := w.take(); len(ev) != 0 || data.Count() != 0 || child.Count() != 0 {
		t.Errorf("events %v after RemoveWatcher; %d/%d watches left", ev, data.Count(), child.Count())
	}
}

func TestSetWatches(t *testing.T) {
	r := newRunner(t)
	r.must(mkCreate("/old", ""))     // unchanged since rel
	r.must(mkCreate("/changed", "")) // data and children change after rel
	r.must(mkCreate("/deleted", ""))
	rel := r.zxid
	r.must(mkSetData("/changed", "x", 1))
	r.must(mkCreate("/changed/kid", ""))
	r.must(mkDelete("/deleted"))
	r.must(mkCreate("/born", ""))

	w := &recorder{}
	r.tree.SetWatches(rel, &proto.SetWatches{
		RelativeZxid:        rel,
		DataWatches:         []string{"/old", "/changed", "/deleted"},
		ExistWatches:        []string{"/born", "/unborn"},
		ChildWatches:        []string{"/old", "/changed", "/deleted"},
		PersistentWatches:   []string{"/p"},
		PersistentRecursive: []string{"/r"},
		V2:                  true,
	}, w)
	want := []evt{
		{proto.EventNodeDataChanged, "/changed"},
		{proto.EventNodeDeleted, "/deleted"},
		{proto.EventNodeCreated, "/born"},
		{proto.EventNodeChildrenChanged, "/changed"},
		{proto.EventNodeDeleted, "/deleted"},
	}
	for _, e := range w.events {
		if e.ACL != nil || e.Zxid != -1 {
			t.Errorf("missed-change event %+v should carry no ACL and zxid -1", e)
		}
	}
	if got := w.take(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	data, child := r.tree.WatchManagers()
	for _, c := range []struct {
		m    *watch.Manager
		path string
		mode watch.Mode
	}{
		{data, "/old", watch.Standard}, {data, "/unborn", watch.Standard}, {child, "/old", watch.Standard},
		{data, "/p", watch.Persistent}, {child, "/p", watch.Persistent},
		{data, "/r", watch.PersistentRecursive}, {child, "/r", watch.PersistentRecursive},
	} {
		if mode, ok := c.m.Has(c.path, w); !ok || mode != c.mode {
			t.Errorf("%s: watch %v/%v, want %v", c.path, mode, ok, c.mode)
		}
	}
	if data.Count() != 4 || child.Count() != 3 {
		t.Errorf("watch counts %d/%d, want 4/3", data.Count(), child.Count())
	}
}
