package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/config"
	"github.com/zkd-io/zkd/server/zkserver"
)

// TestThrottleOptions: zoo.cfg's throttle keys reach the server's options
// with ZooKeeper's meaning (drop stale and the connection check on by
// default, BLUE off at freeze time -1).
func TestThrottleOptions(t *testing.T) {
	tests := []struct {
		name     string
		cfg      string
		wantReq  zkserver.RequestThrottleOptions
		wantConn zkserver.ConnectionThrottleOptions
	}{
		{
			name:    "defaults: both off",
			wantReq: zkserver.RequestThrottleOptions{StallTime: 100 * time.Millisecond},
			wantConn: zkserver.ConnectionThrottleOptions{FillTime: time.Millisecond, FillCount: 1,
				GlobalSessionWeight: 3, LocalSessionWeight: 1, RenewSessionWeight: 2},
		},
		{
			name: "everything set",
			cfg: "zookeeper.request_throttle_max_requests=50\nrequest_throttle_stall_time=20\nrequest_throttle_drop_stale=false\n" +
				"request_stale_connection_check=false\nrequest_stale_latency_check=true\nthrottled_op_wait_time=500\n" +
				"connection_throttle_tokens=100\nconnection_throttle_fill_time=10\nzookeeper.connection_throttle_fill_count=2\n" +
				"connection_throttle_freeze_time=50\nconnection_throttle_drop_increase=0.1\nconnection_throttle_drop_decrease=0.01\n" +
				"connection_throttle_decrease_ratio=0.25\nconnection_throttle_weight_enabled=true\n" +
				"connection_throttle_global_session_weight=4\nconnection_throttle_local_session_weight=2\nconnection_throttle_renew_session_weight=3\n",
			wantReq: zkserver.RequestThrottleOptions{MaxRequests: 50, StallTime: 20 * time.Millisecond, KeepStale: true,
				NoStaleConnectionCheck: true, StaleLatencyCheck: true, ThrottledOpWaitTime: 500 * time.Millisecond},
			wantConn: zkserver.ConnectionThrottleOptions{Tokens: 100, FillTime: 10 * time.Millisecond, FillCount: 2,
				Blue:          &zkserver.BlueOptions{FreezeTime: 50 * time.Millisecond, DropIncrease: 0.1, DropDecrease: 0.01, DecreaseRatio: 0.25},
				WeightEnabled: true, GlobalSessionWeight: 4, LocalSessionWeight: 2, RenewSessionWeight: 3},
		},
		{
			name:    "BLUE with ZooKeeper's drop settings",
			cfg:     "connection_throttle_tokens=10\nconnection_throttle_freeze_time=0\n",
			wantReq: zkserver.RequestThrottleOptions{StallTime: 100 * time.Millisecond},
			wantConn: zkserver.ConnectionThrottleOptions{Tokens: 10, FillTime: time.Millisecond, FillCount: 1,
				Blue:                zkserver.DefaultBlueOptions(0),
				GlobalSessionWeight: 3, LocalSessionWeight: 1, RenewSessionWeight: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Parse(strings.NewReader("dataDir=/d\n" + tt.cfg))
			if err != nil {
				t.Fatal(err)
			}
			if got := requestThrottleOptions(cfg.RequestThrottle); got != tt.wantReq {
				t.Errorf("request throttle %+v\nwant               %+v", got, tt.wantReq)
			}
			if got := connectionThrottleOptions(cfg.ConnectionThrottle); !reflect.DeepEqual(got, tt.wantConn) {
				t.Errorf("connection throttle %+v (blue %+v)\nwant                %+v (blue %+v)", got, got.Blue, tt.wantConn, tt.wantConn.Blue)
			}
		})
	}
}
