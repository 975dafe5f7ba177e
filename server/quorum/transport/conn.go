package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/dskit/backoff"

	"github.com/zkd-io/zkd/server/quorum/wire"
)

// peer is another member of the ensemble: its send slot and the one
// connection that carries traffic to and from it. The slot outlives
// connections, as QuorumCnxManager's queueSendMap does.
type peer struct {
	sid  int64
	addr string // election address, host:port

	mu       sync.Mutex
	pending  []byte // newest unsent notification; nil when none
	lastSent []byte // re-sent when a new connection comes up
	conn     *conn  // nil when not connected
	dialing  bool   // a dial goroutine is running
	// announcedAt is when this (smaller) server last handshook with the
	// peer and hung up, expecting the peer to dial back.
	announcedAt time.Time
}

// conn is one established election connection and its reader and writer.
type conn struct {
	p       *peer
	nc      net.Conn
	r       *bufio.Reader
	dialled bool // this server initiated it
	// seq orders accepted connections by accept time. Handshakes are
	// read concurrently, so a peer's older connection may finish its
	// handshake after a newer one; seq keeps it from replacing the newer.
	seq uint64
	// installed is when install made it the peer's connection.
	installed time.Time
	wake      chan struct{} // capacity 1: the send slot may have something
	done      chan struct{} // closed by close
	once      sync.Once
	// retired marks a connection closed on purpose (replaced, or the
	// Manager closing), whose read error is therefore expected.
	retired atomic.Bool
}

func (c *conn) close() {
	c.once.Do(func() {
		c.retired.Store(true)
		close(c.done)
		_ = c.nc.Close()
	})
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue puts a notification in p's send slot, replacing an unsent one,
// and makes sure a connection is on its way.
func (m *Manager) enqueue(p *peer, b []byte) {
	p.mu.Lock()
	p.pending = b
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		c.signal()
		return
	}
	m.connect(p)
}

// connect starts dialling p unless a connection exists, a dial is under
// way, or this server recently announced itself to the larger p and is
// waiting for it to dial back.
func (m *Manager) connect(p *peer) {
	p.mu.Lock()
	if p.conn != nil || p.dialing || (!p.announcedAt.IsZero() && time.Since(p.announcedAt) < dialBackWait) {
		p.mu.Unlock()
		return
	}
	p.dialing = true
	p.mu.Unlock()
	if !m.goTracked(func() { m.dial(p) }) {
		p.mu.Lock()
		p.dialing = false
		p.mu.Unlock()
	}
}

// dial tries to reach p with bounded, backed-off attempts.
func (m *Manager) dial(p *peer) {
	log := m.log.With().Int64("peer", p.sid).Str("addr", p.addr).Logger()
	b := backoff.New(m.ctx, m.cfg.DialBackoff)
	d := net.Dialer{Timeout: m.cfg.ConnectTimeout, LocalAddr: m.dialFrom}
	var err error
	for b.Ongoing() {
		var nc net.Conn
		nc, err = d.DialContext(m.ctx, "tcp", p.addr)
		if err == nil {
			if err = m.initiate(p, nc); err == nil {
				return // initiate cleared p.dialing
			}
			m.metrics.connErrors.WithLabelValues("handshake").Inc()
		} else if m.ctx.Err() == nil {
			m.metrics.connErrors.WithLabelValues("dial").Inc()
		}
		log.Debug().Err(err).Int("attempt", b.NumRetries()+1).Msg("cannot open election connection")
		b.Wait()
	}
	p.mu.Lock()
	p.dialing = false
	p.mu.Unlock()
	if m.ctx.Err() == nil {
		log.Warn().Err(err).Int("attempts", b.NumRetries()).Msg("giving up on election connection until the next notification")
	}
}

