package ensembletest

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/testpeer"
)

// Kind selects the server implementation an ensemble runs.
type Kind string

// The kinds of ensemble Start runs.
const (
	// Apache runs Apache ZooKeeper 3.8 (Debian's zookeeper package) with
	// java ... QuorumPeerMain zoo.cfg.
	Apache Kind = "apache"
	// Zkd runs `zkd server zoo.cfg`.
	Zkd Kind = "zkd"
)

// Options configures Start. Zero fields get defaults suited to fast tests.
type Options struct {
	Kind Kind // default Apache
	// Size is the number of voting participants, 3 or 5 (default 3).
	Size int
	// Observers are extra non-voting members (server.N=...:observer).
	Observers int
	// TickTime is zoo.cfg tickTime (whole milliseconds); default 300ms.
	TickTime time.Duration
	// InitLimit and SyncLimit are in ticks; defaults 10 and 5.
	InitLimit, SyncLimit int
	// SnapCount is zoo.cfg snapCount; 0 leaves the server default.
	SnapCount int
	// Extra zoo.cfg entries, written after the harness's own and
	// replacing them when the key is the same.
	Extra map[string]string
	// JavaProps are -D system properties for Apache nodes, for settings
	// Apache ZooKeeper reads only from system properties (such as
	// zookeeper.commitLogCount); zkd nodes ignore them.
	JavaProps map[string]string
	// JVMFlags replace the harness's JVM flags for Apache nodes (a small
	// serial-GC heap and client JIT, so that several JVMs start quickly on
	// a CI machine). Benchmarks pass the flags an operator would run.
	JVMFlags []string
	// ZkdBinary is the zkd executable for Kind Zkd; empty builds ./cmd/zkd
	// once per test process (see BuildZkd).
	ZkdBinary string
	// StartTimeout bounds the wait for every node to serve; default 90s.
	StartTimeout time.Duration
	// Prepare, if set, fills node id's data directory (myid is there
	// already) before any node starts, for an ensemble started on data it
	// did not write.
	Prepare func(id int, dataDir string) error
}

// Defaults, chosen for a 2-CPU CI machine running several JVMs at once:
// a 300 ms tick keeps elections and syncLimit faults within a few seconds
// while leaving GC pauses and scheduling delays well inside the limits.
const (
	defaultTickTime     = 300 * time.Millisecond
	defaultInitLimit    = 10
	defaultSyncLimit    = 5
	defaultStartTimeout = 90 * time.Second
	// stopGrace is how long Stop lets a node exit on SIGTERM before it is
	// killed.
	stopGrace = 15 * time.Second
	// srvrTimeout bounds one four-letter-word exchange.
	srvrTimeout = 2 * time.Second
)

// Cluster is a running ensemble. Every process is killed and reaped when
// the test ends; if the test failed, each node's log tail is logged.
type Cluster struct {
	Opts  Options
	Nodes []*Node

	t         testing.TB
	seq       int64 // this cluster's number in the test process (hostFor, nodeGID)
	java      string
	classpath string
	zkd       string

	partMu    sync.Mutex
	partition *partition // nil until the first Partition
}

// clusterSeq numbers the clusters a test process starts, so that each gets
// its own loopback addresses (see hostFor).
var clusterSeq atomic.Int64

