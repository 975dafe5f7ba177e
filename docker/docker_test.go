// Package docker holds what `docker compose up` runs zkd with: the zkd
// image's Dockerfile, the script that builds the images without a
// registry, the nodes' zoo.cfg and myid files, Prometheus's configuration
// and Grafana's data source. This test builds the images and runs the
// compose stack (docker-compose.yml at the repository root).
package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/internal/promtest"
	"github.com/zkd-io/zkd/server/testpeer"
)

// The compose services the tests run (Grafana needs a registry).
var services = []string{"zkd1", "zkd2", "zkd3", "prometheus"}

var nodes = services[:3]

// testForDuration replaces ZkdDown's for: in the rules file the tests
// mount over the real one, so that the alert fires within the test's time
// bound; the expression and everything else stay as in
// alerts/zkd.rules.yml.
const testForDuration = "10s"

// stack is one compose project of the test.
type stack struct {
	t       *testing.T
	compose []string // docker compose or docker-compose
	root    string   // the repository root, where docker-compose.yml is
	project string
	files   []string
	env     []string
	client  map[string]string // service -> 127.0.0.1:port of its client port
	prom    *promtest.Prometheus
}

// composeCommand returns how to run Compose here, skipping the test when
// Docker is not usable.
func composeCommand(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skipf("docker is not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		t.Skipf("docker is not usable (docker info: %v): %s", err, lastLines(string(out), 3))
	}
	if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	t.Skip("neither `docker compose` nor docker-compose is installed")
	return nil
}

// buildImages runs docker/build-images.sh (go build, docker build, docker
// import of the local Prometheus; nothing is pulled).
func buildImages(t *testing.T, root string) {
	t.Helper()
	promtest.PrometheusBinary(t) // skips where there is none (outside CI)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "docker", "build-images.sh"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker/build-images.sh: %v\n%s", err, out)
	}
}

// freePort returns a port free on 127.0.0.1 a moment ago, for compose to
// publish on.
func freePort(t *testing.T) int { return testpeer.FreePort(t, "127.0.0.1") }

