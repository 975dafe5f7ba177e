package zkserver

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/proto"
)

// testThrottler builds a request throttler on a manual clock.
func testThrottler(t *testing.T, opts RequestThrottleOptions) (*requestThrottler, *manualClock, *serverStats) {
	t.Helper()
	if err := opts.validate(); err != nil {
		t.Fatal(err)
	}
	clk := newManualClock()
	st := &serverStats{}
	st.reset()
	return newRequestThrottler(opts, clk, NewMetrics(nil), st, zerolog.Nop()), clk, st
}

// client is one request's connection in these tests: close(gone) is its
// connection going away.
type client struct {
	gone chan struct{}
}

func newClient() *client { return &client{gone: make(chan struct{})} }

func (c *client) req(clk *manualClock, op proto.Op, timeout time.Duration) *throttledRequest {
	return &throttledRequest{op: op, created: clk.Now(), timeout: timeout, gone: c.gone}
}

// acquireAsync starts acquire in a goroutine and returns its verdict's
// channel.
func acquireAsync(t *throttledRequest, th *requestThrottler) <-chan admission {
	ch := make(chan admission, 1)
	go func() { ch <- th.acquire(t) }()
	return ch
}

func verdict(t *testing.T, ch <-chan admission) admission {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("acquire did not return")
		return admission{}
	}
}

func stillWaiting(t *testing.T, ch <-chan admission) {
	t.Helper()
	select {
	case a := <-ch:
		t.Fatalf("acquire returned %+v while it should wait", a)
	default:
	}
}

