package watch

import (
	"slices"
	"strings"
	"sync"

	"github.com/zkd-io/zkd/server/proto"
)

// Manager holds one table of watches: either a tree's data watches or its
// child watches (ZooKeeper's WatchManager). It is safe for concurrent use.
//
// Every watch is one record linked into two indexes, by path and by watcher,
// and knows its position in both, so removing a watch is O(1) from either
// side. Paths with many watchers also get a watcher-keyed index, so finding
// the watch of a (path, watcher) pair is O(1) on hot paths too.
type Manager struct {
	mu        sync.Mutex
	byPath    map[string]*pathWatches
	byWatcher map[Watcher]*watcherWatches
	// counts[mode] is the number of watches in that mode. While
	// counts[PersistentRecursive] is zero, Trigger looks only at the event's
	// own path, not at its ancestors.
	counts  [numModes]int
	metrics managerMetrics
}

// watch is one (watcher, path) pair.
type watch struct {
	w          Watcher
	pw         *pathWatches
	ww         *watcherWatches
	mode       Mode
	pathPos    int32 // index in pw.direct or pw.recursive, per mode
	watcherPos int32 // index in ww.watches
}

// pathWatches are the watches on one path. Recursive watches are kept apart
// because they are the only ones that fire for events on descendants, and
// walking an ancestor must not cost a pass over its standard watches.
type pathWatches struct {
	path      string
	direct    []*watch // Standard and Persistent
	recursive []*watch // PersistentRecursive
	index     map[Watcher]*watch
}

// A path's watcher index is built when it has more than indexAbove watches
// and dropped when it falls below indexBelow; the gap avoids rebuilding it
// over and over on a path that hovers around one size.
const (
	indexAbove = 16
	indexBelow = 8
)

// Watch lists whose backing array is at least shrinkMinCap long and at most
// a quarter full are copied into a smaller one, so a burst of watches on one
// path or from one connection does not pin memory forever.
const shrinkMinCap = 64

type watcherWatches struct {
	watches []*watch
}

// NewManager returns an empty Manager that records no metrics.
func NewManager() *Manager {
	return NewManagerWithMetrics(KindData, nil)
}

// NewManagerWithMetrics returns an empty Manager that keeps m up to date.
// kind (KindData or KindChild) says which table the Manager holds; its
// standard watches are counted in zkd_watch_count{kind="standard_<kind>"}.
// A nil m records nothing.
func NewManagerWithMetrics(kind string, m *Metrics) *Manager {
	return &Manager{
		byPath:    make(map[string]*pathWatches),
		byWatcher: make(map[Watcher]*watcherWatches),
		metrics:   m.forManager(kind),
	}
}

// Add sets a watch of the given mode for w on path. It returns true if w did
// not watch path before, false if it did or if the arguments are unusable
// (nil or non-comparable w, invalid mode) or w is a StaleWatcher that is
// stale.
//
// As in ZooKeeper 3.8 (WatcherModeManager.setWatcherMode), a pair has one
// mode and the latest Add wins, in every direction: a getData(watch=true) on
// a path that the same connection watches persistently turns the persistent
// watch into a one-shot one. ZooKeeper 3.9 keeps both (ZOOKEEPER-4466).
func (m *Manager) Add(path string, w Watcher, mode Mode) bool {
	if !mode.valid() || !usable(w) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Checked under the lock, so that it is ordered with RemoveWatcher.
	if sw, ok := w.(StaleWatcher); ok && sw.Stale() {
		return false
	}

	pw := m.byPath[path]
	if pw == nil {
		pw = &pathWatches{path: path}
		m.byPath[path] = pw
	} else if x := pw.find(w); x != nil {
		if x.mode != mode {
			pw.unlink(x)
			m.count(x.mode, -1)
			x.mode = mode
			pw.link(x)
			m.count(mode, +1)
		}
		return false
	}
	ww := m.byWatcher[w]
	if ww == nil {
		ww = &watcherWatches{}
		m.byWatcher[w] = ww
	}
	x := &watch{w: w, pw: pw, ww: ww, mode: mode}
	pw.link(x)
	x.watcherPos = int32(len(ww.watches))
	ww.watches = append(ww.watches, x)
	m.count(mode, +1)
	return true
}

