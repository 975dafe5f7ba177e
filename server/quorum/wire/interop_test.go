package wire

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/testpeer"
)

// fakePeer plays one ensemble member on the election channel only.
type fakePeer struct {
	sid  int64
	host string
	qp   int // quorum port: nobody listens, so a follower attempt fails fast
	ep   int
	ln   net.Listener

	handshakes chan Handshake    // what Apache sent when it dialled us
	notes      chan Notification // what Apache sent on our dialled-back connection
	conn       chan net.Conn     // our dialled-back connection, once up
	errs       chan error
}

func newFakePeer(t *testing.T, sid int64) *fakePeer {
	t.Helper()
	host := testpeer.LoopbackHost(int(sid))
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen for server.%d: %v", sid, err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakePeer{
		sid: sid, host: host, ln: ln,
		ep:         ln.Addr().(*net.TCPAddr).Port,
		qp:         testpeer.FreePort(t, host),
		handshakes: make(chan Handshake, 16),
		notes:      make(chan Notification, 256),
		conn:       make(chan net.Conn, 1),
		errs:       make(chan error, 16),
	}
}

func (p *fakePeer) addr() string { return net.JoinHostPort(p.host, strconv.Itoa(p.ep)) }

// serve accepts Apache's connections. Apache (sid 1) loses the tie-break
// against our larger sid, so like QuorumCnxManager we read its handshake,
// close, and dial back the address it announced; Apache then keeps our
// connection and sends notifications on it.
func (p *fakePeer) serve(deadline time.Time) {
	dialled := false
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed at test end
		}
		_ = c.SetDeadline(deadline)
		h, err := DecodeHandshake(bufio.NewReader(c))
		c.Close()
		if err != nil {
			p.errs <- fmt.Errorf("server.%d: decode Apache's handshake: %w", p.sid, err)
			continue
		}
		p.handshakes <- h
		if dialled || len(h.Addrs) != 1 || ShouldKeep(h.SID, p.sid) {
			continue
		}
		dialled = true
		go p.dialBack(h.Addrs[0], deadline)
	}
}

func (p *fakePeer) dialBack(addr string, deadline time.Time) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		p.errs <- fmt.Errorf("server.%d: dial back %s: %w", p.sid, addr, err)
		return
	}
	_ = c.SetDeadline(deadline)
	hs, err := Handshake{ProtocolVersion: ProtocolV1, SID: p.sid, Addrs: []string{p.addr()}}.Encode()
	if err == nil {
		_, err = c.Write(hs)
	}
	if err != nil {
		p.errs <- fmt.Errorf("server.%d: send handshake: %w", p.sid, err)
		c.Close()
		return
	}
	p.conn <- c
	r := bufio.NewReader(c)
	for {
		frame, err := ReadFrame(r)
		if err != nil {
			return // closed at test end or deadline
		}
		n, err := DecodeNotification(frame)
		if err != nil {
			p.errs <- fmt.Errorf("server.%d: decode notification: %w", p.sid, err)
			continue
		}
		p.notes <- n
	}
}

// next returns the next notification Apache sent to p that satisfies ok.
func (p *fakePeer) next(t *testing.T, timeout time.Duration, ok func(Notification) bool) Notification {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case n := <-p.notes:
			if ok(n) {
				return n
			}
			t.Logf("server.%d got %s leader=%d zxid=0x%x round=%d", p.sid, StateName(n.State), n.Leader, n.Zxid, n.ElectionEpoch)
		case err := <-p.errs:
			t.Fatal(err)
		case <-timer.C:
			t.Fatalf("server.%d: no matching notification from Apache within %v", p.sid, timeout)
		}
	}
}

