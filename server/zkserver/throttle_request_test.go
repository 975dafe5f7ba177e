package zkserver_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// durableThrottled starts a server whose writes are fsynced (so requests
// stay in process long enough to pile up) with the request throttler at
// maxRequests.
func durableThrottled(t *testing.T, maxRequests int) (*zkserver.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	store, err := storage.Open(storage.Options{DataDir: t.TempDir(), ForceSync: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := zkservertest.Start(t, zkserver.Options{
		Store: store, Registerer: reg,
		RequestThrottle:   zkserver.RequestThrottleOptions{MaxRequests: maxRequests},
		FourLetterAllowed: func(string) bool { return true },
	})
	return srv, reg
}

// TestRequestThrottleMaxRequests: with request_throttle_max_requests 2 and
// 16 clients reading and writing at once, requests wait in the throttler
// (counted, their wait observed, and ZooKeeper's mntr keys agree) and
// every one of them succeeds; afterwards nothing is left in process.
func TestRequestThrottleMaxRequests(t *testing.T) {
	srv, reg := durableThrottled(t, 2)
	concurrentClients(t, srv.Addr().String(), 16, 20, func(conn *zk.Conn, c, i int) error {
		path := fmt.Sprintf("/c%d-%d", c, i)
		if _, err := conn.Create(path, []byte(path), 0, zk.WorldACL(zk.PermAll)); err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		if data, _, err := conn.Get(path); err != nil || string(data) != path {
			return fmt.Errorf("get %s: %q, %v", path, data, err)
		}
		return nil
	})
	if got := metricvalue.Of(t, reg, "zkd_server_request_throttle_waited_requests_total"); got == 0 {
		t.Error("no request waited with request_throttle_max_requests 2 and 16 clients")
	}
	if got := metricvalue.Of(t, reg, "zkd_server_request_throttle_wait_seconds"); got == 0 {
		t.Error("no wait observed")
	}
	// A write's slot comes back just after its reply is queued.
	waitUntil(t, "the in-process gauge to return to 0", func() bool {
		return metricvalue.Of(t, reg, "zkd_server_request_throttle_in_process_requests") == 0
	})
	if got := metricvalue.Of(t, reg, "zkd_server_request_throttle_queued_requests"); got != 0 {
		t.Errorf("%v requests still queued", got)
	}
	m := mntr(t, srv.Addr().String())
	stalls := metricvalue.Of(t, reg, "zkd_server_request_throttle_stalls_total")
	if m["zk_request_throttle_wait_count"] != strconv.FormatFloat(stalls, 'f', -1, 64) {
		t.Errorf("mntr zk_request_throttle_wait_count %q, the stall counter %v", m["zk_request_throttle_wait_count"], stalls)
	}
	for _, key := range []string{"zk_stale_requests_dropped", "zk_stale_requests", "zk_throttled_ops"} {
		if m[key] != "0" {
			t.Errorf("mntr %s = %q, want 0", key, m[key])
		}
	}
}

// waitUntil polls cond (bounded) until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestRequestThrottleKeepsOrder: a client that pipelines creates, reads
// and syncs while the throttler admits one request at a time, with other
// clients competing, gets its replies in request order, and its
// sequential znodes are numbered in request order.
func TestRequestThrottleKeepsOrder(t *testing.T) {
	srv, reg := durableThrottled(t, 1)
	addr := srv.Addr().String()

	// Competitors keep the single slot contended.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for c := range 4 {
		wg.Go(func() {
			conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
			if err != nil {
				return
			}
			defer conn.Close()
			for i := 0; i < 500; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = conn.Create(fmt.Sprintf("/other-%d-%d", c, i), nil, 0, zk.WorldACL(zk.PermAll))
			}
		})
	}

	w := dialWire(t, addr)
	w.connect()
	const n = 60
	var batch []byte
	for xid := int32(1); xid <= n; xid++ {
		switch xid % 3 {
		case 0:
			batch = append(batch, request(xid, proto.OpCreate, proto.Marshal(&proto.CreateRequest{
				Path: "/seq-", ACL: proto.OpenACLUnsafe, Flags: proto.FlagPersistentSequential}))...)
		case 1:
			batch = append(batch, request(xid, proto.OpExists, proto.Marshal(&proto.PathWatchRequest{Path: "/"}))...)
		case 2:
			batch = append(batch, request(xid, proto.OpSync, proto.Marshal(&proto.PathRequest{Path: "/"}))...)
		}
	}
	if err := w.write(batch); err != nil {
		t.Fatal(err)
	}
	last := ""
	for want := int32(1); want <= n; want++ {
		b, err := w.readFrame()
		if err != nil {
			t.Fatalf("reply %d: %v", want, err)
		}
		d := jute.NewDecoder(b, 0)
		var h proto.ReplyHeader
		h.Decode(d)
		if h.Xid == proto.XidNotification {
			want--
			continue
		}
		if h.Xid != want || h.Err != proto.ErrOK {
			t.Fatalf("reply xid %d err %d, want xid %d ok: replies out of order", h.Xid, h.Err, want)
		}
		if want%3 == 0 {
			var r proto.CreateResponse
			if err := proto.Unmarshal(d.Rest(), 0, &r); err != nil {
				t.Fatal(err)
			}
			if r.Path <= last {
				t.Fatalf("create xid %d made %s after %s: applied out of order", want, r.Path, last)
			}
			last = r.Path
		}
	}
	if got := metricvalue.Of(t, reg, "zkd_server_request_throttle_waited_requests_total"); got == 0 {
		t.Error("no request waited: the test did not exercise the throttle")
	}
}
