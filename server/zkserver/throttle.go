package zkserver

import (
	"sync"
	"time"
)

// The server has three throttles, applied in this order:
//
//   - the connection throttle (throttle_connection.go, ZooKeeper's
//     BlueThrottle) refuses connect requests beyond a token budget;
//   - the request throttler (throttle_request.go, ZooKeeper's
//     RequestThrottler) holds every client request back while
//     request_throttle_max_requests requests are in process;
//   - globalOutstandingLimit (pipeline.go) holds a client's writes back
//     while the write pipeline is full.
//
// All three block only the reader goroutine of the connection whose
// request is held, so a client's requests keep their order, and none of
// them waits for anything but requests already admitted, so they cannot
// deadlock one another.

// clock is the throttles' time source. Production uses the system clock;
// unit tests substitute a manual one so that waits and refills are exact
// and no assertion depends on the scheduler.
type clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed, and a
	// function that releases the timer early.
	After(d time.Duration) (<-chan time.Time, func())
}

// systemClock is the wall clock (monotonic readings, as ZooKeeper's
// Time.currentElapsedTime).
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// logLimiter lets an event that can repeat thousands of times a second
// (a refused connection, a stale request) be logged at most once per
// interval, with the number of occurrences that were not logged, so that
// a storm is visible in the log without flooding it. The counters, not the
// log, are the exact record.
type logLimiter struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

func newLogLimiter(every time.Duration, now func() time.Time) *logLimiter {
	return &logLimiter{every: every, now: now}
}

// allow reports whether this occurrence should be logged and, if so, how
// many occurrences since the last logged one were not.
func (l *logLimiter) allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Before(l.next) {
		l.suppressed++
		return false, 0
	}
	l.next = now.Add(l.every)
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// closedChan reports whether ch is closed (a nil channel never is).
func closedChan(ch <-chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