// Start launches an ensemble of opts.Size participants and opts.Observers
// observers and returns once every node serves clients (answers srvr with
// a Mode line). With Kind Zkd, a zkd that refuses an ensemble config (its
// start-up error mentions "ensemble") skips the test: quorum mode is not
// there yet.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts.Kind = cmp.Or(opts.Kind, Apache)
	opts.Size = cmp.Or(opts.Size, 3)
	opts.TickTime = cmp.Or(opts.TickTime, defaultTickTime)
	opts.InitLimit = cmp.Or(opts.InitLimit, defaultInitLimit)
	opts.SyncLimit = cmp.Or(opts.SyncLimit, defaultSyncLimit)
	opts.StartTimeout = cmp.Or(opts.StartTimeout, defaultStartTimeout)
	if opts.Size < 1 || opts.Observers < 0 || opts.Size+opts.Observers > 250 {
		t.Fatalf("ensembletest: %d participants and %d observers: need at least one participant", opts.Size, opts.Observers)
	}
	if opts.TickTime%time.Millisecond != 0 {
		t.Fatalf("ensembletest: tickTime %v is not a whole number of milliseconds", opts.TickTime)
	}
	c := &Cluster{Opts: opts, t: t, seq: clusterSeq.Add(1)}
	switch opts.Kind {
	case Apache:
		c.java, c.classpath = testpeer.Java(t), testpeer.ApacheClasspath(t)
	case Zkd:
		c.zkd = opts.ZkdBinary
		if c.zkd == "" {
			c.zkd = BuildZkd(t)
		}
	default:
		t.Fatalf("ensembletest: unknown kind %q", opts.Kind)
	}

	seq := c.seq
	work := t.TempDir()
	n := opts.Size + opts.Observers
	for i := range n {
		id := i + 1
		host := hostFor(seq, id)
		ports := freePorts(t, host, 4)
		node := &Node{
			ID:           id,
			Kind:         opts.Kind,
			Observer:     id > opts.Size,
			Host:         host,
			ClientPort:   ports[0],
			QuorumPort:   ports[1],
			ElectionPort: ports[2],
			HTTPPort:     ports[3],
			DataDir:      filepath.Join(work, fmt.Sprintf("n%d", id), "data"),
			ConfigFile:   filepath.Join(work, fmt.Sprintf("n%d", id), "zoo.cfg"),
			LogFile:      filepath.Join(work, fmt.Sprintf("n%d", id), "server.log"),
			gid:          nodeGID(seq, id),
			c:            c,
		}
		if err := os.MkdirAll(node.DataDir, 0o755); err != nil {
			t.Fatalf("ensembletest: %v", err)
		}
		if err := os.WriteFile(filepath.Join(node.DataDir, "myid"), []byte(strconv.Itoa(id)+"\n"), 0o644); err != nil {
			t.Fatalf("ensembletest: write myid: %v", err)
		}
		if opts.Prepare != nil {
			if err := opts.Prepare(id, node.DataDir); err != nil {
				t.Fatalf("ensembletest: prepare the data directory of node %d: %v", id, err)
			}
		}
		c.Nodes = append(c.Nodes, node)
	}
	for _, node := range c.Nodes {
		if err := os.WriteFile(node.ConfigFile, []byte(c.zooConfig(node)), 0o644); err != nil {
			t.Fatalf("ensembletest: write zoo.cfg: %v", err)
		}
	}
	t.Cleanup(c.cleanup)
	c.installPartitionChains()

	// Members serve only once a quorum has formed, so all start together.
	for _, node := range c.Nodes {
		if err := node.start(); err != nil {
			t.Fatalf("ensembletest: %v", err)
		}
	}
	if err := c.WaitServing(opts.StartTimeout); err != nil {
		c.failStart(err)
	}
	return c
}

// failStart ends the test after a failed start: a skip when zkd refused the
// ensemble config, a failure otherwise.
func (c *Cluster) failStart(err error) {
	c.t.Helper()
	if c.Opts.Kind == Zkd {
		for _, node := range c.Nodes {
			if line := refusalLine(node); line != "" {
				for _, n := range c.Nodes {
					n.terminate(sigKill) // asked to stop: no "exited during the test"
				}
				c.t.Skipf("zkd quorum mode not available: node %d exited at start-up: %s", node.ID, line)
			}
		}
	}
	c.t.Fatalf("ensembletest: %s ensemble did not start: %v\n%s", c.Opts.Kind, err, c.logTails(40))
}

