package zkserver_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// connectEnsemble opens a go-zookeeper session to the given members.
func connectEnsemble(t *testing.T, e *zkservertest.Ensemble, ids ...int64) *zk.Conn {
	t.Helper()
	var addrs []string
	for _, id := range ids {
		addrs = append(addrs, e.Addr(id))
	}
	c, events, err := zk.Connect(addrs, 4*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return c
			}
		case <-deadline:
			t.Fatalf("no session with %v", addrs)
		}
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func TestEnsembleServesClients(t *testing.T) {
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{})
	leader := e.WaitServing()
	follower := e.Followers(leader)[0]

	c := connectEnsemble(t, e, follower)
	if _, err := c.Create("/a", []byte("v1"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create via follower: %v", err)
	}
	stat, err := c.Set("/a", []byte("v2"), 0)
	if err != nil || stat.Version != 1 {
		t.Fatalf("set via follower: %+v, %v", stat, err)
	}
	// The follower's own client reads its write without a sync.
	if data, _, err := c.Get("/a"); err != nil || string(data) != "v2" {
		t.Fatalf("read-your-write on the follower: %q, %v", data, err)
	}
	if _, err := c.Create("/a", nil, 0, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("duplicate create via follower: %v, want node exists", err)
	}
	if _, err := c.Set("/a", []byte("x"), 7); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("set with a stale version via follower: %v, want bad version", err)
	}
	seq, err := c.Create("/a/s-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
	if err != nil || seq != "/a/s-0000000000" {
		t.Fatalf("sequential create via follower: %q, %v", seq, err)
	}
	res, err := c.Multi(&zk.CreateRequest{Path: "/m", Acl: zk.WorldACL(zk.PermAll)}, &zk.SetDataRequest{Path: "/a", Data: []byte("v3"), Version: 1})
	if err != nil || len(res) != 2 {
		t.Fatalf("multi via follower: %+v, %v", res, err)
	}
	eph, err := c.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatalf("ephemeral via follower: %v", err)
	}

	// Every member has it after a sync, and the ephemeral's owner is the
	// follower's session.
	for _, id := range e.Running() {
		ci := connectEnsemble(t, e, id)
		if _, err := ci.Sync("/a"); err != nil {
			t.Fatalf("member %d: sync: %v", id, err)
		}
		data, st, err := ci.Get("/a")
		if err != nil || string(data) != "v3" || st.Version != 2 {
			t.Fatalf("member %d: get /a after sync = %q %+v, %v", id, data, st, err)
		}
		_, est, err := ci.Exists(eph)
		if err != nil || est == nil || est.EphemeralOwner != c.SessionID() {
			t.Fatalf("member %d: ephemeral %s = %+v, %v; want owner %#x", id, eph, est, err, c.SessionID())
		}
		cfg, _, err := ci.Get("/zookeeper/config")
		if err != nil || !strings.Contains(string(cfg), "server.1=") || !strings.Contains(string(cfg), "version=") {
			t.Fatalf("member %d: /zookeeper/config = %q, %v", id, cfg, err)
		}
	}

	// Closing the session on the follower removes its ephemeral everywhere.
	c.Close()
	cl := connectEnsemble(t, e, leader)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := cl.Sync("/"); err != nil {
			t.Fatal(err)
		}
		ok, _, err := cl.Exists(eph)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ephemeral %s outlived its closed session", eph)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEnsembleFailover stops the leader under a client that holds an
// ephemeral: the others elect a new leader, the session moves to another
// member and keeps its ephemeral, every acknowledged write survives, and
// the old leader catches up when it comes back.
func TestEnsembleFailover(t *testing.T) {
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{})
	leader := e.WaitServing()
	c := connectEnsemble(t, e, 1, 2, 3)
	if _, err := c.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	var acked []string
	write := func(i int) error {
		p := fmt.Sprintf("/w%03d", i)
		_, err := c.Create(p, []byte(p), 0, zk.WorldACL(zk.PermAll))
		if err == nil || errors.Is(err, zk.ErrNodeExists) {
			acked = append(acked, p)
			return nil
		}
		return err
	}
	for i := 0; i < 20; i++ {
		if err := write(i); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	e.Stop(leader)
	newLeader := e.WaitServing()
	if newLeader == leader {
		t.Fatalf("leader %d still leads after it stopped", leader)
	}
	for i := 20; i < 40; i++ {
		deadline := time.Now().Add(15 * time.Second)
		for {
			err := write(i)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("write %d after failover: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if ok, _, err := c.Exists("/eph"); err != nil || !ok {
		t.Fatalf("the session's ephemeral after failover: %v, %v", ok, err)
	}
	// The client's server closed its connection (leaving broadcast, or
	// stopping): it re-attached, on the same member or a moved one.
	reattached := 0.0
	for _, id := range e.Running() {
		for _, where := range []string{"moved", "same_server"} {
			reattached += metricvalue.OfSeries(t, e.Registry(id), "zkd_server_sessions_reattached_total", "where", where)
		}
	}
	if reattached < 1 {
		t.Errorf("zkd_server_sessions_reattached_total = %v after failover", reattached)
	}

	e.Start(leader)
	e.WaitServing()
	back := connectEnsemble(t, e, leader)
	if _, err := back.Sync("/"); err != nil {
		t.Fatal(err)
	}
	for _, p := range acked {
		if data, _, err := back.Get(p); err != nil || string(data) != p {
			t.Fatalf("restarted member: acknowledged %s = %q, %v", p, data, err)
		}
	}
}

// TestEnsembleObserverAndMinority runs five voters and an observer: the
// observer serves and forwards writes; a write is acknowledged with two
// voters down; with three down the rest stop serving (a minority refuses
// every request) until one comes back.
func TestEnsembleObserverAndMinority(t *testing.T) {
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{Size: 5, Observers: 1})
	leader := e.WaitServing()
	if m := e.Modes()[6]; m != "observer" {
		t.Fatalf("member 6 Mode = %q, want observer (modes %v)", m, e.Modes())
	}
	obs := connectEnsemble(t, e, 6)
	if _, err := obs.Create("/via-observer", []byte("o"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("write via observer: %v", err)
	}

	var down []int64
	for _, id := range e.Followers(leader) {
		if id != 6 && len(down) < 2 {
			down = append(down, id)
		}
	}
	for _, id := range down {
		e.Stop(id)
	}
	c := connectEnsemble(t, e, leader)
	if _, err := c.Create("/with-three-voters", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("write with 3 of 5 voters: %v", err)
	}

	// A third voter down: no quorum. Every remaining member stops serving.
	var third int64
	for _, id := range e.Followers(leader) {
		if id != 6 {
			third = id
			break
		}
	}
	e.Stop(third)
	deadline := time.Now().Add(20 * time.Second)
	for len(e.Modes()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("members still serving without a quorum: %v", e.Modes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := testpeer.FourLetter(e.Addr(leader), "srvr", time.Second); err != nil || !strings.Contains(out, "not currently serving") {
		t.Fatalf("srvr on a member without quorum = %q, %v", out, err)
	}

	e.Start(third)
	e.WaitServing()
	c2 := connectEnsemble(t, e, e.Running()...)
	if _, err := c2.Sync("/"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/via-observer", "/with-three-voters"} {
		if ok, _, err := c2.Exists(p); err != nil || !ok {
			t.Fatalf("%s after quorum came back: %v, %v", p, ok, err)
		}
	}
}
