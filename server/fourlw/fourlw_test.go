package fourlw

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

const testVersion = "3.8.4-zkd, built on 2025-01-02 03:04 UTC"

// testNow is the wall clock the exact tests pass to Run.
var testNow = time.Date(2026, time.November, 22, 10, 9, 4, 0, time.UTC)

// standalone returns a Source describing a standalone server with two
// sessions, the connection running the command, ephemerals and watches.
func standalone() *fakeSource {
	est := time.Date(2026, time.November, 22, 10, 8, 0, 0, time.UTC)
	return &fakeSource{
		version: testVersion,
		info: ServerInfo{
			MinLatencyMs: 1, AvgLatencyMs: 108.22224, MaxLatencyMs: 361,
			PacketsReceived: 14, PacketsSent: 13,
			NumAliveConnections: 3,
			Zxid:                0x5,
			Mode:                "standalone",
			NodeCount:           8,
			WatchCount:          4,
			EphemeralsCount:     2,
			ApproximateDataSize: 59,
			OpenFileDescriptors: 46, MaxFileDescriptors: 20000,
			GlobalSessions:      2,
			Uptime:              2050 * time.Millisecond,
			ClientResponseSizes: &BufferSizes{Last: 16, Min: 16, Max: 100},
		},
		conns: []ConnInfo{
			{Remote: "/127.0.0.1:33902", Received: 1, FourLetter: true},
			{
				Remote: "/127.0.0.1:33854", Received: 5, Sent: 5, SessionID: 0x100000bb3df0000,
				LastOp: "EXIS", Established: est, Timeout: 6000, LastCxid: 4, LastZxid: 5,
				LastResponse: est.Add(1500 * time.Millisecond), LastLatencyMs: 1,
				MinLatencyMs: 0, AvgLatencyMs: 60.9, MaxLatencyMs: 190,
				Expires: testNow.Add(6 * time.Second),
			},
			{
				Remote: "/127.0.0.1:33838", Queued: 2, Received: 4, Sent: 4, SessionID: 0x100000bb3df0001,
				LastOp: "GETD", Established: est, Timeout: 10000, LastCxid: 3, LastZxid: 5,
				LastResponse: est.Add(time.Second), LastLatencyMs: 2,
				AvgLatencyMs: 168, MaxLatencyMs: 361, WritePending: true,
				Expires: testNow.Add(6 * time.Second),
			},
		},
		conf: []string{
			"clientPort=2181", "secureClientPort=-1", "dataDir=/var/lib/zkd/version-2", "dataDirSize=1024",
			"dataLogDir=/var/lib/zkd/version-2", "dataLogSize=1024", "tickTime=2000", "maxClientCnxns=60",
			"minSessionTimeout=4000", "maxSessionTimeout=40000", "clientPortListenBacklog=-1", "serverId=0",
		},
		sessions: []SessionInfo{
			{ID: 0x100000bb3df0001, Timeout: 10 * time.Second},
			{ID: 0x100000bb3df0000, Timeout: 6 * time.Second, Expires: testNow.Add(6 * time.Second)},
		},
		ephemerals: map[int64][]string{
			0x100000bb3df0001: {"/a/e2", "/a/e1"},
			0x100000bb3df0000: {"/b"},
		},
		byConn:    map[int64][]string{0x100000bb3df0001: {"/nope", "/a"}, 0x100000bb3df0000: {"/a"}},
		byPath:    map[string][]int64{"/nope": {0x100000bb3df0001}, "/a": {0x100000bb3df0001, 0x100000bb3df0000}},
		summary:   [3]int{2, 2, 3},
		dataBytes: 67109337, logBytes: 1024,
		monitor: []KV{{"zk_zkd_wal_fsyncs_total", "7"}},
		mask:    NewTraceMask(),
	}
}