// refusalLine returns the log line in which an exited zkd node refused its
// ensemble configuration, or "".
func refusalLine(n *Node) string {
	if n.Running() {
		return ""
	}
	for line := range strings.Lines(n.LogTail(20)) {
		if strings.Contains(line, "ensemble") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// zooConfig renders a node's zoo.cfg.
func (c *Cluster) zooConfig(n *Node) string {
	o := c.Opts
	type kv struct{ k, v string }
	entries := []kv{
		{"tickTime", strconv.FormatInt(o.TickTime.Milliseconds(), 10)},
		{"initLimit", strconv.Itoa(o.InitLimit)},
		{"syncLimit", strconv.Itoa(o.SyncLimit)},
		{"dataDir", n.DataDir},
		{"clientPort", strconv.Itoa(n.ClientPort)},
		{"clientPortAddress", n.Host},
		{"4lw.commands.whitelist", "*"},
		// Workloads open many sessions from one address.
		{"maxClientCnxns", "0"},
	}
	switch c.Opts.Kind {
	case Apache:
		entries = append(entries,
			kv{"admin.enableServer", "true"},
			kv{"admin.serverAddress", n.Host},
			kv{"admin.serverPort", strconv.Itoa(n.HTTPPort)})
	case Zkd:
		entries = append(entries,
			kv{"zkd.httpAddress", n.Host},
			kv{"zkd.httpPort", strconv.Itoa(n.HTTPPort)})
	}
	if o.SnapCount > 0 {
		entries = append(entries, kv{"snapCount", strconv.Itoa(o.SnapCount)})
	}
	if n.Observer {
		entries = append(entries, kv{"peerType", "observer"})
	}
	for _, m := range c.Nodes {
		line := fmt.Sprintf("%s:%d:%d", m.Host, m.QuorumPort, m.ElectionPort)
		if m.Observer {
			line += ":observer"
		}
		entries = append(entries, kv{"server." + strconv.Itoa(m.ID), line})
	}
	var b strings.Builder
	b.WriteString("# Written by zkd's ensembletest harness.\n")
	seen := make(map[string]bool)
	for _, e := range entries {
		v := e.v
		if x, ok := o.Extra[e.k]; ok {
			v = x
		}
		seen[e.k] = true
		fmt.Fprintf(&b, "%s=%s\n", e.k, v)
	}
	for _, k := range slices.Sorted(maps.Keys(o.Extra)) {
		if !seen[k] {
			fmt.Fprintf(&b, "%s=%s\n", k, o.Extra[k])
		}
	}
	return b.String()
}

// hostFor returns node id's loopback address in cluster seq of this
// process: 127.<pid>.<seq>.<id>, so that concurrent test binaries and
// successive clusters never share an address and partition rules that
// match addresses cannot touch anyone else's traffic. 127.0.0.1 is never
// used: it is the source address of every unbound client socket.
func hostFor(seq int64, id int) string {
	a := os.Getpid()%250 + 1
	b := int(seq%250) + 1
	return testpeer.LoopbackHost(a<<16 | b<<8 | id)
}

// freePorts returns n distinct ports that were free on host a moment ago.
func freePorts(t testing.TB, host string, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("ensembletest: find a free port on %s: %v", host, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// ConnectString returns every node's client address, comma separated, as
// ZooKeeper clients take it.
func (c *Cluster) ConnectString() string {
	return strings.Join(c.Addrs(), ",")
}

// Addrs returns every node's client address.
func (c *Cluster) Addrs() []string {
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr())
	}
	return addrs
}

// Participants returns the voting members.
func (c *Cluster) Participants() []*Node {
	var ps []*Node
	for _, n := range c.Nodes {
		if !n.Observer {
			ps = append(ps, n)
		}
	}
	return ps
}

// Others returns the nodes other than those given.
func (c *Cluster) Others(except ...*Node) []*Node {
	var rest []*Node
	for _, n := range c.Nodes {
		if !slices.Contains(except, n) {
			rest = append(rest, n)
		}
	}
	return rest
}

// WaitServing waits until every running, unpaused node serves clients.
func (c *Cluster) WaitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		if err := n.WaitServing(time.Until(deadline)); err != nil {
			return err
		}
	}
	return nil
}

