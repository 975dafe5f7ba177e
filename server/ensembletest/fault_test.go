package ensembletest

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fault tests: each starts an ensemble, runs a recorded workload through a
// fault, and checks the history (linearizability of writes, CASes and
// sync-reads; monotonic plain reads; no acknowledged create lost) and that
// the replicas converge to the same state. Every test runs once per kind
// ZKD_ENSEMBLE_KIND selects; zkd skips until it runs ensembles.

// faultOptions are the ensemble settings fault tests share: a short tick so
// that elections and syncLimit expiries take a second or two.
func faultOptions(kind Kind) Options {
	return Options{Kind: kind, TickTime: 300 * time.Millisecond, InitLimit: 10, SyncLimit: 5}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestFaultKillLeader kills the leader of a 5-node ensemble (with an
// observer) under write load, lets the rest elect a new one and serve, then
// brings the old leader back.
func TestFaultKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	ForEachKind(t, func(t *testing.T, kind Kind) {
		opts := faultOptions(kind)
		opts.Size, opts.Observers = 5, 1
		c := Start(t, opts)
		w := NewWorkload(t, c, WorkloadOptions{})
		w.Start()
		must(t, w.WaitProgress(100, 30*time.Second))
		old := c.Leader()
		t.Logf("killing leader %v", old)
		old.Kill()
		nl, err := c.WaitLeaderAmong(c.Others(old), 30*time.Second)
		must(t, err)
		t.Logf("new leader %v", nl)
		must(t, w.WaitProgress(100, 60*time.Second))
		old.Restart()
		must(t, w.WaitProgress(50, 30*time.Second))
		w.Check()
		w.CheckReplicas()
	})
}

// TestFaultLaggingFollower restarts a follower three times: after it
// missed a few transactions (the leader sends DIFF); after it missed more
// than the leader keeps in memory (500 committed proposals, Apache's
// minimum zookeeper.commitLogCount): Apache, told not to diff from its txn
// log (zookeeper.snapshotSizeFactor=-1), must send SNAP, while zkd may DIFF
// from its log, which it keeps until autopurge; and after it lost its disk
// (version-2 wiped, myid kept), where both must send SNAP. snapCount is
// small so that snapshots and logs roll meanwhile.
func TestFaultLaggingFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	ForEachKind(t, func(t *testing.T, kind Kind) {
		opts := faultOptions(kind)
		opts.SnapCount = 50
		opts.JavaProps = map[string]string{"zookeeper.snapshotSizeFactor": "-1"}
		c := Start(t, opts)
		w := NewWorkload(t, c, WorkloadOptions{Clients: 6, ThinkTime: 5 * time.Millisecond})
		w.Start()
		must(t, w.WaitProgress(50, 30*time.Second))
		f := c.Followers()[0]

		// DIFF: a few writes while the follower is down, load held.
		w.Hold()
		f.Stop()
		cl, err := w.H.Connect(c.Addrs(), 6*time.Second)
		must(t, err)
		for i := range 5 {
			cl.Write(w.Keys()[i%len(w.Keys())], "diff-"+string(rune('a'+i)))
		}
		cl.Close()
		marks := logMarks(c)
		f.Restart()
		expectSync(t, f, marks, "DIFF")
		w.Release()
		must(t, w.WaitProgress(50, 30*time.Second))

		// SNAP: many writes while the follower is down, load running.
		f.Stop()
		t0 := time.Now()
		must(t, w.WaitTxns(600, 60*time.Second))
		t.Logf("600 transactions while the follower was down took %v", time.Since(t0))
		marks = logMarks(c)
		f.Restart()
		if kind == Apache {
			expectSync(t, f, marks, "SNAP")
		} else {
			t.Logf("%v synchronised with %v", f, syncModes(t, f, marks))
		}
		must(t, w.WaitProgress(50, 30*time.Second))

		// SNAP: a follower with an empty disk.
		f.Stop()
		must(t, os.RemoveAll(filepath.Join(f.DataDir, "version-2")))
		must(t, w.WaitTxns(50, 30*time.Second))
		marks = logMarks(c)
		f.Restart()
		expectSync(t, f, marks, "SNAP")
		must(t, w.WaitProgress(50, 30*time.Second))
		w.Check()
		w.CheckReplicas()
	})
}

