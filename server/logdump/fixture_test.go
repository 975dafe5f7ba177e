package logdump

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/zkd-io/zkd/server/txnlog"
)

// toolkitTxn is one txn as Apache's TxnLogToolkit printed it.
type toolkitTxn struct {
	time, session, cxid, zxid, op, rest string
}

var toolkitLine = regexp.MustCompile(`^(\d+/\d+/\d+, \d+:\d+:\d+ [AP]M UTC) session (0x[0-9a-f]+) cxid (0x[0-9a-f]+) zxid (0x[0-9a-f]+) (\S+) ?`)

// readToolkit parses TxnLogToolkit output; a txn can span lines (ACLs print
// a newline), so a record runs until the next line that starts one.
func readToolkit(t *testing.T, path string) ([]toolkitTxn, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(gz)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	var out []toolkitTxn
	count := -1
	for sc.Scan() {
		line := sc.Text()
		if m := toolkitLine.FindStringSubmatch(line); m != nil {
			out = append(out, toolkitTxn{m[1], m[2], m[3], m[4], m[5], line[len(m[0]):]})
			continue
		}
		if n, ok := strings.CutPrefix(line, "EOF reached after "); ok {
			count, _ = strconv.Atoi(strings.TrimSuffix(n, " txns."))
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].rest += "\n" + line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out, count
}

func toolkitACL(acls []ACL) string {
	var parts []string
	for _, a := range acls {
		parts = append(parts, fmt.Sprintf("%d,s{'%s,'%s}\n", permBits(a.Perms), a.Scheme, a.ID))
	}
	return "[" + strings.Join(parts, "") + "]"
}

func permBits(s string) int {
	n := 0
	for _, c := range s {
		n |= map[rune]int{'r': 1, 'w': 2, 'c': 4, 'd': 8, 'a': 16}[c]
	}
	return n
}

// toolkitFields is what TxnLogToolkit prints after the op name, for the
// fields both tools show. ok is false where Apache's rendering loses
// information (non-UTF-8 data goes through new String()), so only the
// parts that survive are compared by the caller.
func toolkitFields(x *Txn) (want string, exact bool) {
	data := func() (string, bool) {
		if x.Data == nil {
			return "", true
		}
		return string(*x.Data), utf8.Valid(*x.Data)
	}
	d, ok := data()
	switch x.Type {
	case "createSession":
		return fmt.Sprint(*x.TimeoutMs), true
	case "create", "create2":
		return fmt.Sprintf("%s,%s,%s,%t,%d", x.Path, d, toolkitACL(x.ACL), *x.Ephemeral, *x.ParentCVersion), ok
	case "createContainer":
		return fmt.Sprintf("%s,%s,%s,%d", x.Path, d, toolkitACL(x.ACL), *x.ParentCVersion), ok
	case "createTtl":
		return fmt.Sprintf("%s,%s,%s,%d,%d", x.Path, d, toolkitACL(x.ACL), *x.ParentCVersion, *x.TTLMs), ok
	case "setData":
		return fmt.Sprintf("%s,%s,%d", x.Path, d, *x.Version), ok
	case "setACL":
		var parts []string
		for _, a := range x.ACL {
			parts = append(parts, fmt.Sprintf("s{%d,s{'%s,'%s}}", permBits(a.Perms), a.Scheme, a.ID))
		}
		return fmt.Sprintf("'%s,v{%s},%d", x.Path, strings.Join(parts, ","), *x.Version), true
	case "delete", "deleteContainer":
		return "'" + x.Path, true
	case "closeSession":
		var q []string
		for _, p := range *x.Ephemerals {
			q = append(q, "'"+p)
		}
		return "v{" + strings.Join(q, ",") + "}", true
	case "error":
		return fmt.Sprint(*x.ErrorCode), true
	}
	return "", false
}

// TestMatchesTxnLogToolkit compares, txn for txn, logdump's decoding of a
// real ZooKeeper 3.8 ensemble's logs with Apache TxnLogToolkit's output on
// the same files.
func TestMatchesTxnLogToolkit(t *testing.T) {
	v2 := extractFixture(t)
	logs, err := txnlog.Files(v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 5 {
		t.Fatalf("fixture has %d logs, want 5", len(logs))
	}
	for _, lf := range logs {
		base := filepath.Base(lf.Path)
		t.Run(base, func(t *testing.T) {
			want, count := readToolkit(t, filepath.Join(fixtureDir, "apache-tool-output", "n1-"+base+".txnlogtoolkit.txt.gz"))
			in, err := Open(lf.Path)
			if err != nil {
				t.Fatal(err)
			}
			var got []Txn
			var buf bytes.Buffer
			res, err := Dump(&buf, in, Options{JSON: true})
			if err != nil || len(res.Problems) > 0 {
				t.Fatalf("dump: %v %v", err, res.Problems)
			}
			if err := scanLogs(in, 0, func(e *txnlog.Entry) error {
				got = append(got, NewTxn(e, time.UTC))
				return nil
			}, func(p Problem) { t.Errorf("problem: %s", p) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != count || len(want) != count || res.Txns != count {
				t.Fatalf("logdump read %d txns (dump %d), toolkit listed %d and counted %d", len(got), res.Txns, len(want), count)
			}
			for i := range got {
				g, w := &got[i], want[i]
				gt := time.UnixMilli(g.TimeMs).UTC().Format("1/2/06, 3:04:05 PM") + " UTC"
				if g.Zxid != w.zxid || g.Session != w.session || fmt.Sprintf("%#x", g.Cxid) != w.cxid || g.Type != w.op || gt != w.time {
					t.Errorf("txn %d: logdump %s %s %#x %s %s, toolkit %s %s %s %s %s", i, g.Zxid, g.Session, g.Cxid, g.Type, gt, w.zxid, w.session, w.cxid, w.op, w.time)
					continue
				}
				if g.Type == "multi" {
					segs := strings.Split(w.rest, ";")
					if len(segs) != len(g.Ops) {
						t.Errorf("txn %s: %d sub-ops, toolkit shows %d: %q", g.Zxid, len(g.Ops), len(segs), w.rest)
						continue
					}
					for j, o := range g.Ops {
						name, body, _ := strings.Cut(segs[j], ":")
						if name != o.Type || (o.Path != "" && !strings.Contains(body, o.Path)) {
							t.Errorf("txn %s op %d: logdump %s %s, toolkit %q", g.Zxid, j+1, o.Type, o.Path, segs[j])
						}
					}
					continue
				}
				fields, exact := toolkitFields(g)
				switch {
				case exact && fields != w.rest:
					t.Errorf("txn %s %s: logdump fields %.200q, toolkit %.200q", g.Zxid, g.Type, fields, w.rest)
				case !exact && g.Path != "" && !strings.HasPrefix(w.rest, g.Path+",") && !strings.HasPrefix(w.rest, "'"+g.Path):
					t.Errorf("txn %s %s: path %s, toolkit %.200q", g.Zxid, g.Type, g.Path, w.rest)
				}
			}
		})
	}
}

// formatterNode is one znode as SnapshotFormatter -d printed it.
type formatterNode map[string]string

func readFormatter(t *testing.T, path string) (map[string]formatterNode, []string, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(gz)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	nodes := map[string]formatterNode{}
	var cur formatterNode
	var sessions []string
	var lastZxid string
	section := "nodes"
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Session Details"):
			section = "sessions"
		case strings.HasPrefix(line, "Last zxid: "):
			lastZxid = strings.TrimPrefix(line, "Last zxid: ")
		case line == "----" || line == "" || strings.HasPrefix(line, "ZNode Details"):
		case section == "sessions":
			sessions = append(sessions, line)
		case strings.HasPrefix(line, "/"):
			cur = formatterNode{}
			nodes[line] = cur
		case strings.HasPrefix(line, "  ") && cur != nil:
			k, v, _ := strings.Cut(strings.TrimSpace(line), " = ")
			cur[k] = strings.TrimSuffix(v, " =")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return nodes, sessions, lastZxid
}

func hexEq(formatted string, v string) bool {
	a, err1 := strconv.ParseUint(strings.TrimPrefix(formatted, "0x"), 16, 64)
	b, err2 := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
	return err1 == nil && err2 == nil && a == b
}

// TestMatchesSnapshotFormatter compares logdump's snapshot view of the real
// ensemble's snapshots with Apache SnapshotFormatter's, stat field by stat
// field, plus data and the session table.
func TestMatchesSnapshotFormatter(t *testing.T) {
	v2 := extractFixture(t)
	in, err := Open(v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Snapshots) != 5 {
		t.Fatalf("fixture has %d snapshots, want 5", len(in.Snapshots))
	}
	for _, sf := range in.Snapshots {
		base := filepath.Base(sf.Path)
		t.Run(base, func(t *testing.T) {
			want, sessions, lastZxid := readFormatter(t, filepath.Join(fixtureDir, "apache-tool-output", "n1-"+base+".snapshotformatter.txt.gz"))
			v, _, err := LoadSnapshot(sf.Path, true)
			if err != nil {
				t.Fatal(err)
			}
			if !hexEq(lastZxid, v.MaxZxid) {
				t.Errorf("newest zxid %s, formatter's last zxid %s", v.MaxZxid, lastZxid)
			}
			if len(v.Znodes) != len(want) {
				t.Errorf("%d znodes, formatter shows %d", len(v.Znodes), len(want))
			}
			javaTime := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("Mon Jan 02 15:04:05 MST 2006") }
			for _, z := range v.Znodes {
				w, ok := want[z.Path]
				if !ok {
					t.Errorf("%s: not in formatter output", z.Path)
					continue
				}
				checks := []struct {
					field string
					ok    bool
					got   any
				}{
					{"cZxid", hexEq(w["cZxid"], z.Czxid), z.Czxid},
					{"mZxid", hexEq(w["mZxid"], z.Mzxid), z.Mzxid},
					{"pZxid", hexEq(w["pZxid"], z.Pzxid), z.Pzxid},
					{"ephemeralOwner", hexEq(w["ephemeralOwner"], z.EphemeralOwner), z.EphemeralOwner},
					{"ctime", w["ctime"] == javaTime(z.Ctime), javaTime(z.Ctime)},
					{"mtime", w["mtime"] == javaTime(z.Mtime), javaTime(z.Mtime)},
					{"cversion", w["cversion"] == fmt.Sprint(z.Cversion), z.Cversion},
					{"dataVersion", w["dataVersion"] == fmt.Sprint(z.Version), z.Version},
					{"aclVersion", w["aclVersion"] == fmt.Sprint(z.Aversion), z.Aversion},
					{"data", w["data"] == base64.StdEncoding.EncodeToString(*z.Data), len(*z.Data)},
				}
				for _, c := range checks {
					if !c.ok {
						t.Errorf("%s %s: logdump %v, formatter %q", z.Path, c.field, c.got, w[c.field])
					}
				}
			}
			var got []string
			for _, s := range v.Sessions {
				got = append(got, fmt.Sprintf("%s, %d, %d", s.ID, s.TimeoutMs, len(s.Ephemerals)))
			}
			sort.Strings(got)
			sort.Strings(sessions)
			if strings.Join(got, "\n") != strings.Join(sessions, "\n") {
				t.Errorf("sessions:\n%s\nformatter:\n%s", strings.Join(got, "\n"), strings.Join(sessions, "\n"))
			}
		})
	}
}

// TestHistoryOnFixture follows znodes of the real ensemble through the base
// snapshot and all logs.
func TestHistoryOnFixture(t *testing.T) {
	in, err := Open(extractFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		effects []string
	}{
		// created, then reaped by the TTL/container manager
		{"/app0/ttl", []string{"created", "deleted"}},
		// created and deleted inside one multi, then a failed multi's op
		{"/app0/m1", []string{"deleted"}},
		{"/app0/m2", []string{"not applied (multi failed): created"}},
		// ephemeral removed by its session's close
		{"/app0/eph", []string{"created", "deleted (session closed)"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			base, changes, probs, err := History(in, tt.path, Options{})
			if err != nil || len(probs) > 0 {
				t.Fatal(err, probs)
			}
			if base.Snapshot != "snapshot.0" || base.Exists {
				t.Errorf("base %+v, want snapshot.0 without the node", base)
			}
			var got []string
			for _, c := range changes {
				got = append(got, c.Effect)
			}
			if strings.Join(got, "|") != strings.Join(tt.effects, "|") {
				t.Errorf("effects %q, want %q", got, tt.effects)
			}
		})
	}
	// /app0/config: created, then changed (data and ACL) many times.
	_, changes, _, err := History(in, "/app0/config", Options{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, c := range changes {
		counts[c.Effect]++
	}
	if counts["created"] != 1 || counts["ACL changed"] != 1 || counts["data changed"] != 43 {
		t.Errorf("/app0/config history: %v", counts)
	}
}
