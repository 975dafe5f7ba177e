package zkserver_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// benchServer starts zkd with opts, in memory or with durable storage
// (fsync on), and returns its client address.
func benchServer(b *testing.B, durable bool, opts zkserver.Options) string {
	b.Helper()
	if durable {
		store, err := storage.Open(storage.Options{DataDir: b.TempDir(), ForceSync: true, Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		opts.Store = store
	}
	return zkservertest.Start(b, opts).Addr().String()
}

// BenchmarkServer measures ops/s through real go-zookeeper clients (16
// connections in parallel) for creates, getData and setData, in memory and
// with the txn log fsynced per batch.
func BenchmarkServer(b *testing.B) {
	payload := make([]byte, 128)
	for _, durable := range []bool{false, true} {
		for _, op := range []string{"create", "get", "set"} {
			b.Run(fmt.Sprintf("%s/durable=%v", op, durable), func(b *testing.B) {
				runServerBench(b, benchServer(b, durable, zkserver.Options{}), op, payload)
			})
		}
	}
}

// runServerBench runs op from 8 x GOMAXPROCS clients against addr.
func runServerBench(b *testing.B, addr, op string, payload []byte) {
	setup, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		b.Fatal(err)
	}
	defer setup.Close()
	if _, err := setup.Create("/bench", payload, 0, zk.WorldACL(zk.PermAll)); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		for pb.Next() {
			switch op {
			case "create":
				_, err = conn.Create(fmt.Sprintf("/bench/n%d", next.Add(1)), payload, 0, zk.WorldACL(zk.PermAll))
			case "get":
				_, _, err = conn.Get("/bench")
			case "set":
				_, err = conn.Set("/bench", payload, -1)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
