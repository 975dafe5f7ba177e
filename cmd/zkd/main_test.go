package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/testpeer"
)

// buildBinary compiles zkd once per test run: these tests exercise the
// binary an operator runs, flags, zoo.cfg and signals included.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zkd")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"version"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "zkd ") || !strings.Contains(out.String(), "ZooKeeper 3.8") {
		t.Fatalf("version output %q", out.String())
	}
	if err := run([]string{"nope"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "unknown subcommand") {
		t.Fatalf("unknown subcommand: err=%v", err)
	}
	if err := run(nil, &out, &errOut); err == nil {
		t.Fatal("no subcommand accepted")
	}
}

func TestServerBadConfig(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cases := []struct{ name, cfg, want string }{
		{"bad tickTime", "tickTime=abc\ndataDir=" + dir + "\nclientPort=2181\n", "tickTime"},
		{"bad port", "dataDir=" + dir + "\nclientPort=99999\n", "clientPort"},
		{"timeouts reversed", "dataDir=" + dir + "\nclientPort=2181\nminSessionTimeout=9000\nmaxSessionTimeout=4000\n", "SessionTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "zoo.cfg")
			if err := os.WriteFile(cfg, []byte(tc.cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "server", cfg)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("server started on a bad config:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("error does not name %q:\n%s", tc.want, out)
			}
		})
	}
}

func TestServerEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	clientPort := testpeer.FreePort(t, "127.0.0.1")
	httpPort := testpeer.FreePort(t, "127.0.0.1")
	cfg := filepath.Join(dir, "zoo.cfg")
	conf := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"zkd.httpAddress=127.0.0.1\nzkd.httpPort=%d\n4lw.commands.whitelist=srvr,ruok,mntr\nsomeUnknownKey=1\n",
		dir, clientPort, httpPort)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cmd := exec.Command(bin, "server", cfg)
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", clientPort)
	var srvr string
	for i := 0; i < 100; i++ {
		out, err := testpeer.FourLetter(addr, "srvr", time.Second)
		if err == nil && strings.Contains(out, "Mode: standalone") {
			srvr = out
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if srvr == "" {
		t.Fatalf("server did not answer srvr; logs:\n%s", logs.String())
	}
	if out, _ := testpeer.FourLetter(addr, "conf", time.Second); !strings.Contains(out, "not in the whitelist") {
		t.Errorf("conf should be refused by the whitelist, got %q", out)
	}

	conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create("/e2e", []byte("hi"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	data, _, err := conn.Get("/e2e")
	if err != nil || string(data) != "hi" {
		t.Fatalf("get: %q %v", data, err)
	}
	conn.Close()

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`zkd_server_requests_total{op="create",result="ok"} 1`,
		`zkd_server_requests_total{op="getData",result="ok"} 1`,
		"zkd_server_request_duration_seconds_bucket",
		"zkd_tree_znodes",
		"zkd_session_created_total 1",
		"zkd_watch_active",
		"zkd_build_info",
		"zkd_server_four_letter_commands_total",
		"zkd_config_warnings 1", // someUnknownKey
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/commands/monitor", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"command" : "monitor"`, `"server_state" : "standalone"`, `"znode_count" :`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/commands/monitor lacks %s:\n%s", want, body)
		}
	}
	if !strings.Contains(logs.String(), "someUnknownKey") {
		t.Errorf("unknown config key was not logged:\n%s", logs.String())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine os/exec starts
// and the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