// TestRequestThrottlerWaitsAtMax: with max requests in process a request
// waits, stalling in steps of the stall time, until one finishes; the
// wait is measured on the throttler's clock.
func TestRequestThrottlerWaitsAtMax(t *testing.T) {
	th, clk, st := testThrottler(t, RequestThrottleOptions{MaxRequests: 2, StallTime: 100 * time.Millisecond})
	c := newClient()
	for range 2 {
		if a := th.acquire(c.req(clk, proto.OpGetData, time.Minute)); a != (admission{}) {
			t.Fatalf("below the limit: %+v, want admission at once", a)
		}
	}
	third := acquireAsync(c.req(clk, proto.OpCreate, time.Minute), th)
	waitFor(t, "the waiting request's first stall", func() bool { return clk.armed() == 1 }) // a stall step is a timer
	stillWaiting(t, third)
	if got := testutil.ToFloat64(th.m.RequestThrottleQueued); got != 1 {
		t.Errorf("queued gauge %v, want 1", got)
	}
	// A stall step passes without a free slot: the request stalls again.
	clk.Advance(100 * time.Millisecond)
	waitFor(t, "the second stall", func() bool { return testutil.ToFloat64(th.m.RequestThrottleStalls) == 2 && clk.armed() == 1 })
	stillWaiting(t, third)
	clk.Advance(30 * time.Millisecond)
	th.release() // a request finishes: the waiter is woken before its stall ends
	a := verdict(t, third)
	if a.dropped || a.throttledOp || a.waited != 130*time.Millisecond {
		t.Errorf("verdict %+v, want admitted after 130ms", a)
	}
	if got := th.inProcess.Load(); got != 2 {
		t.Errorf("in process %d, want 2", got)
	}
	for name, got := range map[string]float64{
		"waited":    testutil.ToFloat64(th.m.RequestThrottleWaited),
		"stalls":    testutil.ToFloat64(th.m.RequestThrottleStalls),
		"mntr wait": float64(st.requestThrottleWaits.Load()),
		"in proc":   testutil.ToFloat64(th.m.RequestThrottleInProcess),
		"queued":    testutil.ToFloat64(th.m.RequestThrottleQueued),
		"wait hist": float64(testutil.CollectAndCount(th.m.RequestThrottleWait)),
	} {
		want := map[string]float64{"waited": 1, "stalls": 2, "mntr wait": 2, "in proc": 2, "queued": 0, "wait hist": 1}[name]
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestRequestThrottlerFIFO: waiting requests are admitted in arrival
// order, one per freed slot, and a newcomer queues behind them even while
// a slot is free.
func TestRequestThrottlerFIFO(t *testing.T) {
	th, clk, _ := testThrottler(t, RequestThrottleOptions{MaxRequests: 1})
	c := newClient()
	th.acquire(c.req(clk, proto.OpGetData, 0)) // the one slot
	const n = 6
	waiters := make([]<-chan admission, n)
	for i := range n {
		waiters[i] = acquireAsync(c.req(clk, proto.OpSetData, 0), th)
		waitFor(t, "the request to queue", func() bool { return th.waiting.Load() == int64(i+1) })
	}
	for i := range n {
		th.release() // the previous holder finishes
		verdict(t, waiters[i])
		for j := i + 1; j < n; j++ {
			stillWaiting(t, waiters[j])
		}
	}
	// The last waiter holds the slot now. In the window between a slot
	// freeing and the first waiting request noticing, a newcomer must
	// queue behind it, not take the slot.
	head := acquireAsync(c.req(clk, proto.OpSetData, 0), th)
	waitFor(t, "the first in line to stall", func() bool { return clk.armed() == 1 })
	th.inProcess.Add(-1) // the slot frees; the waiting request has not looked yet
	newcomer := acquireAsync(c.req(clk, proto.OpGetData, 0), th)
	waitFor(t, "the newcomer to queue", func() bool { return th.waiting.Load() == 2 })
	stillWaiting(t, newcomer)
	clk.Advance(DefaultRequestThrottleStallTime) // the first in line looks again: the slot is its
	verdict(t, head)
	waitFor(t, "the newcomer to stall", func() bool { return clk.armed() == 1 })
	stillWaiting(t, newcomer)
	th.release()
	verdict(t, newcomer)
}

// TestRequestThrottlerStale: which waiting requests are dropped, which are
// processed anyway, and what is counted.
func TestRequestThrottlerStale(t *testing.T) {
	tests := []struct {
		name string
		opts RequestThrottleOptions
		op   proto.Op
		// head: the request is first in line (else another waits before
		// it); latency: the request goes stale by outliving its timeout
		// (else by its connection going away).
		head, latency bool
		wantDropped   bool
		wantStale     float64 // stale_requests: processed although stale
	}{
		{name: "head, connection gone", opts: RequestThrottleOptions{MaxRequests: 1}, op: proto.OpGetData, head: true, wantDropped: true},
		{name: "behind another, connection gone", opts: RequestThrottleOptions{MaxRequests: 1}, op: proto.OpCreate, wantDropped: true},
		{name: "drop stale off", opts: RequestThrottleOptions{MaxRequests: 1, KeepStale: true}, op: proto.OpCreate, head: true, wantStale: 1},
		{name: "connection check off", opts: RequestThrottleOptions{MaxRequests: 1, NoStaleConnectionCheck: true}, op: proto.OpCreate, head: true},
		{name: "closeSession is never stale", opts: RequestThrottleOptions{MaxRequests: 1}, op: proto.OpCloseSession, head: true},
		{name: "outlived its session timeout", opts: RequestThrottleOptions{MaxRequests: 1, StaleLatencyCheck: true}, op: proto.OpGetData, head: true, latency: true, wantDropped: true},
		{name: "latency check off", opts: RequestThrottleOptions{MaxRequests: 1}, op: proto.OpGetData, head: true, latency: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, clk, st := testThrottler(t, tt.opts)
			holder := newClient()
			th.acquire(holder.req(clk, proto.OpGetData, 0))
			var before <-chan admission
			if !tt.head {
				before = acquireAsync(holder.req(clk, proto.OpGetData, 0), th)
				waitFor(t, "the first request to queue", func() bool { return th.waiting.Load() == 1 })
			}
			c := newClient()
			ch := acquireAsync(c.req(clk, tt.op, 250*time.Millisecond), th)
			waitFor(t, "the request to queue", func() bool { return th.waiting.Load() == map[bool]int64{true: 1, false: 2}[tt.head] })
			if tt.latency {
				// Three stall steps: 300ms > the 250ms session timeout.
				for i := 1; i <= 3; i++ {
					waitFor(t, "a stall", func() bool {
						return testutil.ToFloat64(th.m.RequestThrottleStalls) == float64(i) && clk.armed() == 1
					})
					clk.Advance(100 * time.Millisecond)
				}
			} else {
				close(c.gone)
			}
			if tt.wantDropped {
				a := verdict(t, ch)
				if !a.dropped {
					t.Fatalf("verdict %+v, want dropped", a)
				}
				if got := th.inProcess.Load(); got != 1 {
					t.Errorf("a dropped request took a slot: in process %d", got)
				}
				if before != nil {
					th.release()
					verdict(t, before)
				}
			} else {
				stillWaiting(t, ch)
				th.release()
				if before != nil {
					verdict(t, before)
					th.release()
				}
				if a := verdict(t, ch); a.dropped {
					t.Fatalf("verdict %+v, want admitted", a)
				}
			}
			wantDrops := map[bool]float64{true: 1, false: 0}[tt.wantDropped]
			if got := testutil.ToFloat64(th.m.StaleDropped); got != wantDrops {
				t.Errorf("stale dropped %v, want %v", got, wantDrops)
			}
			if got := float64(st.staleRequestsDropped.Load()); got != wantDrops {
				t.Errorf("mntr stale_requests_dropped %v, want %v", got, wantDrops)
			}
			if got := testutil.ToFloat64(th.m.StaleRequests); got != tt.wantStale {
				t.Errorf("stale requests %v, want %v", got, tt.wantStale)
			}
			if got := th.waiting.Load(); got != 0 {
				t.Errorf("%d requests still queued", got)
			}
		})
	}
}

// TestRequestThrottlerDropPassesTurn: when the first waiting request is
// dropped, the next one takes its place and is admitted by the next free
// slot.
func TestRequestThrottlerDropPassesTurn(t *testing.T) {
	th, clk, _ := testThrottler(t, RequestThrottleOptions{MaxRequests: 1})
	holder, a, b := newClient(), newClient(), newClient()
	th.acquire(holder.req(clk, proto.OpGetData, 0))
	first := acquireAsync(a.req(clk, proto.OpGetData, 0), th)
	waitFor(t, "a to stall", func() bool { return clk.armed() == 1 })
	second := acquireAsync(b.req(clk, proto.OpGetData, 0), th)
	waitFor(t, "b to queue", func() bool { return th.waiting.Load() == 2 })
	close(a.gone)
	if v := verdict(t, first); !v.dropped {
		t.Fatalf("a: %+v, want dropped", v)
	}
	waitFor(t, "b to stall as the first in line", func() bool { return clk.armed() == 1 && th.waiting.Load() == 1 })
	th.release()
	if v := verdict(t, second); v.dropped {
		t.Fatalf("b: %+v, want admitted", v)
	}
}

// TestRequestThrottlerOff: max requests 0 admits everything at once,
// still counting what is in process and the stale requests processed.
func TestRequestThrottlerOff(t *testing.T) {
	th, clk, st := testThrottler(t, RequestThrottleOptions{})
	c := newClient()
	for range 100 {
		if a := th.acquire(c.req(clk, proto.OpGetData, 0)); a != (admission{}) {
			t.Fatalf("verdict %+v, want admission at once", a)
		}
	}
	close(c.gone)
	if a := th.acquire(c.req(clk, proto.OpGetData, 0)); a.dropped {
		t.Fatalf("a stale request was dropped with the throttle off")
	}
	if got := th.inProcess.Load(); got != 101 {
		t.Errorf("in process %d, want 101", got)
	}
	if got := st.staleRequests.Load(); got != 1 {
		t.Errorf("stale requests %d, want 1", got)
	}
	for range 101 {
		th.release()
	}
	if got := testutil.ToFloat64(th.m.RequestThrottleInProcess); got != 0 {
		t.Errorf("in-process gauge %v after every release", got)
	}
}

// TestThrottledOp: a request that waited longer than
// throttled_op_wait_time is to be answered THROTTLEDOP, unless it is one
// ZooKeeper never throttles.
func TestThrottledOp(t *testing.T) {
	tests := []struct {
		op   proto.Op
		wait time.Duration
		want bool
	}{
		{proto.OpGetData, 200 * time.Millisecond, true},
		{proto.OpCreate, 200 * time.Millisecond, true},
		{proto.OpGetData, 150 * time.Millisecond, false}, // not longer than the limit
		{proto.OpPing, 200 * time.Millisecond, false},
		{proto.OpCloseSession, 200 * time.Millisecond, false},
		{proto.OpCreateSession, 200 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(proto.OpName(tt.op)+"/"+tt.wait.String(), func(t *testing.T) {
			th, clk, _ := testThrottler(t, RequestThrottleOptions{MaxRequests: 1, StallTime: time.Hour, ThrottledOpWaitTime: 150 * time.Millisecond})
			c := newClient()
			th.acquire(c.req(clk, proto.OpGetData, 0))
			ch := acquireAsync(c.req(clk, tt.op, 0), th)
			waitFor(t, "the request to stall", func() bool { return clk.armed() == 1 })
			clk.Advance(tt.wait)
			th.release()
			if a := verdict(t, ch); a.throttledOp != tt.want || a.waited != tt.wait {
				t.Errorf("verdict %+v, want throttledOp %v after %v", a, tt.want, tt.wait)
			}
		})
	}
}

func TestRequestThrottleOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		opts    RequestThrottleOptions
		wantErr bool
		stall   time.Duration
	}{
		{RequestThrottleOptions{}, false, DefaultRequestThrottleStallTime},
		{RequestThrottleOptions{MaxRequests: 5, StallTime: time.Second}, false, time.Second},
		{RequestThrottleOptions{MaxRequests: -1}, true, 0},
		{RequestThrottleOptions{StallTime: -1}, true, 0},
		{RequestThrottleOptions{ThrottledOpWaitTime: -1}, true, 0},
	} {
		o := tc.opts
		err := o.validate()
		if (err != nil) != tc.wantErr {
			t.Errorf("%+v: err %v, want error %v", tc.opts, err, tc.wantErr)
		}
		if err == nil && o.StallTime != tc.stall {
			t.Errorf("%+v: stall %v, want %v", tc.opts, o.StallTime, tc.stall)
		}
	}
}
