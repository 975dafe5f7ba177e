package ensembletest

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/loadgen"
)

// TestBenchmarkEnsembles is `make bench`'s side-by-side run: the same
// go-zookeeper load (create, set, get, mixed-90; 16 clients spread over the
// members; 128-byte payloads) against a 3-node zkd ensemble and a 3-node
// Apache ZooKeeper 3.8 ensemble on this machine, then the resident memory
// of every member of fresh ensembles holding 100 000 znodes. It prints
// ops/s and p50/p99 for both, side by side, and asserts nothing about
// speed: it only runs when ZKD_BENCH_ENSEMBLE=1. ZKD_BENCH_DURATION sets
// the measured time per workload (default 15s).
//
// The first table is a closed loop: each client sends as soon as it has
// its answer, so each system's latency is measured at its own
// throughput, and the faster one is measured under more load. The second
// table compares latency at equal load: every workload again, offered to
// both at a fixed rate of equalLoad times the slower system's ops/s in
// the first table.
func TestBenchmarkEnsembles(t *testing.T) {
	if os.Getenv("ZKD_BENCH_ENSEMBLE") != "1" {
		t.Skip("set ZKD_BENCH_ENSEMBLE=1 (make bench) to compare 3-node zkd and Apache ZooKeeper ensembles")
	}
	duration, err := loadgen.DurationFromEnv("ZKD_BENCH_DURATION", 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const (
		clients = 16
		payload = 128
		znodes  = 100_000
	)
	workloads := []loadgen.Workload{loadgen.Create, loadgen.Set, loadgen.Get, loadgen.Mixed(90)}
	// Production-like settings for both: a 2 s tick, fsync on, snapshots
	// every 100 000 txns. Apache runs on the JVM's server defaults (G1,
	// the optimising JIT) with zkEnv.sh's default heap of 1000 MB, not
	// the harness's quick-start flags.
	opts := func(kind Kind) Options {
		return Options{Kind: kind, TickTime: 2 * time.Second, Extra: map[string]string{"maxClientCnxns": "0"},
			JavaProps: map[string]string{"zookeeper.fastleader.maxNotificationInterval": "1000"},
			JVMFlags:  []string{"-Xmx1000m"}}
	}
	start := func(kind Kind) *Cluster {
		c := Start(t, opts(kind))
		if err := c.WaitServing(2 * time.Minute); err != nil {
			t.Fatal(err)
		}
		return c
	}
	memory := func(kind Kind) []loadgen.Memory {
		c := start(kind)
		defer c.cleanup()
		if err := loadgen.Populate(t.Context(), c.Addrs(), "/mem", znodes, make([]byte, payload)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // let snapshots and GC settle
		var mem []loadgen.Memory
		for _, n := range c.Nodes {
			m, err := loadgen.ProcessMemory(n.Pid())
			if err != nil {
				t.Fatal(err)
			}
			mem = append(mem, m)
		}
		return mem
	}

	// measure runs every workload, at rates[workload] if given, on an
	// ensemble of its own, started afresh, so that no measurement carries
	// another one's data, logs or garbage.
	measure := func(kind Kind, rates map[loadgen.Workload]float64) []loadgen.Result {
		c := start(kind)
		defer c.cleanup()
		var pids []int
		for _, n := range c.Nodes {
			pids = append(pids, n.Pid())
		}
		var out []loadgen.Result
		for _, w := range workloads {
			rs, err := loadgen.RunWorkloads(t.Context(), loadgen.Config{
				Servers: c.Addrs(), Clients: clients, Duration: duration, Rate: rates[w],
				// Ten seconds of warm-up lets the JVM's JIT compile the hot paths
				// before Apache is measured.
				Warmup: 10 * time.Second, PayloadSize: payload, KeySpace: 1000,
				ServerCPU: func() (time.Duration, error) { return loadgen.ProcessCPU(pids...) },
			}, []loadgen.Workload{w}, fmt.Sprintf("%s 3-node", kind), func(r loadgen.Result) {
				t.Logf("%s %s at %.0f/s: %.0f ops/s p50 %v p99 %v, CPU per op %v (load generator %v), errors %v", r.Target,
					r.Workload, r.Rate, r.OpsPerSec, r.Latency.P50, r.Latency.P99, r.CPUPerOp(r.ServerCPU), r.CPUPerOp(r.ClientCPU), r.Errors)
			})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rs...)
		}
		return out
	}
	zkdResults, apacheResults := measure(Zkd, nil), measure(Apache, nil)
	rates := equalRates(zkdResults, apacheResults)
	zkdPaced, apachePaced := measure(Zkd, rates), measure(Apache, rates)
	zkdMem, apacheMem := memory(Zkd), memory(Apache)

	var b strings.Builder
	note := fmt.Sprintf("%d znodes of %d bytes, per member", znodes, payload)
	err = loadgen.WriteComparison(&b, []loadgen.Target{
		{Name: "zkd 3-node", Results: zkdResults, Memory: zkdMem, MemoryNote: note},
		{Name: "Apache 3-node", Results: apacheResults, Memory: apacheMem, MemoryNote: note},
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "\nat equal load: each workload offered to both at %.0f%% of the slower one's ops/s above (clients@rate);\n"+
		"a request held up by the answer to the one before it counts from when it was due\n", equalLoad*100)
	if err := loadgen.WriteComparison(&b, []loadgen.Target{
		{Name: "zkd 3-node", Results: zkdPaced},
		{Name: "Apache 3-node", Results: apachePaced},
	}); err != nil {
		t.Fatal(err)
	}
	fmt.Println(b.String()) // the report make bench prints
}

// equalLoad is the fraction of the slower system's closed-loop throughput
// at which the equal-load comparison offers each workload: well below
// what either sustains, so that latency is compared without a backlog.
// (At 0.8, Apache fell behind the offered create load on this machine,
// and its latencies became those of the backlog, seconds long.)
const equalLoad = 0.5

// equalRates returns, per workload that both a and b measured, equalLoad
// times the lower of their ops/s, rounded down to a multiple of 100 (of
// 10 below 1000) for a readable table.
func equalRates(a, b []loadgen.Result) map[loadgen.Workload]float64 {
	rates := map[loadgen.Workload]float64{}
	for _, ra := range a {
		for _, rb := range b {
			if ra.Workload != rb.Workload {
				continue
			}
			w, err := loadgen.ParseWorkload(ra.Workload)
			if err != nil {
				continue
			}
			r := equalLoad * min(ra.OpsPerSec, rb.OpsPerSec)
			step := 100.0
			if r < 1000 {
				step = 10
			}
			if r = math.Floor(r/step) * step; r > 0 {
				rates[w] = r
			}
		}
	}
	return rates
}

// TestEqualRates: each workload both measured gets equalLoad times the
// slower one's ops/s, rounded down; a workload only one measured gets no
// rate (a closed loop).
func TestEqualRates(t *testing.T) {
	zkd := []loadgen.Result{{Workload: "set", OpsPerSec: 4065}, {Workload: "mixed-90", OpsPerSec: 11236}, {Workload: "get", OpsPerSec: 36641},
		{Workload: "create", OpsPerSec: 900}}
	apache := []loadgen.Result{{Workload: "set", OpsPerSec: 3203}, {Workload: "mixed-90", OpsPerSec: 6767}, {Workload: "create", OpsPerSec: 1000}}
	got := equalRates(zkd, apache)
	want := map[loadgen.Workload]float64{loadgen.Set: 1600, loadgen.Mixed(90): 3300, loadgen.Create: 450}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rates %v, want %v", got, want)
	}
}
