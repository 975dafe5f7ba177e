package peer

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/snapshot"
)

// sendQueue bounds the packets waiting for one learner connection. A peer
// that falls this far behind is cut off rather than allowed to grow the
// leader's memory; the core then drops it and it resyncs.
const sendQueue = 4096

// maxPacket bounds one received QuorumPacket. SNAP carries the whole
// snapshot in its data (see toPacket), so it is far above jute.maxbuffer.
const maxPacket = 512 << 20

// conn is one learner-channel connection. A reader goroutine decodes
// packets into the role's event channel; a writer goroutine drains out.
// Only the role's owner goroutine sends on it and reads or writes id.
type conn struct {
	nc net.Conn
	id int64 // peer sid; 0 on the leader until FOLLOWERINFO names it
	// toLeader marks a learner's connection to its leader (fixed at
	// start, so the reader can use it).
	toLeader bool
	out      chan outPacket
	done     chan struct{}
	once     sync.Once

	// Statistics for the AdminServer's learner entries (LearnerHandler's
	// bean): written by the connection's goroutines, read by the owner.
	started     time.Time
	remote      string       // the peer's address, formatted once
	sent, recvd atomic.Int64 // packets
	requests    atomic.Int64 // REQUESTs received (a learner's forwarded writes)
	queuedBytes atomic.Int64 // encoded size of the packets waiting in out
}

// event is what connection goroutines report to the owner goroutine.
type event struct {
	c   *conn
	pkt wire.Packet
	// snap is the database a leader streamed after a SNAP packet (learner
	// connections only).
	snap *snapshot.Snapshot
	err  error // the connection ended
}

// outPacket is a packet to write and the raw bytes that follow it on the
// stream (a SNAP's database).
type outPacket struct {
	pkt     wire.Packet
	trailer []byte
}

func startConn(nc net.Conn, id int64, events chan<- event, stop <-chan struct{}, writeTimeout time.Duration, wg *sync.WaitGroup) *conn {
	c := &conn{nc: nc, id: id, toLeader: id != 0, out: make(chan outPacket, sendQueue), done: make(chan struct{}),
		started: time.Now(), remote: nc.RemoteAddr().String()}
	wg.Go(func() { c.readLoop(events, stop) })
	wg.Go(func() { c.writeLoop(writeTimeout) })
	return c
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.nc.Close()
	})
}

// send queues p; a full queue closes the connection.
func (c *conn) send(p wire.Packet) { c.sendWith(p, nil) }

// sendWith queues p followed by trailer; a full queue closes the
// connection.
func (c *conn) sendWith(p wire.Packet, trailer []byte) {
	op := outPacket{pkt: p, trailer: trailer}
	size := int64(p.Size() + len(trailer))
	c.queuedBytes.Add(size)
	select {
	case <-c.done:
		c.queuedBytes.Add(-size)
	case c.out <- op:
	default:
		c.queuedBytes.Add(-size)
		c.close()
	}
}

func (c *conn) readLoop(events chan<- event, stop <-chan struct{}) {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	dec := wire.NewDecoder(br, maxPacket)
	for {
		p, err := dec.Decode()
		if err == nil {
			c.recvd.Add(1)
			if p.Type == wire.TypeRequest {
				c.requests.Add(1)
			}
		}
		ev := event{c: c, pkt: p, err: err}
		if err == nil && p.Type == wire.TypeSnap && c.toLeader && len(p.Data) == 0 {
			// A learner's connection to its leader: ZooKeeper streams the
			// database right after an empty SNAP packet (LearnerHandler).
			ev.snap, ev.err = snapshot.ReadSyncStream(br, datatree.Options{})
			if ev.err != nil {
				ev.err = fmt.Errorf("peer: SNAP %#x: read the leader's database: %w", p.Zxid, ev.err)
			}
			err = ev.err
		}
		select {
		case events <- ev:
		case <-stop:
			c.close()
			return
		}
		if err != nil {
			c.close()
			return
		}
	}
}

func (c *conn) writeLoop(timeout time.Duration) {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	for {
		select {
		case <-c.done:
			return
		case op := <-c.out:
			c.queuedBytes.Add(-int64(op.pkt.Size() + len(op.trailer)))
			c.sent.Add(1)
			_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
			if _, err := bw.Write(op.pkt.Marshal()); err != nil {
				c.close()
				return
			}
			if _, err := bw.Write(op.trailer); err != nil {
				c.close()
				return
			}
			if len(c.out) == 0 {
				if err := bw.Flush(); err != nil {
					c.close()
					return
				}
			}
		}
	}
}
