package fourlw

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/exact/*.golden from this package's output")

// fakeSource is a Source with canned answers; it also keeps a trace mask
// and counts resets.
type fakeSource struct {
	version    string
	info       ServerInfo
	conns      []ConnInfo
	conf       []string
	sessions   []SessionInfo
	ephemerals map[int64][]string
	byConn     map[int64][]string
	byPath     map[string][]int64
	summary    [3]int // connections, paths, watches
	dataBytes  int64
	logBytes   int64
	monitor    []KV
	mask       *TraceMask

	serverResets, connResets int
}

func (f *fakeSource) Version() string                   { return f.version }
func (f *fakeSource) Server() ServerInfo                { return f.info }
func (f *fakeSource) Connections() []ConnInfo           { return f.conns }
func (f *fakeSource) ResetServerStats()                 { f.serverResets++ }
func (f *fakeSource) ResetConnStats()                   { f.connResets++ }
func (f *fakeSource) Conf() []string                    { return f.conf }
func (f *fakeSource) Sessions() []SessionInfo           { return f.sessions }
func (f *fakeSource) Ephemerals() map[int64][]string    { return f.ephemerals }
func (f *fakeSource) WatchesByConn() map[int64][]string { return f.byConn }
func (f *fakeSource) WatchesByPath() map[string][]int64 { return f.byPath }
func (f *fakeSource) WatchSummary() (int, int, int) {
	return f.summary[0], f.summary[1], f.summary[2]
}
func (f *fakeSource) Dirs() (int64, int64)  { return f.dataBytes, f.logBytes }
func (f *fakeSource) Monitor() []KV         { return f.monitor }
func (f *fakeSource) TraceMask() *TraceMask { return f.mask }

// withEnv adds fixed envi lines to a Source.
type withEnv struct {
	*fakeSource
	env []KV
}

func (w withEnv) Environment() []KV { return w.env }

// withDigests adds a digest history to a Source.
type withDigests struct {
	*fakeSource
	digests []Digest
}

func (w withDigests) Digests() []Digest { return w.digests }

// bare hides every optional interface of the Source it wraps.
type bare struct{ Source }

// checkGolden compares got with testdata/<name>, or rewrites the file
// when -update is set.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}
