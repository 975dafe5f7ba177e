//go:build unix

package sockio

import (
	"syscall"
	"unsafe"
)

// rawSyscalls: this system has read(2) and write(2) to make raw.
const rawSyscalls = true

// writeFD and readFD are write(2) and read(2) on a non-blocking descriptor,
// made without telling the scheduler (see the package documentation): they
// return at once, with EAGAIN when the socket is not ready.
func writeFD(fd uintptr, b []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, b) }

func readFD(fd uintptr, b []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, b) }

// rawIO is read(2) or write(2) (trap) of b on fd.
func rawIO(trap, fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
