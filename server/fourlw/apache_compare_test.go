package fourlw

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/testpeer"
)

var updateApache = flag.Bool("update-apache", false,
	"rewrite testdata/apache/*.shape from a real Apache ZooKeeper 3.8 (see TestApacheShapes)")

// TestApacheShapes runs every four-letter word against a real Apache
// ZooKeeper 3.8 and against Run fed the equivalent state, and checks that
// both outputs have the shape recorded in testdata/apache/<name>.shape:
// the same lines in the same order, with the same labels and keys.
//
// A shape is an output passed through its command's normalizer, which
// replaces the values that legitimately differ between two servers
// (latencies, counters, session ids, ports, times, paths, the version and
// JVM facts) with placeholders such as <int>, and puts lines that
// ZooKeeper prints in hash-map order into a fixed order. Every other byte,
// newlines included, must match.
//
// The shapes were captured from Debian's zookeeper 3.8.0 package. To
// regenerate them (after changing the scenario or a normalizer, or for
// another ZooKeeper release) run
//
//	go test ./server/fourlw -run TestApacheShapes -update-apache
//
// and review the diff: a changed shape means ZooKeeper's output changed,
// and Run must follow.
func TestApacheShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM running Apache ZooKeeper")
	}
	z := testpeer.StartApacheZK(t, testpeer.ApacheOptions{DisableAdminServer: true})
	sid1, sid2 := apacheScenario(t, z.Addr)
	src := apacheEquivalent(sid1, sid2)
	now := time.Now()

	tests := []struct {
		name      string // shape file name
		cmd       string
		arg       int64 // for stmk
		normalize func(string) string
	}{
		{"ruok", "ruok", 0, nil},
		{"srvr", "srvr", 0, chain(statRules...)},
		{"stat", "stat", 0, chain(append(slices.Clone(statRules), connRules...)...)},
		{"cons", "cons", 0, chain(connRules...)},
		{"conf", "conf", 0, chain(re(`(?m)^(\w+)=.*$`, "$1=<value>"))},
		{"dump", "dump", 0, chain(
			// Empty buckets linger in ZooKeeper's expiry queues, and
			// whether two elements share a bucket depends on timing, so
			// the bucket lines go; their format is checked by the regexp.
			re(`(?m)^\d+ expire at [A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} \S+ \d{4}:\n`, ""),
			re(`Sets \(\d+\)`, "Sets (<int>)"),
			re(`0x[0-9a-f]{8,}`, "0x<sid>"),
			re(`/127\.0\.0\.1:\d+`, "/127.0.0.1:<port>"),
			sortTabRuns)},
		{"envi", "envi", 0, chain(
			// go.version stands where java.version does; the other java.*
			// properties have no Go counterpart.
			re(`(?m)^(?:java|go)\.version=.*$`, "<runtime>.version=<value>"),
			re(`(?m)^java\.[a-z.]+=.*\n`, ""),
			re(`(?m)^(os\.memory\.[a-z]+)=\d+MB$`, "$1=<int>MB"),
			re(`(?m)^(zookeeper\.version|host\.name|os\.name|os\.arch|os\.version|user\.name|user\.home|user\.dir)=.+$`, "$1=<value>"))},
		{"mntr", "mntr", 0, normalizeMonitor},
		{"wchs", "wchs", 0, nil},
		{"wchc", "wchc", 0, chain(re(`0x[0-9a-f]{8,}`, "0x<sid>"), sortTabRuns, sortBlocks("0x"))},
		{"wchp", "wchp", 0, chain(re(`0x[0-9a-f]{8,}`, "0x<sid>"), sortTabRuns, sortBlocks("/"))},
		{"dirs", "dirs", 0, chain(re(`\d+`, "<int>"))},
		{"isro", "isro", 0, nil},
		{"hash", "hash", 0, nil},
		{"gtmk", "gtmk", 0, nil},
		{"stmk", "stmk", 0x1234, nil},
		{"gtmk-after-stmk", "gtmk", 0, nil},
		{"crst", "crst", 0, nil},
		{"srst", "srst", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			norm := tc.normalize
			if norm == nil {
				norm = func(s string) string { return s }
			}
			apache, err := fourLetter(z.Addr, tc.cmd, tc.arg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "apache", tc.name+".shape")
			if *updateApache {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(norm(apache)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read shape (run with -update-apache to capture it): %v", err)
			}
			want := string(b)
			if got := norm(apache); got != want {
				t.Errorf("Apache ZooKeeper's %s no longer has the recorded shape %s:\n--- Apache ---\n%s\n--- shape ---\n%s\n--- raw ---\n%q",
					tc.cmd, path, got, want, apache)
			}
			ours := RunWithArg(tc.cmd, tc.arg, src, now)
			if got := norm(ours); got != want {
				t.Errorf("Run(%q) does not have Apache ZooKeeper's shape %s:\n--- ours ---\n%s\n--- shape ---\n%s\n--- raw ---\n%q",
					tc.cmd, path, got, want, ours)
			}
		})
	}
}

