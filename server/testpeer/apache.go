package testpeer

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ApacheOptions configures StartApacheZK. The zero value starts a
// standalone server on a fresh data directory and free loopback ports.
type ApacheOptions struct {
	// DataDir is the snapshot and transaction log directory (zoo.cfg
	// dataDir). Empty means a fresh directory under t.TempDir(). An existing
	// directory, for example one zkd wrote, is used in place and not
	// removed; note that Apache ZooKeeper writes a snapshot into it on
	// start-up, so copy it first (os.CopyFS) if the original must stay intact.
	DataDir string
	// DataLogDir, if set, keeps transaction logs apart from snapshots
	// (zoo.cfg dataLogDir).
	DataLogDir string
	// Host is the client listen address (clientPortAddress); default
	// 127.0.0.1. The admin server listens on the same address.
	Host string
	// ClientPort is the client port; 0 picks a free one.
	ClientPort int
	// TickTime is the ZooKeeper tick, a whole number of milliseconds;
	// default 2s. The server bounds session timeouts to [2, 20] ticks.
	TickTime time.Duration
	// DisableAdminServer turns the Jetty admin server off; otherwise it is
	// started on a free port, reported in ApacheZK.AdminPort.
	DisableAdminServer bool
	// SystemProps are passed to the JVM as -Dkey=value, for settings Apache
	// ZooKeeper reads only from system properties, e.g.
	// "znode.container.checkIntervalMs": "100".
	SystemProps map[string]string
	// ExtraConfig entries are written to zoo.cfg and replace the harness's
	// defaults of the same key (4lw.commands.whitelist, extendedTypesEnabled,
	// maxClientCnxns); keys derived from the fields above are rejected.
	// Keys zoo.cfg does not know become "zookeeper."-prefixed system
	// properties inside the server.
	ExtraConfig map[string]string
	// JVMFlags are extra JVM options, such as "-Xmx512m".
	JVMFlags []string
	// StartTimeout bounds the wait for the server to serve; default 60s.
	StartTimeout time.Duration
}

// ApacheZK is a running standalone Apache ZooKeeper 3.8 server, a child
// process of the test. It is stopped when the test ends.
type ApacheZK struct {
	// Addr is the client address, host:port.
	Addr string
	// Host is the address both the client and admin ports listen on.
	Host       string
	ClientPort int
	// AdminPort is the admin server's HTTP port, 0 when it is disabled.
	AdminPort  int
	DataDir    string
	DataLogDir string // equals DataDir unless ApacheOptions.DataLogDir was set
	// ConfigFile is the zoo.cfg the server was started with.
	ConfigFile string
	// LogFile receives the server's stdout and stderr (its log).
	LogFile string

	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // valid after exited is closed

	mu      sync.Mutex
	stopped bool // Stop or Kill was called
}

// Defaults for ApacheOptions.
const (
	defaultTickTime     = 2 * time.Second
	defaultStartTimeout = 60 * time.Second
	// stopGrace is how long Stop lets the JVM exit on SIGTERM before
	// killing it.
	stopGrace = 10 * time.Second
	// startAttempts bounds retries when a port picked by FreePort was taken
	// by someone else before the server bound it.
	startAttempts = 3
)

// errPortTaken marks a start-up that failed only because a port was taken.
var errPortTaken = errors.New("port already in use")

// StartApacheZK starts a standalone Apache ZooKeeper 3.8 server as a child
// process and returns once it serves clients (it answers "srvr" with a
// Mode line). The server runs `java ... QuorumPeerMain zoo.cfg` directly:
// Debian's zkServer.sh hard-wires /etc/zookeeper/conf and a classpath
// without a logging binding or the servlet API.
//
// t.Cleanup kills the server and reaps it, and reports a server that died
// on its own during the test. If start-up fails the test fails with the tail
// of the server log.
func StartApacheZK(t testing.TB, opts ApacheOptions) *ApacheZK {
	t.Helper()
	java, classpath := Java(t), ApacheClasspath(t)
	if err := opts.validate(); err != nil {
		t.Fatalf("testpeer: start Apache ZooKeeper: %v", err)
	}
	for attempt := 1; ; attempt++ {
		z, err := startApacheZK(t, java, classpath, opts)
		if err == nil {
			t.Cleanup(func() { z.cleanup(t) })
			return z
		}
		portsPicked := opts.ClientPort == 0 || !opts.DisableAdminServer
		if errors.Is(err, errPortTaken) && portsPicked && attempt < startAttempts {
			t.Logf("testpeer: Apache ZooKeeper start attempt %d: %v; retrying with new ports", attempt, err)
			continue
		}
		t.Fatalf("testpeer: start Apache ZooKeeper: %v", err)
	}
}

