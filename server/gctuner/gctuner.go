// Package gctuner bounds how much garbage the Go heap may hold before a
// collection, so that a server with a large znode tree does not need
// twice the tree's size in memory.
//
// Go's default, GOGC=100, lets the heap grow to twice its live size before
// the next collection. A ZooKeeper server's live heap is mostly its tree,
// which can be gigabytes, while the garbage comes from requests: the room
// it needs follows the request rate, not the tree size. The tuner
// therefore keeps the heap goal at the live heap plus a headroom, which is
// what an operator sizing a JVM's -Xmx above its data does by hand: the
// configured headroom, or a second of garbage at the rate the last
// interval allocated, whichever is larger. The configured amount keeps an
// idle or lightly loaded server small; under a heavy write load, the
// second of garbage keeps collections to about one a second, each of
// which marks the whole tree (with a fixed 16 MiB, a 60 MiB tree taking
// 9 000 creates a second was marked four times a second, a fifth of the
// leader's CPU). Small trees keep Go's default of 100; large ones get a
// GOGC down to a floor that bounds the cost of collecting (at the floor,
// each collection frees at least a tenth of the live heap's size).
//
// An operator who set GOGC or GOMEMLIMIT chose a policy; the tuner then
// stays off.
package gctuner

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Defaults.
const (
	// DefaultHeadroom leaves room for about a second of garbage at tens of
	// thousands of requests per second.
	DefaultHeadroom = 16 << 20
	// MinPercent is the floor: below it a large heap would be marked over
	// and over for little freed memory.
	MinPercent = 10
	// MaxPercent is Go's default, kept for heaps smaller than the
	// headroom.
	MaxPercent = 100
	// DefaultInterval is how often the live heap is looked at. The live
	// heap changes as the tree does, slowly next to this.
	DefaultInterval = time.Second
)

// GarbageWindow is how much of the current allocation rate the headroom
// holds at least: a second of garbage.
const GarbageWindow = time.Second

// Headroom is the headroom for a heap that allocated allocated bytes in
// elapsed: floor, or GarbageWindow's worth of garbage at that rate if it
// is more. A zero elapsed (no earlier reading) gives floor.
func Headroom(floor, allocated uint64, elapsed time.Duration) uint64 {
	if elapsed <= 0 {
		return floor
	}
	window := uint64(float64(allocated) * GarbageWindow.Seconds() / elapsed.Seconds())
	return max(floor, window)
}

// Percent is the GOGC value that makes the heap goal live+headroom,
// between MinPercent and MaxPercent. A live heap of zero (no collection
// yet) gets MaxPercent.
func Percent(live, headroom uint64) int {
	if live == 0 {
		return MaxPercent
	}
	p := headroom * 100 / live
	return int(min(max(p, MinPercent), MaxPercent))
}

// worthChanging reports whether moving GOGC from cur to next is worth a
// SetGCPercent, which stops the world: only changes of a tenth or more
// (and any change to or from the bounds) are made.
func worthChanging(cur, next int) bool {
	if cur == next {
		return false
	}
	if next == MinPercent || next == MaxPercent {
		return true
	}
	d := max(cur-next, next-cur)
	return d*10 >= cur
}

// Options configure New.
type Options struct {
	// Headroom is the garbage, in bytes, the heap may hold above its live
	// size before a collection; 0 means DefaultHeadroom.
	Headroom uint64
	// Interval between looks at the live heap; 0 means DefaultInterval.
	Interval time.Duration
	// Getenv reads the environment (os.Getenv when nil); tests replace it.
	Getenv     func(string) string
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
}

// Tuner is a dskit service that adjusts GOGC while it runs and restores
// the previous value when it stops.
type Tuner struct {
	services.Service

	headroom uint64 // the floor (Options.Headroom)
	log      zerolog.Logger
	sample   []metrics.Sample // live heap, bytes allocated so far
	percent  int              // what the tuner last set
	previous int              // GOGC before the tuner started
	// allocated and at are the allocation counter's last reading and
	// when it was taken.
	allocated uint64
	at        time.Time

	adjustments prometheus.Counter
	heapGoal    prometheus.Gauge
	inUse       prometheus.Gauge
}

// New returns a tuner, or nil when the environment sets GOGC or
// GOMEMLIMIT (the operator's policy wins; the reason is logged).
func New(opts Options) (*Tuner, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		if getenv(v) != "" {
			opts.Logger.Info().Str("variable", v).Msg("garbage collection tuned by the environment; zkd leaves GOGC alone")
			return nil, nil
		}
	}
	t := &Tuner{
		headroom: opts.Headroom,
		log:      opts.Logger,
		sample:   []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}},
		adjustments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_gc_tuner_adjustments_total",
			Help: "Times zkd changed GOGC to keep the heap goal at the live heap plus its headroom (zkd_gc_headroom_bytes; go_gc_gogc_percent shows the value).",
		}),
		heapGoal: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_gc_heap_goal_bytes",
			Help: "The heap size at which the next collection is due under the GOGC zkd set: live heap times (1 + GOGC/100).",
		}),
		inUse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_gc_headroom_bytes",
			Help: "The garbage the heap may hold above its live size under the GOGC zkd set: zkd.gc.headroomMB, or a second of garbage at the current allocation rate if that is more, kept between 10% and 100% of the live heap.",
		}),
	}
	if t.headroom == 0 {
		t.headroom = DefaultHeadroom
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{t.adjustments, t.heapGoal, t.inUse} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("gctuner: register metrics: %w", err)
			}
		}
	}
	t.Service = services.NewTimerService(interval, t.starting, t.iteration, t.stopping)
	return t, nil
}

func (t *Tuner) starting(context.Context) error {
	t.previous = debug.SetGCPercent(MaxPercent)
	t.percent = MaxPercent
	t.tune()
	return nil
}

func (t *Tuner) iteration(context.Context) error {
	t.tune()
	return nil
}

func (t *Tuner) stopping(error) error {
	debug.SetGCPercent(t.previous)
	return nil
}

// tune reads the live heap the last collection found and the bytes
// allocated since the last look, and sets GOGC for them.
func (t *Tuner) tune() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 || t.sample[1].Value.Kind() != metrics.KindUint64 {
		return // not provided by this Go version: leave GOGC alone
	}
	live, allocated := t.sample[0].Value.Uint64(), t.sample[1].Value.Uint64()
	now := time.Now()
	var elapsed time.Duration
	if !t.at.IsZero() {
		elapsed = now.Sub(t.at)
	}
	headroom := Headroom(t.headroom, allocated-t.allocated, elapsed)
	t.allocated, t.at = allocated, now
	next := Percent(live, headroom)
	if worthChanging(t.percent, next) {
		debug.SetGCPercent(next)
		t.log.Debug().Uint64("live_heap_bytes", live).Uint64("headroom_bytes", headroom).Int("from", t.percent).Int("to", next).Msg("GOGC adjusted")
		t.percent = next
		t.adjustments.Inc()
	}
	inUse := live * uint64(t.percent) / 100
	t.inUse.Set(float64(inUse))
	t.heapGoal.Set(float64(live + inUse))
}
