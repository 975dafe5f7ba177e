package promtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/testpeer"
)

// LoadOptions size DriveLoad.
type LoadOptions struct {
	// Writes per target (setData calls); more than the servers' snapCount
	// makes them write a snapshot.
	Writes int
}

// DriveLoad moves the metrics the dashboards and alerts read, on every
// target: sessions opened, closed and expired; creates (persistent,
// ephemeral, sequential), sets, gets, children and exists calls, with
// watches that fire; failing requests (NONODE, NODEEXISTS, BADVERSION); a
// digest auth; four-letter words; AdminServer commands, one of them
// unknown; and a malformed frame. It fails the test on any unexpected
// error.
func DriveLoad(t testing.TB, targets []Target, opts LoadOptions) {
	t.Helper()
	if opts.Writes == 0 {
		opts.Writes = 200
	}
	for _, tg := range targets {
		if err := loadOne(tg, opts); err != nil {
			t.Fatalf("load on %s (%s): %v", tg.Name, tg.ClientAddr, err)
		}
	}
}

func loadOne(tg Target, opts LoadOptions) error {
	conn, events, err := zk.Connect([]string{tg.ClientAddr}, 5*time.Second, zk.WithLogInfo(false), zk.WithLogger(discard{}))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := awaitSession(events); err != nil {
		return err
	}
	if err := conn.AddAuth("digest", []byte("load:secret")); err != nil {
		return fmt.Errorf("addAuth: %w", err)
	}
	acl := zk.WorldACL(zk.PermAll)
	base := "/promtest"
	if _, err := conn.Create(base, []byte("base"), 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("create %s: %w", base, err)
	}
	// Failing requests, for the result label.
	if _, err := conn.Create(base, nil, 0, acl); !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("create existing %s: got %v, want NODEEXISTS", base, err)
	}
	if _, _, err := conn.Get(base + "/missing"); !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("get missing: got %v, want NONODE", err)
	}
	if _, err := conn.Set(base, nil, 12345); !errors.Is(err, zk.ErrBadVersion) {
		return fmt.Errorf("set with a wrong version: got %v, want BADVERSION", err)
	}
	// Watches: a data watch, a child watch and an exists watch, each fired.
	node := base + "/data"
	if _, err := conn.Create(node, []byte("0"), 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("create %s: %w", node, err)
	}
	_, _, dataW, err := conn.GetW(node)
	if err != nil {
		return fmt.Errorf("getW: %w", err)
	}
	_, _, childW, err := conn.ChildrenW(base)
	if err != nil {
		return fmt.Errorf("childrenW: %w", err)
	}
	_, _, existsW, err := conn.ExistsW(base + "/later")
	if err != nil {
		return fmt.Errorf("existsW: %w", err)
	}
	for i := range opts.Writes {
		if _, err := conn.Set(node, fmt.Appendf(nil, "%d", i), -1); err != nil {
			return fmt.Errorf("set %d: %w", i, err)
		}
		if i%10 == 0 {
			if _, _, err := conn.Get(node); err != nil {
				return fmt.Errorf("get: %w", err)
			}
			if _, _, err := conn.Children(base); err != nil {
				return fmt.Errorf("children: %w", err)
			}
		}
	}
	if _, err := conn.Create(base+"/later", nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("create later: %w", err)
	}
	if _, err := conn.Create(base+"/seq-", nil, zk.FlagSequence|zk.FlagEphemeral, acl); err != nil {
		return fmt.Errorf("create ephemeral sequential: %w", err)
	}
	for _, w := range []<-chan zk.Event{dataW, childW, existsW} {
		select {
		case <-w:
		case <-time.After(10 * time.Second):
			return errors.New("a watch did not fire within 10s")
		}
	}
	if err := conn.Delete(base+"/later", -1); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	// A second session that is closed, and one that expires.
	conn2, events2, err := zk.Connect([]string{tg.ClientAddr}, 5*time.Second, zk.WithLogInfo(false), zk.WithLogger(discard{}))
	if err != nil {
		return err
	}
	if err := awaitSession(events2); err != nil {
		conn2.Close()
		return err
	}
	conn2.Close()
	if err := abandonSession(tg.ClientAddr); err != nil {
		return fmt.Errorf("abandoned session: %w", err)
	}
	// Four-letter words and AdminServer commands.
	for _, cmd := range []string{"srvr", "mntr", "stat", "cons", "wchs"} {
		if _, err := testpeer.FourLetter(tg.ClientAddr, cmd, 5*time.Second); err != nil {
			return err
		}
	}
	for _, cmd := range []string{"monitor", "stat", "watch_summary", "no_such_command"} {
		resp, err := http.Get("http://" + tg.MetricsAddr + "/commands/" + cmd)
		if err != nil {
			return fmt.Errorf("AdminServer %s: %w", cmd, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := exceedMaxClientCnxns(tg.ClientAddr); err != nil {
		return fmt.Errorf("maxClientCnxns: %w", err)
	}
	// A malformed frame: a negative length.
	return sendCountedBadFrame(tg)
}

// sendCountedBadFrame sends bad frames until the target's /metrics shows
// zkd_server_bad_input_total. The connections exceedMaxClientCnxns just
// closed may still count against maxClientCnxns on the server for a moment,
// and then the server refuses the bad frame's connection before reading it.
func sendCountedBadFrame(tg Target) error {
	deadline := time.Now().Add(15 * time.Second)
	for attempt := 1; ; attempt++ {
		if err := sendBadFrame(tg.ClientAddr); err != nil {
			return err
		}
		counted, err := metricExposed(tg.MetricsAddr, "zkd_server_bad_input_total")
		if err != nil {
			return err
		}
		if counted {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bad frame not counted after %d attempts", attempt)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metricExposed reports whether the /metrics page at addr has a sample of
// the metric name.
func metricExposed(addr, name string) (bool, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, fmt.Errorf("scrape %s: %w", addr, err)
	}
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			return true, nil
		}
	}
	return false, nil
}

// exceedMaxClientCnxns holds MaxClientCnxns connections open and opens one
// more, which the server refuses (by closing it).
func exceedMaxClientCnxns(addr string) error {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range MaxClientCnxns + 1 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	// The last one is closed by the server: reading it ends (EOF or reset)
	// rather than timing out.
	last := conns[len(conns)-1]
	_ = last.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := last.Read(make([]byte, 1)); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("connection %d was not refused", len(conns))
		}
	}
	return nil
}

func awaitSession(events <-chan zk.Event) error {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return nil
			}
		case <-timeout:
			return errors.New("no session within 10s")
		}
	}
}

// abandonSession opens a session with the shortest timeout the servers
// allow and drops the connection without closing it, so that the session
// expires on the server.
func abandonSession(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// ConnectRequest: protocolVersion, lastZxidSeen, timeOut (ms),
	// sessionId, passwd (length-prefixed), then the frame length first.
	body := binary.BigEndian.AppendUint32(nil, 0)
	body = binary.BigEndian.AppendUint64(body, 0)
	body = binary.BigEndian.AppendUint32(body, 400)
	body = binary.BigEndian.AppendUint64(body, 0)
	body = binary.BigEndian.AppendUint32(body, 16)
	body = append(body, make([]byte, 16)...)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, err := c.Write(append(frame, body...)); err != nil {
		return err
	}
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return fmt.Errorf("read the connect response: %w", err)
	}
	return nil
}

// sendBadFrame sends a frame with a negative length, which the server
// answers by closing the connection (and counting bad input).
func sendBadFrame(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{0xff, 0xff, 0xff, 0xf0}); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, c) // until the server closes it
	return nil
}

type discard struct{}

func (discard) Printf(string, ...any) {}