// Leader waits (at most 60 s) until exactly one running node reports Mode
// leader and returns it; the test fails otherwise.
func (c *Cluster) Leader() *Node {
	c.t.Helper()
	l, err := c.WaitLeader(60 * time.Second)
	if err != nil {
		c.t.Fatalf("ensembletest: %v", err)
	}
	return l
}

// WaitLeader waits until exactly one running, unpaused node reports Mode
// leader and returns it. Paused nodes are not asked (they cannot answer).
func (c *Cluster) WaitLeader(timeout time.Duration) (*Node, error) {
	return c.WaitLeaderAmong(c.Nodes, timeout)
}

// WaitLeaderAmong is WaitLeader looking only at the given nodes, e.g. the
// majority side of a partition, where the cut-off old leader may still
// believe it leads for up to syncLimit ticks.
func (c *Cluster) WaitLeaderAmong(nodes []*Node, timeout time.Duration) (*Node, error) {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		var leaders []*Node
		var modes []string
		for _, n := range nodes {
			if !n.Running() || n.Paused() {
				modes = append(modes, fmt.Sprintf("%d: down", n.ID))
				continue
			}
			m, err := n.Mode()
			if err != nil {
				modes = append(modes, fmt.Sprintf("%d: %v", n.ID, err))
				continue
			}
			modes = append(modes, fmt.Sprintf("%d: %s", n.ID, m))
			if m == "leader" {
				leaders = append(leaders, n)
			}
		}
		if len(leaders) == 1 {
			return leaders[0], nil
		}
		last = strings.Join(modes, "; ")
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no single leader after %v; modes: %s", timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Followers returns the running nodes that report Mode follower.
func (c *Cluster) Followers() []*Node {
	var fs []*Node
	for _, n := range c.Nodes {
		if n.Running() && !n.Paused() {
			if m, err := n.Mode(); err == nil && m == "follower" {
				fs = append(fs, n)
			}
		}
	}
	return fs
}

// cleanup kills every node, removes partition rules and, when the test
// failed, logs each node's log tail. A node that exited on its own (not by
// Kill or Stop) fails the test.
func (c *Cluster) cleanup() {
	c.partMu.Lock()
	if c.partition != nil {
		if err := c.partition.remove(); err != nil {
			c.t.Errorf("ensembletest: remove partition rules: %v", err)
		}
	}
	c.partMu.Unlock()
	for _, n := range c.Nodes {
		if err := n.unexpectedExit(); err != nil {
			c.t.Errorf("ensembletest: %v", err)
		}
	}
	if c.t.Failed() || os.Getenv(LogsEnv) != "" {
		c.t.Logf("ensembletest: node logs:\n%s", c.logTails(logTailLines()))
	}
	for _, n := range c.Nodes {
		n.terminate(sigKill)
	}
}

// logTails renders the last lines of every node's log.
func (c *Cluster) logTails(lines int) string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "--- node %d (%s, %s) log %s, last %d lines:\n%s\n", n.ID, n.Kind, n.Addr(), n.LogFile, lines, n.LogTail(lines))
	}
	return b.String()
}

// LogsEnv names an environment variable that makes every cluster log its
// nodes' log tails at the end of the test, passed or not; a number sets how
// many lines (default 60).
const LogsEnv = "ENSEMBLETEST_LOGS"

func logTailLines() int {
	if n, err := strconv.Atoi(os.Getenv(LogsEnv)); err == nil && n > 0 {
		return n
	}
	return 60
}

// errNotServing is what Mode returns for a node that answers but does not
// serve (it is looking for a leader or syncing).
var errNotServing = errors.New("not currently serving requests")
