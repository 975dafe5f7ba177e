package admin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/fourlw"
)

// TestGolden runs every command against a fixed state and compares the
// response byte for byte with testdata/golden/<command>.json, whose
// format was checked against Apache ZooKeeper 3.8's (Jackson's pretty
// printer; see TestApacheComparison for the field-by-field check).
func TestGolden(t *testing.T) {
	tests := []struct {
		golden string
		name   string
		kwargs map[string]string
	}{
		{"connection_stat_reset.json", "crst", nil},
		{"configuration.json", "conf", nil},
		{"connections.json", "cons", nil},
		{"hash.json", "hash", nil},
		{"dirs.json", "dirs", nil},
		{"dump.json", "dump", nil},
		{"environment.json", "envi", nil},
		{"get_trace_mask.json", "gtmk", nil},
		{"initial_configuration.json", "icfg", nil},
		{"is_read_only.json", "isro", nil},
		{"last_snapshot.json", "lsnp", nil},
		{"leader.json", "lead", nil},
		{"monitor.json", "mntr", nil},
		{"observer_connection_stat_reset.json", "orst", nil},
		{"observers.json", "obsr", nil},
		{"ruok.json", "ruok", nil},
		{"set_trace_mask.json", "stmk", map[string]string{"traceMask": "1234"}},
		{"set_trace_mask-missing.json", "stmk", nil},
		{"set_trace_mask-bad.json", "stmk", map[string]string{"traceMask": "0x10"}},
		{"server_stats.json", "srvr", nil},
		{"stats.json", "stat", nil},
		{"stat_reset.json", "srst", nil},
		{"system_properties.json", "sysp", nil},
		{"voting_view.json", "voting_view", nil},
		{"watches.json", "wchc", nil},
		{"watches_by_path.json", "wchp", nil},
		{"watch_summary.json", "wchs", nil},
		{"zabstate.json", "zabstate", nil},
		{"unknown.json", "nosuch", nil},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := Run(tt.name, tt.kwargs, newFake(), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("not valid JSON:\n%s", got)
			}
			checkGolden(t, tt.golden, got)
		})
	}
}

// TestAliases checks that every alias runs its command and reports the
// primary name.
func TestAliases(t *testing.T) {
	for _, c := range commands {
		for _, name := range c.names {
			resp := run(name, nil, newFake(), testNow)
			if got, _ := resp.get("command"); got != c.names[0] {
				t.Errorf("%s: command = %v, want %s", name, got, c.names[0])
			}
			if _, ok := resp.get("error"); !ok {
				t.Errorf("%s: no error field", name)
			}
		}
	}
	if !Known("wchs") || Known("WCHS") || Known("") {
		t.Error("Known: names must match exactly, as ZooKeeper's do")
	}
}

func TestSideEffects(t *testing.T) {
	f := newFake()
	run("crst", nil, f, testNow)
	run("connection_stat_reset", nil, f, testNow)
	run("srst", nil, f, testNow)
	if f.connResets != 2 || f.serverResets != 1 {
		t.Errorf("resets: conn %d server %d, want 2 and 1", f.connResets, f.serverResets)
	}
	run("stmk", map[string]string{"traceMask": "-5"}, f, testNow)
	if got := f.mask.Get(); got != -5 {
		t.Errorf("trace mask after stmk: %d, want -5", got)
	}
	run("stmk", map[string]string{"traceMask": "x"}, f, testNow)
	if got := f.mask.Get(); got != -5 {
		t.Errorf("a bad stmk changed the mask to %d", got)
	}
	if got := string(mustRun(t, "gtmk", f)); !strings.Contains(got, `"tracemask" : -5,`) {
		t.Errorf("gtmk after stmk:\n%s", got)
	}
}

// TestNotServing: commands that need a serving server answer with
// ZooKeeper's message under the name they were asked by; the others run.
func TestNotServing(t *testing.T) {
	f := newFake()
	f.info.NotServing = true
	tests := []struct {
		name      string
		wantError any
	}{
		{"srvr", fourlw.NotServingMessage},
		{"conf", fourlw.NotServingMessage},
		{"ruok", fourlw.NotServingMessage},
		{"envi", nil},
		{"gtmk", nil},
		{"mntr", nil},
		{"sysp", nil},
		{"zabstate", nil},
	}
	for _, tt := range tests {
		resp := run(tt.name, nil, f, testNow)
		if got, _ := resp.get("error"); got != tt.wantError {
			t.Errorf("%s: error = %v, want %v", tt.name, got, tt.wantError)
		}
		if tt.wantError != nil {
			if got, _ := resp.get("command"); got != tt.name {
				t.Errorf("%s: command = %v, want the name as asked", tt.name, got)
			}
		}
	}
	if v, _ := run("mntr", nil, f, testNow).get("znode_count"); v != int64(7) {
		t.Errorf("mntr while not serving: znode_count = %v, want 7", v)
	}
}

// TestOptionalInterfaces: without them the commands fall back to what
// ZooKeeper reports when the feature is unused.
func TestOptionalInterfaces(t *testing.T) {
	src := bare{newFake()}
	if got := string(mustRun(t, "gtmk", src)); !strings.Contains(got, `"tracemask" : 306,`) {
		t.Errorf("gtmk without a trace mask:\n%s", got)
	}
	if got := string(mustRun(t, "hash", src)); !strings.Contains(got, `"digests" : [ ],`) {
		t.Errorf("hash without digests:\n%s", got)
	}
	f := newFake()
	f.snap = nil
	if got := string(mustRun(t, "lsnp", f)); !strings.Contains(got, `"zxid" : "ffffffffffffffff",`) || !strings.Contains(got, `"timestamp" : -1,`) {
		t.Errorf("lsnp without a snapshot:\n%s", got)
	}
	var envi map[string]any
	if err := json.Unmarshal(mustRun(t, "envi", src), &envi); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"zookeeper.version", "host.name", "go.version", "os.name", "user.dir", "os.memory.total"} {
		if _, ok := envi[k].(string); !ok {
			t.Errorf("host envi: %s = %v, want a string", k, envi[k])
		}
	}
	var sysp map[string]any
	if err := json.Unmarshal(mustRun(t, "sysp", src), &sysp); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"os.name", "os.arch", "user.dir", "file.separator", "line.separator", "go.version"} {
		if _, ok := sysp[k].(string); !ok {
			t.Errorf("host sysp: %s = %v, want a string", k, sysp[k])
		}
	}
}

func TestLeaderProposalStats(t *testing.T) {
	f := newFake()
	f.info.ServerState, f.info.Mode = "leader", "leader"
	resp := run("srvr", nil, f, testNow)
	if _, ok := resp.get("proposal_stats"); !ok {
		t.Error("a leader's srvr lacks proposal_stats")
	}
	if _, ok := run("srvr", nil, newFake(), testNow).get("proposal_stats"); ok {
		t.Error("a standalone srvr has proposal_stats")
	}
}

func TestMonitorValue(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"7", int64(7)},
		{"-1", int64(-1)},
		{"4.6667", number("4.6667")},
		{"0.0", number("0.0")},
		{"1.0E7", number("1.0E7")},
		{"standalone", "standalone"},
		{"3.8.0-zkd, built on x", "3.8.0-zkd, built on x"},
		{"NaN", "NaN"},
		{"Infinity", "Infinity"},
		{"0x10", "0x10"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := monitorValue(tt.in); got != tt.want {
			t.Errorf("monitorValue(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func mustRun(t *testing.T, name string, src Source) []byte {
	t.Helper()
	b, err := Run(name, nil, src, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
