// Package session tracks client sessions and decides when they expire, with
// the semantics of ZooKeeper 3.8's SessionTrackerImpl and ExpiryQueue.
//
// Nothing in the package reads a clock or starts a goroutine: every method
// that depends on time takes the current time from the caller, and the caller
// runs the ticker that calls Tracker.Expired. That keeps expiry deterministic,
// so a simulated quorum can drive many trackers with a fake clock.
package session

import (
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ErrExists is returned (wrapped) by Tracker.Create for a session id that is
// already tracked.
var ErrExists = errors.New("session already exists")

// Session is a snapshot of one tracked session.
type Session struct {
	ID int64
	// Timeout is the negotiated session timeout.
	Timeout time.Duration
	// Expires is the end of the expiry bucket the session was last placed in:
	// unless it is touched, Expired reports the session from this time on.
	Expires time.Time
	// Closing is set once the session is being closed, by the client or by
	// expiry. A closing session cannot be touched back to life.
	Closing bool
}

// entry is the tracker's record of a session.
type entry struct {
	timeout time.Duration
	expiry  int64 // bucket time, ms since the Unix epoch
	queued  bool  // in buckets[expiry]; false once Expired took it out
	closing bool
	expired bool // Expired found it live; decides which counter Remove uses
}

// Tracker tracks sessions in expiry buckets one tick wide, like ZooKeeper's
// ExpiryQueue. A session's expiry time is rounded up to the next tick
// boundary, which gives every session a grace period of up to one tick and
// lets a whole bucket expire at once. Touching a session moves it between two
// hash sets (a new bucket also costs O(log buckets) on a small heap of bucket
// times), and expiring visits only the buckets that have passed, however late
// the call comes.
//
// A Tracker is safe for concurrent use: connections touch sessions while the
// caller's ticker expires them.
type Tracker struct {
	mu       sync.Mutex
	interval int64 // tick, ms
	nextID   int64
	sessions map[int64]*entry
	// buckets maps a bucket time (ms, a multiple of interval) to the ids of
	// the sessions in it. Buckets that empty out are kept until their time
	// passes, as in ZooKeeper, so that times holds exactly the keys of
	// buckets; their number is bounded by the longest timeout over the tick.
	buckets map[int64]map[int64]struct{}
	times   timeHeap
	metrics *Metrics
}

// Option configures a Tracker.
type Option func(*Tracker)

// WithMetrics makes the tracker record into m. A nil m records nothing.
func WithMetrics(m *Metrics) Option {
	return func(t *Tracker) { t.metrics = m }
}

// NewTracker returns an empty tracker for server serverID whose expiry buckets
// are tick wide (ZooKeeper uses tickTime). Session ids handed out by NextID
// start at InitialSessionID(serverID, now). The tick is counted in whole
// milliseconds, as in ZooKeeper, and a tick below 1 ms is taken as 1 ms;
// rejecting a bad tickTime is the configuration's job.
func NewTracker(serverID int64, tick time.Duration, now time.Time, opts ...Option) *Tracker {
	t := &Tracker{
		interval: max(tick.Milliseconds(), 1),
		nextID:   InitialSessionID(serverID, now),
		sessions: make(map[int64]*entry),
		buckets:  make(map[int64]map[int64]struct{}),
	}
	for _, o := range opts {
		o(t)
	}
	t.metrics.setActive(0)
	return t
}

// NextID returns a fresh session id: the previous one plus one.
func (t *Tracker) NextID() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.nextID
	t.nextID++
	return id
}

// NegotiateTimeout clamps the timeout a client asked for into the server's
// [minTimeout, maxTimeout], as ZooKeeperServer.processConnectRequest does.
// Like ZooKeeper it applies the lower bound first, so if minTimeout >
// maxTimeout (which configuration should reject) the result is maxTimeout.
func NegotiateTimeout(requested, minTimeout, maxTimeout time.Duration) time.Duration {
	if requested < minTimeout {
		requested = minTimeout
	}
	if requested > maxTimeout {
		requested = maxTimeout
	}
	return requested
}

// Create starts tracking a session that a client has just asked for, counting
// it in zkd_session_created_total and zkd_session_timeout_seconds. Use Add for
// sessions that already existed (restored from a snapshot or log).
func (t *Tracker) Create(id int64, timeout time.Duration, now time.Time) error {
	if err := validate(id, timeout); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.sessions[id]; ok {
		return fmt.Errorf("create session %s: %w", hexID(id), ErrExists)
	}
	t.add(id, timeout, now)
	t.metrics.sessionCreated(timeout.Seconds())
	return nil
}

