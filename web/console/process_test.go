package console

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/ensembletest"
)

// TestBrowserZkdProcesses drives the console of real `zkd server`
// processes: a 3-node ensemble started from zoo.cfg files, each node with
// its console on its own HTTP port and a hashed admin user in its config.
// The whole walk runs through a follower's console (so every edit goes
// through the leader), then the other follower is killed (kill -9) and
// turns "down" on the health page without a reload.
func TestBrowserZkdProcesses(t *testing.T) {
	chromiumPath(t)
	if testing.Short() {
		t.Skip("starts a zkd ensemble")
	}
	c := ensembletest.Start(t, ensembletest.Options{Kind: ensembletest.Zkd, Extra: map[string]string{
		"zkd.console.user.admin": "admin:" + hashFor(t, "demo-password"),
		"extendedTypesEnabled":   "true", // the walk creates a TTL node
	}})
	// Every node's console polls its peers' HTTP ports, which differ per
	// node here: give each node their addresses and restart it.
	var peers strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&peers, "zkd.console.peer.%d=%s\n", n.ID, n.HTTPURL())
	}
	for _, n := range c.Nodes {
		f, err := os.OpenFile(n.ConfigFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(peers.String()); err != nil {
			t.Fatal(err)
		}
		f.Close()
		n.Stop()
		n.Restart()
	}
	if err := c.WaitServing(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	leader := c.Leader()
	followers := c.Followers()
	if len(followers) != 2 {
		t.Fatalf("followers: %v", followers)
	}
	f, other := followers[0], followers[1]
	conn, _, err := zk.Connect([]string{f.Addr()}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	e := &env{t: t, id: int64(f.ID), base: f.HTTPURL(), logFile: f.LogFile, zk: conn}
	dir := filepath.Join(artifactsDir(t), "zkd-processes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	all := map[int64]bool{}
	for _, n := range c.Nodes {
		all[int64(n.ID)] = true
	}
	ctx := walkConsole(t, e, dir, all, "follower")
	run(t, ctx, "leader shown", waitText(fmt.Sprintf("#server-%d", leader.ID), "leader"))

	start := time.Now()
	other.Kill()
	all[int64(other.ID)] = false
	checkHealthPage(t, ctx, e.url(), all)
	t.Logf("server %d (killed) shown down after %v", other.ID, time.Since(start))
	screenshot(t, ctx, dir, "health-node-killed.png")
}
