package zkserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkd-io/zkd/server/auth"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/sockio"
	"github.com/zkd-io/zkd/server/watch"
)

// maxQueuedBytes bounds the replies and notifications waiting to be written
// to one client. A client that stops reading would otherwise make the server
// buffer without limit; past this it is disconnected (and counted).
const maxQueuedBytes = 64 << 20

// conn is one client TCP connection. Its reader goroutine decodes requests
// in order and dispatches them; its writer goroutine sends the outbound
// queue in the order frames were queued. Because a read is answered only
// after the same connection's earlier writes were applied, and because
// replies and watch notifications are queued while the data tree lock is
// held, every client sees its replies in request order and every watch
// event before any data that reflects the change (ZooKeeper's guarantees).
type conn struct {
	srv      *Server
	nc       net.Conn
	id       uint64
	remote   string
	remoteIP string
	started  time.Time

	// identity is replaced as a whole on each successful auth, so a request
	// can carry the identity that was current when it was read.
	identity atomic.Pointer[auth.Identity]

	sessionID   atomic.Int64
	timeoutMs   atomic.Int32
	hasReadOnly bool
	established atomic.Bool
	fourLetter  atomic.Bool // the connection carries a four-letter word

	// pending counts this connection's requests in the write pipeline;
	// reads wait for it to drop to zero. slotsPending is how many of them
	// hold a request throttler slot, released as each is answered.
	pendMu       sync.Mutex
	pendCnd      *sync.Cond
	pending      int
	slotsPending int

	// slot: the request the reader is handling holds a request throttler
	// slot (see serveRequest). Only the reader goroutine touches it.
	slot bool

	// outMu guards outClosing and closeWhy.
	outMu      sync.Mutex
	outClosing bool // close after the queue drains
	out        *sockio.Writer
	closed     chan struct{}
	readerDone chan struct{} // closed when the reader goroutine stops
	closeOnce  sync.Once
	closeWhy   string
	// gone is closed as soon as the connection takes no more replies:
	// when it is closed, or marked to close after a last flush (its
	// session closed or expired). A request of a gone connection is
	// stale to the request throttler.
	gone     chan struct{}
	goneOnce sync.Once

	stats connStats
}

// connStats are the per-connection counters the cons command prints.
type connStats struct {
	received   atomic.Int64
	sent       atomic.Int64
	minLatency atomic.Int64 // ms, -1 unset
	maxLatency atomic.Int64
	sumLatency atomic.Int64
	count      atomic.Int64
	lastCxid   atomic.Int32
	lastZxid   atomic.Int64
	lastOp     atomic.Int32 // proto.Op of the last reply, or noLastOp (an op code, not its name, so storing it allocates nothing)
	lastResp   atomic.Int64 // unix ms
}

func newConn(srv *Server, nc net.Conn, id uint64) *conn {
	c := &conn{
		srv:     srv,
		nc:      nc,
		id:      id,
		remote:  nc.RemoteAddr().String(),
		started: time.Now(),
		closed:  make(chan struct{}),
		gone:    make(chan struct{}),

		readerDone: make(chan struct{}),
	}
	c.out = sockio.NewWriter(nc, sockio.WriterOptions{
		OnWrite: func(n int) { srv.metrics.BytesSent.Add(float64(n)) }})
	c.pendCnd = sync.NewCond(&c.pendMu)
	if host, _, err := net.SplitHostPort(c.remote); err == nil {
		c.remoteIP = host
	}
	c.identity.Store(&auth.Identity{RemoteIP: c.remoteIP})
	c.stats.minLatency.Store(-1)
	c.stats.lastOp.Store(noLastOp)
	return c
}

// Process implements watch.Watcher: it queues a notification. It is called
// with the tree lock held, so the notification is ordered before any reply
// that reflects the change. A watcher without READ on the znode gets
// nothing, as ZooKeeper 3.8.4 does since CVE-2024-23944.
func (c *conn) Process(ev watch.Event) {
	if ev.ACL != nil && !auth.CheckACL(ev.ACL, proto.PermRead, c.identity.Load()) {
		c.srv.metrics.NotifyDenied.Inc()
		return
	}
	state := proto.StateSyncConnected
	e := c.srv.frames.get()
	hdr := proto.ReplyHeader{Xid: proto.XidNotification, Zxid: -1, Err: 0}
	hdr.Encode(e)
	body := proto.WatcherEvent{Type: ev.Type, State: state, Path: ev.Path}
	body.Encode(e)
	c.srv.metrics.Notifications.Inc()
	c.send(e)
}

var _ watch.Watcher = (*conn)(nil)

// frame finishes a frame built by an encoder whose first 4 bytes were
// reserved for the length.
func frame(b []byte) []byte {
	binary.BigEndian.PutUint32(b[:4], uint32(len(b)-4))
	return b
}

