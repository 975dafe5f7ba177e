package admin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/labstack/echo/v4"

	"github.com/zkd-io/zkd/server/admin"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// TestApacheComparison puts a real Apache ZooKeeper 3.8 (with its Jetty
// AdminServer) and zkd (with Register on an echo server) in the same
// state, GETs every command from both and compares the JSON documents:
// the same keys in the same order at the top level, the same nested key
// sets, the same JSON value types, and equal values wherever the shared
// state determines them. Session ids differ between the servers, so each
// server's own session id is replaced by "SID" first.
func TestApacheComparison(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM running Apache ZooKeeper")
	}
	apache := testpeer.StartApacheZK(t, testpeer.ApacheOptions{})
	store, err := storage.Open(storage.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	zkd := zkservertest.Start(t, zkserver.Options{Store: store})
	e := echo.New()
	cfg, err := os.ReadFile(apache.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	admin.Register(e, admin.DefaultPrefix, zkd.AdminSource(string(cfg)), nil)
	web := httptest.NewServer(e)
	t.Cleanup(web.Close)

	servers := []struct {
		name, url string
		sid       int64
	}{
		{"apache", apache.AdminURL() + "/commands/", scenario(t, apache.Addr)},
		{"zkd", web.URL + "/commands/", scenario(t, zkd.Addr().String())},
	}

	tests := []struct {
		path string
		// equal lists the fields, as /-separated paths, whose values must
		// be equal; "" means the whole document.
		equal []string
		// dataKeyed lists objects whose keys are data (times, session
		// ids, paths): only their sizes and values' shapes are compared.
		dataKeyed []string
		// buckets lists objects keyed by expiry tick whose values are
		// lists: how sessions spread over ticks depends on when they were
		// last touched, so the lists are merged into one before comparing.
		buckets []string
		// keys selects how top-level keys are compared; see compareKeys.
		keys keyRule
	}{
		{path: "crst", equal: []string{""}},
		{path: "configuration", equal: []string{"tick_time", "max_client_cnxns", "min_session_timeout",
			"max_session_timeout", "server_id", "client_port_listen_backlog"}},
		{path: "conf"},
		{path: "cons", equal: []string{"connections/0/session_id", "connections/0/session_timeout",
			"connections/0/interest_ops", "secure_connections"}},
		{path: "dirs"},
		{path: "dump", equal: []string{"session_id_to_ephemeral_paths"},
			dataKeyed: []string{"expiry_time_to_session_ids"}, buckets: []string{"expiry_time_to_session_ids"}},
		{path: "envi", equal: []string{"os.name", "os.arch", "user.name", "user.home"}, keys: keysButRuntime},
		{path: "gtmk", equal: []string{""}},
		{path: "stmk", equal: []string{""}},
		{path: "stmk?traceMask=abc", equal: []string{""}},
		{path: "stmk?traceMask=306", equal: []string{""}},
		{path: "icfg", equal: []string{""}},
		{path: "isro", equal: []string{""}},
		{path: "lsnp", equal: []string{"zxid"}},
		{path: "lead", equal: []string{""}},
		{path: "leader", equal: []string{""}},
		{path: "mntr", equal: []string{"server_state", "znode_count", "watch_count", "ephemerals_count",
			"num_alive_connections", "global_sessions", "local_sessions", "outstanding_requests",
			"approximate_data_size", "connection_drop_probability"}, keys: keysSubset},
		{path: "ruok", equal: []string{""}},
		{path: "srvr", equal: []string{"read_only", "node_count", "server_stats/server_state",
			"server_stats/num_alive_client_connections", "server_stats/last_processed_zxid",
			"server_stats/outstanding_requests", "server_stats/provider_null"}},
		{path: "stat", equal: []string{"read_only", "node_count", "server_stats/server_state",
			"secure_connections"}},
		{path: "srst", equal: []string{""}},
		{path: "sysp", equal: []string{"os.name", "os.arch", "user.name", "user.home", "file.separator",
			"path.separator", "line.separator", "file.encoding"}, keys: keysCommon},
		{path: "voting_view", equal: []string{""}},
		{path: "wchc", equal: []string{""}},
		{path: "wchp", equal: []string{""}},
		{path: "wchs", equal: []string{""}},
		{path: "zabstate", equal: []string{""}},
		{path: "hash", equal: []string{""}},
		{path: "obsr", equal: []string{""}},
		{path: "orst", equal: []string{""}},
		{path: "nosuch", equal: []string{""}},
		{path: "CONF", equal: []string{""}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.path, "?", "_"), func(t *testing.T) {
			var docs [2]any
			var orders [2][]string
			for i, s := range servers {
				raw := get(t, s.url+tt.path)
				orders[i] = topLevelKeys(t, raw)
				docs[i] = mergeBuckets(replaceSession(decode(t, raw), s.sid), tt.buckets)
			}
			apacheDoc, zkdDoc := docs[0].(map[string]any), docs[1].(map[string]any)
			compareKeys(t, tt.keys, orders[0], orders[1])
			for _, k := range orders[1] {
				if _, ok := apacheDoc[k]; ok {
					compareShape(t, k, apacheDoc[k], zkdDoc[k], tt.dataKeyed)
				}
			}
			for _, p := range tt.equal {
				a, aok := lookupPath(docs[0], p)
				z, zok := lookupPath(docs[1], p)
				if !aok || !zok {
					t.Errorf("%s: present in apache %v, zkd %v", p, aok, zok)
					continue
				}
				if !equalJSON(a, z) {
					t.Errorf("%q: apache %s, zkd %s", p, show(a), show(z))
				}
			}
		})
	}
}

