package compat_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/txnlog"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// mixedTick is the tickTime of every member of a mixed ensemble.
const mixedTick = 500 * time.Millisecond

// mixedMember is one member of a mixed zkd / Apache ZooKeeper ensemble.
type mixedMember struct {
	id       int64
	apache   bool
	observer bool // a non-voting member (see observe)
	host     string
	addr     string // client address
	dataDir  string

	// Apache: the process once it served, and its log file (kept when
	// start-up failed).
	zk      *testpeer.ApacheZK
	logFile string
	// startErr is why an Apache member did not serve within its start
	// timeout.
	startErr string

	// zkd
	log *syncBuffer
	zkd *zkservertest.Member // nil unless a zkd member runs
}

// mixedEnsemble is an ensemble whose members are each either an
// Apache ZooKeeper 3.8 process or an in-process zkd (peer.Peer plus
// zkserver.Server), sharing one quorum config.
type mixedEnsemble struct {
	t       *testing.T
	qc      wire.QuorumConfig
	members map[int64]*mixedMember
	extra   map[string]string // zoo.cfg entries every Apache member gets
}

// newMixedEnsemble lays out members 1..len(apache) (apache[i] says whether
// member i+1 is Apache ZooKeeper) on their own loopback addresses and
// fresh data directories; nothing is started.
func newMixedEnsemble(t *testing.T, apache []bool, snapCount int) *mixedEnsemble {
	t.Helper()
	e := &mixedEnsemble{t: t, members: map[int64]*mixedMember{}, extra: map[string]string{
		"initLimit": "10", "syncLimit": "5",
		// A small snapCount lets a test force a snapshot (and a SNAP
		// sync) with few writes.
		"snapCount": strconv.Itoa(snapCount),
	}}
	base := testpeer.LoopbackBlock() + 10
	for i, isApache := range apache {
		id := int64(i + 1)
		host := testpeer.LoopbackHost(base + i)
		m := &mixedMember{id: id, apache: isApache, host: host, dataDir: t.TempDir()}
		client := testpeer.FreePort(t, host)
		m.addr = net.JoinHostPort(host, strconv.Itoa(client))
		e.qc.Servers = append(e.qc.Servers, wire.QuorumServer{
			ID:         id,
			Addrs:      []wire.ServerAddr{{Host: host, QuorumPort: testpeer.FreePort(t, host), ElectionPort: testpeer.FreePort(t, host)}},
			Type:       wire.Participant,
			ClientHost: host,
			ClientPort: client,
		})
		e.members[id] = m
	}
	for _, s := range e.qc.Servers {
		a := s.Addrs[0]
		e.extra["server."+strconv.FormatInt(s.ID, 10)] = fmt.Sprintf("%s:%d:%d", a.Host, a.QuorumPort, a.ElectionPort)
	}
	t.Cleanup(func() {
		for _, m := range e.members {
			e.stop(m.id)
		}
	})
	return e
}

// observe makes members ids observers, before they first start: their
// server lines end in ":observer", and an Apache one also gets
// peerType=observer, as ZooKeeper's configuration asks.
func (e *mixedEnsemble) observe(ids ...int64) {
	for _, id := range ids {
		e.members[id].observer = true
		i := slices.IndexFunc(e.qc.Servers, func(s wire.QuorumServer) bool { return s.ID == id })
		e.qc.Servers[i].Type = wire.Observer
		e.extra["server."+strconv.FormatInt(id, 10)] += ":observer"
	}
}

// start starts the given members concurrently (an Apache member serves
// only once a quorum formed, and StartApacheZK waits for that) and
// returns once each zkd member runs and each Apache member served or gave
// up after apacheWait (its startErr then says why; the process is gone).
func (e *mixedEnsemble) start(apacheWait time.Duration, ids ...int64) {
	e.t.Helper()
	var wg sync.WaitGroup
	for _, id := range ids {
		m := e.members[id]
		if !m.apache {
			e.startZkd(m)
			continue
		}
		rec := e.prepareApache(m)
		wg.Go(func() { e.startApache(m, rec, apacheWait) })
	}
	wg.Wait()
}

// startApache runs StartApacheZK for m through a testing.TB whose Fatalf
// records the failure instead of ending the test: a member that cannot
// join is an outcome these tests assert on.
func (e *mixedEnsemble) startApache(m *mixedMember, rec *recordingTB, wait time.Duration) {
	_, port, _ := net.SplitHostPort(m.addr)
	client, _ := strconv.Atoi(port)
	extra := e.extra
	if m.observer {
		extra = maps.Clone(e.extra)
		extra["peerType"] = "observer"
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		m.zk = testpeer.StartApacheZK(rec, testpeer.ApacheOptions{
			DataDir:            m.dataDir,
			Host:               m.host,
			ClientPort:         client,
			TickTime:           mixedTick,
			DisableAdminServer: true,
			ExtraConfig:        extra,
			StartTimeout:       wait,
		})
	}()
	<-finished
	if m.zk == nil {
		m.startErr = rec.failure()
	}
}

