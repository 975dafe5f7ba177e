package zkserver

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/zkd-io/zkd/server/fourlw"
	"github.com/zkd-io/zkd/server/javalang"
)

// serverStats are the resettable counters srvr, stat and mntr print
// (ZooKeeper's ServerStats): latencies in milliseconds since the last srst.
// The throttle counters are the ZooKeeper ServerMetrics that mntr prints
// for them; srst resets them too, as ServerStats.reset resets
// ServerMetrics. The Prometheus counters never reset.
type serverStats struct {
	mu              sync.Mutex
	minLatency      int64
	maxLatency      int64
	totalLatency    int64
	count           int64
	packetsReceived atomic.Int64
	packetsSent     atomic.Int64

	// request_throttle_wait_count, stale_requests, stale_requests_dropped,
	// stale_replies and throttled_ops.
	requestThrottleWaits atomic.Int64
	staleRequests        atomic.Int64
	staleRequestsDropped atomic.Int64
	staleReplies         atomic.Int64
	throttledOps         atomic.Int64
	// connection_request_count, connection_rejected and the
	// connection_token_deficit summary.
	connectionRequests atomic.Int64
	connectionRejected atomic.Int64
	tokenDeficit       avgMinMax
}

func (st *serverStats) reset() {
	st.mu.Lock()
	st.minLatency, st.maxLatency, st.totalLatency, st.count = -1, 0, 0, 0
	st.mu.Unlock()
	st.packetsReceived.Store(0)
	st.packetsSent.Store(0)
	for _, c := range []*atomic.Int64{&st.requestThrottleWaits, &st.staleRequests, &st.staleRequestsDropped,
		&st.staleReplies, &st.throttledOps, &st.connectionRequests, &st.connectionRejected} {
		c.Store(0)
	}
	st.tokenDeficit.reset()
}

func (st *serverStats) recordLatency(ms int64) {
	st.mu.Lock()
	if st.minLatency == -1 || ms < st.minLatency {
		st.minLatency = ms
	}
	if ms > st.maxLatency {
		st.maxLatency = ms
	}
	st.totalLatency += ms
	st.count++
	st.mu.Unlock()
}

// latency returns min/avg/max in ms as ZooKeeper prints them (0 when no
// request was answered yet).
func (st *serverStats) latency() (minMs int64, avgMs float64, maxMs int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.count == 0 {
		return 0, 0, 0
	}
	return st.minLatency, float64(st.totalLatency) / float64(st.count), st.maxLatency
}

// monitor returns the throttles' mntr keys, named and formatted as
// ZooKeeper 3.8's metrics provider prints its counters and summaries, and
// in the order it prints them (the iteration order of its hash map of
// counters, then the summaries; the Apache comparison tests of package
// admin check it).
func (st *serverStats) monitor() []fourlw.KV {
	kv := func(key string, v int64) fourlw.KV {
		return fourlw.KV{Key: "zk_" + key, Value: strconv.FormatInt(v, 10)}
	}
	out := []fourlw.KV{
		kv("throttled_ops", st.throttledOps.Load()),
		kv("stale_requests_dropped", st.staleRequestsDropped.Load()),
		kv("connection_rejected", st.connectionRejected.Load()),
		kv("stale_requests", st.staleRequests.Load()),
		kv("request_throttle_wait_count", st.requestThrottleWaits.Load()),
		kv("stale_replies", st.staleReplies.Load()),
		kv("connection_request_count", st.connectionRequests.Load()),
	}
	return append(out, st.tokenDeficit.monitor("connection_token_deficit")...)
}

// avgMinMax is ZooKeeper's AvgMinMaxCounter, a summary mntr prints as
// avg_, min_, max_, cnt_ and sum_<name>.
type avgMinMax struct {
	mu                     sync.Mutex
	count, total, min, max int64
	set                    bool
}

func (a *avgMinMax) add(v int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.set || v < a.min {
		a.min = v
	}
	if !a.set || v > a.max {
		a.max = v
	}
	a.set = true
	a.count++
	a.total += v
}

func (a *avgMinMax) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.count, a.total, a.min, a.max, a.set = 0, 0, 0, 0, false
}

// monitor renders the summary's five mntr keys; with no data point the
// average, minimum and maximum are 0, as in ZooKeeper.
func (a *avgMinMax) monitor(name string) []fourlw.KV {
	a.mu.Lock()
	count, total, lo, hi := a.count, a.total, a.min, a.max
	a.mu.Unlock()
	avg := 0.0
	if count > 0 {
		avg = javalang.RoundHalfUp(float64(total)/float64(count), 4)
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return []fourlw.KV{
		{Key: "zk_avg_" + name, Value: javalang.FormatDouble(avg)},
		{Key: "zk_min_" + name, Value: i(lo)},
		{Key: "zk_max_" + name, Value: i(hi)},
		{Key: "zk_cnt_" + name, Value: i(count)},
		{Key: "zk_sum_" + name, Value: i(total)},
	}
}
