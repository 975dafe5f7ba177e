package sockio

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// Writer is a connection's output: a queue of frames that a writer
// goroutine (Run) sends, flushing only when the queue is empty so that a
// burst costs one system call, and that the producer writes itself when
// the writer is idle (see the package documentation).
type Writer struct {
	nc      net.Conn
	conn    *Conn
	timeout time.Duration
	onWrite func(n int)

	mu      sync.Mutex
	queue   [][]byte
	bytes   int
	writing bool // Run holds frames not yet flushed: Write must queue behind them
	closing bool // no more frames; Run returns once the queue is flushed
	wake    chan struct{}
}

// WriterOptions configure NewWriter.
type WriterOptions struct {
	// Timeout bounds each write Run makes (0: none). Direct writes never
	// wait, so they need none.
	Timeout time.Duration
	// OnWrite is called with the bytes each write put on the socket, by
	// Write's caller or by Run (metrics).
	OnWrite func(n int)
}

// NewWriter returns the output of nc. Run must be started for queued
// frames to leave.
func NewWriter(nc net.Conn, opts WriterOptions) *Writer {
	w := &Writer{nc: nc, conn: New(nc), timeout: opts.Timeout, onWrite: opts.OnWrite,
		wake: make(chan struct{}, 1)}
	if w.onWrite == nil {
		w.onWrite = func(int) {}
	}
	return w
}

// Write sends b (which the Writer now owns): at once when nothing is
// queued or being written and the socket takes it, otherwise (what is left
// of it) after what is queued. It reports the frames and bytes queued
// afterwards, for the caller's limits, and false when the Writer is
// closing and b was dropped.
func (w *Writer) Write(b []byte) (frames, bytes int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return len(w.queue), w.bytes, false
	}
	if !w.writing && len(w.queue) == 0 {
		n := w.conn.TryWrite(b)
		if n > 0 {
			w.onWrite(n)
		}
		if b = b[n:]; len(b) == 0 {
			return 0, 0, true
		}
	}
	w.queue = append(w.queue, b)
	w.bytes += len(b)
	w.signal()
	return len(w.queue), w.bytes, true
}

// Queued reports the frames and bytes waiting for Run.
func (w *Writer) Queued() (frames, bytes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue), w.bytes
}

// CloseAfterFlush refuses further frames; Run returns nil once everything
// queued before is on the socket.
func (w *Writer) CloseAfterFlush() {
	w.mu.Lock()
	w.closing = true
	w.signal()
	w.mu.Unlock()
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes queued frames until stop is closed (it returns nil), a write
// fails (it returns the error), or the queue is flushed after
// CloseAfterFlush (it returns nil).
func (w *Writer) Run(bufSize int, stop <-chan struct{}) error {
	bw := bufio.NewWriterSize(writerFunc(w.write), bufSize)
	var batch [][]byte
	for {
		select {
		case <-w.wake:
		case <-stop:
			return nil
		}
		for {
			w.mu.Lock()
			batch, w.queue = w.queue, batch[:0]
			w.bytes = 0
			closing := w.closing
			// Everything taken is written and flushed before Run goes
			// idle, which is when Write may write directly again.
			w.writing = len(batch) > 0 || bw.Buffered() > 0
			w.mu.Unlock()
			if !w.writing {
				if closing {
					return nil
				}
				break
			}
			if len(batch) == 0 {
				if err := bw.Flush(); err != nil {
					return err
				}
				continue
			}
			for i, b := range batch {
				if _, err := bw.Write(b); err != nil {
					return err
				}
				batch[i] = nil
			}
		}
	}
}

// write is the socket write under bw, with the deadline.
func (w *Writer) write(p []byte) (int, error) {
	if w.timeout > 0 {
		_ = w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	n, err := w.conn.Write(p)
	if n > 0 {
		w.onWrite(n)
	}
	return n, err
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
