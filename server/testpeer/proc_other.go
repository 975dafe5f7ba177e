//go:build unix && !linux

package testpeer

import "syscall"

// childAttr puts a child in its own process group, so that it and anything
// it forks can be signalled as one. Outside Linux there is no parent-death
// signal; a crashed test binary may leave a peer running.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
