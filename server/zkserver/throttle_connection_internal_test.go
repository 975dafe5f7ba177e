package zkserver

import (
	"math"
	"testing"
	"time"
)

// fixedRand is BLUE's random source in tests: it always draws v.
type fixedRand struct{ v float64 }

func (r *fixedRand) draw() float64 { return r.v }

func testBlue(t *testing.T, o ConnectionThrottleOptions) (*blueThrottle, *manualClock, *fixedRand) {
	t.Helper()
	clk, rnd := newManualClock(), &fixedRand{v: 0.5}
	o.Now, o.Rand = clk.Now, rnd.draw
	if _, err := o.normalize(); err != nil {
		t.Fatal(err)
	}
	return newBlueThrottle(o), clk, rnd
}

func TestRefill(t *testing.T) {
	tests := []struct {
		diff, fill time.Duration
		count, max int64
		want       int64
	}{
		{diff: 10 * time.Millisecond, fill: time.Millisecond, count: 1, max: 100, want: 10},
		{diff: 1500 * time.Microsecond, fill: time.Millisecond, count: 1, max: 100, want: 1}, // the remainder is lost, as in ZooKeeper
		{diff: 250 * time.Millisecond, fill: 100 * time.Millisecond, count: 3, max: 100, want: 7},
		{diff: time.Hour, fill: time.Millisecond, count: 1, max: 100, want: 100},
		{diff: 1000 * time.Hour, fill: time.Hour, count: math.MaxInt32, max: math.MaxInt32, want: math.MaxInt32},
		{diff: 90 * time.Minute, fill: time.Hour, count: math.MaxInt32, max: math.MaxInt32 * 3, want: math.MaxInt32 + math.MaxInt32/2},
	}
	for _, tt := range tests {
		if got := refill(tt.diff, tt.fill, tt.count, tt.max); got != tt.want {
			t.Errorf("refill(%v, %v, %d, %d) = %d, want %d", tt.diff, tt.fill, tt.count, tt.max, got, tt.want)
		}
	}
}

// TestConnectionThrottleTokens: the bucket gives out its tokens, refuses
// when empty, and refills by fill count per (strictly more than) a fill
// time, up to its size.
func TestConnectionThrottleTokens(t *testing.T) {
	th, clk, _ := testBlue(t, ConnectionThrottleOptions{Tokens: 3, FillTime: 100 * time.Millisecond, FillCount: 1})
	steps := []struct {
		advance time.Duration
		want    []bool // checkLimit(1) results
		tokens  int64  // left afterwards
	}{
		{0, []bool{true, true, true, false}, 0},
		{100 * time.Millisecond, []bool{false}, 0}, // not more than a fill time
		{time.Millisecond, []bool{true, false}, 0},
		{150 * time.Millisecond, []bool{true, false}, 0}, // one token; the 50ms remainder is lost
		{60 * time.Millisecond, []bool{false}, 0},
		{41 * time.Millisecond, []bool{true}, 0},
		{time.Hour, nil, 3}, // never beyond the bucket's size
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		for j, want := range st.want {
			if got := th.checkLimit(1); got != want {
				t.Fatalf("step %d, connect %d: allowed %v, want %v", i, j, got, want)
			}
		}
		if st.want == nil {
			th.checkLimit(0) // refill without taking
		}
		if tokens, _, _ := th.state(); tokens != st.tokens {
			t.Fatalf("step %d: %d tokens, want %d", i, tokens, st.tokens)
		}
	}
}

// TestConnectionThrottleWeights: with weights each kind of connect request
// costs its weight, and the bucket's size is in global sessions.
func TestConnectionThrottleWeights(t *testing.T) {
	th, _, _ := testBlue(t, ConnectionThrottleOptions{Tokens: 2, FillTime: time.Hour, WeightEnabled: true})
	if th.maxTokens != 6 || th.fillCount != 3 {
		t.Fatalf("bucket %d refilled by %d, want 2 global sessions (6) and 3", th.maxTokens, th.fillCount)
	}
	for i, tc := range []struct {
		reattach bool
		want     bool
	}{{false, true}, {true, true}, {true, false}, {false, false}} {
		if got := th.checkLimit(th.need(tc.reattach)); got != tc.want {
			t.Errorf("connect %d (reattach %v): allowed %v, want %v", i, tc.reattach, got, tc.want)
		}
	}
	unweighted, _, _ := testBlue(t, ConnectionThrottleOptions{Tokens: 2})
	if unweighted.need(false) != 1 || unweighted.need(true) != 1 {
		t.Errorf("without weights a connect costs %d/%d tokens, want 1", unweighted.need(false), unweighted.need(true))
	}
}