// Trigger fires the watches that match an event of type typ on path, with
// ZooKeeper 3.8's WatchManager.triggerWatch semantics:
//
//   - standard watches on path fire and are removed;
//   - persistent watches on path fire and stay;
//   - persistent-recursive watches on path or any ancestor fire and stay,
//     for every event type except NodeChildrenChanged.
//
// Each matching watcher's Process is called once, even if it matches on
// several paths, unless it is in suppress. Suppressed watchers still count as
// triggered: their standard watches are consumed and they are in the result.
// That is how a delete sends one NodeDeleted to a connection that has both a
// data and a child watch on the node: the child Manager's Trigger gets the
// data Manager's result as suppress.
//
// Trigger returns every watcher that matched, or nil if none did; it does
// not allocate then. It looks at ancestors only while some recursive watch
// exists, so its cost is one map lookup per path level at worst.
func (m *Manager) Trigger(path string, typ int32, zxid int64, acl []proto.ACL, suppress Set) Set {
	var (
		matched  Set
		consumed int
	)
	recursiveToo := typ != proto.EventNodeChildrenChanged

	m.mu.Lock()
	if pw := m.byPath[path]; pw != nil {
		if recursiveToo {
			for _, x := range pw.recursive {
				matched = matched.with(x.w, pw.len())
			}
		}
		// Backwards, because removing swaps the last watch into the hole.
		for i := len(pw.direct) - 1; i >= 0; i-- {
			x := pw.direct[i]
			matched = matched.with(x.w, pw.len())
			if x.mode == Standard {
				m.detach(x)
				consumed++
			}
		}
	}
	if recursiveToo && m.counts[PersistentRecursive] > 0 {
		for p, ok := parent(path); ok; p, ok = parent(p) {
			if pw := m.byPath[p]; pw != nil {
				for _, x := range pw.recursive {
					matched = matched.with(x.w, len(pw.recursive))
				}
			}
		}
	}
	m.metrics.addWatches(Standard, -consumed)
	m.mu.Unlock()

	if matched == nil {
		return nil
	}
	ev := Event{Type: typ, Path: path, Zxid: zxid, ACL: acl}
	delivered := 0
	for w := range matched {
		if _, skip := suppress[w]; skip {
			continue
		}
		w.Process(ev)
		delivered++
	}
	m.metrics.eventsFired(typ, delivered)
	return matched
}

// with adds w to s, allocating s (with room for hint watchers) if it is nil.
func (s Set) with(w Watcher, hint int) Set {
	if s == nil {
		s = make(Set, hint)
	}
	s[w] = struct{}{}
	return s
}

// parent returns the parent of an absolute path, and false for "/" (and for
// anything that is not absolute, so that odd input ends the walk instead of
// looping).
func parent(p string) (string, bool) {
	switch i := strings.LastIndexByte(p, '/'); {
	case i > 0:
		return p[:i], true
	case i == 0 && len(p) > 1:
		return "/", true
	default:
		return "", false
	}
}

// Remove removes w's watch on path if it has the given mode, and reports
// whether it did. This is removeWatches for one mode; RemoveAnyMode is
// ZooKeeper 3.8's mode-blind WatchManager.removeWatcher(path, watcher).
func (m *Manager) Remove(path string, w Watcher, mode Mode) bool {
	if !mode.valid() || !usable(w) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.find(path, w)
	if x == nil || x.mode != mode {
		return false
	}
	m.detach(x)
	m.metrics.addWatches(mode, -1)
	return true
}

// RemoveAnyMode removes w's watch on path, whatever its mode, and returns the
// mode it had.
func (m *Manager) RemoveAnyMode(path string, w Watcher) (Mode, bool) {
	if !usable(w) {
		return 0, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.find(path, w)
	if x == nil {
		return 0, false
	}
	m.detach(x)
	m.metrics.addWatches(x.mode, -1)
	return x.mode, true
}

// Has reports whether w watches exactly path, and in which mode.
//
// Unlike ZooKeeper 3.8's containsWatcher, which answers true if any
// connection watches path (so checkWatches can succeed for a watch the
// caller does not have), Has looks only at w's own watch.
func (m *Manager) Has(path string, w Watcher) (Mode, bool) {
	if !usable(w) {
		return 0, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if x := m.find(path, w); x != nil {
		return x.mode, true
	}
	return 0, false
}

// RemoveWatcher removes every watch of w, as when its connection closes.
func (m *Manager) RemoveWatcher(w Watcher) {
	if !usable(w) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ww := m.byWatcher[w]
	if ww == nil {
		return
	}
	delete(m.byWatcher, w)
	var removed [numModes]int
	for _, x := range ww.watches {
		m.unlinkPath(x)
		removed[x.mode]++
	}
	for mode, n := range removed {
		m.counts[mode] -= n
		m.metrics.addWatches(Mode(mode), -n)
	}
}

// Clear removes every watch, as when the tree holding the Manager is
// discarded, so that shared metrics stop counting them.
func (m *Manager) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Fresh maps rather than clear(): a Go map never gives back its buckets.
	m.byPath = make(map[string]*pathWatches)
	m.byWatcher = make(map[Watcher]*watcherWatches)
	for mode, n := range m.counts {
		m.metrics.addWatches(Mode(mode), -n)
		m.counts[mode] = 0
	}
}

// Count returns the number of watches (watcher, path pairs); ZooKeeper's
// watch_count is the sum over the data and child Managers.
func (m *Manager) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total()
}

