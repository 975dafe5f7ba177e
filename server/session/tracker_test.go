package session

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// base is a multiple of 2 s and 3 s, so bucket times below are easy to read
// as offsets from it.
const baseMillis = 1_700_000_000_000

var base = time.UnixMilli(baseMillis)

// at returns base plus ms milliseconds.
func at(ms int64) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

func mustCreate(t *testing.T, tr *Tracker, id int64, timeout time.Duration, now time.Time) {
	t.Helper()
	if err := tr.Create(id, timeout, now); err != nil {
		t.Fatalf("Create(%d): %v", id, err)
	}
}

func TestExpiryRounding(t *testing.T) {
	tests := []struct {
		name    string
		tick    time.Duration
		now     int64 // ms after base
		timeout time.Duration
		want    int64 // bucket, absolute ms
	}{
		{"deadline on a boundary goes to the next bucket", 2 * time.Second, 0, 10 * time.Second, baseMillis + 12_000},
		{"just past a boundary", 2 * time.Second, 1, 10 * time.Second, baseMillis + 12_000},
		{"just before a boundary", 2 * time.Second, 1_999, 10 * time.Second, baseMillis + 12_000},
		{"next tick", 2 * time.Second, 2_000, 10 * time.Second, baseMillis + 14_000},
		{"timeout not a tick multiple", 2 * time.Second, 0, 4_001 * time.Millisecond, baseMillis + 6_000},
		{"3 s tick", 3 * time.Second, 0, 10 * time.Second, baseMillis + 13_000},
		{"3 s tick, mid bucket", 3 * time.Second, 1_000, 10 * time.Second, baseMillis + 13_000},
		{"sub-millisecond tick counts as 1 ms", 500 * time.Microsecond, 0, 10 * time.Second, baseMillis + 10_001},
		{"sub-millisecond timeout part is dropped", time.Millisecond, 0, 10*time.Second + 999*time.Microsecond, baseMillis + 10_001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(1, tt.tick, base)
			mustCreate(t, tr, 7, tt.timeout, at(tt.now))
			s, ok := tr.Get(7)
			if !ok {
				t.Fatal("Get: session missing after Create")
			}
			if got := s.Expires.UnixMilli(); got != tt.want {
				t.Errorf("bucket = base%+d ms, want base%+d ms", got-baseMillis, tt.want-baseMillis)
			}
			// The session expires exactly when its bucket time arrives.
			if ids := tr.Expired(time.UnixMilli(tt.want - 1)); len(ids) != 0 {
				t.Errorf("Expired 1 ms before the bucket = %v, want none", ids)
			}
			if ids := tr.Expired(time.UnixMilli(tt.want)); !slices.Equal(ids, []int64{7}) {
				t.Errorf("Expired at the bucket = %v, want [7]", ids)
			}
		})
	}
}

// step is one action in a tracker scenario. Times are ms after base.
type step struct {
	op      string // create, add, touch, closing, remove, expired, get
	id      int64
	at      int64
	timeout time.Duration
	ok      bool    // touch, closing, remove, add, get: expected result
	ids     []int64 // expired: expected ids, in order
	bucket  int64   // get: expected bucket, ms after base
	closing bool    // get: expected closing flag
}