// initiate is QuorumCnxManager.startConnection: send the handshake, then keep
// the connection only if this server has the larger sid. A smaller server
// hangs up; the peer dials back.
func (m *Manager) initiate(p *peer, nc net.Conn) error {
	keep := wire.ShouldKeep(m.id, p.sid)
	if !keep {
		p.mu.Lock()
		connected := p.conn != nil
		p.mu.Unlock()
		if connected {
			// The peer dialled us meanwhile; announcing ourselves now
			// would only make it replace that connection.
			_ = nc.Close()
			p.mu.Lock()
			p.dialing = false
			p.mu.Unlock()
			return nil
		}
	}
	hs, err := wire.Handshake{ProtocolVersion: wire.ProtocolV1, SID: m.id, Addrs: []string{m.selfAddr}}.Encode()
	if err == nil {
		_ = nc.SetWriteDeadline(time.Now().Add(m.cfg.ConnectTimeout))
		_, err = nc.Write(hs)
	}
	if err != nil {
		_ = nc.Close()
		return fmt.Errorf("send handshake to %d: %w", p.sid, err)
	}
	if !keep {
		_ = nc.Close()
		p.mu.Lock()
		p.dialing = false
		p.announcedAt = time.Now()
		p.mu.Unlock()
		m.log.Debug().Int64("peer", p.sid).Msg("peer has the larger sid; announced ourselves and hung up for it to dial back")
		return nil
	}
	_ = nc.SetWriteDeadline(time.Time{})
	m.install(p, &conn{p: p, nc: nc, r: bufio.NewReader(nc), dialled: true})
	return nil
}

// acceptLoop accepts election connections until the listener is closed.
func (m *Manager) acceptLoop() {
	defer m.wg.Done()
	var seq uint64
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			if m.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			m.metrics.connErrors.WithLabelValues("accept").Inc()
			m.log.Warn().Err(err).Msg("accept election connection")
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		seq++
		n, at := seq, time.Now()
		if !m.goTracked(func() { m.receive(nc, n, at) }) {
			_ = nc.Close()
			return
		}
	}
}

// receive is QuorumCnxManager.handleConnection: read the handshake, then
// keep the connection if the initiator has the larger sid, or else close it
// and dial back.
func (m *Manager) receive(nc net.Conn, seq uint64, accepted time.Time) {
	r := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(m.cfg.ConnectTimeout))
	// Close must not wait out a silent dialler's handshake timeout.
	stop := context.AfterFunc(m.ctx, func() { _ = nc.Close() })
	hs, err := func() (wire.Handshake, error) {
		// A peer that closes before sending a byte gives the bare EOF of
		// Peek, not a handshake error.
		if _, err := r.Peek(1); err != nil {
			return wire.Handshake{}, err
		}
		return wire.DecodeHandshake(r)
	}()
	if !stop() {
		_ = nc.Close()
		return
	}
	if errors.Is(err, io.EOF) && !errors.Is(err, wire.ErrHandshake) {
		// Closed before sending a byte: the normal end of a duplicate
		// connection in the larger-sid-wins exchange, not a bad peer.
		_ = nc.Close()
		m.log.Debug().Str("remote", nc.RemoteAddr().String()).Msg("election connection closed before its handshake")
		return
	}
	if err != nil {
		_ = nc.Close()
		m.metrics.connErrors.WithLabelValues("handshake").Inc()
		m.log.Warn().Err(err).Str("remote", nc.RemoteAddr().String()).Msg("bad election handshake")
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	p := m.peers[hs.SID]
	if p == nil {
		// Our own sid, an old-style observer or a server outside the
		// config: there is nobody to dial back.
		_ = nc.Close()
		m.metrics.connErrors.WithLabelValues("unknown_peer").Inc()
		m.log.Warn().Int64("peer", hs.SID).Str("remote", nc.RemoteAddr().String()).
			Msg("election connection from a server that is not another member; closed")
		return
	}
	if wire.ShouldKeep(hs.SID, m.id) {
		m.install(p, &conn{p: p, nc: nc, r: r, seq: seq})
		return
	}
	// The smaller peer announced itself. It may believe an old
	// connection is still up, so drop ours before dialling back, unless
	// we dialled ours just now (at most dialBackWait before the
	// announcement arrived, or after): the peer announced before ours
	// reached it, and ours is already the answer. When both sides lose
	// the connection and redial at once, dropping it would replace a good
	// connection; if the peer did lose ours, it closes it and we redial
	// on the read error.
	_ = nc.Close()
	p.mu.Lock()
	old := p.conn
	if old != nil && old.dialled && accepted.Sub(old.installed) < dialBackWait {
		p.mu.Unlock()
		m.log.Debug().Int64("peer", p.sid).Msg("peer with the smaller sid announced itself; already dialled it since")
		return
	}
	p.conn = nil
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	m.log.Debug().Int64("peer", p.sid).Msg("peer with the smaller sid announced itself; dialling back")
	m.connect(p)
}

