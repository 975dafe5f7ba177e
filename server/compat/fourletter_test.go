package compat_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/testpeer"
)

// TestZkServerStatus runs Apache's own `zkServer.sh status` against zkd:
// operators' scripts and init systems read the Mode line of srvr this way.
func TestZkServerStatus(t *testing.T) {
	zk := startZkd(t)
	host, port, _ := net.SplitHostPort(zk.addr)
	script := filepath.Join(filepath.Dir(testpeer.ZkCli(t)), "zkServer.sh")
	cfg := filepath.Join(t.TempDir(), "zoo.cfg")
	conf := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=%s\n", t.TempDir(), port, host)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, "status", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("zkServer.sh status: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Mode: standalone") {
		t.Fatalf("zkServer.sh status did not report the mode:\n%s", out)
	}
}

// TestFourLetterWordsDifferential puts both servers in the same state (two
// sessions, an ephemeral, data and child watches), then compares what each
// four-letter word reports: exact where the value is determined by that
// state, by structure where it is a measurement (latency, time, JVM facts).
func TestFourLetterWordsDifferential(t *testing.T) {
	targets := both(t)
	outputs := map[string]map[string]string{}
	for _, tg := range targets {
		a := dialRaw(t, tg.addr)
		a.connect(0, nil, 30000, true)
		b := dialRaw(t, tg.addr)
		b.connect(0, nil, 30000, true)
		a.call(proto.OpCreate, create("/four", "x", proto.FlagPersistent, nil))
		a.call(proto.OpCreate, create("/four/eph", "e", proto.FlagEphemeral, nil))
		b.call(proto.OpGetData, pw("/four", true))
		b.call(proto.OpGetChildren, pw("/four", true))
		a.call(proto.OpExists, pw("/four/eph", true))
		a.call(proto.OpExists, pw("/nothing", true))
		sessions := map[int64]string{a.session: "A", b.session: "B"}
		outputs[tg.name] = map[string]string{}
		for _, cmd := range []string{"ruok", "isro", "srvr", "stat", "conf", "cons", "dump", "envi", "mntr", "wchs", "wchc", "wchp", "dirs", "gtmk", "hash"} {
			out, err := testpeer.FourLetter(tg.addr, cmd, 5*time.Second)
			if err != nil {
				t.Fatalf("%s %s: %v", tg.name, cmd, err)
			}
			outputs[tg.name][cmd] = renameSessions(out, sessions)
		}
	}
	zkd, apache := outputs["zkd"], outputs["apache"]

	for _, cmd := range []string{"ruok", "isro", "wchs", "wchc", "wchp", "gtmk"} {
		if a, b := sortBlocks(zkd[cmd]), sortBlocks(apache[cmd]); a != b {
			t.Errorf("%s differs:\nzkd:\n%s\napache:\n%s", cmd, zkd[cmd], apache[cmd])
		}
	}
	// srvr and stat: the same labels in the same order, and the values
	// that the shared state determines.
	for _, cmd := range []string{"srvr", "stat"} {
		if a, b := labels(zkd[cmd]), labels(apache[cmd]); a != b {
			t.Errorf("%s labels differ:\nzkd:    %s\napache: %s", cmd, a, b)
		}
		for _, key := range []string{"Zxid", "Mode", "Node count", "Connections", "Outstanding"} {
			if a, b := value(zkd[cmd], key), value(apache[cmd], key); a != b {
				t.Errorf("%s %s: zkd %q, apache %q", cmd, key, a, b)
			}
		}
		if !strings.HasPrefix(zkd[cmd], "Zookeeper version: 3.8") {
			t.Errorf("%s first line %q does not carry a 3.8 version", cmd, firstLine(zkd[cmd]))
		}
	}
	// mntr: every ZooKeeper key about the data and sessions has the same
	// value; the rest of Apache's keys are JVM or pipeline internals.
	zm, am := mntrMap(zkd["mntr"]), mntrMap(apache["mntr"])
	for _, key := range []string{"zk_server_state", "zk_znode_count", "zk_ephemerals_count", "zk_watch_count",
		"zk_approximate_data_size", "zk_global_sessions", "zk_num_alive_connections", "zk_outstanding_requests"} {
		if _, ok := am[key]; !ok {
			t.Errorf("apache mntr lacks %s: the test's key list is wrong", key)
		}
		if zm[key] != am[key] {
			t.Errorf("mntr %s: zkd %q, apache %q", key, zm[key], am[key])
		}
	}
	for _, key := range []string{"zk_version", "zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
		"zk_packets_sent", "zk_open_file_descriptor_count", "zk_max_file_descriptor_count", "zk_uptime"} {
		if _, ok := zm[key]; !ok {
			t.Errorf("zkd mntr lacks %s", key)
		}
	}
	// conf, dirs, cons, dump, envi: the same keys or line structure.
	if a, b := confKeys(zkd["conf"]), confKeys(apache["conf"]); a != b {
		t.Errorf("conf keys differ:\nzkd:    %s\napache: %s", a, b)
	}
	if a, b := labels(zkd["dirs"]), labels(apache["dirs"]); a != b {
		t.Errorf("dirs labels differ:\nzkd:    %s\napache: %s", a, b)
	}
	if a, b := consShape(zkd["cons"]), consShape(apache["cons"]); a != b {
		t.Errorf("cons shape differs:\nzkd:    %s\napache: %s", a, b)
	}
	if a, b := dumpShape(zkd["dump"]), dumpShape(apache["dump"]); a != b {
		t.Errorf("dump differs:\nzkd:\n%s\napache:\n%s", a, b)
	}
	if !strings.HasPrefix(zkd["envi"], "Environment:\n") || !strings.Contains(zkd["envi"], "zookeeper.version=3.8") {
		t.Errorf("envi:\n%s", zkd["envi"])
	}
	if t.Failed() {
		for _, cmd := range []string{"srvr", "stat", "cons", "dump", "conf"} {
			t.Logf("%s\nzkd:\n%s\napache:\n%s", cmd, zkd[cmd], apache[cmd])
		}
	}
}