func TestTrackerScenarios(t *testing.T) {
	const tick = 2 * time.Second
	const ten = 10 * time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{"expires exactly at the bucket boundary", []step{
			{op: "create", id: 1, at: 0, timeout: ten},
			{op: "expired", at: 11_999},
			{op: "expired", at: 12_000, ids: []int64{1}},
			{op: "get", id: 1, ok: true, bucket: 12_000, closing: true},
			{op: "expired", at: 12_000}, // a bucket is handed out once
		}},
		{"touch moves the session to a later bucket", []step{
			{op: "create", id: 1, at: 0, timeout: ten},
			{op: "touch", id: 1, at: 3_000, ok: true},
			{op: "get", id: 1, ok: true, bucket: 14_000},
			{op: "expired", at: 12_000},
			{op: "expired", at: 13_999},
			{op: "expired", at: 14_000, ids: []int64{1}},
		}},
		{"touch within the same bucket changes nothing", []step{
			{op: "create", id: 1, at: 0, timeout: ten},
			{op: "touch", id: 1, at: 1_999, ok: true},
			{op: "get", id: 1, ok: true, bucket: 12_000},
		}},
		{"an expired session is not touched back to life", []step{
			{op: "create", id: 1, at: 0, timeout: ten},
			{op: "expired", at: 12_000, ids: []int64{1}},
			{op: "touch", id: 1, at: 12_000, ok: false},
			{op: "expired", at: 100_000},
			{op: "get", id: 1, ok: true, bucket: 12_000, closing: true},
		}},
		{"a session closed by its client cannot be touched but still fires", []step{
			{op: "create", id: 1, at: 0, timeout: ten},
			{op: "closing", id: 1, ok: true},
			{op: "touch", id: 1, at: 1_000, ok: false},
			{op: "get", id: 1, ok: true, bucket: 12_000, closing: true},
			{op: "expired", at: 12_000, ids: []int64{1}}, // as ZooKeeper: re-close if the close got lost
		}},
		{"unknown sessions", []step{
			{op: "touch", id: 9, at: 0, ok: false},
			{op: "closing", id: 9, ok: false},
			{op: "remove", id: 9, ok: false},
			{op: "get", id: 9, ok: false},
		}},
		{"a removed session never expires", []step{
			{op: "create", id: 1, at: 0, timeout: ten},
			{op: "remove", id: 1, ok: true},
			{op: "expired", at: 12_000},
			{op: "remove", id: 1, ok: false},
		}},
		{"one bucket expires in id order", []step{
			{op: "create", id: 3, at: 0, timeout: ten},
			{op: "create", id: -5, at: 500, timeout: ten},
			{op: "create", id: 2, at: 1_999, timeout: ten},
			{op: "expired", at: 12_000, ids: []int64{-5, 2, 3}},
		}},
		{"a late call expires several buckets, earliest first", []step{
			{op: "create", id: 1, at: 0, timeout: ten},
			{op: "create", id: 2, at: 0, timeout: 4 * time.Second},
			{op: "create", id: 3, at: 0, timeout: 40 * time.Second},
			{op: "expired", at: 365 * 24 * 3600 * 1000, ids: []int64{2, 1, 3}},
		}},
		{"add of a tracked session keeps it closing but requeues it", []step{
			{op: "create", id: 1, at: 0, timeout: ten},
			{op: "expired", at: 12_000, ids: []int64{1}},
			{op: "add", id: 1, at: 20_000, timeout: ten, ok: false},
			{op: "get", id: 1, ok: true, bucket: 32_000, closing: true},
			{op: "expired", at: 32_000, ids: []int64{1}},
		}},
		{"a touch with an earlier clock still expires on the next call", []step{
			// Out-of-order times must not strand a session in a bucket that
			// has already been polled (ZooKeeper's ExpiryQueue would).
			{op: "create", id: 1, at: 100_000, timeout: ten},
			{op: "expired", at: 100_000},
			{op: "touch", id: 1, at: 0, ok: true},
			{op: "expired", at: 100_000, ids: []int64{1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(1, tick, base)
			for i, s := range tt.steps {
				runStep(t, tr, i, s)
			}
		})
	}
}

func runStep(t *testing.T, tr *Tracker, i int, s step) {
	t.Helper()
	switch s.op {
	case "create":
		mustCreate(t, tr, s.id, s.timeout, at(s.at))
	case "add":
		added, err := tr.Add(s.id, s.timeout, at(s.at))
		if err != nil || added != s.ok {
			t.Errorf("step %d: Add(%d) = %v, %v; want %v, nil", i, s.id, added, err, s.ok)
		}
	case "touch":
		if got := tr.Touch(s.id, at(s.at)); got != s.ok {
			t.Errorf("step %d: Touch(%d, +%d ms) = %v, want %v", i, s.id, s.at, got, s.ok)
		}
	case "closing":
		if got := tr.SetClosing(s.id); got != s.ok {
			t.Errorf("step %d: SetClosing(%d) = %v, want %v", i, s.id, got, s.ok)
		}
	case "remove":
		if got := tr.Remove(s.id); got != s.ok {
			t.Errorf("step %d: Remove(%d) = %v, want %v", i, s.id, got, s.ok)
		}
	case "expired":
		if got := tr.Expired(at(s.at)); !slices.Equal(got, s.ids) {
			t.Errorf("step %d: Expired(+%d ms) = %v, want %v", i, s.at, got, s.ids)
		}
	case "get":
		got, ok := tr.Get(s.id)
		if ok != s.ok {
			t.Fatalf("step %d: Get(%d) found = %v, want %v", i, s.id, ok, s.ok)
		}
		if !ok {
			return
		}
		if b := got.Expires.UnixMilli() - baseMillis; b != s.bucket || got.Closing != s.closing {
			t.Errorf("step %d: Get(%d) = bucket +%d ms closing %v, want +%d ms closing %v",
				i, s.id, b, got.Closing, s.bucket, s.closing)
		}
	default:
		t.Fatalf("step %d: unknown op %q", i, s.op)
	}
}

func TestCreateAndAddErrors(t *testing.T) {
	tr := NewTracker(1, 2*time.Second, base)
	mustCreate(t, tr, 1, 10*time.Second, base)

	err := tr.Create(1, 4*time.Second, base)
	if !errors.Is(err, ErrExists) {
		t.Errorf("Create of a tracked id: err = %v, want ErrExists", err)
	}
	if s, _ := tr.Get(1); s.Timeout != 10*time.Second {
		t.Errorf("failed Create changed the timeout to %v", s.Timeout)
	}

	tests := []struct {
		name    string
		id      int64
		timeout time.Duration
	}{
		{"id zero", 0, 10 * time.Second},
		{"zero timeout", 2, 0},
		{"negative timeout", 2, -time.Second},
		{"sub-millisecond timeout", 2, time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tr.Create(tt.id, tt.timeout, base); err == nil {
				t.Error("Create: err = nil, want an error")
			}
			if added, err := tr.Add(tt.id, tt.timeout, base); err == nil || added {
				t.Errorf("Add = %v, %v; want false and an error", added, err)
			}
			if tr.Len() != 1 {
				t.Errorf("Len = %d after rejected input, want 1", tr.Len())
			}
		})
	}
}

