package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RequestThrottle is ZooKeeper's RequestThrottler configuration. ZooKeeper
// reads these keys as Java system properties (zookeeper.<key>), so they
// are accepted bare and with the prefix. The throttler bounds the client
// requests in process: beyond MaxRequests further requests wait, and those
// whose connection went away meanwhile are dropped.
type RequestThrottle struct {
	MaxRequests          int           // request_throttle_max_requests; 0: off (default)
	StallTime            time.Duration // request_throttle_stall_time (ms); default 100
	DropStale            bool          // request_throttle_drop_stale; default true
	StaleConnectionCheck bool          // request_stale_connection_check; default true
	StaleLatencyCheck    bool          // request_stale_latency_check; default false
	ThrottledOpWaitTime  time.Duration // throttled_op_wait_time (ms); 0: off (default)
}

// ConnectionThrottle is ZooKeeper's BlueThrottle configuration (system
// properties zookeeper.connection_throttle_*): a token bucket limiting the
// rate of connect requests, with BLUE's randomised refusals on top when
// FreezeTime is not negative. Values are as written; with WeightEnabled
// the server multiplies Tokens and FillCount by GlobalSessionWeight, as
// ZooKeeper does.
type ConnectionThrottle struct {
	Tokens        int           // connection_throttle_tokens; 0: off (default)
	FillTime      time.Duration // connection_throttle_fill_time (ms); default 1
	FillCount     int           // connection_throttle_fill_count; default 1
	FreezeTime    time.Duration // connection_throttle_freeze_time (ms); default -1: BLUE off
	DropIncrease  float64       // connection_throttle_drop_increase; default 0.02
	DropDecrease  float64       // connection_throttle_drop_decrease; default 0.002
	DecreaseRatio float64       // connection_throttle_decrease_ratio; default 0
	WeightEnabled bool          // connection_throttle_weight_enabled; default false
	// connection_throttle_{global,local,renew}_session_weight; defaults
	// 3, 1, 2. Parse corrects them as ZooKeeper does (with a warning): a
	// weight <= 0 takes its default, and the global and renew weights are
	// raised to the local one.
	GlobalSessionWeight int
	LocalSessionWeight  int
	RenewSessionWeight  int
}

// BlueEnabled reports whether BLUE's randomised refusals are on
// (connection_throttle_freeze_time is not -1).
func (t ConnectionThrottle) BlueEnabled() bool { return t.FreezeTime >= 0 }

func defaultRequestThrottle() RequestThrottle {
	return RequestThrottle{StallTime: 100 * time.Millisecond, DropStale: true, StaleConnectionCheck: true}
}

func defaultConnectionThrottle() ConnectionThrottle {
	return ConnectionThrottle{
		FillTime:            time.Millisecond,
		FillCount:           1,
		FreezeTime:          -time.Millisecond,
		DropIncrease:        0.02,
		DropDecrease:        0.002,
		GlobalSessionWeight: 3,
		LocalSessionWeight:  1,
		RenewSessionWeight:  2,
	}
}

