package zkserver

import (
	"sync"
	"sync/atomic"
)

// serverStats are the resettable counters srvr, stat and mntr print
// (ZooKeeper's ServerStats): latencies in milliseconds since the last srst.
type serverStats struct {
	mu              sync.Mutex
	minLatency      int64
	maxLatency      int64
	totalLatency    int64
	count           int64
	packetsReceived atomic.Int64
	packetsSent     atomic.Int64
}

func (st *serverStats) reset() {
	st.mu.Lock()
	st.minLatency, st.maxLatency, st.totalLatency, st.count = -1, 0, 0, 0
	st.mu.Unlock()
	st.packetsReceived.Store(0)
	st.packetsSent.Store(0)
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