func TestAddRestoresSessions(t *testing.T) {
	tr := NewTracker(1, 2*time.Second, base)
	added, err := tr.Add(5, 30*time.Second, base)
	if err != nil || !added {
		t.Fatalf("Add(5) = %v, %v; want true, nil", added, err)
	}
	// Re-adding keeps the stored timeout, as ZooKeeper's trackSession does.
	added, err = tr.Add(5, 4*time.Second, base)
	if err != nil || added {
		t.Fatalf("second Add(5) = %v, %v; want false, nil", added, err)
	}
	s, _ := tr.Get(5)
	want := Session{ID: 5, Timeout: 30 * time.Second, Expires: at(6_000)}
	if s.ID != want.ID || s.Timeout != want.Timeout || !s.Expires.Equal(want.Expires) || s.Closing {
		t.Errorf("Get(5) = %+v, want %+v", s, want)
	}
	// A later touch uses the stored timeout again.
	tr.Touch(5, base)
	if s, _ := tr.Get(5); !s.Expires.Equal(at(32_000)) {
		t.Errorf("after Touch, expires %v, want base+32s", s.Expires)
	}
}

func TestNegotiateTimeout(t *testing.T) {
	const lo, hi = 4 * time.Second, 40 * time.Second
	tests := []struct {
		name          string
		req, min, max time.Duration
		want          time.Duration
	}{
		{"below min", time.Second, lo, hi, lo},
		{"zero", 0, lo, hi, lo},
		{"negative", -time.Second, lo, hi, lo},
		{"at min", lo, lo, hi, lo},
		{"inside", 15 * time.Second, lo, hi, 15 * time.Second},
		{"at max", hi, lo, hi, hi},
		{"above max", time.Minute, lo, hi, hi},
		{"min above max: max wins, as in ZooKeeper", 10 * time.Second, hi, lo, lo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NegotiateTimeout(tt.req, tt.min, tt.max); got != tt.want {
				t.Errorf("NegotiateTimeout(%v, %v, %v) = %v, want %v", tt.req, tt.min, tt.max, got, tt.want)
			}
		})
	}
}

func TestNextExpiry(t *testing.T) {
	tr := NewTracker(1, 2*time.Second, base)
	if got, ok := tr.NextExpiry(); ok {
		t.Fatalf("empty tracker: NextExpiry = %v, true; want false", got)
	}
	mustCreate(t, tr, 1, 4*time.Second, base)  // bucket +6 s
	mustCreate(t, tr, 2, 10*time.Second, base) // bucket +12 s
	if got, ok := tr.NextExpiry(); !ok || !got.Equal(at(6_000)) {
		t.Errorf("NextExpiry = %v, %v; want base+6s", got, ok)
	}
	// Touching session 1 empties the +6 s bucket; NextExpiry skips it.
	tr.Touch(1, at(5_000)) // bucket +10 s
	if got, ok := tr.NextExpiry(); !ok || !got.Equal(at(10_000)) {
		t.Errorf("after touch, NextExpiry = %v, %v; want base+10s", got, ok)
	}
	tr.Remove(1)
	if got, ok := tr.NextExpiry(); !ok || !got.Equal(at(12_000)) {
		t.Errorf("after remove, NextExpiry = %v, %v; want base+12s", got, ok)
	}
	tr.Expired(at(12_000))
	if got, ok := tr.NextExpiry(); ok {
		t.Errorf("after expiring all, NextExpiry = %v, true; want false", got)
	}
}

