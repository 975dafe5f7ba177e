package testpeer

import (
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestLoopbackHost(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "127.0.0.1"},
		{3, "127.0.0.3"},
		{255, "127.0.0.255"},
		{256, "127.0.1.0"},
		{1<<16 + 5, "127.1.0.5"},
		{1<<24 - 2, "127.255.255.254"},
	} {
		if got := LoopbackHost(tc.n); got != tc.want {
			t.Errorf("LoopbackHost(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, n := range []int{0, -1, 1<<24 - 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("LoopbackHost(%d) did not panic", n)
				}
			}()
			LoopbackHost(n)
		}()
	}
}

// TestLoopbackBlock: a block is a whole /24 outside 127.0.0.x whose
// second octet is this process's, and a server can listen in it.
func TestLoopbackBlock(t *testing.T) {
	wantB := strconv.Itoa(os.Getpid()%250 + 1)
	for range 100 {
		n := LoopbackBlock()
		if n&0xff != 0 {
			t.Fatalf("LoopbackBlock() = %#x, not the start of a /24", n)
		}
		first, last := LoopbackHost(n+1), LoopbackHost(n+254)
		if strings.HasPrefix(first, "127.0.") || strings.Split(first, ".")[1] != wantB || !strings.HasSuffix(last, ".254") {
			t.Fatalf("LoopbackBlock() = %#x: hosts %s .. %s, want 127.%s.<1..250>.x", n, first, last, wantB)
		}
	}
	host := LoopbackHost(LoopbackBlock() + 1)
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	l.Close()
}

func TestFreePort(t *testing.T) {
	host := LoopbackHost(2)
	port := FreePort(t, host)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort = %d, not a port", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d from FreePort cannot be bound: %v", port, err)
	}
	l.Close()
	seen := map[int]bool{port: true}
	for range 300 {
		p := FreePort(t, host)
		if seen[p] {
			t.Fatalf("FreePort returned port %d twice", p)
		}
		seen[p] = true
	}
}

func TestFourLetter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cmd     string
		reply   string // what the fake server answers before closing
		silent  bool   // the fake server never answers
		want    string
		wantErr string
	}{
		{name: "reply until close", cmd: "ruok", reply: "imok", want: "imok"},
		{name: "multi-line reply", cmd: "srvr", reply: "Mode: standalone\nNode count: 5\n", want: "Mode: standalone\nNode count: 5\n"},
		{name: "empty reply", cmd: "stat", reply: "", want: ""},
		{name: "silent server", cmd: "ruok", silent: true, wantErr: "timeout"},
		{name: "too short", cmd: "ruo", wantErr: "exactly 4 bytes"},
		{name: "too long", cmd: "ruok!", wantErr: "exactly 4 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, received := fakeFourLetterServer(t, tc.reply, tc.silent)
			got, err := FourLetter(addr, tc.cmd, 500*time.Millisecond)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FourLetter(%q) error = %v, want one containing %q", tc.cmd, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("FourLetter(%q) = %q, %v; want %q", tc.cmd, got, err, tc.want)
			}
			if r := <-received; r != tc.cmd {
				t.Errorf("server received %q, want %q", r, tc.cmd)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t, "127.0.0.1")))
		if _, err := FourLetter(addr, "ruok", time.Second); err == nil || !strings.Contains(err.Error(), "ruok to "+addr) {
			t.Errorf("FourLetter to a closed port: error = %v, want one naming the command and address", err)
		}
	})
}

// fakeFourLetterServer accepts one connection, reads 4 bytes, sends reply
// and closes, like Apache ZooKeeper; silent servers read and wait instead.
func fakeFourLetterServer(t *testing.T, reply string, silent bool) (string, <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		received <- string(buf)
		if silent {
			_, _ = io.Copy(io.Discard, c) // until the client gives up
			return
		}
		_, _ = io.WriteString(c, reply)
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String(), received
}

