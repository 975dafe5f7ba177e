package watch

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

// modes lists every valid Mode.
var modes = [numModes]Mode{Standard, Persistent, PersistentRecursive}

// recorder is a Watcher that remembers what it was sent.
type recorder struct {
	name   string
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Process(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) String() string { return r.name }

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func recorders(n int) []*recorder {
	rs := make([]*recorder, n)
	for i := range rs {
		rs[i] = &recorder{name: fmt.Sprintf("w%d", i)}
	}
	return rs
}

// reg is one watch in a test table: watcher index, path, mode.
type reg struct {
	w    int
	path string
	mode Mode
}

func (r reg) String() string { return fmt.Sprintf("w%d:%s:%v", r.w, r.path, r.mode) }

func addAll(t *testing.T, m *Manager, ws []*recorder, regs []reg) {
	t.Helper()
	for _, r := range regs {
		if !m.Add(r.path, ws[r.w], r.mode) {
			t.Fatalf("Add(%v) = false, want true", r)
		}
	}
}

// watches lists m's watches as sorted regs, read through the public API.
func watches(m *Manager, ws []*recorder) []reg {
	var out []reg
	for w, paths := range m.PathsByWatcher() {
		i := slices.Index(ws, w.(*recorder))
		for _, p := range paths {
			mode, ok := m.Has(p, w)
			if !ok {
				panic(fmt.Sprintf("PathsByWatcher lists %s for %v but Has says no", p, w))
			}
			out = append(out, reg{i, p, mode})
		}
	}
	slices.SortFunc(out, func(a, b reg) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func sortedRegs(rs []reg) []reg {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b reg) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// checkInvariants verifies that the two indexes, the positions, the path
// indexes and the counts all agree.
func checkInvariants(t *testing.T, m *Manager) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var fromPaths, fromWatchers [numModes]int
	for path, pw := range m.byPath {
		if pw.path != path {
			t.Fatalf("byPath[%q].path = %q", path, pw.path)
		}
		if pw.len() == 0 {
			t.Fatalf("byPath[%q] is empty but still indexed", path)
		}
		if (pw.len() > indexAbove && pw.index == nil) || (pw.len() < indexBelow && pw.index != nil) {
			t.Fatalf("path %q with %d watches: index present = %v", path, pw.len(), pw.index != nil)
		}
		if pw.index != nil && len(pw.index) != pw.len() {
			t.Fatalf("path %q: index has %d entries, lists %d", path, len(pw.index), pw.len())
		}
		for listName, l := range map[string][]*watch{"direct": pw.direct, "recursive": pw.recursive} {
			for i, x := range l {
				if x.pw != pw || int(x.pathPos) != i {
					t.Fatalf("path %q %s[%d]: pw ok=%v pathPos=%d", path, listName, i, x.pw == pw, x.pathPos)
				}
				if (x.mode == PersistentRecursive) != (listName == "recursive") {
					t.Fatalf("path %q: %v watch in %s list", path, x.mode, listName)
				}
				if pw.index != nil && pw.index[x.w] != x {
					t.Fatalf("path %q: index entry for %v is wrong", path, x.w)
				}
				if ww := m.byWatcher[x.w]; ww != x.ww || int(x.watcherPos) >= len(ww.watches) || ww.watches[x.watcherPos] != x {
					t.Fatalf("path %q: watch of %v not linked from its watcher", path, x.w)
				}
				fromPaths[x.mode]++
			}
		}
	}
	for w, ww := range m.byWatcher {
		if len(ww.watches) == 0 {
			t.Fatalf("watcher %v has no watches but is still indexed", w)
		}
		seen := make(map[string]bool)
		for i, x := range ww.watches {
			if x.w != w || x.ww != ww || int(x.watcherPos) != i {
				t.Fatalf("watcher %v watches[%d] is mislinked", w, i)
			}
			if m.byPath[x.pw.path] != x.pw {
				t.Fatalf("watcher %v watches %q whose path entry is gone", w, x.pw.path)
			}
			if seen[x.pw.path] {
				t.Fatalf("watcher %v watches %q twice", w, x.pw.path)
			}
			seen[x.pw.path] = true
			fromWatchers[x.mode]++
		}
	}
	if fromPaths != m.counts || fromWatchers != m.counts {
		t.Fatalf("counts %v, by path %v, by watcher %v", m.counts, fromPaths, fromWatchers)
	}
}

func checkEmpty(t *testing.T, m *Manager) {
	t.Helper()
	checkInvariants(t, m)
	if len(m.byPath) != 0 || len(m.byWatcher) != 0 || m.counts != [numModes]int{} {
		t.Fatalf("manager not empty: %d paths, %d watchers, counts %v", len(m.byPath), len(m.byWatcher), m.counts)
	}
}

var testACL = []proto.ACL{{Perms: proto.PermRead, ID: proto.ID{Scheme: "world", ID: "anyone"}}}

func TestTrigger(t *testing.T) {
	const (
		created  = proto.EventNodeCreated
		deleted  = proto.EventNodeDeleted
		changed  = proto.EventNodeDataChanged
		children = proto.EventNodeChildrenChanged
	)
	many := make([]reg, 20) // more than indexAbove: the path gets an index
	for i := range many {
		many[i] = reg{i, "/hot", Standard}
	}
	tests := []struct {
		name     string
		watches  []reg
		path     string
		typ      int32
		suppress []int
		fired    []int // watchers that must get exactly one event
		matched  []int // Trigger's result; nil means same as fired
		left     []reg // watches after Trigger
	}{
		{
			name:    "standard fires once and is removed",
			watches: []reg{{0, "/a", Standard}},
			path:    "/a", typ: changed,
			fired: []int{0},
		},
		{
			name:    "standard fires for every event type",
			watches: []reg{{0, "/a", Standard}, {1, "/b", Standard}, {2, "/c", Standard}},
			path:    "/b", typ: deleted,
			fired: []int{1},
			left:  []reg{{0, "/a", Standard}, {2, "/c", Standard}},
		},
		{
			name:    "standard on parent ignores child event",
			watches: []reg{{0, "/a", Standard}},
			path:    "/a/b", typ: created,
			left: []reg{{0, "/a", Standard}},
		},
		{
			name:    "standard on child ignores parent event",
			watches: []reg{{0, "/a/b", Standard}},
			path:    "/a", typ: deleted,
			left: []reg{{0, "/a/b", Standard}},
		},
		{
			name:    "standard on ancestor ignored while walking for recursive watches",
			watches: []reg{{0, "/a", Standard}, {1, "/a", Persistent}, {2, "/x", PersistentRecursive}},
			path:    "/a/b", typ: changed,
			left: []reg{{0, "/a", Standard}, {1, "/a", Persistent}, {2, "/x", PersistentRecursive}},
		},
		{
			name:    "persistent fires and stays",
			watches: []reg{{0, "/a", Persistent}},
			path:    "/a", typ: changed,
			fired: []int{0},
			left:  []reg{{0, "/a", Persistent}},
		},
		{
			name:    "persistent gets NodeChildrenChanged",
			watches: []reg{{0, "/a", Persistent}},
			path:    "/a", typ: children,
			fired: []int{0},
			left:  []reg{{0, "/a", Persistent}},
		},
		{
			name:    "recursive on the path itself",
			watches: []reg{{0, "/a", PersistentRecursive}},
			path:    "/a", typ: deleted,
			fired: []int{0},
			left:  []reg{{0, "/a", PersistentRecursive}},
		},
		{
			name:    "recursive on parent",
			watches: []reg{{0, "/a", PersistentRecursive}},
			path:    "/a/b", typ: created,
			fired: []int{0},
			left:  []reg{{0, "/a", PersistentRecursive}},
		},
		{
			name:    "recursive five levels up",
			watches: []reg{{0, "/a", PersistentRecursive}},
			path:    "/a/b/c/d/e/f", typ: changed,
			fired: []int{0},
			left:  []reg{{0, "/a", PersistentRecursive}},
		},
		{
			name:    "recursive on root sees root",
			watches: []reg{{0, "/", PersistentRecursive}},
			path:    "/", typ: changed,
			fired: []int{0},
			left:  []reg{{0, "/", PersistentRecursive}},
		},
		{
			name:    "recursive on root sees top level",
			watches: []reg{{0, "/", PersistentRecursive}},
			path:    "/zookeeper", typ: created,
			fired: []int{0},
			left:  []reg{{0, "/", PersistentRecursive}},
		},
		{
			name:    "recursive on root sees deep node",
			watches: []reg{{0, "/", PersistentRecursive}},
			path:    "/a/b/c", typ: deleted,
			fired: []int{0},
			left:  []reg{{0, "/", PersistentRecursive}},
		},
		{
			name:    "recursive ignores name-prefix sibling",
			watches: []reg{{0, "/a", PersistentRecursive}},
			path:    "/ab", typ: created,
			left: []reg{{0, "/a", PersistentRecursive}},
		},
		{
			name:    "recursive ignores the parent of its path",
			watches: []reg{{0, "/a/b", PersistentRecursive}},
			path:    "/a", typ: changed,
			left: []reg{{0, "/a/b", PersistentRecursive}},
		},
		{
			name:    "recursive never gets NodeChildrenChanged on its path",
			watches: []reg{{0, "/a", PersistentRecursive}},
			path:    "/a", typ: children,
			left: []reg{{0, "/a", PersistentRecursive}},
		},
		{
			name:    "recursive never gets NodeChildrenChanged below",
			watches: []reg{{0, "/", PersistentRecursive}, {1, "/a", PersistentRecursive}},
			path:    "/a/b", typ: children,
			left: []reg{{0, "/", PersistentRecursive}, {1, "/a", PersistentRecursive}},
		},
		{
			name:    "NodeChildrenChanged still reaches standard and persistent",
			watches: []reg{{0, "/a", Standard}, {1, "/a", Persistent}, {2, "/a", PersistentRecursive}, {3, "/", PersistentRecursive}},
			path:    "/a", typ: children,
			fired: []int{0, 1},
			left:  []reg{{1, "/a", Persistent}, {2, "/a", PersistentRecursive}, {3, "/", PersistentRecursive}},
		},
		{
			name:    "persistent on ancestor is not recursive",
			watches: []reg{{0, "/a", Persistent}},
			path:    "/a/b", typ: changed,
			left: []reg{{0, "/a", Persistent}},
		},
		{
			name: "watcher matching at several levels is notified once",
			watches: []reg{
				{0, "/", PersistentRecursive}, {0, "/a", PersistentRecursive}, {0, "/a/b", Standard},
				{1, "/a", PersistentRecursive},
			},
			path: "/a/b", typ: changed,
			fired: []int{0, 1},
			left:  []reg{{0, "/", PersistentRecursive}, {0, "/a", PersistentRecursive}, {1, "/a", PersistentRecursive}},
		},
		{
			name:    "suppressed watcher is not notified but its standard watch is consumed",
			watches: []reg{{0, "/a", Standard}, {1, "/a", Standard}},
			path:    "/a", typ: deleted,
			suppress: []int{0},
			fired:    []int{1},
			matched:  []int{0, 1},
		},
		{
			name:    "suppressed persistent and recursive watches stay",
			watches: []reg{{0, "/a", Persistent}, {1, "/", PersistentRecursive}, {2, "/a", Persistent}},
			path:    "/a", typ: deleted,
			suppress: []int{0, 1},
			fired:    []int{2},
			matched:  []int{0, 1, 2},
			left:     []reg{{0, "/a", Persistent}, {1, "/", PersistentRecursive}, {2, "/a", Persistent}},
		},
		{
			name:    "suppress without overlap",
			watches: []reg{{0, "/a", Standard}},
			path:    "/a", typ: changed,
			suppress: []int{1},
			fired:    []int{0},
		},
		{
			name:    "hot path: all standard watches fire and go",
			watches: many,
			path:    "/hot", typ: changed,
			fired: func() []int {
				out := make([]int, len(many))
				for i := range out {
					out[i] = i
				}
				return out
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := recorders(25)
			m := NewManager()
			addAll(t, m, ws, tc.watches)
			checkInvariants(t, m)
			var suppress Set
			for _, i := range tc.suppress {
				suppress = suppress.with(ws[i], 0)
			}

			got := m.Trigger(tc.path, tc.typ, 42, testACL, suppress)

			want := ev(tc.typ, tc.path, 42)
			for i, w := range ws {
				evs := w.take()
				if slices.Contains(tc.fired, i) {
					if len(evs) != 1 || !sameEvent(evs[0], want) {
						t.Errorf("w%d got %v, want exactly [%v]", i, evs, want)
					}
				} else if len(evs) != 0 {
					t.Errorf("w%d got %v, want nothing", i, evs)
				}
			}
			matched := tc.matched
			if matched == nil {
				matched = tc.fired
			}
			if got.Len() != len(matched) {
				t.Errorf("Trigger returned %d watchers, want %d", got.Len(), len(matched))
			}
			if len(matched) == 0 && got != nil {
				t.Errorf("Trigger returned non-nil empty set")
			}
			for _, i := range matched {
				if !got.Contains(ws[i]) {
					t.Errorf("Trigger result lacks w%d", i)
				}
			}
			checkInvariants(t, m)
			if left := watches(m, ws); !slices.Equal(left, sortedRegs(tc.left)) {
				t.Errorf("watches left = %v, want %v", left, sortedRegs(tc.left))
			}
		})
	}
}

func ev(typ int32, path string, zxid int64) Event {
	return Event{Type: typ, Path: path, Zxid: zxid, ACL: testACL}
}

func sameEvent(a, b Event) bool {
	return a.Type == b.Type && a.Path == b.Path && a.Zxid == b.Zxid && slices.Equal(a.ACL, b.ACL)
}

// TestStandardIsOneShot fires the same event twice: the second finds nothing.
func TestStandardIsOneShot(t *testing.T) {
	ws := recorders(1)
	m := NewManager()
	m.Add("/a", ws[0], Standard)
	if got := m.Trigger("/a", proto.EventNodeDataChanged, 1, nil, nil); got.Len() != 1 {
		t.Fatalf("first Trigger matched %d, want 1", got.Len())
	}
	if got := m.Trigger("/a", proto.EventNodeDataChanged, 2, nil, nil); got != nil {
		t.Fatalf("second Trigger matched %d, want nil", got.Len())
	}
	if evs := ws[0].take(); len(evs) != 1 || evs[0].Zxid != 1 {
		t.Fatalf("events = %v, want only zxid 1", evs)
	}
	checkEmpty(t, m)
}

// TestAddReplacesMode documents ZooKeeper 3.8's one-mode-per-pair rule: the
// latest Add sets the mode, so a standard watch set over a persistent one
// turns it into a one-shot watch.
func TestAddReplacesMode(t *testing.T) {
	for _, first := range modes {
		for _, second := range modes {
			t.Run(first.String()+"_then_"+second.String(), func(t *testing.T) {
				ws := recorders(1)
				m := NewManager()
				if !m.Add("/a", ws[0], first) {
					t.Fatal("first Add = false, want true")
				}
				if m.Add("/a", ws[0], second) {
					t.Fatal("second Add = true, want false (pair already watched)")
				}
				if mode, ok := m.Has("/a", ws[0]); !ok || mode != second {
					t.Fatalf("Has = %v, %v; want %v, true", mode, ok, second)
				}
				if got := m.CountByMode(); got[second] != 1 || m.Count() != 1 {
					t.Fatalf("counts = %v (total %d), want one %v watch", got, m.Count(), second)
				}
				checkInvariants(t, m)
				m.Trigger("/a", proto.EventNodeDataChanged, 1, nil, nil)
				_, stays := m.Has("/a", ws[0])
				if want := second != Standard; stays != want {
					t.Fatalf("after an event the watch stays = %v, want %v", stays, want)
				}
				// Only a recursive mode makes Trigger walk ancestors.
				m.Trigger("/a/b", proto.EventNodeCreated, 2, nil, nil)
				if evs := ws[0].take(); (len(evs) == 2) != (second == PersistentRecursive) {
					t.Fatalf("events = %v; recursive = %v", evs, second == PersistentRecursive)
				}
				checkInvariants(t, m)
			})
		}
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		set, remove Mode
		removed     bool
	}{
		{Standard, Standard, true},
		{Standard, Persistent, false},
		{Standard, PersistentRecursive, false},
		{Persistent, Standard, false},
		{Persistent, Persistent, true},
		{Persistent, PersistentRecursive, false},
		{PersistentRecursive, Standard, false},
		{PersistentRecursive, Persistent, false},
		{PersistentRecursive, PersistentRecursive, true},
	}
	for _, tc := range tests {
		t.Run(tc.set.String()+"_remove_"+tc.remove.String(), func(t *testing.T) {
			ws := recorders(2)
			m := NewManager()
			m.Add("/a", ws[0], tc.set)
			m.Add("/a", ws[1], tc.set)
			if got := m.Remove("/a", ws[0], tc.remove); got != tc.removed {
				t.Fatalf("Remove = %v, want %v", got, tc.removed)
			}
			if _, ok := m.Has("/a", ws[0]); ok == tc.removed {
				t.Fatalf("Has after Remove = %v", ok)
			}
			if mode, ok := m.Has("/a", ws[1]); !ok || mode != tc.set {
				t.Fatalf("other watcher's watch changed: %v, %v", mode, ok)
			}
			if m.Remove("/b", ws[0], tc.remove) || m.Remove("/a", ws[0], Mode(7)) {
				t.Fatal("Remove of an absent watch or invalid mode = true")
			}
			checkInvariants(t, m)
			if mode, ok := m.RemoveAnyMode("/a", ws[1]); !ok || mode != tc.set {
				t.Fatalf("RemoveAnyMode = %v, %v; want %v, true", mode, ok, tc.set)
			}
			if _, ok := m.RemoveAnyMode("/a", ws[1]); ok {
				t.Fatal("second RemoveAnyMode = true")
			}
			m.RemoveAnyMode("/a", ws[0])
			checkEmpty(t, m)
		})
	}
}

func TestRemoveWatcherCleansEverything(t *testing.T) {
	ws := recorders(30)
	m := NewManager()
	// w0 everywhere, in every mode, including a hot path with an index.
	for i, p := range []string{"/", "/a", "/a/b", "/a/b/c", "/x", "/hot"} {
		m.Add(p, ws[0], modes[i%numModes])
	}
	for i := 1; i < len(ws); i++ {
		m.Add("/hot", ws[i], modes[i%numModes])
		m.Add(fmt.Sprintf("/only/%d", i), ws[i], Standard)
	}
	m.Add("/a", ws[1], PersistentRecursive)
	checkInvariants(t, m)
	if m.byPath["/hot"].index == nil {
		t.Fatal("hot path has no index; the test does not cover it")
	}

	m.RemoveWatcher(ws[0])
	checkInvariants(t, m)
	if len(m.PathsByWatcher()[ws[0]]) != 0 {
		t.Fatal("w0 still has paths")
	}
	for _, p := range []string{"/", "/a/b", "/a/b/c", "/x"} {
		if _, ok := m.byPath[p]; ok {
			t.Fatalf("path %s still indexed after its only watcher left", p)
		}
	}
	m.RemoveWatcher(ws[0]) // again: no-op
	for _, w := range ws {
		m.RemoveWatcher(w)
	}
	checkEmpty(t, m)
	// With no recursive watch left, events do not walk ancestors.
	if m.counts[PersistentRecursive] != 0 {
		t.Fatal("recursive count leaked")
	}
}

func TestHotPathIndexComesAndGoes(t *testing.T) {
	ws := recorders(40)
	m := NewManager()
	for i, w := range ws {
		m.Add("/hot", w, modes[i%numModes])
		checkInvariants(t, m)
	}
	if m.byPath["/hot"].index == nil {
		t.Fatal("no index with 40 watchers")
	}
	for i, w := range ws {
		if mode, ok := m.Has("/hot", w); !ok || mode != modes[i%numModes] {
			t.Fatalf("Has(w%d) = %v, %v", i, mode, ok)
		}
	}
	for i := len(ws) - 1; i >= 3; i-- {
		if _, ok := m.RemoveAnyMode("/hot", ws[i]); !ok {
			t.Fatalf("RemoveAnyMode(w%d) = false", i)
		}
		checkInvariants(t, m)
	}
	if m.byPath["/hot"].index != nil {
		t.Fatal("index kept for 3 watchers")
	}
}

func TestShrinkKeepsPositions(t *testing.T) {
	ws := recorders(1)
	m := NewManager()
	for i := range 500 {
		m.Add(fmt.Sprintf("/n%03d", i), ws[0], Persistent)
	}
	for i := range 490 {
		m.Remove(fmt.Sprintf("/n%03d", i), ws[0], Persistent)
	}
	checkInvariants(t, m)
	if c := cap(m.byWatcher[ws[0]].watches); c >= 500 {
		t.Fatalf("watcher list capacity %d not shrunk for 10 watches", c)
	}
	if got := len(m.PathsByWatcher()[ws[0]]); got != 10 {
		t.Fatalf("%d paths left, want 10", got)
	}
}

func TestCountsAndStats(t *testing.T) {
	ws := recorders(3)
	m := NewManager()
	addAll(t, m, ws, []reg{
		{0, "/a", Standard}, {0, "/b", Standard}, {1, "/a", Persistent},
		{1, "/c", PersistentRecursive}, {2, "/c", PersistentRecursive}, {2, "/d", Standard},
	})
	if got := m.Count(); got != 6 {
		t.Errorf("Count = %d, want 6", got)
	}
	wantModes := map[Mode]int{Standard: 3, Persistent: 1, PersistentRecursive: 2}
	if got := m.CountByMode(); !maps.Equal(got, wantModes) {
		t.Errorf("CountByMode = %v, want %v", got, wantModes)
	}
	if w, p, n := m.Stats(); w != 3 || p != 4 || n != 6 {
		t.Errorf("Stats = %d watchers, %d paths, %d watches; want 3, 4, 6", w, p, n)
	}
	m.Trigger("/a", proto.EventNodeDeleted, 5, nil, nil)
	wantModes = map[Mode]int{Standard: 2, Persistent: 1, PersistentRecursive: 2}
	if got := m.CountByMode(); !maps.Equal(got, wantModes) {
		t.Errorf("after Trigger CountByMode = %v, want %v", got, wantModes)
	}
	if w, p, n := m.Stats(); w != 3 || p != 4 || n != 5 {
		t.Errorf("after Trigger Stats = %d, %d, %d; want 3, 4, 5", w, p, n)
	}
	m.Clear()
	if w, p, n := m.Stats(); w != 0 || p != 0 || n != 0 {
		t.Errorf("after Clear Stats = %d, %d, %d", w, p, n)
	}
	wantModes = map[Mode]int{Standard: 0, Persistent: 0, PersistentRecursive: 0}
	if got := m.CountByMode(); !maps.Equal(got, wantModes) {
		t.Errorf("after Clear CountByMode = %v", got)
	}
	checkEmpty(t, m)
}

func TestDumps(t *testing.T) {
	ws := recorders(3)
	m := NewManager()
	addAll(t, m, ws, []reg{
		{0, "/b", Standard}, {0, "/a", Persistent}, {0, "/", PersistentRecursive},
		{1, "/a", Standard}, {2, "/z/y", Standard},
	})
	byWatcher := m.PathsByWatcher()
	wantByWatcher := map[Watcher][]string{
		ws[0]: {"/", "/a", "/b"},
		ws[1]: {"/a"},
		ws[2]: {"/z/y"},
	}
	if len(byWatcher) != len(wantByWatcher) {
		t.Fatalf("PathsByWatcher has %d watchers, want %d", len(byWatcher), len(wantByWatcher))
	}
	for w, want := range wantByWatcher {
		if got := byWatcher[w]; !slices.Equal(got, want) {
			t.Errorf("PathsByWatcher[%v] = %v, want %v", w, got, want)
		}
	}

	byPath := m.WatchersByPath()
	wantByPath := map[string][]string{"/": {"w0"}, "/a": {"w0", "w1"}, "/b": {"w0"}, "/z/y": {"w2"}}
	if len(byPath) != len(wantByPath) {
		t.Fatalf("WatchersByPath has %d paths, want %d", len(byPath), len(wantByPath))
	}
	for p, want := range wantByPath {
		var got []string
		for _, w := range byPath[p] {
			got = append(got, w.(*recorder).name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("WatchersByPath[%s] = %v, want %v", p, got, want)
		}
	}

	// The dumps are copies: changing them does not touch the manager.
	byWatcher[ws[0]][0] = "/mutated"
	if got := m.PathsByWatcher()[ws[0]][0]; got != "/" {
		t.Errorf("dump aliases internal state: %q", got)
	}
}

// TestTriggerDoesNotAllocateOnMiss guards the cost of the common case: most
// writes hit nodes nobody watches.
func TestTriggerDoesNotAllocateOnMiss(t *testing.T) {
	ws := recorders(2)
	tests := []struct {
		name    string
		watches []reg
		path    string
		typ     int32
	}{
		{"empty manager", nil, "/a/b/c", proto.EventNodeDataChanged},
		{"other paths watched", []reg{{0, "/a", Standard}, {1, "/a/b", Persistent}}, "/a/b/c", proto.EventNodeDataChanged},
		{"ancestor walk finds nothing", []reg{{0, "/x", PersistentRecursive}, {1, "/a/b", Standard}}, "/a/b/c/d/e", proto.EventNodeCreated},
		{"only recursive watch, children event", []reg{{0, "/a", PersistentRecursive}}, "/a", proto.EventNodeChildrenChanged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager()
			addAll(t, m, ws, tc.watches)
			allocs := testing.AllocsPerRun(100, func() {
				if m.Trigger(tc.path, tc.typ, 1, nil, nil) != nil {
					t.Fatal("unexpected match")
				}
			})
			if allocs != 0 {
				t.Fatalf("Trigger allocated %v times per call, want 0", allocs)
			}
		})
	}
}

// rearmer sets its watch again from inside Process, as a client does: this
// must not deadlock, because Process runs without the Manager's lock.
type rearmer struct {
	m     *Manager
	calls int
}

func (r *rearmer) Process(ev Event) {
	r.calls++
	r.m.Add(ev.Path, r, Standard)
}

func TestProcessMayCallBack(t *testing.T) {
	m := NewManager()
	r := &rearmer{m: m}
	m.Add("/a", r, Standard)
	m.Trigger("/a", proto.EventNodeDataChanged, 1, nil, nil)
	m.Trigger("/a", proto.EventNodeDataChanged, 2, nil, nil)
	if r.calls != 2 {
		t.Fatalf("Process called %d times, want 2", r.calls)
	}
	if _, ok := m.Has("/a", r); !ok {
		t.Fatal("re-armed watch missing")
	}
	checkInvariants(t, m)
}

// closingWatcher is a StaleWatcher whose connection can be closed.
type closingWatcher struct {
	recorder
	closed bool
}

func (c *closingWatcher) Stale() bool { return c.closed }

// TestStaleWatcherGetsNoWatches covers a read that was in flight while its
// connection closed: its watch must not outlive RemoveWatcher.
func TestStaleWatcherGetsNoWatches(t *testing.T) {
	m := NewManager()
	w := &closingWatcher{}
	if !m.Add("/a", w, Standard) {
		t.Fatal("Add for a live watcher = false")
	}
	w.closed = true
	m.RemoveWatcher(w)
	for _, mode := range modes {
		if m.Add("/b", w, mode) {
			t.Fatalf("Add(%v) for a stale watcher = true", mode)
		}
	}
	checkEmpty(t, m)
}

// sliceWatcher is not comparable: using it as a map key would panic.
type sliceWatcher []int

func (sliceWatcher) Process(Event) {}

func TestUnusableInputIsRejected(t *testing.T) {
	ws := recorders(1)
	m := NewManager()
	bad := []struct {
		name string
		w    Watcher
		mode Mode
	}{
		{"nil watcher", nil, Standard},
		{"non-comparable watcher", sliceWatcher{1}, Standard},
		{"negative mode", ws[0], Mode(-1)},
		{"mode out of range", ws[0], Mode(numModes)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if m.Add("/a", tc.w, tc.mode) {
				t.Fatal("Add = true")
			}
			if _, ok := m.Has("/a", tc.w); ok {
				t.Fatal("Has = true")
			}
			if m.Remove("/a", tc.w, tc.mode) {
				t.Fatal("Remove = true")
			}
			if _, ok := m.RemoveAnyMode("/a", tc.w); ok {
				t.Fatal("RemoveAnyMode = true")
			}
			m.RemoveWatcher(tc.w)
			if Set(nil).Contains(tc.w) {
				t.Fatal("nil Set Contains = true")
			}
			if tc.w != ws[0] && (Set{ws[0]: {}}).Contains(tc.w) {
				t.Fatal("Set Contains a watcher it does not hold")
			}
			checkEmpty(t, m)
		})
	}
	// Paths are the caller's to validate, but odd ones must not break Trigger.
	m.Add("/", ws[0], PersistentRecursive)
	for _, p := range []string{"", "a", "a/b", "/a/", "//", "/a//b"} {
		got := m.Trigger(p, proto.EventNodeCreated, 1, nil, nil)
		wantHit := strings.HasPrefix(p, "/")
		if (got.Len() == 1) != wantHit {
			t.Errorf("Trigger(%q) matched %d; want root match = %v", p, got.Len(), wantHit)
		}
	}
}

func TestModeFromAddWatch(t *testing.T) {
	tests := []struct {
		in   int32
		want Mode
		err  bool
	}{
		{proto.AddWatchPersistent, Persistent, false},
		{proto.AddWatchPersistentRecursive, PersistentRecursive, false},
		{2, 0, true},
		{-1, 0, true},
	}
	for _, tc := range tests {
		got, err := ModeFromAddWatch(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ModeFromAddWatch(%d) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprint(tc.in)) {
			t.Errorf("error %q does not name the bad mode", err)
		}
	}
	for mode, want := range map[Mode]string{Standard: "standard", Persistent: "persistent", PersistentRecursive: "persistent_recursive", 9: "Mode(9)"} {
		if got := mode.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(mode), got, want)
		}
	}
}

