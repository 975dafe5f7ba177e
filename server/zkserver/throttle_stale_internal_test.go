package zkserver

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// startInternal runs a server on a free port of 127.0.0.1 for a test.
func startInternal(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.ListenAddr, opts.Logger = "127.0.0.1:0", zerolog.Nop()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	// The context is the service's lifetime: the test's.
	ctx := t.Context()
	if err := s.StartAsync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.AwaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.StopAsync()
		_ = s.AwaitTerminated(ctx)
	})
	return s
}

// rawSession opens a session over a raw connection.
func rawSession(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	req := proto.Marshal(&proto.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)})
	if _, err := nc.Write(binary.BigEndian.AppendUint32(nil, uint32(len(req)))); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	var lb [4]byte
	if _, err := io.ReadFull(nc, lb[:]); err != nil {
		t.Fatalf("connect response: %v", err)
	}
	if _, err := io.CopyN(io.Discard, nc, int64(binary.BigEndian.Uint32(lb[:]))); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Time{})
	return nc
}

func rawCreate(t *testing.T, nc net.Conn, xid int32, path string) {
	t.Helper()
	e := jute.NewEncoder(make([]byte, 4, 64))
	(&proto.RequestHeader{Xid: xid, Type: proto.OpCreate}).Encode(e)
	(&proto.CreateRequest{Path: path, ACL: proto.OpenACLUnsafe}).Encode(e)
	b := e.Bytes()
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) exists(path string) bool {
	s.tree.RLock()
	defer s.tree.RUnlock()
	_, ok := s.tree.Lookup(path)
	return ok
}

// TestStaleRequestEndToEnd: a client's create waits in the request
// throttler (the test holds the only slot) and the client closes its
// connection. By default the create is dropped: never applied, counted;
// with request_throttle_drop_stale=false it is applied anyway once
// admitted, counted as stale, and its reply is discarded.
func TestStaleRequestEndToEnd(t *testing.T) {
	tests := []struct {
		name      string
		keepStale bool
	}{{"dropped", false}, {"kept", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startInternal(t, Options{RequestThrottle: RequestThrottleOptions{
				MaxRequests: 1, StallTime: time.Hour, KeepStale: tt.keepStale}})
			nc := rawSession(t, s.Addr().String())
			waitFor(t, "the session's createSession to finish", func() bool { return s.reqThrottle.inProcess.Load() == 0 })
			s.reqThrottle.acquire(&throttledRequest{op: proto.OpGetData}) // the only slot
			rawCreate(t, nc, 1, "/a")
			waitFor(t, "the create to wait", func() bool { return s.reqThrottle.waiting.Load() == 1 })
			nc.Close() // the client gives up
			m := s.metrics
			if !tt.keepStale {
				waitFor(t, "the create to be dropped", func() bool { return testutil.ToFloat64(m.StaleDropped) == 1 })
				s.reqThrottle.release()
				if s.exists("/a") {
					t.Fatal("a dropped create was applied")
				}
				if kv := monitorMap(s); kv["zk_stale_requests_dropped"] != "1" {
					t.Errorf("mntr zk_stale_requests_dropped %q, want 1", kv["zk_stale_requests_dropped"])
				}
			} else {
				waitFor(t, "the server to see the connection close", s.connsGone)
				s.reqThrottle.release()
				waitFor(t, "the stale create to be applied", func() bool { return s.exists("/a") })
				waitFor(t, "its reply to be discarded", func() bool { return testutil.ToFloat64(m.StaleReplies) == 1 })
				if got := testutil.ToFloat64(m.StaleRequests); got != 1 {
					t.Errorf("stale requests %v, want 1", got)
				}
				if got := testutil.ToFloat64(m.StaleDropped); got != 0 {
					t.Errorf("stale dropped %v with drop stale off", got)
				}
			}
			waitFor(t, "every slot to come back", func() bool { return s.reqThrottle.inProcess.Load() == 0 })
			// The server serves on.
			other := rawSession(t, s.Addr().String())
			rawCreate(t, other, 1, "/b")
			waitFor(t, "another client's create", func() bool { return s.exists("/b") })
		})
	}
}

// connsGone reports whether the server's client connections are all gone
// (test helper).
func (s *Server) connsGone() bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.conns {
		if !closedChan(c.gone) {
			return false
		}
	}
	return true
}

func monitorMap(s *Server) map[string]string {
	out := map[string]string{}
	for _, kv := range (fourLetterSource{s}).Monitor() {
		out[kv.Key] = kv.Value
	}
	return out
}
