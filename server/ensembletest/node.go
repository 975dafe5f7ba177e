package ensembletest

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zkd-io/zkd/server/testpeer"
)

// Node is one member of a Cluster. Its address, ports, data and config
// stay the same across Kill/Stop and Restart.
type Node struct {
	ID       int
	Kind     Kind
	Observer bool
	// Host is the node's own loopback address: client, quorum, election
	// and HTTP ports all listen on it.
	Host                                           string
	ClientPort, QuorumPort, ElectionPort, HTTPPort int
	DataDir, ConfigFile, LogFile                   string

	gid uint32 // process group id the node runs with (partition rules)
	c   *Cluster

	mu     sync.Mutex
	proc   *process // nil before the first start
	starts int
	paused bool
}

// process is one run of a node.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once reaped
	waitErr error         // valid after exited is closed
	asked   bool          // Kill or Stop was called
}

const (
	sigKill = syscall.SIGKILL
	sigTerm = syscall.SIGTERM
)

// Addr returns the node's client address.
func (n *Node) Addr() string { return net.JoinHostPort(n.Host, strconv.Itoa(n.ClientPort)) }

// HTTPURL returns the base URL of the node's HTTP port: Apache's admin
// server (/commands/*) or zkd's (/metrics and /commands/*).
func (n *Node) HTTPURL() string {
	return "http://" + net.JoinHostPort(n.Host, strconv.Itoa(n.HTTPPort))
}

func (n *Node) String() string { return fmt.Sprintf("node %d (%s)", n.ID, n.Addr()) }

// start launches the node's process; it does not wait for it to serve.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		select {
		case <-n.proc.exited:
		default:
			return fmt.Errorf("%v: start: already running", n)
		}
	}
	n.starts++
	if n.Kind == Apache && n.starts > 1 {
		if err := removeHeaderlessLogs(n.DataDir, n.LogFile); err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
	}
	logf, err := os.OpenFile(n.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%v: open log: %w", n, err)
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "=== ensembletest: start %d of node %d at %s ===\n", n.starts, n.ID, time.Now().Format(time.RFC3339Nano))

	var cmd *exec.Cmd
	switch n.Kind {
	case Apache:
		var props []string
		for _, k := range slices.Sorted(maps.Keys(n.c.Opts.JavaProps)) {
			props = append(props, "-D"+k+"="+n.c.Opts.JavaProps[k])
		}
		jvm := n.c.Opts.JVMFlags
		if jvm == nil {
			jvm = []string{"-XX:-UsePerfData", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}
		}
		args := append(slices.Clone(jvm),
			// Election notifications back off from 200 ms up to 60 s
			// while peers are unreachable (all starting, or one down);
			// 1 s keeps elections in tests to a few seconds.
			"-Dzookeeper.fastleader.maxNotificationInterval=1000",
			"-Dorg.slf4j.simpleLogger.showDateTime=true",
			"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS")
		args = append(args, props...)
		cmd = exec.Command(n.c.java, append(args,
			"-cp", n.c.classpath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", n.ConfigFile)...)
	case Zkd:
		cmd = exec.Command(n.c.zkd, "server", "-log.format=console", n.ConfigFile)
	}
	cmd.Dir = n.DataDir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that signals reach anything it
		// forks, and SIGKILL if the test binary dies without cleaning up.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if os.Geteuid() == 0 {
		// A group id of its own, which partition rules match on (see
		// partition.go); uid 0 keeps access to the test's directories.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: n.gid, Groups: []uint32{}}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%v: start %s: %w", n, cmd.Path, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	n.proc = p
	n.paused = false
	return nil
}

// txnLogHeaderSize is the size of a ZooKeeper txn log's file header
// (magic, version, dbid).
const txnLogHeaderSize = 16

// removeHeaderlessLogs deletes txn log files too short to hold their file
// header from dataDir/version-2. Apache ZooKeeper 3.8.0 creates a log file
// when it rolls the log and writes its header only with the first flushed
// txn; stopped or killed in between, it leaves such a file behind and then
// refuses to start on it (EOFException in FileHeader.deserialize). The
// file holds no transactions, so deleting it loses nothing; without this,
// any fault test with a small snapCount would fail now and then for a bug
// that is not the one under test. Each removal is noted in the node's log.
func removeHeaderlessLogs(dataDir, logFile string) error {
	dir := filepath.Join(dataDir, "version-2")
	logs, err := filepath.Glob(filepath.Join(dir, "log.*"))
	if err != nil {
		return err
	}
	for _, l := range logs {
		st, err := os.Stat(l)
		if err != nil || st.Size() >= txnLogHeaderSize {
			continue
		}
		if err := os.Remove(l); err != nil {
			return fmt.Errorf("remove header-less txn log: %w", err)
		}
		if f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			fmt.Fprintf(f, "=== ensembletest: removed %s (%d bytes, no file header) before restart ===\n", l, st.Size())
			f.Close()
		}
	}
	return nil
}

