package datatree

import (
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/watch"
)

// noTxnZxid is the Zxid of events that no txn caused (those SetWatches
// sends for changes a client missed while disconnected). ZooKeeper 3.8 sends
// -1 in the header of every notification anyway.
const noTxnZxid = -1

// WatchManagers returns the data and child watch managers, for the watch
// four-letter words and metrics.
func (t *Tree) WatchManagers() (data, child *watch.Manager) {
	return t.dataWatches, t.childWatches
}

// AddWatch sets a persistent or persistent-recursive watch (addWatch).
// As in DataTree.addWatch, both kinds go into both managers: recursive
// watches never fire for NodeChildrenChanged and the child manager's
// NodeDeleted is suppressed for watchers the data manager already notified,
// so each event still arrives once, and checkWatches/removeWatches of either
// type find the watch as in ZooKeeper. An unknown mode, which ZooKeeper
// answers with MARSHALLINGERROR, sets nothing: validate it first with
// watch.ModeFromAddWatch.
func (t *Tree) AddWatch(path string, w watch.Watcher, mode int32) {
	m, err := watch.ModeFromAddWatch(mode)
	if err != nil || w == nil {
		return
	}
	t.dataWatches.Add(path, w, m)
	t.childWatches.Add(path, w, m)
}

// RemoveWatches implements checkWatches (checkOnly) and removeWatches for
// one connection's watches on exactly path, whatever their mode:
// watcherType is proto.WatcherChildren, WatcherData or WatcherAny. It
// returns ErrNoWatcher when there is nothing to check or remove, and
// ErrMarshallingError for an unknown watcherType, as ZooKeeper does.
func (t *Tree) RemoveWatches(path string, w watch.Watcher, watcherType int32, checkOnly bool) proto.Code {
	var managers []*watch.Manager
	switch watcherType {
	case proto.WatcherChildren:
		managers = []*watch.Manager{t.childWatches}
	case proto.WatcherData:
		managers = []*watch.Manager{t.dataWatches}
	case proto.WatcherAny:
		managers = []*watch.Manager{t.childWatches, t.dataWatches}
	default:
		return proto.ErrMarshallingError
	}
	found := false
	for _, m := range managers {
		if checkOnly {
			_, ok := m.Has(path, w)
			found = found || ok
		} else if _, ok := m.RemoveAnyMode(path, w); ok {
			found = true
		}
	}
	if !found {
		return proto.ErrNoWatcher
	}
	return proto.ErrOK
}

// SetWatches re-registers a reconnecting client's watches (DataTree.
// setWatches). A watch whose event the client missed while disconnected is
// not set again; the event is sent to w instead, without an ACL (ZooKeeper
// delivers these unfiltered):
//   - data watch: NodeDeleted if the node is gone, NodeDataChanged if its
//     mzxid is above relativeZxid;
//   - exist watch: NodeCreated if the node now exists;
//   - child watch: NodeDeleted if the node is gone, NodeChildrenChanged if
//     its pzxid is above relativeZxid.
//
// Persistent and persistent-recursive watches (setWatches2) are simply set.
func (t *Tree) SetWatches(relativeZxid int64, sw *proto.SetWatches, w watch.Watcher) {
	if sw == nil || w == nil {
		return
	}
	fire := func(typ int32, path string) {
		w.Process(watch.Event{Type: typ, Path: path, Zxid: noTxnZxid})
	}
	for _, p := range sw.DataWatches {
		switch n := t.get(p); {
		case n == nil:
			fire(proto.EventNodeDeleted, p)
		case n.stat.Mzxid > relativeZxid:
			fire(proto.EventNodeDataChanged, p)
		default:
			t.dataWatches.Add(p, w, watch.Standard)
		}
	}
	for _, p := range sw.ExistWatches {
		if t.get(p) != nil {
			fire(proto.EventNodeCreated, p)
		} else {
			t.dataWatches.Add(p, w, watch.Standard)
		}
	}
	for _, p := range sw.ChildWatches {
		switch n := t.get(p); {
		case n == nil:
			fire(proto.EventNodeDeleted, p)
		case n.stat.Pzxid > relativeZxid:
			fire(proto.EventNodeChildrenChanged, p)
		default:
			t.childWatches.Add(p, w, watch.Standard)
		}
	}
	for _, p := range sw.PersistentWatches {
		t.childWatches.Add(p, w, watch.Persistent)
		t.dataWatches.Add(p, w, watch.Persistent)
	}
	for _, p := range sw.PersistentRecursive {
		t.childWatches.Add(p, w, watch.PersistentRecursive)
		t.dataWatches.Add(p, w, watch.PersistentRecursive)
	}
}

// RemoveWatcher removes all of a connection's watches (removeCnxn).
func (t *Tree) RemoveWatcher(w watch.Watcher) {
	if w == nil {
		return
	}
	t.dataWatches.RemoveWatcher(w)
	t.childWatches.RemoveWatcher(w)
}
