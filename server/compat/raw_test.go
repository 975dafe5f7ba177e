package compat_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
)

// client is one session in a scenario: every call is recorded.
type client struct {
	name string
	c    *rawConn
	tr   *transcript
}

func (cl *client) do(op proto.Op, req proto.Record) (proto.ReplyHeader, []byte) {
	rh, body := cl.c.call(op, req)
	cl.tr.events(cl.c)
	cl.tr.add("%s %s", cl.name, cl.tr.reply(op, rh, body))
	return rh, body
}

// ping records the notifications that arrived before a ping's reply: the
// server sends every pending event before it.
func (cl *client) ping() {
	cl.c.callXid(proto.XidPing, proto.OpPing, nil)
	cl.tr.events(cl.c)
}

func (cl *client) auth(scheme, id string) {
	rh, _ := cl.c.callXid(proto.XidAuth, proto.OpAuth, &proto.AuthPacket{Scheme: scheme, Auth: []byte(id)})
	cl.tr.add("%s auth %s err=%s", cl.name, scheme, proto.CodeName(rh.Err))
}

// scenario drives one or more sessions against a server.
type scenario struct {
	name string
	run  func(t *testing.T, tr *transcript, open func(name string) *client)
}

func create(path, data string, flags int32, acl []proto.ACL) *proto.CreateRequest {
	var b []byte
	if data != "<null>" {
		b = []byte(data)
	}
	if acl == nil {
		acl = proto.OpenACLUnsafe
	}
	return &proto.CreateRequest{Path: path, Data: b, ACL: acl, Flags: flags}
}

func pw(path string, watch bool) *proto.PathWatchRequest {
	return &proto.PathWatchRequest{Path: path, Watch: watch}
}

func digest(user, hash string, perms int32) proto.ACL {
	return proto.ACL{Perms: perms, ID: proto.ID{Scheme: "digest", ID: user + ":" + hash}}
}

// alicePW is digest("alice:pw"), the identity the fixtures use too.
const aliceHash = "V55/p2T0OpjQ+low3NVAH4aLvm0="

