package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestThrottleKeys: every throttle key is read, bare and with the
// "zookeeper." prefix ZooKeeper's system properties carry, into the same
// field.
func TestThrottleKeys(t *testing.T) {
	tests := []struct {
		key, value string
		want       func(c *Config)
	}{
		{"request_throttle_max_requests", "10", func(c *Config) { c.RequestThrottle.MaxRequests = 10 }},
		{"request_throttle_max_requests", "0x20", func(c *Config) { c.RequestThrottle.MaxRequests = 32 }},
		{"request_throttle_stall_time", "250", func(c *Config) { c.RequestThrottle.StallTime = 250 * time.Millisecond }},
		{"request_throttle_drop_stale", "false", func(c *Config) { c.RequestThrottle.DropStale = false }},
		{"request_throttle_drop_stale", "TRUE", func(c *Config) {}},
		{"request_stale_connection_check", "false", func(c *Config) { c.RequestThrottle.StaleConnectionCheck = false }},
		{"request_stale_latency_check", "true", func(c *Config) { c.RequestThrottle.StaleLatencyCheck = true }},
		{"throttled_op_wait_time", "1500", func(c *Config) { c.RequestThrottle.ThrottledOpWaitTime = 1500 * time.Millisecond }},
		{"connection_throttle_tokens", "1000", func(c *Config) { c.ConnectionThrottle.Tokens = 1000 }},
		{"connection_throttle_fill_time", "10", func(c *Config) { c.ConnectionThrottle.FillTime = 10 * time.Millisecond }},
		{"connection_throttle_fill_count", "5", func(c *Config) { c.ConnectionThrottle.FillCount = 5 }},
		{"connection_throttle_freeze_time", "0", func(c *Config) { c.ConnectionThrottle.FreezeTime = 0 }},
		{"connection_throttle_freeze_time", "100", func(c *Config) { c.ConnectionThrottle.FreezeTime = 100 * time.Millisecond }},
		{"connection_throttle_freeze_time", "-1", func(c *Config) {}},
		{"connection_throttle_drop_increase", "0.05", func(c *Config) { c.ConnectionThrottle.DropIncrease = 0.05 }},
		{"connection_throttle_drop_increase", "1e-1", func(c *Config) { c.ConnectionThrottle.DropIncrease = 0.1 }},
		{"connection_throttle_drop_decrease", "0.01d", func(c *Config) { c.ConnectionThrottle.DropDecrease = 0.01 }},
		{"connection_throttle_decrease_ratio", "0.5", func(c *Config) { c.ConnectionThrottle.DecreaseRatio = 0.5 }},
		{"connection_throttle_decrease_ratio", "1", func(c *Config) { c.ConnectionThrottle.DecreaseRatio = 1 }},
		{"connection_throttle_weight_enabled", "true", func(c *Config) { c.ConnectionThrottle.WeightEnabled = true }},
		{"connection_throttle_global_session_weight", "6", func(c *Config) { c.ConnectionThrottle.GlobalSessionWeight = 6 }},
		{"connection_throttle_local_session_weight", "2", func(c *Config) { c.ConnectionThrottle.LocalSessionWeight = 2 }},
		{"connection_throttle_renew_session_weight", "3", func(c *Config) { c.ConnectionThrottle.RenewSessionWeight = 3 }},
	}
	for _, tt := range tests {
		for _, key := range []string{tt.key, "zookeeper." + tt.key} {
			t.Run(key+"="+tt.value, func(t *testing.T) {
				c, warnings := mustParse(t, "dataDir=/d\n"+key+"="+tt.value)
				if len(warnings) != 0 {
					t.Errorf("warnings %q", warnings)
				}
				want := zookeeperDefaults()
				tt.want(&want)
				if got := exported(c); !reflect.DeepEqual(got.RequestThrottle, want.RequestThrottle) ||
					!reflect.DeepEqual(got.ConnectionThrottle, want.ConnectionThrottle) {
					t.Errorf("got  %+v %+v\nwant %+v %+v", got.RequestThrottle, got.ConnectionThrottle,
						want.RequestThrottle, want.ConnectionThrottle)
				}
				if err := c.Validate(); err != nil {
					t.Errorf("Validate: %v", err)
				}
			})
		}
	}
}

// TestThrottleKeysBothSpellings: the two spellings are one setting; the
// later line wins, with a warning, as for every repeated key.
func TestThrottleKeysBothSpellings(t *testing.T) {
	c, warnings := mustParse(t, "dataDir=/d\nrequest_throttle_max_requests=10\nzookeeper.request_throttle_max_requests=20\n")
	if c.RequestThrottle.MaxRequests != 20 {
		t.Errorf("MaxRequests = %d, want 20 (the later line)", c.RequestThrottle.MaxRequests)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "overrides the value set on line 2") {
		t.Errorf("warnings %q", warnings)
	}
}

