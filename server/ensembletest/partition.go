package ensembletest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Network partitions are iptables rules in two chains of the cluster's
// own, jumped to from the top of OUTPUT. Loopback traffic passes OUTPUT
// once, on the sending side, so a rule there drops a packet between two
// nodes before the other one sees it.
//
// Telling the sender and the receiver of a loopback packet apart needs care,
// because Apache ZooKeeper does not bind its outgoing quorum and election
// sockets: the kernel gives them source address 127.0.0.1 whichever node
// dials. So the mark chain, which runs first, puts a conntrack mark
// (CONNMARK) naming the dialling node on the first packet of every
// connection a node opens within the cluster; it recognises the dialler by
// the group id each node runs with (nodeGID, iptables owner match). A packet
// from node A to node B is then one of:
//
//  1. source address A, destination address B: every packet of zkd, which
//     binds its outgoing sockets to its own server.N host;
//  2. destination address B on a connection marked as dialled by A: A's
//     side of a connection A opened (its SYN included);
//  3. source address A on a connection marked as dialled by B: A's side of
//     a connection B opened without binding (destination 127.0.0.1).
//
// Forms 2 and 3 hold for the whole life of a connection, even for packets
// the kernel still sends from a killed process's orphaned socket (a
// retransmitted proposal, a FIN), which have no owner any more. Partition
// adds all three forms for both directions of every pair, so a partition is
// symmetric for both kinds of server: established connections stall and new
// ones fail at the SYN. Clients (the test process) reach every node.
//
// The marks must be on connections before they are partitioned, so the mark
// chain is installed when the cluster starts, whenever partitions are
// possible here (root and a working iptables). Each cluster's nodes live in a
// /24 of 127/8 no other cluster or test process uses (hostFor), every rule
// names a node address of it, and the chains are named after the process
// and cluster: parallel test binaries cannot touch each other's traffic.
// The chains are removed in t.Cleanup; chains left by a test binary that
// was killed are removed by the next one that starts a cluster.

// partition is a cluster's pair of iptables chains.
type partition struct {
	markChain, dropChain string
	installed            bool
}

const (
	// markMask selects the connmark bits the harness uses: the dialling
	// node's id (at most 250) in the top byte.
	markMask  = 0xff000000
	markShift = 24
	// chainPrefix starts every chain name the harness creates.
	chainPrefix = "ZKDET"
)

// nodeGID is the group id of node id of cluster seq: a range no system
// group uses. Rules match it only together with the cluster's own
// addresses, so the same id in another test process does no harm.
func nodeGID(seq int64, id int) uint32 {
	return 4_200_000_000 + uint32(seq%100_000)*256 + uint32(id)
}

func nodeMark(n *Node) string {
	return fmt.Sprintf("0x%x/0x%x", uint32(n.ID)<<markShift, uint32(markMask))
}

