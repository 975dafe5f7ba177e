package loadgen_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/loadgen"
	"github.com/zkd-io/zkd/server/testpeer"
)

// TestStandaloneComparison measures a standalone zkd (the real binary,
// durable, in its own process) and a standalone Apache ZooKeeper 3.8 under
// the same loads, one after the other, and prints them side by side with
// the resident memory of fresh servers holding 100 000 znodes. It takes
// minutes and asserts nothing about speed, so it only runs when
// ZKD_BENCH_STANDALONE=1; ZKD_BENCH_DURATION (default 10s) sets the time
// per workload. go test -run TestStandaloneComparison -v ./server/loadgen/
func TestStandaloneComparison(t *testing.T) {
	if os.Getenv("ZKD_BENCH_STANDALONE") != "1" {
		t.Skip("set ZKD_BENCH_STANDALONE=1 to run the standalone zkd vs Apache ZooKeeper comparison")
	}
	duration, err := loadgen.DurationFromEnv("ZKD_BENCH_DURATION", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "zkd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/zkd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	workloads := []loadgen.Workload{loadgen.Create, loadgen.Set, loadgen.Get, loadgen.Mixed(90)}
	const (
		clients = 16
		payload = 128
		znodes  = 100_000
	)
	measure := func(name string, addr string, pid int) []loadgen.Result {
		results, err := loadgen.RunWorkloads(t.Context(), loadgen.Config{
			Servers: []string{addr}, Clients: clients, Duration: duration,
			Warmup: 2 * time.Second, PayloadSize: payload, KeySpace: 1000,
			ServerCPU: func() (time.Duration, error) { return loadgen.ProcessCPU(pid) },
		}, workloads, name, func(r loadgen.Result) {
			t.Logf("%s %s: %.0f ops/s p50 %v p99 %v errors %v", name, r.Workload, r.OpsPerSec, r.Latency.P50, r.Latency.P99, r.Errors)
		})
		if err != nil {
			t.Fatal(err)
		}
		return results
	}
	memory := func(addr string, pid int) loadgen.Memory {
		if err := loadgen.Populate(t.Context(), []string{addr}, "/mem", znodes, make([]byte, payload)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // let background work (snapshots) settle
		m, err := loadgen.ProcessMemory(pid)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	zkdAddr, zkdPid, stopZkd := startZkdBinary(t, bin)
	zkdResults := measure("zkd", zkdAddr, zkdPid)
	stopZkd()
	zkdAddr, zkdPid, stopZkd = startZkdBinary(t, bin)
	zkdMem := memory(zkdAddr, zkdPid)
	stopZkd()

	apache := testpeer.StartApacheZK(t, testpeer.ApacheOptions{DisableAdminServer: true})
	apacheResults := measure("Apache", apache.Addr, apache.Pid())
	apache.Stop()
	apache = testpeer.StartApacheZK(t, testpeer.ApacheOptions{DisableAdminServer: true})
	apacheMem := memory(apache.Addr, apache.Pid())
	apache.Stop()

	note := fmt.Sprintf("%d znodes of %d bytes", znodes, payload)
	w := &testWriter{t: t}
	if err := loadgen.WriteComparison(w, []loadgen.Target{
		{Name: "zkd standalone", Results: zkdResults, Memory: []loadgen.Memory{zkdMem}, MemoryNote: note},
		{Name: "Apache standalone", Results: apacheResults, Memory: []loadgen.Memory{apacheMem}, MemoryNote: note},
	}); err != nil {
		t.Fatal(err)
	}
	w.flush()
}

// startZkdBinary runs `zkd server zoo.cfg` on free ports and a fresh data
// directory, and waits until it answers ruok.
func startZkdBinary(t *testing.T, bin string) (addr string, pid int, stop func()) {
	t.Helper()
	dir := t.TempDir()
	port := testpeer.FreePort(t, "127.0.0.1")
	httpPort := testpeer.FreePort(t, "127.0.0.1")
	cfg := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPortAddress=127.0.0.1\nclientPort=%d\nzkd.httpAddress=127.0.0.1\nzkd.httpPort=%d\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n",
		dir, port, httpPort)
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "zkd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", cfgPath)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		log.Close()
	}
	t.Cleanup(stop)
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, err := testpeer.FourLetter(addr, "ruok", time.Second); err == nil && out == "imok" {
			return addr, cmd.Process.Pid, stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("zkd did not start; see %s", log.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testWriter sends printed lines to t.Log in one piece.
type testWriter struct {
	t   *testing.T
	buf []byte
}

func (w *testWriter) Write(p []byte) (int, error) { w.buf = append(w.buf, p...); return len(p), nil }
func (w *testWriter) flush()                      { w.t.Log("\n" + string(w.buf)) }
