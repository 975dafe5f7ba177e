package zkserver

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/zkd-io/zkd/server/config"
)

// ZooKeeper's BlueThrottle defaults.
const (
	DefaultConnectionThrottleFillTime  = time.Millisecond
	DefaultConnectionThrottleFillCount = 1
	DefaultGlobalSessionWeight         = 3
	DefaultLocalSessionWeight          = 1
	DefaultRenewSessionWeight          = 2
)

// ConnectionThrottleOptions configure the connection throttle, ZooKeeper
// 3.8's BlueThrottle (the zookeeper.connection_throttle_* system
// properties). The zero value is ZooKeeper's default: off.
//
// It is a token bucket in front of session establishment: each connect
// request takes a token (or, weighted, as many as its kind costs) and is
// refused, its connection closed, when the bucket holds too few. Tokens
// come back at FillCount per FillTime up to Tokens. It protects a server
// from a reconnect storm, when every client of a failed server arrives at
// once and session setup would starve everything else.
type ConnectionThrottleOptions struct {
	// Tokens is connection_throttle_tokens: the bucket's size, and the
	// burst of connections accepted at once. 0 turns the throttle off.
	Tokens int
	// FillTime and FillCount are connection_throttle_fill_time (ms) and
	// connection_throttle_fill_count: FillCount tokens come back every
	// FillTime. Zero takes ZooKeeper's 1 ms and 1.
	FillTime  time.Duration
	FillCount int
	// Blue turns on BLUE's randomised refusals (a
	// connection_throttle_freeze_time other than -1); nil leaves them off,
	// as ZooKeeper does by default.
	Blue *BlueOptions
	// WeightEnabled is connection_throttle_weight_enabled: connect
	// requests cost by kind, a new session GlobalSessionWeight tokens and
	// a re-attach RenewSessionWeight. Tokens and FillCount then count
	// global sessions: the bucket holds Tokens*GlobalSessionWeight. zkd
	// has no local sessions; LocalSessionWeight only bounds the others
	// from below, as in ZooKeeper.
	WeightEnabled bool
	// The weights, connection_throttle_{global,local,renew}_session_weight;
	// 0 takes ZooKeeper's 3, 1 and 2.
	GlobalSessionWeight, LocalSessionWeight, RenewSessionWeight int
	// Now and Rand replace the clock and the random source of BLUE's
	// refusals (tests); nil: the system clock and math/rand/v2.
	Now  func() time.Time
	Rand func() float64
}

// BlueOptions are BLUE's settings: while the bucket is empty the
// probability of refusing a connection outright (without taking a token)
// rises by DropIncrease at most once per FreezeTime; once the bucket's
// deficit falls to DecreaseRatio of its size or below it sinks by
// DropDecrease. This spreads refusals over the whole storm instead of
// refusing everyone between refills.
type BlueOptions struct {
	// FreezeTime is connection_throttle_freeze_time (ms): the least time
	// between two changes of the drop probability.
	FreezeTime time.Duration
	// DropIncrease, DropDecrease and DecreaseRatio are
	// connection_throttle_drop_increase (ZooKeeper: 0.02),
	// connection_throttle_drop_decrease (0.002) and
	// connection_throttle_decrease_ratio (0), all in [0, 1]. They are
	// taken as given: DefaultBlueOptions has ZooKeeper's values.
	DropIncrease, DropDecrease, DecreaseRatio float64
}

// DefaultBlueOptions returns ZooKeeper's BLUE settings with freeze time f.
func DefaultBlueOptions(f time.Duration) *BlueOptions {
	return &BlueOptions{FreezeTime: f, DropIncrease: 0.02, DropDecrease: 0.002}
}

