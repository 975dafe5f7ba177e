package zkserver_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// TestGlobalOutstandingLimit: with a limit of 2 and 16 clients writing
// through fsynced batches, writes are held back (counted, and their wait
// observed) and every one of them still succeeds.
func TestGlobalOutstandingLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	store, err := storage.Open(storage.Options{DataDir: t.TempDir(), ForceSync: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := zkservertest.Start(t, zkserver.Options{Store: store, Registerer: reg, GlobalOutstandingLimit: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for c := range 16 {
		wg.Go(func() {
			conn, _, err := zk.Connect([]string{srv.Addr().String()}, 10*time.Second, zk.WithLogInfo(false))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for i := range 20 {
				if _, err := conn.Create(fmt.Sprintf("/c%d-%d", c, i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write under throttling: %v", err)
	}
	throttled := 0.0
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "zkd_server_throttled_requests_total" {
			throttled = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if throttled == 0 {
		t.Errorf("no write was throttled with globalOutstandingLimit 2 and 16 writers")
	}
	if n := testutil.CollectAndCount(reg, "zkd_server_throttle_wait_seconds"); n != 1 {
		t.Errorf("zkd_server_throttle_wait_seconds series: %d", n)
	}
}
