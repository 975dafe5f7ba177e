package console

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestChildrenPaging50k(t *testing.T) {
	e := newEnv(t, Settings{})
	const n = 50_000
	e.mkdir("/big", nil)
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("/big/c%06d", i)
	}
	e.createMany(paths, []byte("x"))
	c := e.client()
	var seen []string
	after := ""
	for pages := 0; pages < 100; pages++ {
		var page childrenPage
		c.mustDo(200, "GET", "/api/children?path=/big&limit=1000&after="+after, nil, &page)
		if page.Total != n {
			t.Fatalf("total %d, want %d", page.Total, n)
		}
		if len(page.Children) > 1000 {
			t.Fatalf("page of %d > limit", len(page.Children))
		}
		for _, ch := range page.Children {
			seen = append(seen, ch.Name)
			if ch.DataLength != 1 || ch.Kind != "persistent" {
				t.Fatalf("child %+v", ch)
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(seen) != n || !slices.IsSorted(seen) || slices.Compact(slices.Clone(seen))[n-1] != "c049999" {
		t.Fatalf("paged %d names (sorted %v), want %d distinct sorted", len(seen), slices.IsSorted(seen), n)
	}
	// A cursor that is not a child name works too ("jump to").
	var page childrenPage
	c.mustDo(200, "GET", "/api/children?path=/big&limit=3&after=c04", nil, &page)
	if got := []string{page.Children[0].Name, page.Children[2].Name}; got[0] != "c040000" || got[1] != "c040002" {
		t.Errorf("after=c04: %v", got)
	}
	// The cached sorted names follow changes to the parent.
	e.mkdir("/big/c040000a", nil)
	if err := e.zk.Delete("/big/c040001", 0); err != nil {
		t.Fatal(err)
	}
	page = childrenPage{}
	c.mustDo(200, "GET", "/api/children?path=/big&limit=3&after=c04", nil, &page)
	if page.Total != n || page.Children[1].Name != "c040000a" || page.Children[2].Name != "c040002" {
		t.Errorf("after a create and a delete: %+v", page)
	}
	// Bad limits are refused.
	if code := c.do("GET", "/api/children?path=/big&limit=100000", nil, nil); code != 400 {
		t.Errorf("limit=100000: %d", code)
	}
	if code := c.do("GET", "/api/children?path=/nope", nil, nil); code != 404 {
		t.Errorf("missing node: %d", code)
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t, Settings{})
	e.mkdir("/app", nil)
	e.mkdir("/app/config", []byte("0123456789"))
	e.mkdir("/app/configs", []byte("x"))
	e.mkdir("/app/locks", nil)
	e.mkdir("/other", nil)
	e.mkdir("/other/myconfig", []byte("abc"))
	owner, _, err := zk.Connect([]string{e.srv.Addr().String()}, 10e9, zk.WithLogInfo(false), zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := owner.Create("/app/locks/lock-1", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	paths := func(r searchResult) []string {
		var out []string
		for _, h := range r.Results {
			out = append(out, h.Path)
		}
		return out
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"q=config", []string{"/app/config", "/app/configs", "/zookeeper/config"}},
		{"q=config&path=/app", []string{"/app/config", "/app/configs"}},
		{"q=config&mode=substring", []string{"/app/config", "/app/configs", "/other/myconfig", "/zookeeper/config"}},
		{"q=config&mode=substring&path=/other", []string{"/other/myconfig"}},
		{"minSize=3&maxSize=10", []string{"/app/config", "/other/myconfig"}},
		{"minSize=10", []string{"/app/config"}},
		{fmt.Sprintf("owner=0x%x", owner.SessionID()), []string{"/app/locks/lock-1"}},
		{"q=nothing", nil},
	}
	for _, tc := range cases {
		var r searchResult
		c.mustDo(200, "GET", "/api/search?"+tc.query, nil, &r)
		if got := paths(r); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	var r searchResult
	c.mustDo(200, "GET", "/api/search?q=config&mode=substring&limit=2&path=/app", nil, &r)
	if r.More || len(r.Results) != 2 {
		t.Errorf("limit 2 under /app: %+v", r)
	}
	c.mustDo(200, "GET", "/api/search?q=config&mode=substring&limit=2&maxSize=5", nil, &r)
	if !r.More || len(r.Results) != 2 {
		t.Errorf("limit 2: %+v", r)
	}
	c.mustDo(200, "GET", "/api/search?q=config&mode=substring&limit=2&offset=2&minSize=1", nil, &r)
	if r.More || len(r.Results) != 1 || r.Results[0].Path != "/other/myconfig" {
		t.Errorf("offset 2: %+v", r)
	}
	if r.Results[0].EphemeralOwner != "" {
		t.Error("persistent node has an owner")
	}
	if code := c.do("GET", "/api/search?mode=regex", nil, nil); code != 400 {
		t.Errorf("bad mode: %d", code)
	}
}

func allBytes() []byte {
	b := make([]byte, 0, 300)
	for i := 0; i < 256; i++ {
		b = append(b, byte(i))
	}
	// Invalid UTF-8, a BOM, CRLF, a NUL: everything a text box would mangle.
	return append(b, 0xff, 0xfe, 0xef, 0xbb, 0xbf, '\r', '\n', 0, 0xc3, 0x28)
}

func TestBinaryRoundTrip(t *testing.T) {
	e := newEnv(t, mustSettings(t, map[string]string{"anonymousRole": "editor"}))
	c := e.client()
	data := allBytes()
	// Written by a client, read through the API.
	e.mkdir("/bin", data)
	var n nodeJSON
	c.mustDo(200, "GET", "/api/node?path=/bin", nil, &n)
	if !bytes.Equal(n.Data, data) || n.DataNull || n.Stat.DataLength != int32(len(data)) {
		t.Fatalf("API read %x, want %x", n.Data, data)
	}
	// Written through the API (create and set), read by a client.
	var w writeResult
	c.mustDo(201, "POST", "/api/node", createRequest{Path: "/bin2", Data: data}, &w)
	got, _, err := e.zk.Get("/bin2")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("client read after API create: %x %v", got, err)
	}
	rev := slices.Clone(data)
	slices.Reverse(rev)
	c.mustDo(200, "PUT", "/api/node/data", setDataRequest{Path: "/bin2", Data: rev, Version: 0}, &w)
	got, st, err := e.zk.Get("/bin2")
	if err != nil || !bytes.Equal(got, rev) || st.Version != 1 {
		t.Fatalf("client read after API set: %x %v", got, err)
	}
	// The wire form is base64 of the exact bytes.
	_, raw := c.raw("GET", "/api/node?path=/bin2", nil, nil)
	if !strings.Contains(string(raw), `"data":"`+base64.StdEncoding.EncodeToString(rev)+`"`) {
		t.Errorf("JSON does not carry the bytes as base64: %s", raw)
	}
	// Null and empty data stay distinct.
	e.mkdir("/empty", []byte{})
	c.mustDo(200, "GET", "/api/node?path=/empty", nil, &n)
	if n.DataNull || len(n.Data) != 0 {
		t.Errorf("empty data: %+v", n)
	}
}

func TestSetVersionConflict(t *testing.T) {
	e := newEnv(t, mustSettings(t, map[string]string{"anonymousRole": "editor"}))
	c := e.client()
	e.mkdir("/cfg", []byte("v0"))
	c.mustDo(200, "PUT", "/api/node/data", setDataRequest{Path: "/cfg", Data: []byte("mine-1"), Version: 0}, nil)
	// Someone else changes it.
	if _, err := e.zk.Set("/cfg", []byte("theirs"), 1); err != nil {
		t.Fatal(err)
	}
	var cf conflict
	c.mustDo(409, "PUT", "/api/node/data", setDataRequest{Path: "/cfg", Data: []byte("mine-2"), Version: 1}, &cf)
	if string(cf.Current.Data) != "theirs" || cf.Current.Stat.Version != 2 || string(cf.Yours.Data) != "mine-2" || cf.Yours.Version != 1 {
		t.Fatalf("conflict body %+v", cf)
	}
	// Retry against the current version.
	var w writeResult
	c.mustDo(200, "PUT", "/api/node/data", setDataRequest{Path: "/cfg", Data: []byte("mine-2"), Version: cf.Current.Stat.Version}, &w)
	got, _, _ := e.zk.Get("/cfg")
	if string(got) != "mine-2" || w.Stat.Version != 3 {
		t.Fatalf("after retry: %q %+v", got, w)
	}
	if code := c.do("PUT", "/api/node/data", setDataRequest{Path: "/cfg", Data: []byte("x"), Version: -1}, nil); code != 400 {
		t.Errorf("version -1: %d, want 400 (no blind overwrite)", code)
	}
	if v := testutil.ToFloat64(e.con.m.writes.WithLabelValues("setData", "conflict")); v != 1 {
		t.Errorf("conflict metric %v", v)
	}
}

func TestRecursiveDelete(t *testing.T) {
	e := newEnv(t, mustSettings(t, map[string]string{"anonymousRole": "editor"}))
	c := e.client()
	e.mkdir("/tree", nil)
	var paths []string
	for i := 0; i < 30; i++ {
		paths = append(paths, fmt.Sprintf("/tree/d%02d", i))
	}
	for i := 0; i < 30; i++ {
		for j := 0; j < 80; j++ {
			paths = append(paths, fmt.Sprintf("/tree/d%02d/n%02d", i, j))
		}
	}
	e.createMany(paths, nil) // 2430 nodes: three delete batches
	if code := c.do("DELETE", "/api/node?path=/tree&recursive=true", nil, nil); code != 400 {
		t.Fatalf("no confirmation: %d", code)
	}
	if code := c.do("DELETE", "/api/node?path=/tree&recursive=true&confirm=/tre", nil, nil); code != 400 {
		t.Fatalf("wrong confirmation: %d", code)
	}
	if code := c.do("DELETE", "/api/node?path=/tree&confirm=/tree", nil, nil); code != 409 {
		t.Fatalf("plain delete of a parent: %d, want 409 (not empty)", code)
	}
	var w writeResult
	c.mustDo(200, "DELETE", "/api/node?path=/tree&recursive=true&confirm=/tree", nil, &w)
	if w.Deleted != len(paths)+1 {
		t.Errorf("deleted %d, want %d", w.Deleted, len(paths)+1)
	}
	if ok, _, _ := e.zk.Exists("/tree"); ok {
		t.Fatal("/tree still exists")
	}
	for _, p := range []string{"/", "/zookeeper", "/zookeeper/quota"} {
		if code := c.do("DELETE", "/api/node?recursive=true&path="+p+"&confirm="+p, nil, nil); code != 400 {
			t.Errorf("delete %s: %d, want 400", p, code)
		}
	}
	// The audit has the change with its zxid: the parent's pzxid.
	_, st, _ := e.zk.Exists("/")
	a := e.con.Audit(1)[0]
	if a.Op != "deleteRecursive" || a.Path != "/tree" || a.Result != "ok" || a.Zxid != hex64(st.Pzxid) {
		t.Errorf("audit %+v, root pzxid %x", a, st.Pzxid)
	}
}

func TestCreateModes(t *testing.T) {
	e := newEnv(t, mustSettings(t, map[string]string{"anonymousRole": "editor"}))
	c := e.client()
	cases := []struct {
		mode, path string
		ttl        int64
		kind       string
		seq        bool
	}{
		{"persistent", "/p", 0, "persistent", false},
		{"", "/p2", 0, "persistent", false},
		{"persistent_sequential", "/s-", 0, "persistent", true},
		{"container", "/c", 0, "container", false},
		{"ttl", "/t", 60000, "ttl", false},
		{"persistent_sequential_ttl", "/ts-", 60000, "ttl", true},
	}
	for _, tc := range cases {
		var w writeResult
		c.mustDo(201, "POST", "/api/node", createRequest{Path: tc.path, Mode: tc.mode, TTLMs: tc.ttl, Data: []byte("d")}, &w)
		if tc.seq != (w.Path != tc.path) || (tc.seq && !regexp.MustCompile(`^`+tc.path+`\d{10}$`).MatchString(w.Path)) {
			t.Errorf("%s: created %s", tc.mode, w.Path)
		}
		var n nodeJSON
		c.mustDo(200, "GET", "/api/node?path="+w.Path, nil, &n)
		if n.Kind != tc.kind || n.TTLMs != tc.ttl {
			t.Errorf("%s: kind %s ttl %d", tc.mode, n.Kind, n.TTLMs)
		}
		_, st, _ := e.zk.Exists(w.Path)
		if w.Zxid != hex64(st.Czxid) {
			t.Errorf("%s: result zxid %s, czxid %x", tc.mode, w.Zxid, st.Czxid)
		}
	}
	for _, mode := range []string{"ephemeral", "ephemeral_sequential"} {
		code, raw := c.raw("POST", "/api/node", createRequest{Path: "/e", Mode: mode}, nil)
		if code != 400 || !strings.Contains(string(raw), "console's own ZooKeeper session") {
			t.Errorf("%s: %d %s", mode, code, raw)
		}
	}
	if code := c.do("POST", "/api/node", createRequest{Path: "/t2", Mode: "ttl"}, nil); code != 400 {
		t.Errorf("ttl without ttlMs: %d", code)
	}
	if code := c.do("POST", "/api/node", createRequest{Path: "/p"}, nil); code != 409 {
		t.Errorf("existing node: %d", code)
	}
	if code := c.do("POST", "/api/node", createRequest{Path: "/missing/child"}, nil); code != 404 {
		t.Errorf("missing parent: %d", code)
	}
	if code := c.do("POST", "/api/node", createRequest{Path: "no-slash"}, nil); code != 400 {
		t.Errorf("bad path: %d", code)
	}
}

func TestACLMaskingAndEdit(t *testing.T) {
	settings := mustSettings(t, map[string]string{
		"user.alice": "admin:" + hashFor(t, "alice-pw"),
		"user.vic":   "viewer:" + hashFor(t, "vic-pw"),
	})
	e := newEnv(t, settings)
	const digestID = "bob:kXt8pPfGhYOy2VdB1nYqDhKjkpI="
	acl := []zk.ACL{{Perms: zk.PermAll, Scheme: "digest", ID: digestID}, {Perms: zk.PermRead, Scheme: "world", ID: "anyone"}}
	if _, err := e.zk.Create("/secret", []byte("s"), 0, acl); err != nil {
		t.Fatal(err)
	}
	viewer, admin := e.client(), e.client()
	if viewer.login("vic", "vic-pw") != 200 || admin.login("alice", "alice-pw") != 200 {
		t.Fatal("login failed")
	}
	var n nodeJSON
	viewer.mustDo(200, "GET", "/api/node?path=/secret", nil, &n)
	if !n.ACLMasked || n.ACL[0].ID != "bob:"+maskedDigest || n.ACL[1].ID != "anyone" || n.ACL[0].PermString != "cdrwa" {
		t.Errorf("viewer sees %+v", n.ACL)
	}
	_, raw := viewer.raw("GET", "/api/node?path=/secret", nil, nil)
	if strings.Contains(string(raw), "kXt8p") {
		t.Error("viewer response contains the digest hash")
	}
	n = nodeJSON{}
	admin.mustDo(200, "GET", "/api/node?path=/secret", nil, &n)
	if n.ACLMasked || n.ACL[0].ID != digestID {
		t.Errorf("admin sees %+v", n.ACL)
	}
	// Only admins edit ACLs; the console session is not bob, so it needs
	// ADMIN through another entry: make a node it can administer.
	e.mkdir("/open", nil)
	newACL := []aclJSON{{Scheme: "world", ID: "anyone", Perms: zk.PermRead | zk.PermAdmin}}
	if code := viewer.do("PUT", "/api/node/acl", setACLRequest{Path: "/open", ACL: newACL, Version: 0}, nil); code != 403 {
		t.Errorf("viewer setACL: %d", code)
	}
	var w writeResult
	admin.mustDo(200, "PUT", "/api/node/acl", setACLRequest{Path: "/open", ACL: newACL, Version: 0}, &w)
	got, _, _ := e.zk.GetACL("/open")
	if len(got) != 1 || got[0].Perms != zk.PermRead|zk.PermAdmin {
		t.Errorf("ACL after set: %+v", got)
	}
	// A stale aversion conflicts; a masked id cannot be written back.
	if code := admin.do("PUT", "/api/node/acl", setACLRequest{Path: "/open", ACL: newACL, Version: 0}, nil); code != 409 {
		t.Errorf("stale aversion: %d", code)
	}
	masked := []aclJSON{{Scheme: "digest", ID: "bob:" + maskedDigest, Perms: zk.PermAll}}
	if code := admin.do("PUT", "/api/node/acl", setACLRequest{Path: "/open", ACL: masked, Version: -1}, nil); code != 400 {
		t.Errorf("masked id written: %d", code)
	}
	// ZooKeeper's own ACL check applies to console writes: the console's
	// session is not bob, so it may not change /secret's data.
	if code := admin.do("PUT", "/api/node/data", setDataRequest{Path: "/secret", Data: []byte("x"), Version: 0}, nil); code != 403 {
		t.Errorf("write without ZooKeeper permission: %d, want 403", code)
	}
}

func TestAuthz(t *testing.T) {
	const viewerToken, adminToken = "viewer-token-123", "admin-token-456"
	settings := mustSettings(t, map[string]string{
		"user.ed":       "editor:" + hashFor(t, "ed-pw"),
		"user.vic":      "viewer:" + hashFor(t, "vic-pw"),
		"token.ci":      "viewer:" + HashToken(viewerToken),
		"token.robot":   "admin:" + HashToken(adminToken),
		"peer.1":        "http://127.0.0.1:1", // unused here; parsed
		"zkAuth":        "digest:console:pw",
		"anonymousRole": "admin", // ignored: users are configured
	})
	e := newEnv(t, settings)
	e.mkdir("/x", []byte("x"))
	anon := e.client()
	var s sessionInfo
	anon.mustDo(200, "GET", "/api/session", nil, &s)
	if s.Role != "none" || !s.AuthRequired {
		t.Errorf("anonymous session %+v", s)
	}
	for _, p := range []string{"/api/node?path=/x", "/api/children?path=/", "/api/search?q=x", "/api/audit", "/api/health", "/api/txns", "/api/snapshots"} {
		if code, raw := anon.raw("GET", p, nil, nil); code != 401 || strings.Contains(string(raw), `"x"`) {
			t.Errorf("anonymous GET %s: %d %s", p, code, raw)
		}
	}
	if code := anon.do("POST", "/api/node", createRequest{Path: "/a"}, nil); code != 401 {
		t.Errorf("anonymous create: %d", code)
	}
	before := testutil.ToFloat64(e.con.m.authFailures)
	if code := anon.login("vic", "wrong"); code != 401 {
		t.Errorf("bad password: %d", code)
	}
	if code := anon.login("nobody", "x"); code != 401 {
		t.Errorf("unknown user: %d", code)
	}
	if got := testutil.ToFloat64(e.con.m.authFailures) - before; got != 2 {
		t.Errorf("auth failures +%v, want +2", got)
	}

	viewer := e.client()
	viewer.login("vic", "vic-pw")
	viewer.mustDo(200, "GET", "/api/node?path=/x", nil, nil)
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/node", createRequest{Path: "/v"}},
		{"PUT", "/api/node/data", setDataRequest{Path: "/x", Data: []byte("y"), Version: 0}},
		{"DELETE", "/api/node?path=/x&confirm=/x", nil},
		{"PUT", "/api/node/acl", setACLRequest{Path: "/x", ACL: []aclJSON{{Scheme: "world", ID: "anyone", Perms: 31}}, Version: -1}},
	} {
		if code := viewer.do(req.method, req.path, req.body, nil); code != 403 {
			t.Errorf("viewer %s %s: %d, want 403", req.method, req.path, code)
		}
	}
	if got, _, _ := e.zk.Get("/x"); string(got) != "x" {
		t.Errorf("viewer changed /x: %q", got)
	}
	if ok, _, _ := e.zk.Exists("/v"); ok {
		t.Error("viewer created /v")
	}

	editor := e.client()
	editor.login("ed", "ed-pw")
	editor.mustDo(201, "POST", "/api/node", createRequest{Path: "/ed"}, nil)
	if code := editor.do("PUT", "/api/node/acl", setACLRequest{Path: "/ed", ACL: []aclJSON{{Scheme: "world", ID: "anyone", Perms: 31}}, Version: -1}, nil); code != 403 {
		t.Errorf("editor setACL: %d", code)
	}
	// Logging out ends the session.
	editor.mustDo(204, "POST", "/api/logout", nil, nil)
	if code := editor.do("GET", "/api/node?path=/x", nil, nil); code != 401 {
		t.Errorf("after logout: %d", code)
	}

	// Bearer tokens: no cookie, no CSRF token needed.
	ci := &client{t: t, base: e.ts.URL, hc: http.DefaultClient, bearer: viewerToken}
	ci.mustDo(200, "GET", "/api/node?path=/x", nil, nil)
	if code := ci.do("POST", "/api/node", createRequest{Path: "/ci"}, nil); code != 403 {
		t.Errorf("viewer token create: %d", code)
	}
	robot := &client{t: t, base: e.ts.URL, hc: http.DefaultClient, bearer: adminToken}
	robot.mustDo(201, "POST", "/api/node", createRequest{Path: "/robot"}, nil)
	bad := &client{t: t, base: e.ts.URL, hc: http.DefaultClient, bearer: "guess"}
	if code := bad.do("GET", "/api/node?path=/x", nil, nil); code != 401 {
		t.Errorf("unknown token: %d", code)
	}
	a := e.con.Audit(1)[0]
	if a.User != "robot" || a.Kind != "token" || a.Path != "/robot" {
		t.Errorf("audit %+v", a)
	}
}

func TestReadOnlyWithoutUsers(t *testing.T) {
	e := newEnv(t, Settings{})
	e.mkdir("/x", []byte("x"))
	c := e.client()
	var s sessionInfo
	c.mustDo(200, "GET", "/api/session", nil, &s)
	if s.Role != "viewer" || s.AuthRequired {
		t.Errorf("session %+v", s)
	}
	c.mustDo(200, "GET", "/api/node?path=/x", nil, nil)
	if code := c.do("POST", "/api/node", createRequest{Path: "/y"}, nil); code != 403 {
		t.Errorf("create without users and without anonymousRole: %d, want 403", code)
	}
	if code := c.do("PUT", "/api/node/data", setDataRequest{Path: "/x", Version: 0}, nil); code != 403 {
		t.Errorf("set: %d", code)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, mustSettings(t, map[string]string{"anonymousRole": "editor"}))
	c := e.client()
	token := c.csrf
	if token == "" {
		t.Fatal("no CSRF token in /api/session")
	}
	c.csrf = ""
	if code := c.do("POST", "/api/node", createRequest{Path: "/no-token"}, nil); code != 403 {
		t.Errorf("no token: %d", code)
	}
	c.csrf = "forged"
	if code := c.do("POST", "/api/node", createRequest{Path: "/forged"}, nil); code != 403 {
		t.Errorf("wrong token: %d", code)
	}
	c.csrf = token
	if code, _ := c.raw("POST", "/api/node", createRequest{Path: "/cross-site"}, map[string]string{"Sec-Fetch-Site": "cross-site"}); code != 403 {
		t.Errorf("cross-site: %d", code)
	}
	// A fresh client without the CSRF cookie cannot reuse the token.
	other := &client{t: t, base: e.ts.URL, hc: http.DefaultClient, csrf: token}
	if code := other.do("POST", "/api/node", createRequest{Path: "/other"}, nil); code != 403 {
		t.Errorf("token without its cookie: %d", code)
	}
	c.mustDo(201, "POST", "/api/node", createRequest{Path: "/ok"}, nil)
	for _, p := range []string{"/no-token", "/forged", "/cross-site", "/other"} {
		if ok, _, _ := e.zk.Exists(p); ok {
			t.Errorf("%s was created", p)
		}
	}
	if v := testutil.ToFloat64(e.con.m.csrfRejected); v < 3 {
		t.Errorf("csrf rejections metric %v", v)
	}
}

func TestAudit(t *testing.T) {
	e := newEnv(t, mustSettings(t, map[string]string{"user.ed": "editor:" + hashFor(t, "pw")}))
	c := e.client()
	c.login("ed", "pw")
	var w1, w2 writeResult
	c.mustDo(201, "POST", "/api/node", createRequest{Path: "/a", Data: []byte("1")}, &w1)
	c.mustDo(200, "PUT", "/api/node/data", setDataRequest{Path: "/a", Data: []byte("2"), Version: 0}, &w2)
	c.do("PUT", "/api/node/data", setDataRequest{Path: "/a", Data: []byte("3"), Version: 0}, nil) // conflict
	c.mustDo(200, "DELETE", "/api/node?path=/a&confirm=/a&version=1", nil, nil)
	var out struct{ Entries []AuditEntry }
	c.mustDo(200, "GET", "/api/audit", nil, &out)
	if len(out.Entries) != 4 {
		t.Fatalf("audit %+v", out.Entries)
	}
	ops := []string{}
	for _, a := range out.Entries {
		ops = append(ops, a.Op+":"+a.Result[:min(len(a.Result), 8)])
		if a.User != "ed" || a.Kind != "user" || a.Path != "/a" || a.Time.IsZero() || a.Remote == "" || a.Session == "" {
			t.Errorf("entry %+v", a)
		}
	}
	if want := []string{"delete:ok", "setData:conflict", "setData:ok", "create:ok"}; !slices.Equal(ops, want) {
		t.Errorf("ops %v, want %v", ops, want)
	}
	if out.Entries[3].Zxid != w1.Zxid || out.Entries[2].Zxid != w2.Zxid || w2.Zxid != w2.Stat.Mzxid {
		t.Errorf("zxids: audit %s %s, results %s %s", out.Entries[3].Zxid, out.Entries[2].Zxid, w1.Zxid, w2.Zxid)
	}
	logs := e.logs.String()
	for _, want := range []string{`"message":"console audit"`, `"user":"ed"`, `"op":"create"`, `"zxid":"` + w1.Zxid + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("server log lacks %s:\n%s", want, logs)
		}
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, Settings{})
	e.mkdir("/h", nil)
	e.setPeers([]Peer{{ID: 1, URL: e.ts.URL}, {ID: 2, URL: "http://127.0.0.1:1"}})
	c := e.client()
	var h Health
	c.mustDo(200, "GET", "/api/health", nil, &h)
	if len(h.Servers) != 2 {
		t.Fatalf("%+v", h)
	}
	self, down := h.Servers[0], h.Servers[1]
	_, st, _ := e.zk.Exists("/h")
	if !self.Up || self.State != "standalone" || self.Zxid == "" || self.Epoch != st.Czxid>>32 || self.Lag == nil || *self.Lag != 0 || self.Znodes < 5 {
		t.Errorf("self %+v", self)
	}
	if self.FsyncP99Ms == nil {
		t.Errorf("no fsync p99 for self: %+v", self)
	}
	if down.Up || down.Error == "" {
		t.Errorf("down peer %+v", down)
	}
}

func TestHealthStream(t *testing.T) {
	e := newEnv(t, Settings{})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.ts.URL+"/api/health/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	buf := make([]byte, 4096)
	n, err := resp.Body.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "event: health\ndata: {") {
		t.Fatalf("first event %q %v", buf[:n], err)
	}
	if v := testutil.ToFloat64(e.con.m.sseClients); v != 1 {
		t.Errorf("sse clients %v", v)
	}
}