// TestFaultTruncOldLeader makes the leader log a proposal no follower
// receives (it is partitioned from them, a client of its own writes), kills
// it, lets the followers elect a new leader and move on, and restarts it:
// it must drop the proposal (Apache sends TRUNC) rather than keep a
// transaction nobody else has, which CheckReplicas would see. The partition
// stays until the others have a new leader: healed at once, the killed
// leader's orphaned socket would still deliver the proposal (the kernel
// retransmits it), and the new leader would rightly commit it.
func TestFaultTruncOldLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	if why := PartitionAvailable(); why != "" {
		t.Skip(why)
	}
	ForEachKind(t, func(t *testing.T, kind Kind) {
		opts := faultOptions(kind)
		// The lone client's session must outlive the old leader's
		// restart: its expiry would be a txn of the new leader's own.
		opts.Extra = map[string]string{"maxSessionTimeout": "60000"}
		c := Start(t, opts)
		w := NewWorkload(t, c, WorkloadOptions{})
		w.Start()
		must(t, w.WaitProgress(50, 30*time.Second))
		old := c.Leader()
		// A client of the leader alone; its write stays unacknowledged.
		lone, err := w.H.Connect([]string{old.Addr()}, 40*time.Second)
		must(t, err)
		defer lone.Close()
		if out := lone.SyncRead(w.Keys()[0]); out.Outcome != OK {
			t.Fatalf("read through the leader: %v", out.Err)
		}
		// The new leader must not commit anything of its own before the
		// old one comes back, or Apache sends it SNAP instead of TRUNC
		// (the old leader's extra zxid is then inside the new leader's
		// log, in an older epoch). So the load idles meanwhile.
		w.Hold()
		c.Partition([]*Node{old}, c.Others(old))
		done := make(chan Output, 1)
		go func() { done <- lone.Write(w.Keys()[0], "orphan") }()
		time.Sleep(500 * time.Millisecond) // the leader logs the proposal
		old.Kill()
		if out := <-done; out.Outcome == OK {
			t.Fatalf("write through the partitioned leader was acknowledged")
		}
		logged := logHolds(t, old, "orphan")
		t.Logf("the old leader's txn log holds the orphan write: %v", logged)
		nl, err := c.WaitLeaderAmong(c.Others(old), 30*time.Second)
		must(t, err)
		t.Logf("new leader %v", nl)
		c.Heal()
		marks := logMarks(c)
		old.Restart()
		w.Release()
		modes := syncModes(t, old, marks)
		t.Logf("old leader synced with %v; %q", modes, logLines(c, marks, "Synchronizing with Learner", "Truncating"))
		// TRUNC is the usual way; SNAP is correct too (the new leader
		// then committed something of its own first, a session expiry
		// say). DIFF alone would keep the orphan: CheckReplicas would
		// catch that as well.
		if logged && !slices.Contains(modes, "TRUNC") && !slices.Contains(modes, "SNAP") {
			t.Errorf("the old leader logged a proposal nobody else has, but was synchronised with %v, not TRUNC or SNAP", modes)
		}
		must(t, w.WaitProgress(50, 30*time.Second))
		w.Check()
		w.CheckReplicas()
	})
}

// TestFaultPauseLeader stops the leader (SIGSTOP) for longer than
// syncLimit, so the others elect a new leader, then continues it: it must
// notice it lost its followers and rejoin as a follower.
func TestFaultPauseLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	ForEachKind(t, func(t *testing.T, kind Kind) {
		opts := faultOptions(kind)
		c := Start(t, opts)
		w := NewWorkload(t, c, WorkloadOptions{})
		w.Start()
		must(t, w.WaitProgress(50, 30*time.Second))
		old := c.Leader()
		old.Pause()
		nl, err := c.WaitLeaderAmong(c.Others(old), 30*time.Second)
		must(t, err)
		t.Logf("new leader %v while %v is paused", nl, old)
		must(t, w.WaitProgress(100, 60*time.Second))
		// Well past syncLimit, in case the election was quick.
		time.Sleep(time.Duration(opts.SyncLimit) * opts.TickTime)
		old.Resume()
		step := time.Now()
		must(t, c.WaitServing(60*time.Second))
		t.Logf("%v serves again %v after SIGCONT", old, time.Since(step).Round(time.Millisecond))
		if _, err := c.WaitLeader(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		must(t, w.WaitProgress(50, 30*time.Second))
		w.Check()
		w.CheckReplicas()
	})
}

