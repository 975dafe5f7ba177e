package zkserver

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// DefaultRequestThrottleStallTime is ZooKeeper's request_throttle_stall_time.
const DefaultRequestThrottleStallTime = 100 * time.Millisecond

// RequestThrottleOptions configure the request throttler, ZooKeeper 3.8's
// RequestThrottler (the system properties zookeeper.request_throttle_*,
// zookeeper.request_stale_* and zookeeper.throttled_op_wait_time). The
// zero value is ZooKeeper's default: off.
//
// globalOutstandingLimit only holds back writes, and only once they were
// read; the request throttler bounds every request a client sent that the
// server is working on (reads, writes, pings, sessions), which bounds the
// memory and the queueing latency of a server with many clients.
type RequestThrottleOptions struct {
	// MaxRequests is request_throttle_max_requests: while this many client
	// requests are in process (admitted and not yet answered), further
	// requests wait, first come first served. 0 turns the throttle off.
	MaxRequests int
	// StallTime is request_throttle_stall_time: the longest the first
	// waiting request sleeps before it looks again whether it may proceed
	// or has gone stale; a request finishing wakes it earlier. 0 takes
	// ZooKeeper's 100 ms.
	StallTime time.Duration
	// KeepStale is request_throttle_drop_stale=false: a request that went
	// stale while it waited is processed anyway. By default (ZooKeeper's
	// true) it is dropped: never applied, never answered, and its
	// connection closed, so none of the client's later requests can
	// overtake it.
	KeepStale bool
	// NoStaleConnectionCheck is request_stale_connection_check=false: a
	// request whose connection closed (or is closing because its session
	// expired) no longer counts as stale.
	NoStaleConnectionCheck bool
	// StaleLatencyCheck is request_stale_latency_check: a request that has
	// been waiting longer than its session timeout is stale too (its
	// client has given up on it).
	StaleLatencyCheck bool
	// ThrottledOpWaitTime is throttled_op_wait_time: a request other than
	// ping, createSession and closeSession that waited longer than this in
	// the throttler is answered THROTTLEDOP instead of being processed, so
	// that an overloaded server sheds work its clients will retry. 0: off.
	ThrottledOpWaitTime time.Duration
}

// validate checks o and fills in ZooKeeper's defaults.
func (o *RequestThrottleOptions) validate() error {
	switch {
	case o.MaxRequests < 0:
		return fmt.Errorf("request throttle: max requests %d is negative", o.MaxRequests)
	case o.StallTime < 0:
		return fmt.Errorf("request throttle: stall time %v is negative", o.StallTime)
	case o.ThrottledOpWaitTime < 0:
		return fmt.Errorf("request throttle: throttled op wait time %v is negative", o.ThrottledOpWaitTime)
	}
	if o.StallTime == 0 {
		o.StallTime = DefaultRequestThrottleStallTime
	}
	return nil
}

// throttledRequest is what the request throttler needs to know about a
// request to admit it or find it stale.
type throttledRequest struct {
	op      proto.Op
	created time.Time     // when it was read
	timeout time.Duration // its session's timeout (for the latency check)
	// gone is closed once the request's connection takes no more replies
	// (closed by the client or the server, or closing after its session
	// expired).
	gone <-chan struct{}
	// queued, if set, is called (by the acquiring goroutine) when the
	// request has to wait, and returns a function called when the wait
	// ends: the server watches the connection meanwhile.
	queued func() (done func())
}

// admission is the request throttler's verdict on one request.
type admission struct {
	// dropped: the request went stale while it waited and must be
	// dropped: not processed, not answered, its connection closed. The
	// request holds no slot.
	dropped bool
	// waited is how long the request was held (0: admitted at once).
	waited time.Duration
	// throttledOp: it waited longer than throttled_op_wait_time and must
	// be answered THROTTLEDOP instead of being processed.
	throttledOp bool
}

