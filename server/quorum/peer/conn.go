package peer

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/snapshot"
)

// maxQueued bounds the encoded size of the packets waiting for one
// connection, not counting a SNAP's database. A peer that falls this far
// behind is cut off rather than allowed to grow the leader's memory; the
// core then drops it and it resyncs. It is a size rather than a count
// because a learner's packets wait while the leader encodes its SNAP:
// under load, a large tree takes long enough to queue tens of thousands
// of small PROPOSALs and COMMITs, which must not end the sync that makes
// them wait (64 MiB is about a minute of a busy leader's broadcast).
const maxQueued = 64 << 20

// maxPacket bounds one received QuorumPacket. SNAP carries the whole
// snapshot in its data (see toPacket), so it is far above jute.maxbuffer.
const maxPacket = 512 << 20

// conn is one learner-channel connection. A reader goroutine decodes
// packets into the role's event channel; a writer goroutine writes what
// is queued, all of it per wake-up, with one flush. Only the role's owner
// goroutine sends on it and reads or writes id.
type conn struct {
	nc net.Conn
	id int64 // peer sid; 0 on the leader until FOLLOWERINFO names it
	// toLeader marks a learner's connection to its leader (fixed at
	// start, so the reader can use it).
	toLeader bool
	// ctx ends when the connection closes.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once

	mu    sync.Mutex
	queue []outPacket   // waiting for the writer, in order
	wake  chan struct{} // capacity 1: the queue is not empty

	// Statistics for the AdminServer's learner entries (LearnerHandler's
	// bean): written by the connection's goroutines, read by the owner.
	started     time.Time
	remote      string       // the peer's address, formatted once
	sent, recvd atomic.Int64 // packets
	requests    atomic.Int64 // REQUESTs received (a learner's forwarded writes)
	// queuedBytes is the encoded size of the packets queued and not yet
	// written, databases left out (bounded by maxQueued); queuedLen
	// counts them.
	queuedBytes atomic.Int64
	queuedLen   atomic.Int64
}

// event is what connection goroutines report to the owner goroutine.
type event struct {
	c   *conn
	pkt wire.Packet
	// snap is the database a leader streamed after a SNAP packet (learner
	// connections only).
	snap *snapshot.Snapshot
	// snapEncoded (leader connections only) says that the database for
	// the SNAP queued on c is encoded, or failed to be: see
	// role.releaseNewLeader.
	snapEncoded bool
	err         error // the connection ended
}

// outPacket is a packet to write. A SNAP packet is followed on the
// stream by the database, which pending delivers once it is encoded: the
// writer waits for it before writing the packet, and so before any packet
// queued after it.
type outPacket struct {
	pkt     wire.Packet
	pending <-chan encoded
}

// encoded is the outcome of encoding a SNAP's database.
type encoded struct {
	stream []byte
	err    error
}

func startConn(nc net.Conn, id int64, events chan<- event, stop <-chan struct{}, writeTimeout time.Duration, wg *sync.WaitGroup) *conn {
	c := &conn{nc: nc, id: id, toLeader: id != 0, wake: make(chan struct{}, 1),
		started: time.Now(), remote: nc.RemoteAddr().String()}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	wg.Go(func() { c.readLoop(events, stop) })
	wg.Go(func() { c.writeLoop(writeTimeout) })
	return c
}

func (c *conn) close() {
	c.once.Do(func() {
		c.cancel()
		_ = c.nc.Close()
	})
}

// send queues p; a full queue closes the connection.
func (c *conn) send(p wire.Packet) { c.enqueue(outPacket{pkt: p}) }

// sendPending queues p followed by the database pending delivers once it
// is encoded; the packets queued after it wait for it. An encoding error
// closes the connection.
func (c *conn) sendPending(p wire.Packet, pending <-chan encoded) {
	c.enqueue(outPacket{pkt: p, pending: pending})
}

// enqueue is called by the owner goroutine only, so the bound it checks
// can only fall before it adds to it.
func (c *conn) enqueue(op outPacket) {
	size := int64(op.pkt.Size())
	if c.queuedBytes.Load()+size > maxQueued {
		c.close()
		return
	}
	c.queuedBytes.Add(size)
	c.queuedLen.Add(1)
	c.mu.Lock()
	c.queue = append(c.queue, op)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take empties the queue into buf (reused between calls).
func (c *conn) take(buf []outPacket) []outPacket {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf = append(buf[:0], c.queue...)
	clear(c.queue)
	c.queue = c.queue[:0]
	return buf
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
	var batch []outPacket
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		}
		batch = c.take(batch)
		for i := range batch {
			if !c.write(bw, &batch[i], timeout) {
				c.close()
				return
			}
			batch[i] = outPacket{} // let a database be collected once written
		}
		if err := bw.Flush(); err != nil {
			c.close()
			return
		}
	}
}

// write writes one queued packet and what follows it into bw, waiting for
// a database still being encoded (after flushing what is before it, so
// the peer is not kept waiting for packets already queued).
func (c *conn) write(bw *bufio.Writer, op *outPacket, timeout time.Duration) bool {
	var trailer []byte
	if op.pending != nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		if bw.Flush() != nil {
			return false
		}
		select {
		case <-c.ctx.Done():
			return false
		case res := <-op.pending:
			if res.err != nil {
				return false
			}
			trailer = res.stream
		}
	}
	c.queuedBytes.Add(-int64(op.pkt.Size()))
	c.queuedLen.Add(-1)
	c.sent.Add(1)
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	// Encoded straight into the writer's spare room when the packet fits
	// (AppendMarshal grows a copy when it does not).
	if _, err := bw.Write(op.pkt.AppendMarshal(bw.AvailableBuffer())); err != nil {
		return false
	}
	if _, err := bw.Write(trailer); err != nil {
		return false
	}
	return true
}