// maxPooledFrame bounds the buffers framePool keeps: a reply carrying a
// megabyte of data should not pin a megabyte while it waits in the pool.
const maxPooledFrame = 16 << 10

// framePool recycles the encoders that replies and notifications are
// built in. A frame the socket takes at once, as nearly every one does on
// a healthy connection, leaves its buffer free for the next frame, so a
// request's reply costs no allocation; a frame the writer has to queue
// keeps its buffer, and the pool makes a new one.
type framePool struct{ p sync.Pool }

// get returns an empty encoder with 4 bytes reserved for the length.
func (fp *framePool) get() *jute.Encoder {
	e, _ := fp.p.Get().(*jute.Encoder)
	if e == nil {
		e = jute.NewEncoder(make([]byte, 0, 256))
	}
	e.Reset()
	e.Int(0) // the length, filled in by frame
	return e
}

func (fp *framePool) put(e *jute.Encoder) {
	if cap(e.Bytes()) <= maxPooledFrame {
		fp.p.Put(e)
	}
}

// send queues the frame built in e (from framePool.get) and recycles e
// unless the writer kept its buffer.
func (c *conn) send(e *jute.Encoder) {
	if !c.enqueue(e.Bytes()) {
		c.srv.frames.put(e)
	}
}

// reply encodes and queues a reply header and an optional body. A reply
// to a connection that already went away is counted (ZooKeeper's
// stale_replies) and discarded.
func (c *conn) reply(hdr proto.ReplyHeader, body proto.Record) {
	if closedChan(c.gone) {
		c.srv.metrics.StaleReplies.Inc()
		c.srv.stats.staleReplies.Add(1)
		return
	}
	e := c.srv.frames.get()
	hdr.Encode(e)
	if body != nil && hdr.Err == proto.ErrOK {
		body.Encode(e)
	}
	c.stats.lastZxid.Store(hdr.Zxid)
	c.send(e)
}

// enqueue queues one frame (with its 4 reserved length bytes) for the
// writer. It reports whether the writer kept b: false when the socket
// took all of it at once (or the connection is closing), so that the
// caller may reuse b.
func (c *conn) enqueue(b []byte) (kept bool) {
	b = frame(b)
	frames, queued, ok := c.out.Write(b)
	if !ok {
		return false
	}
	kept = frames > 0
	c.srv.metrics.PacketsSent.Inc()
	c.srv.stats.packetsSent.Add(1)
	c.stats.sent.Add(1)
	over := queued > maxQueuedBytes
	if over {
		c.srv.metrics.SlowClients.Inc()
		c.srv.log.Warn().Str("remote", c.remote).Str("session", hex(c.sessionID.Load())).
			Msg("closing connection: client is not reading its replies")
		c.close("slow_client")
	}
	return kept
}

// closeAfterFlush stops accepting frames and closes the connection once
// everything already queued was written (closeSession, auth failure,
// unimplemented op, invalid session).
func (c *conn) closeAfterFlush(reason string) {
	c.outMu.Lock()
	if c.closeWhy == "" {
		c.closeWhy = reason
	}
	c.outClosing = true
	c.outMu.Unlock()
	// After closeWhy is set: the writer may close the connection as soon
	// as it has flushed.
	c.out.CloseAfterFlush()
	c.markGone()
}

// markGone records that the connection takes no more replies.
func (c *conn) markGone() {
	c.goneOnce.Do(func() { close(c.gone) })
}

// close closes the connection at once.
func (c *conn) close(reason string) {
	c.closeOnce.Do(func() {
		c.outMu.Lock()
		if c.closeWhy == "" {
			c.closeWhy = reason
		}
		c.outClosing = true
		c.outMu.Unlock()
		c.out.CloseAfterFlush() // drop what comes after: Run stops at closed
		c.markGone()
		close(c.closed)
		c.nc.Close()
		c.pendMu.Lock()
		c.pendCnd.Broadcast()
		c.pendMu.Unlock()
	})
}

// writeLoop runs the connection's writer (sockio.Writer: queued frames
// are flushed together, and replies are written directly while it is
// idle) and, when a closeAfterFlush drained it, closes the connection.
func (c *conn) writeLoop() {
	if err := c.out.Run(64<<10, c.closed); err != nil {
		c.close("error")
		return
	}
	select {
	case <-c.closed:
	default:
		c.finishClose()
	}
}

// finishClose ends a connection whose last frames were just flushed. It
// half-closes (the client reads its last reply, then EOF) and waits, bounded,
// for the reader to drain what the client still sends: closing a socket with
// unread input makes the kernel send a reset, which can destroy the reply
// before the client reads it.
func (c *conn) finishClose() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	select {
	case <-c.readerDone:
	case <-time.After(2 * time.Second):
	}
	c.outMu.Lock()
	why := c.closeWhy
	c.outMu.Unlock()
	c.close(why)
}

// errFrameLength reports a frame length ZooKeeper would refuse ("Len error").
var errFrameLength = errors.New("frame length out of range")

