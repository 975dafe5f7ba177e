//go:build !unix

package sockio

import "syscall"

// Without raw system calls Conn uses the net.Conn's own methods.
const rawSyscalls = false

func writeFD(uintptr, []byte) (int, error) { return 0, syscall.EAGAIN }
func readFD(uintptr, []byte) (int, error)  { return 0, syscall.EAGAIN }
