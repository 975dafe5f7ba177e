package gctuner

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name           string
		live, headroom uint64
		want           int
	}{
		{"no collection yet", 0, 16 * mib, MaxPercent},
		{"heap below headroom keeps Go's default", 8 * mib, 16 * mib, MaxPercent},
		{"heap equal to headroom", 16 * mib, 16 * mib, 100},
		{"heap twice the headroom", 32 * mib, 16 * mib, 50},
		{"100k znodes", 40 * mib, 16 * mib, 40},
		{"large tree hits the floor", 1024 * mib, 16 * mib, MinPercent},
		{"floor, exactly", 160 * mib, 16 * mib, MinPercent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.live, tc.headroom); got != tc.want {
				t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
			}
		})
	}
}

func TestHeadroom(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name      string
		allocated uint64
		elapsed   time.Duration
		want      uint64
	}{
		{"first look", 500 * mib, 0, 16 * mib},
		{"idle", 0, time.Second, 16 * mib},
		{"light load stays at the floor", 8 * mib, time.Second, 16 * mib},
		{"a second of heavy load", 40 * mib, time.Second, 40 * mib},
		{"rate, not amount", 40 * mib, 2 * time.Second, 20 * mib},
		{"short interval", 10 * mib, 100 * time.Millisecond, 100 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Headroom(16*mib, tc.allocated, tc.elapsed); got != tc.want {
				t.Errorf("Headroom(16 MiB, %d, %v) = %d, want %d", tc.allocated, tc.elapsed, got, tc.want)
			}
		})
	}
}

func TestWorthChanging(t *testing.T) {
	for _, tc := range []struct {
		cur, next int
		want      bool
	}{
		{100, 100, false},
		{100, 95, false}, // less than a tenth: not worth a stop-the-world
		{100, 90, true},
		{40, 37, false},
		{40, 36, true},
		{11, MinPercent, true}, // the bounds are always reached
		{95, MaxPercent, true},
	} {
		if got := worthChanging(tc.cur, tc.next); got != tc.want {
			t.Errorf("worthChanging(%d, %d) = %v, want %v", tc.cur, tc.next, got, tc.want)
		}
	}
}

func TestEnvironmentWins(t *testing.T) {
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		tu, err := New(Options{Getenv: func(k string) string {
			if k == v {
				return "50"
			}
			return ""
		}, Logger: zerolog.Nop()})
		if err != nil || tu != nil {
			t.Errorf("with %s set: New = %v, %v; want no tuner", v, tu, err)
		}
	}
}

func gogc(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// TestTunerFollowsLiveHeap runs the service over a live heap several
// times the headroom and checks that GOGC comes down to match it, and
// that stopping restores what was set before.
func TestTunerFollowsLiveHeap(t *testing.T) {
	before := debug.SetGCPercent(77)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	const headroom = 1 << 20
	live := make([][]byte, 0, 64)
	for range 64 {
		live = append(live, make([]byte, 64<<10)) // 4 MiB kept live: GOGC 25
	}
	runtime.GC()

	reg := prometheus.NewPedanticRegistry()
	tu, err := New(Options{Headroom: headroom, Interval: 10 * time.Millisecond,
		Getenv: func(string) string { return "" }, Logger: zerolog.Nop(), Registerer: reg})
	if err != nil || tu == nil {
		t.Fatalf("New = %v, %v", tu, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := services.StartAndAwaitRunning(ctx, tu); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for gogc(t) > 30 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if got := gogc(t); got > 30 || got < MinPercent {
		t.Errorf("GOGC with a 4 MiB live heap and 1 MiB headroom = %d, want about 25", got)
	}
	if n := testutil.ToFloat64(tu.adjustments); n < 1 {
		t.Errorf("zkd_gc_tuner_adjustments_total = %v, want at least 1", n)
	}
	if goal := testutil.ToFloat64(tu.heapGoal); goal < 4<<20 || goal > 8<<20 {
		t.Errorf("zkd_gc_heap_goal_bytes = %v, want a little above the 4 MiB live heap", goal)
	}
	if h := testutil.ToFloat64(tu.inUse); h < 512<<10 || h > 2<<20 {
		t.Errorf("zkd_gc_headroom_bytes = %v, want about the 1 MiB configured", h)
	}

	// Allocating fast, the heap gets a second of garbage as headroom: far
	// more than 1 MiB here, so GOGC goes up to Go's default.
	var sink []byte
	deadline = time.Now().Add(5 * time.Second)
	for gogc(t) < MaxPercent && time.Now().Before(deadline) {
		for range 1000 {
			sink = make([]byte, 64<<10)
		}
		time.Sleep(time.Millisecond)
	}
	runtime.KeepAlive(sink)
	if got := gogc(t); got != MaxPercent {
		t.Errorf("GOGC while allocating hundreds of MiB a second = %d, want %d", got, MaxPercent)
	}
	// Idle again, it goes back down.
	deadline = time.Now().Add(5 * time.Second)
	for gogc(t) > 30 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	if got := gogc(t); got > 30 {
		t.Errorf("GOGC once idle again = %d, want about 25", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	runtime.KeepAlive(live)

	if err := services.StopAndAwaitTerminated(ctx, tu); err != nil {
		t.Fatal(err)
	}
	if got := gogc(t); got != 77 {
		t.Errorf("GOGC after stopping = %d, want the 77 set before", got)
	}
}
