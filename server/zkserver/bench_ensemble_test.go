package zkserver_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// BenchmarkEnsembleWrite measures durable writes through an in-process
// 3-member ensemble (real election, ZAB over TCP, txn logs fsynced per
// batch): 16 clients spread over the members, as `make bench` spreads
// them, each with one request outstanding. The clients are raw sockets
// with prebuilt requests and reused buffers that allocate nothing, so
// allocs/op and B/op are what the three members spend per write, the
// figure that "no per-request garbage" is about; ns/op on two shared CPUs
// is noisy and is for comparing runs, not for asserting.
func BenchmarkEnsembleWrite(b *testing.B) {
	for _, op := range []string{"set", "create"} {
		b.Run(op, func(b *testing.B) {
			e := zkservertest.StartEnsemble(b, zkservertest.EnsembleOptions{})
			addrs := e.Addrs()
			payload := make([]byte, 128)
			createParent(b, dialBench(b, addrs[0]), payload)
			var conn atomic.Int64
			b.SetParallelism(8) // 16 clients on 2 CPUs
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				n := conn.Add(1)
				c, err := openBench(addrs[int(n)%len(addrs)]) // b.Fatal is not for these goroutines
				if err != nil {
					b.Error(err)
					return
				}
				defer c.nc.Close()
				var next func() []byte
				switch op {
				case "set":
					req := request(1, proto.OpSetData, proto.Marshal(&proto.SetDataRequest{Path: "/b", Data: payload, Version: -1}))
					next = func() []byte { return req }
				case "create":
					// /b/cNNNN-SSSSSSSSSS: the client number, then a
					// sequence written in place, so every request is
					// the same length and built in the same buffer.
					req := request(1, proto.OpCreate, proto.Marshal(&proto.CreateRequest{Path: fmt.Sprintf("/b/c%04d-%010d", n, 0), Data: payload, ACL: proto.OpenACLUnsafe}))
					seqAt := 4 + 8 + 4 + len("/b/cNNNN-")
					var seq int
					next = func() []byte {
						seq++
						digits := strconv.AppendInt(c.scratch[:0], int64(seq), 10)
						copy(req[seqAt:seqAt+10], "0000000000")
						copy(req[seqAt+10-len(digits):], digits)
						return req
					}
				}
				for pb.Next() {
					if err := c.call(next(), true); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// benchConn is a raw client session whose calls allocate nothing.
type benchConn struct {
	nc      net.Conn
	r       *bufio.Reader
	reply   []byte
	scratch [20]byte
}

// dialBench opens a benchConn session to addr for the rest of the test.
func dialBench(tb testing.TB, addr string) *benchConn {
	tb.Helper()
	c, err := openBench(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.nc.Close() })
	return c
}

// openBench opens a benchConn session to addr; the caller closes c.nc.
func openBench(addr string) (*benchConn, error) {
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Minute))
	c := &benchConn{nc: nc, r: bufio.NewReader(nc), reply: make([]byte, 1<<10)}
	if err := c.call(frameOf(proto.Marshal(&proto.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16)})), false); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return c, nil
}

// createParent creates /b, the znode the writes of these tests set or
// create children under.
func createParent(tb testing.TB, c *benchConn, payload []byte) {
	tb.Helper()
	if err := c.call(request(1, proto.OpCreate, proto.Marshal(&proto.CreateRequest{Path: "/b", Data: payload, ACL: proto.OpenACLUnsafe})), true); err != nil {
		tb.Fatal(err)
	}
}

// call writes one framed request and reads its reply frame. With
// header, the reply starts with a reply header (xid, zxid, error code),
// whose error code must be 0; the connect reply has none.
func (c *benchConn) call(req []byte, header bool) error {
	if _, err := c.nc.Write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(c.r, c.reply[:4]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(c.reply[:4]))
	if n > len(c.reply) || header && n < 16 {
		return fmt.Errorf("reply of %d bytes", n)
	}
	if _, err := io.ReadFull(c.r, c.reply[:n]); err != nil {
		return err
	}
	if code := int32(binary.BigEndian.Uint32(c.reply[12:16])); header && code != 0 {
		return fmt.Errorf("reply error %d", code)
	}
	return nil
}
