package fourlw

import (
	"cmp"
	"math"
	"os"
	"os/user"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// environment writes envi: "Environment:" and key=value lines. ZooKeeper
// lists its version, the host name, Java system properties and JVM heap
// sizes (Environment.list); zkd lists the same keys with go.version in
// place of the java.* ones.
func environment(src Source) string {
	var b strings.Builder
	b.WriteString("Environment:\n")
	b.WriteString("zookeeper.version=" + src.Version() + "\n")
	var env []KV
	if e, ok := src.(EnvironmentSource); ok {
		env = e.Environment()
	} else {
		env = HostEnvironment()
	}
	for _, kv := range env {
		b.WriteString(kv.Key + "=" + kv.Value + "\n")
	}
	return b.String()
}

// notAvailable is what ZooKeeper prints for a property it cannot read.
const notAvailable = "<NA>"

// HostEnvironment returns envi's lines after zookeeper.version, in
// ZooKeeper's order: host.name, go.version (for java.version), os.name,
// os.arch, os.version, user.name, user.home, user.dir and
// os.memory.free/max/total in whole MB. The memory lines describe the Go
// heap as the JVM's describe its heap: total is the heap memory the
// runtime holds from the OS, free the part of it not holding live or
// unswept objects, and max the GOMEMLIMIT soft limit, or total when no
// limit is set (a Go heap has no fixed maximum). It reads the live
// process and host, so its values vary from call to call.
func HostEnvironment() []KV {
	host, err := os.Hostname()
	if err != nil {
		host = notAvailable
	}
	userName, userHome := notAvailable, notAvailable
	if u, err := user.Current(); err == nil {
		userName, userHome = u.Username, u.HomeDir
	} else {
		userName = cmp.Or(os.Getenv("USER"), notAvailable)
		userHome = cmp.Or(os.Getenv("HOME"), notAvailable)
	}
	dir, err := os.Getwd()
	if err != nil {
		dir = notAvailable
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	const mb = 1 << 20
	total := ms.HeapSys - ms.HeapReleased
	free := total - min(total, ms.HeapAlloc)
	maxMem := total
	if limit := debug.SetMemoryLimit(-1); limit > 0 && limit < math.MaxInt64 {
		maxMem = uint64(limit)
	}
	memory := func(n uint64) string { return strconv.FormatUint(n/mb, 10) + "MB" }

	return []KV{
		{"host.name", host},
		{"go.version", runtime.Version()},
		{"os.name", javaOSName(runtime.GOOS)},
		{"os.arch", javaOSArch(runtime.GOARCH)},
		{"os.version", osVersion()},
		{"user.name", userName},
		{"user.home", userHome},
		{"user.dir", dir},
		{"os.memory.free", memory(free)},
		{"os.memory.max", memory(maxMem)},
		{"os.memory.total", memory(total)},
	}
}

// javaOSName maps GOOS to the JVM's os.name, which tools that read envi
// were written against.
func javaOSName(goos string) string {
	switch goos {
	case "linux":
		return "Linux"
	case "darwin":
		return "Mac OS X"
	case "windows":
		return "Windows"
	case "freebsd":
		return "FreeBSD"
	}
	return goos
}

// javaOSArch maps GOARCH to the JVM's os.arch.
func javaOSArch(goarch string) string {
	switch goarch {
	case "arm64":
		return "aarch64"
	case "386":
		return "x86"
	}
	return goarch // amd64, ppc64le, s390x, riscv64 are spelled alike
}

// osVersion returns the kernel release, the JVM's os.version, where the
// OS exposes it as a file (Linux); otherwise "<NA>".
func osVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return notAvailable
	}
	return cmp.Or(strings.TrimSpace(string(b)), notAvailable)
}