// prepareApache writes m's myid and sets up, before startApache runs in
// another goroutine, what the test goroutine reads meanwhile: the log
// file's path.
func (e *mixedEnsemble) prepareApache(m *mixedMember) *recordingTB {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(m.dataDir, "myid"), []byte(strconv.FormatInt(m.id, 10)+"\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
	rec := &recordingTB{TB: e.t, work: e.t.TempDir()}
	m.logFile = filepath.Join(rec.work, "zookeeper.log") // startApacheZK's layout
	m.zk, m.startErr = nil, ""
	return rec
}

// recordingTB turns Fatalf into a recorded failure and a Goexit of the
// calling goroutine (startApache's own), and hands out one fixed TempDir
// so the server log's path is known even when start-up fails.
type recordingTB struct {
	testing.TB
	work string

	mu  sync.Mutex
	msg string
}

func (r *recordingTB) TempDir() string { return r.work }

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) failure() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg
}

// syncBuffer collects a zkd member's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (e *mixedEnsemble) startZkd(m *mixedMember) {
	e.t.Helper()
	if m.log == nil {
		m.log = &syncBuffer{}
	}
	snapCount, _ := strconv.Atoi(e.extra["snapCount"])
	m.zkd = zkservertest.StartMember(e.t, zkservertest.MemberOptions{ID: m.id, Quorum: e.qc, DataDir: m.dataDir,
		ListenAddr: m.addr, TickTime: mixedTick, InitLimit: 10, SyncLimit: 5, SnapCount: snapCount,
		Logger: zerolog.New(m.log).With().Timestamp().Int64("member", m.id).Logger().Level(zerolog.DebugLevel)})
}

// stop stops member id (SIGTERM for Apache, a clean shutdown for zkd).
func (e *mixedEnsemble) stop(id int64) {
	m := e.members[id]
	if m.zk != nil {
		m.zk.Stop()
		m.zk = nil
	}
	if m.zkd != nil {
		m.zkd.Stop(e.t)
		m.zkd = nil
	}
}

// running reports whether member id's process or server is up.
func (m *mixedMember) running() bool { return m.zk != nil || m.zkd != nil }

// name is "apache 1" or "zkd 3".
func (m *mixedMember) name() string {
	if m.apache {
		return "apache " + strconv.FormatInt(m.id, 10)
	}
	return "zkd " + strconv.FormatInt(m.id, 10)
}

// logText is the member's log so far.
func (m *mixedMember) logText() string {
	if m.apache {
		b, err := os.ReadFile(m.logFile)
		if err != nil {
			return fmt.Sprintf("(cannot read %s: %v)", m.logFile, err)
		}
		return string(b)
	}
	if m.log == nil {
		return ""
	}
	return m.log.String()
}

// mode is srvr's Mode of member id, or "" when it does not serve.
func (e *mixedEnsemble) mode(id int64) string {
	m := e.members[id]
	if !m.running() {
		return ""
	}
	s, err := testpeer.FourLetter(m.addr, "srvr", time.Second)
	if err != nil {
		return ""
	}
	for l := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Mode: "); ok {
			return v
		}
	}
	return ""
}

// modes maps every member to its srvr Mode ("" when not serving).
func (e *mixedEnsemble) modes() map[int64]string {
	out := map[int64]string{}
	for id := range e.members {
		out[id] = e.mode(id)
	}
	return out
}

// waitModes polls (up to d) until the running members report want, and
// returns the last modes seen.
func (e *mixedEnsemble) waitModes(d time.Duration, want map[int64]string) map[int64]string {
	deadline := time.Now().Add(d)
	for {
		got := e.modes()
		ok := true
		for id, w := range want {
			ok = ok && got[id] == w
		}
		if ok || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dump logs every member's log tail, for a failing test.
func (e *mixedEnsemble) dump(lines int) {
	for id := int64(1); id <= int64(len(e.members)); id++ {
		m := e.members[id]
		e.t.Logf("---- %s log tail ----\n%s", m.name(), lastN(withoutPolls(m.logText()), lines))
	}
}

// withoutPolls drops zkd's debug lines for the four-letter-word
// connections the test polls modes with: while a test waits for a mode,
// they would fill the whole tail.
func withoutPolls(log string) string {
	var b strings.Builder
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `"reason":"four_letter"`) {
			b.WriteString(line)
		}
	}
	return b.String()
}