// normalize checks o, fills in ZooKeeper's defaults and returns warnings
// for weights ZooKeeper corrects (it logs the same).
func (o *ConnectionThrottleOptions) normalize() ([]string, error) {
	switch {
	case o.Tokens < 0:
		return nil, fmt.Errorf("connection throttle: tokens %d is negative", o.Tokens)
	case o.FillTime < 0:
		return nil, fmt.Errorf("connection throttle: fill time %v is negative", o.FillTime)
	case o.FillCount < 0:
		return nil, fmt.Errorf("connection throttle: fill count %d is negative", o.FillCount)
	}
	if o.FillTime == 0 {
		o.FillTime = DefaultConnectionThrottleFillTime
	}
	if o.FillCount == 0 {
		o.FillCount = DefaultConnectionThrottleFillCount
	}
	if b := o.Blue; b != nil {
		if b.FreezeTime < 0 {
			return nil, fmt.Errorf("connection throttle: freeze time %v is negative", b.FreezeTime)
		}
		for _, f := range []struct {
			name string
			v    float64
		}{{"drop increase", b.DropIncrease}, {"drop decrease", b.DropDecrease}, {"decrease ratio", b.DecreaseRatio}} {
			if !(f.v >= 0 && f.v <= 1) {
				return nil, fmt.Errorf("connection throttle: %s %v is not between 0 and 1", f.name, f.v)
			}
		}
	}
	// Zero is "not set" here (ZooKeeper's default); the rest is
	// BlueThrottle's correction, shared with zoo.cfg's parser.
	orDefault := func(w, def int) int {
		if w == 0 {
			return def
		}
		return w
	}
	var fixes []config.WeightFix
	o.GlobalSessionWeight, o.LocalSessionWeight, o.RenewSessionWeight, fixes = config.SessionWeights(
		orDefault(o.GlobalSessionWeight, DefaultGlobalSessionWeight),
		orDefault(o.LocalSessionWeight, DefaultLocalSessionWeight),
		orDefault(o.RenewSessionWeight, DefaultRenewSessionWeight))
	var warnings []string
	for _, f := range fixes {
		warnings = append(warnings, fmt.Sprintf("%s session weight %d %s", f.Weight, f.Was, f.Problem()))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return warnings, nil
}

// blueThrottle is ZooKeeper's BlueThrottle: a token bucket with BLUE's
// randomised early refusals on top.
type blueThrottle struct {
	weighted         bool
	globalW, renewW  int64
	fillTime         time.Duration
	fillCount        int64
	maxTokens        int64
	blue             bool
	freezeTime       time.Duration
	dropInc, dropDec float64
	decreasePoint    float64
	now              func() time.Time
	rand             func() float64

	mu         sync.Mutex
	tokens     int64
	lastTime   time.Time
	lastFreeze time.Time
	drop       float64
}

// newBlueThrottle builds the throttle from normalized options.
func newBlueThrottle(o ConnectionThrottleOptions) *blueThrottle {
	t := &blueThrottle{
		weighted:  o.WeightEnabled,
		globalW:   int64(o.GlobalSessionWeight),
		renewW:    int64(o.RenewSessionWeight),
		fillTime:  o.FillTime,
		fillCount: int64(o.FillCount),
		maxTokens: int64(o.Tokens),
		now:       o.Now,
		rand:      o.Rand,
	}
	if t.weighted {
		// "tokens set in config are for global sessions"
		t.maxTokens *= t.globalW
		t.fillCount *= t.globalW
	}
	if b := o.Blue; b != nil {
		t.blue = true
		t.freezeTime = b.FreezeTime
		t.dropInc, t.dropDec, t.decreasePoint = b.DropIncrease, b.DropDecrease, b.DecreaseRatio
	}
	now := t.now()
	t.tokens, t.lastTime, t.lastFreeze = t.maxTokens, now, now
	return t
}

// enabled reports whether the throttle refuses anything (Tokens > 0).
func (t *blueThrottle) enabled() bool { return t.maxTokens > 0 }

// need is the tokens a connect request costs: 1, or its kind's weight.
func (t *blueThrottle) need(reattach bool) int64 {
	switch {
	case !t.weighted:
		return 1
	case reattach:
		return t.renewW
	default:
		return t.globalW
	}
}

// checkLimit is BlueThrottle.checkLimit: refill for the time passed, let
// BLUE refuse at random, then take need tokens or refuse.
func (t *blueThrottle) checkLimit(need int64) bool {
	if t.maxTokens == 0 {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if diff := now.Sub(t.lastTime); diff > t.fillTime {
		t.tokens = min(t.tokens+refill(diff, t.fillTime, t.fillCount, t.maxTokens), t.maxTokens)
		t.lastTime = now
	}
	if t.blue && !t.checkBlue(now) {
		return false
	}
	if t.tokens < need {
		return false
	}
	t.tokens -= need
	return true
}

// checkBlue is BlueThrottle.checkBlue; it runs with mu held.
func (t *blueThrottle) checkBlue(now time.Time) bool {
	length := t.maxTokens - t.tokens
	threshold := int64(math.Round(float64(t.maxTokens) * t.decreasePoint))
	if now.Sub(t.lastFreeze) > t.freezeTime {
		if length == t.maxTokens && t.drop < 1 {
			t.drop = min(t.drop+t.dropInc, 1)
		} else if length <= threshold && t.drop > 0 {
			t.drop = max(t.drop-t.dropDec, 0)
		}
		t.lastFreeze = now
	}
	return !(t.rand() < t.drop)
}

// refill is floor(diff*fillCount/fillTime), the tokens earned in diff,
// capped at maxTokens, computed without overflow however long the bucket
// sat idle.
func refill(diff, fillTime time.Duration, fillCount, maxTokens int64) int64 {
	periods := int64(diff / fillTime)
	if periods >= maxTokens { // fillCount >= 1
		return maxTokens
	}
	hi, lo := bits.Mul64(uint64(diff%fillTime), uint64(fillCount))
	frac, _ := bits.Div64(hi, lo, uint64(fillTime))
	return min(periods*fillCount+int64(frac), maxTokens)
}

// state returns the tokens left, the deficit (tokens taken and not yet
// back) and the drop probability, as of the last connect request.
func (t *blueThrottle) state() (tokens, deficit int64, drop float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tokens, t.maxTokens - t.tokens, t.drop
}

// dropChance is the probability BLUE refuses the next connection
// (mntr's connection_drop_probability).
func (t *blueThrottle) dropChance() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.drop
}

// throttleConnect applies the connection throttle to a connect request
// (ZooKeeperServer.processConnectRequest). It returns false when the
// request is refused: ZooKeeper then closes the connection without an
// answer (ClientCnxnLimitException) and the client tries again, possibly
// another server.
func (s *Server) throttleConnect(c *conn, sessionID int64) bool {
	t := s.connThrottle
	if !t.checkLimit(t.need(sessionID != 0)) {
		tokens, _, drop := t.state()
		s.metrics.ConnsRejected.WithLabelValues("connection_throttle").Inc()
		s.metrics.ConnThrottleTokens.Set(float64(tokens))
		s.metrics.ConnThrottleDrop.Set(drop)
		s.stats.connectionRejected.Add(1)
		if ok, n := s.connRefusedLog.allow(); ok {
			s.log.Warn().Str("remote", c.remote).Str("session", hex(sessionID)).
				Int64("tokens", tokens).Float64("drop_probability", drop).Int("times_not_logged", n).
				Msg("connection throttle: refusing connect request; closing connection")
		}
		return false
	}
	tokens, deficit, drop := t.state()
	if t.enabled() {
		s.metrics.ConnThrottleTokens.Set(float64(tokens))
		s.metrics.ConnThrottleDrop.Set(drop)
	}
	s.stats.connectionRequests.Add(1)
	s.stats.tokenDeficit.add(deficit)
	return true
}
