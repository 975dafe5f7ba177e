package compat_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/config"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// target is one server under test: zkd or Apache ZooKeeper.
type target struct {
	name string
	addr string
}

// superDigest is the super user "super:secret" for ACL scenarios.
const superDigest = "super:lK75jTNcA+U9vtVEw5vB51mj/w4="

// startZkd runs an in-process zkd on a free loopback port, configured like
// startApache.
func startZkd(t testing.TB) target {
	t.Helper()
	return startZkdWith(t, nil)
}

// startZkdWith is startZkd with a hook to change the options.
func startZkdWith(t testing.TB, change func(*zkserver.Options)) target {
	t.Helper()
	cfg := config.Default()
	cfg.ClientPortAddress, cfg.DataDir = "127.0.0.1", t.TempDir()
	cfg.ClientPort = testpeer.FreePort(t, cfg.ClientPortAddress)
	opts := zkserver.Options{
		ListenAddr:             fmt.Sprintf("127.0.0.1:%d", cfg.ClientPort),
		Conf:                   func() []string { return cfg.ConfLines(0, 0) },
		ExtendedTypes:          true,
		SuperDigest:            superDigest,
		FourLetterAllowed:      func(string) bool { return true },
		ContainerCheckInterval: 500 * time.Millisecond,
	}
	if change != nil {
		change(&opts)
	}
	srv := zkservertest.Start(t, opts)
	return target{name: "zkd", addr: srv.Addr().String()}
}

// startZkdEnsemble runs an in-process 3-node zkd ensemble configured like
// startZkd; clients are pointed at a follower, so that every write is
// forwarded to the leader and every answer comes back through a commit.
func startZkdEnsemble(t testing.TB) target {
	t.Helper()
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{
		TickTime: 2 * time.Second,
		Change: func(_ int64, o *zkserver.Options) {
			o.SuperDigest = superDigest
			o.ContainerCheckInterval = 500 * time.Millisecond
		},
	})
	leader := e.WaitServing()
	return target{name: "zkd-ensemble", addr: e.Addr(e.Followers(leader)[0])}
}

// startApache runs a real Apache ZooKeeper 3.8 configured like startZkd.
func startApache(t testing.TB) target {
	t.Helper()
	zk := testpeer.StartApacheZK(t, testpeer.ApacheOptions{
		SystemProps: map[string]string{
			"zookeeper.extendedTypesEnabled":                     "true",
			"zookeeper.DigestAuthenticationProvider.superDigest": superDigest,
			"znode.container.checkIntervalMs":                    "500",
		},
	})
	return target{name: "apache", addr: zk.Addr}
}

// both starts zkd and Apache ZooKeeper for a differential test.
func both(t *testing.T) []target {
	t.Helper()
	return []target{startZkd(t), startApache(t)}
}

// rawConn is a minimal client that speaks the wire protocol frame by frame,
// so a test can send exactly the same bytes to both servers and compare
// exactly what comes back, including ops no Go client library offers.
type rawConn struct {
	t       testing.TB
	nc      net.Conn
	r       *bufio.Reader
	xid     int32
	session int64
	passwd  []byte
	timeout int32
	events  []proto.WatcherEvent
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// connect opens a new session (or re-attaches when session != 0).
func (c *rawConn) connect(session int64, passwd []byte, timeoutMs int32, readOnlyByte bool) proto.ConnectResponse {
	c.t.Helper()
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	req := proto.ConnectRequest{TimeOut: timeoutMs, SessionID: session, Passwd: passwd, HasReadOnly: readOnlyByte}
	c.send(proto.Marshal(&req))
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("connect response: %v", err)
	}
	var resp proto.ConnectResponse
	if err := proto.Unmarshal(b, 0, &resp); err != nil {
		c.t.Fatalf("connect response: %v", err)
	}
	c.session, c.passwd, c.timeout = resp.SessionID, resp.Passwd, resp.TimeOut
	return resp
}

func (c *rawConn) send(payload []byte) {
	c.t.Helper()
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(payload)))
	copy(b[4:], payload)
	c.sendRaw(b)
}