// startStack brings up the services with docker-compose.yml, the test's
// rules file and the given extra compose file (may be ""), on free ports,
// and removes everything (containers, network, volumes) at the end.
func startStack(t *testing.T, compose []string, root, extra string) *stack {
	t.Helper()

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s := &stack{
		t:       t,
		compose: compose,
		root:    root,
		project: "zkdtest" + hex.EncodeToString(suffix),
		files:   []string{filepath.Join(root, "docker-compose.yml"), testRulesOverride(t, root)},
		client:  map[string]string{},
	}
	if extra != "" {
		s.files = append(s.files, extra)
	}
	s.assignPorts()

	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.run(context.Background(), "logs", "--no-color", "--tail=30")
			t.Logf("compose logs (last 30 lines per service):\n%s", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := s.run(ctx, "down", "-v", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Errorf("compose down -v: %v\n%s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// A port free when picked can be taken by another test before docker
	// binds it; that attempt is torn down and retried on fresh ports.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		out, err := s.run(ctx, append([]string{"up", "-d", "--no-build"}, services...)...)
		if err == nil {
			return s
		}
		if attempt == attempts || !strings.Contains(out, "port is already allocated") {
			t.Fatalf("compose up (attempt %d): %v\n%s", attempt, err, out)
		}
		t.Logf("compose up: a published port was taken meanwhile; retrying on fresh ports")
		if out, err := s.run(ctx, "down", "-v", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Fatalf("compose down -v before retrying: %v\n%s", err, out)
		}
		s.assignPorts()
	}
}

// assignPorts picks fresh published ports for every service.
func (s *stack) assignPorts() {
	s.env = append(os.Environ(), "ZKD_PUBLISH_ADDRESS=127.0.0.1", "COMPOSE_PROJECT_NAME="+s.project)
	for i, n := range nodes {
		client, http := freePort(s.t), freePort(s.t)
		s.client[n] = fmt.Sprintf("127.0.0.1:%d", client)
		s.env = append(s.env, fmt.Sprintf("ZKD%d_CLIENT_PORT=%d", i+1, client), fmt.Sprintf("ZKD%d_HTTP_PORT=%d", i+1, http))
	}
	promPort := freePort(s.t)
	s.env = append(s.env, fmt.Sprintf("PROMETHEUS_PORT=%d", promPort))
	s.prom = promtest.NewClient(fmt.Sprintf("http://127.0.0.1:%d", promPort))
}

func (s *stack) run(ctx context.Context, args ...string) (string, error) {
	full := append([]string(nil), s.compose[1:]...)
	full = append(full, "-p", s.project, "--project-directory", s.root)
	for _, f := range s.files {
		full = append(full, "-f", f)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, s.compose[0], full...)
	cmd.Dir = s.root
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// testRulesOverride writes a copy of alerts/zkd.rules.yml with ZkdDown's
// for: shortened to testForDuration, and a compose file mounting it over
// the real rules in the prometheus service.
func testRulesOverride(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "alerts", "zkd.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)(- alert: ZkdDown\n(?:[ \t]+.*\n)*?[ \t]+for: )\S+`)
	if !re.Match(b) {
		t.Fatal("alerts/zkd.rules.yml: no ZkdDown alert with a for: to shorten")
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "zkd.rules.yml")
	if err := os.WriteFile(rules, re.ReplaceAll(b, []byte("${1}"+testForDuration)), 0o644); err != nil {
		t.Fatal(err)
	}
	override := filepath.Join(dir, "rules-override.yml")
	yml := fmt.Sprintf("services:\n  prometheus:\n    volumes:\n      - %q\n", rules+":/etc/prometheus/rules/zkd.rules.yml:ro")
	if err := os.WriteFile(override, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return override
}

// standaloneOverride writes a compose file giving every node a standalone
// zoo.cfg (docker/conf/zoo.cfg without the server lines).
func standaloneOverride(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker", "conf", "zoo.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "server.") {
			kept = append(kept, l)
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfg, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	var yml strings.Builder
	yml.WriteString("services:\n")
	for _, n := range nodes {
		fmt.Fprintf(&yml, "  %s:\n    volumes:\n      - %q\n", n, cfg+":/conf/zoo.cfg:ro")
	}
	override := filepath.Join(dir, "standalone-override.yml")
	if err := os.WriteFile(override, []byte(yml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return override
}

// modes asks every node for srvr over its published client port and
// returns node -> mode ("" when it does not serve).
func (s *stack) modes() map[string]string {
	out := map[string]string{}
	for _, n := range nodes {
		reply, err := testpeer.FourLetter(s.client[n], "srvr", 2*time.Second)
		if err != nil {
			out[n] = ""
			continue
		}
		if m := regexp.MustCompile(`(?m)^Mode: (\S+)`).FindStringSubmatch(reply); m != nil {
			out[n] = m[1]
		}
	}
	return out
}

// ensembleRefused reports whether a node's log shows zkd refusing the
// ensemble configuration (a build without quorum mode).
func (s *stack) ensembleRefused(ctx context.Context) (bool, string) {
	out, _ := s.run(ctx, "logs", "--no-color", "--tail=5", "zkd1")
	return strings.Contains(out, "describes an ensemble"), lastLines(out, 5)
}

// killAndAwaitZkdDown kills node (SIGKILL through compose) and waits until
// ZkdDown fires for its instance, and for it alone.
func (s *stack) killAndAwaitZkdDown(node string) {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if out, err := s.run(ctx, "kill", node); err != nil {
		t.Fatalf("compose kill %s: %v\n%s", node, err, out)
	}
	instance := node + ":8080"
	s.prom.WaitAlert(t, "ZkdDown", map[string]string{"instance": instance, "job": promtest.Job}, []string{"firing"}, 60*time.Second)
	alerts, err := s.prom.Alerts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == "ZkdDown" && a.Labels["instance"] != instance {
			t.Errorf("ZkdDown %s for %s, which still runs", a.State, a.Labels["instance"])
		}
	}
}

// TestCompose builds the images once and runs the compose stack twice:
// as shipped (an ensemble) and with standalone nodes.
func TestCompose(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and runs docker compose (-short)")
	}
	compose := composeCommand(t)
	root := promtest.ModuleRoot(t)
	buildImages(t, root)
	t.Run("ensemble", func(t *testing.T) { testEnsemble(t, compose, root) })
	t.Run("standalone", func(t *testing.T) { testStandalone(t, compose, root) })
}

// testEnsemble runs the stack as shipped: a three-node ensemble.
// The nodes must form a quorum (srvr over the published client ports:
// one leader, two followers), Prometheus must scrape all three, and
// killing a follower must fire ZkdDown for it while the other two keep
// serving. A zkd built before quorum mode refuses the configuration; the
// test then fails at once, saying so.
func testEnsemble(t *testing.T, compose []string, root string) {
	s := startStack(t, compose, root, "")
	var modes map[string]string
	err := promtest.Poll(t.Context(), 60*time.Second, func(ctx context.Context) (bool, error) {
		if refused, log := s.ensembleRefused(ctx); refused {
			return false, fmt.Errorf("this zkd has no quorum mode: it refuses the ensemble configuration:\n%s", log)
		}
		modes = s.modes()
		return isQuorum(modes), nil
	})
	if err != nil {
		t.Fatalf("the three nodes formed no quorum (want one leader and two followers; srvr modes %v): %v", modes, err)
	}
	s.prom.WaitTargetsUp(t, promtest.Job, len(nodes), 30*time.Second)
	var follower string
	for _, n := range nodes {
		if modes[n] == "follower" {
			follower = n
		}
	}
	s.killAndAwaitZkdDown(follower)
	var left map[string]string
	err = promtest.Poll(t.Context(), 30*time.Second, func(context.Context) (bool, error) {
		left = s.modes()
		delete(left, follower)
		leaders, followers := 0, 0
		for _, m := range left {
			leaders += btoi(m == "leader")
			followers += btoi(m == "follower")
		}
		return leaders == 1 && followers == 1, nil
	})
	if err != nil {
		t.Errorf("after killing %s the other two do not serve as leader and follower: %v", follower, left)
	}
}

// testStandalone runs the stack with three standalone nodes: Prometheus
// scrapes all three, each serves clients through its published port, and
// killing one fires ZkdDown.
func testStandalone(t *testing.T, compose []string, root string) {
	s := startStack(t, compose, root, standaloneOverride(t, root))
	s.prom.WaitTargetsUp(t, promtest.Job, len(nodes), 60*time.Second)
	for n, m := range s.modes() {
		if m != "standalone" {
			t.Errorf("%s: srvr mode %q over %s, want standalone", n, m, s.client[n])
		}
	}
	s.killAndAwaitZkdDown("zkd3")
}

func isQuorum(modes map[string]string) bool {
	leaders, followers := 0, 0
	for _, m := range modes {
		leaders += btoi(m == "leader")
		followers += btoi(m == "follower")
	}
	return leaders == 1 && followers == 2
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ---- static checks of the files, no Docker needed ----

// TestConfigFiles keeps the compose configuration consistent: one server
// line per node with the node's myid, Prometheus scraping each node's
// HTTP port as job zkd at the interval Grafana's data source assumes, and
// Grafana's data source otherwise identical to the one in
// dashboards/provisioning.
func TestConfigFiles(t *testing.T) {
	root := promtest.ModuleRoot(t)
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	zoo := read("docker/conf/zoo.cfg")
	for i, n := range nodes {
		if got := strings.TrimSpace(read(filepath.Join("docker", n, "myid"))); got != strconv.Itoa(i+1) {
			t.Errorf("docker/%s/myid = %q, want %d", n, got, i+1)
		}
		if want := fmt.Sprintf("server.%d=%s:2888:3888;2181", i+1, n); !strings.Contains(zoo, want+"\n") {
			t.Errorf("docker/conf/zoo.cfg lacks %q", want)
		}
	}
	for _, want := range []string{"dataDir=/data\n", "clientPort=2181\n", "zkd.httpPort=8080\n", "srvr"} {
		if !strings.Contains(zoo, want) {
			t.Errorf("docker/conf/zoo.cfg lacks %q (the compose file and the healthcheck rely on it)", want)
		}
	}

	prom := read("docker/prometheus/prometheus.yml")
	if !strings.Contains(prom, "job_name: "+promtest.Job+"\n") || !strings.Contains(prom, `targets: ["zkd1:8080", "zkd2:8080", "zkd3:8080"]`) {
		t.Errorf("docker/prometheus/prometheus.yml: want job %s scraping zkd1:8080, zkd2:8080, zkd3:8080", promtest.Job)
	}
	interval := regexp.MustCompile(`(?m)^  scrape_interval: (\S+)$`).FindStringSubmatch(prom)
	grafana := read("docker/grafana/datasources/prometheus.yaml")
	timeInterval := regexp.MustCompile(`(?m)^      timeInterval: (\S+)$`).FindStringSubmatch(grafana)
	if interval == nil || timeInterval == nil || interval[1] != timeInterval[1] {
		t.Errorf("Prometheus scrape_interval %v and Grafana timeInterval %v differ", interval, timeInterval)
	}
	shared := read("dashboards/provisioning/datasources/prometheus.yaml")
	if body(grafana) != body(shared) {
		t.Errorf("docker/grafana/datasources/prometheus.yaml differs from dashboards/provisioning/datasources/prometheus.yaml in more than url and timeInterval:\n%s\n---\n%s", body(grafana), body(shared))
	}
	if bin, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(bin, "check", "config", "--syntax-only", filepath.Join(root, "docker/prometheus/prometheus.yml")).CombinedOutput(); err != nil {
			t.Errorf("promtool check config: %v\n%s", err, out)
		}
	}
}

// body is a provisioning file without comments, url and timeInterval.
func body(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		tl := strings.TrimSpace(l)
		if tl == "" || strings.HasPrefix(tl, "#") || strings.HasPrefix(tl, "url:") || strings.HasPrefix(tl, "timeInterval:") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// TestComposeConfig lets Compose itself validate docker-compose.yml and
// checks what the README promises: the services, Grafana's provisioning
// mounts, and ports published on 127.0.0.1 only.
func TestComposeConfig(t *testing.T) {
	compose := composeCommand(t)
	root := promtest.ModuleRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args := append(append([]string(nil), compose[1:]...), "-f", filepath.Join(root, "docker-compose.yml"), "config")
	cmd := exec.CommandContext(ctx, compose[0], args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("compose config: %v\n%s", err, out)
	}
	cfg := string(out)
	for _, want := range append(services, "grafana",
		"/etc/grafana/provisioning/dashboards", "/etc/grafana/provisioning/datasources", "/etc/grafana/dashboards/zkd",
		"GF_AUTH_ANONYMOUS_ENABLED", "/etc/prometheus/rules/zkd.rules.yml", "zkd1-data", "prometheus-data") {
		if !strings.Contains(cfg, want) {
			t.Errorf("compose config lacks %q", want)
		}
	}
	// Compose v2 prints long-syntax ports (host_ip: ...), v1 short ones
	// (- 127.0.0.1:2181:2181/tcp).
	ips := regexp.MustCompile(`host_ip: (\S+)|(?m)^\s+- "?([0-9.]+):\d+:\d+`).FindAllStringSubmatch(cfg, -1)
	if len(ips) != 8 { // two per node, one each for Prometheus and Grafana
		t.Errorf("compose config publishes %d ports, want 8:\n%s", len(ips), cfg)
	}
	for _, m := range ips {
		ip := strings.Trim(m[1]+m[2], `"'`)
		if net.ParseIP(ip).String() != "127.0.0.1" {
			t.Errorf("a port is published on %s, not 127.0.0.1", ip)
		}
	}
}