// TestConnectionThrottleBlue: while the bucket is empty BLUE raises the
// drop probability once per freeze time and refuses connections whose
// random draw falls below it, even with tokens back; once the deficit is
// at most the decrease ratio of the bucket, the probability sinks.
func TestConnectionThrottleBlue(t *testing.T) {
	th, clk, rnd := testBlue(t, ConnectionThrottleOptions{Tokens: 2, FillTime: time.Hour, FillCount: 2,
		Blue: &BlueOptions{FreezeTime: 10 * time.Millisecond, DropIncrease: 0.25, DropDecrease: 0.5, DecreaseRatio: 0.5}})
	steps := []struct {
		name    string
		advance time.Duration
		draw    float64
		want    bool
		drop    float64 // afterwards
	}{
		{"full bucket", 0, 0.5, true, 0},
		{"half empty", 11 * time.Millisecond, 0.5, true, 0},
		{"empty, within the freeze", 5 * time.Millisecond, 0.5, false, 0},
		{"empty, freeze over: raised", 6 * time.Millisecond, 0.5, false, 0.25},
		{"not raised again within the freeze", 5 * time.Millisecond, 0.5, false, 0.25},
		{"raised again", 6 * time.Millisecond, 0.5, false, 0.5},
		{"raised again", 11 * time.Millisecond, 0.9, false, 0.75},
		{"refilled, but the draw is below the drop: refused without a token", time.Hour, 0.1, false, 0.25},
		{"refilled, the draw is above the drop", 0, 0.9, true, 0.25},
		{"deficit at the ratio: lowered", 11 * time.Millisecond, 0.9, true, 0},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		rnd.v = st.draw
		if got := th.checkLimit(1); got != st.want {
			t.Fatalf("%s: allowed %v, want %v", st.name, got, st.want)
		}
		if got := th.dropChance(); math.Abs(got-st.drop) > 1e-9 {
			t.Fatalf("%s: drop probability %v, want %v", st.name, got, st.drop)
		}
	}
}

func TestConnectionThrottleOff(t *testing.T) {
	th, _, _ := testBlue(t, ConnectionThrottleOptions{})
	for range 1000 {
		if !th.checkLimit(th.need(false)) {
			t.Fatal("a connect request was refused with the throttle off")
		}
	}
}

func TestConnectionThrottleOptionsNormalize(t *testing.T) {
	tests := []struct {
		name                 string
		in                   ConnectionThrottleOptions
		wantErr              bool
		global, local, renew int
		fillTime             time.Duration
		fillCount, nWarnings int
	}{
		{name: "defaults", global: 3, local: 1, renew: 2, fillTime: time.Millisecond, fillCount: 1},
		{name: "set", in: ConnectionThrottleOptions{Tokens: 5, FillTime: time.Second, FillCount: 4, GlobalSessionWeight: 5, LocalSessionWeight: 2, RenewSessionWeight: 3},
			global: 5, local: 2, renew: 3, fillTime: time.Second, fillCount: 4},
		{name: "global below local", in: ConnectionThrottleOptions{GlobalSessionWeight: 2, LocalSessionWeight: 4},
			global: 4, local: 4, renew: 4, fillTime: time.Millisecond, fillCount: 1, nWarnings: 2},
		{name: "negative weights", in: ConnectionThrottleOptions{GlobalSessionWeight: -1, LocalSessionWeight: -1, RenewSessionWeight: -1},
			global: 3, local: 1, renew: 2, fillTime: time.Millisecond, fillCount: 1, nWarnings: 3},
		{name: "negative tokens", in: ConnectionThrottleOptions{Tokens: -1}, wantErr: true},
		{name: "negative fill time", in: ConnectionThrottleOptions{FillTime: -1}, wantErr: true},
		{name: "negative fill count", in: ConnectionThrottleOptions{FillCount: -1}, wantErr: true},
		{name: "negative freeze", in: ConnectionThrottleOptions{Blue: &BlueOptions{FreezeTime: -1}}, wantErr: true},
		{name: "drop increase above 1", in: ConnectionThrottleOptions{Blue: &BlueOptions{DropIncrease: 1.5}}, wantErr: true},
		{name: "NaN ratio", in: ConnectionThrottleOptions{Blue: &BlueOptions{DecreaseRatio: math.NaN()}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.in
			warnings, err := o.normalize()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if o.GlobalSessionWeight != tt.global || o.LocalSessionWeight != tt.local || o.RenewSessionWeight != tt.renew {
				t.Errorf("weights %d/%d/%d, want %d/%d/%d", o.GlobalSessionWeight, o.LocalSessionWeight, o.RenewSessionWeight,
					tt.global, tt.local, tt.renew)
			}
			if o.FillTime != tt.fillTime || o.FillCount != tt.fillCount {
				t.Errorf("fill %d per %v, want %d per %v", o.FillCount, o.FillTime, tt.fillCount, tt.fillTime)
			}
			if len(warnings) != tt.nWarnings {
				t.Errorf("warnings %q, want %d", warnings, tt.nWarnings)
			}
			if o.Now == nil || o.Rand == nil {
				t.Error("no clock or random source")
			}
		})
	}
}

func TestLogLimiter(t *testing.T) {
	clk := newManualClock()
	l := newLogLimiter(time.Second, clk.Now)
	steps := []struct {
		advance    time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{0, false, 0},
		{500 * time.Millisecond, false, 0},
		{499 * time.Millisecond, false, 0},
		{time.Millisecond, true, 3},
		{2 * time.Second, true, 0},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		if ok, n := l.allow(); ok != st.ok || n != st.suppressed {
			t.Errorf("step %d: allow = %v, %d; want %v, %d", i, ok, n, st.ok, st.suppressed)
		}
	}
}
