package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/quorum/election"
	"github.com/zkd-io/zkd/server/quorum/wire"
)

// connOf returns p's current connection under its lock.
func connOf(m *Manager, sid int64) *conn {
	p := m.peers[sid]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn
}

// onePair reports whether accepted and dialled are the two ends of one TCP
// connection, dialled by the server holding dialled.
func onePair(accepted, dialled *conn) bool {
	return accepted != nil && dialled != nil && !accepted.dialled && dialled.dialled &&
		accepted.nc.LocalAddr().String() == dialled.nc.RemoteAddr().String() &&
		accepted.nc.RemoteAddr().String() == dialled.nc.LocalAddr().String()
}

func TestDuplicateConnectionRaceKeepsOneConnection(t *testing.T) {
	checkNoLeaks(t)
	qc := quorumConfig(t, 2)
	// Both servers start at once and so dial each other at once.
	var m1, m2 *Manager
	var wg sync.WaitGroup
	for _, id := range []int64{1, 2} {
		m, err := New(Config{ID: id, Quorum: qc, Logger: testLogger(t), DialBackoff: testBackoff})
		if err != nil {
			t.Fatalf("start %d: %v", id, err)
		}
		t.Cleanup(func() { _ = m.Close() })
		if id == 1 {
			m1 = m
		} else {
			m2 = m
		}
	}
	settled := func(round int) {
		t.Helper()
		// Only the connection dialled by the larger sid survives, and
		// both servers agree on which socket it is.
		eventually(t, 5*time.Second, "one connection dialled by server 2 (round "+strconv.Itoa(round)+")", func() bool {
			c1, c2 := connOf(m1, 2), connOf(m2, 1)
			return onePair(c1, c2)
		})
		// It stays that way: nothing is still tearing it down.
		c1, c2 := connOf(m1, 2), connOf(m2, 1)
		time.Sleep(200 * time.Millisecond)
		if connOf(m1, 2) != c1 || connOf(m2, 1) != c2 {
			t.Fatalf("round %d: connection replaced after settling", round)
		}
	}
	settled(0)

	// Break the connection on both sides at the same moment while each
	// has a vote the other may have missed: both redial at once.
	for round := 1; round <= 3; round++ {
		for _, m := range []*Manager{m1, m2} {
			p := m.peers[3-m.id]
			p.mu.Lock()
			p.lastSent = []byte("vote")
			p.announcedAt = time.Time{}
			p.mu.Unlock()
		}
		c1, c2 := connOf(m1, 2), connOf(m2, 1)
		wg.Add(2)
		go func() { defer wg.Done(); m1.lose(c1, io.ErrUnexpectedEOF) }()
		go func() { defer wg.Done(); m2.lose(c2, io.ErrUnexpectedEOF) }()
		wg.Wait()
		settled(round)
	}
	// Each side holds one connection: one peer, one entry, both alive.
	if got := m1.ConnectedPeers(); len(got) != 1 {
		t.Errorf("server 1 connected to %v, want [2]", got)
	}
}

// fakePeer is a raw election endpoint standing in for server 1, so that the
// test sees exactly what the Manager (server 2) writes.
type fakePeer struct {
	ln net.Listener
}