// Running reports whether the node's process is alive (paused included).
func (n *Node) Running() bool {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Paused reports whether Pause stopped the node and Resume has not yet
// continued it.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// Kill SIGKILLs the node, as a crash would, and waits until it is reaped.
func (n *Node) Kill() { n.terminate(sigKill) }

// Stop shuts the node down with SIGTERM and waits for it to exit, killing
// it after 15 s.
func (n *Node) Stop() { n.terminate(sigTerm) }

func (n *Node) terminate(sig syscall.Signal) {
	n.mu.Lock()
	p := n.proc
	if p == nil {
		n.mu.Unlock()
		return
	}
	p.asked = true
	n.paused = false
	n.mu.Unlock()
	select {
	case <-p.exited:
		return
	default:
	}
	signalGroup(p, sig)
	// A paused process must run to act on SIGTERM.
	signalGroup(p, syscall.SIGCONT)
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		signalGroup(p, sigKill)
		<-p.exited
	}
}

// Pause stops the node with SIGSTOP: it keeps its connections open but
// answers nothing, as a long GC pause or a hung disk would.
func (n *Node) Pause() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		signalGroup(n.proc, syscall.SIGSTOP)
		n.paused = true
	}
}

// Resume continues a paused node with SIGCONT.
func (n *Node) Resume() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		signalGroup(n.proc, syscall.SIGCONT)
		n.paused = false
	}
}

func signalGroup(p *process, sig syscall.Signal) {
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		// Only a programming error can get here (the group is ours).
		panic(fmt.Sprintf("ensembletest: signal process group %d: %v", p.cmd.Process.Pid, err))
	}
}

// Restart starts a stopped or killed node again on the same dataDir and
// ports and waits (at most the cluster's StartTimeout) until it serves.
// A node serves only once it has joined a quorum.
func (n *Node) Restart() {
	t := n.c.t
	t.Helper()
	if err := n.start(); err != nil {
		t.Fatalf("ensembletest: restart: %v", err)
	}
	if err := n.WaitServing(n.c.Opts.StartTimeout); err != nil {
		t.Fatalf("ensembletest: restart: %v\n%s", err, n.c.logTails(40))
	}
}

// StartAgain starts a stopped or killed node without waiting for it to
// serve; see WaitServing.
func (n *Node) StartAgain() error { return n.start() }

// WaitServing waits until the node answers srvr with a Mode line.
func (n *Node) WaitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := n.Mode()
		if err == nil {
			return nil
		}
		n.mu.Lock()
		p := n.proc
		n.mu.Unlock()
		if p == nil {
			return fmt.Errorf("%v: never started", n)
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%v exited: %v", n, p.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v not serving after %v: %w", n, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Srvr returns the node's reply to the srvr four-letter word.
func (n *Node) Srvr() (string, error) {
	return testpeer.FourLetter(n.Addr(), "srvr", srvrTimeout)
}

// Mode returns the node's role from srvr: "leader", "follower",
// "observer" or "standalone". A node that answers but does not serve
// (electing, syncing, or cut off from its quorum) gives an error.
func (n *Node) Mode() (string, error) {
	reply, err := n.Srvr()
	if err != nil {
		return "", err
	}
	if v, ok := srvrField(reply, "Mode"); ok {
		return v, nil
	}
	if strings.Contains(reply, "not currently serving") {
		return "", fmt.Errorf("%v: %w", n, errNotServing)
	}
	return "", fmt.Errorf("%v: srvr reply without Mode: %q", n, reply)
}

// LastZxid returns the Zxid srvr reports: the last zxid the node
// processed.
func (n *Node) LastZxid() (int64, error) {
	reply, err := n.Srvr()
	if err != nil {
		return 0, err
	}
	v, ok := srvrField(reply, "Zxid")
	if !ok {
		if strings.Contains(reply, "not currently serving") {
			return 0, fmt.Errorf("%v: %w", n, errNotServing)
		}
		return 0, fmt.Errorf("%v: srvr reply without Zxid: %q", n, reply)
	}
	z, err := strconv.ParseInt(strings.TrimPrefix(v, "0x"), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%v: srvr Zxid %q: %w", n, v, err)
	}
	return z, nil
}

// srvrField returns the value of a "Key: value" line of a srvr reply.
func srvrField(reply, key string) (string, bool) {
	for line := range strings.Lines(reply) {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// LogTail returns the last lines of the node's log (all its runs).
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(n.LogFile)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", n.LogFile, err)
	}
	// zkd's console log colours its fields; the escapes only clutter a
	// test log.
	text := ansiEscape.ReplaceAllString(string(b), "")
	all := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// unexpectedExit reports a node whose process exited without Kill or
// Stop.
func (n *Node) unexpectedExit() error {
	n.mu.Lock()
	p := n.proc
	asked := p != nil && p.asked
	n.mu.Unlock()
	if p == nil || asked {
		return nil
	}
	select {
	case <-p.exited:
		return fmt.Errorf("%v exited during the test: %v", n, p.waitErr)
	default:
		return nil
	}
}

// Pid is the process id of the node's current run, 0 when it never ran
// (for resident-memory measurements).
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.proc.cmd.Process == nil {
		return 0
	}
	return n.proc.cmd.Process.Pid
}
