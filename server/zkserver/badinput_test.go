package zkserver_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// ioTimeout bounds every read and write of these tests.
const ioTimeout = 5 * time.Second

// startServer runs an in-process zkd whose metrics go to a private registry.
func startServer(t *testing.T) (addr string, reg *prometheus.Registry) {
	t.Helper()
	reg = prometheus.NewRegistry()
	srv := zkservertest.Start(t, zkserver.Options{Registerer: reg})
	return srv.Addr().String(), reg
}

// badInputCount reads zkd_server_bad_input_total{reason}.
func badInputCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	return metricvalue.OfSeries(t, reg, "zkd_server_bad_input_total", "reason", reason)
}

// wire is a raw protocol connection: the tests write exact bytes.
type wire struct {
	t  *testing.T
	nc *net.TCPConn
	r  *bufio.Reader
}

func dialWire(t *testing.T, addr string) *wire {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &wire{t: t, nc: nc.(*net.TCPConn), r: bufio.NewReader(nc)}
}

// write sends raw bytes. Errors are returned, not fatal: a server that
// refuses input may reset the connection while the test is still writing.
func (w *wire) write(b []byte) error {
	_ = w.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := w.nc.Write(b)
	return err
}

func frameOf(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// readFrame reads one frame within the I/O timeout.
func (w *wire) readFrame() ([]byte, error) {
	_ = w.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	var lb [4]byte
	if _, err := io.ReadFull(w.r, lb[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(lb[:]))
	if n < 0 || n > 16<<20 {
		return nil, fmt.Errorf("server sent frame length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(w.r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// connect opens a session; it must succeed.
func (w *wire) connect() {
	w.t.Helper()
	req := proto.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true}
	if err := w.write(frameOf(proto.Marshal(&req))); err != nil {
		w.t.Fatalf("connect: %v", err)
	}
	b, err := w.readFrame()
	if err != nil {
		w.t.Fatalf("connect response: %v", err)
	}
	var resp proto.ConnectResponse
	if err := proto.Unmarshal(b, 0, &resp); err != nil || resp.SessionID == 0 {
		w.t.Fatalf("connect response %+v: %v", resp, err)
	}
}

func request(xid int32, op proto.Op, body []byte) []byte {
	e := jute.NewEncoder(nil)
	h := proto.RequestHeader{Xid: xid, Type: op}
	h.Encode(e)
	e.Raw(body)
	return frameOf(e.Bytes())
}

// call sends one request and returns its reply header and body.
func (w *wire) call(xid int32, op proto.Op, rec proto.Record) (proto.ReplyHeader, []byte) {
	w.t.Helper()
	if err := w.write(request(xid, op, proto.Marshal(rec))); err != nil {
		w.t.Fatalf("%s: %v", proto.OpName(op), err)
	}
	for {
		b, err := w.readFrame()
		if err != nil {
			w.t.Fatalf("%s reply: %v", proto.OpName(op), err)
		}
		d := jute.NewDecoder(b, 0)
		var h proto.ReplyHeader
		h.Decode(d)
		if d.Err() != nil {
			w.t.Fatalf("%s reply header: %v", proto.OpName(op), d.Err())
		}
		if h.Xid == proto.XidNotification {
			continue
		}
		if h.Xid != xid {
			w.t.Fatalf("%s: reply xid %d, want %d", proto.OpName(op), h.Xid, xid)
		}
		return h, d.Rest()
	}
}

// checkHealthy proves an unrelated, already connected client still works:
// it creates a znode and reads it back.
func checkHealthy(t *testing.T, good *wire, n int) {
	t.Helper()
	path := fmt.Sprintf("/healthy-%d", n)
	data := []byte(path)
	h, _ := good.call(int32(2*n+1), proto.OpCreate, &proto.CreateRequest{Path: path, Data: data, ACL: proto.OpenACLUnsafe})
	if h.Err != proto.ErrOK {
		t.Fatalf("healthy client: create %s: %s", path, proto.CodeName(h.Err))
	}
	h, body := good.call(int32(2*n+2), proto.OpGetData, &proto.PathWatchRequest{Path: path})
	var resp proto.GetDataResponse
	if h.Err != proto.ErrOK {
		t.Fatalf("healthy client: getData %s: %s", path, proto.CodeName(h.Err))
	}
	if err := proto.Unmarshal(body, 0, &resp); err != nil || string(resp.Data) != path {
		t.Fatalf("healthy client: getData %s = %q (%v)", path, resp.Data, err)
	}
}

// outcome is what a server visibly did with a bad input.
type outcome struct {
	Reply  bool  // a reply to the bad request arrived
	Err    int32 // its error code
	Closed bool  // the server closed the connection
}

func (o outcome) String() string {
	s := "no reply"
	if o.Reply {
		s = "reply " + proto.CodeName(o.Err)
	}
	if o.Closed {
		return s + ", closed"
	}
	return s + ", open"
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

const badXid = 77

// observe reads what the server does after the bad input: the reply to
// badXid if one is expected, then whether the connection still answers a
// ping. A server that neither answers nor closes fails the test.
func observe(t *testing.T, w *wire, wantReply, canWrite bool) outcome {
	t.Helper()
	var o outcome
	if wantReply {
		b, err := w.readFrame()
		switch {
		case err == nil:
			var h proto.ReplyHeader
			if uerr := proto.Unmarshal(b[:min(len(b), 16)], 0, &h); uerr != nil || h.Xid != badXid {
				t.Fatalf("unexpected frame % x (%v)", b, uerr)
			}
			o.Reply, o.Err = true, h.Err
		case isClosed(err):
			o.Closed = true
			return o
		default:
			t.Fatalf("waiting for the reply: %v", err)
		}
	}
	if canWrite {
		if err := w.write(request(proto.XidPing, proto.OpPing, nil)); err != nil {
			if isClosed(err) {
				o.Closed = true
				return o
			}
			t.Fatalf("ping: %v", err)
		}
	}
	for {
		b, err := w.readFrame()
		if err != nil {
			if isClosed(err) {
				o.Closed = true
				return o
			}
			t.Fatalf("server neither answered a ping nor closed: %v", err)
		}
		var h proto.ReplyHeader
		_ = proto.Unmarshal(b[:min(len(b), 16)], 0, &h)
		if h.Xid == proto.XidPing {
			return o
		}
	}
}

func be32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// badInputCase is one kind of hostile or broken client input.
type badInputCase struct {
	name      string
	connected bool // open a session before sending
	// send writes the bad input; it returns false when the client can no
	// longer write (it half-closed the connection).
	send   func(w *wire) bool
	want   outcome
	reason string // zkd_server_bad_input_total label; "" when not bad input
}

func badInputCases() []badInputCase {
	raw := func(b []byte) func(w *wire) bool {
		return func(w *wire) bool { _ = w.write(b); return true }
	}
	halfClose := func(b []byte) func(w *wire) bool {
		return func(w *wire) bool {
			_ = w.write(b)
			_ = w.nc.CloseWrite()
			return false
		}
	}
	getDataBody := proto.Marshal(&proto.PathWatchRequest{Path: "/"})
	bigSetData := proto.Marshal(&proto.SetDataRequest{Path: "/big", Data: make([]byte, jute.DefaultMaxBuffer+1), Version: -1})
	closedNoReply := outcome{Closed: true}
	return []badInputCase{
		{name: "negative length first frame", send: raw(be32(-1)), want: closedNoReply, reason: "len_error"},
		{name: "huge length first frame", send: raw(be32(0x7fffffff)), want: closedNoReply, reason: "len_error"},
		{name: "truncated first frame", send: halfClose(cat(be32(100), make([]byte, 10))), want: closedNoReply, reason: "truncated"},
		{name: "garbage first frame", send: raw(frameOf([]byte("hello, zookeeper"))), want: closedNoReply, reason: "bad_connect"},
		{name: "request before connect", send: raw(request(1, proto.OpGetData, getDataBody)), want: closedNoReply, reason: "bad_connect"},
		{name: "negative length", connected: true, send: raw(be32(-100)), want: closedNoReply, reason: "len_error"},
		{name: "huge length", connected: true, send: raw(be32(0x7fffffff)), want: closedNoReply, reason: "len_error"},
		{name: "truncated frame", connected: true, send: halfClose(cat(be32(100), make([]byte, 10))), want: closedNoReply, reason: "truncated"},
		{name: "unknown opcode", connected: true, send: raw(request(badXid, 999, nil)),
			want: outcome{Reply: true, Err: proto.ErrUnimplemented, Closed: true}, reason: "unknown_op"},
		{name: "malformed getData body", connected: true, send: raw(request(badXid, proto.OpGetData, cat(be32(100), []byte("/a")))),
			want: outcome{Reply: true, Err: proto.ErrMarshallingError}, reason: "malformed_request"},
		{name: "getData with trailing bytes", connected: true, send: raw(request(badXid, proto.OpGetData, cat(getDataBody, []byte{1, 2, 3}))),
			want: outcome{Reply: true, Err: proto.ErrOK}},
		{name: "oversized setData", connected: true, send: raw(request(badXid, proto.OpSetData, bigSetData)),
			want: closedNoReply, reason: "len_error"},
		{name: "multi with huge ACL count", connected: true,
			send: raw(request(badXid, proto.OpMulti, cat(
				be32(proto.OpCreate), []byte{0}, be32(-1), // multi header
				be32(2), []byte("/m"), be32(-1), be32(0x7fffffff), // path, null data, ACL count
			))),
			want: outcome{Reply: true, Err: proto.ErrMarshallingError}, reason: "malformed_request"},
	}
}

// runBadInput sends one bad input on a fresh connection and returns what
// the server did.
func runBadInput(t *testing.T, addr string, tc badInputCase) outcome {
	t.Helper()
	w := dialWire(t, addr)
	if tc.connected {
		w.connect()
	}
	canWrite := tc.send(w)
	// A server that answers and then closes (UNIMPLEMENTED) closes
	// asynchronously in Apache ZooKeeper: a ping sent at once may still be
	// answered. Probe such cases by waiting for the close, not by pinging.
	if tc.want.Reply && tc.want.Closed {
		canWrite = false
	}
	return observe(t, w, tc.want.Reply, canWrite)
}

// TestBadInput sends malformed and hostile frames to zkd and checks that
// each is refused the way ZooKeeper 3.8 refuses it, counted by reason, and
// harmless to other clients.
func TestBadInput(t *testing.T) {
	addr, reg := startServer(t)
	good := dialWire(t, addr)
	good.connect()
	for i, tc := range badInputCases() {
		t.Run(tc.name, func(t *testing.T) {
			before := badInputCount(t, reg, tc.reason)
			got := runBadInput(t, addr, tc)
			if got != tc.want {
				t.Errorf("outcome %v, want %v", got, tc.want)
			}
			if tc.reason == "" {
				checkHealthy(t, good, i)
				return
			}
			// The counter is bumped by the server's reader, which may run
			// a moment after the client saw the close.
			deadline := time.Now().Add(ioTimeout)
			for badInputCount(t, reg, tc.reason) < before+1 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if n := badInputCount(t, reg, tc.reason) - before; n != 1 {
				t.Errorf("zkd_server_bad_input_total{reason=%q} rose by %v, want 1", tc.reason, n)
			}
			checkHealthy(t, good, i)
		})
	}
}

// TestBadInputMatchesApache sends the same bytes to Apache ZooKeeper 3.8,
// so the expected outcomes above are ZooKeeper's behaviour, not guesses.
func TestBadInputMatchesApache(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache ZooKeeper")
	}
	zk := testpeer.StartApacheZK(t, testpeer.ApacheOptions{DisableAdminServer: true})
	good := dialWire(t, zk.Addr)
	good.connect()
	for i, tc := range badInputCases() {
		t.Run(tc.name, func(t *testing.T) {
			if got := runBadInput(t, zk.Addr, tc); got != tc.want {
				t.Errorf("Apache ZooKeeper: outcome %v, zkd's expectation %v", got, tc.want)
			}
			checkHealthy(t, good, i)
		})
	}
}