// requestThrottler is ZooKeeper's RequestThrottler. Every client request
// except auth packets takes a slot (acquire) before it is processed and
// gives it back once answered (release). While max slots are taken,
// requests queue in arrival order; only the first in line looks for a free
// slot, so nobody overtakes a waiting request, and it sleeps in steps of
// the stall time, woken early whenever a request finishes. A request whose
// connection went away while it waited is dropped (drop stale).
//
// The waiting happens in the reader goroutine of the request's
// connection, which therefore reads nothing more meanwhile: the client's
// later requests wait behind it in its socket and keep their order.
type requestThrottler struct {
	opts  RequestThrottleOptions
	clock clock
	m     *Metrics
	stats *serverStats
	log   zerolog.Logger
	// engagedLog and droppedLog rate-limit the lines for throttling
	// setting in and for stale requests dropped.
	engagedLog, droppedLog *logLimiter

	inProcess atomic.Int64 // slots taken
	waiting   atomic.Int64 // requests queued
	// wake tells the first waiting request that a slot may have come
	// free; one pending signal is enough, as it re-checks under mu.
	wake chan struct{}

	mu    sync.Mutex
	queue []*throttleWaiter // arrival order; queue[0] looks for slots
}

// throttleWaiter is one queued request; turn is closed when it becomes
// the first in line.
type throttleWaiter struct {
	turn chan struct{}
}

func newRequestThrottler(opts RequestThrottleOptions, clk clock, m *Metrics, stats *serverStats, log zerolog.Logger) *requestThrottler {
	return &requestThrottler{
		opts:       opts,
		clock:      clk,
		m:          m,
		stats:      stats,
		log:        log,
		engagedLog: newLogLimiter(10*time.Second, clk.Now),
		droppedLog: newLogLimiter(10*time.Second, clk.Now),
		wake:       make(chan struct{}, 1),
	}
}

// enter takes a slot.
func (t *requestThrottler) enter() {
	t.inProcess.Add(1)
	t.m.RequestThrottleInProcess.Inc()
}

