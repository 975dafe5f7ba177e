package compat_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/proto"
)

// gzClient is one go-zookeeper session in a differential scenario. Events
// are collected by the connection's callback, which go-zookeeper calls from
// its receive loop before it hands over any later reply; recording them at
// the next reply of the same client therefore keeps their order relative to
// that client's replies, which is what the servers must agree on.
type gzClient struct {
	name string
	conn *zk.Conn
	tr   *transcript

	mu     sync.Mutex
	events []zk.Event
	states []zk.State
}

// nopLogger keeps go-zookeeper's connection chatter out of test output.
type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func dialGoZk(t *testing.T, name, addr string, tr *transcript) *gzClient {
	t.Helper()
	c := &gzClient{name: name, tr: tr}
	cb := func(ev zk.Event) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if ev.Type == zk.EventSession {
			c.states = append(c.states, ev.State)
			return
		}
		c.events = append(c.events, ev)
	}
	conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogger(nopLogger{}), zk.WithEventCallback(cb))
	if err != nil {
		t.Fatalf("%s: connect %s: %v", name, addr, err)
	}
	t.Cleanup(conn.Close)
	c.conn = conn
	waitState(t, c, zk.StateHasSession)
	return c
}

// waitState polls until the connection reaches state (bounded).
func waitState(t *testing.T, c *gzClient, state zk.State) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for c.conn.State() != state {
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %v after 15s, want %v", c.name, c.conn.State(), state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rec records pending events, then the result of one call.
func (c *gzClient) rec(format string, args ...any) {
	c.mu.Lock()
	evs := c.events
	c.events = nil
	c.mu.Unlock()
	for _, ev := range evs {
		c.tr.add("%s event %s path=%s", c.name, ev.Type, ev.Path)
	}
	c.tr.add("%s %s", c.name, fmt.Sprintf(format, args...))
}

var protectedGUID = regexp.MustCompile(`_c_[0-9a-f]{32}-`)

// gzPath hides the random GUID of protected sequential names.
func gzPath(p string) string { return protectedGUID.ReplaceAllString(p, "_c_GUID-") }

func gzErr(err error) string {
	if err == nil {
		return "ok"
	}
	return "err=" + err.Error()
}

// gzStat renders a go-zookeeper Stat like the raw transcripts; owners with
// the top bit set (container and TTL markers) are shown literally, since
// clients see them as they are.
func (c *gzClient) gzStat(st *zk.Stat) string {
	if st == nil {
		return "stat=nil"
	}
	s := c.tr.stat(proto.Stat(*st))
	if st.EphemeralOwner < 0 {
		s += fmt.Sprintf(" rawowner=%#x", uint64(st.EphemeralOwner))
	}
	return s
}

// watch reports what a one-shot watch channel delivered, waiting for it up
// to d (events for the client's own or synced changes are already there).
func watch(ch <-chan zk.Event, d time.Duration) string {
	if ch == nil {
		return "no channel"
	}
	select {
	case ev, ok := <-ch:
		if !ok {
			return "closed"
		}
		return fmt.Sprintf("%s path=%s err=%v", ev.Type, ev.Path, ev.Err)
	case <-time.After(d):
		return "nothing"
	}
}

func gzAcl(acl []zk.ACL) string {
	parts := make([]string, 0, len(acl))
	for _, a := range acl {
		parts = append(parts, fmt.Sprintf("%s:%s:%d", a.Scheme, a.ID, a.Perms))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func gzMulti(c *gzClient, res []zk.MultiResponse, err error) string {
	parts := make([]string, 0, len(res))
	for _, r := range res {
		p := fmt.Sprintf("{string=%q %s", gzPath(r.String), gzErr(r.Error))
		if r.Stat != nil {
			p += " " + c.gzStat(r.Stat)
		}
		parts = append(parts, p+"}")
	}
	return fmt.Sprintf("multi %s results=[%s]", gzErr(err), strings.Join(parts, " "))
}

const gzTimeout = 5 * time.Second

// gozkScenario is the go-zookeeper API walk run against each server.
func gozkScenario(t *testing.T, addr string, tr *transcript) {
	a := dialGoZk(t, "A", addr, tr)
	b := dialGoZk(t, "B", addr, tr)
	open := zk.WorldACL(zk.PermAll)

	create := func(c *gzClient, path, data string, flags int32, acl []zk.ACL) {
		p, err := c.conn.Create(path, []byte(data), flags, acl)
		c.rec("create %s flags=%d -> %q %s", path, flags, gzPath(p), gzErr(err))
	}
	get := func(c *gzClient, path string) {
		d, st, err := c.conn.Get(path)
		if err != nil {
			c.rec("get %s %s", path, gzErr(err))
			return
		}
		c.rec("get %s -> %q %s", path, d, c.gzStat(st))
	}
	set := func(c *gzClient, path, data string, version int32) {
		st, err := c.conn.Set(path, []byte(data), version)
		if err != nil {
			c.rec("set %s v=%d %s", path, version, gzErr(err))
			return
		}
		c.rec("set %s v=%d -> %s", path, version, c.gzStat(st))
	}
	del := func(c *gzClient, path string, version int32) {
		c.rec("delete %s v=%d %s", path, version, gzErr(c.conn.Delete(path, version)))
	}
	exists := func(c *gzClient, path string) {
		ok, st, err := c.conn.Exists(path)
		if !ok || err != nil {
			c.rec("exists %s -> %v %s", path, ok, gzErr(err))
			return
		}
		c.rec("exists %s -> %v %s", path, ok, c.gzStat(st))
	}
	children := func(c *gzClient, path string) {
		ch, st, err := c.conn.Children(path)
		if err != nil {
			c.rec("children %s %s", path, gzErr(err))
			return
		}
		for i := range ch {
			ch[i] = gzPath(ch[i])
		}
		c.rec("children %s -> %s %s", path, sorted(ch), c.gzStat(st))
	}
	sync := func(c *gzClient, path string) {
		p, err := c.conn.Sync(path)
		c.rec("sync %s -> %q %s", path, p, gzErr(err))
	}

	// Creation in every mode.
	create(a, "/g", "d", zk.FlagPersistent, open)
	create(a, "/g", "again", zk.FlagPersistent, open)
	create(a, "/g/s-", "0", zk.FlagSequence, open)
	create(a, "/g/s-", "1", zk.FlagSequence, open)
	create(a, "/g/e", "e", zk.FlagEphemeral, open)
	create(a, "/g/es-", "e", zk.FlagEphemeralSequential, open)
	create(a, "/g/e/c", "x", zk.FlagPersistent, open)
	create(a, "/nope/c", "x", zk.FlagPersistent, open)
	create(a, "/g/empty", "", zk.FlagPersistent, open)
	create(a, "/g/noacl", "x", zk.FlagPersistent, nil)
	p, err := a.conn.CreateContainer("/box", []byte("c"), zk.FlagContainer, open)
	a.rec("createContainer /box -> %q %s", p, gzErr(err))
	p, err = a.conn.CreateContainer("/box", []byte("c"), zk.FlagContainer, open)
	a.rec("createContainer /box again -> %q %s", p, gzErr(err))
	create(a, "/box/item", "i", zk.FlagPersistent, open)
	p, err = a.conn.CreateTTL("/ttl", []byte("t"), zk.FlagTTL, open, 10*time.Minute)
	a.rec("createTTL /ttl -> %q %s", p, gzErr(err))
	p, err = a.conn.CreateTTL("/ttls-", []byte("t"), zk.FlagPersistentSequentialWithTTL, open, 10*time.Minute)
	a.rec("createTTL /ttls- -> %q %s", p, gzErr(err))
	p, err = a.conn.CreateTTL("/ttlbad", []byte("t"), zk.FlagTTL, open, 0)
	a.rec("createTTL /ttlbad ttl=0 -> %q %s", p, gzErr(err))
	p, err = a.conn.CreateProtectedEphemeralSequential("/g/lock-", []byte("l"), open)
	a.rec("createProtectedEphemeralSequential -> %q %s", gzPath(p), gzErr(err))
	get(a, "/box")
	get(a, "/ttl")
	get(a, "/g/e")
	get(a, "/g/empty")
	get(a, "/nope")
	children(a, "/g")
	children(a, "/nope")

	// Data updates and deletes with versions.
	set(a, "/g", "v1", 0)
	set(a, "/g", "v2", 0)
	set(a, "/g", "v3", -1)
	set(a, "/nope", "x", -1)
	del(a, "/g", -1)
	del(a, "/g/s-0000000000", 3)
	del(a, "/g/s-0000000000", 0)
	del(a, "/g/s-0000000000", -1)
	exists(a, "/g")
	exists(a, "/g/s-0000000000")
	sync(a, "/g")
	sync(a, "/nope")

	// ACLs and authentication.
	acl, st, err := a.conn.GetACL("/g")
	a.rec("getACL /g -> %s %s %s", gzAcl(acl), a.gzStat(st), gzErr(err))
	create(a, "/secret", "s", zk.FlagPersistent, zk.DigestACL(zk.PermAll, "alice", "pw"))
	acl, _, err = a.conn.GetACL("/secret")
	a.rec("getACL /secret -> %s %s", gzAcl(acl), gzErr(err))
	get(b, "/secret")
	set(b, "/secret", "x", -1)
	a.rec("addAuth bad scheme %s", gzErr(a.conn.AddAuth("nope", []byte("x"))))
	// Both servers close the connection after AUTHFAILED and the client
	// reconnects on its own; wait for that (bounded) so the next request is
	// not sent on the dying socket.
	awaitSession(t, a.conn)
	b.rec("addAuth digest %s", gzErr(b.conn.AddAuth("digest", []byte("alice:pw"))))
	get(b, "/secret")
	st, err = b.conn.SetACL("/secret", zk.WorldACL(zk.PermRead), 5)
	b.rec("setACL v=5 -> %s", gzErr(err))
	st, err = b.conn.SetACL("/secret", zk.WorldACL(zk.PermRead), 0)
	b.rec("setACL v=0 -> %s %s", b.gzStat(st), gzErr(err))
	set(b, "/secret", "x", -1)
	st, err = a.conn.SetACL("/g", zk.AuthACL(zk.PermAll), -1)
	a.rec("setACL auth without auth -> %s", gzErr(err))
	create(b, "/authed", "x", zk.FlagPersistent, zk.AuthACL(zk.PermAll))
	acl, _, err = b.conn.GetACL("/authed")
	b.rec("getACL /authed -> %s %s", gzAcl(acl), gzErr(err))

	// Multi: success, then a failure that must roll back and report
	// each op's outcome.
	res, err := a.conn.Multi(
		&zk.CreateRequest{Path: "/m", Data: []byte("1"), Acl: open},
		&zk.CreateRequest{Path: "/m/s-", Data: []byte("2"), Acl: open, Flags: zk.FlagSequence},
		&zk.SetDataRequest{Path: "/m", Data: []byte("x"), Version: 0},
		&zk.CheckVersionRequest{Path: "/m", Version: 1},
		&zk.DeleteRequest{Path: "/m/s-0000000000", Version: -1},
	)
	a.rec("%s", gzMulti(a, res, err))
	res, err = a.conn.Multi(
		&zk.CreateRequest{Path: "/m2", Data: []byte("1"), Acl: open},
		&zk.CheckVersionRequest{Path: "/m", Version: 7},
		&zk.DeleteRequest{Path: "/m", Version: -1},
	)
	a.rec("%s", gzMulti(a, res, err))
	res, err = a.conn.Multi(&zk.DeleteRequest{Path: "/secret", Version: -1}, &zk.SetDataRequest{Path: "/nope", Version: -1})
	a.rec("%s", gzMulti(a, res, err))
	res, err = a.conn.Multi()
	a.rec("%s", gzMulti(a, res, err))
	exists(a, "/m2")
	get(a, "/m")

	// Watches: one-shot watches fired by another session, then by the
	// watching session itself (the event precedes the reply).
	ok, _, ch1, err := a.conn.ExistsW("/w")
	a.rec("existsW /w -> %v %s", ok, gzErr(err))
	_, _, _, err = a.conn.GetW("/w")
	a.rec("getW /w %s", gzErr(err))
	create(b, "/w", "1", zk.FlagPersistent, open)
	sync(a, "/")
	a.rec("existsW /w fired: %s", watch(ch1, gzTimeout))
	_, _, chData, err := a.conn.GetW("/w")
	a.rec("getW /w %s", gzErr(err))
	_, _, chKids, err := a.conn.ChildrenW("/w")
	a.rec("childrenW /w %s", gzErr(err))
	_, _, chExists, err := a.conn.ExistsW("/w")
	a.rec("existsW /w %s", gzErr(err))
	set(b, "/w", "2", -1)
	create(b, "/w/c", "c", zk.FlagPersistent, open)
	sync(a, "/")
	a.rec("getW fired: %s", watch(chData, gzTimeout))
	a.rec("childrenW fired: %s", watch(chKids, gzTimeout))
	a.rec("existsW fired: %s", watch(chExists, gzTimeout))
	_, _, chData, _ = a.conn.GetW("/w/c")
	_, _, chKids, _ = a.conn.ChildrenW("/w")
	del(b, "/w/c", -1)
	sync(a, "/")
	a.rec("getW /w/c fired: %s", watch(chData, gzTimeout))
	a.rec("childrenW /w fired: %s", watch(chKids, gzTimeout))
	_, _, chSelf, _ := a.conn.ExistsW("/self")
	create(a, "/self", "s", zk.FlagPersistent, open)
	a.rec("existsW /self fired: %s", watch(chSelf, gzTimeout))
	_, _, chSelf, _ = a.conn.GetW("/self")
	del(a, "/self", -1)
	a.rec("getW /self fired: %s", watch(chSelf, gzTimeout))
	sync(b, "/")
}

// TestDifferentialGoZk walks the go-zookeeper API against zkd and Apache
// ZooKeeper 3.8 and compares results, errors, stats and watch events.
func TestDifferentialGoZk(t *testing.T) {
	t.Parallel()
	runGoZkDifferential(t, gozkScenario)
}

func runGoZkDifferential(t *testing.T, scenario func(*testing.T, string, *transcript)) {
	targets := both(t)
	var trs []*transcript
	var names []string
	for _, tg := range targets {
		tr := newTranscript()
		scenario(t, tg.addr, tr)
		trs = append(trs, tr)
		names = append(names, tg.name)
	}
	compare(t, names, trs)
	if t.Failed() || testing.Verbose() {
		for i, tr := range trs {
			t.Logf("%s transcript:\n%s", names[i], joinLines(tr.lines))
		}
	}
}

// cutProxy forwards TCP connections to a server and can cut them all and
// refuse new ones, which is how a client loses its connection without
// losing its session.
type cutProxy struct {
	ln      net.Listener
	backend string

	mu      sync.Mutex
	refuse  bool
	conns   []net.Conn
	accepts int
}

func startCutProxy(t *testing.T, backend string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			refuse := p.refuse
			p.mu.Unlock()
			if refuse {
				c.Close()
				continue
			}
			s, err := net.DialTimeout("tcp", backend, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.accepts++
			p.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(s, c); s.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

// cut closes every forwarded connection.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) setRefuse(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = v
}

// gozkReconnectScenario cuts a client's connection while another session
// changes what it watches, and checks that go-zookeeper re-attaches the
// same session and that setWatches delivers the missed events.
func gozkReconnectScenario(t *testing.T, addr string, tr *transcript) {
	proxy := startCutProxy(t, addr)
	a := dialGoZk(t, "A", proxy.addr(), tr)
	b := dialGoZk(t, "B", addr, tr)
	open := zk.WorldACL(zk.PermAll)
	sid := a.conn.SessionID()

	p, err := a.conn.Create("/rc", []byte("0"), zk.FlagPersistent, open)
	a.rec("create %s %s", p, gzErr(err))
	p, err = a.conn.Create("/rc/eph", []byte("e"), zk.FlagEphemeral, open)
	a.rec("create %s %s", p, gzErr(err))
	_, _, chData, err := a.conn.GetW("/rc")
	a.rec("getW /rc %s", gzErr(err))
	_, _, chKids, err := a.conn.ChildrenW("/rc")
	a.rec("childrenW /rc %s", gzErr(err))
	_, _, chNew, err := a.conn.ExistsW("/rcnew")
	a.rec("existsW /rcnew %s", gzErr(err))
	_, _, chGone, err := a.conn.ExistsW("/rcgone")
	a.rec("existsW /rcgone %s", gzErr(err))
	_, _, chQuiet, err := a.conn.GetW("/rc/eph")
	a.rec("getW /rc/eph %s", gzErr(err))

	proxy.setRefuse(true)
	proxy.cut()
	deadline := time.Now().Add(10 * time.Second)
	for a.conn.State() == zk.StateHasSession && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	tr.add("A lost connection: %v", a.conn.State() != zk.StateHasSession)

	st, err := b.conn.Set("/rc", []byte("1"), -1)
	b.rec("set /rc -> %s %s", b.gzStat(st), gzErr(err))
	p, err = b.conn.Create("/rc/child", nil, zk.FlagPersistent, open)
	b.rec("create %s %s", p, gzErr(err))
	p, err = b.conn.Create("/rcnew", nil, zk.FlagPersistent, open)
	b.rec("create %s %s", p, gzErr(err))
	ok, _, err := b.conn.Exists("/rc/eph")
	b.rec("exists /rc/eph while A is away -> %v %s", ok, gzErr(err))

	proxy.setRefuse(false)
	waitState(t, a, zk.StateHasSession)
	tr.add("A same session after reconnect: %v", a.conn.SessionID() == sid)
	// setWatches is sent asynchronously after the handshake; its reply and
	// the missed events precede the reply to a later request.
	time.Sleep(100 * time.Millisecond)
	_, err = a.conn.Sync("/")
	a.rec("sync %s", gzErr(err))
	a.rec("getW /rc fired: %s", watch(chData, gzTimeout))
	a.rec("childrenW /rc fired: %s", watch(chKids, gzTimeout))
	a.rec("existsW /rcnew fired: %s", watch(chNew, gzTimeout))
	a.rec("existsW /rcgone fired: %s", watch(chGone, 300*time.Millisecond))
	a.rec("getW /rc/eph fired: %s", watch(chQuiet, 300*time.Millisecond))
	d, st, err := a.conn.Get("/rc/eph")
	a.rec("get /rc/eph -> %q owner is A: %v %s", d, err == nil && st.EphemeralOwner == sid, gzErr(err))
	// The re-registered watch on /rc/eph still works.
	st, err = b.conn.Set("/rc/eph", []byte("f"), -1)
	b.rec("set /rc/eph %s", gzErr(err))
	_, err = a.conn.Sync("/")
	a.rec("sync %s", gzErr(err))
	a.rec("getW /rc/eph fired: %s", watch(chQuiet, gzTimeout))
	proxy.mu.Lock()
	tr.add("proxy connections accepted: %d", proxy.accepts)
	proxy.mu.Unlock()
}

// TestDifferentialGoZkReconnect checks session re-attachment and watch
// re-registration (setWatches) through a connection cut.
func TestDifferentialGoZkReconnect(t *testing.T) {
	t.Parallel()
	runGoZkDifferential(t, gozkReconnectScenario)
}

// TestGoZkConcurrentPipelining drives zkd alone with many goroutines
// sharing a few connections, so requests are pipelined on each socket, and
// checks every result against each goroutine's own model of its subtree.
func TestGoZkConcurrentPipelining(t *testing.T) {
	t.Parallel()
	const (
		workers   = 20
		opsEach   = 200
		connCount = 3
		keys      = 8
	)
	srv := startZkd(t)
	tr := newTranscript()
	conns := make([]*gzClient, connCount)
	for i := range conns {
		conns[i] = dialGoZk(t, fmt.Sprintf("C%d", i), srv.addr, tr)
	}
	open := zk.WorldACL(zk.PermAll)
	if _, err := conns[0].conn.Create("/conc", nil, zk.FlagPersistent, open); err != nil {
		t.Fatal(err)
	}

	type node struct {
		data    string
		version int32
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	models := make([]map[string]node, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := conns[w%connCount].conn
			root := fmt.Sprintf("/conc/g%02d", w)
			model := map[string]node{}
			models[w] = model
			fail := func(format string, args ...any) {
				errs <- fmt.Errorf("worker %d: %s", w, fmt.Sprintf(format, args...))
			}
			if _, err := conn.Create(root, nil, zk.FlagPersistent, open); err != nil {
				fail("create %s: %v", root, err)
				return
			}
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; i < opsEach; i++ {
				if ctx.Err() != nil {
					fail("out of time after %d ops", i)
					return
				}
				path := fmt.Sprintf("%s/k%d", root, rng.IntN(keys))
				cur, present := model[path]
				data := fmt.Sprintf("w%d-op%d", w, i)
				switch op := rng.IntN(4); {
				case op == 0 || !present && op != 2:
					_, err := conn.Create(path, []byte(data), zk.FlagPersistent, open)
					switch {
					case present && !errors.Is(err, zk.ErrNodeExists):
						fail("create existing %s: %v, want ErrNodeExists", path, err)
						return
					case !present && err != nil:
						fail("create %s: %v", path, err)
						return
					case !present:
						model[path] = node{data: data}
					}
				case op == 1:
					st, err := conn.Set(path, []byte(data), cur.version)
					if err != nil || st.Version != cur.version+1 || st.DataLength != int32(len(data)) {
						fail("set %s v=%d: stat %+v, %v", path, cur.version, st, err)
						return
					}
					if _, err := conn.Set(path, []byte("stale"), cur.version); !errors.Is(err, zk.ErrBadVersion) {
						fail("stale set %s v=%d: %v, want ErrBadVersion", path, cur.version, err)
						return
					}
					model[path] = node{data: data, version: cur.version + 1}
				case op == 2:
					got, st, err := conn.Get(path)
					switch {
					case !present && !errors.Is(err, zk.ErrNoNode):
						fail("get absent %s: %v, want ErrNoNode", path, err)
						return
					case present && (err != nil || string(got) != cur.data || st.Version != cur.version):
						fail("get %s = %q v%d, %v; want %q v%d", path, got, st.Version, err, cur.data, cur.version)
						return
					}
				default:
					err := conn.Delete(path, cur.version)
					if err != nil {
						fail("delete %s v=%d: %v", path, cur.version, err)
						return
					}
					delete(model, path)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// The final tree is exactly what the goroutines wrote.
	check := conns[0].conn
	for w, model := range models {
		root := fmt.Sprintf("/conc/g%02d", w)
		kids, _, err := check.Children(root)
		if err != nil {
			t.Fatalf("children %s: %v", root, err)
		}
		var want []string
		for p := range model {
			want = append(want, strings.TrimPrefix(p, root+"/"))
		}
		sort.Strings(want)
		sort.Strings(kids)
		if strings.Join(kids, ",") != strings.Join(want, ",") {
			t.Errorf("%s children = %v, want %v", root, kids, want)
		}
		for p, n := range model {
			got, st, err := check.Get(p)
			if err != nil || string(got) != n.data || st.Version != n.version {
				t.Errorf("final %s = %q v%d, %v; want %q v%d", p, got, st.Version, err, n.data, n.version)
			}
		}
	}
}

// awaitSession waits until conn answers a request again after the server
// dropped its connection.
func awaitSession(t *testing.T, conn *zk.Conn) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, err := conn.Exists("/"); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("client did not get its session back within 15s")
}
