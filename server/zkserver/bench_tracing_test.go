package zkserver_test

import (
	"context"
	"fmt"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/zkd-io/zkd/server/zkserver"
)

// discardExporter drops spans after the SDK has built and batched them,
// so the benchmark measures zkd's and the SDK's cost, not a collector's.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkServerTracing is BenchmarkServer's workload with tracing off
// (nil Tracer), with an SDK tracer that samples nothing, and with one that
// samples every request (batch span processor, spans discarded).
func BenchmarkServerTracing(b *testing.B) {
	payload := make([]byte, 128)
	tracers := []struct {
		name  string
		ratio float64 // < 0: no tracer
	}{{"off", -1}, {"ratio=0", 0}, {"ratio=1", 1}}
	for _, durable := range []bool{false, true} {
		for _, op := range []string{"create", "get", "set"} {
			for _, tr := range tracers {
				b.Run(fmt.Sprintf("%s/durable=%v/tracing=%s", op, durable, tr.name), func(b *testing.B) {
					opts := zkserver.Options{}
					if tr.ratio >= 0 {
						tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}),
							sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(tr.ratio))))
						defer tp.Shutdown(context.Background())
						opts.Tracer = tp.Tracer("bench")
					}
					runServerBench(b, benchServer(b, durable, opts), op, payload)
				})
			}
		}
	}
}
