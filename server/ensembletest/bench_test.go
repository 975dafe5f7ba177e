package ensembletest

import (
	"fmt"
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
	measure := func(kind Kind) ([]loadgen.Result, []loadgen.Memory) {
		c := Start(t, opts(kind))
		if err := c.WaitServing(2 * time.Minute); err != nil {
			t.Fatal(err)
		}
		results, err := loadgen.RunWorkloads(t.Context(), loadgen.Config{
			Servers: c.Addrs(), Clients: clients, Duration: duration,
			// Ten seconds of warm-up lets the JVM's JIT compile the hot paths
			// before Apache is measured.
			Warmup: 10 * time.Second, PayloadSize: payload, KeySpace: 1000,
		}, workloads, fmt.Sprintf("%s 3-node", kind), func(r loadgen.Result) {
			t.Logf("%s %s: %.0f ops/s p50 %v p99 %v errors %v", r.Target, r.Workload, r.OpsPerSec, r.Latency.P50, r.Latency.P99, r.Errors)
		})
		if err != nil {
			t.Fatal(err)
		}
		c.cleanup()

		c = Start(t, opts(kind))
		if err := c.WaitServing(2 * time.Minute); err != nil {
			t.Fatal(err)
		}
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
		c.cleanup()
		return results, mem
	}
	zkdResults, zkdMem := measure(Zkd)
	apacheResults, apacheMem := measure(Apache)

	var b strings.Builder
	note := fmt.Sprintf("%d znodes of %d bytes, per member", znodes, payload)
	if err := loadgen.WriteComparison(&b, []loadgen.Target{
		{Name: "zkd 3-node", Results: zkdResults, Memory: zkdMem, MemoryNote: note},
		{Name: "Apache 3-node", Results: apacheResults, Memory: apacheMem, MemoryNote: note},
	}); err != nil {
		t.Fatal(err)
	}
	fmt.Println(b.String()) // the report make bench prints
}