func (c *rawConn) sendRaw(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawConn) readFrame() ([]byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lb [4]byte
	if _, err := io.ReadFull(c.r, lb[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n > 4<<20 {
		return nil, fmt.Errorf("reply frame of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// call sends one request and returns the reply header and body bytes,
// collecting watch notifications that arrive before it.
func (c *rawConn) call(op proto.Op, req proto.Record) (proto.ReplyHeader, []byte) {
	c.t.Helper()
	c.xid++
	return c.callXid(c.xid, op, req)
}

func (c *rawConn) callXid(xid int32, op proto.Op, req proto.Record) (proto.ReplyHeader, []byte) {
	c.t.Helper()
	e := jute.NewEncoder(nil)
	h := proto.RequestHeader{Xid: xid, Type: op}
	h.Encode(e)
	if req != nil {
		req.Encode(e)
	}
	c.send(e.Bytes())
	return c.readReply(xid)
}

// readReply reads frames until the reply with this xid, keeping events.
func (c *rawConn) readReply(xid int32) (proto.ReplyHeader, []byte) {
	c.t.Helper()
	for i := 0; i < 10000; i++ {
		b, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("reading reply to xid %d: %v", xid, err)
		}
		d := jute.NewDecoder(b, 0)
		var rh proto.ReplyHeader
		rh.Decode(d)
		if rh.Xid == proto.XidNotification {
			var ev proto.WatcherEvent
			ev.Decode(d)
			c.events = append(c.events, ev)
			continue
		}
		if rh.Xid != xid {
			c.t.Fatalf("reply xid %d, want %d (out of order)", rh.Xid, xid)
		}
		return rh, d.Rest()
	}
	c.t.Fatalf("no reply to xid %d", xid)
	return proto.ReplyHeader{}, nil
}

// closed reports whether the server closed the connection within d.
func (c *rawConn) closed(d time.Duration) bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		var b [1]byte
		_, err := c.r.Read(b[:])
		if err == nil {
			continue
		}
		var ne net.Error
		if ok := asNetErr(err, &ne); ok && ne.Timeout() {
			return false
		}
		return true
	}
}

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// transcript records normalised results so two servers can be compared
// line by line: zxids are kept (both servers start empty and see the same
// txns), session ids become S1, S2... by first appearance, and times become
// T (non-zero) or 0.
type transcript struct {
	lines    []string
	sessions map[int64]string
}

func newTranscript() *transcript { return &transcript{sessions: map[int64]string{}} }

func (tr *transcript) session(id int64) string {
	if id == 0 {
		return "0"
	}
	if s, ok := tr.sessions[id]; ok {
		return s
	}
	s := fmt.Sprintf("S%d", len(tr.sessions)+1)
	tr.sessions[id] = s
	return s
}

func (tr *transcript) stat(st proto.Stat) string {
	tm := func(v int64) string {
		if v == 0 {
			return "0"
		}
		return "T"
	}
	// mtime versus ctime is not compared: zkd often answers a create and
	// a setData within the same millisecond, Apache ZooKeeper rarely.
	return fmt.Sprintf("czxid=%#x mzxid=%#x pzxid=%#x ctime=%s mtime=%s version=%d cversion=%d aversion=%d owner=%s len=%d children=%d",
		st.Czxid, st.Mzxid, st.Pzxid, tm(st.Ctime), tm(st.Mtime), st.Version, st.Cversion, st.Aversion,
		tr.session(st.EphemeralOwner), st.DataLength, st.NumChildren)
}

func (tr *transcript) add(format string, args ...any) {
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

// decodeReply renders a reply body of op in a normalised form.
func (tr *transcript) reply(op proto.Op, rh proto.ReplyHeader, body []byte) string {
	head := fmt.Sprintf("%s err=%s zxid=%#x", proto.OpName(op), proto.CodeName(rh.Err), rh.Zxid)
	if rh.Err != 0 {
		return head
	}
	var rec proto.Record
	switch op {
	case proto.OpCreate:
		rec = &proto.CreateResponse{}
	case proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL:
		rec = &proto.Create2Response{}
	case proto.OpExists, proto.OpSetData, proto.OpSetACL:
		rec = &proto.StatResponse{}
	case proto.OpGetData:
		rec = &proto.GetDataResponse{}
	case proto.OpGetACL:
		rec = &proto.GetACLResponse{}
	case proto.OpGetChildren:
		rec = &proto.GetChildrenResponse{}
	case proto.OpGetChildren2:
		rec = &proto.GetChildren2Response{}
	case proto.OpSync:
		rec = &proto.PathResponse{}
	case proto.OpGetAllChildrenNumber, proto.OpAddWatch:
		rec = &proto.IntResponse{}
	case proto.OpGetEphemerals:
		rec = &proto.StringsResponse{}
	case proto.OpWhoAmI:
		rec = &proto.WhoAmIResponse{}
	case proto.OpMulti, proto.OpMultiRead:
		rec = &proto.MultiResponse{}
	default:
		if len(body) != 0 {
			return fmt.Sprintf("%s body=%x", head, body)
		}
		return head
	}
	if err := proto.Unmarshal(body, 0, rec); err != nil {
		return fmt.Sprintf("%s undecodable body %x: %v", head, body, err)
	}
	return head + " " + tr.record(rec)
}

func (tr *transcript) record(rec proto.Record) string {
	switch r := rec.(type) {
	case *proto.CreateResponse:
		return "path=" + r.Path
	case *proto.Create2Response:
		return "path=" + r.Path + " " + tr.stat(r.Stat)
	case *proto.StatResponse:
		return tr.stat(r.Stat)
	case *proto.GetDataResponse:
		data := "null"
		if r.Data != nil {
			data = fmt.Sprintf("%q", r.Data)
		}
		return "data=" + data + " " + tr.stat(r.Stat)
	case *proto.GetACLResponse:
		return fmt.Sprintf("acl=%v %s", r.ACL, tr.stat(r.Stat))
	case *proto.GetChildrenResponse:
		return "children=" + sorted(r.Children)
	case *proto.GetChildren2Response:
		return "children=" + sorted(r.Children) + " " + tr.stat(r.Stat)
	case *proto.PathResponse:
		return "path=" + r.Path
	case *proto.IntResponse:
		return fmt.Sprintf("value=%d", r.Value)
	case *proto.StringsResponse:
		return "values=" + sorted(r.Values)
	case *proto.WhoAmIResponse:
		parts := make([]string, 0, len(r.Info))
		for _, ci := range r.Info {
			parts = append(parts, ci.AuthScheme+":"+ci.User)
		}
		sort.Strings(parts)
		return "whoami=" + strings.Join(parts, ",")
	case *proto.MultiResponse:
		parts := make([]string, 0, len(r.Results))
		for _, res := range r.Results {
			p := fmt.Sprintf("{%s %s", proto.OpName(res.Type), proto.CodeName(res.Err))
			if res.Resp != nil {
				p += " " + tr.record(res.Resp)
			}
			parts = append(parts, p+"}")
		}
		return "results=[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("%+v", rec)
}

func (tr *transcript) events(c *rawConn) {
	for _, ev := range c.events {
		tr.add("event type=%d state=%d path=%s", ev.Type, ev.State, ev.Path)
	}
	c.events = nil
}

func sorted(v []string) string {
	cp := append([]string(nil), v...)
	sort.Strings(cp)
	return "[" + strings.Join(cp, ",") + "]"
}

// compare fails the test with a line diff when transcripts differ.
func compare(t *testing.T, names []string, trs []*transcript) {
	t.Helper()
	// Apache ZooKeeper is the reference; every other target is compared
	// with it.
	ref := max(slices.Index(names, "apache"), 0)
	for i := range trs {
		if i != ref {
			comparePair(t, names[i], names[ref], trs[i].lines, trs[ref].lines)
		}
	}
	if len(trs[ref].lines) == 0 {
		t.Errorf("empty transcript: the scenario recorded nothing")
	}
}

func comparePair(t *testing.T, nameA, nameB string, a, b []string) {
	t.Helper()
	n := max(len(a), len(b))
	var diffs []string
	for i := 0; i < n; i++ {
		var la, lb string
		if i < len(a) {
			la = a[i]
		}
		if i < len(b) {
			lb = b[i]
		}
		if la != lb {
			diffs = append(diffs, fmt.Sprintf("line %d:\n  %s: %s\n  %s: %s", i+1, nameA, la, nameB, lb))
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 25 {
			diffs = append(diffs[:25], fmt.Sprintf("... and %d more", len(diffs)-25))
		}
		t.Errorf("%s and %s differ:\n%s", nameA, nameB, strings.Join(diffs, "\n"))
	}
}
