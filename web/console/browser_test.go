package console

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-zookeeper/zk"
)

// Browser tests: Debian's chromium, headless, driven by chromedp against an
// in-process zkd serving the console. Screenshots go to
// $ZKD_TEST_ARTIFACTS/console (or a temp dir, logged).

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("ZKD_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: the Makefile's DEB_PACKAGES should install it (make deps)")
	}
	t.Skip("chromium not installed (Debian package chromium; `make deps` installs it): skipping browser tests")
	return ""
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("ZKD_TEST_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser starts one headless chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// get runs one action and returns its value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(step, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// void drops an action's value.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, tg)
		return chromedp.Void{}, err
	}
}

// waitText waits until the element's text contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)
	return void(chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100)) // quality 100 gives PNG
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkHealthPage opens the health page and waits until every server in
// want shows as up (true) or down (false). The 3-node ensemble test calls
// it again after stopping a node.
func checkHealthPage(t *testing.T, ctx context.Context, base string, want map[int64]bool) {
	t.Helper()
	run(t, ctx, "open health", chromedp.Navigate(base+"/console/#/health"), chromedp.WaitVisible(chromedp.CSS("#view-health")))
	for id, up := range want {
		state := "down"
		if up {
			state = "up"
		}
		run(t, ctx, fmt.Sprintf("server %d %s", id, state), waitText(fmt.Sprintf("#server-%d td.status", id), state))
	}
	run(t, ctx, "live updates", waitText("#health-live", "live"))
}

func TestBrowser(t *testing.T) {
	chromiumPath(t)
	e := newEnv(t, browserSettings(t))
	e.setPeers([]Peer{{ID: 1, URL: e.ts.URL}, {ID: 2, URL: "http://127.0.0.1:1"}}) // server 2 never answers
	walkConsole(t, e, artifactsDir(t), map[int64]bool{1: true, 2: false}, "standalone")
}

// TestBrowserEnsemble walks the same console through a follower of a
// 3-node zkd ensemble (in-process members: real election, ZAB and request
// forwarding over TCP), so every edit goes through the leader and comes
// back as a commit; then the other follower goes down and turns "down" on
// the health page without a reload.
func TestBrowserEnsemble(t *testing.T) {
	chromiumPath(t)
	ens, envs := newEnsembleEnvs(t, browserSettings(t))
	leader := ens.WaitServing()
	followers := ens.Followers(leader)
	e, other := envs[followers[0]], envs[followers[1]]
	dir := filepath.Join(artifactsDir(t), "ensemble")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	all := map[int64]bool{1: true, 2: true, 3: true}
	ctx := walkConsole(t, e, dir, all, "follower")
	run(t, ctx, "leader shown", waitText(fmt.Sprintf("#server-%d", leader), "leader"))

	start := time.Now()
	other.ts.Close()
	ens.Stop(other.id)
	all[other.id] = false
	checkHealthPage(t, ctx, e.ts.URL, all)
	t.Logf("server %d shown down after %v", other.id, time.Since(start))
	screenshot(t, ctx, dir, "health-node-down.png")
}

func browserSettings(t *testing.T) Settings {
	return mustSettings(t, map[string]string{"user.admin": "admin:" + hashFor(t, "demo-password")})
}

