package testpeer

import "syscall"

// childAttr puts a child in its own process group, so that it and anything
// it forks (zkCli.sh forks java) can be signalled as one, and asks the
// kernel to SIGKILL it if the test binary dies without running cleanups
// (for example on a `go test -timeout` panic), so no JVM outlives its test.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
