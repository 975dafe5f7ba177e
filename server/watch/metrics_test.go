package watch

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/proto"
)

func TestNewMetrics(t *testing.T) {
	m, err := NewMetrics(nil)
	if m != nil || err != nil {
		t.Fatalf("NewMetrics(nil) = %v, %v; want nil, nil", m, err)
	}
	reg := prometheus.NewPedanticRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	_, err = NewMetrics(reg)
	if err == nil || !strings.Contains(err.Error(), "register watch metrics") {
		t.Fatalf("second registration: err = %v, want a registration error", err)
	}
	// A nil *Metrics is valid for a Manager.
	mgr := NewManagerWithMetrics(KindChild, nil)
	w := &recorder{}
	mgr.Add("/a", w, Standard)
	mgr.Trigger("/a", proto.EventNodeChildrenChanged, 1, nil, nil)
	if len(w.take()) != 1 {
		t.Fatal("manager without metrics did not deliver")
	}
}

// TestMetrics follows a data and a child Manager sharing one Metrics, as a
// tree has them, through adds, triggers and removals.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	data := NewManagerWithMetrics(KindData, metrics)
	child := NewManagerWithMetrics(KindChild, metrics)
	a, b, c := &recorder{name: "a"}, &recorder{name: "b"}, &recorder{name: "c"}

	data.Add("/x", a, Standard)
	data.Add("/y", a, Standard)
	child.Add("/x", b, Standard)
	for _, m := range []*Manager{data, child} { // addWatch puts persistent watches in both
		m.Add("/p", c, Persistent)
		m.Add("/", c, PersistentRecursive)
	}
	data.Add("/y", a, Persistent) // mode change: standard_data -1, persistent +1

	steps := []struct {
		name string
		do   func()
		want map[string]float64 // gauge by kind, counter by type
	}{
		{
			name: "after adds",
			do:   func() {},
			want: map[string]float64{
				"standard_data": 1, "standard_child": 1, "persistent": 3, "persistent_recursive": 2,
				"created": 0, "deleted": 0, "data_changed": 0, "children_changed": 0,
			},
		},
		{
			// a's standard watch fires, c's recursive watch on / fires.
			name: "data change on /x",
			do:   func() { data.Trigger("/x", proto.EventNodeDataChanged, 1, nil, nil) },
			want: map[string]float64{"standard_data": 0, "data_changed": 2},
		},
		{
			// Delete of /x: the data Manager matches only c (recursive on
			// /); the child Manager matches b and c, with c suppressed.
			// So c gets one NodeDeleted and b one: two deliveries.
			name: "delete /x with suppress",
			do: func() {
				s := data.Trigger("/x", proto.EventNodeDeleted, 2, nil, nil)
				child.Trigger("/x", proto.EventNodeDeleted, 2, nil, s)
			},
			want: map[string]float64{"standard_child": 0, "deleted": 2},
		},
		{
			name: "children changed skips recursive watches",
			do:   func() { child.Trigger("/p", proto.EventNodeChildrenChanged, 3, nil, nil) },
			want: map[string]float64{"children_changed": 1, "persistent": 3},
		},
		{
			name: "event types without a label are delivered but not counted",
			do:   func() { data.Trigger("/p", proto.EventPersistentWatchRemoved, 4, nil, nil) },
			want: map[string]float64{"created": 0, "deleted": 2, "data_changed": 2, "children_changed": 1},
		},
		{
			name: "connection closes",
			do: func() {
				data.RemoveWatcher(c)
				child.RemoveWatcher(c)
			},
			want: map[string]float64{"persistent": 1, "persistent_recursive": 0},
		},
		{
			name: "remove and clear",
			do: func() {
				data.Add("/z", b, PersistentRecursive)
				data.Remove("/y", a, Persistent)
				child.Add("/q", a, Standard)
				child.Clear()
			},
			want: map[string]float64{
				"standard_data": 0, "standard_child": 0, "persistent": 0, "persistent_recursive": 1,
				"created": 0, "deleted": 2, "data_changed": 2, "children_changed": 1,
			},
		},
	}
	for _, s := range steps {
		s.do()
		for label, want := range s.want {
			var got float64
			switch label {
			case "standard_data", "standard_child", "persistent", "persistent_recursive":
				got = testutil.ToFloat64(metrics.watches.WithLabelValues(label))
			default:
				got = testutil.ToFloat64(metrics.fired.WithLabelValues(label))
			}
			if got != want {
				t.Errorf("%s: %s = %v, want %v", s.name, label, got, want)
			}
		}
	}
	if n := testutil.CollectAndCount(reg); n != 8 {
		t.Errorf("registry exposes %d series, want 8 (4 kinds, 4 types)", n)
	}
	// Anything promlint finds is a defect.
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	// The gauges agree with the Managers' own counts.
	dataModes, childModes := data.CountByMode(), child.CountByMode()
	if got := testutil.ToFloat64(metrics.watches.WithLabelValues("persistent_recursive")); got != float64(dataModes[PersistentRecursive]+childModes[PersistentRecursive]) {
		t.Errorf("persistent_recursive gauge %v disagrees with managers %v / %v", got, dataModes, childModes)
	}

	const exposition = `
# HELP zkd_watch_active Watches currently set, by kind (standard_data, standard_child, persistent, persistent_recursive).
# TYPE zkd_watch_active gauge
zkd_watch_active{kind="persistent"} 0
zkd_watch_active{kind="persistent_recursive"} 1
zkd_watch_active{kind="standard_child"} 0
zkd_watch_active{kind="standard_data"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exposition), "zkd_watch_active"); err != nil {
		t.Error(err)
	}
}