// CountByMode returns the number of watches in each mode; every Mode is a
// key, with 0 if no watch has it.
func (m *Manager) CountByMode() map[Mode]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := make(map[Mode]int, numModes)
	for mode, n := range m.counts {
		counts[Mode(mode)] = n
	}
	return counts
}

// Stats returns the numbers of watchers, of watched paths and of watches, as
// the wchs command prints them.
func (m *Manager) Stats() (watchers, paths, watches int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byWatcher), len(m.byPath), m.total()
}

// PathsByWatcher returns, for every watcher, the paths it watches in sorted
// order (the wchc command).
func (m *Manager) PathsByWatcher() map[Watcher][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[Watcher][]string, len(m.byWatcher))
	for w, ww := range m.byWatcher {
		paths := make([]string, len(ww.watches))
		for i, x := range ww.watches {
			paths[i] = x.pw.path
		}
		slices.Sort(paths)
		out[w] = paths
	}
	return out
}

// WatchersByPath returns, for every watched path, its watchers in no
// particular order (the wchp command).
func (m *Manager) WatchersByPath() map[string][]Watcher {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]Watcher, len(m.byPath))
	for path, pw := range m.byPath {
		ws := make([]Watcher, 0, pw.len())
		for _, x := range pw.direct {
			ws = append(ws, x.w)
		}
		for _, x := range pw.recursive {
			ws = append(ws, x.w)
		}
		out[path] = ws
	}
	return out
}

func (m *Manager) total() int {
	n := 0
	for _, c := range m.counts {
		n += c
	}
	return n
}

// count adjusts the watch count of mode, and its gauge.
func (m *Manager) count(mode Mode, delta int) {
	m.counts[mode] += delta
	m.metrics.addWatches(mode, delta)
}

func (m *Manager) find(path string, w Watcher) *watch {
	if pw := m.byPath[path]; pw != nil {
		return pw.find(w)
	}
	return nil
}

// detach removes x from both indexes and from counts, but leaves the gauges
// to the caller, which may batch them.
func (m *Manager) detach(x *watch) {
	m.unlinkPath(x)
	ww := x.ww
	ww.watches = swapRemove(ww.watches, x.watcherPos, watcherPos)
	if len(ww.watches) == 0 {
		delete(m.byWatcher, x.w)
	}
	m.counts[x.mode]--
}

// unlinkPath removes x from its path's watches, and the path from byPath if
// nothing watches it any more.
func (m *Manager) unlinkPath(x *watch) {
	pw := x.pw
	pw.unlink(x)
	if pw.len() == 0 {
		delete(m.byPath, pw.path)
	}
}

func (pw *pathWatches) len() int { return len(pw.direct) + len(pw.recursive) }

func (pw *pathWatches) find(w Watcher) *watch {
	if pw.index != nil {
		return pw.index[w]
	}
	for _, x := range pw.direct {
		if x.w == w {
			return x
		}
	}
	for _, x := range pw.recursive {
		if x.w == w {
			return x
		}
	}
	return nil
}

// list returns the list that holds watches of the given mode.
func (pw *pathWatches) list(mode Mode) *[]*watch {
	if mode == PersistentRecursive {
		return &pw.recursive
	}
	return &pw.direct
}

// link adds x, whose mode is set, to pw.
func (pw *pathWatches) link(x *watch) {
	l := pw.list(x.mode)
	x.pathPos = int32(len(*l))
	*l = append(*l, x)
	switch {
	case pw.index != nil:
		pw.index[x.w] = x
	case pw.len() > indexAbove:
		pw.index = make(map[Watcher]*watch, pw.len())
		for _, y := range pw.direct {
			pw.index[y.w] = y
		}
		for _, y := range pw.recursive {
			pw.index[y.w] = y
		}
	}
}

// unlink removes x from pw, according to x's current mode.
func (pw *pathWatches) unlink(x *watch) {
	l := pw.list(x.mode)
	*l = swapRemove(*l, x.pathPos, pathPos)
	if pw.index != nil {
		delete(pw.index, x.w)
		if pw.len() < indexBelow {
			pw.index = nil
		}
	}
}

func pathPos(x *watch) *int32    { return &x.pathPos }
func watcherPos(x *watch) *int32 { return &x.watcherPos }

// swapRemove removes s[i] by moving the last element into its place; pos
// selects the field in which each element records its index in s.
func swapRemove(s []*watch, i int32, pos func(*watch) *int32) []*watch {
	last := int32(len(s) - 1)
	if i != last {
		s[i] = s[last]
		*pos(s[i]) = i
	}
	s[last] = nil
	s = s[:last]
	if cap(s) >= shrinkMinCap && len(s) <= cap(s)/4 {
		s = slices.Clone(s) // keeps the order, so positions stay valid
	}
	return s
}
