package sockio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestConnStreamsInOrder pushes 16 MiB through raw writes and raw reads in
// uneven pieces while the reader lags, so both sides meet EAGAIN and wait
// on the poller many times; every byte must arrive once, in order.
func TestConnStreamsInOrder(t *testing.T) {
	client, server := tcpPair(t)
	w, r := New(client), New(server)
	if w.raw == nil || r.raw == nil {
		t.Fatal("a TCP connection has no raw descriptor")
	}
	want := make([]byte, 16<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	errc := make(chan error, 1)
	go func() {
		rest := want
		for len(rest) > 0 {
			n := min(len(rest), 1+rng.IntN(3<<20))
			if m, err := w.Write(rest[:n]); err != nil || m != n {
				errc <- errors.Join(err, io.ErrShortWrite)
				return
			}
			rest = rest[n:]
		}
		errc <- client.(*net.TCPConn).CloseWrite()
	}()
	var got bytes.Buffer
	buf := make([]byte, 100_000)
	for reads := 0; ; reads++ {
		if reads%50 == 0 {
			time.Sleep(time.Millisecond) // let the writer fill the socket
		}
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got.Len(), err)
		}
		if reads > 1_000_000 {
			t.Fatal("no end of stream")
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("received %d bytes that differ from the %d sent", got.Len(), len(want))
	}
}

// TestConnErrorsLikeNetConn: deadlines, a local close and a peer's reset
// come back as the errors net.Conn gives, which callers classify.
func TestConnErrorsLikeNetConn(t *testing.T) {
	t.Run("read deadline", func(t *testing.T) {
		_, server := tcpPair(t)
		_ = server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := New(server).Read(make([]byte, 10))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline: %v, want a timeout", err)
		}
	})
	t.Run("write deadline", func(t *testing.T) {
		client, _ := tcpPair(t) // the peer never reads
		// Far more than the socket buffers hold. Allocated before the
		// deadline is set: zeroing it under -race on a loaded machine can
		// take longer than the deadline, and then nothing is written.
		p := make([]byte, 64<<20)
		_ = client.SetWriteDeadline(time.Now().Add(250 * time.Millisecond))
		n, err := New(client).Write(p)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || n <= 0 || n >= len(p) {
			t.Fatalf("write to a stalled peer: %d bytes, %v; want part written and a timeout", n, err)
		}
	})
	t.Run("closed locally", func(t *testing.T) {
		_, server := tcpPair(t)
		server.Close()
		if _, err := New(server).Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed conn: %v, want net.ErrClosed", err)
		}
	})
	t.Run("reset by peer", func(t *testing.T) {
		client, server := tcpPair(t)
		_ = client.(*net.TCPConn).SetLinger(0) // close sends RST
		client.Close()
		c := New(server)
		var err error
		for range 100 { // the RST may trail; EPIPE or ECONNRESET either way
			if _, err = c.Write([]byte("x")); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "write" ||
			!(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			t.Fatalf("write to a reset conn: %v, want a write OpError with ECONNRESET or EPIPE", err)
		}
	})
}

// TestConnWithoutDescriptor: net.Pipe has no descriptor, so Conn is the
// pipe's own Read and Write and TryWrite writes nothing.
func TestConnWithoutDescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ca, cb := New(a), New(b)
	if ca.TryWrite([]byte("x")) != 0 {
		t.Fatal("TryWrite wrote to a pipe")
	}
	go func() { _, _ = ca.Write([]byte("hello")) }()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(cb, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v", buf, err)
	}
}