var scenarios = []scenario{
	{"crud", func(t *testing.T, tr *transcript, open func(string) *client) {
		a := open("A")
		a.do(proto.OpGetData, pw("/", false))
		a.do(proto.OpGetChildren2, pw("/", false))
		a.do(proto.OpGetChildren, pw("/zookeeper", false))
		a.do(proto.OpGetData, pw("/zookeeper/config", false))
		a.do(proto.OpGetACL, &proto.PathRequest{Path: "/zookeeper/config"})
		a.do(proto.OpGetData, pw("/zookeeper/quota", false))
		a.do(proto.OpCreate, create("/a", "hello", proto.FlagPersistent, nil))
		a.do(proto.OpCreate, create("/a", "again", proto.FlagPersistent, nil))
		a.do(proto.OpCreate2, create("/a/b", "", proto.FlagPersistent, nil))
		a.do(proto.OpCreate2, create("/a/null", "<null>", proto.FlagPersistent, nil))
		a.do(proto.OpGetData, pw("/a/null", false))
		a.do(proto.OpGetData, pw("/a/b", false))
		a.do(proto.OpCreate, create("/missing/child", "x", proto.FlagPersistent, nil))
		for i := 0; i < 3; i++ {
			a.do(proto.OpCreate2, create("/a/seq-", fmt.Sprint(i), proto.FlagPersistentSequential, nil))
		}
		a.do(proto.OpCreate, create("/a/", "slash", proto.FlagPersistentSequential, nil))
		a.do(proto.OpCreate2, create("/a/eph", "e", proto.FlagEphemeral, nil))
		a.do(proto.OpCreate2, create("/a/eph/child", "x", proto.FlagPersistent, nil))
		a.do(proto.OpCreate2, create("/a/ephseq-", "e", proto.FlagEphemeralSequential, nil))
		a.do(proto.OpGetChildren2, pw("/a", false))
		a.do(proto.OpSetData, &proto.SetDataRequest{Path: "/a", Data: []byte("v1"), Version: 0})
		a.do(proto.OpSetData, &proto.SetDataRequest{Path: "/a", Data: []byte("v2"), Version: 0})
		a.do(proto.OpSetData, &proto.SetDataRequest{Path: "/a", Data: []byte("v3"), Version: -1})
		a.do(proto.OpSetData, &proto.SetDataRequest{Path: "/nope", Data: []byte("v"), Version: -1})
		a.do(proto.OpExists, pw("/a", false))
		a.do(proto.OpExists, pw("/nope", false))
		a.do(proto.OpDelete, &proto.DeleteRequest{Path: "/a", Version: -1})
		a.do(proto.OpDelete, &proto.DeleteRequest{Path: "/a/b", Version: 5})
		a.do(proto.OpDelete, &proto.DeleteRequest{Path: "/a/b", Version: 0})
		a.do(proto.OpDelete, &proto.DeleteRequest{Path: "/a/b", Version: -1})
		a.do(proto.OpGetChildren2, pw("/a", false))
		a.do(proto.OpGetAllChildrenNumber, &proto.PathRequest{Path: "/"})
		a.do(proto.OpGetAllChildrenNumber, &proto.PathRequest{Path: "/nope"})
		a.do(proto.OpGetEphemerals, &proto.PathRequest{Path: "/"})
		a.do(proto.OpGetEphemerals, &proto.PathRequest{Path: "/a/ephs"})
		a.do(proto.OpSync, &proto.PathRequest{Path: "/a"})
		a.do(proto.OpSync, &proto.PathRequest{Path: "/nope"})
		a.do(proto.OpWhoAmI, nil)
		for _, p := range []string{"a", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/.", "/a\x00b", "/a\x01b", "/zookeeper/x", "/zookeeper/quota/x", ""} {
			a.do(proto.OpCreate, create(p, "bad", proto.FlagPersistent, nil))
		}
		a.do(proto.OpCreate, create("/badflags", "x", 7, nil))
		a.do(proto.OpCreate, create("/badflags", "x", proto.FlagContainer, nil))
		a.do(proto.OpCreate, create("/badflags", "x", proto.FlagPersistentWithTTL, nil))
		a.do(proto.OpCreate, create("/a/emptyacl", "x", proto.FlagPersistent, []proto.ACL{}))
		a.do(proto.OpCreate, create("/a/badscheme", "x", proto.FlagPersistent, []proto.ACL{{Perms: 31, ID: proto.ID{Scheme: "nope", ID: "x"}}}))
		a.do(proto.OpCreate, create("/a/authacl", "x", proto.FlagPersistent, []proto.ACL{{Perms: 31, ID: proto.IDAuth}}))
		a.do(proto.OpDelete, &proto.DeleteRequest{Path: "/", Version: -1})
		a.do(proto.OpDelete, &proto.DeleteRequest{Path: "/zookeeper", Version: -1})
		a.do(proto.OpSetData, &proto.SetDataRequest{Path: "/zookeeper/config", Data: []byte("x"), Version: -1})
		a.do(proto.OpGetData, pw("/", false))
	}},
	{"acl", func(t *testing.T, tr *transcript, open func(string) *client) {
		a := open("A")
		b := open("B")
		a.auth("digest", "alice:pw")
		a.do(proto.OpWhoAmI, nil)
		a.do(proto.OpCreate2, create("/secret", "s", proto.FlagPersistent, []proto.ACL{digest("alice", aliceHash, proto.PermAll)}))
		a.do(proto.OpCreate2, create("/readonly", "r", proto.FlagPersistent, []proto.ACL{{Perms: proto.PermRead, ID: proto.IDAnyoneUnsafe}}))
		a.do(proto.OpCreate2, create("/authnode", "x", proto.FlagPersistent, []proto.ACL{{Perms: proto.PermAll, ID: proto.IDAuth}}))
		a.do(proto.OpGetACL, &proto.PathRequest{Path: "/authnode"})
		a.do(proto.OpCreate2, create("/mixed", "m", proto.FlagPersistent, []proto.ACL{
			{Perms: proto.PermRead, ID: proto.IDAnyoneUnsafe}, digest("alice", aliceHash, proto.PermAll)}))
		b.do(proto.OpGetData, pw("/secret", false))
		b.do(proto.OpGetChildren, pw("/secret", false))
		b.do(proto.OpGetACL, &proto.PathRequest{Path: "/secret"})
		b.do(proto.OpGetACL, &proto.PathRequest{Path: "/mixed"})
		a.do(proto.OpGetACL, &proto.PathRequest{Path: "/mixed"})
		b.do(proto.OpExists, pw("/secret", false))
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/secret", Data: []byte("x"), Version: -1})
		b.do(proto.OpCreate, create("/secret/c", "x", proto.FlagPersistent, nil))
		b.do(proto.OpDelete, &proto.DeleteRequest{Path: "/secret", Version: -1})
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/readonly", Data: []byte("x"), Version: -1})
		b.do(proto.OpCreate, create("/readonly/c", "x", proto.FlagPersistent, nil))
		b.do(proto.OpSetACL, &proto.SetACLRequest{Path: "/readonly", ACL: proto.OpenACLUnsafe, Version: -1})
		b.do(proto.OpGetAllChildrenNumber, &proto.PathRequest{Path: "/secret"})
		b.auth("digest", "alice:wrong")
		b.do(proto.OpGetData, pw("/secret", false))
		b.auth("digest", "alice:pw")
		b.do(proto.OpGetData, pw("/secret", false))
		b.do(proto.OpWhoAmI, nil)
		a.do(proto.OpSetACL, &proto.SetACLRequest{Path: "/secret", ACL: proto.ReadACLUnsafe, Version: 5})
		a.do(proto.OpSetACL, &proto.SetACLRequest{Path: "/secret", ACL: proto.ReadACLUnsafe, Version: 0})
		a.do(proto.OpSetACL, &proto.SetACLRequest{Path: "/secret", ACL: []proto.ACL{}, Version: -1})
		a.do(proto.OpGetACL, &proto.PathRequest{Path: "/secret"})
		a.do(proto.OpCreate2, create("/ip", "x", proto.FlagPersistent, []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "ip", ID: "127.0.0.1"}}}))
		a.do(proto.OpCreate2, create("/ipnet", "x", proto.FlagPersistent, []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "ip", ID: "10.0.0.0/8"}}}))
		a.do(proto.OpGetData, pw("/ipnet", false))
		a.do(proto.OpCreate2, create("/badip", "x", proto.FlagPersistent, []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "ip", ID: "300.1.1.1"}}}))
		a.do(proto.OpCreate2, create("/baddigest", "x", proto.FlagPersistent, []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "digest", ID: "nocolon"}}}))
		a.do(proto.OpCreate2, create("/badworld", "x", proto.FlagPersistent, []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "world", ID: "someone"}}}))
		s := open("SUPER")
		s.auth("digest", "super:secret")
		s.do(proto.OpGetData, pw("/ipnet", false))
		s.do(proto.OpWhoAmI, nil)
	}},
	{"multi", func(t *testing.T, tr *transcript, open func(string) *client) {
		a := open("A")
		a.do(proto.OpMulti, &proto.MultiRequest{})
		a.do(proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
			{Type: proto.OpCreate, Req: create("/m", "1", proto.FlagPersistent, nil)},
			{Type: proto.OpCreate2, Req: create("/m/c", "2", proto.FlagPersistent, nil)},
			{Type: proto.OpCreate, Req: create("/m/s-", "3", proto.FlagPersistentSequential, nil)},
			{Type: proto.OpSetData, Req: &proto.SetDataRequest{Path: "/m", Data: []byte("x"), Version: 0}},
			{Type: proto.OpCheck, Req: &proto.CheckVersionRequest{Path: "/m", Version: 1}},
			{Type: proto.OpDelete, Req: &proto.DeleteRequest{Path: "/m/c", Version: -1}},
		}})
		a.do(proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
			{Type: proto.OpCreate, Req: create("/m2", "1", proto.FlagPersistent, nil)},
			{Type: proto.OpCheck, Req: &proto.CheckVersionRequest{Path: "/m", Version: 7}},
			{Type: proto.OpDelete, Req: &proto.DeleteRequest{Path: "/m", Version: -1}},
		}})
		a.do(proto.OpExists, pw("/m2", false))
		a.do(proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
			{Type: proto.OpCreate, Req: create("/m/x", "1", proto.FlagPersistent, nil)},
			{Type: proto.OpCreate, Req: create("/m/x", "1", proto.FlagPersistent, nil)},
		}})
		a.do(proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
			{Type: proto.OpDelete, Req: &proto.DeleteRequest{Path: "/m", Version: -1}},
		}})
		a.do(proto.OpMulti, &proto.MultiRequest{Ops: []proto.MultiOp{
			{Type: proto.OpCreateContainer, Req: create("/mc", "c", proto.FlagContainer, nil)},
			{Type: proto.OpCreateTTL, Req: &proto.CreateTTLRequest{Path: "/mt", Data: []byte("t"), ACL: proto.OpenACLUnsafe, Flags: proto.FlagPersistentWithTTL, TTL: 100000}},
		}})
		a.do(proto.OpMultiRead, &proto.MultiRequest{Ops: []proto.MultiOp{
			{Type: proto.OpGetData, Req: pw("/m", false)},
			{Type: proto.OpGetChildren, Req: pw("/m", false)},
			{Type: proto.OpGetData, Req: pw("/nope", false)},
			{Type: proto.OpGetChildren, Req: pw("/nope", false)},
		}})
		a.do(proto.OpGetChildren2, pw("/m", false))
	}},
	{"ttl-and-containers", func(t *testing.T, tr *transcript, open func(string) *client) {
		a := open("A")
		ttl := func(path string, flags int32, ttl int64) *proto.CreateTTLRequest {
			return &proto.CreateTTLRequest{Path: path, Data: []byte("t"), ACL: proto.OpenACLUnsafe, Flags: flags, TTL: ttl}
		}
		a.do(proto.OpCreateTTL, ttl("/t0", proto.FlagPersistentWithTTL, 0))
		a.do(proto.OpCreateTTL, ttl("/t0", proto.FlagPersistentWithTTL, proto.MaxTTL+1))
		a.do(proto.OpCreateTTL, ttl("/t0", proto.FlagPersistent, 1000))
		a.do(proto.OpCreateTTL, ttl("/t0", proto.FlagEphemeral, 1000))
		a.do(proto.OpCreateTTL, ttl("/ttl", proto.FlagPersistentWithTTL, 300))
		a.do(proto.OpCreateTTL, ttl("/ttlseq-", proto.FlagPersistentSequentialWithTTL, 3600000))
		a.do(proto.OpCreateContainer, create("/box", "c", proto.FlagContainer, nil))
		a.do(proto.OpCreateContainer, create("/box2", "c", proto.FlagPersistent, nil))
		a.do(proto.OpCreate2, create("/box/item", "i", proto.FlagPersistent, nil))
		// Read the container while its child keeps it: once the child is
		// gone, a reaper pass may delete it before any read that follows,
		// on either server.
		a.do(proto.OpGetData, pw("/box", false))
		a.do(proto.OpDelete, &proto.DeleteRequest{Path: "/box/item", Version: -1})
		// The reapers run every 500 ms on both servers: wait (bounded) for
		// the empty container and the expired TTL node to go.
		for _, p := range []string{"/box", "/ttl"} {
			gone := false
			for i := 0; i < 60 && !gone; i++ {
				rh, _ := a.c.call(proto.OpExists, pw(p, false))
				gone = rh.Err == proto.ErrNoNode
				if !gone {
					time.Sleep(200 * time.Millisecond)
				}
			}
			tr.add("A %s reaped=%v", p, gone)
		}
		a.do(proto.OpGetChildren, pw("/", false))
		a.do(proto.OpCreate2, create("/after", "x", proto.FlagPersistent, nil))
	}},
	{"watches", func(t *testing.T, tr *transcript, open func(string) *client) {
		a := open("A")
		b := open("B")
		a.do(proto.OpExists, pw("/w", true))
		b.do(proto.OpCreate, create("/w", "1", proto.FlagPersistent, nil))
		a.ping()
		a.do(proto.OpGetData, pw("/w", true))
		a.do(proto.OpGetChildren, pw("/w", true))
		a.do(proto.OpExists, pw("/w", true))
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/w", Data: []byte("2"), Version: -1})
		a.ping()
		b.do(proto.OpCreate, create("/w/c", "1", proto.FlagPersistent, nil))
		a.ping()
		a.do(proto.OpGetData, pw("/w", true))
		a.do(proto.OpGetChildren, pw("/w", true))
		a.do(proto.OpCheckWatches, &proto.WatchesRequest{Path: "/w", Type: proto.WatcherData})
		a.do(proto.OpCheckWatches, &proto.WatchesRequest{Path: "/w", Type: proto.WatcherChildren})
		a.do(proto.OpCheckWatches, &proto.WatchesRequest{Path: "/nope", Type: proto.WatcherAny})
		b.do(proto.OpDelete, &proto.DeleteRequest{Path: "/w/c", Version: -1})
		b.do(proto.OpDelete, &proto.DeleteRequest{Path: "/w", Version: -1})
		a.ping()
		// The same client that changes a node it watches gets the event
		// before its own reply.
		a.do(proto.OpExists, pw("/self", true))
		a.do(proto.OpCreate, create("/self", "1", proto.FlagPersistent, nil))
		// Persistent and recursive watches.
		a.do(proto.OpAddWatch, &proto.AddWatchRequest{Path: "/p", Mode: proto.AddWatchPersistent})
		a.do(proto.OpAddWatch, &proto.AddWatchRequest{Path: "/r", Mode: proto.AddWatchPersistentRecursive})
		a.do(proto.OpAddWatch, &proto.AddWatchRequest{Path: "/r", Mode: 9})
		b.do(proto.OpCreate, create("/p", "1", proto.FlagPersistent, nil))
		b.do(proto.OpCreate, create("/p/c", "1", proto.FlagPersistent, nil))
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/p", Data: []byte("2"), Version: -1})
		b.do(proto.OpCreate, create("/r", "1", proto.FlagPersistent, nil))
		b.do(proto.OpCreate, create("/r/c", "1", proto.FlagPersistent, nil))
		b.do(proto.OpCreate, create("/r/c/d", "1", proto.FlagPersistent, nil))
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/r/c/d", Data: []byte("2"), Version: -1})
		b.do(proto.OpDelete, &proto.DeleteRequest{Path: "/r/c/d", Version: -1})
		a.ping()
		a.do(proto.OpCheckWatches, &proto.WatchesRequest{Path: "/p", Type: proto.WatcherAny})
		a.do(proto.OpRemoveWatches, &proto.WatchesRequest{Path: "/p", Type: proto.WatcherData})
		a.do(proto.OpRemoveWatches, &proto.WatchesRequest{Path: "/r", Type: proto.WatcherAny})
		a.do(proto.OpRemoveWatches, &proto.WatchesRequest{Path: "/r", Type: proto.WatcherAny})
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/r/c", Data: []byte("3"), Version: -1})
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/p", Data: []byte("3"), Version: -1})
		a.ping()
		// A watcher lacking READ on the node gets no persistent event.
		b.do(proto.OpCreate, create("/r/hidden", "1", proto.FlagPersistent, []proto.ACL{digest("alice", aliceHash, proto.PermAll)}))
		a.do(proto.OpAddWatch, &proto.AddWatchRequest{Path: "/r", Mode: proto.AddWatchPersistentRecursive})
		b.auth("digest", "alice:pw")
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/r/hidden", Data: []byte("2"), Version: -1})
		b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/r/c", Data: []byte("4"), Version: -1})
		a.ping()
	}},
	{"sessions", func(t *testing.T, tr *transcript, open func(string) *client) {
		a := open("A")
		b := open("B")
		a.do(proto.OpCreate2, create("/e1", "x", proto.FlagEphemeral, nil))
		a.do(proto.OpCreate2, create("/e2-", "x", proto.FlagEphemeralSequential, nil))
		b.do(proto.OpExists, pw("/e1", true))
		b.do(proto.OpGetEphemerals, &proto.PathRequest{Path: "/"})
		a.do(proto.OpGetEphemerals, &proto.PathRequest{Path: "/"})
		a.do(proto.OpGetEphemerals, &proto.PathRequest{Path: "/e2"})
		// Re-attach A's session on a second socket: the first is closed.
		sid, pwd := a.c.session, a.c.passwd
		re := dialRaw(t, a.c.nc.RemoteAddr().String())
		resp := re.connect(sid, pwd, 30000, true)
		tr.add("reattach session=%s timeout=%d passwdlen=%d", tr.session(resp.SessionID), resp.TimeOut, len(resp.Passwd))
		tr.add("old socket closed=%v", a.c.closed(3*time.Second))
		bad := dialRaw(t, a.c.nc.RemoteAddr().String())
		badPwd := append([]byte(nil), pwd...)
		badPwd[0] ^= 0xff
		resp = bad.connect(sid, badPwd, 30000, true)
		tr.add("bad password session=%d timeout=%d passwd=%x closed=%v", resp.SessionID, resp.TimeOut, resp.Passwd, bad.closed(3*time.Second))
		// ZooKeeper 3.8 drops the session's live connection before it
		// checks the password of a re-attach.
		tr.add("live socket closed by bad re-attach=%v", re.closed(3*time.Second))
		re = dialRaw(t, a.c.nc.RemoteAddr().String())
		resp = re.connect(sid, pwd, 30000, true)
		tr.add("reattach again session=%s timeout=%d", tr.session(resp.SessionID), resp.TimeOut)
		ra := &client{name: "A'", c: re, tr: tr}
		ra.do(proto.OpGetEphemerals, &proto.PathRequest{Path: "/"})
		ra.do(proto.OpCloseSession, nil)
		tr.add("closed after closeSession=%v", re.closed(3*time.Second))
		b.ping()
		b.do(proto.OpExists, pw("/e1", false))
		b.do(proto.OpGetChildren, pw("/", false))
		gone := dialRaw(t, a.c.nc.RemoteAddr().String())
		resp = gone.connect(sid, pwd, 30000, false)
		tr.add("closed session reattach session=%d timeout=%d closed=%v", resp.SessionID, resp.TimeOut, gone.closed(3*time.Second))
		for _, to := range []int32{1, 4000, 10000, 40000, 100000} {
			c := dialRaw(t, a.c.nc.RemoteAddr().String())
			r := c.connect(0, nil, to, false)
			tr.add("timeout requested=%d negotiated=%d", to, r.TimeOut)
		}
		ahead := dialRaw(t, a.c.nc.RemoteAddr().String())
		ahead.send(proto.Marshal(&proto.ConnectRequest{LastZxidSeen: 1 << 40, TimeOut: 30000, Passwd: make([]byte, 16)}))
		_, err := ahead.readFrame()
		tr.add("zxid ahead refused=%v", err != nil)
	}},
}

