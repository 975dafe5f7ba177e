package loadgen

import (
	"fmt"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

// Memory is a process's resident memory, in bytes.
type Memory struct {
	// RSS is the resident set size now (VmRSS).
	RSS uint64 `json:"rss_bytes"`
	// HWM is the peak resident set size since the process started (VmHWM).
	HWM uint64 `json:"hwm_bytes"`
}

// ProcessMemory reads a process's resident memory from
// /proc/<pid>/status (Linux only). It is what the kernel charges the
// process, heap, stacks, code and (for a JVM) the whole managed heap
// alike, so it compares servers written in different languages fairly.
func ProcessMemory(pid int) (Memory, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return Memory{}, fmt.Errorf("resident memory of pid %d: %w", pid, err)
	}
	st, err := p.NewStatus()
	if err != nil {
		return Memory{}, fmt.Errorf("resident memory of pid %d: %w", pid, err)
	}
	if st.VmRSS == 0 || st.VmHWM == 0 {
		// Kernel threads and zombies have no Vm* lines.
		return Memory{}, fmt.Errorf("resident memory of pid %d: no VmRSS/VmHWM (a zombie or kernel thread?)", pid)
	}
	return Memory{RSS: st.VmRSS, HWM: st.VmHWM}, nil
}

// ProcessCPU is the CPU time, user and system, that the processes have
// used so far, all their threads together, from /proc/<pid>/stat (Linux
// only; the kernel counts it in clock ticks, 10 ms each). A benchmark
// samples it before and after a measurement to charge the servers' CPU
// to the requests they served: on a machine whose CPUs the servers share
// with the load generator, CPU per request is what decides throughput.
func ProcessCPU(pids ...int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		p, err := procfs.NewProc(pid)
		if err != nil {
			return 0, fmt.Errorf("CPU time of pid %d: %w", pid, err)
		}
		st, err := p.Stat()
		if err != nil {
			return 0, fmt.Errorf("CPU time of pid %d: %w", pid, err)
		}
		total += time.Duration(st.CPUTime() * float64(time.Second))
	}
	return total, nil
}

// ownCPU is the CPU time this process has used so far: the load
// generator's, when it runs in a process of its own (zkd bench), or the
// test's, whose servers are child processes that do not count here.
// getrusage counts in microseconds, finer than /proc's clock ticks.
func ownCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("CPU time of the load generator: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// cpuSample is the CPU time used so far by the load generator and, when
// the run was told how to measure it, by the servers.
type cpuSample struct{ client, server time.Duration }

func sampleCPU(serverCPU func() (time.Duration, error)) (cpuSample, error) {
	var s cpuSample
	var err error
	if s.client, err = ownCPU(); err != nil {
		return s, err
	}
	if serverCPU != nil {
		if s.server, err = serverCPU(); err != nil {
			return s, fmt.Errorf("CPU time of the servers: %w", err)
		}
	}
	return s, nil
}
