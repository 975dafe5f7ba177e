package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
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
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	b, err := os.ReadFile(path)
	if err != nil {
		return Memory{}, fmt.Errorf("resident memory of pid %d: %w", pid, err)
	}
	m, err := parseStatus(b)
	if err != nil {
		return Memory{}, fmt.Errorf("resident memory of pid %d: %s: %w", pid, path, err)
	}
	return m, nil
}

// parseStatus reads VmRSS and VmHWM from a /proc/<pid>/status file.
func parseStatus(b []byte) (Memory, error) {
	var m Memory
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			return Memory{}, fmt.Errorf("%s: unexpected value %q", key, strings.TrimSpace(val))
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmRSS" {
			m.RSS, haveRSS = kb*1024, true
		} else {
			m.HWM, haveHWM = kb*1024, true
		}
	}
	if !haveRSS || !haveHWM {
		// Kernel threads and zombies have no Vm* lines.
		return Memory{}, fmt.Errorf("no VmRSS/VmHWM lines (a zombie or kernel thread?)")
	}
	return m, nil
}