func TestCleanZkCliOutput(t *testing.T) {
	const connected = "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{
			name: "one command, event before output",
			in:   "Connecting to 127.0.0.1:2181\n" + connected + "hello\n",
			want: "hello\n",
		},
		{
			name: "one command, event after output",
			in:   "Connecting to 127.0.0.1:2181\nhello\n" + connected,
			want: "hello\n",
		},
		{
			name: "batch with stderr interleaved and logging noise",
			in: "SLF4J: Failed to load class \"org.slf4j.impl.StaticLoggerBinder\".\n" +
				"Connecting to 127.0.0.1:2181\nWelcome to ZooKeeper!\nJLine support is disabled\n" + connected +
				"Created /a\nx\n\nNode does not exist: /b\n",
			want: "Created /a\nx\n\nNode does not exist: /b\n",
		},
		{
			name: "later watch events and look-alike data are kept",
			in: "Connecting to h:1\n" + connected + "Connecting to nothing\n" +
				"\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/a\n",
			want: "Connecting to nothing\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/a\n",
		},
		{name: "empty", in: "", want: ""},
	} {
		if got := cleanZkCliOutput(tc.in); got != tc.want {
			t.Errorf("%s: cleanZkCliOutput =\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
}

func TestCliMtAwaitsCompletion(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want bool
	}{
		{"get /a", true},
		{"aget /a", true},
		{"set /a data", true},
		{"ls /", true},
		{"ls2 /", true},
		{"create /a", true},
		{"create +es /a", true},
		{"create2 /a", true},
		{"delete /a", true},
		{"sync /a", true},
		{"config", true},
		{"reconfig -remove 2", true},
		{"exists /a", false}, // synchronous in cli_mt
		{"aexists /a", false},
		{"wexists /a", false},
		{"myid", false},
		{"addauth digest u:p", false},
		{"help", false},
		{"verbose", false},
		{"getx /a", false},
		{"", false},
	} {
		if got := cliMtAwaitsCompletion(tc.cmd); got != tc.want {
			t.Errorf("cliMtAwaitsCompletion(%q) = %v, want %v", tc.cmd, got, tc.want)
		}
	}
}

func TestCliMtRejected(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want bool
	}{
		{"Path must start with /, found: a\n", true},
		{"Creating [/a] node (mode: 0)\nError -8 for /a/\n", true},
		{"No data found after path\n", true},
		{"Unknown option: x\n", true},
		{"Creating [/a] node (mode: 0)\n", false},
		{"Watcher CHILD_EVENT state = CONNECTED_STATE for path /\n", false},
		{"", false},
	} {
		if got := cliMtRejected(tc.out); got != tc.want {
			t.Errorf("cliMtRejected(%q) = %v, want %v", tc.out, got, tc.want)
		}
	}
}

func TestZooConfigGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		z      *ApacheZK
		tick   time.Duration
		extra  map[string]string
	}{
		{
			golden: "zoo.cfg.golden",
			z:      &ApacheZK{Host: "127.0.0.1", ClientPort: 2181, AdminPort: 8080, DataDir: "/data", DataLogDir: "/data"},
			tick:   2 * time.Second,
		},
		{
			golden: "zoo-noadmin-extra.cfg.golden",
			z:      &ApacheZK{Host: "127.0.0.7", ClientPort: 12181, DataDir: "/snap", DataLogDir: "/txnlog"},
			tick:   100 * time.Millisecond,
			extra:  map[string]string{"maxClientCnxns": "60", "snapCount": "10", "autopurge.purgeInterval": "1"},
		},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			got := zooConfig(tc.z, tc.tick, tc.extra)
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("zoo.cfg mismatch with %s:\n%s", path, got)
			}
		})
	}
}

func TestApacheOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    ApacheOptions
		wantErr string // empty: valid
	}{
		{name: "zero value", opts: ApacheOptions{}},
		{name: "full", opts: ApacheOptions{
			ClientPort: 2181, TickTime: 100 * time.Millisecond,
			SystemProps: map[string]string{"znode.container.checkIntervalMs": "100"},
			ExtraConfig: map[string]string{"maxClientCnxns": "10", "extendedTypesEnabled": "false"},
		}},
		{name: "negative port", opts: ApacheOptions{ClientPort: -1}, wantErr: "client port -1"},
		{name: "port too big", opts: ApacheOptions{ClientPort: 70000}, wantErr: "client port 70000"},
		{name: "sub-millisecond tick", opts: ApacheOptions{TickTime: 1500 * time.Microsecond}, wantErr: "whole number of milliseconds"},
		{name: "derived key", opts: ApacheOptions{ExtraConfig: map[string]string{"dataDir": "/x"}}, wantErr: "ApacheOptions.DataDir"},
		{name: "admin port key", opts: ApacheOptions{ExtraConfig: map[string]string{"admin.serverPort": "1"}}, wantErr: "ApacheOptions.DisableAdminServer"},
		{name: "key with =", opts: ApacheOptions{ExtraConfig: map[string]string{"a=b": "c"}}, wantErr: `zoo.cfg key "a=b"`},
		{name: "value with newline", opts: ApacheOptions{ExtraConfig: map[string]string{"a": "b\nc=d"}}, wantErr: "line break"},
		{name: "property with space", opts: ApacheOptions{SystemProps: map[string]string{"a b": "c"}}, wantErr: `system property name "a b"`},
		{name: "empty property", opts: ApacheOptions{SystemProps: map[string]string{"": "c"}}, wantErr: "system property name"},
	} {
		err := tc.opts.validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error = %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestJavaArgs(t *testing.T) {
	got := javaArgs("/a.jar:/b.jar", "/w/zoo.cfg", ApacheOptions{
		JVMFlags:    []string{"-Xmx256m"},
		SystemProps: map[string]string{"zookeeper.snapshot.trust.empty": "true", "b.prop": "x=y"},
	})
	want := []string{
		"-XX:-UsePerfData",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
		"-Xmx256m",
		"-Db.prop=x=y",
		"-Dzookeeper.snapshot.trust.empty=true",
		"-cp", "/a.jar:/b.jar",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", "/w/zoo.cfg",
	}
	if !slices.Equal(got, want) {
		t.Errorf("javaArgs =\n%q\nwant\n%q", got, want)
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
	} {
		if got := lastLines(tc.in, tc.n); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