// expiryScenario: a client that vanishes without closeSession loses its
// session after the negotiated timeout (tick buckets), its ephemerals go,
// and watchers hear about it.
var expiryScenario = scenario{"session-expiry", func(t *testing.T, tr *transcript, open func(string) *client) {
	a := open("A")
	w := open("W")
	short := dialRaw(t, a.c.nc.RemoteAddr().String())
	resp := short.connect(0, nil, 4000, true)
	tr.add("short session=%s timeout=%d", tr.session(resp.SessionID), resp.TimeOut)
	s := &client{name: "S", c: short, tr: tr}
	s.do(proto.OpCreate2, create("/eph", "x", proto.FlagEphemeral, nil))
	w.do(proto.OpExists, pw("/eph", true))
	w.do(proto.OpGetChildren, pw("/", true))
	short.nc.Close()
	start := time.Now()
	gone := false
	for i := 0; i < 100 && !gone; i++ {
		rh, _ := a.c.call(proto.OpExists, pw("/eph", false))
		gone = rh.Err == proto.ErrNoNode
		if !gone {
			time.Sleep(100 * time.Millisecond)
		}
	}
	waited := time.Since(start)
	// Timeout 4 s with a 2 s tick: expiry lands between 4 and 6 s after the
	// last request (bucket rounding), never before the timeout.
	tr.add("expired=%v within_bounds=%v", gone, waited > 3*time.Second && waited < 8*time.Second)
	w.ping()
	w.do(proto.OpGetEphemerals, &proto.PathRequest{Path: "/"})
	stale := dialRaw(t, a.c.nc.RemoteAddr().String())
	r := stale.connect(resp.SessionID, resp.Passwd, 4000, true)
	tr.add("expired re-attach timeout=%d session=%d", r.TimeOut, r.SessionID)
}}