// apacheScenario gives the server two sessions, ephemeral nodes and data
// and child watches, and returns the session ids. The sessions stay open
// until the test ends.
func apacheScenario(t *testing.T, addr string) (sid1, sid2 int64) {
	t.Helper()
	connect := func(timeout time.Duration) *zk.Conn {
		c, events, err := zk.Connect([]string{addr}, timeout, zk.WithLogInfo(false))
		if err != nil {
			t.Fatalf("connect to %s: %v", addr, err)
		}
		t.Cleanup(c.Close)
		deadline := time.After(10 * time.Second)
		for c.State() != zk.StateHasSession {
			select {
			case <-events:
			case <-deadline:
				t.Fatalf("no session with %s after 10s (state %v)", addr, c.State())
			}
		}
		return c
	}
	c1, c2 := connect(10*time.Second), connect(6*time.Second)
	acl := zk.WorldACL(zk.PermAll)
	for _, n := range []struct {
		path  string
		flags int32
	}{{"/a", 0}, {"/a/e1", zk.FlagEphemeral}, {"/a/e2", zk.FlagEphemeral}} {
		if _, err := c1.Create(n.path, []byte("x"), n.flags, acl); err != nil {
			t.Fatalf("create %s: %v", n.path, err)
		}
	}
	// Data watches: c1 and c2 on /a, c2 on the missing /nope; a child
	// watch, which wchs/wchc/wchp leave out, from c2 on /a.
	if _, _, _, err := c1.GetW("/a"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c2.GetW("/a"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c2.ChildrenW("/a"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c2.ExistsW("/nope"); err != nil {
		t.Fatal(err)
	}
	return c1.SessionID(), c2.SessionID()
}

// apacheEquivalent is the state of apacheScenario's server as zkd would
// describe it to Run, while a four-letter word is being answered.
func apacheEquivalent(sid1, sid2 int64) *fakeSource {
	est := time.Now().Add(-time.Second)
	return &fakeSource{
		version: "3.8.4-zkd, built on 2025-01-02 03:04 UTC",
		info: ServerInfo{
			MinLatencyMs: 0, AvgLatencyMs: 1.25, MaxLatencyMs: 12,
			PacketsReceived: 14, PacketsSent: 13,
			NumAliveConnections: 3, // two sessions and the 4lw connection
			Zxid:                5,
			Mode:                "standalone",
			NodeCount:           7,
			WatchCount:          4,
			EphemeralsCount:     2,
			ApproximateDataSize: 59,
			OpenFileDescriptors: 20, MaxFileDescriptors: 1024,
			GlobalSessions:      2,
			Uptime:              3 * time.Second,
			ClientResponseSizes: &BufferSizes{Last: 16, Min: 16, Max: 100},
		},
		conns: []ConnInfo{
			{Remote: "/127.0.0.1:40000", Received: 1, FourLetter: true},
			{Remote: "/127.0.0.1:40001", Received: 6, Sent: 6, SessionID: sid1, LastOp: "GETD", Established: est,
				Timeout: 10000, LastCxid: 4, LastZxid: 5, LastResponse: est, LastLatencyMs: 1, AvgLatencyMs: 2, MaxLatencyMs: 12},
			{Remote: "/127.0.0.1:40002", Received: 5, Sent: 5, SessionID: sid2, LastOp: "EXIS", Established: est,
				Timeout: 6000, LastCxid: 3, LastZxid: 5, LastResponse: est, LastLatencyMs: 1, AvgLatencyMs: 1, MaxLatencyMs: 3},
		},
		conf: []string{
			"clientPort=2181", "secureClientPort=-1", "dataDir=/var/lib/zkd/version-2", "dataDirSize=0",
			"dataLogDir=/var/lib/zkd/version-2", "dataLogSize=0", "tickTime=2000", "maxClientCnxns=0",
			"minSessionTimeout=4000", "maxSessionTimeout=40000", "clientPortListenBacklog=-1", "serverId=0",
		},
		sessions:   []SessionInfo{{ID: sid1, Timeout: 10 * time.Second}, {ID: sid2, Timeout: 6 * time.Second}},
		ephemerals: map[int64][]string{sid1: {"/a/e1", "/a/e2"}},
		byConn:     map[int64][]string{sid1: {"/a"}, sid2: {"/a", "/nope"}},
		byPath:     map[string][]int64{"/a": {sid1, sid2}, "/nope": {sid2}},
		summary:    [3]int{2, 2, 3},
		dataBytes:  4096, logBytes: 4096,
		monitor: []KV{{"zk_zkd_extra", "1"}},
		mask:    NewTraceMask(),
	}
}

// fourLetter sends cmd, and stmk's argument, to a ZooKeeper server and
// returns its reply.
func fourLetter(addr, cmd string, arg int64) (string, error) {
	if ArgLen(cmd) == 0 {
		return testpeer.FourLetter(addr, cmd, 5*time.Second)
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("%s to %s: %w", cmd, addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := conn.Write(binary.BigEndian.AppendUint64([]byte(cmd), uint64(arg))); err != nil {
		return "", fmt.Errorf("%s to %s: send: %w", cmd, addr, err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		return "", fmt.Errorf("%s to %s: read reply: %w", cmd, addr, err)
	}
	return string(reply), nil
}

// Normalizer rules shared by srvr and stat, and by stat and cons.
var (
	statRules = []func(string) string{
		re(`(?m)^Zookeeper version: .+$`, "Zookeeper version: <version>"),
		re(`(?m)^Latency min/avg/max: \d+/\d+\.\d+(?:E-?\d+)?/\d+$`, "Latency min/avg/max: <int>/<double>/<int>"),
		re(`(?m)^(Received|Sent|Outstanding|Node count): \d+$`, "$1: <int>"),
		re(`(?m)^Zxid: 0x[0-9a-f]+$`, "Zxid: 0x<hex>"),
	}
	connRules = []func(string) string{
		re(`(?m)^ /127\.0\.0\.1:\d+\[`, " /127.0.0.1:<port>["),
		re(`recved=\d+,sent=\d+`, "recved=<int>,sent=<int>"),
		re(`,sid=0x[0-9a-f]+,lop=[A-Za-z]+,est=\d+,`, ",sid=0x<sid>,lop=<op>,est=<ms>,"),
		re(`,lcxid=0x[0-9a-f]+,lzxid=0x[0-9a-f]+,lresp=\d+,`, ",lcxid=0x<hex>,lzxid=0x<hex>,lresp=<ms>,"),
		re(`,llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+\)`, ",llat=<int>,minlat=<int>,avglat=<int>,maxlat=<int>)"),
		sortBlocks(" /"),
	}
)

// normalizeMonitor keeps mntr's leading lines with the keys Run derives
// from ServerInfo (Apache follows them with its JVM's counters and
// summaries, zkd with Source.Monitor's keys) and replaces their values by
// their type.
func normalizeMonitor(s string) string {
	derived := map[string]bool{"zk_version": true, "zk_server_state": true, "zk_peer_state": true, "zk_observer_master_id": true}
	for _, g := range monitorGauges {
		derived["zk_"+g.key] = true
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		key, _, _ := strings.Cut(line, "\t")
		if !derived[key] {
			break
		}
		b.WriteString(line)
	}
	return chain(
		re(`(?m)^zk_version\t.+$`, "zk_version\t<version>"),
		re(`(?m)^(zk_\w+)\t-?\d+$`, "$1\t<long>"),
		re(`(?m)^(zk_\w+)\t-?\d+\.\d+(?:E-?\d+)?$`, "$1\t<double>"),
	)(b.String())
}

// re returns a normalizer replacing matches of pattern with repl.
func re(pattern, repl string) func(string) string {
	r := regexp.MustCompile(pattern)
	return func(s string) string { return r.ReplaceAllString(s, repl) }
}

// chain applies normalizers in order.
func chain(fs ...func(string) string) func(string) string {
	return func(s string) string {
		for _, f := range fs {
			s = f(s)
		}
		return s
	}
}

// sortTabRuns sorts each run of consecutive tab-indented lines, which
// ZooKeeper prints in hash-set order.
func sortTabRuns(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && strings.HasPrefix(lines[j], "\t") && strings.HasSuffix(lines[j], "\n") {
			j++
		}
		slices.Sort(lines[i:j])
		i = max(j, i+1)
	}
	return strings.Join(lines, "")
}

// sortBlocks sorts each run of consecutive blocks, a block being a line
// starting with prefix and the tab-indented lines after it; ZooKeeper
// prints them in hash-map order.
func sortBlocks(prefix string) func(string) string {
	return func(s string) string {
		lines := strings.SplitAfter(s, "\n")
		var out, run []string
		flush := func() {
			slices.Sort(run)
			out = append(out, run...)
			run = run[:0]
		}
		for i := 0; i < len(lines); {
			if !strings.HasPrefix(lines[i], prefix) || !strings.HasSuffix(lines[i], "\n") {
				flush()
				out = append(out, lines[i])
				i++
				continue
			}
			block := lines[i]
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "\t"); i++ {
				block += lines[i]
			}
			run = append(run, block)
		}
		flush()
		return strings.Join(out, "")
	}
}