func TestSettings(t *testing.T) {
	good := map[string]string{"enabled": "true", "anonymousRole": "editor", "peer.2": "http://h:8080/", "zkAuth": "digest:a:b"}
	s, err := ParseSettings(good)
	if err != nil || s.AnonymousRole != RoleEditor || s.Peers[2] != "http://h:8080" || s.ZKAuthScheme != "digest" || string(s.ZKAuth) != "a:b" || s.AuthRequired() {
		t.Errorf("%+v %v", s, err)
	}
	for k, v := range map[string]string{
		"user.a":        "viewer:plaintext",
		"user.b":        "boss:$2a$10$x",
		"token.c":       "viewer:abc",
		"token.d":       "viewer:sha256:12",
		"peer.x":        "http://h",
		"peer.3":        "ftp://h",
		"zkAuth":        "digest",
		"anonymousRole": "root",
		"enabled":       "maybe",
		"colour":        "blue",
	} {
		if _, err := ParseSettings(map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), "zkd.console."+k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}

func TestMetricsRegistered(t *testing.T) {
	e := newEnv(t, Settings{})
	c := e.client()
	c.mustDo(200, "GET", "/api/node?path=/", nil, nil)
	if v := testutil.ToFloat64(e.con.m.requests.WithLabelValues("/api/node", "200")); v != 1 {
		t.Errorf("requests{/api/node,200} = %v", v)
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"zkd_console_requests_total", "zkd_console_request_duration_seconds", "zkd_console_sse_clients"} {
		if !names[n] {
			t.Errorf("%s not in the registry", n)
		}
	}
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "zkd_console_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestStaticUI(t *testing.T) {
	e := newEnv(t, mustSettings(t, map[string]string{"user.u": "viewer:" + hashFor(t, "p")}))
	for path, want := range map[string]string{"/console/": "<title>zkd console</title>", "/console/app.js": "use strict", "/console/style.css": "body"} {
		resp, err := http.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d csp=%q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
	// No external URLs in the assets: nothing is loaded from a CDN.
	for _, f := range []string{"ui/index.html", "ui/app.js", "ui/style.css"} {
		b, _ := uiFS.ReadFile(f)
		if regexp.MustCompile(`(src|href)=["']?https?://`).Match(b) || strings.Contains(string(b), "@import") {
			t.Errorf("%s references an external asset", f)
		}
	}
}