// setWatchesScenario re-attaches a session on a new socket and restores its
// watches with setWatches and setWatches2, as Java and C clients do after a
// reconnect: changes made while it was away fire at once (relative zxid),
// and the restored watches fire on later changes.
var setWatchesScenario = scenario{"set-watches", func(t *testing.T, tr *transcript, open func(string) *client) {
	a := open("A")
	b := open("B")
	a.do(proto.OpCreate, create("/sw", "1", proto.FlagPersistent, nil))
	a.do(proto.OpCreate, create("/sw/gone", "1", proto.FlagPersistent, nil))
	rh, _ := a.c.call(proto.OpGetData, pw("/sw", false))
	rel := rh.Zxid
	b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/sw", Data: []byte("2"), Version: -1})
	b.do(proto.OpDelete, &proto.DeleteRequest{Path: "/sw/gone", Version: -1})
	b.do(proto.OpCreate, create("/sw-new", "1", proto.FlagPersistent, nil))
	re := dialRaw(t, a.c.nc.RemoteAddr().String())
	re.connect(a.c.session, a.c.passwd, 30000, true)
	ra := &client{name: "A'", c: re, tr: tr}
	// Missed changes: data changed, a child deleted, a node created, and
	// an exist watch on a node that still does not exist (no event).
	ra.c.xid = 100
	rhw, _ := re.callXid(proto.XidSetWatches, proto.OpSetWatches, &proto.SetWatches{RelativeZxid: rel,
		DataWatches: []string{"/sw", "/sw/gone"}, ExistWatches: []string{"/sw-new", "/sw-never"}, ChildWatches: []string{"/sw"}})
	tr.events(re)
	tr.add("A' setWatches err=%s", proto.CodeName(rhw.Err))
	ra.ping()
	rhw, _ = re.callXid(proto.XidSetWatches, proto.OpSetWatches2, &proto.SetWatches{V2: true, RelativeZxid: rh.Zxid + 100,
		ExistWatches: []string{"/sw-never"}, PersistentWatches: []string{"/sw"}, PersistentRecursive: []string{"/tree"}})
	tr.events(re)
	tr.add("A' setWatches2 err=%s", proto.CodeName(rhw.Err))
	b.do(proto.OpCreate, create("/sw-never", "1", proto.FlagPersistent, nil))
	b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/sw", Data: []byte("3"), Version: -1})
	b.do(proto.OpSetData, &proto.SetDataRequest{Path: "/sw", Data: []byte("4"), Version: -1})
	b.do(proto.OpCreate, create("/tree", "1", proto.FlagPersistent, nil))
	b.do(proto.OpCreate, create("/tree/x", "1", proto.FlagPersistent, nil))
	ra.ping()
}}

