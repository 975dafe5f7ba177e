package watch

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

type nopWatcher struct{ _ byte } // non-zero size: distinct pointers

func (*nopWatcher) Process(Event) {}

// loaded returns a Manager with 10k watchers and 100k watches: each watcher
// watches 10 nodes /app/<i%100>/node<i*10+j>, 1 in 5 of them persistently.
func loaded(tb testing.TB) (*Manager, []*nopWatcher, []string) {
	tb.Helper()
	m := NewManager()
	ws := make([]*nopWatcher, 10_000)
	var paths []string
	for i := range ws {
		ws[i] = &nopWatcher{}
		for j := range 10 {
			p := fmt.Sprintf("/app/%d/node%d", i%100, i*10+j)
			mode := Standard
			if j%5 == 0 {
				mode = Persistent
			}
			m.Add(p, ws[i], mode)
			paths = append(paths, p)
		}
	}
	if n := m.Count(); n != 100_000 {
		tb.Fatalf("Count = %d", n)
	}
	return m, ws, paths
}

func BenchmarkTrigger(b *testing.B) {
	m, ws, paths := loaded(b)

	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Trigger("/app/7/unwatched", proto.EventNodeDataChanged, 1, nil, nil)
		}
	})
	b.Run("persistent-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Trigger(paths[0], proto.EventNodeDataChanged, 1, nil, nil)
		}
	})
	b.Run("standard-hit-and-rearm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Trigger(paths[1], proto.EventNodeDataChanged, 1, nil, nil)
			m.Add(paths[1], ws[0], Standard)
		}
	})

	// With recursive watches set, every event walks its ancestors.
	for i := range 100 {
		m.Add(fmt.Sprintf("/other/%d", i), ws[i], PersistentRecursive)
	}
	b.Run("miss-with-recursive-watches", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Trigger("/app/7/unwatched/a/b/c", proto.EventNodeDataChanged, 1, nil, nil)
		}
	})
	m.Add("/app", ws[0], PersistentRecursive)
	b.Run("recursive-hit-3-levels-up", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Trigger("/app/7/x/y", proto.EventNodeCreated, 1, nil, nil)
		}
	})
}

// BenchmarkMemory reports the heap cost of one watch in the loaded Manager.
func BenchmarkMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m, ws, paths := loaded(b)
		runtime.GC()
		runtime.ReadMemStats(&after)
		// The watchers and the path strings are the caller's; do not count them.
		own := int64(len(ws))*8 + int64(len(paths))*(16+24)
		b.ReportMetric(float64(int64(after.HeapAlloc-before.HeapAlloc)-own)/float64(m.Count()), "B/watch")
		runtime.KeepAlive(m)
		runtime.KeepAlive(ws)
		runtime.KeepAlive(paths)
	}
}