func lastN(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// connect opens a go-zookeeper session to member id only. Callers close
// it when done: a client left open reconnects to its server when that
// server restarts, and re-attaching through an Apache follower of a zkd
// leader sends REVALIDATE (a known gap, see zkdLeadsApache).
func (e *mixedEnsemble) connect(id int64) (*zk.Conn, error) {
	conn, _, err := zk.Connect([]string{e.members[id].addr}, 4*time.Second, zk.WithLogger(nopLogger{}),
		zk.WithMaxBufferSize(1<<20))
	if err != nil {
		return nil, err
	}
	// A session is a quorum write. Under CI's load (three JVMs or zkd
	// processes and the race detector) one has been seen to take more than
	// 5s on an Apache leader while its followers had already applied it,
	// so allow a few session timeouts' worth: go-zookeeper reconnects and
	// asks again meanwhile.
	const wait = 15 * time.Second
	deadline := time.Now().Add(wait)
	for conn.State() != zk.StateHasSession {
		if time.Now().After(deadline) {
			conn.Close()
			return nil, fmt.Errorf("no session with %s within %v (state %v)", e.members[id].name(), wait, conn.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Cleanup(conn.Close)
	return conn, nil
}

// call runs f with a deadline: go-zookeeper retries a request forever
// while the server is reachable but silent.
func call[T any](d time.Duration, f func() (T, error)) (T, error) {
	type res struct {
		v   T
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := f()
		ch <- res{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(d):
		var zero T
		return zero, fmt.Errorf("no answer within %v", d)
	}
}

// crossWrite creates path with data through member from and reads it back,
// after a sync, through every member in to. It returns one line per
// member: "ok" or what went wrong.
func (e *mixedEnsemble) crossWrite(from int64, to []int64, path, data string) map[int64]string {
	out := map[int64]string{}
	c, err := e.connect(from)
	if err != nil {
		out[from] = "connect: " + err.Error()
		return out
	}
	defer c.Close()
	if _, err := call(5*time.Second, func() (string, error) { return c.Create(path, []byte(data), 0, zk.WorldACL(zk.PermAll)) }); err != nil {
		out[from] = "create: " + err.Error()
		return out
	}
	out[from] = "ok"
	for _, id := range to {
		if id == from {
			continue
		}
		out[id] = e.readBack(id, path, data)
	}
	return out
}

// readBack syncs path through member id and checks its data.
func (e *mixedEnsemble) readBack(id int64, path, data string) string {
	c, err := e.connect(id)
	if err != nil {
		return "connect: " + err.Error()
	}
	defer c.Close()
	if _, err := call(5*time.Second, func() (string, error) { return c.Sync(path) }); err != nil {
		return "sync: " + err.Error()
	}
	got, err := call(5*time.Second, func() ([]byte, error) { b, _, err := c.Get(path); return b, err })
	if err != nil {
		return "get: " + err.Error()
	}
	if string(got) != data {
		return fmt.Sprintf("get: %q, want %q", got, data)
	}
	return "ok"
}

// ephemeralAcross creates an ephemeral node through member owner, checks
// every member in others sees it, closes the session and checks it is
// gone everywhere. It returns "ok" or the first thing that went wrong.
func (e *mixedEnsemble) ephemeralAcross(owner int64, others []int64, path string) string {
	c, err := e.connect(owner)
	if err != nil {
		return "connect: " + err.Error()
	}
	defer c.Close()
	if _, err := call(5*time.Second, func() (string, error) { return c.Create(path, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)) }); err != nil {
		return "create ephemeral: " + err.Error()
	}
	sid := c.SessionID()
	readers := map[int64]*zk.Conn{}
	for _, id := range others {
		r, err := e.connect(id)
		if err != nil {
			return fmt.Sprintf("connect %d: %v", id, err)
		}
		defer r.Close()
		readers[id] = r
		if _, err := call(5*time.Second, func() (string, error) { return r.Sync(path) }); err != nil {
			return fmt.Sprintf("sync on %d: %v", id, err)
		}
		st, err := call(5*time.Second, func() (*zk.Stat, error) { _, st, err := r.Get(path); return st, err })
		if err != nil {
			return fmt.Sprintf("get on %d: %v", id, err)
		}
		if st.EphemeralOwner != sid {
			return fmt.Sprintf("on %d: ephemeral owner %#x, want %#x", id, st.EphemeralOwner, sid)
		}
	}
	c.Close()
	for _, id := range others {
		r := readers[id]
		deadline := time.Now().Add(5 * time.Second)
		for {
			ok, err := call(5*time.Second, func() (bool, error) { ok, _, err := r.Exists(path); return ok, err })
			if err != nil {
				return fmt.Sprintf("exists on %d after close: %v", id, err)
			}
			if !ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Sprintf("on %d: ephemeral still there 5s after its session closed", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return "ok"
}

// startApacheFirst starts the Apache members in first, waits until each
// runs its election, then starts the members in then, so that with equal
// zxids the election sees every vote and the highest sid wins (an
// in-process zkd is up within milliseconds, a JVM within seconds).
func (e *mixedEnsemble) startApacheFirst(wait time.Duration, first []int64, then ...int64) {
	e.t.Helper()
	var wg sync.WaitGroup
	for _, id := range first {
		m := e.members[id]
		rec := e.prepareApache(m)
		wg.Go(func() { e.startApache(m, rec, wait) })
	}
	for _, id := range first {
		m := e.members[id]
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(m.logText(), "New election. My id") {
			if time.Now().After(deadline) {
				e.t.Fatalf("%s did not start an election within 20s; log tail:\n%s", m.name(), lastN(m.logText(), 30))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	e.start(wait, then...)
	wg.Wait()
}

// zxidOf is srvr's Zxid of member id, -1 when it does not answer.
func (e *mixedEnsemble) zxidOf(id int64) int64 {
	s, err := testpeer.FourLetter(e.members[id].addr, "srvr", time.Second)
	if err != nil {
		return -1
	}
	for l := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Zxid: "); ok {
			z, err := strconv.ParseInt(v, 0, 64)
			if err == nil {
				return z
			}
		}
	}
	return -1
}

// rawConnect sends a ConnectRequest to member id and returns the answer.
func (e *mixedEnsemble) rawConnect(id int64, session int64, passwd []byte) (proto.ConnectResponse, error) {
	resp, nc, err := testpeer.RawConnect(e.members[id].addr, session, passwd, 4*time.Second)
	if err == nil {
		e.t.Cleanup(func() { nc.Close() })
	}
	return resp, err
}

// moveSession opens a session on member from, waits until member to has
// applied its createSession (srvr Zxid), then re-attaches it (id and
// password) on member to, as a client does when it fails over. It
// returns "ok" when the session is kept, else what happened.
//
// The wait matters for zkd: a zkd member checks a re-attach against the
// sessions it has applied, so a re-attach that overtakes the commit is
// refused as expired; an Apache follower asks the leader (REVALIDATE).
func (e *mixedEnsemble) moveSession(from, to int64) string {
	first, err := e.rawConnect(from, 0, nil)
	if err != nil || first.SessionID == 0 {
		return fmt.Sprintf("new session on %d: %+v, %v", from, first, err)
	}
	created := e.zxidOf(from)
	deadline := time.Now().Add(5 * time.Second)
	for e.zxidOf(to) < created && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	moved, err := e.rawConnect(to, first.SessionID, first.Passwd)
	if err != nil {
		return fmt.Sprintf("re-attach on %d: %v", to, err)
	}
	if moved.SessionID != first.SessionID || moved.TimeOut <= 0 {
		return fmt.Sprintf("re-attach on %d: session %#x timeout %d, want %#x kept", to, moved.SessionID, moved.TimeOut, first.SessionID)
	}
	return "ok"
}

// requireModes waits (up to d) for want and fails the test, with every
// member's log tail, if it does not come.
func (e *mixedEnsemble) requireModes(d time.Duration, want map[int64]string) {
	e.t.Helper()
	got := e.waitModes(d, want)
	for id, w := range want {
		if got[id] != w {
			e.t.Fatalf("srvr modes %v after %v, want %v", got, d, want)
		}
	}
}

// requireWrites creates a node through each member in ids and reads it
// back through every other member in ids (sync, then getData).
func (e *mixedEnsemble) requireWrites(tag string, ids ...int64) {
	e.t.Helper()
	for _, from := range ids {
		path := fmt.Sprintf("/%s-via-%d", tag, from)
		for id, res := range e.crossWrite(from, ids, path, tag) {
			if res != "ok" {
				e.t.Fatalf("%s created through %s, read through %s: %s", path, e.members[from].name(), e.members[id].name(), res)
			}
		}
	}
}

// requireRead checks that member id serves path with data.
func (e *mixedEnsemble) requireRead(id int64, path, data string) {
	e.t.Helper()
	if res := e.readBack(id, path, data); res != "ok" {
		e.t.Fatalf("%s on %s: %s", path, e.members[id].name(), res)
	}
}

// requireEphemerals creates an ephemeral through each member in ids and
// checks the others see it and see it go when its session closes.
func (e *mixedEnsemble) requireEphemerals(tag string, ids ...int64) {
	e.t.Helper()
	for _, owner := range ids {
		others := slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return id == owner })
		if res := e.ephemeralAcross(owner, others, fmt.Sprintf("/%s-eph-%d", tag, owner)); res != "ok" {
			e.t.Fatalf("ephemeral through %s: %s", e.members[owner].name(), res)
		}
	}
}

// requireDigests checks, on each member in ids, that its txn log carries a
// TxnDigest with every txn but error txns (as ZooKeeper 3.8 logs them with
// digests enabled, its default), and that it never found its tree to
// differ from a txn's digest after applying it: Apache logs "Digests are
// not matching", zkd warns that the tree digest differs.
func (e *mixedEnsemble) requireDigests(ids ...int64) {
	e.t.Helper()
	for _, id := range ids {
		m := e.members[id]
		it, err := txnlog.NewIterator(filepath.Join(m.dataDir, "version-2"), 0, txnlog.ReadOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for {
			rec, err := it.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				e.t.Fatalf("%s: read the txn log: %v", m.name(), err)
			}
			n++
			if (rec.Digest == nil) != (rec.Hdr.Type == proto.OpError) {
				e.t.Errorf("%s logged zxid %#x %s with digest %v; want one exactly when not an error txn",
					m.name(), rec.Hdr.Zxid, proto.OpName(rec.Hdr.Type), rec.Digest)
			}
		}
		if n == 0 {
			e.t.Errorf("%s: no txn logged", m.name())
		}
		for _, bad := range []string{"Digests are not matching", "tree digest after applying a txn differs"} {
			if strings.Contains(m.logText(), bad) {
				e.t.Errorf("%s logged %q", m.name(), bad)
			}
		}
	}
}

// requireLog waits (up to d) until member id's log matches re and
// returns the match.
func (e *mixedEnsemble) requireLog(id int64, d time.Duration, re string) string {
	e.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for {
		if m := rx.FindString(e.members[id].logText()); m != "" {
			return m
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: no log line matching %q within %v", e.members[id].name(), re, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMixedEnsembleWithApacheZooKeeper runs 3- and 5-member ensembles that
// mix in-process zkd members with Apache ZooKeeper 3.8 processes, on fresh
// data directories, and records how far they interoperate: election, the
// learner channel's sync modes (DIFF, SNAP and TRUNC, both ways),
// broadcast, forwarded writes, sessions and ephemerals, session moves
// (REVALIDATE), leader failover, observers of either kind under a leader
// of either kind, and replacing an Apache ensemble by zkd one member at a
// time. What does not work is asserted as its current failure, so the
// test fails when that changes.
func TestMixedEnsembleWithApacheZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache ZooKeeper JVMs")
	}
	testpeer.Java(t)
	testpeer.ApacheClasspath(t)
	for _, tc := range []struct {
		name      string
		apache    []bool // member i+1 is Apache ZooKeeper
		snapCount int
		observers []int64 // members that observe
		run       func(t *testing.T, e *mixedEnsemble)
	}{
		{"apache 1,2 + zkd 3: zkd leads Apache followers", []bool{true, true, false}, 100000, nil, zkdLeadsApache},
		{"zkd 1,2 + apache 3: Apache leads zkd followers", []bool{false, false, true}, 100000, nil, apacheLeadsZkd},
		{"apache 1,2 with data + fresh zkd 3: SNAP from Apache", []bool{true, true, false}, 100000, nil, zkdJoinsApacheBySnap},
		{"zkd 1,2 restored from a snapshot + fresh apache 3: SNAP from zkd", []bool{false, false, true}, 10, nil, apacheJoinsZkdBySnap},
		{"apache 1,2,3 replaced one by one by zkd on their data dirs", []bool{true, true, true}, 100000, nil, rollingReplacement},
		{"zkd 3 with an uncommitted txn + apache 1,2: TRUNC from Apache", []bool{true, true, false}, 100000, nil, truncAcrossKinds(false)},
		{"apache 3 with an uncommitted txn + zkd 1,2: TRUNC from zkd", []bool{false, false, true}, 100000, nil, truncAcrossKinds(false)},
		{"zkd 3 with an uncommitted txn + apache 1,2 in a new epoch: SNAP from Apache", []bool{true, true, false}, 100000, nil, truncAcrossKinds(true)},
		{"apache 3 with an uncommitted txn + zkd 1,2 in a new epoch: TRUNC from zkd", []bool{false, false, true}, 100000, nil, truncAcrossKinds(true)},
		{"zkd 3 leads apache 1,2; observers zkd 4, apache 5", []bool{true, true, false, false, true}, 100000, []int64{4, 5}, observersOfBothKinds},
		{"apache 3 leads zkd 1,2; observers zkd 4, apache 5", []bool{false, false, true, false, true}, 100000, []int64{4, 5}, observersOfBothKinds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMixedEnsemble(t, tc.apache, tc.snapCount)
			e.observe(tc.observers...)
			// Deferred, so that it also runs after a Fatal. ZKD_MIXED_LOGS=1
			// logs every member's whole log.
			defer func() {
				if os.Getenv("ZKD_MIXED_LOGS") != "" {
					e.dump(1 << 30)
				} else if t.Failed() {
					e.dump(80)
				}
			}()
			tc.run(t, e)
		})
	}
}

// zkdLeadsApache: zkd has the highest sid, so with equal (zero) zxids it
// wins the election and the Apache servers follow it (synced by DIFF).
// Writes, syncs, sessions and ephemerals work through every member, and
// sessions move to any member: a re-attach to an Apache follower makes it
// send REVALIDATE (Learner.validateSession), which zkd's leader answers
// from its committed session table (LearnerMaster.revalidateSession).
//
// Leader failover works: the Apache servers elect one of them, and zkd
// rejoins with its history through a DIFF from the Apache leader.
func zkdLeadsApache(t *testing.T, e *mixedEnsemble) {
	// zkd 3 and Apache 1 form the first quorum, so zkd (the larger sid)
	// leads; started all at once, Apache 1 and 2 sometimes settle on 2
	// while zkd's dials are backing off. Apache 2 then joins.
	e.start(30*time.Second, 1, 3)
	e.requireModes(10*time.Second, map[int64]string{1: "follower", 3: "leader"})
	e.start(30*time.Second, 2)
	e.requireModes(10*time.Second, map[int64]string{1: "follower", 2: "follower", 3: "leader"})
	e.requireLog(1, time.Second, `Getting a diff from the leader 0x0`)
	e.requireWrites("zkd-leads", 1, 2, 3)
	e.requireEphemerals("zkd-leads", 1, 2, 3)
	// zkd's leader computes each txn's digest as Apache's prep does: the
	// Apache followers log it and find their trees match it.
	e.requireDigests(1, 2, 3)
	for _, from := range []int64{1, 2} {
		if res := e.moveSession(from, 3); res != "ok" {
			t.Fatalf("session from %s to zkd 3: %s", e.members[from].name(), res)
		}
	}

	// REVALIDATE: Apache 2 asks zkd's leader about a session it has not
	// seen on its own connections; the answer lets the client in, and
	// Apache 2 stays in the ensemble.
	if res := e.moveSession(1, 2); res != "ok" {
		t.Errorf("session from apache 1 to apache 2 under a zkd leader: %s; want ok", res)
	}
	e.requireModes(time.Second, map[int64]string{1: "follower", 2: "follower", 3: "leader"})
	e.requireWrites("without-2", 1, 3)

	// Leader failover: the Apache servers elect server 2 (both have every
	// txn, and 2 is the larger sid) and keep what zkd's epoch committed.
	e.stop(3)
	e.requireModes(20*time.Second, map[int64]string{1: "follower", 2: "leader"})
	e.requireRead(1, "/zkd-leads-via-3", "zkd-leads")
	e.requireRead(2, "/without-2-via-3", "without-2")
	e.requireWrites("apache-leads", 1, 2)

	// zkd rejoins with history: Apache's leader syncs it with a DIFF of
	// what it missed (both Apache members answer its election with the
	// same, updated vote), and it follows.
	e.startZkd(e.members[3])
	e.requireModes(20*time.Second, map[int64]string{1: "follower", 2: "leader", 3: "follower"})
	e.requireLog(2, time.Second, `Synchronizing with Learner sid: 3 .*peerLastZxid=0x1[0-9a-f]{8}`)
	e.requireLog(2, time.Second, `Sending DIFF zxid=0x[0-9a-f]+ +for peer sid: 3`)
	e.requireRead(3, "/apache-leads-via-1", "apache-leads")
	e.requireWrites("rejoined", 1, 2, 3)
	e.requireEphemerals("rejoined", 1, 2, 3)
	// Under an Apache leader sessions move freely: zkd 3, a learner,
	// asks Apache's leader (REVALIDATE) as an Apache learner would.
	for _, mv := range [][2]int64{{3, 1}, {1, 3}, {2, 3}} {
		if res := e.moveSession(mv[0], mv[1]); res != "ok" {
			t.Fatalf("session from %s to %s: %s", e.members[mv[0]].name(), e.members[mv[1]].name(), res)
		}
	}
	e.requireRevalidated(3)
}

// truncAcrossKinds: member 3, the leader of epoch 1, stops with a txn in
// its log that no other member has, as when a leader dies after logging a
// proposal that no follower got; 1 and 2, of the other kind, elect one
// of them for epoch 2 without it. When 3 comes back, the new leader must cut the txn
// from 3's log, and it must be gone from 3's tree.
//
// If 3 rejoins before epoch 2 commits anything, its last zxid is beyond
// the leader's history, and leaders of both kinds send TRUNC. With
// epochNewer, epoch 2 first commits writes, so the leader's history goes
// on after the point 3 must truncate to, in a newer epoch: zkd's leader
// sends TRUNC and then the DIFF, while Apache's refuses a TRUNC across an
// epoch boundary and sends a SNAP (LearnerHandler: "Cannot send TRUNC to
// peer ... peer zxid is from different epoch").
func truncAcrossKinds(epochNewer bool) func(t *testing.T, e *mixedEnsemble) {
	return func(t *testing.T, e *mixedEnsemble) {
		e.startLedBy3(2)
		e.requireModes(10*time.Second, map[int64]string{1: "follower", 2: "follower", 3: "leader"})
		e.requireWrites("epoch1", 1, 2, 3)
		e.stop(3)
		phantom := e.logPhantom(3, "/phantom")

		// Usually 2 leads epoch 2; 1 does when it got the last txn of
		// epoch 1 (a session's close) and 2 did not.
		l := e.requireServing(20*time.Second, 1, 2)
		if epochNewer {
			e.requireWrites("epoch2", 1, 2)
		}
		e.start(30*time.Second, 3)
		e.requireServing(20*time.Second, 1, 2, 3)
		switch {
		case e.members[3].apache:
			e.requireLog(3, time.Second, `Truncating log to get in sync with the leader 0x`)
		case epochNewer:
			e.requireLog(l, time.Second, `Cannot send TRUNC to peer sid: 3 peer zxid is from different epoch`)
			e.requireSyncs(3, "snap")
		default:
			e.requireSyncs(3, "trunc")
		}
		if res := e.readBack(3, "/phantom", "phantom"); !strings.Contains(res, "node does not exist") {
			t.Errorf("uncommitted txn %#x (/phantom) on %s after its sync: %s; want it gone", phantom, e.members[3].name(), res)
		}
		if epochNewer {
			e.requireRead(3, "/epoch2-via-1", "epoch2")
		}
		e.requireWrites("after-sync", 1, 2, 3)
	}
}

// requireSyncs checks that zkd member id was synced once, by kind.
func (e *mixedEnsemble) requireSyncs(id int64, kind string) {
	e.t.Helper()
	m := e.members[id]
	for _, k := range []string{"diff", "trunc", "snap"} {
		want := 0.0
		if k == kind {
			want = 1
		}
		if n := metricvalue.OfSeries(e.t, m.zkd.Registry, "zkd_quorum_sync_total", "type", k); n != want {
			e.t.Errorf("%s counted %v %s syncs, want %v", m.name(), n, k, want)
		}
	}
}

// startLedBy3 starts members 1 and 3 first, so that 3 (the larger sid,
// of either kind) leads, waits for that, and then starts rest.
func (e *mixedEnsemble) startLedBy3(rest ...int64) {
	e.t.Helper()
	if e.members[3].apache {
		e.startApacheFirst(30*time.Second, []int64{3}, 1)
	} else {
		e.start(30*time.Second, 1, 3)
	}
	e.requireModes(10*time.Second, map[int64]string{1: "follower", 3: "leader"})
	e.start(30*time.Second, rest...)
}

// logPhantom appends to stopped member id's txn log a create of path in
// the epoch of its last txn, one zxid after it (as the files of both kinds
// have one format), and returns its zxid.
func (e *mixedEnsemble) logPhantom(id int64, path string) int64 {
	e.t.Helper()
	st, err := storage.Open(storage.Options{DataDir: e.members[id].dataDir})
	if err != nil {
		e.t.Fatal(err)
	}
	rs, err := st.Restore(datatree.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	hdr := proto.TxnHeader{ClientID: 0x100, Cxid: 1, Zxid: rs.LastZxid + 1, Time: time.Now().UnixMilli(), Type: int32(proto.OpCreate)}
	if err := st.Append(&hdr, &proto.CreateTxn{Path: path, Data: []byte(path[1:]), ACL: proto.OpenACLUnsafe, ParentCVersion: -1, Op: int32(proto.OpCreate)}, nil); err != nil {
		e.t.Fatal(err)
	}
	if err := st.Commit(); err != nil {
		e.t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		e.t.Fatal(err)
	}
	return hdr.Zxid
}

// observersOfBothKinds: participants 1-3, where 3 (the larger sid, with
// 1 in the first quorum) leads, are observed by zkd 4 and Apache 5, so
// that each kind of leader has an observer of either kind. Observers
// sync with the leader (DIFF), take committed txns as INFORM, serve
// reads, forward writes, syncs and sessions to the leader, and after a
// restart catch up on what they missed.
func observersOfBothKinds(t *testing.T, e *mixedEnsemble) {
	e.startLedBy3(2, 4, 5)
	all := map[int64]string{1: "follower", 2: "follower", 3: "leader", 4: "observer", 5: "observer"}
	e.requireModes(20*time.Second, all)
	e.requireLog(5, time.Second, `Observing new leader sid=3`)
	e.requireWrites("observed", 1, 2, 3, 4, 5)
	e.requireEphemerals("observed", 3, 4, 5)
	for _, mv := range [][2]int64{{4, 5}, {5, 1}, {1, 4}} {
		if res := e.moveSession(mv[0], mv[1]); res != "ok" {
			t.Fatalf("session from %s to %s: %s", e.members[mv[0]].name(), e.members[mv[1]].name(), res)
		}
	}

	// The observers miss writes while down, and catch up on restart.
	e.stop(4)
	e.stop(5)
	e.requireWrites("unobserved", 1, 3)
	e.start(30*time.Second, 4, 5)
	e.requireModes(20*time.Second, all)
	for _, id := range []int64{4, 5} {
		e.requireRead(id, "/unobserved-via-1", "unobserved")
	}
	e.requireWrites("reobserved", 2, 4, 5)
}

// requireRevalidated checks that zkd member id, a learner, checked the
// sessions moved to it with its leader and got answers (REVALIDATE).
func (e *mixedEnsemble) requireRevalidated(id int64) {
	e.t.Helper()
	m := e.members[id]
	valid := metricvalue.OfSeries(e.t, m.zkd.Registry, "zkd_quorum_session_revalidations_total", "result", "valid")
	if valid == 0 {
		e.t.Errorf("%s: no session re-attach answered valid by its leader (zkd_quorum_session_revalidations_total)", m.name())
	}
}

// apacheLeadsZkd: Apache 3 and zkd 1 form the first quorum, so Apache
// (the larger sid) must lead. (Starting all three at once lets zkd 1 and
// 2 settle on 2 before Apache's vote reaches them, now and then.) zkd
// follows Apache: DIFF, writes, sessions, ephemerals, session moves.
// A fresh zkd 2 then joins the running quorum and is synced by a SNAP
// from Apache's leader. Leader failover works (zkd 1 and 2, both with
// every txn, elect 2), and Apache 3 rejoins with a DIFF from zkd's
// leader.
func apacheLeadsZkd(t *testing.T, e *mixedEnsemble) {
	e.startApacheFirst(30*time.Second, []int64{3}, 1)
	e.requireModes(10*time.Second, map[int64]string{1: "follower", 3: "leader"})
	e.requireWrites("apache-leads", 1, 3)
	e.requireEphemerals("apache-leads", 1, 3)
	// zkd's follower logs the digests Apache's leader sends and its tree
	// matches every one.
	e.requireDigests(1, 3)
	for _, mv := range [][2]int64{{1, 3}, {3, 1}} {
		if res := e.moveSession(mv[0], mv[1]); res != "ok" {
			t.Fatalf("session from %s to %s: %s", e.members[mv[0]].name(), e.members[mv[1]].name(), res)
		}
	}

	// A fresh zkd 2 joins the running mixed quorum: both members answer
	// its election with the established epoch, and Apache's leader syncs
	// it with a SNAP (the database streamed after the packet).
	e.start(20*time.Second, 2)
	e.requireModes(20*time.Second, map[int64]string{1: "follower", 2: "follower", 3: "leader"})
	e.requireLog(3, time.Second, `Sending snapshot last zxid of peer is 0x0`)
	e.requireRead(2, "/apache-leads-via-3", "apache-leads")

	// Leader failover: the zkd members, both holding every txn, elect
	// zkd 2 (the larger sid) and keep the data.
	e.stop(3)
	e.requireModes(20*time.Second, map[int64]string{1: "follower", 2: "leader"})
	e.requireRead(1, "/apache-leads-via-3", "apache-leads")
	e.requireRead(2, "/apache-leads-via-1", "apache-leads")
	e.requireWrites("zkd-leads", 1, 2)

	// Apache rejoins with history: both zkd members answer with the
	// established epoch, so it decides, and zkd's leader syncs it with a
	// DIFF.
	e.start(30*time.Second, 3)
	e.requireModes(20*time.Second, map[int64]string{1: "follower", 2: "leader", 3: "follower"})
	e.requireLog(3, time.Second, `Getting a diff from the leader 0x[1-9][0-9a-f]{8}`)
	e.requireRead(3, "/zkd-leads-via-1", "zkd-leads")
	e.requireWrites("rejoined", 1, 2, 3)
	e.requireEphemerals("rejoined", 1, 2, 3)
}

// zkdJoinsApacheBySnap: Apache 1 and 2 form a quorum and take writes;
// then a fresh zkd 3 joins. Its last zxid (0) is older than anything
// Apache's leader can replay (its txn log starts at 0x100000001), so
// LearnerHandler.syncFollower sends SNAP: an empty SNAP packet followed by
// the raw serialized database (ZKDatabase.serializeSnapshot: session
// count, sessions, ACL cache, nodes) and the string "BenWasHere", then
// NEWLEADER. zkd reads the database from the stream, installs it and
// follows; it serves the writes and the open session it got that way.
func zkdJoinsApacheBySnap(t *testing.T, e *mixedEnsemble) {
	e.start(30*time.Second, 1, 2)
	e.requireModes(10*time.Second, map[int64]string{1: "follower", 2: "leader"})
	// One session, kept open: it must arrive with the snapshot.
	c, err := e.connect(1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := call(5*time.Second, func() (string, error) {
			return c.Create(fmt.Sprintf("/pre%d", i), []byte("x"), 0, zk.WorldACL(zk.PermAll))
		}); err != nil {
			t.Fatal(err)
		}
	}

	e.start(0, 3)
	e.requireLog(2, 15*time.Second, `Sending snapshot last zxid of peer is 0x0, zxid of leader is 0x1[0-9a-f]{8}`)
	e.requireModes(20*time.Second, map[int64]string{1: "follower", 2: "leader", 3: "follower"})
	e.requireLog(3, time.Second, `installed leader's snapshot`)
	e.requireRead(3, "/pre19", "x")
	if res := e.moveSession(1, 3); res != "ok" {
		t.Errorf("session from apache 1 to zkd 3 after its SNAP: %s", res)
	}
	e.requireWrites("after-snap", 1, 2, 3)
}

// apacheJoinsZkdBySnap: zkd 1 and 2 take writes with a small snapCount,
// restart (so the leader's in-memory history starts at its newest
// snapshot) and a fresh Apache 3 joins. zkd's leader sends SNAP as
// ZooKeeper does (an empty packet, then the database and "BenWasHere"),
// and Apache (Learner.syncWithLeader) loads it and follows.
func apacheJoinsZkdBySnap(t *testing.T, e *mixedEnsemble) {
	e.start(0, 1, 2)
	e.requireModes(10*time.Second, map[int64]string{1: "follower", 2: "leader"})
	c, err := e.connect(2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := call(5*time.Second, func() (string, error) {
			return c.Create(fmt.Sprintf("/pre%d", i), []byte("x"), 0, zk.WorldACL(zk.PermAll))
		}); err != nil {
			t.Fatal(err)
		}
	}
	e.requireLog(2, 5*time.Second, `"snapshot written"`)
	e.stop(1)
	e.stop(2)
	e.start(0, 1, 2)
	e.requireModes(10*time.Second, map[int64]string{1: "follower", 2: "leader"})

	e.start(30*time.Second, 3)
	if e.members[3].startErr != "" {
		t.Fatalf("Apache 3 did not serve after a SNAP from zkd: %s", e.members[3].startErr)
	}
	e.requireLog(3, time.Second, `Getting a snapshot from leader 0x1[0-9a-f]{8}`)
	e.requireModes(10*time.Second, map[int64]string{1: "follower", 2: "leader", 3: "follower"})
	e.requireRead(3, "/pre29", "x")
	e.requireWrites("after-snap", 1, 2, 3)
}

// requireServing waits (up to d) until, among ids, one leads and the
// others follow, and returns the leader.
func (e *mixedEnsemble) requireServing(d time.Duration, ids ...int64) int64 {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		var leader int64
		followers := 0
		got := map[int64]string{}
		for _, id := range ids {
			got[id] = e.mode(id)
			switch got[id] {
			case "leader":
				leader = id
			case "follower":
				followers++
			}
		}
		if leader != 0 && followers == len(ids)-1 {
			return leader
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("members %v not serving after %v: modes %v", ids, d, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replaceWithZkd stops Apache member id and starts zkd on its data
// directory (ZooKeeper's layout: myid, version-2/, currentEpoch,
// acceptedEpoch), as an operator migrating an ensemble would.
func (e *mixedEnsemble) replaceWithZkd(id int64) {
	e.t.Helper()
	e.stop(id)
	m := e.members[id]
	m.apache = false
	e.startZkd(m)
}

// rollingReplacement: an all-Apache ensemble with data is migrated to zkd
// one member at a time, followers first, each zkd starting on the data
// directory its Apache server left. Each zkd member rejoins with that
// history (DIFF from the leader) and the data survives every step.
func rollingReplacement(t *testing.T, e *mixedEnsemble) {
	e.start(30*time.Second, 1, 2, 3)
	leader := e.requireServing(10*time.Second, 1, 2, 3)
	e.requireWrites("apache-only", 1, 2, 3)
	var followers []int64
	for _, id := range []int64{1, 2, 3} {
		if id != leader {
			followers = append(followers, id)
		}
	}
	for i, f := range followers {
		e.replaceWithZkd(f)
		if got := e.requireServing(20*time.Second, 1, 2, 3); got != leader {
			t.Fatalf("after replacing %d: leader %d, want %d", f, got, leader)
		}
		// The Apache leader synced it from the history it brought.
		e.requireLog(leader, time.Second, fmt.Sprintf(`Synchronizing with Learner sid: %d .*peerLastZxid=0x1[0-9a-f]{8}`, f))
		e.requireLog(leader, time.Second, fmt.Sprintf(`Sending DIFF zxid=0x[0-9a-f]+ +for peer sid: %d`, f))
		e.requireRead(f, "/apache-only-via-1", "apache-only")
		e.requireWrites(fmt.Sprintf("step-%d", i), 1, 2, 3)
	}
	e.replaceWithZkd(leader)
	newLeader := e.requireServing(20*time.Second, 1, 2, 3)
	t.Logf("all zkd; leader %d", newLeader)
	for _, id := range []int64{1, 2, 3} {
		e.requireRead(id, "/apache-only-via-2", "apache-only")
		e.requireRead(id, "/step-1-via-3", "step-1")
	}
	e.requireWrites("zkd-only", 1, 2, 3)
}