// TestDifferentialDefaults compares the two servers with ZooKeeper's
// defaults: extended types off (no TTL nodes) and the four-letter-word
// whitelist holding srvr only.
func TestDifferentialDefaults(t *testing.T) {
	targets := []target{
		startZkdWith(t, func(o *zkserver.Options) {
			o.ExtendedTypes = false
			o.FourLetterAllowed = nil
		}),
		target{name: "apache", addr: testpeer.StartApacheZK(t, testpeer.ApacheOptions{
			ExtraConfig: map[string]string{"4lw.commands.whitelist": "srvr", "extendedTypesEnabled": "false"}}).Addr},
	}
	var trs []*transcript
	for _, tg := range targets {
		tr := newTranscript()
		c := dialRaw(t, tg.addr)
		c.connect(0, nil, 30000, true)
		a := &client{name: "A", c: c, tr: tr}
		a.do(proto.OpCreateTTL, &proto.CreateTTLRequest{Path: "/ttl", Data: []byte("t"), ACL: proto.OpenACLUnsafe,
			Flags: proto.FlagPersistentWithTTL, TTL: 1000})
		a.do(proto.OpCreate2, create("/after", "x", proto.FlagPersistent, nil))
		for _, cmd := range []string{"ruok", "mntr", "stat", "srvr"} {
			out, err := testpeer.FourLetter(tg.addr, cmd, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if cmd == "srvr" {
				out = value(out, "Mode")
			}
			tr.add("%s -> %q", cmd, out)
		}
		trs = append(trs, tr)
	}
	compare(t, []string{"zkd", "apache"}, trs)
}

// TestDifferentialRaw runs every scenario against zkd and Apache ZooKeeper
// 3.8 with byte-identical requests and compares the normalised replies,
// events and connection behaviour line by line.
func TestDifferentialRaw(t *testing.T) {
	for _, sc := range append(scenarios, expiryScenario, setWatchesScenario) {
		t.Run(sc.name, func(t *testing.T) {
			targets := both(t)
			var trs []*transcript
			var names []string
			for _, tg := range targets {
				tr := newTranscript()
				open := func(name string) *client {
					c := dialRaw(t, tg.addr)
					c.connect(0, nil, 30000, true)
					tr.session(c.session)
					return &client{name: name, c: c, tr: tr}
				}
				sc.run(t, tr, open)
				trs = append(trs, tr)
				names = append(names, tg.name)
			}
			compare(t, names, trs)
			if t.Failed() || testing.Verbose() {
				for i, tr := range trs {
					t.Logf("%s transcript:\n%s", names[i], joinLines(tr.lines))
				}
			}
		})
	}
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}
