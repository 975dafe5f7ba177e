// Package promtest runs the pieces of a live monitoring test: zkd servers
// started from the real binary (cmd/zkd, built by ZkdBinary), a
// real Prometheus scraping them with zkd's alert rules loaded, and a client
// load that moves every metric the dashboards show. dashboards/live_test.go
// and alerts/live_test.go evaluate their queries against it;
// docker/docker_test.go uses its Prometheus client against the compose
// stack.
//
// The servers are reached only through Targets, so the same tests run
// against standalone servers or an ensemble (StartServers starts either).
package promtest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/testpeer"
)

// Target is one zkd server as the tests see it.
type Target struct {
	Name        string // zkd1, zkd2, ...
	ClientAddr  string // host:port for ZooKeeper clients
	MetricsAddr string // host:port serving /metrics and /commands
}

// Servers is a set of running zkd servers.
type Servers struct {
	Targets  []Target
	Ensemble bool // an ensemble (quorum) rather than independent standalone servers
	procs    []*proc
}

// Kill stops server i at once (SIGKILL), as a crash would.
func (s *Servers) Kill(i int) { s.procs[i].kill() }

// Options configure StartServers.
type Options struct {
	// N is the number of servers (default 3).
	N int
	// Config holds extra zoo.cfg lines (key -> value), e.g. snapCount.
	Config map[string]string
	// Standalone starts independent standalone servers instead of an
	// ensemble.
	Standalone bool
	// Binary is the zkd binary to run; empty: ZkdBinary builds one. Tests
	// starting servers more than once build once and pass it.
	Binary string
}

// MaxClientCnxns is the servers' maxClientCnxns; DriveLoad opens one
// connection more than that, to be rejected.
const MaxClientCnxns = 20

// StartServers starts opts.N zkd servers from the real binary, an
// ensemble or (opts.Standalone) independent standalone servers, and
// returns once every server serves clients (an ensemble: after leader
// election). They are stopped at the end of the test.
func StartServers(t testing.TB, opts Options) *Servers {
	t.Helper()
	if opts.N == 0 {
		opts.N = 3
	}
	if opts.Binary == "" {
		opts.Binary = ZkdBinary(t)
	}
	s, err := startServers(t, opts.Binary, opts, !opts.Standalone)
	if err != nil {
		t.Fatalf("start %d zkd servers (ensemble %v): %v", opts.N, !opts.Standalone, err)
	}
	return s
}

func startServers(t testing.TB, bin string, opts Options, ensemble bool) (*Servers, error) {
	t.Helper()
	s := &Servers{Ensemble: ensemble}
	type ports struct {
		host                           string
		client, http, quorum, election int
	}
	var ps []ports
	block := testpeer.LoopbackBlock()
	for i := range opts.N {
		host := testpeer.LoopbackHost(block + 40 + i)
		ps = append(ps, ports{host, testpeer.FreePort(t, host), testpeer.FreePort(t, host), testpeer.FreePort(t, host), testpeer.FreePort(t, host)})
	}
	for i, p := range ps {
		dir := t.TempDir()
		cfg := map[string]string{
			"tickTime":                "200",
			"initLimit":               "10",
			"syncLimit":               "5",
			"dataDir":                 filepath.Join(dir, "data"),
			"clientPortAddress":       p.host,
			"clientPort":              fmt.Sprint(p.client),
			"zkd.httpAddress":         p.host,
			"zkd.httpPort":            fmt.Sprint(p.http),
			"4lw.commands.whitelist":  "*",
			"minSessionTimeout":       "400",
			"maxSessionTimeout":       "10000",
			"autopurge.purgeInterval": "1", // the first purge runs at start-up
			"maxClientCnxns":          fmt.Sprint(MaxClientCnxns),
		}
		maps.Copy(cfg, opts.Config)
		if err := os.MkdirAll(cfg["dataDir"], 0o755); err != nil {
			return nil, err
		}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			fmt.Fprintf(&b, "%s=%s\n", k, cfg[k])
		}
		if ensemble {
			for j, q := range ps {
				fmt.Fprintf(&b, "server.%d=%s:%d:%d;%s:%d\n", j+1, q.host, q.quorum, q.election, q.host, q.client)
			}
			if err := os.WriteFile(filepath.Join(cfg["dataDir"], "myid"), fmt.Appendf(nil, "%d\n", i+1), 0o644); err != nil {
				return nil, err
			}
		}
		cfgFile := filepath.Join(dir, "zoo.cfg")
		if err := os.WriteFile(cfgFile, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("zkd%d", i+1)
		pr, err := startProc(t, name, bin, "server", cfgFile)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, pr)
		s.Targets = append(s.Targets, Target{
			Name:        name,
			ClientAddr:  fmt.Sprintf("%s:%d", p.host, p.client),
			MetricsAddr: fmt.Sprintf("%s:%d", p.host, p.http),
		})
	}
	// Serving means srvr reports a mode: at once for a standalone
	// server, after leader election for an ensemble member.
	deadline := time.Now().Add(30 * time.Second)
	for i, tg := range s.Targets {
		for {
			out, err := testpeer.FourLetter(tg.ClientAddr, "srvr", time.Second)
			if err == nil && strings.Contains(out, "Mode: ") {
				break
			}
			if exited, log := s.procs[i].exited(); exited {
				for _, p := range s.procs {
					p.kill()
				}
				return nil, fmt.Errorf("%s exited before serving: %s", tg.Name, log)
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s does not serve clients after 30s (last srvr: %q, %v); log:\n%s", tg.Name, out, err, s.procs[i].log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return s, nil
}

// ---- processes ----

type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
	waited error
}

func startProc(t testing.TB, name, bin string, args ...string) (*proc, error) {
	t.Helper()
	p := &proc{name: name, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waited = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output (last 40 lines):\n%s", name, lastLines(p.out.String(), 40))
		}
	})
	return p, nil
}

func (p *proc) exited() (bool, string) {
	select {
	case <-p.done:
		return true, fmt.Sprintf("%v: %s", p.waited, strings.TrimSpace(lastLines(p.out.String(), 10)))
	default:
		return false, ""
	}
}

func (p *proc) log() string { return lastLines(p.out.String(), 20) }

// stop asks the process to exit (SIGTERM), then kills it after 10 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ---- the binary ----

// ZkdBinary builds cmd/zkd (CGO_ENABLED=0, as the container image has it)
// into the test's temp directory and returns its path. Go's build cache
// makes repeated builds cheap.
func ZkdBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zkd")
	cmd := exec.Command(goCommand(), "build", "-o", bin, "./cmd/zkd")
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/zkd: %v\n%s", err, out)
	}
	return bin
}

// goCommand is the go command: the one running the tests where it can be
// found, as CI may not have it on PATH.
func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "/usr/local/go/bin/go"
}

// ModuleRoot returns the directory holding zkd's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