// leader returns standalone() turned into the leader of a 3-server ensemble.
func leader() *fakeSource {
	f := standalone()
	f.info.Mode, f.info.ServerState, f.info.PeerState = "leader", "leader", "leading - broadcast"
	f.info.QuorumSize = 3
	f.info.Followers, f.info.SyncedFollowers, f.info.PendingSyncs = 2, 2, 0
	f.info.SyncedObservers = 1
	f.info.LeaderUptime = 90 * time.Second
	f.info.ProposalSizes = &BufferSizes{Last: 92, Min: 36, Max: 1048}
	return f
}

func TestRunExact(t *testing.T) {
	withMode := func(f *fakeSource, mode string) *fakeSource {
		f.info.Mode, f.info.ServerState = mode, mode
		return f
	}
	readOnly := withMode(standalone(), "read-only")
	follower := withMode(standalone(), "follower")
	follower.info.PeerState, follower.info.QuorumSize, follower.info.SyncedObservers = "following - broadcast", 3, 0
	observer := withMode(standalone(), "observer")
	observer.info.PeerState, observer.info.QuorumSize, observer.info.ObserverMasterID = "observing - broadcast", 3, 2
	// A member between roles, as the AdminServer's monitor shows it.
	looking := withMode(standalone(), "")
	looking.info.ServerState, looking.info.PeerState, looking.info.QuorumSize = "looking", "looking", 3
	leaderNoProposals := leader()
	leaderNoProposals.info.ProposalSizes = nil
	ensemble := standalone()
	ensemble.conf = append(ensemble.conf, "initLimit=10", "syncLimit=5", "electionAlg=3", "electionPort=3888",
		"quorumPort=2888", "peerType=0", "membership: ",
		"server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181", "version=100000000")
	empty := &fakeSource{version: testVersion, info: ServerInfo{Mode: "standalone"}, mask: NewTraceMask()}

	const srvrStandalone = "Zookeeper version: " + testVersion + "\n" +
		"Latency min/avg/max: 1/108.2222/361\nReceived: 14\nSent: 13\nConnections: 3\nOutstanding: 0\n" +
		"Zxid: 0x5\nMode: standalone\nNode count: 8\n"
	tests := []struct {
		name   string
		cmd    string
		src    Source
		want   string // exact output, unless golden is set
		golden string // file under testdata/exact
	}{
		{name: "ruok", cmd: "ruok", src: standalone(), want: "imok"},
		{name: "srvr standalone", cmd: "srvr", src: standalone(), want: srvrStandalone},
		{name: "srvr read-only", cmd: "srvr", src: readOnly, want: "Zookeeper version: " + testVersion + "\n" +
			"READ-ONLY mode; serving only read-only clients\n" +
			"Latency min/avg/max: 1/108.2222/361\nReceived: 14\nSent: 13\nConnections: 3\nOutstanding: 0\n" +
			"Zxid: 0x5\nMode: read-only\nNode count: 8\n"},
		{name: "srvr leader", cmd: "srvr", src: leader(), want: strings.Replace(srvrStandalone, "standalone", "leader", 1) +
			"Proposal sizes last/min/max: 92/36/1048\n"},
		{name: "srvr leader before any proposal", cmd: "srvr", src: leaderNoProposals,
			want: strings.Replace(srvrStandalone, "standalone", "leader", 1) + "Proposal sizes last/min/max: -1/-1/-1\n"},
		{name: "srvr empty server", cmd: "srvr", src: empty, want: "Zookeeper version: " + testVersion + "\n" +
			"Latency min/avg/max: 0/0.0/0\nReceived: 0\nSent: 0\nConnections: 0\nOutstanding: 0\n" +
			"Zxid: 0x0\nMode: standalone\nNode count: 0\n"},
		{name: "stat", cmd: "stat", src: standalone(), want: "Zookeeper version: " + testVersion + "\n" +
			"Clients:\n" +
			" /127.0.0.1:33902[0](queued=0,recved=1,sent=0)\n" +
			" /127.0.0.1:33854[1](queued=0,recved=5,sent=5)\n" +
			" /127.0.0.1:33838[5](queued=2,recved=4,sent=4)\n" +
			"\n" + strings.TrimPrefix(srvrStandalone, "Zookeeper version: "+testVersion+"\n")},
		{name: "stat no clients", cmd: "stat", src: empty, want: "Zookeeper version: " + testVersion + "\n" +
			"Clients:\n\nLatency min/avg/max: 0/0.0/0\nReceived: 0\nSent: 0\nConnections: 0\nOutstanding: 0\n" +
			"Zxid: 0x0\nMode: standalone\nNode count: 0\n"},
		{name: "cons", cmd: "cons", src: standalone(), want: "" +
			" /127.0.0.1:33902[0](queued=0,recved=1,sent=0)\n" +
			" /127.0.0.1:33854[1](queued=0,recved=5,sent=5,sid=0x100000bb3df0000,lop=EXIS,est=1795342080000,to=6000," +
			"lcxid=0x4,lzxid=0x5,lresp=1795342081500,llat=1,minlat=0,avglat=60,maxlat=190)\n" +
			" /127.0.0.1:33838[5](queued=2,recved=4,sent=4,sid=0x100000bb3df0001,lop=GETD,est=1795342080000,to=10000," +
			"lcxid=0x3,lzxid=0x5,lresp=1795342081000,llat=2,minlat=0,avglat=168,maxlat=361)\n" +
			"\n"},
		{name: "cons after reset", cmd: "cons", src: &fakeSource{info: ServerInfo{Mode: "standalone"}, conns: []ConnInfo{{
			SessionID: -0x7fffffffffff0000, LastCxid: -1, LastZxid: -1, Timeout: 4000,
		}}}, want: " null[1](queued=0,recved=0,sent=0,sid=0x8000000000010000,lop=NA,est=0,to=4000," +
			"lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)\n\n"},
		{name: "cons none", cmd: "cons", src: empty, want: "\n"},
		{name: "conf standalone", cmd: "conf", src: standalone(), want: strings.Join(standalone().conf, "\n") + "\n"},
		{name: "conf ensemble", cmd: "conf", src: ensemble, want: strings.Join(ensemble.conf, "\n")},
		{name: "dirs", cmd: "dirs", src: standalone(), want: "datadir_size: 67109337\nlogdir_size: 1024\n"},
		{name: "dump", cmd: "dump", src: standalone(), want: "" +
			"SessionTracker dump:\n" +
			"Session Sets (2)/(2):\n" +
			"1 expire at Sun Nov 22 10:09:10 UTC 2026:\n\t0x100000bb3df0000\n" +
			"1 expire at Sun Nov 22 10:09:14 UTC 2026:\n\t0x100000bb3df0001\n" +
			"ephemeral nodes dump:\n" +
			"Sessions with Ephemerals (2):\n" +
			"0x100000bb3df0000:\n\t/b\n" +
			"0x100000bb3df0001:\n\t/a/e1\n\t/a/e2\n" +
			"Connections dump:\n" +
			"Connections Sets (2)/(3):\n" +
			"1 expire at Sun Nov 22 10:09:04 UTC 2026:\n\tip: /127.0.0.1:33902 sessionId: 0x0\n" +
			"2 expire at Sun Nov 22 10:09:10 UTC 2026:\n" +
			"\tip: /127.0.0.1:33854 sessionId: 0x100000bb3df0000\n\tip: /127.0.0.1:33838 sessionId: 0x100000bb3df0001\n"},
		{name: "dump empty", cmd: "dump", src: empty, want: "SessionTracker dump:\nSession Sets (0)/(0):\n" +
			"ephemeral nodes dump:\nSessions with Ephemerals (0):\nConnections dump:\nConnections Sets (0)/(0):\n"},
		{name: "envi", cmd: "envi", src: withEnv{standalone(), []KV{{"host.name", "zk1"}, {"go.version", "go1.26"}}},
			want: "Environment:\nzookeeper.version=" + testVersion + "\nhost.name=zk1\ngo.version=go1.26\n"},
		{name: "wchs", cmd: "wchs", src: standalone(), want: "2 connections watching 2 paths\nTotal watches:3\n"},
		{name: "wchc", cmd: "wchc", src: standalone(),
			want: "0x100000bb3df0000\n\t/a\n0x100000bb3df0001\n\t/a\n\t/nope\n\n"},
		{name: "wchp", cmd: "wchp", src: standalone(),
			want: "/a\n\t0x100000bb3df0000\n\t0x100000bb3df0001\n/nope\n\t0x100000bb3df0001\n\n"},
		{name: "wchc none", cmd: "wchc", src: empty, want: "\n"},
		{name: "isro rw", cmd: "isro", src: standalone(), want: "rw"},
		{name: "isro ro", cmd: "isro", src: readOnly, want: "ro"},
		{name: "gtmk default", cmd: "gtmk", src: bare{standalone()}, want: "306"},
		{name: "hash without digests", cmd: "hash", src: standalone(), want: ""},
		{name: "hash", cmd: "hash", src: withDigests{standalone(), []Digest{{Zxid: 0x100000001, Digest: 1371985504}, {Zxid: 0x100000002, Digest: -42}}},
			want: "100000001: 1371985504\n100000002: -42\n"},
		{name: "stmk without argument", cmd: "stmk", src: standalone(), want: ""},
		{name: "unknown command", cmd: "lead", src: standalone(), want: ""},
		{name: "mntr standalone", cmd: "mntr", src: standalone(), golden: "mntr-standalone.golden"},
		{name: "mntr read-only", cmd: "mntr", src: readOnly, golden: "mntr-read-only.golden"},
		{name: "mntr leader", cmd: "mntr", src: leader(), golden: "mntr-leader.golden"},
		{name: "mntr leader before any proposal", cmd: "mntr", src: leaderNoProposals, golden: "mntr-leader-no-proposals.golden"},
		{name: "mntr follower", cmd: "mntr", src: follower, golden: "mntr-follower.golden"},
		{name: "mntr observer", cmd: "mntr", src: observer, golden: "mntr-observer.golden"},
		{name: "mntr empty", cmd: "mntr", src: empty, golden: "mntr-empty.golden"},
		{name: "mntr looking", cmd: "mntr", src: looking, golden: "mntr-looking.golden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Run(tc.cmd, tc.src, testNow)
			if tc.golden != "" {
				checkGolden(t, "exact/"+tc.golden, got)
				return
			}
			if got != tc.want {
				t.Errorf("Run(%q) =\n%q\nwant\n%q", tc.cmd, got, tc.want)
			}
		})
	}
}

