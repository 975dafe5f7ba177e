package console

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/logdump"
)

func TestExplorerTxnsAndHistory(t *testing.T) {
	e := newEnv(t, Settings{})
	e.mkdir("/app", nil)
	e.mkdir("/app/cfg", []byte("v1"))
	if _, err := e.zk.Set("/app/cfg", []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	e.mkdir("/other", nil)
	c := e.client()

	var page txnPage
	c.mustDo(200, "GET", "/api/txns?path=/app", nil, &page)
	var types []string
	for _, raw := range page.Txns {
		var tx logdump.Txn
		if err := json.Unmarshal(raw, &tx); err != nil {
			t.Fatal(err)
		}
		types = append(types, tx.Type+" "+tx.Path)
	}
	if want := []string{"create /app", "create /app/cfg", "setData /app/cfg"}; !slices.Equal(types, want) {
		t.Errorf("txns under /app: %v, want %v", types, want)
	}
	// Paging: one txn per page, following next.
	var all []string
	from := ""
	for i := 0; i < 20; i++ {
		page = txnPage{}
		c.mustDo(200, "GET", "/api/txns?limit=1&types=create&from="+from, nil, &page)
		if len(page.Txns) != 1 {
			t.Fatalf("page %d: %d txns", i, len(page.Txns))
		}
		var tx logdump.Txn
		_ = json.Unmarshal(page.Txns[0], &tx)
		all = append(all, tx.Path)
		if page.Next == "" {
			break
		}
		from = page.Next
	}
	if want := []string{"/app", "/app/cfg", "/other"}; !slices.Equal(all, want) {
		t.Errorf("paged creates %v, want %v", all, want)
	}
	if code := c.do("GET", "/api/txns?from=zz", nil, nil); code != 400 {
		t.Errorf("bad zxid: %d", code)
	}

	var h historyJSON
	c.mustDo(200, "GET", "/api/history?path=/app/cfg", nil, &h)
	var effects []string
	for _, ch := range h.Changes {
		effects = append(effects, ch.Effect)
	}
	if want := []string{"created", "data changed"}; !slices.Equal(effects, want) || string(*h.Changes[1].Txn.Data) != "v2" {
		t.Errorf("history %v", effects)
	}
}

// TestExplorerMatchesLogdump: the explorer's txns are zkd logdump --json's
// lines, field for field.
func TestExplorerMatchesLogdump(t *testing.T) {
	e := newEnv(t, Settings{})
	e.mkdir("/a", []byte{0, 1, 2})
	e.mkdir("/b", nil)
	c := e.client()
	var page txnPage
	c.mustDo(200, "GET", "/api/txns", nil, &page)
	in, err := logdump.Open(e.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if _, err := logdump.Dump(&sb, in, logdump.Options{JSON: true}); err != nil {
		t.Fatal(err)
	}
	var want []string
	sc := bufio.NewScanner(strings.NewReader(sb.String()))
	for sc.Scan() {
		want = append(want, sc.Text())
	}
	var got []string
	for _, r := range page.Txns {
		got = append(got, string(r))
	}
	if !slices.Equal(got, want) {
		t.Errorf("explorer\n%s\nlogdump\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestExplorerSnapshotAndDiff(t *testing.T) {
	e := newEnv(t, Settings{})
	e.mkdir("/keep", []byte("1"))
	e.mkdir("/gone", nil)
	_, st1, _ := e.zk.Exists("/gone")
	z1 := st1.Czxid
	if err := e.zk.Delete("/gone", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.zk.Set("/keep", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	st2, _ := e.zk.Set("/keep", []byte("3"), 1)
	e.mkdir("/new", nil)
	_, st3, _ := e.zk.Exists("/new")
	c := e.client()
	var d diffResult
	c.mustDo(200, "GET", fmt.Sprintf("/api/diff?a=0x%x&b=0x%x", z1, st3.Czxid), nil, &d)
	paths := func(l []diffEntry) (out []string) {
		for _, x := range l {
			out = append(out, x.Path)
		}
		return
	}
	if !slices.Equal(paths(d.Added), []string{"/new"}) || !slices.Equal(paths(d.Removed), []string{"/gone"}) ||
		!slices.Equal(paths(d.Changed), []string{"/", "/keep"}) || !d.Changed[1].DataChanged || d.Changed[1].After.Version != 2 {
		t.Errorf("diff %+v", d)
	}
	_ = st2
	c.mustDo(200, "GET", fmt.Sprintf("/api/diff?a=0x%x&b=0x%x&path=/keep", z1, st3.Czxid), nil, &d)
	if len(d.Added)+len(d.Removed) != 0 || len(d.Changed) != 1 {
		t.Errorf("diff under /keep %+v", d)
	}

	var snaps struct {
		Snapshots []snapshotFile
		Logs      []string
	}
	c.mustDo(200, "GET", "/api/snapshots", nil, &snaps)
	if len(snaps.Logs) == 0 {
		t.Fatalf("no logs listed: %+v", snaps)
	}
	if len(snaps.Snapshots) == 0 {
		t.Skip("the store wrote no snapshot at start-up; snapshot browsing not exercised")
	}
	var sv struct {
		File     string
		Node     nodeJSON
		Children childrenPage
	}
	c.mustDo(200, "GET", "/api/snapshot?path=/&file="+snaps.Snapshots[0].File, nil, &sv)
	if sv.Node.Path != "/" || sv.Children.Total < 1 {
		t.Errorf("snapshot view %+v", sv)
	}
	if code := c.do("GET", "/api/snapshot?path=/&file=../../etc/passwd", nil, nil); code != 404 {
		t.Errorf("path traversal: %d", code)
	}
}

// TestOpenAPI: every registered /api route is in openapi.yaml and every
// documented operation is registered.
func TestOpenAPI(t *testing.T) {
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	pathRe := regexp.MustCompile(`^  (/api/\S+):\s*$`)
	methodRe := regexp.MustCompile(`^    (get|post|put|delete|patch):`)
	cur := ""
	inPaths := false
	for _, line := range strings.Split(string(doc), "\n") {
		if line == "paths:" {
			inPaths = true
			continue
		}
		if !inPaths {
			continue
		}
		if m := pathRe.FindStringSubmatch(line); m != nil {
			cur = m[1]
		} else if m := methodRe.FindStringSubmatch(line); m != nil && cur != "" {
			documented[strings.ToUpper(m[1])+" "+cur] = true
		}
	}
	c := &Console{}
	registered := map[string]bool{}
	for _, r := range c.routes() {
		registered[r.method+" "+r.path] = true
		if !documented[r.method+" "+r.path] {
			t.Errorf("%s %s is not documented in openapi.yaml", r.method, r.path)
		}
	}
	for op := range documented {
		if !registered[op] {
			t.Errorf("openapi.yaml documents %s, which is not registered", op)
		}
	}
	if len(registered) < 15 {
		t.Errorf("only %d routes", len(registered))
	}
	// And the served copy is the file.
	e := newEnv(t, Settings{})
	code, body := e.client().raw("GET", "/api/openapi.yaml", nil, nil)
	if code != 200 || string(body) != string(doc) {
		t.Errorf("served openapi.yaml: %d", code)
	}
}

// TestExplorerMasksDigests: txns carry ACLs; their digest hashes are
// masked for non-admins in the explorer too.
func TestExplorerMasksDigests(t *testing.T) {
	e := newEnv(t, Settings{})
	const id = "bob:kXt8pPfGhYOy2VdB1nYqDhKjkpI="
	if _, err := e.zk.Create("/s", nil, 0, []zk.ACL{{Perms: zk.PermAll, Scheme: "digest", ID: id}, {Perms: zk.PermAll, Scheme: "world", ID: "anyone"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.zk.SetACL("/s", []zk.ACL{{Perms: zk.PermRead, Scheme: "digest", ID: id}}, 0); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	for _, p := range []string{"/api/txns?path=/s", "/api/history?path=/s"} {
		code, raw := c.raw("GET", p, nil, nil)
		if code != 200 || strings.Contains(string(raw), "kXt8p") || !strings.Contains(string(raw), "bob:"+maskedDigest) {
			t.Errorf("%s: %d %s", p, code, raw)
		}
	}
}
