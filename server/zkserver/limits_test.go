package zkserver_test

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// TestMaxClientCnxns: connections from one address beyond maxClientCnxns
// are closed at once (and counted); closing one makes room again.
func TestMaxClientCnxns(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := zkservertest.Start(t, zkserver.Options{MaxClientCnxns: 2, Registerer: reg})
	addr := srv.Addr().String()
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// open reports whether the server kept the connection: a ConnectRequest
	// gets a ConnectResponse, or the connection is closed.
	open := func(c net.Conn) bool {
		req := proto.Marshal(&proto.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)})
		frame := append([]byte{0, 0, 0, byte(len(req))}, req...)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(frame); err != nil {
			return false
		}
		var b [4]byte
		_, err := c.Read(b[:])
		return err == nil
	}
	a, b := dial(), dial()
	if !open(a) || !open(b) {
		t.Fatal("the first two connections were refused")
	}
	if open(dial()) {
		t.Fatal("a third connection from the same address was accepted")
	}
	if got := metricvalue.OfSeries(t, reg, "zkd_server_connections_rejected_total", "reason", "max_client_cnxns"); got != 1 {
		t.Fatalf("rejections counted %v, want 1", got)
	}
	a.Close()
	ok := false
	for i := 0; i < 50 && !ok; i++ { // the server notices the close asynchronously
		ok = open(dial())
		if !ok {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("no room after a connection closed")
	}
}