func TestSessionsSortedByID(t *testing.T) {
	tr := NewTracker(200, 2*time.Second, base)
	ids := []int64{tr.NextID(), 3, -9, tr.NextID(), 1} // server 200: negative ids
	for _, id := range ids {
		mustCreate(t, tr, id, 10*time.Second, base)
	}
	tr.SetClosing(3)
	got := tr.Sessions()
	want := slices.Sorted(slices.Values(ids))
	if len(got) != len(want) {
		t.Fatalf("Sessions() has %d entries, want %d", len(got), len(want))
	}
	for i, s := range got {
		if s.ID != want[i] {
			t.Errorf("Sessions()[%d].ID = %s, want %s", i, hexID(s.ID), hexID(want[i]))
		}
		if s.Closing != (s.ID == 3) || s.Timeout != 10*time.Second {
			t.Errorf("Sessions()[%d] = %+v", i, s)
		}
	}
	if tr.Len() != len(ids) {
		t.Errorf("Len = %d, want %d", tr.Len(), len(ids))
	}
}

// TestBucketsStayBounded checks that touching sessions every tick, the normal
// steady state, neither expires them nor accumulates buckets: emptied buckets
// are dropped when their time passes.
func TestBucketsStayBounded(t *testing.T) {
	const (
		tick     = 2 * time.Second
		timeout  = 10 * time.Second
		sessions = 1000
		ticks    = 200
	)
	tr := NewTracker(1, tick, base)
	for id := int64(1); id <= sessions; id++ {
		mustCreate(t, tr, id, timeout, at(id)) // spread over the first tick
	}
	maxBuckets := int(timeout/tick) + 2
	for k := int64(1); k <= ticks; k++ {
		now := at(k * tick.Milliseconds())
		for id := int64(1); id <= sessions; id++ {
			if !tr.Touch(id, now) {
				t.Fatalf("tick %d: Touch(%d) = false", k, id)
			}
		}
		if ids := tr.Expired(now); len(ids) != 0 {
			t.Fatalf("tick %d: touched sessions expired: %v", k, ids)
		}
		if n := len(tr.buckets); n > maxBuckets {
			t.Fatalf("tick %d: %d buckets held, want at most %d", k, n, maxBuckets)
		}
	}
	// Once the pings stop, all sessions expire together one timeout later.
	last := at(ticks * tick.Milliseconds())
	if ids := tr.Expired(last.Add(timeout + tick)); len(ids) != sessions {
		t.Errorf("after pings stop, %d sessions expired, want %d", len(ids), sessions)
	}
}

func TestConcurrentUse(t *testing.T) {
	tr := NewTracker(1, 2*time.Second, base)
	const n = 64
	for id := int64(1); id <= n; id++ {
		mustCreate(t, tr, id, time.Hour, base)
	}
	var wg sync.WaitGroup
	for w := range int64(4) {
		wg.Go(func() {
			for i := int64(0); i < 200; i++ {
				id := 1 + (w*200+i)%n
				if !tr.Touch(id, at(i)) {
					t.Errorf("Touch(%d) = false", id)
				}
				tr.Get(id)
			}
		})
	}
	wg.Go(func() {
		for i := int64(0); i < 200; i++ {
			if ids := tr.Expired(at(i)); len(ids) != 0 {
				t.Errorf("Expired(+%d ms) = %v, want none (timeouts are an hour)", i, ids)
			}
			tr.NextExpiry()
			tr.Sessions()
		}
	})
	wg.Wait()
	if tr.Len() != n {
		t.Errorf("Len = %d, want %d", tr.Len(), n)
	}
}

func BenchmarkTouch100k(b *testing.B) {
	const sessions = 100_000
	tr := NewTracker(1, 2*time.Second, base)
	for id := int64(1); id <= sessions; id++ {
		if err := tr.Create(id, 30*time.Second, base); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		id := int64(i%sessions) + 1
		tr.Touch(id, at(int64(i)))
	}
}