// TestMonitorLines checks what the mntr goldens cannot show at a glance:
// every line is key<TAB>value, the ZooKeeper keys come first in
// ZooKeeper's order, and zkd's extra keys follow them.
func TestMonitorLines(t *testing.T) {
	tests := []struct {
		name      string
		src       *fakeSource
		wantCount int // lines before the extras
		wantFirst []string
	}{
		{"standalone", standalone(), 2 + 24, []string{"zk_version", "zk_server_state", "zk_ephemerals_count"}},
		{"leader", leader(), 3 + 34, []string{"zk_version", "zk_server_state", "zk_peer_state", "zk_ephemerals_count"}},
	}
	line := regexp.MustCompile(`^zk_[a-z0-9_]+\t[^\t\n]*$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := Run("mntr", tc.src, testNow)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			for _, l := range lines {
				if !line.MatchString(l) {
					t.Errorf("line %q is not zk_<key><TAB><value>", l)
				}
			}
			if len(lines) != tc.wantCount+len(tc.src.monitor) {
				t.Fatalf("got %d lines, want %d ZooKeeper lines and %d extra", len(lines), tc.wantCount, len(tc.src.monitor))
			}
			for i, k := range tc.wantFirst {
				if !strings.HasPrefix(lines[i], k+"\t") {
					t.Errorf("line %d = %q, want key %s", i, lines[i], k)
				}
			}
			if last := lines[len(lines)-1]; last != "zk_zkd_wal_fsyncs_total\t7" {
				t.Errorf("last line = %q, want zkd's extra key", last)
			}
		})
	}
}

func TestNotServing(t *testing.T) {
	src := standalone()
	src.info.NotServing = true
	want := map[string]string{
		"ruok": "imok",
		"gtmk": "306",
		"isro": "null",
		"hash": NotServingMessage,
	}
	for _, cmd := range []string{"conf", "cons", "crst", "dirs", "dump", "mntr", "srst", "srvr", "stat", "wchc", "wchp", "wchs"} {
		want[cmd] = NotServingMessage + "\n"
	}
	for cmd, w := range want {
		if got := Run(cmd, src, testNow); got != w {
			t.Errorf("Run(%q) while not serving = %q, want %q", cmd, got, w)
		}
	}
	if src.serverResets != 0 || src.connResets != 0 {
		t.Errorf("srst/crst reset statistics of a server that is not serving (%d, %d resets)", src.serverResets, src.connResets)
	}
	if got := Run("envi", withEnv{src, []KV{{"host.name", "zk1"}}}, testNow); !strings.HasPrefix(got, "Environment:\n") {
		t.Errorf("envi while not serving = %q, want the environment", got)
	}
	if got := RunWithArg("stmk", 7, src, testNow); got != "7" {
		t.Errorf("stmk while not serving = %q, want 7", got)
	}
}

func TestResetCommands(t *testing.T) {
	src := standalone()
	if got := Run("srst", src, testNow); got != "Server stats reset.\n" {
		t.Errorf("srst = %q", got)
	}
	if got := Run("crst", src, testNow); got != "Connection stats reset.\n" {
		t.Errorf("crst = %q", got)
	}
	if src.serverResets != 1 || src.connResets != 1 {
		t.Errorf("resets: server %d, connections %d; want 1 each", src.serverResets, src.connResets)
	}
}

func TestTraceMaskCommands(t *testing.T) {
	src := standalone()
	steps := []struct {
		cmd  string
		arg  int64
		want string
	}{
		{"gtmk", 0, "306"},
		{"stmk", 0x1234, "4660"},
		{"gtmk", 0, "4660"},
		{"stmk", -1, "-1"},
		{"gtmk", 0, "-1"},
		{"stmk", 0, "0"},
		{"gtmk", 0, "0"},
	}
	for i, s := range steps {
		if got := RunWithArg(s.cmd, s.arg, src, testNow); got != s.want {
			t.Errorf("step %d: %s %d = %q, want %q", i, s.cmd, s.arg, got, s.want)
		}
	}
	// Without a TraceMaskSource, stmk echoes the mask but cannot keep it.
	plain := bare{standalone()}
	if got := RunWithArg("stmk", 5, plain, testNow); got != "5" {
		t.Errorf("stmk on a Source without a trace mask = %q, want 5", got)
	}
	if got := Run("gtmk", plain, testNow); got != "306" {
		t.Errorf("gtmk on a Source without a trace mask = %q, want the default 306", got)
	}
}

func TestKnown(t *testing.T) {
	known := []string{"conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro",
		"mntr", "ruok", "srst", "srvr", "stat", "stmk", "wchc", "wchp", "wchs"}
	for _, c := range known {
		if !Known(c) {
			t.Errorf("Known(%q) = false", c)
		}
	}
	for _, c := range []string{"", "lead", "RUOK", "ruo", "ruok ", "\xff\xf4\xff\xfd", "\x00\x00\x00\x2c"} {
		if Known(c) {
			t.Errorf("Known(%q) = true", c)
		}
	}
}

func TestNotAllowed(t *testing.T) {
	if got, want := NotAllowed("wchp"), "wchp is not executed because it is not in the whitelist.\n"; got != want {
		t.Errorf("NotAllowed = %q, want %q", got, want)
	}
}

func TestArg(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		want int
	}{{"stmk", 8}, {"gtmk", 0}, {"ruok", 0}, {"nope", 0}} {
		if got := ArgLen(c.cmd); got != c.want {
			t.Errorf("ArgLen(%q) = %d, want %d", c.cmd, got, c.want)
		}
	}
	tests := []struct {
		in      []byte
		want    int64
		wantErr bool
	}{
		{[]byte{0, 0, 0, 0, 0, 0, 0x12, 0x34}, 0x1234, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, -1, false},
		{[]byte{0x12, 0x34}, 0, true},
		{nil, 0, true},
		{make([]byte, 9), 0, true},
	}
	for _, tc := range tests {
		got, err := DecodeArg(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("DecodeArg(%x) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("got %d bytes", len(tc.in))) {
			t.Errorf("DecodeArg(%x) error %q does not say how many bytes it got", tc.in, err)
		}
	}
}

func TestHostEnvironment(t *testing.T) {
	env := HostEnvironment()
	wantKeys := []string{"host.name", "go.version", "os.name", "os.arch", "os.version", "user.name",
		"user.home", "user.dir", "os.memory.free", "os.memory.max", "os.memory.total"}
	if len(env) != len(wantKeys) {
		t.Fatalf("HostEnvironment has %d entries, want %d: %v", len(env), len(wantKeys), env)
	}
	memory := regexp.MustCompile(`^\d+MB$`)
	for i, kv := range env {
		if kv.Key != wantKeys[i] {
			t.Errorf("entry %d key = %q, want %q", i, kv.Key, wantKeys[i])
		}
		if kv.Value == "" || strings.ContainsAny(kv.Value, "\n") {
			t.Errorf("%s = %q: want a non-empty single-line value", kv.Key, kv.Value)
		}
		if strings.HasPrefix(kv.Key, "os.memory.") && !memory.MatchString(kv.Value) {
			t.Errorf("%s = %q, want <n>MB", kv.Key, kv.Value)
		}
	}
	// Without an EnvironmentSource, envi prints the host's environment.
	out := Run("envi", bare{standalone()}, testNow)
	if !strings.HasPrefix(out, "Environment:\nzookeeper.version="+testVersion+"\nhost.name=") {
		t.Errorf("envi = %q, want the header, the version and the host environment", out)
	}
}

func TestJavaDate(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 22, 10, 9, 8, 999e6, time.UTC), "Sun Nov 22 10:09:08 UTC 2026"},
		{time.Date(2024, 3, 5, 1, 2, 3, 0, time.FixedZone("CET", 3600)), "Tue Mar 05 01:02:03 CET 2024"},
		{time.Date(2024, 3, 5, 1, 2, 3, 0, time.FixedZone("", -5*3600-30*60)), "Tue Mar 05 01:02:03 GMT-05:30 2024"},
		{time.Date(2024, 3, 5, 1, 2, 3, 0, time.FixedZone("+03", 3*3600)), "Tue Mar 05 01:02:03 GMT+03:00 2024"},
	}
	for _, tc := range tests {
		if got := javaDate(tc.in); got != tc.want {
			t.Errorf("javaDate(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestJavaHex(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{{0, "0"}, {0x5, "5"}, {0x100000bb3df0000, "100000bb3df0000"}, {-1, "ffffffffffffffff"}, {math.MinInt64, "8000000000000000"}}
	for _, tc := range tests {
		if got := javaHex(tc.in); got != tc.want {
			t.Errorf("javaHex(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