// TestApacheElectionInterop runs one real Apache ZooKeeper 3.8 as server.1
// of a 3-server ensemble whose servers 2 and 3 are this test, and checks
// that handshakes and notifications are understood in both directions.
func TestApacheElectionInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM")
	}
	deadline := time.Now().Add(50 * time.Second)
	apacheHost := testpeer.LoopbackHost(1)
	apacheQP, apacheEP := testpeer.FreePort(t, apacheHost), testpeer.FreePort(t, apacheHost)
	peers := []*fakePeer{newFakePeer(t, 2), newFakePeer(t, 3)}
	for _, p := range peers {
		go p.serve(deadline)
	}
	t.Cleanup(func() {
		for _, p := range peers {
			select {
			case c := <-p.conn:
				c.Close()
			default:
			}
		}
	})

	want := QuorumConfig{Servers: []QuorumServer{
		{ID: 1, Addrs: []ServerAddr{{Host: apacheHost, QuorumPort: apacheQP, ElectionPort: apacheEP}}},
		{ID: 2, Addrs: []ServerAddr{{Host: peers[0].host, QuorumPort: peers[0].qp, ElectionPort: peers[0].ep}}},
		{ID: 3, Addrs: []ServerAddr{{Host: peers[1].host, QuorumPort: peers[1].qp, ElectionPort: peers[1].ep}}},
	}}
	wantText := fmt.Sprintf("server.1=%s:%d:%d:participant\nserver.2=%s:%d:%d:participant\nserver.3=%s:%d:%d:participant\nversion=0",
		apacheHost, apacheQP, apacheEP, peers[0].host, peers[0].qp, peers[0].ep, peers[1].host, peers[1].qp, peers[1].ep)
	if got := want.String(); got != wantText {
		t.Fatalf("rendered config:\n%s\nwant\n%s", got, wantText)
	}

	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{"initLimit": "5", "syncLimit": "2"}
	for _, s := range want.Servers {
		a := s.Addrs[0]
		extra["server."+strconv.FormatInt(s.ID, 10)] = fmt.Sprintf("%s:%d:%d", a.Host, a.QuorumPort, a.ElectionPort)
	}
	// Without a quorum the node never serves; read-only mode makes it
	// answer srvr after 2 s of LOOKING, which is what StartApacheZK waits for.
	testpeer.StartApacheZK(t, testpeer.ApacheOptions{
		DataDir:            dataDir,
		TickTime:           500 * time.Millisecond,
		DisableAdminServer: true,
		ExtraConfig:        extra,
		SystemProps:        map[string]string{"readonlymode.enabled": "true"},
		StartTimeout:       40 * time.Second,
	})

	wantAddr := net.JoinHostPort(apacheHost, strconv.Itoa(apacheEP))
	for _, p := range peers {
		select {
		case h := <-p.handshakes:
			if h.ProtocolVersion != ProtocolV1 || h.SID != 1 || len(h.Addrs) != 1 || h.Addrs[0] != wantAddr {
				t.Errorf("server.%d: Apache's handshake = %+v, want V1 sid 1 [%s]", p.sid, h, wantAddr)
			}
		case err := <-p.errs:
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatalf("server.%d: Apache never dialled", p.sid)
		}
	}

	var first Notification
	for _, p := range peers {
		n := p.next(t, 10*time.Second, func(Notification) bool { return true })
		if n.State != StateLooking || n.Leader != 1 || n.Zxid != 0 || n.PeerEpoch != 0 || n.ElectionEpoch < 1 || n.Version != NotificationVersion {
			t.Errorf("server.%d: Apache's first notification = %+v, want LOOKING for itself, zxid 0, peerEpoch 0, round >= 1, version 2", p.sid, n)
		}
		if string(n.Config) != wantText {
			t.Errorf("server.%d: config text\n%q\nwant\n%q", p.sid, n.Config, wantText)
		}
		cfg, err := ParseQuorumConfig(string(n.Config))
		if err != nil {
			t.Errorf("server.%d: parse Apache's config: %v", p.sid, err)
		} else if cfg.String() != string(n.Config) {
			t.Errorf("server.%d: config does not re-render byte for byte:\n%s", p.sid, cfg.String())
		}
		first = n
	}

	// Server 3 votes for itself with a later epoch and zxid: Apache's
	// totalOrderPredicate must prefer it and rebroadcast the new vote.
	var c net.Conn
	select {
	case c = <-peers[1].conn:
		peers[1].conn <- c // leave it for cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("no connection to Apache from server.3")
	}
	mine := Notification{
		State: StateLooking, Leader: 3, Zxid: 1<<32 | 5, ElectionEpoch: first.ElectionEpoch,
		PeerEpoch: 1, Config: []byte(wantText),
	}
	frame, err := AppendFrame(nil, mine.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(frame); err != nil {
		t.Fatalf("send vote: %v", err)
	}
	for _, p := range peers {
		n := p.next(t, 10*time.Second, func(n Notification) bool { return n.Leader == 3 })
		if n.State != StateLooking || n.Zxid != mine.Zxid || n.PeerEpoch != 1 || n.ElectionEpoch != first.ElectionEpoch ||
			n.Version != NotificationVersion || string(n.Config) != wantText {
			t.Errorf("server.%d: Apache's changed vote = %+v, want LOOKING leader 3 zxid 0x%x peerEpoch 1 round %d",
				p.sid, n, mine.Zxid, first.ElectionEpoch)
		}
	}
}
