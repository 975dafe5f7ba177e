package testpeer

import (
	"cmp"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// TestApacheZKWithRealClients proves the harness end to end: a real Apache
// ZooKeeper server, written to by go-zookeeper and read back by zkCli.sh,
// cli_mt and kazoo, restarted on its own data directory and inspected with
// the Apache persistence tools.
func TestApacheZKWithRealClients(t *testing.T) {
	z := StartApacheZK(t, ApacheOptions{})

	srvr, err := FourLetter(z.Addr, "srvr", 5*time.Second)
	if err != nil {
		t.Fatalf("srvr: %v", err)
	}
	if !strings.Contains(srvr, "Mode: standalone") || !strings.Contains(srvr, "Zookeeper version: 3.8.") {
		t.Fatalf("srvr reply lacks standalone 3.8 server:\n%s", srvr)
	}
	if ruok, err := FourLetter(z.Addr, "ruok", 5*time.Second); err != nil || ruok != "imok" {
		t.Fatalf("ruok = %q, %v; want imok", ruok, err)
	}
	checkAdminRuok(t, z)

	conn := connect(t, z.Addr)
	const data = "hello from go"
	mustCreate(t, conn, "/testpeer", data)
	mustCreate(t, conn, "/testpeer/child", "")

	t.Run("zkCli", func(t *testing.T) {
		out, err := RunZkCli(t, z.Addr, "get", "/testpeer")
		if err != nil || out != data+"\n" {
			t.Errorf("zkCli get /testpeer = %q, %v; want %q", out, err, data+"\n")
		}
		out, err = RunZkCli(t, z.Addr, "get", "/missing")
		if err == nil || !strings.Contains(err.Error(), "Node does not exist: /missing") {
			t.Errorf("zkCli get /missing = %q, %v; want a 'Node does not exist' error", out, err)
		}
	})

	t.Run("zkCliBatch", func(t *testing.T) {
		out, err := RunZkCliBatch(t, z.Addr, "get /testpeer", "ls /testpeer", "create /batch b", "get /batch", "get /missing",
			// TTL znodes work only with extendedTypesEnabled, which the harness sets.
			"create -t 600000 /ttl t")
		if err != nil {
			t.Fatal(err)
		}
		want := data + "\n[child]\nCreated /batch\nb\nNode does not exist: /missing\nCreated /ttl\n"
		if out != want {
			t.Errorf("zkCli batch output:\n%q\nwant\n%q", out, want)
		}
	})

	t.Run("cli_mt", func(t *testing.T) {
		out, err := RunCliMt(t, z.Addr, "get /testpeer", "ls /testpeer", "create /climt", "get /nope", "get bad", "exists /climt")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"/testpeer: rc = 0\n value_len = 13\n" + data,
			"/testpeer: rc = 0\n\tchild\n",
			"[/climt]: rc = 0\n\tname = /climt\n",
			"/nope: rc = -101\n",
			"Path must start with /, found: bad\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("cli_mt output lacks %q:\n%s", want, out)
			}
		}
		if got := mustGet(t, conn, "/climt"); got != "new" {
			t.Errorf("/climt created by cli_mt holds %q, want cli_mt's fixed %q", got, "new")
		}
	})

	t.Run("kazoo", func(t *testing.T) {
		out, err := RunKazoo(t, z.Addr, `print(zk.get("/testpeer")[0].decode())
zk.create("/kazoo", b"from kazoo")`)
		if err != nil || out != data+"\n" {
			t.Errorf("kazoo get /testpeer = %q, %v; want %q", out, err, data+"\n")
		}
		if got := mustGet(t, conn, "/kazoo"); got != "from kazoo" {
			t.Errorf("/kazoo = %q, want %q", got, "from kazoo")
		}
		if _, err := RunKazoo(t, z.Addr, `zk.get("/missing")`); err == nil || !strings.Contains(err.Error(), "NoNodeError") {
			t.Errorf("kazoo get /missing error = %v, want NoNodeError", err)
		}
	})

	conn.Close()
	pid := z.Pid()
	z.Stop()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("server process %d still exists after Stop (kill -0: %v)", pid, err)
	}

	t.Run("restart on existing data directory", func(t *testing.T) {
		z2 := StartApacheZK(t, ApacheOptions{DataDir: z.DataDir, DisableAdminServer: true})
		if z2.AdminPort != 0 || z2.AdminURL() != "" {
			t.Errorf("admin server reported as %d %q though disabled", z2.AdminPort, z2.AdminURL())
		}
		if got := mustGet(t, connect(t, z2.Addr), "/testpeer"); got != data {
			t.Errorf("/testpeer after restart = %q, want %q", got, data)
		}
	})

	t.Run("persistence tools", func(t *testing.T) {
		logs := globOne(t, filepath.Join(z.DataDir, "version-2", "log.*"))
		out, err := RunApacheTool(t, TxnLogToolkit, "-d", logs[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"create /testpeer," + data, "create /kazoo,from kazoo", "create /climt,new"} {
			if !strings.Contains(out, want) {
				t.Errorf("TxnLogToolkit output lacks %q:\n%s", want, out)
			}
		}
		// The restarted server snapshotted everything on start-up.
		snap := newestByZxid(t, globOne(t, filepath.Join(z.DataDir, "version-2", "snapshot.*")))
		out, err = RunApacheTool(t, SnapshotFormatter, "-d", snap)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"/testpeer/child\n", "data = " + b64(data)} {
			if !strings.Contains(out, want) {
				t.Errorf("SnapshotFormatter output lacks %q:\n%s", want, out)
			}
		}
		if _, err := RunApacheTool(t, SnapshotFormatter, filepath.Join(t.TempDir(), "absent")); err == nil {
			t.Error("SnapshotFormatter on a missing file: want an error")
		}
	})
}

