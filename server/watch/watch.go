// Package watch keeps the watches clients set on znodes and fires them, with
// the semantics of ZooKeeper 3.8's WatchManager, WatcherModeManager and
// PathParentIterator (org.apache.zookeeper.server.watch).
//
// A data tree owns two Managers: one for data watches (getData, exists) and
// one for child watches (getChildren). Persistent watches set with addWatch
// live in both. Each (watcher, path) pair has exactly one Mode; see
// Manager.Add for what happens when a second watch is set on the same pair.
//
// Watchers are used as map keys and compared by interface identity, so a
// Watcher implementation must be comparable, and in practice should be a
// pointer (one per client connection). Values of non-comparable dynamic
// types (slices, maps, funcs, structs holding them) are rejected by Add.
package watch

import (
	"fmt"
	"reflect"

	"github.com/zkd-io/zkd/server/proto"
)

// Mode is how a watch behaves once it fired.
type Mode int

const (
	// Standard watches fire once, for an event on their own path, and are
	// then removed (getData, exists, getChildren with watch=true).
	Standard Mode = iota
	// Persistent watches fire for every event on their own path and stay
	// (addWatch mode PERSISTENT).
	Persistent
	// PersistentRecursive watches fire for events on their path and all its
	// descendants, except NodeChildrenChanged, and stay (addWatch mode
	// PERSISTENT_RECURSIVE). Clients infer child changes from the
	// NodeCreated/NodeDeleted events they get for the children themselves.
	PersistentRecursive

	numModes = 3
)

func (m Mode) valid() bool { return m >= Standard && m <= PersistentRecursive }

// String returns the mode's name as used in metric labels.
func (m Mode) String() string {
	switch m {
	case Standard:
		return "standard"
	case Persistent:
		return "persistent"
	case PersistentRecursive:
		return "persistent_recursive"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ModeFromAddWatch converts the mode of an AddWatchRequest
// (proto.AddWatchPersistent or proto.AddWatchPersistentRecursive).
func ModeFromAddWatch(mode int32) (Mode, error) {
	switch mode {
	case proto.AddWatchPersistent:
		return Persistent, nil
	case proto.AddWatchPersistentRecursive:
		return PersistentRecursive, nil
	}
	return 0, fmt.Errorf("unsupported addWatch mode %d (want %d or %d)",
		mode, proto.AddWatchPersistent, proto.AddWatchPersistentRecursive)
}

// Event is one watch notification. Path is the path of the changed node (for
// a recursive watch it is the descendant that changed, not the watched path).
type Event struct {
	Type int32 // proto.EventNodeCreated ... proto.EventNodeChildrenChanged
	Path string
	Zxid int64
	// ACL of the node the event is about, nil if unknown. ZooKeeper 3.8.4+
	// delivers an event only if the connection may READ that node
	// (CVE-2024-23944), which matters for recursive watches on ancestors.
	// The slice is shared by every watcher the event goes to: read only.
	ACL []proto.ACL
}

// Watcher receives events. Process is called synchronously by
// Manager.Trigger, while the data tree's write lock is held, so it must not
// block: queue the event and return. It is not called with the Manager's own
// lock held, so it may call back into the Manager.
//
// Implementations must be comparable (normally a pointer type): watchers are
// map keys.
type Watcher interface {
	Process(ev Event)
}

// StaleWatcher is a Watcher that can tell it is dead, normally because its
// connection closed. Add refuses new watches for a stale watcher, as
// ZooKeeper's WatchManager.addWatch does (isDeadWatcher): a read that was in
// flight when its connection closed must not leave a watch behind after
// RemoveWatcher cleaned up. Mark the watcher stale before calling
// RemoveWatcher.
type StaleWatcher interface {
	Watcher
	Stale() bool
}

// usable reports whether w can be stored: non-nil and comparable, so that
// using it as a map key cannot panic.
func usable(w Watcher) bool {
	return w != nil && reflect.ValueOf(w).Comparable()
}

// Set is a set of watchers, as returned by Manager.Trigger. A nil Set is
// empty and valid.
type Set map[Watcher]struct{}

// Contains reports whether w is in s.
func (s Set) Contains(w Watcher) bool {
	if len(s) == 0 || !usable(w) {
		return false
	}
	_, ok := s[w]
	return ok
}

// Len returns the number of watchers in s.
func (s Set) Len() int { return len(s) }
