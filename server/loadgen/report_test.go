package loadgen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func lat(p50, p90, p99, p999, maxd time.Duration) Latency {
	return Latency{Count: 1, P50: p50, P90: p90, P99: p99, P999: p999, Max: maxd}
}

const us, ms = time.Microsecond, time.Millisecond

// sample results: zkd and Apache for four workloads, one run missing on
// each side, errors on one, and a pipelined run.
var (
	zkdResults = []Result{
		{Workload: "create", Clients: 16, Pipeline: 1, Ops: 153519, OpsPerSec: 10234.6, ServerCPU: 153519 * 95 * us, ClientCPU: 153519 * 61 * us, Latency: lat(1400*us, 2100*us, 4600*us, 12300*us, 31*ms)},
		{Workload: "set", Clients: 16, Pipeline: 1, Ops: 165300, OpsPerSec: 11020, ServerCPU: 165300 * 88 * us, ClientCPU: 165300 * 60 * us, Latency: lat(1300*us, 2000*us, 4100*us, 9800*us, 20*ms)},
		{Workload: "get", Clients: 16, Pipeline: 1, Ops: 918006, OpsPerSec: 61200.4, ServerCPU: 918006 * 12 * us, ClientCPU: 918006 * 19 * us, Latency: lat(230*us, 410*us, 980*us, 2200*us, 8*ms)},
		{Workload: "mixed-90", Clients: 16, Pipeline: 1, OpsPerSec: 40100, Latency: lat(280*us, 900*us, 3100*us, 7*ms, 15*ms),
			Errors: map[string]int64{"CONNECTIONLOSS": 2, "NONODE": 1},
			PerOp: map[string]OpResult{
				"get": {OpsPerSec: 36090, Latency: lat(250*us, 600*us, 2000*us, 5*ms, 9*ms)},
				"set": {OpsPerSec: 4010, Latency: lat(1200*us, 2600*us, 4200*us, 7500*us, 15*ms)},
			}},
		{Workload: "get", Clients: 4, Pipeline: 8, OpsPerSec: 70000, Latency: lat(400*us, 800*us, 1500*us, 3*ms, 4*ms)},
		{Workload: "set", Clients: 16, Pipeline: 1, Rate: 2500, OpsPerSec: 2499.7, Latency: lat(900*us, 1300*us, 2100*us, 5*ms, 9*ms)},
	}
	apacheResults = []Result{
		{Workload: "create", Clients: 16, Pipeline: 1, Ops: 109668, OpsPerSec: 7311.2, ServerCPU: 109668 * 190 * us, ClientCPU: 109668 * 63 * us, Latency: lat(2000*us, 3000*us, 9900*us, 45*ms, 120*ms)},
		{Workload: "set", Clients: 16, Pipeline: 1, Ops: 120000, OpsPerSec: 8000, ServerCPU: 120000 * 176 * us, ClientCPU: 120000 * 62 * us, Latency: lat(1900*us, 2900*us, 8200*us, 40*ms, 11*time.Second)},
		{Workload: "get", Clients: 16, Pipeline: 1, OpsPerSec: 45000, Latency: lat(320*us, 600*us, 1200*us, 3*ms, 50*ms)},
		{Workload: "mixed-50", Clients: 16, Pipeline: 1, OpsPerSec: 15000, Latency: lat(900*us, 1500*us, 5*ms, 9*ms, 20*ms)},
		{Workload: "set", Clients: 16, Pipeline: 1, Rate: 2500, OpsPerSec: 2500.2, Latency: lat(1600*us, 2400*us, 7*ms, 12*ms, 30*ms)},
	}
)

func TestWriteComparisonGolden(t *testing.T) {
	var b bytes.Buffer
	err := WriteComparison(&b, []Target{
		{Name: "zkd 3-node", Results: zkdResults, MemoryNote: "100 000 znodes of 128 bytes",
			Memory: []Memory{{RSS: 60 << 20, HWM: 75 << 20}, {RSS: 58 << 20, HWM: 70 << 20}, {RSS: 59<<20 + 512<<10, HWM: 71 << 20}}},
		{Name: "Apache 3-node", Results: apacheResults, MemoryNote: "100 000 znodes of 128 bytes",
			Memory: []Memory{{RSS: 310 << 20, HWM: 330 << 20}, {RSS: 300 << 20, HWM: 320 << 20}, {RSS: 305 << 20, HWM: 325 << 20}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "comparison.golden", b.Bytes())
}

func TestWriteComparisonNoMemory(t *testing.T) {
	var b bytes.Buffer
	if err := WriteComparison(&b, []Target{{Name: "zkd", Results: zkdResults[:2]}, {Name: "Apache", Results: apacheResults[:2]}}); err != nil {
		t.Fatal(err)
	}
	golden(t, "comparison-nomemory.golden", b.Bytes())
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, zkdResults); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
}

func TestFormatLatency(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                   "-",
		37 * us:                             "37µs",
		999 * us:                            "999µs",
		1234 * us:                           "1.23ms",
		12345 * us:                          "12.3ms",
		123456 * us:                         "123ms",
		9999 * ms:                           "9999ms",
		12 * time.Second:                    "12.0s",
		90*time.Second + 5*time.Millisecond: "90.0s",
	} {
		if got := FormatLatency(d); got != want {
			t.Errorf("FormatLatency(%v) = %q, want %q", d, got, want)
		}
	}
}