// TestStartApacheZKReportsStartupFailure checks that a server that cannot
// start yields an error carrying its log, and leaves nothing running.
func TestStartApacheZKReportsStartupFailure(t *testing.T) {
	_, err := startApacheZK(t, Java(t), ApacheClasspath(t), ApacheOptions{
		DisableAdminServer: true,
		ExtraConfig:        map[string]string{"syncLimit": "not-a-number"},
	})
	if err == nil {
		t.Fatal("start with an invalid zoo.cfg succeeded")
	}
	t.Logf("start-up error as reported:\n%v", err)
	for _, want := range []string{"exited during start-up", "log tail:", "not-a-number"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start-up error lacks %q:\n%v", want, err)
		}
	}
}

func checkAdminRuok(t *testing.T, z *ApacheZK) {
	t.Helper()
	if z.AdminPort == 0 {
		t.Fatal("admin server not enabled by default")
	}
	// Jetty's first request loads and compiles its servlet stack; with
	// several JVMs and -race test binaries sharing two cores that has
	// taken more than 5 s, so the bound is generous.
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(z.AdminURL() + "/commands/ruok")
	if err != nil {
		t.Fatalf("admin ruok: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"command" : "ruok"`) {
		t.Fatalf("admin ruok = %d %q, %v", resp.StatusCode, body, err)
	}
}

func connect(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(conn.Close)
	return conn
}

func mustCreate(t *testing.T, conn *zk.Conn, path, data string) {
	t.Helper()
	if _, err := conn.Create(path, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
}

func mustGet(t *testing.T, conn *zk.Conn, path string) string {
	t.Helper()
	data, _, err := conn.Get(path)
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	return string(data)
}

// globOne returns the matches of pattern, failing if there are none.
func globOne(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		entries, _ := os.ReadDir(filepath.Dir(pattern))
		t.Fatalf("no file matches %s (%v); directory holds %v", pattern, err, entries)
	}
	return m
}

// newestByZxid returns the snapshot or log file whose hexadecimal zxid
// suffix is highest.
func newestByZxid(t *testing.T, files []string) string {
	t.Helper()
	zxid := func(f string) uint64 {
		ext := filepath.Ext(f)
		v, err := strconv.ParseUint(strings.TrimPrefix(ext, "."), 16, 64)
		if err != nil {
			t.Fatalf("file %s: no hexadecimal zxid suffix: %v", f, err)
		}
		return v
	}
	return slices.MaxFunc(files, func(a, b string) int { return cmp.Compare(zxid(a), zxid(b)) })
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
