package zkserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

func startDurable(t *testing.T, dir string, snapCount int) *zkserver.Server {
	t.Helper()
	store, err := storage.Open(storage.Options{DataDir: dir, SnapCount: snapCount, PreAllocSize: 64 << 10,
		ForceSync: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return zkservertest.Start(t, zkserver.Options{Store: store})
}

func stop(t *testing.T, srv *zkserver.Server) {
	t.Helper()
	srv.StopAsync()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.AwaitTerminated(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRestartKeepsEverything writes through the client protocol, stops
// the server, starts a new one on the same directory and reads the same
// tree back: data, every stat field, ACLs and the ephemeral of a session
// that is still alive. snapCount is small, so the data comes back from a
// snapshot plus the log after it.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	srv := startDurable(t, dir, 20)
	addr := srv.Addr().String()
	conn, _, err := zk.Connect([]string{addr}, 20*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.AddAuth("digest", []byte("alice:pw")); err != nil {
		t.Fatal(err)
	}
	acl := zk.WorldACL(zk.PermAll)
	mustCreate := func(path, data string, flags int32, acl []zk.ACL) string {
		p, err := conn.Create(path, []byte(data), flags, acl)
		if err != nil {
			t.Fatalf("create %s: %v", path, err)
		}
		return p
	}
	paths := []string{mustCreate("/app", "root", 0, acl)}
	for i := 0; i < 30; i++ {
		paths = append(paths, mustCreate("/app/item-", fmt.Sprint(i), zk.FlagSequence, acl))
	}
	paths = append(paths, mustCreate("/app/eph", "e", zk.FlagEphemeral, acl))
	paths = append(paths, mustCreate("/secret", "s", 0, zk.DigestACL(zk.PermRead, "alice", "pw")))
	if _, err := conn.Set("/app", []byte("changed"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Multi(&zk.CreateRequest{Path: "/m", Data: []byte("1"), Acl: acl},
		&zk.SetDataRequest{Path: "/m", Data: []byte("2"), Version: 0}); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, "/m", "/")
	if err := conn.Delete(paths[5], -1); err != nil {
		t.Fatal(err)
	}
	deleted := paths[5]
	paths = append(paths[:5], paths[6:]...)
	type node struct {
		data string
		stat zk.Stat
		acl  []zk.ACL
	}
	read := func(c *zk.Conn) map[string]node {
		out := map[string]node{}
		for _, p := range paths {
			data, st, err := c.Get(p)
			if err != nil {
				t.Fatalf("get %s: %v", p, err)
			}
			a, _, err := c.GetACL(p)
			if err != nil {
				t.Fatalf("getACL %s: %v", p, err)
			}
			out[p] = node{string(data), *st, a}
		}
		return out
	}
	before := read(conn)
	session := conn.SessionID()
	stop(t, srv)

	srv2 := startDurable(t, dir, 20)
	conn2, _, err := zk.Connect([]string{srv2.Addr().String()}, 20*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if err := conn2.AddAuth("digest", []byte("alice:pw")); err != nil {
		t.Fatal(err)
	}
	after := read(conn2)
	for p, b := range before {
		a := after[p]
		if a.data != b.data || a.stat != b.stat || fmt.Sprint(a.acl) != fmt.Sprint(b.acl) {
			t.Errorf("%s after restart:\n got %+v\nwant %+v", p, a, b)
		}
	}
	if after["/app/eph"].stat.EphemeralOwner != session {
		t.Errorf("ephemeral owner %x, want the live session %x", after["/app/eph"].stat.EphemeralOwner, session)
	}
	if ok, _, err := conn2.Exists(deleted); err != nil || ok {
		t.Errorf("deleted %s came back (exists=%v err=%v)", deleted, ok, err)
	}
	// The next write continues the zxid sequence after the last one logged
	// (the delete, which set /app's pzxid).
	st, err := conn2.Set("/app", []byte("again"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if last := before["/app"].stat.Pzxid; st.Mzxid <= last {
		t.Errorf("write after restart got zxid 0x%x, not after the last logged 0x%x", st.Mzxid, last)
	}
}

// TestGroupCommit shows one fsync covering many writes: concurrent
// clients' creates queue while an fsync runs and share the next one.
func TestGroupCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	store, err := storage.Open(storage.Options{DataDir: t.TempDir(), PreAllocSize: 1 << 20, ForceSync: true,
		Logger: zerolog.Nop(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := zkservertest.Start(t, zkserver.Options{Store: store})
	const clients, perClient = 8, 50
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		go func(c int) {
			conn, _, err := zk.Connect([]string{srv.Addr().String()}, 20*time.Second, zk.WithLogInfo(false))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for i := 0; i < perClient; i++ {
				if _, err := conn.Create(fmt.Sprintf("/c%d-%d", c, i), []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(c)
	}
	for c := 0; c < clients; c++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	fsyncs := metricvalue.Of(t, reg, "zkd_txnlog_txns_per_fsync")
	txns := metricvalue.Sum(t, reg, "zkd_txnlog_txns_per_fsync")
	// 400 creates plus 8 createSessions were logged.
	if txns < clients*perClient {
		t.Fatalf("txn log counted %v txns, want at least %d", txns, clients*perClient)
	}
	if fsyncs == 0 || fsyncs >= txns {
		t.Fatalf("%v fsyncs for %v txns: writes were not grouped", fsyncs, txns)
	}
	t.Logf("%v txns in %v fsyncs (%.1f per fsync)", txns, fsyncs, txns/fsyncs)
}