// TestAgainstModel runs random operations against a Manager and a naive
// model of ZooKeeper 3.8's rules, and compares deliveries and state.
func TestAgainstModel(t *testing.T) {
	paths := []string{"/", "/a", "/a/b", "/a/b/c", "/a/bc", "/b", "/b/a"}
	types := []int32{proto.EventNodeCreated, proto.EventNodeDeleted, proto.EventNodeDataChanged, proto.EventNodeChildrenChanged}
	ws := recorders(20) // 20 watchers on one path crosses the index threshold
	rng := rand.New(rand.NewPCG(1, 2))
	m := NewManager()
	type key struct {
		w    int
		path string
	}
	model := make(map[key]Mode)

	for step := range 20000 {
		w := rng.IntN(len(ws))
		p := paths[rng.IntN(len(paths))]
		mode := modes[rng.IntN(numModes)]
		switch op := rng.IntN(10); {
		case op < 5:
			_, had := model[key{w, p}]
			if got := m.Add(p, ws[w], mode); got == had {
				t.Fatalf("step %d: Add(w%d, %s, %v) = %v, had = %v", step, w, p, mode, got, had)
			}
			model[key{w, p}] = mode
		case op < 6:
			cur, had := model[key{w, p}]
			want := had && cur == mode
			if got := m.Remove(p, ws[w], mode); got != want {
				t.Fatalf("step %d: Remove = %v, want %v", step, got, want)
			}
			if want {
				delete(model, key{w, p})
			}
		case op < 7 && rng.IntN(10) == 0:
			m.RemoveWatcher(ws[w])
			for k := range model {
				if k.w == w {
					delete(model, k)
				}
			}
		default:
			typ := types[rng.IntN(len(types))]
			var suppress Set
			if rng.IntN(4) == 0 {
				suppress = Set{ws[w]: {}}
			}
			wantMatched := make(map[int]bool)
			for k, mode := range model {
				exact := k.path == p
				below := k.path == "/" || p == k.path || strings.HasPrefix(p, k.path+"/")
				switch {
				case mode == PersistentRecursive && below && typ != proto.EventNodeChildrenChanged:
					wantMatched[k.w] = true
				case mode != PersistentRecursive && exact:
					wantMatched[k.w] = true
					if mode == Standard {
						delete(model, k)
					}
				}
			}
			got := m.Trigger(p, typ, int64(step), nil, suppress)
			if got.Len() != len(wantMatched) {
				t.Fatalf("step %d: Trigger(%s, %d) matched %d, want %d", step, p, typ, got.Len(), len(wantMatched))
			}
			for i, r := range ws {
				evs := r.take()
				want := 0
				if wantMatched[i] && !suppress.Contains(r) {
					want = 1
				}
				if len(evs) != want || (want == 1 && (evs[0].Path != p || evs[0].Type != typ)) {
					t.Fatalf("step %d: w%d got %v, want %d event(s)", step, i, evs, want)
				}
			}
		}
		if step%500 == 0 {
			checkInvariants(t, m)
		}
	}
	checkInvariants(t, m)
	var want []reg
	for k, mode := range model {
		want = append(want, reg{k.w, k.path, mode})
	}
	if got := watches(m, ws); !slices.Equal(got, sortedRegs(want)) {
		t.Fatalf("final watches differ from model:\n got %v\nwant %v", got, sortedRegs(want))
	}
}

// countingWatcher is safe for concurrent Process calls.
type countingWatcher struct {
	mu sync.Mutex
	n  int
}

func (c *countingWatcher) Process(Event) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func TestConcurrentUse(t *testing.T) {
	m := NewManager()
	const workers = 8
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			mine := make([]*countingWatcher, 4)
			for i := range mine {
				mine[i] = &countingWatcher{}
			}
			for i := range 3000 {
				w := mine[rng.IntN(len(mine))]
				p := fmt.Sprintf("/n%d/c%d", rng.IntN(5), rng.IntN(5))
				switch rng.IntN(8) {
				case 0, 1, 2:
					m.Add(p, w, modes[rng.IntN(numModes)])
				case 3, 4, 5:
					m.Trigger(p, proto.EventNodeDataChanged, int64(i), nil, nil)
				case 6:
					m.Remove(p, w, Standard)
				default:
					if i%50 == 0 {
						m.RemoveWatcher(w)
						m.Stats()
						m.WatchersByPath()
						m.PathsByWatcher()
					}
				}
			}
			for _, w := range mine {
				m.RemoveWatcher(w)
			}
		}()
	}
	wg.Wait()
	checkEmpty(t, m)
}
