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

	"github.com/zkd-io/zkd/metrics/metricvalue"
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
	concurrentClients(t, srv.Addr().String(), 16, 20, func(conn *zk.Conn, c, i int) error {
		_, err := conn.Create(fmt.Sprintf("/c%d-%d", c, i), nil, 0, zk.WorldACL(zk.PermAll))
		return err
	})
	throttled := metricvalue.Of(t, reg, "zkd_server_throttled_requests_total")
	if throttled == 0 {
		t.Errorf("no write was throttled with globalOutstandingLimit 2 and 16 writers")
	}
	if n := testutil.CollectAndCount(reg, "zkd_server_throttle_wait_seconds"); n != 1 {
		t.Errorf("zkd_server_throttle_wait_seconds series: %d", n)
	}
}

// concurrentClients opens n sessions to addr at once; each calls op with
// its index and i = 0..each-1 in turn. The test fails on the first error.
func concurrentClients(t *testing.T, addr string, n, each int, op func(conn *zk.Conn, client, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for c := range n {
		wg.Go(func() {
			conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for i := range each {
				if err := op(conn, c, i); err != nil {
					errs <- fmt.Errorf("client %d, op %d: %w", c, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
