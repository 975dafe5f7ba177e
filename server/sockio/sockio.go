// Package sockio reads and writes zkd's TCP connections with as few
// scheduler round trips as the Go runtime allows.
//
// Two costs dominate a small request on a busy server, more so on a
// virtual machine where every context switch is expensive:
//
//   - Handing a frame to a writer goroutine costs a goroutine wake-up,
//     often a thread wake-up and a context switch. When nothing is queued
//     and the writer is idle, the producer can instead try the write
//     itself: the socket is non-blocking, so the kernel takes what fits in
//     its buffer (on a healthy connection, everything) and the rest goes to
//     the writer as before (Writer, Conn.TryWrite). Order is kept because
//     the caller only tries while nothing else is queued or being written.
//
//   - Every system call made through package syscall tells the scheduler
//     that the goroutine may block (entersyscall). When all Ps were idle,
//     that wakes the runtime's sysmon thread, which then polls every 20 µs
//     for a millisecond or more before it sleeps again. A server that goes
//     idle between requests pays that on nearly every request: in this
//     project's benchmarks it was a fifth of a member's CPU (golang/go#18236).
//     A read or write on a non-blocking socket never blocks, so Conn makes
//     it as a raw system call inside the netpoller's RawConn callbacks,
//     which wait for readiness (and honour deadlines) as net.Conn does.
//
// Blocking system calls (fsync) must still go through package syscall.
// So should socket writes that may take long: a raw call keeps its P for
// its whole duration, where entersyscall would let sysmon hand the P to
// other goroutines. A leader's quorum connections write large batches to
// every learner, and in A/B runs raw I/O there made writes no faster (or
// slower), so they stay on net.Conn; client requests and replies are
// small, which is where raw calls pay.
package sockio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Conn is a TCP connection read and written with raw system calls. It is
// a plain net.Conn underneath for connections without a file descriptor
// (net.Pipe in tests): then Read and Write are the net.Conn's own, and
// TryWrite never writes.
//
// RawConn takes a callback per call; a closure over each call's buffer and
// results would be allocated on every read and write. So the callbacks
// are bound once, to state kept in the Conn: one read and one write may
// be in progress at a time (Read from one goroutine, Write and TryWrite
// from one at a time), as with the bufio.Reader and Writer that use it.
type Conn struct {
	nc  net.Conn
	raw syscall.RawConn // nil: no descriptor

	rd struct {
		p   []byte
		n   int
		err error
		fn  func(fd uintptr) bool
	}
	wr struct {
		p   []byte
		n   int
		err error
		fn  func(fd uintptr) bool // Write's
		try func(fd uintptr) bool // TryWrite's
	}
}

// New wraps nc.
func New(nc net.Conn) *Conn {
	c := &Conn{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok && rawSyscalls {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	c.rd.fn, c.wr.fn, c.wr.try = c.readReady, c.writeReady, c.tryWriteReady
	return c
}

// TryWrite writes as much of b as the socket takes now and returns how
// many bytes that was (0 when the socket buffer is full, the connection
// failed or has no descriptor: the caller queues the rest, and the
// writer goroutine meets any error).
func (c *Conn) TryWrite(b []byte) int {
	if c.raw == nil || len(b) == 0 {
		return 0
	}
	c.wr.p, c.wr.n = b, 0
	err := c.raw.Write(c.wr.try)
	n := c.wr.n
	c.wr.p = nil
	if err != nil {
		return 0
	}
	return n
}

func (c *Conn) tryWriteReady(fd uintptr) bool {
	for {
		m, err := writeFD(fd, c.wr.p)
		if err == syscall.EINTR {
			continue
		}
		if err == nil && m > 0 {
			c.wr.n = m
		}
		return true // never wait for writability: that is the writer's job
	}
}

// Read is net.Conn's Read: it waits until some bytes are available (or
// the read deadline passes, or the connection is closed) and returns
// io.EOF once the peer has closed its side.
func (c *Conn) Read(p []byte) (int, error) {
	if c.raw == nil {
		return c.nc.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.rd.p, c.rd.n, c.rd.err = p, 0, nil
	err := c.raw.Read(c.rd.fn)
	n, rerr := c.rd.n, c.rd.err
	c.rd.p = nil
	switch {
	case err != nil: // closed or deadline: already a *net.OpError
		return 0, err
	case rerr != nil:
		return 0, c.opError("read", rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) readReady(fd uintptr) bool {
	for {
		m, err := readFD(fd, c.rd.p)
		switch err {
		case nil:
			c.rd.n = m
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until readable
		default:
			c.rd.err = err
		}
		return true
	}
}

// Write is net.Conn's Write: it returns once all of p is in the socket
// buffer, or with an error (the write deadline passed, the connection
// failed or was closed) and the count written before it.
func (c *Conn) Write(p []byte) (int, error) {
	if c.raw == nil {
		return c.nc.Write(p)
	}
	c.wr.p, c.wr.n, c.wr.err = p, 0, nil
	err := c.raw.Write(c.wr.fn)
	n, werr := c.wr.n, c.wr.err
	c.wr.p = nil
	switch {
	case err != nil:
		return n, err
	case werr != nil:
		return n, c.opError("write", werr)
	}
	return n, nil
}

func (c *Conn) writeReady(fd uintptr) bool {
	for c.wr.n < len(c.wr.p) {
		m, err := writeFD(fd, c.wr.p[c.wr.n:])
		switch err {
		case nil:
			if m == 0 {
				return false // cannot happen on a socket; wait rather than spin
			}
			c.wr.n += m
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait until writable, then go on from n
		default:
			c.wr.err = err
			return true
		}
	}
	return true
}

// opError words a system call's error as net.Conn would.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.nc.LocalAddr().Network(), Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(),
		Err: os.NewSyscallError(op, err)}
}

var _ io.ReadWriter = (*Conn)(nil)