// iptables runs one iptables command, waiting for the xtables lock.
func iptables(args ...string) (string, error) {
	cmd := exec.Command("iptables", append([]string{"-w", "10"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// PartitionAvailable returns why network partitions cannot be made here,
// or "" when they can.
func PartitionAvailable() string {
	if os.Geteuid() != 0 {
		return "network partitions need root (iptables rules)"
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return "network partitions need iptables (Debian package iptables, listed in the Makefile's DEB_PACKAGES)"
	}
	if _, err := iptables("-n", "-L", "OUTPUT"); err != nil {
		return fmt.Sprintf("iptables unusable: %v", err)
	}
	return ""
}

// installPartitionChains sets up the mark chain (and an empty drop chain)
// before the nodes start, when partitions are possible at all.
func (c *Cluster) installPartitionChains() {
	c.t.Helper()
	if PartitionAvailable() != "" {
		return
	}
	removeStaleChains(c.t.Logf)
	p := &partition{
		markChain: fmt.Sprintf("%sM-%d-%d", chainPrefix, os.Getpid(), c.seq),
		dropChain: fmt.Sprintf("%sD-%d-%d", chainPrefix, os.Getpid(), c.seq),
	}
	c.partition = p
	subnet := c.Nodes[0].Host[:strings.LastIndexByte(c.Nodes[0].Host, '.')] + ".0/24"
	cmds := [][]string{
		{"-N", p.markChain},
		{"-N", p.dropChain},
	}
	for _, n := range c.Nodes {
		cmds = append(cmds, []string{"-A", p.markChain, "-d", subnet, "-p", "tcp",
			"-m", "owner", "--gid-owner", strconv.FormatUint(uint64(n.gid), 10),
			"-m", "conntrack", "--ctstate", "NEW", "-j", "CONNMARK", "--set-xmark", nodeMark(n)})
	}
	// The mark chain goes first, so that the drop chain sees a SYN's
	// mark.
	cmds = append(cmds,
		[]string{"-I", "OUTPUT", "1", "-j", p.dropChain},
		[]string{"-I", "OUTPUT", "1", "-j", p.markChain})
	for i, args := range cmds {
		if _, err := iptables(args...); err != nil {
			if i >= 2 {
				p.installed = true // partly: remove what is there
			}
			c.t.Fatalf("ensembletest: install partition chains: %v", err)
		}
		if i == 1 {
			p.installed = true
		}
	}
}

// Partition drops all traffic between every node of a and every node of b,
// in both directions, until Heal. Traffic within a and within b, and
// between clients and any node, flows as before. Calls accumulate. The test
// is skipped when partitions cannot be made here (not root, no iptables).
func (c *Cluster) Partition(a, b []*Node) {
	c.t.Helper()
	c.partMu.Lock()
	defer c.partMu.Unlock()
	if c.partition == nil {
		why := PartitionAvailable()
		if why == "" {
			why = "partition chains were not installed"
		}
		c.t.Skip(why)
	}
	chain := c.partition.dropChain
	for _, x := range a {
		for _, y := range b {
			for _, pair := range [][2]*Node{{x, y}, {y, x}} {
				from, to := pair[0], pair[1]
				for _, r := range [][]string{
					{"-A", chain, "-s", from.Host, "-d", to.Host, "-j", "DROP"},
					{"-A", chain, "-d", to.Host, "-m", "connmark", "--mark", nodeMark(from), "-j", "DROP"},
					{"-A", chain, "-s", from.Host, "-m", "connmark", "--mark", nodeMark(to), "-j", "DROP"},
				} {
					if _, err := iptables(r...); err != nil {
						c.t.Fatalf("ensembletest: partition: %v", err)
					}
				}
			}
		}
	}
	c.t.Logf("ensembletest: %s nodes partitioned: %s | %s at %s", c.Opts.Kind, nodeIDs(a), nodeIDs(b), time.Now().Format("15:04:05.000"))
}

// Heal removes every partition rule.
func (c *Cluster) Heal() {
	c.t.Helper()
	c.partMu.Lock()
	defer c.partMu.Unlock()
	if c.partition == nil {
		return
	}
	if _, err := iptables("-F", c.partition.dropChain); err != nil {
		c.t.Fatalf("ensembletest: heal: %v", err)
	}
	c.t.Logf("ensembletest: %s partition healed at %s", c.Opts.Kind, time.Now().Format("15:04:05.000"))
}

// remove deletes the chains and the jumps to them.
func (p *partition) remove() error {
	if !p.installed {
		return nil
	}
	p.installed = false
	return removeChains(p.dropChain, p.markChain)
}

// removeChains unhooks, flushes and deletes the named chains, trying every
// step and reporting what failed.
func removeChains(chains ...string) error {
	var errs []string
	for _, ch := range chains {
		// Delete every jump (normally one).
		for range 10 {
			if _, err := iptables("-D", "OUTPUT", "-j", ch); err != nil {
				break
			}
		}
		for _, args := range [][]string{{"-F", ch}, {"-X", ch}} {
			if _, err := iptables(args...); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// removeStaleChains deletes chains left by harness processes that no
// longer run (a test binary killed before its cleanups).
func removeStaleChains(logf func(string, ...any)) {
	out, err := iptables("-S")
	if err != nil {
		return
	}
	for line := range strings.Lines(out) {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "-N "+chainPrefix)
		if !ok || len(name) < 2 {
			continue
		}
		// name is "M-<pid>-<seq>" or "D-<pid>-<seq>".
		parts := strings.Split(name, "-")
		if len(parts) != 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		chain := chainPrefix + name
		if err := removeChains(chain); err != nil {
			logf("ensembletest: remove stale chain %s: %v", chain, err)
		}
	}
}

func nodeIDs(ns []*Node) string {
	var ids []string
	for _, n := range ns {
		ids = append(ids, strconv.Itoa(n.ID))
	}
	return "{" + strings.Join(ids, ",") + "}"
}