// TestFaultPartitionLeader cuts the leader off from the other nodes under
// load; the majority elects a new leader and serves, then the partition
// heals and the old leader rejoins.
func TestFaultPartitionLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	if why := PartitionAvailable(); why != "" {
		t.Skip(why)
	}
	ForEachKind(t, func(t *testing.T, kind Kind) {
		c := Start(t, faultOptions(kind))
		w := NewWorkload(t, c, WorkloadOptions{})
		w.Start()
		must(t, w.WaitProgress(50, 30*time.Second))
		old := c.Leader()
		c.Partition([]*Node{old}, c.Others(old))
		nl, err := c.WaitLeaderAmong(c.Others(old), 30*time.Second)
		must(t, err)
		t.Logf("new leader %v", nl)
		must(t, w.WaitProgress(100, 60*time.Second))
		c.Heal()
		must(t, c.WaitServing(60*time.Second))
		must(t, w.WaitProgress(50, 30*time.Second))
		w.Check()
		w.CheckReplicas()
	})
}

// TestFaultRollingRestart stops and restarts every node in turn, the
// leader last, under load.
func TestFaultRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	ForEachKind(t, func(t *testing.T, kind Kind) {
		c := Start(t, faultOptions(kind))
		w := NewWorkload(t, c, WorkloadOptions{})
		w.Start()
		must(t, w.WaitProgress(50, 30*time.Second))
		leader := c.Leader()
		order := append(c.Others(leader), leader)
		for _, n := range order {
			n.Stop()
			must(t, w.WaitProgress(30, 30*time.Second))
			n.Restart()
			must(t, w.WaitProgress(30, 30*time.Second))
		}
		w.Check()
		w.CheckReplicas()
	})
}

// logMarks records how long each node's log is, so that syncModes reads
// only what was logged afterwards.
func logMarks(c *Cluster) map[*Node]int64 {
	marks := make(map[*Node]int64)
	for _, n := range c.Nodes {
		if st, err := os.Stat(n.LogFile); err == nil {
			marks[n] = st.Size()
		}
	}
	return marks
}

// syncModes returns how learner n was synchronised with its leader since it
// was restarted (marks taken just before): for Apache from its Learner log
// lines ("Getting a diff from the leader", "Getting a snapshot from
// leader", "Truncating log to get in sync with the leader"; the leader logs
// TRUNC only at debug level), for zkd from its zkd_quorum_sync_total
// counter, which starts at zero with the process.
func syncModes(t *testing.T, n *Node, marks map[*Node]int64) []string {
	t.Helper()
	var modes []string
	if n.Kind == Zkd {
		vals, err := n.CounterValues("zkd_quorum_sync_total", "type")
		if err != nil {
			t.Errorf("sync modes: %v", err)
		}
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			for range int(vals[k]) {
				modes = append(modes, strings.ToUpper(k))
			}
		}
		return modes
	}
	b, err := os.ReadFile(n.LogFile)
	if err != nil || int64(len(b)) < marks[n] {
		t.Errorf("sync modes: read %s: %v", n.LogFile, err)
		return nil
	}
	{
		for line := range strings.Lines(string(b[marks[n]:])) {
			for m, marker := range map[string]string{"DIFF": "Getting a diff from the leader", "SNAP": "Getting a snapshot from leader", "TRUNC": "Truncating log to get in sync"} {
				if strings.Contains(line, marker) {
					modes = append(modes, m)
				}
			}
		}
	}
	return modes
}

// expectSync checks that the restarted learner n was synchronised with the
// given mode (and nothing else).
func expectSync(t *testing.T, n *Node, marks map[*Node]int64, want string) {
	t.Helper()
	got := syncModes(t, n, marks)
	t.Logf("%v synchronised with %v", n, got)
	if !slices.Contains(got, want) {
		t.Errorf("%v was synchronised with %v, want %s", n, got, want)
	}
}

// logLines returns the lines logged since marks that contain any of subs.
func logLines(c *Cluster, marks map[*Node]int64, subs ...string) []string {
	var lines []string
	for _, n := range c.Nodes {
		b, err := os.ReadFile(n.LogFile)
		if err != nil || int64(len(b)) < marks[n] {
			continue
		}
		for line := range strings.Lines(string(b[marks[n]:])) {
			for _, s := range subs {
				if strings.Contains(line, s) {
					lines = append(lines, fmt.Sprintf("node %d: %s", n.ID, strings.TrimSpace(line)))
					break
				}
			}
		}
	}
	return lines
}

// logHolds reports whether any of the node's txn logs contains s.
func logHolds(t *testing.T, n *Node, s string) bool {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(n.DataDir, "version-2", "log.*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}