// walkConsole logs in to e's console and drives every view: health (want:
// which servers are up; role: e's Mode), tree navigation, data editing
// (binary byte for byte), creates, ACLs, a version conflict, recursive
// delete, the txn explorer and the audit view. Screenshots go to dir. It
// returns the browser context, logged in.
func walkConsole(t *testing.T, e *env, dir string, want map[int64]bool, role string) context.Context {
	t.Helper()
	ctx := browser(t)

	// Data to browse.
	e.mkdir("/app", nil)
	e.mkdir("/app/config", []byte(`{"replicas":3,"name":"demo"}`))
	binary := allBytes()
	e.mkdir("/app/bin", binary)
	e.mkdir("/big", nil)
	var kids []string
	for i := 0; i < 450; i++ {
		kids = append(kids, fmt.Sprintf("/big/item-%04d", i))
	}
	e.createMany(kids, nil)
	e.mkdir("/deep", nil)
	e.createMany([]string{"/deep/a", "/deep/a/b", "/deep/a/b/c", "/deep/x", "/deep/y"}, []byte("z"))

	base := e.url()
	// Log in (users are configured, so anonymous sees only the login form).
	run(t, ctx, "login page",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#view-login")),
		chromedp.SendKeys(chromedp.CSS("#login-user"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "demo-password"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#view-health")),
		waitText("#who", "admin (admin)"))

	t.Run("health", func(t *testing.T) {
		checkHealthPage(t, ctx, base, want)
		run(t, ctx, "role shown", waitText(fmt.Sprintf("#server-%d", e.id), role))
		screenshot(t, ctx, dir, "health.png")
	})

	t.Run("navigate tree", func(t *testing.T) {
		run(t, ctx, "open tree",
			chromedp.Navigate(base+"/console/#/tree"),
			chromedp.WaitVisible(chromedp.CSS(`li[data-path="/app"] > button.toggle`)),
			chromedp.Click(chromedp.CSS(`li[data-path="/app"] > button.toggle`)),
			chromedp.WaitVisible(chromedp.CSS(`a.node-link[data-path="/app/config"]`)),
			chromedp.Click(chromedp.CSS(`a.node-link[data-path="/app/config"]`)),
			waitText("#node-path", "/app/config"),
			waitText("#data-view", `"replicas": 3`), // JSON pretty-printed
			waitText("#stat-version", "0"))
		pathbar := get(t, ctx, "path bar", chromedp.Value(chromedp.CSS("#pathbar")))
		if pathbar != "/app/config" {
			t.Errorf("path bar %q", pathbar)
		}
		// Binary data is shown as hex, never decoded lossily.
		run(t, ctx, "binary node",
			chromedp.Click(chromedp.CSS(`a.node-link[data-path="/app/bin"]`)),
			waitText("#node-path", "/app/bin"),
			waitText("#data-view", "00000000  00 01 02 03"))
		// A large directory is paged: 200 at a time, then "load more".
		run(t, ctx, "big directory",
			chromedp.Click(chromedp.CSS(`li[data-path="/big"] > button.toggle`)),
			waitText(`li[data-path="/big"] button.load-more`, "200 of 450"),
			chromedp.Click(chromedp.CSS(`li[data-path="/big"] button.load-more`)),
			waitText(`li[data-path="/big"] button.load-more`, "400 of 450"))
		n := get(t, ctx, "count", chromedp.Evaluate[int](`document.querySelectorAll('li[data-path="/big"] > ul > li[data-path]').length`))
		if n != 400 {
			t.Errorf("%d children shown after two pages, want 400", n)
		}
		// Path bar navigation.
		run(t, ctx, "path bar go",
			chromedp.SetValue(chromedp.CSS("#pathbar"), "/deep/a/b"),
			chromedp.Click(chromedp.CSS("#pathbar-go")),
			waitText("#node-path", "/deep/a/b"))
		screenshot(t, ctx, dir, "tree.png")
	})

	t.Run("edit node", func(t *testing.T) {
		run(t, ctx, "edit",
			chromedp.Navigate(base+"/console/#/tree?path=%2Fapp%2Fconfig"),
			waitText("#node-path", "/app/config"),
			chromedp.Click(chromedp.CSS("#btn-edit")),
			chromedp.WaitVisible(chromedp.CSS("#edit-form")),
			chromedp.SetValue(chromedp.CSS("#edit-data"), `{"replicas":5,"name":"demo"}`),
			chromedp.Click(chromedp.CSS("#edit-save")),
			waitText("#flash", "Saved /app/config"),
			waitText("#stat-version", "1"))
		got, _, _ := e.zk.Get("/app/config")
		if string(got) != `{"replicas":5,"name":"demo"}` {
			t.Errorf("data after edit: %q", got)
		}
		// Saving binary data unchanged keeps every byte (edited as hex).
		run(t, ctx, "binary save",
			chromedp.Navigate(base+"/console/#/tree?path=%2Fapp%2Fbin"),
			waitText("#node-path", "/app/bin"),
			chromedp.Click(chromedp.CSS("#btn-edit")),
			chromedp.WaitVisible(chromedp.CSS("#edit-form")),
			chromedp.Click(chromedp.CSS("#edit-save")),
			waitText("#flash", "Saved /app/bin"))
		got, st, _ := e.zk.Get("/app/bin")
		if !bytes.Equal(got, binary) || st.Version != 1 {
			t.Errorf("binary data changed by an edit round trip: version %d, %x", st.Version, got)
		}
	})

	t.Run("create TTL node", func(t *testing.T) {
		run(t, ctx, "create",
			chromedp.Navigate(base+"/console/#/tree?path=%2Fapp"),
			waitText("#node-path", "/app"),
			chromedp.Click(chromedp.CSS("#btn-create")),
			chromedp.WaitVisible(chromedp.CSS("#create-form")),
			waitText("#create-form", "Ephemeral nodes are not offered"),
			chromedp.SendKeys(chromedp.CSS("#create-name"), "lease"),
			chromedp.SetValue(chromedp.CSS("#create-mode"), "ttl"),
			chromedp.SendKeys(chromedp.CSS("#create-ttl"), "60000"),
			chromedp.SetValue(chromedp.CSS("#create-format"), "hex"),
			chromedp.SetValue(chromedp.CSS("#create-data"), "00ff10"),
			chromedp.Click(chromedp.CSS("#create-save")),
			waitText("#flash", "Created /app/lease"),
			waitText("#node-path", "/app/lease"),
			waitText("#node-kind", "ttl, TTL 60000 ms"))
		got, _, err := e.zk.Get("/app/lease")
		if err != nil || !bytes.Equal(got, []byte{0, 0xff, 0x10}) {
			t.Errorf("created data %x %v", got, err)
		}
	})

	t.Run("edit ACL", func(t *testing.T) {
		run(t, ctx, "acl",
			chromedp.Navigate(base+"/console/#/tree?path=%2Fapp%2Flease"),
			waitText("#node-path", "/app/lease"),
			chromedp.Click(chromedp.CSS("#btn-acl")),
			chromedp.WaitVisible(chromedp.CSS("#acl-form")),
			chromedp.SetValue(chromedp.CSS("#acl-text"), "world:anyone:rwa\ndigest:bob:kXt8pPfGhYOy2VdB1nYqDhKjkpI=:cdrwa"),
			chromedp.Click(chromedp.CSS("#acl-save")),
			waitText("#flash", "ACL of /app/lease set"),
			waitText("#acl-table", "bob:kXt8pPfGhYOy2VdB1nYqDhKjkpI="), // admins see the hash
			waitText("#stat-aversion", "1"))
		acl, _, err := e.zk.GetACL("/app/lease")
		if err != nil || len(acl) != 2 || acl[0].Perms != zk.PermRead|zk.PermWrite|zk.PermAdmin || acl[1].ID != "bob:kXt8pPfGhYOy2VdB1nYqDhKjkpI=" {
			t.Errorf("ACL %+v %v", acl, err)
		}
	})

	t.Run("version conflict", func(t *testing.T) {
		run(t, ctx, "start editing",
			chromedp.Navigate(base+"/console/#/tree?path=%2Fapp%2Fconfig"),
			waitText("#node-path", "/app/config"),
			waitText("#stat-version", "1"),
			chromedp.Click(chromedp.CSS("#btn-edit")),
			chromedp.WaitVisible(chromedp.CSS("#edit-form")))
		// Someone else writes meanwhile.
		if _, err := e.zk.Set("/app/config", []byte(`{"replicas":7,"by":"someone else"}`), 1); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, "save conflicts",
			chromedp.SetValue(chromedp.CSS("#edit-data"), `{"replicas":9}`),
			chromedp.Click(chromedp.CSS("#edit-save")),
			chromedp.WaitVisible(chromedp.CSS("#conflict")),
			waitText("#conflict-current", "someone else"),
			waitText("#conflict-yours", `{"replicas":9}`),
			waitText("#conflict-current-version", "2"))
		screenshot(t, ctx, dir, "conflict.png")
		run(t, ctx, "retry",
			chromedp.Click(chromedp.CSS("#conflict-retry")),
			waitText("#flash", "Saved /app/config"),
			waitText("#stat-version", "3"))
		got, _, _ := e.zk.Get("/app/config")
		if string(got) != `{"replicas":9}` {
			t.Errorf("after resolving: %q", got)
		}
	})

	t.Run("delete recursively", func(t *testing.T) {
		run(t, ctx, "open delete",
			chromedp.Navigate(base+"/console/#/tree?path=%2Fdeep"),
			waitText("#node-path", "/deep"),
			chromedp.Click(chromedp.CSS("#btn-delete")),
			chromedp.WaitVisible(chromedp.CSS("#delete-form")))
		run(t, ctx, "typed confirmation", chromedp.SendKeys(chromedp.CSS("#delete-confirm"), "/dee"))
		disabled := get(t, ctx, "button state", chromedp.Evaluate[bool](`document.getElementById('delete-go').disabled && document.getElementById('delete-recursive').checked`))
		if !disabled {
			t.Error("delete enabled before the path was typed in full, or recursive not preselected")
		}
		run(t, ctx, "confirm", chromedp.SendKeys(chromedp.CSS("#delete-confirm"), "p"))
		screenshot(t, ctx, dir, "delete.png")
		run(t, ctx, "delete",
			chromedp.Click(chromedp.CSS("#delete-go")),
			waitText("#flash", "Deleted 6 node(s) at /deep"),
			waitText("#node-path", "/"))
		if ok, _, _ := e.zk.Exists("/deep"); ok {
			t.Error("/deep still exists")
		}
	})

	t.Run("explorer txn", func(t *testing.T) {
		run(t, ctx, "txns",
			chromedp.Navigate(base+"/console/#/explorer"),
			chromedp.WaitVisible(chromedp.CSS("#view-explorer")),
			chromedp.SetValue(chromedp.CSS("#txn-path"), "/app/config"),
			chromedp.Click(chromedp.CSS("#txn-go")),
			chromedp.WaitVisible(chromedp.CSS("#txn-table tbody tr.txn")),
			waitText("#txn-table tbody", "setData"),
			chromedp.Click(chromedp.CSS("#txn-table tbody tr.txn:last-child")),
			chromedp.WaitVisible(chromedp.CSS("#txn-detail")),
			waitText("#txn-detail", `"path": "/app/config"`),
			waitText("#txn-detail", `data (14 bytes, shown as UTF-8 text):`),
			chromedp.SetValue(chromedp.CSS("#history-path"), "/app/config"),
			chromedp.Click(chromedp.CSS("#history-go")),
			waitText("#history-table", "data changed"))
		rows := get(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#txn-table tbody tr.txn').length`))
		if rows != 4 { // create + 3 sets
			t.Errorf("%d txns for /app/config, want 4", rows)
		}
		screenshot(t, ctx, dir, "explorer.png")
	})

	t.Run("audit", func(t *testing.T) {
		run(t, ctx, "audit",
			chromedp.Navigate(base+"/console/#/audit"),
			waitText("#audit-table tbody", "deleteRecursive"),
			waitText("#audit-table tbody", "admin (user)"))
		screenshot(t, ctx, dir, "audit.png")
	})

	// Nothing the browser did may have used an external URL: the CSP
	// would have blocked it, and the assets name none (TestStaticUI).
	errs := get(t, ctx, "app loaded", chromedp.Evaluate[string](`document.body.dataset.ready || ''`))
	if errs != "1" {
		t.Errorf("app did not finish loading: %q", errs)
	}
	if strings.Contains(e.logText(), `"level":"error"`) {
		t.Errorf("errors in the console's log:\n%s", e.logText())
	}
	return ctx
}

// TestBrowserHealthNodeDown: three zkd nodes, each with its console, and
// the health page of node 1 showing all three; node 3 stops and turns
// "down" on node 1's page without a reload (server-sent events). The nodes
// are standalone until quorum mode lands; the check is the same for an
// ensemble (checkHealthPage takes the expected states).
func TestBrowserHealthNodeDown(t *testing.T) {
	chromiumPath(t)
	nodes := []*env{newEnv(t, Settings{}), newEnv(t, Settings{}), newEnv(t, Settings{})}
	var peers []Peer
	for i, n := range nodes {
		peers = append(peers, Peer{ID: int64(i + 1), URL: n.ts.URL})
	}
	for _, n := range nodes {
		n.setPeers(peers)
	}
	dir := artifactsDir(t)
	ctx := browser(t)
	base := nodes[0].ts.URL
	checkHealthPage(t, ctx, base, map[int64]bool{1: true, 2: true, 3: true})
	screenshot(t, ctx, dir, "health-3-nodes.png")

	// Stop node 3: its HTTP port and its server.
	start := time.Now()
	nodes[2].ts.Close()
	t.Logf("closed in %v", time.Since(start))
	nodes[2].srv.StopAsync()
	run(t, ctx, "node 3 goes down (live)", waitText("#server-3 td.status", "down"), waitText("#server-1 td.status", "up"), waitText("#server-2 td.status", "up"))
	t.Logf("down after %v", time.Since(start))
	screenshot(t, ctx, dir, "health-node-down.png")
}

// BenchmarkBrowserBigDirectory: the browser opens a parent with 50 000
// children (in a 100 000-node tree) and shows its first page. Reports the
// time from navigation to the first page of children on screen.
func BenchmarkBrowserBigDirectory(b *testing.B) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		b.Skip("chromium not installed")
	}
	e := bigTree(b)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		b.Fatal(err)
	}
	// Warm up the browser (its first page load pays for process start-up).
	if err := chromedp.Do(ctx, chromedp.Navigate(e.ts.URL+"/console/"), waitText("#health-live", "live")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		// A full page load: HTML, script, session, the root's children,
		// the node, then the first page of its 50 000 children.
		err := chromedp.Do(ctx,
			chromedp.Navigate(e.ts.URL+"/console/#/tree?path=%2Fbig"),
			waitText("#node-path", "/big"),
			chromedp.Click(chromedp.CSS(`li[data-path="/big"] > button.toggle`)),
			waitText(`li[data-path="/big"] button.load-more`, "200 of 50000"))
		if err != nil {
			b.Fatal(err)
		}
	}
}