// install makes c the connection to its peer, retiring any previous one, and
// starts its reader and writer.
func (m *Manager) install(p *peer, c *conn) {
	c.wake = make(chan struct{}, 1)
	c.done = make(chan struct{})
	p.mu.Lock()
	old := p.conn
	if old != nil && !c.dialled && !old.dialled && old.seq > c.seq {
		// The peer dialled again after this one; it has already
		// given this connection up.
		p.mu.Unlock()
		c.close()
		m.log.Debug().Int64("peer", p.sid).Msg("dropped a superseded election connection")
		return
	}
	p.conn = c
	c.installed = time.Now()
	if c.dialled {
		p.dialing = false
	}
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	dir := "accepted"
	if c.dialled {
		dir = "dialled"
	}
	m.log.Info().Int64("peer", p.sid).Str("direction", dir).Str("remote", c.nc.RemoteAddr().String()).
		Msg("election connection established")
	c.signal() // send the pending notification, or re-send the last one
	ok := m.goTracked(func() { m.readLoop(c) }) && m.goTracked(func() { m.writeLoop(c) })
	if !ok {
		m.lose(c, nil)
	}
}

// readLoop is QuorumCnxManager.RecvWorker: frames in, notifications out.
func (m *Manager) readLoop(c *conn) {
	for {
		payload, err := wire.ReadFrame(c.r)
		if err != nil {
			m.lose(c, err)
			return
		}
		wn, err := wire.DecodeNotification(payload)
		if err != nil {
			// ZooKeeper drops a malformed notification but keeps the
			// connection.
			m.metrics.connErrors.WithLabelValues("decode").Inc()
			m.log.Warn().Int64("peer", c.p.sid).Err(err).Msg("dropped election notification")
			continue
		}
		m.metrics.received.Inc()
		m.deliver(inbound{from: c.p.sid, n: fromWire(wn)})
	}
}

// writeLoop is QuorumCnxManager.SendWorker: it writes what the peer's send
// slot holds whenever woken. On a fresh connection with nothing pending it
// re-sends the last notification, which may have been lost with the previous
// connection; receivers handle duplicates.
func (m *Manager) writeLoop(c *conn) {
	p := c.p
	first := true
	var frame []byte
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
		}
		p.mu.Lock()
		if p.conn != c {
			p.mu.Unlock()
			return
		}
		b := p.pending
		p.pending = nil
		if b == nil && first {
			b = p.lastSent
		}
		if b != nil {
			p.lastSent = b
		}
		p.mu.Unlock()
		first = false
		if b == nil {
			continue
		}
		var err error
		if frame, err = wire.AppendFrame(frame[:0], b); err != nil {
			// Cannot happen for notifications we encoded; dropping it
			// is all there is to do.
			m.log.Error().Int64("peer", p.sid).Err(err).Msg("cannot frame election notification")
			continue
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(m.cfg.ConnectTimeout))
		if _, err := c.nc.Write(frame); err != nil {
			m.lose(c, err)
			return
		}
		m.metrics.sent.Inc()
	}
}

// lose retires a broken connection. If the failure was not ours and there is
// a vote the peer may have missed, a new connection is dialled so that the
// last notification is re-sent.
func (m *Manager) lose(c *conn, err error) {
	expected := c.retired.Load()
	c.close()
	p := c.p
	p.mu.Lock()
	current := p.conn == c
	if current {
		p.conn = nil
	}
	undelivered := p.pending != nil || p.lastSent != nil
	p.mu.Unlock()
	if expected || !current {
		return
	}
	if err != nil && !errors.Is(err, io.EOF) {
		m.metrics.connErrors.WithLabelValues("io").Inc()
	}
	m.log.Info().Int64("peer", p.sid).Err(err).Msg("election connection lost")
	if undelivered {
		m.connect(p)
	}
}