// scenario opens a session on addr and leaves it with a node, an
// ephemeral, a data and a child watch on /a and an exists watch on /b.
// It returns the session id; the session lives until the test ends.
func scenario(t *testing.T, addr string) int64 {
	t.Helper()
	conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	acl := zk.WorldACL(zk.PermAll)
	if _, err := conn.Create("/a", []byte("x"), 0, acl); err != nil {
		t.Fatalf("%s: create /a: %v", addr, err)
	}
	if _, err := conn.Create("/a/e", []byte("y"), zk.FlagEphemeral, acl); err != nil {
		t.Fatalf("%s: create /a/e: %v", addr, err)
	}
	if _, _, _, err := conn.GetW("/a"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := conn.ChildrenW("/a"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := conn.ExistsW("/b"); err != nil {
		t.Fatal(err)
	}
	return conn.SessionID()
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s, Content-Type %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return body
}

func decode(t *testing.T, raw []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v in\n%s", err, raw)
	}
	return v
}

// topLevelKeys returns the document's top-level keys in order.
func topLevelKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// replaceSession replaces sid, as a number or an object key, by "SID".
func replaceSession(v any, sid int64) any {
	s := strconv.FormatInt(sid, 10)
	switch v := v.(type) {
	case json.Number:
		if string(v) == s {
			return "SID"
		}
	case []any:
		for i := range v {
			v[i] = replaceSession(v[i], sid)
		}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if k == s {
				k = "SID"
			}
			out[k] = replaceSession(x, sid)
		}
		return out
	}
	return v
}

type keyRule int

const (
	keysExact      keyRule = iota // same keys in the same order
	keysButRuntime                // same, once java.* and go.* keys are dropped
	keysSubset                    // zkd's keys are among Apache's
	keysCommon                    // both have the host keys zkd reports
)

