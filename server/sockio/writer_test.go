package sockio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case server = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("accept timed out")
	}
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// frame returns a numbered frame of size bytes.
func frame(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

// requireFrames reads count frames of size bytes from r and fails unless
// they are frame(0, size) to frame(count-1, size), in that order.
func requireFrames(t *testing.T, r net.Conn, count, size int, timeout time.Duration) {
	t.Helper()
	got := make([]byte, count*size)
	_ = r.SetReadDeadline(time.Now().Add(timeout))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatal(err)
	}
	for i := range count {
		if !bytes.Equal(got[i*size:(i+1)*size], frame(i, size)) {
			t.Fatalf("frame %d differs: the stream was reordered or damaged", i)
		}
	}
}

func startRun(t *testing.T, w *Writer, stop <-chan struct{}) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Run(4096, stop) }()
	return done
}

// runResult is what the Run behind done returned; the test fails if Run
// has not returned within 10 s (what names what should have ended it).
func runResult(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return after %s", what)
		return nil
	}
}

// TestDirectWhenIdle: with the writer idle and a socket with room, Write
// puts the frame on the socket itself and queues nothing.
func TestDirectWhenIdle(t *testing.T) {
	a, b := tcpPair(t)
	var written atomic.Int64
	w := NewWriter(a, WriterOptions{OnWrite: func(n int) { written.Add(int64(n)) }})
	for i := range 10 {
		frames, queued, ok := w.Write(frame(i, 100))
		if !ok || frames != 0 || queued != 0 {
			t.Fatalf("Write %d = %d frames, %d bytes queued, ok %v; want written directly", i, frames, queued, ok)
		}
	}
	requireFrames(t, b, 10, 100, 10*time.Second)
	if written.Load() != 1000 {
		t.Errorf("OnWrite saw %d bytes, want 1000", written.Load())
	}
}

// TestOrderWhenSocketFull: a peer that stops reading fills the socket;
// later frames queue behind the part the socket did not take, and once the
// peer reads again every byte arrives in order.
func TestOrderWhenSocketFull(t *testing.T) {
	a, b := tcpPair(t)
	stop := make(chan struct{})
	defer close(stop)
	w := NewWriter(a, WriterOptions{Timeout: 30 * time.Second})
	done := startRun(t, w, stop)

	const size, count = 64 << 10, 200 // 12.5 MiB: far above loopback buffers
	queuedSome := false
	for i := range count {
		frames, _, ok := w.Write(frame(i, size))
		if !ok {
			t.Fatalf("Write %d refused", i)
		}
		queuedSome = queuedSome || frames > 0
	}
	if !queuedSome {
		t.Fatal("nothing was queued although the peer read nothing")
	}
	requireFrames(t, b, count, size, 30*time.Second)
	if frames, queued := w.Queued(); frames != 0 || queued != 0 {
		t.Errorf("after draining: %d frames, %d bytes still queued", frames, queued)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	default:
	}
}

// TestCloseAfterFlush: Run flushes what was queued before
// CloseAfterFlush, then returns nil; later frames are refused.
func TestCloseAfterFlush(t *testing.T) {
	a, b := net.Pipe() // no descriptor: every frame goes through Run
	defer a.Close()
	defer b.Close()
	w := NewWriter(a, WriterOptions{})
	for i := range 3 {
		if frames, _, ok := w.Write(frame(i, 10)); !ok || frames != i+1 {
			t.Fatalf("Write %d over a pipe = %d frames queued, ok %v; want queued", i, frames, ok)
		}
	}
	w.CloseAfterFlush()
	if _, _, ok := w.Write(frame(9, 10)); ok {
		t.Error("Write after CloseAfterFlush was accepted")
	}
	done := startRun(t, w, nil)
	requireFrames(t, b, 3, 10, 10*time.Second)
	if err := runResult(t, done, "CloseAfterFlush drained the queue"); err != nil {
		t.Fatalf("Run = %v, want nil after the flush", err)
	}
}

// TestRunReportsWriteError: a write on a closed connection ends Run with
// the error; a direct write on it just queues.
func TestRunReportsWriteError(t *testing.T) {
	a, _ := tcpPair(t)
	w := NewWriter(a, WriterOptions{})
	a.Close()
	if frames, _, ok := w.Write(frame(1, 10)); !ok || frames != 1 {
		t.Fatalf("Write on a closed socket = %d frames, ok %v; want it queued for Run", frames, ok)
	}
	done := startRun(t, w, nil)
	if err := runResult(t, done, "a write error"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Run = %v, want net.ErrClosed", err)
	}
}

// TestRunStops: closing stop ends an idle Run with nil.
func TestRunStops(t *testing.T) {
	a, _ := tcpPair(t)
	stop := make(chan struct{})
	done := startRun(t, NewWriter(a, WriterOptions{}), stop)
	close(stop)
	if err := runResult(t, done, "stop was closed"); err != nil {
		t.Fatalf("Run = %v", err)
	}
}
