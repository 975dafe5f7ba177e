package peer

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/quorum/wire"
)

// startPipeConn starts a conn over one end of a net.Pipe and returns it
// with the other end; both are closed and the conn's goroutines waited
// for when the test ends.
func startPipeConn(t *testing.T) (*conn, net.Conn) {
	local, remote := net.Pipe()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	c := startConn(local, 0, make(chan event, 8), stop, 5*time.Second, &wg)
	t.Cleanup(func() {
		close(stop)
		c.close()
		remote.Close()
		wg.Wait()
	})
	return c, remote
}

// TestConnWaitsForPendingDatabase: a SNAP whose database is still being
// encoded holds back the packets queued after it, but not those before
// it; the database follows the SNAP packet on the stream, and an encoding
// error closes the connection instead.
func TestConnWaitsForPendingDatabase(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome encoded
	}{
		{"encoded", encoded{stream: []byte("database")}},
		{"encoding failed", encoded{err: errors.New("walk failed")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, remote := startPipeConn(t)
			pending := make(chan encoded, 1)
			c.send(wire.Packet{Type: wire.TypePing, Zxid: 1})
			c.sendPending(wire.Packet{Type: wire.TypeSnap, Zxid: 2}, pending)
			c.send(wire.Packet{Type: wire.TypeCommit, Zxid: 3})

			br := bufio.NewReader(remote)
			dec := wire.NewDecoder(br, 1<<20)
			if p, err := dec.Decode(); err != nil || p.Type != wire.TypePing {
				t.Fatalf("first packet %v, %v; want the PING queued before the SNAP", p.String(), err)
			}
			// Nothing more until the database is there: a read times out.
			_ = remote.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			var ne net.Error
			if p, err := dec.Decode(); !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read while the database is encoded: %v, %v; want a timeout", p.String(), err)
			}
			_ = remote.SetReadDeadline(time.Now().Add(5 * time.Second))
			br = bufio.NewReader(remote) // nothing was read: start afresh
			dec = wire.NewDecoder(br, 1<<20)
			pending <- tc.outcome

			p, err := dec.Decode()
			if tc.outcome.err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("after a failed encoding read %v, %v; want the connection closed (EOF)", p.String(), err)
				}
				return
			}
			if err != nil || p.Type != wire.TypeSnap {
				t.Fatalf("packet after the database was encoded: %v, %v; want the SNAP", p.String(), err)
			}
			db := make([]byte, len(tc.outcome.stream))
			if _, err := io.ReadFull(br, db); err != nil || string(db) != string(tc.outcome.stream) {
				t.Fatalf("database after the SNAP: %q, %v; want %q", db, err, tc.outcome.stream)
			}
			if p, err := dec.Decode(); err != nil || p.Type != wire.TypeCommit {
				t.Fatalf("packet after the database: %v, %v; want the COMMIT queued after the SNAP", p.String(), err)
			}
		})
	}
}

// TestConnQueueBound: packets waiting behind a SNAP's database may add up
// to maxQueued bytes; one more closes the connection, so a learner that
// cannot keep up is dropped and resyncs instead of growing the leader.
func TestConnQueueBound(t *testing.T) {
	c, _ := startPipeConn(t)
	c.sendPending(wire.Packet{Type: wire.TypeSnap, Zxid: 1}, make(chan encoded)) // never encoded
	half := wire.Packet{Type: wire.TypeProposal, Data: make([]byte, maxQueued/2)}
	c.send(half)
	select {
	case <-c.ctx.Done():
		t.Fatalf("connection closed with %d of %d bytes queued", half.Size(), maxQueued)
	default:
	}
	c.send(half)
	select {
	case <-c.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("connection still open with more than %d bytes queued", maxQueued)
	}
}
