package zkserver_test

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// stepClock is a clock the test moves by hand.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// connectOutcome sends a ConnectRequest (sessionID 0: a new session, else
// a re-attach with passwd) on a fresh connection and reports whether the
// server answered (true) or closed the connection (false).
func connectOutcome(t *testing.T, addr string, sessionID int64, passwd []byte) (proto.ConnectResponse, bool) {
	t.Helper()
	w := dialWire(t, addr)
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	if err := w.write(frameOf(proto.Marshal(&proto.ConnectRequest{TimeOut: 30000, SessionID: sessionID, Passwd: passwd}))); err != nil {
		return proto.ConnectResponse{}, false
	}
	b, err := w.readFrame()
	if err != nil {
		return proto.ConnectResponse{}, false
	}
	var resp proto.ConnectResponse
	if err := proto.Unmarshal(b, 0, &resp); err != nil {
		t.Fatalf("connect response: %v", err)
	}
	return resp, true
}

// TestConnectionThrottle: with a budget of two tokens refilled one per
// hour, the third connect request is refused (its connection closed, the
// refusal counted), and once the clock has moved on by a fill time a new
// one is accepted; re-attaching costs a token too.
func TestConnectionThrottle(t *testing.T) {
	clk := &stepClock{now: time.Unix(1_700_000_000, 0)}
	reg := prometheus.NewRegistry()
	srv := zkservertest.Start(t, zkserver.Options{
		Registerer:        reg,
		FourLetterAllowed: func(string) bool { return true },
		ConnectionThrottle: zkserver.ConnectionThrottleOptions{
			Tokens: 2, FillTime: time.Hour, FillCount: 1, Now: clk.Now,
		},
	})
	addr := srv.Addr().String()
	rejected := func() float64 {
		return metricvalue.OfSeries(t, reg, "zkd_server_connections_rejected_total", "reason", "connection_throttle")
	}

	first, ok := connectOutcome(t, addr, 0, nil)
	if !ok || first.SessionID == 0 {
		t.Fatal("the first connect request was refused")
	}
	if _, ok := connectOutcome(t, addr, 0, nil); !ok {
		t.Fatal("the second connect request was refused")
	}
	if got := metricvalue.Of(t, reg, "zkd_server_connection_throttle_tokens"); got != 0 {
		t.Errorf("tokens gauge %v after two connections, want 0", got)
	}
	for i := range 3 {
		if _, ok := connectOutcome(t, addr, 0, nil); ok {
			t.Fatalf("connect request %d beyond the budget was answered", i+3)
		}
	}
	// A re-attach is a connect request like any other.
	if _, ok := connectOutcome(t, addr, first.SessionID, first.Passwd); ok {
		t.Fatal("a re-attach beyond the budget was answered")
	}
	if got := rejected(); got != 4 {
		t.Errorf("connection_throttle rejections counted %v, want 4", got)
	}
	m := mntr(t, addr)
	for key, want := range map[string]string{
		"zk_connection_rejected":          "4",
		"zk_connection_request_count":     "2",
		"zk_connection_drop_probability":  "0.0",
		"zk_cnt_connection_token_deficit": "2",
		"zk_max_connection_token_deficit": "2",
		"zk_min_connection_token_deficit": "1",
		"zk_avg_connection_token_deficit": "1.5",
	} {
		if m[key] != want {
			t.Errorf("mntr %s = %q, want %q", key, m[key], want)
		}
	}

	clk.Advance(time.Hour + time.Millisecond) // one token back
	if resp, ok := connectOutcome(t, addr, first.SessionID, first.Passwd); !ok || resp.SessionID != first.SessionID {
		t.Fatalf("the re-attach after a refill was refused (%+v)", resp)
	}
	if _, ok := connectOutcome(t, addr, 0, nil); ok {
		t.Fatal("a second connection after one refill was answered")
	}
	clk.Advance(time.Hour + time.Millisecond)
	if _, ok := connectOutcome(t, addr, 0, nil); !ok {
		t.Fatal("a new session after a refill was refused")
	}
	if got := rejected(); got != 5 {
		t.Errorf("connection_throttle rejections counted %v, want 5", got)
	}
}

// TestConnectionThrottleOffByDefault: without connection_throttle_tokens
// nothing is refused and the gauges stay at zero.
func TestConnectionThrottleOffByDefault(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := zkservertest.Start(t, zkserver.Options{Registerer: reg})
	for i := range 20 {
		if _, ok := connectOutcome(t, srv.Addr().String(), 0, nil); !ok {
			t.Fatalf("connect request %d was refused with the throttle off", i)
		}
	}
	if got := metricvalue.OfSeries(t, reg, "zkd_server_connections_rejected_total", "reason", "connection_throttle"); got != 0 {
		t.Errorf("rejections %v", got)
	}
	if got := metricvalue.Of(t, reg, "zkd_server_connection_throttle_tokens"); got != 0 {
		t.Errorf("tokens gauge %v with the throttle off", got)
	}
}