func compareKeys(t *testing.T, rule keyRule, apache, zkd []string) {
	t.Helper()
	switch rule {
	case keysExact:
		if !slices.Equal(apache, zkd) {
			t.Errorf("top-level keys differ:\napache %v\nzkd    %v", apache, zkd)
		}
	case keysButRuntime:
		drop := func(k string) bool { return strings.HasPrefix(k, "java.") || strings.HasPrefix(k, "go.") }
		a, z := slices.DeleteFunc(slices.Clone(apache), drop), slices.DeleteFunc(slices.Clone(zkd), drop)
		if !slices.Equal(a, z) {
			t.Errorf("keys differ outside java.*/go.*:\napache %v\nzkd    %v", a, z)
		}
	case keysSubset:
		for _, k := range zkd {
			if !slices.Contains(apache, k) {
				t.Errorf("zkd key %q is not among Apache's", k)
			}
		}
		// And Apache's standard keys come in zkd's order.
		var common []string
		for _, k := range apache {
			if slices.Contains(zkd, k) {
				common = append(common, k)
			}
		}
		if !slices.Equal(common, zkd) {
			t.Errorf("shared keys in another order:\napache %v\nzkd    %v", common, zkd)
		}
	case keysCommon:
		for _, k := range []string{"os.name", "os.arch", "os.version", "user.name", "user.home", "user.dir",
			"user.timezone", "file.separator", "path.separator", "line.separator", "file.encoding", "command", "error"} {
			if !slices.Contains(apache, k) || !slices.Contains(zkd, k) {
				t.Errorf("key %q: in apache %v, in zkd %v", k, slices.Contains(apache, k), slices.Contains(zkd, k))
			}
		}
	}
}

// compareShape checks that a and z have the same JSON kind and, for
// objects, the same keys (values compared recursively) unless the object
// is data-keyed, and for arrays the same length and element shapes.
// mergeBuckets replaces each top-level object named in keys, whose values
// are lists, by one entry holding all their elements.
func mergeBuckets(doc any, keys []string) any {
	m, ok := doc.(map[string]any)
	if !ok {
		return doc
	}
	for _, k := range keys {
		obj, ok := m[k].(map[string]any)
		if !ok || len(obj) == 0 {
			continue
		}
		var all []any
		for _, bk := range sortedKeys(obj) {
			if l, ok := obj[bk].([]any); ok {
				all = append(all, l...)
			}
		}
		m[k] = map[string]any{"merged": all}
	}
	return m
}

func compareShape(t *testing.T, path string, a, z any, dataKeyed []string) {
	t.Helper()
	if ka, kz := kind(a), kind(z); ka != kz {
		t.Errorf("%s: apache %s (%s), zkd %s (%s)", path, ka, show(a), kz, show(z))
		return
	}
	switch a := a.(type) {
	case map[string]any:
		z := z.(map[string]any)
		ka, kz := sortedKeys(a), sortedKeys(z)
		if slices.Contains(dataKeyed, path) {
			if len(ka) != len(kz) {
				t.Errorf("%s: apache has %d entries, zkd %d", path, len(ka), len(kz))
				return
			}
			for i := range ka {
				compareShape(t, path+"/*", a[ka[i]], z[kz[i]], dataKeyed)
			}
			return
		}
		if !slices.Equal(ka, kz) {
			t.Errorf("%s: keys differ:\napache %v\nzkd    %v", path, ka, kz)
			return
		}
		for _, k := range ka {
			compareShape(t, path+"/"+k, a[k], z[k], dataKeyed)
		}
	case []any:
		z := z.([]any)
		if len(a) != len(z) {
			t.Errorf("%s: apache has %d elements, zkd %d", path, len(a), len(z))
			return
		}
		for i := range a {
			compareShape(t, fmt.Sprintf("%s/%d", path, i), a[i], z[i], dataKeyed)
		}
	}
}

// kind is a JSON value's type, telling integers from decimals as Java
// does (long versus double).
func kind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "double"
		}
		return "long"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func lookupPath(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for part := range strings.SplitSeq(path, "/") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func equalJSON(a, b any) bool { return show(a) == show(b) }

func show(v any) string {
	b, _ := json.Marshal(v) // maps are marshalled with sorted keys
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