func TestThrottleKeysInvalid(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"request_throttle_max_requests=lots", `line 1: request_throttle_max_requests: "lots" is not a number`},
		{"zookeeper.request_throttle_max_requests=1.5", `line 1: zookeeper.request_throttle_max_requests: "1.5" is not a number`},
		{"request_throttle_max_requests=3000000000", `line 1: request_throttle_max_requests: "3000000000" is out of range`},
		{"request_throttle_stall_time=0", `line 1: request_throttle_stall_time: "0" must be a positive number of milliseconds`},
		{"zookeeper.request_throttle_stall_time=-5", `line 1: zookeeper.request_throttle_stall_time: "-5" must be a positive number of milliseconds`},
		{"request_throttle_stall_time=100ms", `line 1: request_throttle_stall_time: "100ms" is not a number`},
		{"request_throttle_drop_stale=yes", `line 1: request_throttle_drop_stale: "yes" is not true or false`},
		{"zookeeper.request_throttle_drop_stale=1", `line 1: zookeeper.request_throttle_drop_stale: "1" is not true or false`},
		{"request_stale_connection_check=no", `line 1: request_stale_connection_check: "no" is not true or false`},
		{"request_stale_latency_check=on", `line 1: request_stale_latency_check: "on" is not true or false`},
		{"throttled_op_wait_time=x", `line 1: throttled_op_wait_time: "x" is not a number`},
		{"connection_throttle_tokens=-1", `line 1: connection_throttle_tokens: "-1" must not be negative (0 turns the connection throttle off)`},
		{"zookeeper.connection_throttle_tokens=ten", `line 1: zookeeper.connection_throttle_tokens: "ten" is not a number`},
		{"connection_throttle_fill_time=0", `line 1: connection_throttle_fill_time: "0" must be a positive number of milliseconds`},
		{"connection_throttle_fill_count=0", `line 1: connection_throttle_fill_count: "0" must be positive (tokens returned per fill time)`},
		{"connection_throttle_fill_count=1x", `line 1: connection_throttle_fill_count: "1x" is not a number`},
		{"connection_throttle_freeze_time=-2", `line 1: connection_throttle_freeze_time: "-2" is not a number of milliseconds >= 0, or -1 (BLUE off)`},
		{"connection_throttle_drop_increase=2", `line 1: connection_throttle_drop_increase: "2" is not between 0 and 1`},
		{"zookeeper.connection_throttle_drop_increase=abc", `line 1: zookeeper.connection_throttle_drop_increase: "abc" is not a number`},
		{"connection_throttle_drop_decrease=-0.1", `line 1: connection_throttle_drop_decrease: "-0.1" is not between 0 and 1`},
		{"connection_throttle_drop_decrease=NaN", `line 1: connection_throttle_drop_decrease: "NaN" is not between 0 and 1`},
		{"connection_throttle_decrease_ratio=Infinity", `line 1: connection_throttle_decrease_ratio: "Infinity" is not between 0 and 1`},
		{"connection_throttle_decrease_ratio=0_5", `line 1: connection_throttle_decrease_ratio: "0_5" is not a number`},
		{"connection_throttle_weight_enabled=1", `line 1: connection_throttle_weight_enabled: "1" is not true or false`},
		{"connection_throttle_global_session_weight=x", `line 1: connection_throttle_global_session_weight: "x" is not a number`},
		{"zookeeper.connection_throttle_local_session_weight=", `line 1: zookeeper.connection_throttle_local_session_weight: "" is not a number`},
		{"connection_throttle_renew_session_weight=2.0", `line 1: connection_throttle_renew_session_weight: "2.0" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, _, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error %q\nwant     %q", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *Error", err)
			}
			if key, _, _ := strings.Cut(tt.in, "="); ce.Key != key {
				t.Errorf("Error.Key = %q, want %q", ce.Key, key)
			}
		})
	}
}

// TestThrottleWarnings: values ZooKeeper takes but corrects (or reads as
// "off") are accepted with a warning naming the key.
func TestThrottleWarnings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func(c *Config)
		warn []string // substrings, one per warning
	}{
		{"negative max requests is off", "request_throttle_max_requests=-3", func(c *Config) {},
			[]string{"request_throttle_max_requests=-3: a negative limit turns the request throttle off"}},
		{"negative throttled op wait is off", "zookeeper.throttled_op_wait_time=-1", func(c *Config) {},
			[]string{"zookeeper.throttled_op_wait_time=-1: a negative wait time turns THROTTLEDOP answers off"}},
		{"global weight not positive", "connection_throttle_global_session_weight=0", func(c *Config) {},
			[]string{"line 2: connection_throttle_global_session_weight=0 is not positive; using 3"}},
		{"global weight below local", "connection_throttle_global_session_weight=2\nconnection_throttle_local_session_weight=4",
			func(c *Config) {
				c.ConnectionThrottle.GlobalSessionWeight, c.ConnectionThrottle.LocalSessionWeight = 4, 4
				c.ConnectionThrottle.RenewSessionWeight = 4
			},
			[]string{"line 2: connection_throttle_global_session_weight=2 is less than the local session weight 4; using 4",
				"connection_throttle_renew_session_weight=2 is less than the local session weight 4; using 4"}},
		{"local weight not positive", "zookeeper.connection_throttle_local_session_weight=-1", func(c *Config) {},
			[]string{"line 2: connection_throttle_local_session_weight=-1 is not positive; using 1"}},
		{"renew weight not positive", "connection_throttle_renew_session_weight=-2", func(c *Config) {},
			[]string{"connection_throttle_renew_session_weight=-2 is not positive; using 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings := mustParse(t, "dataDir=/d\n"+tt.in)
			want := zookeeperDefaults()
			tt.want(&want)
			if got := exported(c); !reflect.DeepEqual(got.RequestThrottle, want.RequestThrottle) ||
				!reflect.DeepEqual(got.ConnectionThrottle, want.ConnectionThrottle) {
				t.Errorf("got  %+v %+v\nwant %+v %+v", got.RequestThrottle, got.ConnectionThrottle,
					want.RequestThrottle, want.ConnectionThrottle)
			}
			if len(warnings) != len(tt.warn) {
				t.Fatalf("warnings %q, want %d", warnings, len(tt.warn))
			}
			for i, w := range tt.warn {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q lacks %q", warnings[i], w)
				}
			}
		})
	}
}

// TestValidateThrottles: a Config built in code is checked too, naming
// the key.
func TestValidateThrottles(t *testing.T) {
	tests := []struct {
		key    string
		change func(c *Config)
	}{
		{"request_throttle_max_requests", func(c *Config) { c.RequestThrottle.MaxRequests = -1 }},
		{"request_throttle_stall_time", func(c *Config) { c.RequestThrottle.StallTime = 0 }},
		{"throttled_op_wait_time", func(c *Config) { c.RequestThrottle.ThrottledOpWaitTime = -time.Second }},
		{"connection_throttle_tokens", func(c *Config) { c.ConnectionThrottle.Tokens = -1 }},
		{"connection_throttle_fill_time", func(c *Config) { c.ConnectionThrottle.FillTime = 0 }},
		{"connection_throttle_fill_count", func(c *Config) { c.ConnectionThrottle.FillCount = 0 }},
		{"connection_throttle_freeze_time", func(c *Config) { c.ConnectionThrottle.FreezeTime = -2 * time.Millisecond }},
		{"connection_throttle_drop_increase", func(c *Config) { c.ConnectionThrottle.DropIncrease = 1.5 }},
		{"connection_throttle_drop_decrease", func(c *Config) { c.ConnectionThrottle.DropDecrease = -1 }},
		{"connection_throttle_decrease_ratio", func(c *Config) { c.ConnectionThrottle.DecreaseRatio = 2 }},
		{"connection_throttle_global_session_weight", func(c *Config) { c.ConnectionThrottle.GlobalSessionWeight = 0 }},
		{"connection_throttle_local_session_weight", func(c *Config) { c.ConnectionThrottle.LocalSessionWeight = 0 }},
		{"connection_throttle_renew_session_weight", func(c *Config) { c.ConnectionThrottle.RenewSessionWeight = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := Default()
			c.DataDir = "/d"
			if err := c.Validate(); err != nil {
				t.Fatalf("defaults: %v", err)
			}
			tt.change(c)
			err := c.Validate()
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tt.key {
				t.Errorf("Validate = %v, want an *Error for %s", err, tt.key)
			}
		})
	}
}

func TestBlueEnabled(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"", false}, {"connection_throttle_freeze_time=-1", false}, {"connection_throttle_freeze_time=0", true}, {"connection_throttle_freeze_time=50", true}} {
		c, _ := mustParse(t, "dataDir=/d\n"+tc.in)
		if got := c.ConnectionThrottle.BlueEnabled(); got != tc.want {
			t.Errorf("%q: BlueEnabled = %v, want %v", tc.in, got, tc.want)
		}
	}
}