// sortBlocks orders the blocks of wchc/wchp output (a line followed by its
// tab-indented lines): ZooKeeper prints them in hash-map order.
func sortBlocks(s string) string {
	var blocks []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "\t") && len(blocks) > 0 {
			blocks[len(blocks)-1] += "\n" + l
			continue
		}
		blocks = append(blocks, l)
	}
	sort.Strings(blocks)
	return strings.Join(blocks, "\n")
}

var hexSession = regexp.MustCompile(`0x[0-9a-f]+`)

// renameSessions replaces session ids (in any of the forms the commands
// print them) by the names of their sessions.
func renameSessions(out string, names map[int64]string) string {
	return hexSession.ReplaceAllStringFunc(out, func(h string) string {
		var v uint64
		if _, err := fmt.Sscanf(h, "0x%x", &v); err == nil {
			if n, ok := names[int64(v)]; ok {
				return n
			}
		}
		return h
	})
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// labels lists the "Label:" prefixes of the lines that have one.
func labels(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, ":"); i > 0 && !strings.HasPrefix(l, " ") {
			out = append(out, l[:i])
		}
	}
	return strings.Join(out, "|")
}

func value(s, label string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, label+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, label+":"))
		}
	}
	return "<missing>"
}

func mntrMap(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "\t"); ok {
			m[k] = v
		}
	}
	return m
}

func confKeys(s string) string {
	var keys []string
	for _, l := range strings.Split(s, "\n") {
		if k, _, ok := strings.Cut(l, "="); ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

var sessionSets = regexp.MustCompile(`^Session Sets \(\d+\)/`)

var consField = regexp.MustCompile(`([a-z]+)=`)

// consShape is the number of connection lines and the field names of each.
func consShape(s string) string {
	var shapes []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var fields []string
		for _, m := range consField.FindAllStringSubmatch(l, -1) {
			fields = append(fields, m[1])
		}
		shapes = append(shapes, strings.Join(fields, ","))
	}
	sort.Strings(shapes)
	return strings.Join(shapes, " | ")
}

// dumpShape keeps dump's headers and the ephemeral section, which the
// shared state determines, and drops the expiry-time groups.
func dumpShape(s string) string {
	var out []string
	inEph := false
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "Sessions with Ephemerals"):
			inEph = true
			out = append(out, l)
		case strings.HasPrefix(l, "Session Sets"):
			// "Session Sets (buckets)/(sessions)": how many expiry
			// buckets the sessions fall in depends on when they were
			// touched relative to a tick boundary; the session count
			// does not.
			out = append(out, sessionSets.ReplaceAllString(l, "Session Sets (N)/"))
		case strings.HasPrefix(l, "SessionTracker dump:"), strings.HasPrefix(l, "Global Sessions"):
			out = append(out, l)
		case strings.HasPrefix(l, "Connections dump:"):
			inEph = false
		case inEph && strings.TrimSpace(l) != "":
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
