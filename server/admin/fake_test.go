package admin

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/fourlw"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from this package's output")

// fakeSource is a Source with canned answers that implements every
// optional interface; it keeps a trace mask and counts resets.
type fakeSource struct {
	info       fourlw.ServerInfo
	conns      []fourlw.ConnInfo
	sessions   []fourlw.SessionInfo
	ephemerals map[int64][]string
	byConn     map[int64][]string
	byPath     map[string][]int64
	summary    [3]int
	mask       *fourlw.TraceMask
	snap       *Snapshot
	digests    []fourlw.Digest

	serverResets, connResets int
}

func (f *fakeSource) Version() string                   { return "3.8.0-zkd-test, built on 2026-01-02" }
func (f *fakeSource) Server() fourlw.ServerInfo         { return f.info }
func (f *fakeSource) Connections() []fourlw.ConnInfo    { return f.conns }
func (f *fakeSource) ResetServerStats()                 { f.serverResets++ }
func (f *fakeSource) ResetConnStats()                   { f.connResets++ }
func (f *fakeSource) Conf() []string                    { return nil }
func (f *fakeSource) Sessions() []fourlw.SessionInfo    { return f.sessions }
func (f *fakeSource) Ephemerals() map[int64][]string    { return f.ephemerals }
func (f *fakeSource) WatchesByConn() map[int64][]string { return f.byConn }
func (f *fakeSource) WatchesByPath() map[string][]int64 { return f.byPath }
func (f *fakeSource) WatchSummary() (int, int, int)     { return f.summary[0], f.summary[1], f.summary[2] }
func (f *fakeSource) Dirs() (int64, int64)              { return 4096, 67108880 }
func (f *fakeSource) Monitor() []fourlw.KV              { return []fourlw.KV{{Key: "zk_zkd_extra", Value: "7"}} }
func (f *fakeSource) TraceMask() *fourlw.TraceMask      { return f.mask }
func (f *fakeSource) Digests() []fourlw.Digest          { return f.digests }
func (f *fakeSource) InitialConfiguration() string      { return "tickTime=2000\nclientPort=2181\n" }
func (f *fakeSource) Environment() []fourlw.KV {
	return []fourlw.KV{{Key: "host.name", Value: "zk1"}, {Key: "go.version", Value: "go1.26"}}
}
func (f *fakeSource) SystemProperties() []fourlw.KV {
	return []fourlw.KV{{Key: "user.name", Value: "zk"}, {Key: "os.name", Value: "Linux"}, {Key: "line.separator", Value: "\n"}}
}
func (f *fakeSource) LastSnapshot() (Snapshot, bool) {
	if f.snap == nil {
		return Snapshot{}, false
	}
	return *f.snap, true
}
func (f *fakeSource) Configuration() Configuration {
	return Configuration{
		ClientPort: 2181, DataDir: "/var/lib/zkd/version-2", DataLogDir: "/var/lib/zkd/version-2",
		TickTime: 2 * time.Second, MaxClientCnxns: 60, MinSessionTimeout: 4 * time.Second,
		MaxSessionTimeout: 40 * time.Second, ServerID: 0, ClientPortListenBacklog: -1,
	}
}

// bare hides the optional interfaces of the Source it wraps.
type bare struct{ Source }

// sid is a session id with the top byte set, as ZooKeeper's are.
const sid = int64(0x0100004d2c8a0000)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newFake returns a standalone server's state after the shared scenario:
// one session with an ephemeral and data watches on two paths.
func newFake() *fakeSource {
	return &fakeSource{
		info: fourlw.ServerInfo{
			MinLatencyMs: 1, AvgLatencyMs: 14.0 / 3, MaxLatencyMs: 12,
			PacketsReceived: 10, PacketsSent: 10, NumAliveConnections: 1,
			Zxid: 3, Mode: "standalone", ServerState: "standalone",
			NodeCount: 7, WatchCount: 3, EphemeralsCount: 1, ApproximateDataSize: 52,
			OpenFileDescriptors: 45, MaxFileDescriptors: 20000, GlobalSessions: 1,
			Uptime:              1423 * time.Millisecond,
			ClientResponseSizes: &fourlw.BufferSizes{Last: 16, Min: 16, Max: 93},
		},
		conns: []fourlw.ConnInfo{{
			Remote: "/127.0.0.1:41512", Received: 7, Sent: 6, SessionID: sid, LastOp: "EXIS",
			Established: testNow.Add(-time.Second), Timeout: 10000, LastCxid: 5, LastZxid: 3,
			LastResponse: testNow, MinLatencyMs: 1, AvgLatencyMs: 2.5, MaxLatencyMs: 4, LastLatencyMs: 1,
		}},
		sessions:   []fourlw.SessionInfo{{ID: sid, Timeout: 10 * time.Second}},
		ephemerals: map[int64][]string{sid: {"/a/e"}},
		byConn:     map[int64][]string{sid: {"/b", "/a"}},
		byPath:     map[string][]int64{"/a": {sid}, "/b": {sid}},
		summary:    [3]int{1, 2, 2},
		mask:       fourlw.NewTraceMask(),
		snap:       &Snapshot{Zxid: 0x100000000, Written: testNow},
		digests:    []fourlw.Digest{{Zxid: 0x80, Digest: 1234567890123}},
	}
}

// checkGolden compares got with testdata/golden/<name>, or rewrites the
// file when -update is set.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}
