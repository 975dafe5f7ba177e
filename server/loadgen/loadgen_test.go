package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/loadgen"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// workloads are run against each server for a second each: every kind,
// with and without pipelining and with both ways of choosing servers.
var workloads = []struct {
	name string
	cfg  loadgen.Config
}{
	{"create", loadgen.Config{Workload: loadgen.Create, Clients: 4}},
	{"set", loadgen.Config{Workload: loadgen.Set, Clients: 4, KeySpace: 50}},
	{"get pipelined", loadgen.Config{Workload: loadgen.Get, Clients: 2, Pipeline: 4, KeySpace: 50}},
	{"mixed-90 connect-all", loadgen.Config{Workload: loadgen.Mixed(90), Clients: 4, KeySpace: 50, ConnectAll: true}},
	{"create by op count", loadgen.Config{Workload: loadgen.Create, Clients: 2, Ops: 200, Duration: 0}},
	{"mixed-90 at a fixed rate", loadgen.Config{Workload: loadgen.Mixed(90), Clients: 2, Pipeline: 2, KeySpace: 50, Rate: 300}},
}

// TestRunZkd runs the workloads against an in-process server, whose CPU
// use cannot be told apart from the load generator's.
func TestRunZkd(t *testing.T) {
	addr := zkservertest.Start(t, zkserver.Options{}).Addr().String()
	runWorkloads(t, []string{addr}, nil)
}

func TestRunApache(t *testing.T) {
	z := testpeer.StartApacheZK(t, testpeer.ApacheOptions{DisableAdminServer: true})
	runWorkloads(t, []string{z.Addr}, func() (time.Duration, error) { return loadgen.ProcessCPU(z.Pid()) })
	m, err := loadgen.ProcessMemory(z.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS == 0 || m.HWM < m.RSS {
		t.Errorf("Apache ZooKeeper memory %+v: want 0 < RSS <= HWM", m)
	}
}

func runWorkloads(t *testing.T, servers []string, serverCPU func() (time.Duration, error)) {
	for _, wl := range workloads {
		t.Run(wl.name, func(t *testing.T) {
			cfg := wl.cfg
			cfg.Servers = servers
			cfg.ServerCPU = serverCPU
			cfg.PayloadSize = 64
			if cfg.Ops == 0 {
				cfg.Duration = time.Second
				cfg.Warmup = 200 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			res, err := loadgen.Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, cfg, res)
			assertGone(t, servers, res.Root)
		})
	}
}

func checkResult(t *testing.T, cfg loadgen.Config, res loadgen.Result) {
	t.Helper()
	if res.Ops <= 0 || res.OpsPerSec <= 0 {
		t.Errorf("ops %d, ops/s %.0f: want > 0", res.Ops, res.OpsPerSec)
	}
	if cfg.Ops > 0 && res.Ops != cfg.Ops {
		t.Errorf("ops %d, want exactly %d", res.Ops, cfg.Ops)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors %v", res.Errors)
	}
	if res.Workload != cfg.Workload.String() {
		t.Errorf("workload %q, want %q", res.Workload, cfg.Workload)
	}
	if res.Rate != cfg.Rate {
		t.Errorf("rate %g, want %g", res.Rate, cfg.Rate)
	}
	if cfg.Rate > 0 {
		// Paced: at most one request per goroutine beyond the schedule
		// (the one in flight when the window opened) can land in it.
		if limit := cfg.Rate*res.Elapsed.Seconds() + float64(cfg.Clients*cfg.Pipeline); float64(res.Ops) > limit {
			t.Errorf("%d requests in %v at %g/s: more than the schedule allows (%.0f)", res.Ops, res.Elapsed, cfg.Rate, limit)
		}
	}
	checkLatency(t, "all", res.Latency, res.Ops)
	var sum int64
	for op, o := range res.PerOp {
		checkLatency(t, op, o.Latency, o.Ops)
		sum += o.Ops
	}
	if sum != res.Ops {
		t.Errorf("per-op ops add up to %d, total %d", sum, res.Ops)
	}
	if cfg.Workload.Kind == loadgen.KindMixed {
		if res.PerOp["get"].Ops == 0 || res.PerOp["set"].Ops == 0 || res.PerOp["get"].Ops < res.PerOp["set"].Ops {
			t.Errorf("mixed-90 per op %+v: want both, mostly gets", res.PerOp)
		}
	}
	if res.Histogram.TotalCount() != res.Ops {
		t.Errorf("histogram holds %d values, ops %d", res.Histogram.TotalCount(), res.Ops)
	}
	// A second of requests costs the load generator CPU time, and the
	// server more than one clock tick (10 ms) of it.
	if res.ClientCPU <= 0 {
		t.Errorf("load generator CPU %v: want > 0", res.ClientCPU)
	}
	switch {
	case cfg.ServerCPU == nil && res.ServerCPU != 0:
		t.Errorf("server CPU %v without a way to measure it", res.ServerCPU)
	case cfg.ServerCPU != nil && cfg.Duration >= time.Second && res.ServerCPU <= 0:
		t.Errorf("server CPU %v: want > 0", res.ServerCPU)
	}
}

// TestRunServerCPUError: a run told to measure the servers' CPU and
// unable to fails, rather than report a figure it does not have.
func TestRunServerCPUError(t *testing.T) {
	addr := zkservertest.Start(t, zkserver.Options{}).Addr().String()
	_, err := loadgen.Run(t.Context(), loadgen.Config{Servers: []string{addr}, Workload: loadgen.Get, KeySpace: 10,
		Ops: 10, ServerCPU: func() (time.Duration, error) { return loadgen.ProcessCPU(-1) }})
	if err == nil || !strings.Contains(err.Error(), "CPU time of the servers") {
		t.Fatalf("err %v, want one about the servers' CPU time", err)
	}
}

func TestProcessCPU(t *testing.T) {
	before, err := loadgen.ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn at least 50 ms of CPU (bounded in wall time on a busy machine).
	start := time.Now()
	for x := 0; ; x++ {
		if x%1_000_000 == 0 {
			now, err := loadgen.ProcessCPU(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			if now-before >= 50*time.Millisecond || time.Since(start) > 10*time.Second {
				break
			}
		}
	}
	after, err := loadgen.ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 40*time.Millisecond { // one clock tick of slack
		t.Errorf("CPU time went from %v to %v while burning 50 ms", before, after)
	}
	if twice, err := loadgen.ProcessCPU(os.Getpid(), os.Getpid()); err != nil || twice < 2*after {
		t.Errorf("two pids: %v, %v; want the sum, at least %v", twice, err, 2*after)
	}
	if _, err := loadgen.ProcessCPU(os.Getpid(), -1); err == nil {
		t.Error("pid -1: no error")
	}
}

func checkLatency(t *testing.T, what string, l loadgen.Latency, ops int64) {
	t.Helper()
	if l.Count != ops {
		t.Errorf("%s: latency count %d, ops %d", what, l.Count, ops)
	}
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("%s: percentiles not ordered: %+v", what, l)
	}
}

// assertGone checks that a run deleted its root (and so everything under
// it) and left no other benchmark root behind.
func assertGone(t *testing.T, servers []string, root string) {
	t.Helper()
	c, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ok, _, err := c.Exists(root)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Errorf("%s still exists after the run", root)
	}
	kids, _, err := c.Children("/")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if strings.HasPrefix(k, "zkd-bench-") {
			t.Errorf("/%s left behind", k)
		}
	}
}