// release gives back the slot of a request that was answered, dropped or
// abandoned, and wakes the first waiting request.
func (t *requestThrottler) release() {
	t.inProcess.Add(-1)
	t.m.RequestThrottleInProcess.Dec()
	// A waiter counts itself in waiting before it looks at inProcess, so
	// either it sees this release or this sees it and wakes it.
	if t.waiting.Load() > 0 {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// acquire admits r: at once while fewer than MaxRequests requests are in
// process and nobody waits, else after its turn in the queue. Unless the
// verdict is dropped, the caller owns a slot and must release it when the
// request is answered.
func (t *requestThrottler) acquire(r *throttledRequest) admission {
	max := int64(t.opts.MaxRequests)
	if max <= 0 {
		// Off: count in-process requests only (for the gauge), and, as
		// ZooKeeper does, the stale ones processed anyway.
		t.enter()
		t.countStale(r)
		return admission{}
	}
	t.mu.Lock()
	if len(t.queue) == 0 && t.inProcess.Load() < max {
		t.enter()
		t.mu.Unlock()
		t.countStale(r)
		return admission{}
	}
	w := &throttleWaiter{turn: make(chan struct{})}
	t.queue = append(t.queue, w)
	t.waiting.Add(1)
	first := len(t.queue) == 1
	if first {
		close(w.turn)
	}
	t.mu.Unlock()
	t.m.RequestThrottleQueued.Inc()
	defer t.m.RequestThrottleQueued.Dec()
	if r.queued != nil {
		defer r.queued()()
	}
	t.m.RequestThrottleWaited.Inc()
	if first {
		if ok, n := t.engagedLog.allow(); ok {
			t.log.Warn().Int("max_requests", t.opts.MaxRequests).Int64("in_process", t.inProcess.Load()).
				Int("times_not_logged", n).
				Msg("request throttle engaged: request_throttle_max_requests requests in process; further client requests wait")
		}
	}
	start := t.clock.Now()

	// A waiter's connection is watched only where it makes the request
	// droppable: with drop stale and the connection check on.
	// (A closeSession is never stale.)
	var gone <-chan struct{}
	if !t.opts.KeepStale && !t.opts.NoStaleConnectionCheck && r.op != proto.OpCloseSession {
		gone = r.gone
	}
	select {
	case <-w.turn:
	case <-gone:
		// Stale before its turn: ZooKeeper would drop it on reaching the
		// head of the queue; dropping it now frees its goroutine sooner.
		t.leave(w)
		return t.drop(r, start)
	}
	// A signal left from before this request was first in line carries
	// nothing: inProcess is read under mu below.
	select {
	case <-t.wake:
	default:
	}
	for {
		if !t.opts.KeepStale && t.stale(r, t.clock.Now()) {
			t.leave(w)
			return t.drop(r, start)
		}
		t.mu.Lock()
		if t.inProcess.Load() < max {
			t.enter()
			t.removeLocked(w)
			t.mu.Unlock()
			break
		}
		t.mu.Unlock()
		// One stall step: ZooKeeper's request_throttle_wait_count.
		t.m.RequestThrottleStalls.Inc()
		t.stats.requestThrottleWaits.Add(1)
		timer, stop := t.clock.After(t.opts.StallTime)
		select {
		case <-t.wake:
		case <-timer:
		case <-gone:
		}
		stop()
	}
	waited := t.clock.Now().Sub(start)
	t.m.RequestThrottleWait.Observe(waited.Seconds())
	t.countStale(r)
	return admission{
		waited: waited,
		throttledOp: t.opts.ThrottledOpWaitTime > 0 && throttlable(r.op) &&
			waited > t.opts.ThrottledOpWaitTime,
	}
}

// leave takes w out of the queue without a slot.
func (t *requestThrottler) leave(w *throttleWaiter) {
	t.mu.Lock()
	t.removeLocked(w)
	t.mu.Unlock()
}

// removeLocked takes w out of the queue and, if it was first in line,
// hands the turn to the next request.
func (t *requestThrottler) removeLocked(w *throttleWaiter) {
	for i, q := range t.queue {
		if q != w {
			continue
		}
		copy(t.queue[i:], t.queue[i+1:])
		t.queue[len(t.queue)-1] = nil
		t.queue = t.queue[:len(t.queue)-1]
		t.waiting.Add(-1)
		if i == 0 && len(t.queue) > 0 {
			close(t.queue[0].turn)
		}
		return
	}
}

// drop records a stale request that will not be processed.
func (t *requestThrottler) drop(r *throttledRequest, start time.Time) admission {
	waited := t.clock.Now().Sub(start)
	t.m.RequestThrottleWait.Observe(waited.Seconds())
	t.m.StaleDropped.Inc()
	t.stats.staleRequestsDropped.Add(1)
	t.log.Debug().Str("op", proto.OpName(r.op)).Dur("waited", waited).
		Msg("dropping a stale request: its connection went away while it waited in the request throttler")
	if ok, n := t.droppedLog.allow(); ok {
		t.log.Warn().Str("op", proto.OpName(r.op)).Dur("waited", waited).Int("times_not_logged", n).
			Msg("dropped a stale request that waited in the request throttler; its connection is closed")
	}
	return admission{dropped: true, waited: waited}
}

// stale is ZooKeeper's Request.isStale: the request's connection went
// away, or (with the latency check) it has outlived its session timeout.
// A closeSession is never stale: it must clean up after the session.
func (t *requestThrottler) stale(r *throttledRequest, now time.Time) bool {
	if r.op == proto.OpCloseSession {
		return false
	}
	if !t.opts.NoStaleConnectionCheck && closedChan(r.gone) {
		return true
	}
	return t.opts.StaleLatencyCheck && r.timeout > 0 && now.Sub(r.created) > r.timeout
}

// countStale counts a stale request that is processed anyway (ZooKeeper's
// stale_requests).
func (t *requestThrottler) countStale(r *throttledRequest) {
	var now time.Time
	if t.opts.StaleLatencyCheck {
		now = t.clock.Now()
	}
	if t.stale(r, now) {
		t.m.StaleRequests.Inc()
		t.stats.staleRequests.Add(1)
	}
}

// throttlable is ZooKeeper's Request.isThrottlable: the requests that may
// be answered THROTTLEDOP.
func throttlable(op proto.Op) bool {
	return op != proto.OpPing && op != proto.OpCloseSession && op != proto.OpCreateSession
}

// admitRequest passes a request of c, read from r, through the request
// throttler.
func (s *Server) admitRequest(c *conn, r *bufio.Reader, op proto.Op, created time.Time) admission {
	return s.reqThrottle.acquire(&throttledRequest{
		op:      op,
		created: created,
		timeout: time.Duration(c.timeoutMs.Load()) * time.Millisecond,
		gone:    c.gone,
		queued:  func() func() { return s.watchClose(c, r) },
	})
}

// watchClose watches c's socket for the client going away while c's reader
// is held in the request throttler: the reader reads nothing meanwhile, so
// without a watch a client that gave up (and closed its connection) would
// go unnoticed, and its requests would not be stale. The watcher peeks
// past whatever the client has sent meanwhile (pipelined requests stay
// buffered for the reader) and closes the connection on end of file or a
// socket error, as ZooKeeper's selector does. The returned function stops
// the watch and returns once the watcher no longer touches r.
func (s *Server) watchClose(c *conn, r *bufio.Reader) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			n := r.Buffered()
			if n >= r.Size() {
				// A full buffer of pipelined requests: nothing more can
				// be seen until the reader takes some.
				<-quit
				return
			}
			_, err := r.Peek(n + 1)
			if err == nil {
				continue // more input; look past it
			}
			select {
			case <-quit: // the deadline set by stop
				return
			default:
			}
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				<-quit // not ours; never spin on it
				return
			}
			c.close("client")
			return
		}
	}()
	return func() {
		close(quit)
		_ = c.nc.SetReadDeadline(time.Now()) // ends a Peek in progress
		<-done
		_ = c.nc.SetReadDeadline(time.Time{})
	}
}