// setThrottle applies a throttle key; it reports false for other keys.
// Numbers are read as Integer.getInteger and Double.parseDouble read
// them, but a malformed value is an error, not a silent default.
func (p *parser) setThrottle(key string, pr property) (bool, error) {
	rt, ct, v := &p.c.RequestThrottle, &p.c.ConnectionThrottle, pr.value
	var err error
	switch key {
	case "request_throttle_max_requests":
		if rt.MaxRequests, err = decodeInt(v, 32); err == nil && rt.MaxRequests < 0 {
			p.warnf(pr.line, "%s=%s: a negative limit turns the request throttle off, as 0 does", pr.key, v)
			rt.MaxRequests = 0
		}
	case "request_throttle_stall_time":
		rt.StallTime, err = parsePositiveMillis(v)
	case "request_throttle_drop_stale":
		rt.DropStale, err = parseBool(v)
	case "request_stale_connection_check":
		rt.StaleConnectionCheck, err = parseBool(v)
	case "request_stale_latency_check":
		rt.StaleLatencyCheck, err = parseBool(v)
	case "throttled_op_wait_time":
		var ms int
		if ms, err = decodeInt(v, 32); err == nil {
			if ms < 0 {
				p.warnf(pr.line, "%s=%s: a negative wait time turns THROTTLEDOP answers off, as 0 does", pr.key, v)
				ms = 0
			}
			rt.ThrottledOpWaitTime = time.Duration(ms) * time.Millisecond
		}
	case "connection_throttle_tokens":
		if ct.Tokens, err = decodeInt(v, 32); err == nil && ct.Tokens < 0 {
			// ZooKeeper would refuse every connection.
			return true, p.errorf(pr, "%q must not be negative (0 turns the connection throttle off)", v)
		}
	case "connection_throttle_fill_time":
		ct.FillTime, err = parsePositiveMillis(v)
	case "connection_throttle_fill_count":
		if ct.FillCount, err = decodeInt(v, 32); err == nil && ct.FillCount <= 0 {
			return true, p.errorf(pr, "%q must be positive (tokens returned per fill time)", v)
		}
	case "connection_throttle_freeze_time":
		var ms int
		if ms, err = decodeInt(v, 32); err == nil {
			if ms < -1 {
				return true, p.errorf(pr, "%q is not a number of milliseconds >= 0, or -1 (BLUE off)", v)
			}
			ct.FreezeTime = time.Duration(ms) * time.Millisecond
		}
	case "connection_throttle_drop_increase":
		ct.DropIncrease, err = parseFraction(v)
	case "connection_throttle_drop_decrease":
		ct.DropDecrease, err = parseFraction(v)
	case "connection_throttle_decrease_ratio":
		ct.DecreaseRatio, err = parseFraction(v)
	case "connection_throttle_weight_enabled":
		ct.WeightEnabled, err = parseBool(v)
	case "connection_throttle_global_session_weight":
		ct.GlobalSessionWeight, err = decodeInt(v, 32)
	case "connection_throttle_local_session_weight":
		ct.LocalSessionWeight, err = decodeInt(v, 32)
	case "connection_throttle_renew_session_weight":
		ct.RenewSessionWeight, err = decodeInt(v, 32)
	default:
		return false, nil
	}
	if err != nil {
		return true, p.valueError(pr, err)
	}
	return true, nil
}

// Weight names BlueThrottle's session weights in WeightFix.
type Weight string

// The session weights.
const (
	GlobalWeight Weight = "global"
	LocalWeight  Weight = "local"
	RenewWeight  Weight = "renew"
)

// WeightFix is one correction SessionWeights made: Was became Now, because
// it was not positive (the default) or, with BelowLocal, because it was
// less than the local weight.
type WeightFix struct {
	Weight     Weight
	Was, Now   int
	BelowLocal bool
}

// Problem says what was wrong and what is used instead, as a warning's
// predicate ("is not positive; using 3").
func (f WeightFix) Problem() string {
	if f.BelowLocal {
		return fmt.Sprintf("is less than the local session weight %d; using %d", f.Now, f.Now)
	}
	return fmt.Sprintf("is not positive; using %d", f.Now)
}

// SessionWeights corrects the global, local and renew session weights as
// BlueThrottle's static initialiser does: a weight <= 0 takes its default,
// and the global and renew weights are raised to the local weight as
// configured when they are below it. It reports each correction, for the
// warnings ZooKeeper logs.
func SessionWeights(global, local, renew int) (g, l, r int, fixes []WeightFix) {
	def := defaultConnectionThrottle()
	atLeastLocal := func(w Weight, v, dflt int) int {
		switch {
		case v <= 0:
			fixes = append(fixes, WeightFix{Weight: w, Was: v, Now: dflt})
			return dflt
		case v < local:
			fixes = append(fixes, WeightFix{Weight: w, Was: v, Now: local, BelowLocal: true})
			return local
		}
		return v
	}
	g = atLeastLocal(GlobalWeight, global, def.GlobalSessionWeight)
	l = local
	if l <= 0 {
		fixes = append(fixes, WeightFix{Weight: LocalWeight, Was: l, Now: def.LocalSessionWeight})
		l = def.LocalSessionWeight
	}
	r = atLeastLocal(RenewWeight, renew, def.RenewSessionWeight)
	return g, l, r, fixes
}

