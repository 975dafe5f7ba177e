package transport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/quorum/election"
	"github.com/zkd-io/zkd/server/testpeer"
)

// TestElectionWithApacheZooKeeper runs one zkd Manager as server 1 of an
// ensemble whose servers 2 and 3 are Apache ZooKeeper 3.8. All of them
// start with empty logs; zkd has the lowest sid, so an Apache server must
// lead (server 3, unless server 2 and zkd decide before 3 is up). The
// Apache servers can form a quorum without zkd, which never joins over ZAB;
// the point is that all three agree in the election, that zkd speaks the
// handshake, framing and notification format Apache accepts, and that it
// follows Apache's duplicate-connection rule (as the smallest sid, its own
// dials must be answered by Apache dialling back).
func TestElectionWithApacheZooKeeper(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two JVMs")
	}
	checkNoLeaks(t)
	// Check the tools here: the servers are started from other goroutines,
	// where a missing tool could not stop the test cleanly.
	testpeer.Java(t)
	testpeer.ApacheClasspath(t)

	qc := quorumConfig(t, 3)
	m := startManager(t, qc, 1, nil)
	type result struct {
		leader int64
		state  election.State
		err    error
	}
	zkd := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		leader, st, err := m.RunElection(ctx, 0, 0)
		zkd <- result{leader, st, err}
	}()

	extra := map[string]string{"initLimit": "10", "syncLimit": "5"}
	for _, s := range qc.Servers {
		a := s.Addrs[0]
		extra["server."+strconv.FormatInt(s.ID, 10)] = fmt.Sprintf("%s:%d:%d", a.Host, a.QuorumPort, a.ElectionPort)
	}
	// An Apache quorum member serves only once a quorum has formed, and
	// StartApacheZK waits for that, so both must start together.
	apache := make(map[int64]*testpeer.ApacheZK)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range qc.Servers[1:] {
		dataDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dataDir, "myid"), []byte(strconv.FormatInt(s.ID, 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			z := testpeer.StartApacheZK(t, testpeer.ApacheOptions{
				DataDir:            dataDir,
				Host:               s.Addrs[0].Host,
				TickTime:           500 * time.Millisecond,
				DisableAdminServer: true,
				ExtraConfig:        extra,
				StartTimeout:       45 * time.Second,
			})
			mu.Lock()
			apache[s.ID] = z
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(apache) != 2 {
		t.Fatal("Apache ZooKeeper servers did not start")
	}

	var got result
	select {
	case got = <-zkd:
	case <-time.After(30 * time.Second):
		t.Fatalf("zkd did not decide while Apache formed a quorum; Apache 3 log:\n%s", apache[3].LogTail(60))
	}
	// Which Apache server zkd elects depends on which JVM came up first: if
	// server 2 and zkd elect 2 before server 3 is up, zkd's vote decides
	// that round. zkd never follows over ZAB, so a leader that only zkd
	// supports gives up after initLimit and 2 and 3 elect again without it;
	// zkd's answer is then older than Apache's current modes. Either way
	// zkd, with the lowest sid and zxid, must follow an Apache server, and
	// that server must have led in the round zkd decided.
	if got.err != nil || got.state != election.Following || (got.leader != 2 && got.leader != 3) {
		t.Fatalf("zkd: leader %d, %v, err %v; want FOLLOWING server 2 or 3", got.leader, got.state, got.err)
	}
	t.Logf("zkd follows server %d", got.leader)
	if !strings.Contains(apacheLog(t, apache[got.leader]), "LEADING") {
		t.Errorf("Apache server %d, which zkd follows, never logged LEADING; log tail:\n%s",
			got.leader, apache[got.leader].LogTail(80))
	}

	// Apache's own view now: exactly one of its servers leads and the other
	// follows it.
	leaders := 0
	for sid, z := range apache {
		srvr, err := testpeer.FourLetter(z.Addr, "srvr", 5*time.Second)
		switch {
		case err != nil:
			t.Errorf("Apache server %d srvr: %v", sid, err)
		case strings.Contains(srvr, "Mode: leader"):
			leaders++
		case !strings.Contains(srvr, "Mode: follower"):
			t.Errorf("Apache server %d srvr: %q; want Mode: leader or follower", sid, srvr)
		}
	}
	if leaders != 1 {
		t.Errorf("%d Apache servers lead; want exactly one", leaders)
	}
	sawVote := false
	wantVote := fmt.Sprintf("n.sid:1, n.state:LOOKING, n.leader:%d,", got.leader)
	for sid, z := range apache {
		log := apacheLog(t, z)
		for line := range strings.Lines(log) {
			if strings.Contains(line, wantVote) {
				t.Logf("Apache server %d: %s", sid, strings.TrimSpace(line))
				sawVote = true
				break
			}
		}
		if strings.Contains(log, "Received packet with invalid packet") ||
			strings.Contains(log, "Initial message parsing error") {
			t.Errorf("Apache server %d rejected zkd's election traffic; log tail:\n%s", sid, z.LogTail(60))
		}
	}
	if !sawVote {
		t.Errorf("no Apache server logged zkd's vote for server %d (%q); Apache 3 log tail:\n%s",
			got.leader, wantVote, apache[3].LogTail(80))
	}
	// zkd ends up with one connection to each Apache server, each dialled
	// by Apache (the larger sid).
	eventually(t, 5*time.Second, "zkd connected to both Apache servers", func() bool {
		return len(m.ConnectedPeers()) == 2
	})
	for _, sid := range []int64{2, 3} {
		if c := connOf(m, sid); c != nil && c.dialled {
			t.Errorf("connection to Apache server %d was dialled by zkd, the smaller sid", sid)
		}
	}
}

// apacheLog returns everything an Apache server has logged so far.
func apacheLog(t *testing.T, z *testpeer.ApacheZK) string {
	t.Helper()
	b, err := os.ReadFile(z.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