// accept reads the handshake of the next connection and checks it.
func (f *fakePeer) accept(t *testing.T, wantSID int64) (net.Conn, *bufio.Reader) {
	t.Helper()
	_ = f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	nc, err := f.ln.Accept()
	if err != nil {
		t.Fatalf("fake peer accept: %v", err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	r := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	hs, err := wire.DecodeHandshake(r)
	if err != nil || hs.SID != wantSID || hs.ProtocolVersion != wire.ProtocolV1 {
		t.Fatalf("handshake %+v, %v; want V1 from %d", hs, err, wantSID)
	}
	return nc, r
}

func readNotification(t *testing.T, nc net.Conn, r *bufio.Reader) wire.Notification {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := wire.ReadFrame(r)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	n, err := wire.DecodeNotification(b)
	if err != nil {
		t.Fatalf("decode notification: %v", err)
	}
	return n
}

func TestSendSlotKeepsNewestAndResendsOnReconnect(t *testing.T) {
	checkNoLeaks(t)
	qc := quorumConfig(t, 2)
	// Server 1's port is reserved for the fake peer but not yet listening.
	m := startManager(t, qc, 2, nil)
	vote := func(zxid int64) election.Notification {
		return election.Notification{State: election.Looking, Leader: 2, Zxid: zxid, ElectionEpoch: 1, Version: 2}
	}
	// Three votes queued while server 1 is down: only the newest may go.
	for zxid := int64(1); zxid <= 3; zxid++ {
		m.send([]election.Message{{To: 1, N: vote(zxid)}})
	}
	ln, err := net.Listen("tcp", electionAddr(qc.Servers[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	f := &fakePeer{ln: ln}
	// A vote queued now makes sure a dial is under way even if the
	// earlier attempts have given up.
	m.send([]election.Message{{To: 1, N: vote(4)}})

	nc, r := f.accept(t, 2)
	if got := readNotification(t, nc, r); got.Zxid != 4 || got.Leader != 2 || string(got.Config) != qc.String() {
		t.Fatalf("first notification %+v; want the newest vote (zxid 4) carrying the config", got)
	}
	_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := wire.ReadFrame(r); err == nil {
		t.Fatalf("unexpected second frame %x: replaced votes must not be sent", b)
	}

	// The connection dies: the Manager redials and re-sends the last
	// vote, which may have been lost with it.
	_ = nc.Close()
	nc2, r2 := f.accept(t, 2)
	if got := readNotification(t, nc2, r2); got.Zxid != 4 {
		t.Fatalf("after reconnect got %+v; want the last vote (zxid 4) again", got)
	}

	// Notifications from the fake peer reach the election, which answers
	// a LOOKING voter from an older round with its own view.
	msg := wire.Notification{State: wire.StateLooking, Leader: 1, Zxid: 0, ElectionEpoch: 0, Version: 2, Config: []byte(qc.String())}
	frame, err := wire.AppendFrame(nil, msg.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc2.Write(frame); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "notification counted", func() bool {
		return testutil.ToFloat64(m.metrics.received) == 1
	})
}

func TestRejectedConnections(t *testing.T) {
	tests := []struct {
		name   string
		send   func() []byte
		reason string
	}{
		{name: "garbage handshake", reason: "handshake", send: func() []byte {
			b := binary.BigEndian.AppendUint64(nil, uint64(0xFFFFFFFFFFFF0000)) // ProtocolV1
			b = binary.BigEndian.AppendUint64(b, 1)
			return binary.BigEndian.AppendUint32(b, 1<<30) // address far too long
		}},
		{name: "unknown sid", reason: "unknown_peer", send: func() []byte {
			b, _ := wire.Handshake{ProtocolVersion: wire.ProtocolV1, SID: 9, Addrs: []string{"127.0.0.9:1"}}.Encode()
			return b
		}},
		{name: "own sid", reason: "unknown_peer", send: func() []byte {
			b, _ := wire.Handshake{ProtocolVersion: wire.ProtocolV1, SID: 1, Addrs: []string{"127.0.0.1:1"}}.Encode()
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			qc := quorumConfig(t, 3)
			m := startManager(t, qc, 1, prometheus.NewRegistry())
			nc, err := net.Dial("tcp", m.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write(tt.send()); err != nil {
				t.Fatal(err)
			}
			// The Manager hangs up.
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("read after handshake: %v, want EOF", err)
			}
			eventually(t, 5*time.Second, "error counted as "+tt.reason, func() bool {
				return testutil.ToFloat64(m.metrics.connErrors.WithLabelValues(tt.reason)) == 1
			})
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := func(t *testing.T) Config {
		return Config{ID: 1, Quorum: quorumConfig(t, 3)}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"id not a member", func(c *Config) { c.ID = 7 }},
		{"no election port", func(c *Config) { c.Quorum.Servers[1].Addrs[0].ElectionPort = 0 }},
		{"no address", func(c *Config) { c.Quorum.Servers[2].Addrs = nil }},
		{"unbounded dial backoff", func(c *Config) { c.DialBackoff.MinBackoff = time.Millisecond; c.DialBackoff.MaxBackoff = time.Second }},
		{"negative tick", func(c *Config) { c.Tick = -time.Millisecond }},
		{"no voters", func(c *Config) {
			for i := range c.Quorum.Servers {
				c.Quorum.Servers[i].Type = wire.Observer
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			cfg := good(t)
			tt.mutate(&cfg)
			if m, err := New(cfg); err == nil {
				_ = m.Close()
				t.Fatal("New accepted the config")
			}
		})
	}
	t.Run("port in use", func(t *testing.T) {
		checkNoLeaks(t)
		cfg := good(t)
		ln, err := net.Listen("tcp", electionAddr(cfg.Quorum.Servers[0]))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		if m, err := New(cfg); err == nil {
			_ = m.Close()
			t.Fatal("New succeeded on a taken port")
		}
		// Nothing stays registered, so a retry can register again.
		if mfs, _ := reg.Gather(); len(mfs) != 0 {
			t.Errorf("%d metric families left registered", len(mfs))
		}
	})
}

// TestEmptyConnectionIsNotAnError: a dialler that closes before sending its
// handshake (the normal end of a duplicate connection) is neither logged as
// a bad peer nor counted; a cut-off handshake still is.
func TestEmptyConnectionIsNotAnError(t *testing.T) {
	m := startManager(t, quorumConfig(t, 3), 1, prometheus.NewRegistry())
	handshakeErrors := func() float64 {
		return testutil.ToFloat64(m.metrics.connErrors.WithLabelValues("handshake"))
	}
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(200 * time.Millisecond)
	if got := handshakeErrors(); got != 0 {
		t.Fatalf("an empty connection counted as %v handshake errors", got)
	}
	c, err = net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{0xff, 0xff, 0x00}) // part of the protocol version
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for handshakeErrors() != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := handshakeErrors(); got != 1 {
		t.Fatalf("a cut-off handshake counted as %v handshake errors, want 1", got)
	}
}