// derivedConfig maps the zoo.cfg keys the harness writes from ApacheOptions
// fields to those fields; ExtraConfig may not set them.
var derivedConfig = map[string]string{
	"dataDir":             "DataDir",
	"dataLogDir":          "DataLogDir",
	"clientPortAddress":   "Host",
	"clientPort":          "ClientPort",
	"tickTime":            "TickTime",
	"admin.enableServer":  "DisableAdminServer",
	"admin.serverAddress": "Host",
	"admin.serverPort":    "DisableAdminServer",
}

func (o ApacheOptions) validate() error {
	if o.ClientPort < 0 || o.ClientPort > 65535 {
		return fmt.Errorf("client port %d out of range", o.ClientPort)
	}
	if o.TickTime < 0 || o.TickTime%time.Millisecond != 0 {
		return fmt.Errorf("tick time %v: must be a whole number of milliseconds (0 for the default)", o.TickTime)
	}
	for k, v := range o.SystemProps {
		if k == "" || strings.ContainsAny(k, "= \t\r\n") {
			return fmt.Errorf("system property name %q: must be non-empty without '=' or white space", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("system property %s: value %q contains a line break", k, v)
		}
	}
	for k, v := range o.ExtraConfig {
		if field, ok := derivedConfig[k]; ok {
			return fmt.Errorf("zoo.cfg key %s: set ApacheOptions.%s instead, so ApacheZK reports it", k, field)
		}
		if k == "" || strings.ContainsAny(k, "=:# \t\r\n") {
			return fmt.Errorf("zoo.cfg key %q: must be non-empty without '=', ':', '#' or white space", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("zoo.cfg %s: value %q contains a line break", k, v)
		}
	}
	return nil
}

// startApacheZK makes one start attempt. On error nothing is left running.
func startApacheZK(t testing.TB, java, classpath string, opts ApacheOptions) (*ApacheZK, error) {
	work := t.TempDir()
	z := &ApacheZK{
		Host:       cmp.Or(opts.Host, "127.0.0.1"),
		ClientPort: opts.ClientPort,
		DataDir:    opts.DataDir,
		DataLogDir: opts.DataLogDir,
		ConfigFile: filepath.Join(work, "zoo.cfg"),
		LogFile:    filepath.Join(work, "zookeeper.log"),
		exited:     make(chan struct{}),
	}
	if z.ClientPort == 0 {
		z.ClientPort = FreePort(t, z.Host)
	}
	if !opts.DisableAdminServer {
		z.AdminPort = FreePort(t, z.Host)
	}
	if z.DataDir == "" {
		z.DataDir = filepath.Join(work, "data")
	}
	if z.DataLogDir == "" {
		z.DataLogDir = z.DataDir
	}
	for _, dir := range []string{z.DataDir, z.DataLogDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	z.Addr = net.JoinHostPort(z.Host, strconv.Itoa(z.ClientPort))

	cfg := zooConfig(z, cmp.Or(opts.TickTime, defaultTickTime), opts.ExtraConfig)
	if err := os.WriteFile(z.ConfigFile, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("write zoo.cfg: %w", err)
	}
	logf, err := os.Create(z.LogFile)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	defer logf.Close() // the child has its own descriptor

	z.cmd = exec.Command(java, javaArgs(classpath, z.ConfigFile, opts)...)
	z.cmd.Dir = work
	z.cmd.Stdout = logf
	z.cmd.Stderr = logf
	z.cmd.SysProcAttr = childAttr()
	if err := z.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", java, err)
	}
	go func() {
		z.waitErr = z.cmd.Wait()
		close(z.exited)
	}()
	if err := z.awaitServing(cmp.Or(opts.StartTimeout, defaultStartTimeout)); err != nil {
		z.kill()
		tail := z.LogTail(60)
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, fmt.Errorf("%w\nconfig %s, log %s; log tail:\n%s", err, z.ConfigFile, z.LogFile, tail)
	}
	return z, nil
}

// zooConfig renders zoo.cfg: the harness defaults in a fixed order, each
// replaced by an ExtraConfig entry of the same key, then the remaining
// ExtraConfig entries sorted by key.
func zooConfig(z *ApacheZK, tick time.Duration, extra map[string]string) string {
	type kv struct{ k, v string }
	entries := []kv{
		{"tickTime", strconv.FormatInt(tick.Milliseconds(), 10)},
		{"dataDir", z.DataDir},
		{"dataLogDir", z.DataLogDir},
		{"clientPortAddress", z.Host},
		{"clientPort", strconv.Itoa(z.ClientPort)},
	}
	if z.AdminPort != 0 {
		entries = append(entries,
			kv{"admin.enableServer", "true"},
			kv{"admin.serverAddress", z.Host},
			kv{"admin.serverPort", strconv.Itoa(z.AdminPort)})
	} else {
		entries = append(entries, kv{"admin.enableServer", "false"})
	}
	entries = append(entries,
		kv{"4lw.commands.whitelist", "*"},
		// TTL and container znodes (CreateMode 5, 6) need extended types.
		kv{"extendedTypesEnabled", "true"},
		// Tests open many sessions from one address; the default of 60
		// per IP would fail them for reasons unrelated to the test.
		kv{"maxClientCnxns", "0"})
	var b strings.Builder
	b.WriteString("# Written by zkd's testpeer harness for one test.\n")
	seen := make(map[string]bool)
	for _, e := range entries {
		v := e.v
		if x, ok := extra[e.k]; ok {
			v = x
		}
		seen[e.k] = true
		fmt.Fprintf(&b, "%s=%s\n", e.k, v)
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if !seen[k] {
			fmt.Fprintf(&b, "%s=%s\n", k, extra[k])
		}
	}
	return b.String()
}

// javaArgs returns the server's JVM command line.
func javaArgs(classpath, configFile string, opts ApacheOptions) []string {
	args := []string{
		// No hsperfdata files in /tmp left behind by killed JVMs.
		"-XX:-UsePerfData",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
	}
	args = append(args, opts.JVMFlags...)
	for _, k := range slices.Sorted(maps.Keys(opts.SystemProps)) {
		args = append(args, "-D"+k+"="+opts.SystemProps[k])
	}
	return append(args, "-cp", classpath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", configFile)
}

// awaitServing polls srvr until the server reports a mode, the process
// exits, or timeout passes.
func (z *ApacheZK) awaitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		reply, err := FourLetter(z.Addr, "srvr", time.Second)
		if err == nil && strings.Contains(reply, "Mode: ") {
			return nil
		}
		lastErr = err
		if err == nil {
			lastErr = fmt.Errorf("srvr replied %q", reply)
		}
		select {
		case <-z.exited:
			return fmt.Errorf("server exited during start-up: %v", z.waitErr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not serving on %s after %v: %w", z.Addr, timeout, lastErr)
		}
	}
}

// AdminURL returns the admin server's base URL, e.g.
// http://127.0.0.1:41234 (commands live under /commands/), or "" when the
// admin server is disabled.
func (z *ApacheZK) AdminURL() string {
	if z.AdminPort == 0 {
		return ""
	}
	return "http://" + net.JoinHostPort(z.Host, strconv.Itoa(z.AdminPort))
}

// Pid returns the server's process id, for tests that pause it (SIGSTOP)
// to provoke session expiry.
func (z *ApacheZK) Pid() int { return z.cmd.Process.Pid }

// Stop shuts the server down with SIGTERM (about 2 s of JVM shutdown hooks),
// killing it if it has not exited within 10 s, and waits for it. It is safe to call more than once; the
// data directory stays for a later StartApacheZK or for inspection.
func (z *ApacheZK) Stop() {
	z.terminate(syscall.SIGTERM)
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
func (z *ApacheZK) Kill() {
	z.terminate(syscall.SIGKILL)
}

// terminate signals the server's process group and reaps it.
func (z *ApacheZK) terminate(sig syscall.Signal) {
	z.mu.Lock()
	z.stopped = true
	z.mu.Unlock()
	select {
	case <-z.exited:
		return
	default:
	}
	_ = killGroup(z.cmd.Process, sig)
	// A test may have paused the server with SIGSTOP; it must run to act
	// on SIGTERM.
	_ = killGroup(z.cmd.Process, syscall.SIGCONT)
	select {
	case <-z.exited:
	case <-time.After(stopGrace):
		z.kill()
	}
}

// kill SIGKILLs the process group and waits until the process is reaped.
func (z *ApacheZK) kill() {
	_ = killGroup(z.cmd.Process, syscall.SIGKILL)
	<-z.exited
}

// cleanup runs at the end of the test: it reports a server that died
// without being asked to and makes sure nothing is left running.
func (z *ApacheZK) cleanup(t testing.TB) {
	z.mu.Lock()
	stopped := z.stopped
	z.mu.Unlock()
	select {
	case <-z.exited:
		if !stopped {
			t.Errorf("testpeer: Apache ZooKeeper on %s exited during the test (%v); log %s tail:\n%s",
				z.Addr, z.waitErr, z.LogFile, z.LogTail(40))
		}
		return
	default:
	}
	// The test is over: no need for the seconds a graceful shutdown takes.
	z.Kill()
}

// LogTail returns the last n lines of the server log.
func (z *ApacheZK) LogTail(n int) string {
	b, err := os.ReadFile(z.LogFile)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", z.LogFile, err)
	}
	return lastLines(string(b), n)
}