// finishWeights applies SessionWeights to the parsed weights, warning at
// each corrected key's line where ZooKeeper logs a warning.
func (p *parser) finishWeights() {
	ct := &p.c.ConnectionThrottle
	var fixes []WeightFix
	ct.GlobalSessionWeight, ct.LocalSessionWeight, ct.RenewSessionWeight, fixes =
		SessionWeights(ct.GlobalSessionWeight, ct.LocalSessionWeight, ct.RenewSessionWeight)
	for _, f := range fixes {
		key := "connection_throttle_" + string(f.Weight) + "_session_weight"
		p.warnf(p.c.lines[key], "%s=%d %s", key, f.Was, f.Problem())
	}
}

// checkThrottles validates the throttle settings of a Config built in
// code; Parse never produces one that fails.
func (c *Config) checkThrottles() error {
	rt, ct := c.RequestThrottle, c.ConnectionThrottle
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	switch {
	case rt.MaxRequests < 0:
		return c.errorf("request_throttle_max_requests", "", "%d must not be negative", rt.MaxRequests)
	case rt.StallTime < time.Millisecond:
		return c.errorf("request_throttle_stall_time", "", "%d ms is not a positive number of milliseconds", ms(rt.StallTime))
	case rt.ThrottledOpWaitTime < 0:
		return c.errorf("throttled_op_wait_time", "", "%d ms must not be negative", ms(rt.ThrottledOpWaitTime))
	case ct.Tokens < 0:
		return c.errorf("connection_throttle_tokens", "", "%d must not be negative", ct.Tokens)
	case ct.FillTime < time.Millisecond:
		return c.errorf("connection_throttle_fill_time", "", "%d ms is not a positive number of milliseconds", ms(ct.FillTime))
	case ct.FillCount <= 0:
		return c.errorf("connection_throttle_fill_count", "", "%d must be positive", ct.FillCount)
	case ct.FreezeTime < -time.Millisecond:
		return c.errorf("connection_throttle_freeze_time", "", "%d ms is not >= 0 or -1 (BLUE off)", ms(ct.FreezeTime))
	case ct.GlobalSessionWeight <= 0:
		return c.errorf("connection_throttle_global_session_weight", "", "%d must be positive", ct.GlobalSessionWeight)
	case ct.LocalSessionWeight <= 0:
		return c.errorf("connection_throttle_local_session_weight", "", "%d must be positive", ct.LocalSessionWeight)
	case ct.RenewSessionWeight <= 0:
		return c.errorf("connection_throttle_renew_session_weight", "", "%d must be positive", ct.RenewSessionWeight)
	}
	for _, f := range []struct {
		key string
		v   float64
	}{
		{"connection_throttle_drop_increase", ct.DropIncrease},
		{"connection_throttle_drop_decrease", ct.DropDecrease},
		{"connection_throttle_decrease_ratio", ct.DecreaseRatio},
	} {
		if !(f.v >= 0 && f.v <= 1) {
			return c.errorf(f.key, "", "%v is not between 0 and 1", f.v)
		}
	}
	return nil
}

// parsePositiveMillis reads a positive number of milliseconds
// (Integer.decode syntax).
func parsePositiveMillis(v string) (time.Duration, error) {
	ms, err := decodeInt(v, 32)
	if err != nil {
		return 0, err
	}
	if ms <= 0 {
		return 0, fmt.Errorf("%q must be a positive number of milliseconds", v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// parseFraction reads a number between 0 and 1 as Java's
// Double.parseDouble does (a trailing d or f type suffix is allowed).
func parseFraction(v string) (float64, error) {
	s := v
	if n := len(s); n > 1 && strings.ContainsRune("dDfF", rune(s[n-1])) && !strings.HasPrefix(strings.ToLower(s), "0x") {
		s = s[:n-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsRune(s, '_') {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, fmt.Errorf("%q is not between 0 and 1", v)
	}
	return f, nil
}