// Add tracks a session that already exists, for example one restored from a
// snapshot or a replayed createSession txn, and reports whether it was new.
// It is not counted as created. Like ZooKeeper's trackSession, adding a
// session that is already tracked keeps its timeout and closing state and
// only recomputes its expiry, here from the given timeout.
func (t *Tracker) Add(id int64, timeout time.Duration, now time.Time) (bool, error) {
	if err := validate(id, timeout); err != nil {
		return false, fmt.Errorf("add session: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.sessions[id]; ok {
		t.schedule(id, e, now.UnixMilli()+timeout.Milliseconds())
		return false, nil
	}
	t.add(id, timeout, now)
	return true, nil
}

func validate(id int64, timeout time.Duration) error {
	if id == 0 {
		return errors.New("session id 0 is reserved for \"no session\"")
	}
	if timeout < time.Millisecond {
		return fmt.Errorf("session %s: timeout %v is below 1ms", hexID(id), timeout)
	}
	return nil
}

func (t *Tracker) add(id int64, timeout time.Duration, now time.Time) {
	e := &entry{timeout: timeout}
	t.sessions[id] = e
	t.schedule(id, e, now.UnixMilli()+timeout.Milliseconds())
	t.metrics.setActive(len(t.sessions))
}

// Touch records activity on a session, pushing its expiry to a full timeout
// from now. It reports false, and changes nothing, if the session is unknown
// or closing: the client must then be told its session has expired.
func (t *Tracker) Touch(id int64, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.sessions[id]
	if !ok || e.closing {
		return false
	}
	t.schedule(id, e, now.UnixMilli()+e.timeout.Milliseconds())
	return true
}

// SetClosing marks a session as closing so that it can no longer be touched,
// and reports whether the session is tracked. The session stays tracked until
// Remove, once its close has been applied.
func (t *Tracker) SetClosing(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.sessions[id]
	if ok {
		e.closing = true
	}
	return ok
}

// Remove stops tracking a session and reports whether it was tracked. The
// session is counted in zkd_session_closed_total unless Expired expired it,
// so call Remove when a closeSession is applied live, not while rebuilding
// state from a log.
func (t *Tracker) Remove(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.sessions[id]
	if !ok {
		return false
	}
	t.unqueue(id, e)
	delete(t.sessions, id)
	if !e.expired {
		t.metrics.sessionClosed()
	}
	t.metrics.setActive(len(t.sessions))
	return true
}

// Get returns the session with the given id.
func (t *Tracker) Get(id int64) (Session, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.sessions[id]
	if !ok {
		return Session{}, false
	}
	return e.session(id), true
}

// Len returns the number of tracked sessions, closing ones included.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sessions)
}

// Sessions returns all tracked sessions in ascending id order, for snapshots
// and dumps.
func (t *Tracker) Sessions() []Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Session, 0, len(t.sessions))
	for id, e := range t.sessions {
		out = append(out, e.session(id))
	}
	slices.SortFunc(out, func(a, b Session) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (e *entry) session(id int64) Session {
	return Session{
		ID:      id,
		Timeout: e.timeout,
		Expires: time.UnixMilli(e.expiry).UTC(),
		Closing: e.closing,
	}
}

// Expired takes every bucket whose time is at or before now out of the
// tracker, marks its sessions closing and returns their ids, earliest bucket
// first and by id within a bucket, so runs are reproducible. The sessions stay
// tracked until Remove; the caller is expected to close each one.
//
// As in ZooKeeper, a session that was already closing when its bucket passed
// is returned too: if its close got lost, this closes it again. Only sessions
// that were still live count in zkd_session_expired_total.
func (t *Tracker) Expired(now time.Time) []int64 {
	nowMs := now.UnixMilli()
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []int64
	live := 0
	for len(t.times) > 0 && t.times[0] <= nowMs {
		at := heap.Pop(&t.times).(int64)
		bucket := t.buckets[at]
		delete(t.buckets, at)
		start := len(ids)
		for id := range bucket {
			ids = append(ids, id)
		}
		slices.Sort(ids[start:])
		for _, id := range ids[start:] {
			e := t.sessions[id]
			e.queued = false
			if !e.closing {
				e.closing = true
				e.expired = true
				live++
			}
		}
	}
	t.metrics.sessionsExpired(live)
	return ids
}

// NextExpiry returns the time of the earliest bucket that holds a session,
// the next time at which Expired can return anything, and false if no
// session is waiting to expire. Create, Add and Touch can put a session with
// a short timeout in an earlier bucket, so ask again after them (or simply
// call Expired every tick, as ZooKeeper does).
func (t *Tracker) NextExpiry() (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Drop empty buckets at the front so they do not cause idle wake-ups.
	for len(t.times) > 0 && len(t.buckets[t.times[0]]) == 0 {
		delete(t.buckets, heap.Pop(&t.times).(int64))
	}
	if len(t.times) == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(t.times[0]).UTC(), true
}

// roundUp returns the end of the tick-wide bucket that holds time ms: the next
// multiple of the interval strictly after it, as ExpiryQueue's
// roundToNextInterval does (with Java's truncating division).
func (t *Tracker) roundUp(ms int64) int64 {
	return (ms/t.interval + 1) * t.interval
}

// schedule moves a session to the bucket for deadline (ms).
func (t *Tracker) schedule(id int64, e *entry, deadline int64) {
	at := t.roundUp(deadline)
	if e.queued && e.expiry == at {
		return
	}
	t.unqueue(id, e)
	bucket, ok := t.buckets[at]
	if !ok {
		bucket = make(map[int64]struct{})
		t.buckets[at] = bucket
		heap.Push(&t.times, at)
	}
	bucket[id] = struct{}{}
	e.expiry = at
	e.queued = true
}

// unqueue takes a session out of its bucket, leaving an empty bucket for
// Expired or NextExpiry to discard.
func (t *Tracker) unqueue(id int64, e *entry) {
	if e.queued {
		delete(t.buckets[e.expiry], id)
		e.queued = false
	}
}

// timeHeap is a min-heap of bucket times.
type timeHeap []int64

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *timeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