func TestPopulateAndCleanup(t *testing.T) {
	addr := zkservertest.Start(t, zkserver.Options{}).Addr().String()
	servers := []string{addr}
	ctx := t.Context()
	const n = 500
	payload := []byte("0123456789")
	if err := loadgen.Populate(ctx, servers, "/pop", n, payload); err != nil {
		t.Fatal(err)
	}
	// Idempotent: existing znodes are fine.
	if err := loadgen.Populate(ctx, servers, "/pop", n, payload); err != nil {
		t.Fatalf("second Populate: %v", err)
	}
	c, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, st, err := c.Get("/pop")
	if err != nil {
		t.Fatal(err)
	}
	if st.NumChildren != n {
		t.Fatalf("/pop has %d children, want %d", st.NumChildren, n)
	}
	data, _, err := c.Get(loadgen.KeyPath("/pop", n-1))
	if err != nil || string(data) != string(payload) {
		t.Fatalf("last key: %q, %v", data, err)
	}
	if err := loadgen.Cleanup(ctx, servers, "/pop", n); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := c.Exists("/pop"); err != nil || ok {
		t.Fatalf("/pop after Cleanup: exists=%v err=%v", ok, err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  loadgen.Config
		want string
	}{
		{"no servers", loadgen.Config{Duration: time.Second}, "no servers"},
		{"no end", loadgen.Config{Servers: []string{"127.0.0.1:1"}}, "would not end"},
		{"negative clients", loadgen.Config{Servers: []string{"127.0.0.1:1"}, Duration: time.Second, Clients: -1}, "clients -1"},
		{"negative payload", loadgen.Config{Servers: []string{"127.0.0.1:1"}, Duration: time.Second, PayloadSize: -1}, "payload size"},
		{"bad mixed", loadgen.Config{Servers: []string{"127.0.0.1:1"}, Duration: time.Second, Workload: loadgen.Mixed(101)}, "between 0 and 100"},
		{"root /", loadgen.Config{Servers: []string{"127.0.0.1:1"}, Duration: time.Second, Root: "/"}, "not a znode path"},
		{"relative root", loadgen.Config{Servers: []string{"127.0.0.1:1"}, Duration: time.Second, Root: "bench"}, "not a znode path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadgen.Run(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRunUnreachable(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t, "127.0.0.1"))
	start := time.Now()
	_, err := loadgen.Run(t.Context(), loadgen.Config{
		Servers: []string{addr}, Clients: 3, Duration: time.Second, ConnectTimeout: 500 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "connect to "+addr) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err %v, want a connection refused to %s", err, addr)
	}
	if strings.Count(err.Error(), "connect to") != 1 {
		t.Errorf("the same failure of 3 clients should be reported once: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("gave up only after %v", d) // a bound, not a performance assertion
	}
}

func TestRunCancelled(t *testing.T) {
	addr := zkservertest.Start(t, zkserver.Options{}).Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(500*time.Millisecond, cancel)
	res, err := loadgen.Run(ctx, loadgen.Config{Servers: []string{addr}, Clients: 2, Workload: loadgen.Create, Duration: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if res.Ops == 0 || res.Elapsed <= 0 || res.Elapsed >= time.Minute {
		t.Errorf("partial result: ops %d elapsed %v", res.Ops, res.Elapsed)
	}
	assertGone(t, []string{addr}, res.Root)
}

func TestProcessMemory(t *testing.T) {
	m, err := loadgen.ProcessMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS == 0 || m.HWM < m.RSS {
		t.Errorf("own memory %+v: want 0 < RSS <= HWM", m)
	}
	if _, err := loadgen.ProcessMemory(-1); err == nil {
		t.Error("pid -1: no error")
	}
}

func TestParseWorkload(t *testing.T) {
	cases := []struct {
		in   string
		want loadgen.Workload
		err  string
	}{
		{"create", loadgen.Create, ""},
		{"set", loadgen.Set, ""},
		{"get", loadgen.Get, ""},
		{"mixed-90", loadgen.Mixed(90), ""},
		{"mixed-0", loadgen.Mixed(0), ""},
		{"mixed-100", loadgen.Mixed(100), ""},
		{"mixed", loadgen.Workload{}, "needs a read percentage"},
		{"mixed-101", loadgen.Workload{}, "0 to 100"},
		{"mixed-x", loadgen.Workload{}, "0 to 100"},
		{"delete", loadgen.Workload{}, "unknown workload"},
	}
	for _, tc := range cases {
		got, err := loadgen.ParseWorkload(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseWorkload(%q): err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParseWorkload(%q) = %v (%s), %v", tc.in, got, got, err)
		}
	}
}

func TestErrorCode(t *testing.T) {
	for err, want := range map[error]string{
		zk.ErrNoNode:                          "NONODE",
		fmt.Errorf("x: %w", zk.ErrNodeExists): "NODEEXISTS",
		zk.ErrConnectionClosed:                "CONNECTIONLOSS",
		errors.New("something else entirely"): "OTHER",
	} {
		if got := loadgen.ErrorCode(err); got != want {
			t.Errorf("ErrorCode(%v) = %s, want %s", err, got, want)
		}
	}
}

// BenchmarkRun drives an in-process zkd (in memory) with 16 clients, b.N
// operations per workload, and reports the latency percentiles next to
// the usual ns/op (which here is the inverse of throughput).
func BenchmarkRun(b *testing.B) {
	addr := zkservertest.Start(b, zkserver.Options{}).Addr().String()
	for _, w := range []loadgen.Workload{loadgen.Create, loadgen.Set, loadgen.Get, loadgen.Mixed(90)} {
		b.Run(w.String(), func(b *testing.B) {
			// The timer runs through the whole run (ns/op is wall time per
			// op over 16 clients): a stopped timer makes the framework take
			// every op as free and raise b.N without bound, and the create
			// workload then grows the tree until memory runs out.
			cfg := loadgen.Config{Servers: []string{addr}, Clients: 16, Workload: w, Ops: int64(b.N), PayloadSize: 128, KeySpace: 1000}
			res, err := loadgen.Run(b.Context(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.OpsPerSec, "ops/s")
			b.ReportMetric(float64(res.Latency.P50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(res.Latency.P99.Microseconds()), "p99-µs")
		})
	}
}
