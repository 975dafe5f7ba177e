package zkserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/server/zkserver"
)

// BenchmarkServerMetrics measures instrumentation overhead end to end: the
// server benchmark's workloads with the metrics unregistered (never
// exported), and registered and scraped ten times a second, as a
// Prometheus with a short interval would. The metric updates themselves
// run either way (they are plain atomics); what differs is the export.
// Compare with `benchstat` across the sub-benchmarks.
func BenchmarkServerMetrics(b *testing.B) {
	payload := make([]byte, 128)
	for _, op := range []string{"create", "get", "set"} {
		for _, scraped := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/durable=true/scraped=%v", op, scraped), func(b *testing.B) {
				opts := zkserver.Options{}
				if scraped {
					reg := prometheus.NewRegistry()
					opts.Registerer = reg
					stop := make(chan struct{})
					defer close(stop)
					go func() {
						t := time.NewTicker(100 * time.Millisecond)
						defer t.Stop()
						for {
							select {
							case <-stop:
								return
							case <-t.C:
								if _, err := reg.Gather(); err != nil {
									b.Error(err)
									return
								}
							}
						}
					}()
				}
				runServerBench(b, benchServer(b, true, opts), op, payload)
			})
		}
	}
}

// BenchmarkRequestInstrumentation is the per-request cost of the metrics a
// request updates (its counter by op and result, its latency histogram
// with native buckets), to set against a request's tens of microseconds.
func BenchmarkRequestInstrumentation(b *testing.B) {
	m := zkserver.NewMetrics(prometheus.NewRegistry())
	start := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Requests.WithLabelValues("create", "ok").Inc()
			m.RequestDuration.WithLabelValues("create").Observe(time.Since(start).Seconds())
		}
	})
}
