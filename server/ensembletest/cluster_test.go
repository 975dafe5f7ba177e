package ensembletest

import (
	"errors"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBuiltZkd()
	os.Exit(code)
}

// TestZooConfig checks the zoo.cfg a node gets for each kind.
func TestZooConfig(t *testing.T) {
	for _, tc := range []struct {
		kind      Kind
		want, not []string
	}{
		{Apache, []string{"admin.serverPort=", "admin.serverAddress=127.", "server.4=", ":observer\n"}, []string{"zkd.httpPort"}},
		{Zkd, []string{"zkd.httpPort=", "zkd.httpAddress=127.", "server.4=", ":observer\n"}, []string{"admin.serverPort"}},
	} {
		c := &Cluster{Opts: Options{Kind: tc.kind, Size: 3, Observers: 1, TickTime: defaultTickTime, InitLimit: 10, SyncLimit: 5, SnapCount: 100,
			Extra: map[string]string{"syncLimit": "7", "globalOutstandingLimit": "50"}}}
		for id := 1; id <= 4; id++ {
			c.Nodes = append(c.Nodes, &Node{ID: id, Observer: id == 4, Host: hostFor(1, id), ClientPort: 1000 + id, QuorumPort: 2000 + id, ElectionPort: 3000 + id, HTTPPort: 4000 + id, DataDir: "/d"})
		}
		cfg := c.zooConfig(c.Nodes[3])
		for _, w := range append(tc.want, "syncLimit=7\n", "globalOutstandingLimit=50\n", "snapCount=100\n", "peerType=observer\n", "clientPort=1004\n", "4lw.commands.whitelist=*\n") {
			if !strings.Contains(cfg, w) {
				t.Errorf("%s zoo.cfg lacks %q:\n%s", tc.kind, w, cfg)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(cfg, n) {
				t.Errorf("%s zoo.cfg has %q:\n%s", tc.kind, n, cfg)
			}
		}
		if strings.Count(cfg, "syncLimit=") != 1 {
			t.Errorf("Extra did not replace syncLimit:\n%s", cfg)
		}
		if strings.Contains(c.zooConfig(c.Nodes[0]), "peerType") {
			t.Errorf("participant has peerType")
		}
	}
}

func TestSrvrField(t *testing.T) {
	reply := "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nZxid: 0x100000003\nMode: follower\nNode count: 5\n"
	for key, want := range map[string]string{"Mode": "follower", "Zxid": "0x100000003", "Node count": "5"} {
		if got, ok := srvrField(reply, key); !ok || got != want {
			t.Errorf("srvrField(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := srvrField("This ZooKeeper instance is not currently serving requests\n", "Mode"); ok {
		t.Error("Mode found in a not-serving reply")
	}
}

// TestPartitionIsolatesLeader cuts the leader off from the other two
// nodes: they must elect a new leader among themselves, the old one must
// stop serving and refuse writes, and after Heal it must rejoin.
func TestPartitionIsolatesLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	if why := PartitionAvailable(); why != "" {
		t.Skip(why)
	}
	ForEachKind(t, func(t *testing.T, kind Kind) {
		c := Start(t, Options{Kind: kind})
		old := c.Leader()
		rest := c.Others(old)
		c.Partition([]*Node{old}, rest)

		nl, err := c.WaitLeaderAmong(rest, 30*time.Second)
		if err != nil {
			t.Fatalf("majority side: %v", err)
		}
		if nl == old {
			t.Fatalf("majority side elected the isolated node %v", old)
		}
		t.Logf("new leader %v", nl)
		if err := eventually(30*time.Second, func() error {
			if m, err := old.Mode(); err == nil {
				return errors.New("isolated old leader still reports mode " + m)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A client of the isolated node alone cannot write.
		if err := tryWrite(old.Addr(), 8*time.Second); err == nil {
			t.Fatalf("write through the isolated %v succeeded", old)
		} else {
			t.Logf("write through the isolated node: %v", err)
		}
		// The majority side can.
		if err := tryWrite(nl.Addr(), 15*time.Second); err != nil {
			t.Fatalf("write through the new leader: %v", err)
		}

		c.Heal()
		if err := c.WaitServing(60 * time.Second); err != nil {
			t.Fatalf("after heal: %v", err)
		}
		if l := c.Leader(); l != nl {
			t.Logf("leader changed again after heal: %v", l)
		}
		if m, err := old.Mode(); err != nil || m == "leader" {
			t.Fatalf("old leader after heal: %q, %v; want follower", m, err)
		}
	})
}

// tryWrite creates a znode through a client that knows only addr, giving
// up after timeout.
func tryWrite(addr string, timeout time.Duration) error {
	conn, _, err := zk.Connect([]string{addr}, 4*time.Second, zk.WithLogger(log.New(io.Discard, "", 0)))
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() {
		_, err := conn.Create("/ensembletest-probe-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return errors.New("no answer within " + timeout.String())
	}
}

// eventually polls f every 100ms until it returns nil or timeout passes.
func eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