// readFrame reads one length-prefixed frame into buf (grown as needed).
func (c *conn) readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	// Peek reads the length in r's buffer: a [4]byte handed to
	// io.ReadFull would escape, one allocation per request.
	lb, err := r.Peek(4)
	if err != nil {
		if len(lb) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // as io.ReadFull says it
		}
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(lb))
	_, _ = r.Discard(4) // cannot fail: the 4 bytes are buffered
	return c.readBody(r, n, buf)
}

func (c *conn) readBody(r *bufio.Reader, n int32, buf []byte) ([]byte, error) {
	if n < 0 || int(n) > c.srv.opts.MaxBuffer {
		return nil, fmt.Errorf("%w: %d (limit %d)", errFrameLength, n, c.srv.opts.MaxBuffer)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("frame of %d bytes: %w", n, err)
	}
	c.srv.metrics.BytesReceived.Add(float64(n) + 4)
	c.srv.metrics.PacketsReceived.Inc()
	c.srv.stats.packetsReceived.Add(1)
	c.stats.received.Add(1)
	return buf, nil
}

// addPending and donePending track this connection's writes in flight.
// slot says the write holds a request throttler slot, which donePending
// gives back: every path that finishes or abandons a write calls it.
func (c *conn) addPending(slot bool) {
	c.pendMu.Lock()
	c.pending++
	if slot {
		c.slotsPending++
	}
	c.pendMu.Unlock()
}

func (c *conn) donePending() {
	c.pendMu.Lock()
	c.pending--
	if c.pending == 0 {
		c.pendCnd.Broadcast()
	}
	release := c.slotsPending > 0
	if release {
		c.slotsPending--
	}
	c.pendMu.Unlock()
	if release {
		c.srv.reqThrottle.release()
	}
}

// waitWrites blocks until this connection has no write in the pipeline,
// so that a read sees the client's own earlier writes. It returns false if
// the connection closed meanwhile.
func (c *conn) waitWrites() bool {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	for c.pending > 0 {
		select {
		case <-c.closed:
			return false
		default:
		}
		c.pendCnd.Wait()
	}
	select {
	case <-c.closed:
		return false
	default:
		return true
	}
}

// recordLatency feeds the per-connection and server-wide latency stats
// that srvr, stat and cons print (in milliseconds, as ZooKeeper does).
func (c *conn) recordLatency(start time.Time, op proto.Op, cxid int32) {
	ms := time.Since(start).Milliseconds()
	c.stats.count.Add(1)
	c.stats.sumLatency.Add(ms)
	for {
		cur := c.stats.minLatency.Load()
		if cur != -1 && cur <= ms {
			break
		}
		if c.stats.minLatency.CompareAndSwap(cur, ms) {
			break
		}
	}
	for {
		cur := c.stats.maxLatency.Load()
		if cur >= ms || c.stats.maxLatency.CompareAndSwap(cur, ms) {
			break
		}
	}
	c.stats.lastCxid.Store(cxid)
	c.stats.lastOp.Store(op)
	c.stats.lastResp.Store(time.Now().UnixMilli())
	c.srv.stats.recordLatency(ms)
}

// noLastOp marks a connection that has had no reply yet (cons: lop=NA).
const noLastOp = math.MinInt32

// lastOpName is what cons prints as lop for a conn's stats.lastOp.
func lastOpName(op proto.Op) string {
	if op == noLastOp {
		return "NA"
	}
	return shortOp(op)
}

// shortOp is the four-letter code ZooKeeper's cons prints as lop.
func shortOp(op proto.Op) string {
	switch op {
	case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL:
		return "CREA"
	case proto.OpDelete, proto.OpDeleteContainer:
		return "DELE"
	case proto.OpExists:
		return "EXIS"
	case proto.OpGetData:
		return "GETD"
	case proto.OpSetData:
		return "SETD"
	case proto.OpGetACL:
		return "GETA"
	case proto.OpSetACL:
		return "SETA"
	case proto.OpGetChildren:
		return "GETC"
	case proto.OpGetChildren2:
		return "GETC"
	case proto.OpSync:
		return "SYNC"
	case proto.OpPing:
		return "PING"
	case proto.OpMulti:
		return "MULT"
	case proto.OpMultiRead:
		return "MLTR"
	case proto.OpCloseSession:
		return "CLOS"
	case proto.OpCreateSession:
		return "SESS"
	case proto.OpSetWatches, proto.OpSetWatches2:
		return "SETW"
	case proto.OpCheck:
		return "CHEC"
	case proto.OpAddWatch:
		return "ADDW"
	case proto.OpRemoveWatches:
		return "REMW"
	case proto.OpCheckWatches:
		return "CHKW"
	case proto.OpGetEphemerals:
		return "GETE"
	case proto.OpGetAllChildrenNumber:
		return "GETACN"
	case proto.OpWhoAmI:
		return "HOMI"
	}
	return "NA"
}
