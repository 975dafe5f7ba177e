package ensembletest

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/testpeer"
)

// TestLeaderLogGap starts a zkd ensemble on the data directories of the
// shared Apache ZooKeeper 3.8 ensemble fixture, arranged so that the member
// that wins the election has a log that skips txns: its
// log.100000062 (txns 0x100000062..0x1000000ad) is gone, as if its snapshot
// had got ahead of its log before a crash (its snapshot.1000000ac lies in
// the gap). Member 1 holds only n1's first log file (up to 0x100000061), so
// it is behind the gap; a DIFF from the leader's log would leave it without
// the skipped txns, and a TRUNC to the txn before the gap would cut them if
// it held some. It must get a SNAP, the leader must count and log the gap,
// and all three members must then hold the same tree. Member 2 lacks n2's
// last log file, so it is behind too, but only within epoch 2, where the
// leader's log is whole: it gets a DIFF from that log.
func TestLeaderLogGap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an ensemble")
	}
	fixture := testpeer.ExtractEnsemble(t)
	v2 := func(member string, names ...string) string {
		return filepath.Join(append([]string{fixture, member, "data", "version-2"}, names...)...)
	}
	opts := faultOptions(Zkd)
	opts.Prepare = func(id int, dataDir string) error {
		dst := filepath.Join(dataDir, "version-2")
		switch id {
		case 1: // behind the gap, in epoch 1
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			for _, name := range []string{"log.100000001", "snapshot.0", "snapshot.100000060"} {
				b, err := os.ReadFile(v2("n1", name))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
					return err
				}
			}
			for _, name := range []string{"acceptedEpoch", "currentEpoch"} {
				if err := os.WriteFile(filepath.Join(dst, name), []byte("1"), 0o644); err != nil {
					return err
				}
			}
			return nil
		case 2: // up to 0x200000057
			if err := os.CopyFS(dst, os.DirFS(v2("n2"))); err != nil {
				return err
			}
			return os.Remove(filepath.Join(dst, "log.200000058"))
		default: // the whole history: the leader
			if err := os.CopyFS(dst, os.DirFS(v2("n1"))); err != nil {
				return err
			}
			return os.Remove(filepath.Join(dst, "log.100000062"))
		}
	}
	c := Start(t, opts)
	leader := c.Leader()
	if leader == nil || leader.ID != 3 {
		t.Fatalf("leader %v, want node 3 (the only one at 0x200000091)", leader)
	}
	behind := c.Nodes[0]
	if got := syncModes(t, behind, nil); !slices.Equal(got, []string{"SNAP"}) {
		t.Errorf("%v, whose log ends before the leader's gap, was synchronised with %v, want SNAP", behind, got)
	}
	if got := syncModes(t, c.Nodes[1], nil); !slices.Equal(got, []string{"DIFF"}) {
		t.Errorf("%v, behind the leader after its gap, was synchronised with %v, want DIFF", c.Nodes[1], got)
	}
	gaps, err := leader.CounterValues("zkd_quorum_sync_log_gaps_total", "")
	must(t, err)
	if gaps[""] != 1 {
		t.Errorf("leader's zkd_quorum_sync_log_gaps_total = %v, want 1", gaps[""])
	}
	if !strings.Contains(leader.LogTail(200), "the txn log skips txns") {
		t.Errorf("leader did not log the gap; log tail:\n%s", leader.LogTail(20))
	}

	var first string
	for i, n := range c.Nodes {
		tree, err := treeOf(n)
		must(t, err)
		if i == 0 {
			first = tree
		} else if tree != first {
			t.Errorf("%v holds a different tree from %v:\n%s\nvs\n%s", n, c.Nodes[0], tree, first)
		}
	}
	if n := strings.Count(first, "\n"); n < 40 {
		t.Errorf("the tree has %d znodes, want the fixture's (over 40):\n%s", n, first)
	}
	// The followers synced to the end of epoch 2, and the reads above
	// logged session txns in epoch 3: neither follower lagged behind by
	// more than those few txns.
	lagging, err := leader.CounterValues("zkd_quorum_follower_lag_warnings_total", "server_id")
	must(t, err)
	if len(lagging) != 0 {
		t.Errorf("leader warned of lagging followers: %v", lagging)
	}
}

// treeOf renders every znode outside /zookeeper that node n holds, after a
// sync, with its data and the stat fields that txns set. It reads as the
// fixture's user.
func treeOf(n *Node) (string, error) {
	conn, _, err := zk.Connect([]string{n.Addr()}, 10*time.Second, zk.WithLogger(quietLogger{}))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// The fixture's digest ACLs let user alice read everything.
	if err := conn.AddAuth("digest", []byte("alice:pw")); err != nil {
		return "", fmt.Errorf("%v: auth: %w", n, err)
	}
	if _, err := conn.Sync("/"); err != nil {
		return "", fmt.Errorf("%v: sync: %w", n, err)
	}
	var b strings.Builder
	todo := []string{"/"}
	for count := 0; len(todo) > 0; count++ {
		if count > 10_000 {
			return "", fmt.Errorf("%v: more than 10000 znodes", n)
		}
		p := todo[0]
		todo = todo[1:]
		data, st, err := conn.Get(p)
		if err != nil {
			return "", fmt.Errorf("%v: get %s: %w", n, p, err)
		}
		children, _, err := conn.Children(p)
		if err != nil {
			return "", fmt.Errorf("%v: children of %s: %w", n, p, err)
		}
		fmt.Fprintf(&b, "%s %q czxid %#x mzxid %#x pzxid %#x v%d cv%d owner %#x\n",
			p, data, st.Czxid, st.Mzxid, st.Pzxid, st.Version, st.Cversion, st.EphemeralOwner)
		slices.Sort(children)
		for _, c := range children {
			if child := path.Join(p, c); child != "/zookeeper" {
				todo = append(todo, child)
			}
		}
	}
	return b.String(), nil
}