// dropStale closes the connection of a request the throttler dropped, as
// ZooKeeper's RequestThrottler marks it invalid: its later requests are
// already in flight and must not overtake the dropped one.
func (s *Server) dropStale(c *conn) {
	s.log.Debug().Str("remote", c.remote).Str("session", hex(c.sessionID.Load())).
		Msg("closing connection: one of its requests went stale in the request throttler and was dropped")
	c.close("stale_request")
}

// serveRequest passes one request frame through the request throttler and
// hands it to handleRequest. Auth packets skip the throttler, as in
// ZooKeeper, which processes them as they are read; so does a frame whose
// header does not decode, which handleRequest reports.
//
// The slot a request takes is held in c.slot while handleRequest runs: a
// request it submits to the write pipeline takes the slot along (submit
// moves it to the connection's pending writes, and the slot is released
// when the write is answered); any other request gives it back when
// handleRequest returns, its reply queued.
func (s *Server) serveRequest(c *conn, r *bufio.Reader, buf []byte) bool {
	var h proto.RequestHeader
	d := jute.NewDecoder(buf, s.opts.MaxBuffer)
	h.Decode(d)
	if d.Err() != nil || h.Type == proto.OpAuth || h.Type == proto.OpSASL {
		return s.handleRequest(c, buf)
	}
	start := time.Now()
	adm := s.admitRequest(c, r, h.Type, start)
	if adm.dropped {
		s.dropStale(c)
		return false
	}
	c.slot = true
	defer s.releaseSlot(c)
	if adm.throttledOp {
		return s.answerThrottledOp(c, h, start)
	}
	return s.handleRequest(c, buf)
}

// releaseSlot gives back the request throttler slot the reader of c holds,
// if the request did not hand it to the write pipeline.
func (s *Server) releaseSlot(c *conn) {
	if c.slot {
		c.slot = false
		s.reqThrottle.release()
	}
}

// answerThrottledOp answers a request that waited longer than
// throttled_op_wait_time with THROTTLEDOP, without processing it
// (ZooKeeper's FinalRequestProcessor does so for a request the
// RequestThrottler marked throttled). The answer still waits for the
// connection's earlier writes, so the client's replies stay in order.
func (s *Server) answerThrottledOp(c *conn, h proto.RequestHeader, start time.Time) bool {
	sid := c.sessionID.Load()
	if !s.touch(sid) {
		s.log.Info().Str("remote", c.remote).Str("session", hex(sid)).Int32("xid", h.Xid).Str("op", proto.OpName(h.Type)).
			Msg("request on a session that is gone or closing; closing connection")
		c.closeAfterFlush("session_expired")
		return false
	}
	if !c.waitWrites() {
		return false
	}
	s.metrics.ThrottledOps.Inc()
	s.stats.throttledOps.Add(1)
	s.log.Debug().Str("remote", c.remote).Str("session", hex(sid)).Int32("xid", h.Xid).Str("op", proto.OpName(h.Type)).
		Dur("waited", time.Since(start)).Msg("answering THROTTLEDOP: the request waited longer than throttled_op_wait_time")
	s.replyRead(c, start, h, proto.ErrThrottledOp, nil)
	return true
}
