package console

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/zkd-io/zkd/server/admin"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
	"github.com/zkd-io/zkd/web"
)

// env is an in-process zkd with durable storage, its HTTP port (metrics,
// AdminServer, console) on an httptest server, and a ZooKeeper client.
type env struct {
	t       testing.TB
	id      int64  // server id in the health view
	base    string // console URL of a zkd process (ts is nil then)
	logFile string // that process's log
	srv     *zkserver.Server
	ts      *httptest.Server
	con     *Console
	zk      *zk.Conn
	reg     *prometheus.Registry
	dataDir string
	logs    *syncBuffer
	peers   []Peer
	peersMu sync.Mutex
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mustSettings(t testing.TB, kv map[string]string) Settings {
	t.Helper()
	s, err := ParseSettings(kv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newEnv(t testing.TB, settings Settings) *env {
	t.Helper()
	e := &env{t: t, dataDir: t.TempDir(), logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	store, err := storage.Open(storage.Options{DataDir: e.dataDir, Logger: zerolog.Nop(), PreAllocSize: 1 << 20, ForceSync: true, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = zkservertest.Start(t, zkserver.Options{Store: store, ExtendedTypes: true, Version: "test", Registerer: e.reg,
		ContainerCheckInterval: time.Hour})
	// The server closes the store when it stops. zkservertest's own
	// cleanup waits on t.Context(), which is already done when cleanups
	// run, so wait here (this cleanup runs before its).
	t.Cleanup(func() {
		e.srv.StopAsync()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.srv.AwaitTerminated(ctx)
	})
	e.attach(settings)
	return e
}

// attach serves e.srv's HTTP port (metrics, AdminServer, console) on an
// httptest server and opens a ZooKeeper client to it.
func (e *env) attach(settings Settings) {
	t := e.t
	t.Helper()
	if e.id == 0 {
		e.id = 1
	}
	httpSrv := web.New(web.Options{Gatherer: e.reg, Registerer: e.reg, Logger: zerolog.Nop()})
	am, err := admin.NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	admin.Register(httpSrv.Echo(), admin.DefaultPrefix, e.srv.AdminSource(""), am)
	e.con, err = New(Options{
		Tree:       e.srv.Tree,
		ZKAddr:     e.srv.Addr().String(),
		Peers:      e.getPeers,
		DataDir:    e.dataDir,
		DataLogDir: e.dataDir,
		Settings:   settings,
		Registerer: e.reg,
		Logger:     zerolog.New(e.logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.con.Register(httpSrv.Echo())
	e.ts = httptest.NewServer(httpSrv.Echo())
	t.Cleanup(e.ts.Close)
	t.Cleanup(e.con.Close)
	e.peers = []Peer{{ID: e.id, URL: e.ts.URL}}
	conn, _, err := zk.Connect([]string{e.srv.Addr().String()}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	e.zk = conn
}

// newEnsembleEnvs starts an in-process 3-node zkd ensemble (real election,
// ZAB and request forwarding over TCP) and gives each member an env: its
// HTTP port with the console, and a ZooKeeper client to it. Every console
// lists all three as peers.
func newEnsembleEnvs(t testing.TB, settings Settings) (*zkservertest.Ensemble, map[int64]*env) {
	t.Helper()
	ens := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{
		Change: func(_ int64, o *zkserver.Options) { o.Version = "test"; o.ContainerCheckInterval = time.Hour },
	})
	envs := map[int64]*env{}
	var peers []Peer
	for _, id := range ens.Running() {
		e := &env{t: t, id: id, srv: ens.Server(id), reg: ens.Registry(id), dataDir: ens.DataDir(id), logs: &syncBuffer{}}
		e.attach(settings)
		envs[id] = e
		peers = append(peers, Peer{ID: id, URL: e.ts.URL})
	}
	for _, e := range envs {
		e.setPeers(peers)
	}
	return ens, envs
}

// url is the base URL of e's HTTP port.
func (e *env) url() string {
	if e.base != "" {
		return e.base
	}
	return e.ts.URL
}

// logText is what e's server logged.
func (e *env) logText() string {
	if e.logFile != "" {
		b, err := os.ReadFile(e.logFile)
		if err != nil {
			e.t.Fatal(err)
		}
		return string(b)
	}
	return e.logs.String()
}

func (e *env) getPeers() []Peer {
	e.peersMu.Lock()
	defer e.peersMu.Unlock()
	return append([]Peer(nil), e.peers...)
}

func (e *env) setPeers(p []Peer) {
	e.peersMu.Lock()
	defer e.peersMu.Unlock()
	e.peers = p
}

// createMany creates the nodes in multis of 1000 (one fsync each).
func (e *env) createMany(paths []string, data []byte) {
	e.t.Helper()
	for start := 0; start < len(paths); start += 1000 {
		var ops []any
		for _, p := range paths[start:min(start+1000, len(paths))] {
			ops = append(ops, &zk.CreateRequest{Path: p, Data: data, Acl: zk.WorldACL(zk.PermAll)})
		}
		if _, err := e.zk.Multi(ops...); err != nil {
			e.t.Fatalf("create %d nodes from %s: %v", len(ops), paths[start], err)
		}
	}
}

func (e *env) mkdir(p string, data []byte) {
	e.t.Helper()
	if _, err := e.zk.Create(p, data, 0, zk.WorldACL(zk.PermAll)); err != nil {
		e.t.Fatalf("create %s: %v", p, err)
	}
}

// client is a browser-like API client: a cookie jar and the CSRF token.
type client struct {
	t      testing.TB
	base   string
	hc     *http.Client
	csrf   string
	bearer string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	c := &client{t: e.t, base: e.ts.URL, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var s sessionInfo
	if code := c.do("GET", "/api/session", nil, &s); code != 200 {
		e.t.Fatalf("GET /api/session: %d", code)
	}
	c.csrf = s.CSRF
	return c
}

// do sends a request (body as JSON when not nil) and decodes the answer
// into out (when not nil); it returns the status code.
func (c *client) do(method, path string, body, out any) int {
	c.t.Helper()
	code, raw := c.raw(method, path, body, nil)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, code, raw, err)
		}
	}
	return code
}

func (c *client) raw(method, path string, body any, hdr map[string]string) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != "GET" && c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func (c *client) login(user, pass string) int {
	c.t.Helper()
	var s sessionInfo
	code := c.do("POST", "/api/login", loginRequest{User: user, Password: pass}, &s)
	return code
}

func (c *client) mustDo(want int, method, path string, body, out any) {
	c.t.Helper()
	code, raw := c.raw(method, path, body, nil)
	if code != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

func q(path string) string { return strings.ReplaceAll(path, "/", "%2F") }

func hashFor(t testing.TB, pw string) string {
	// MinCost keeps -race runs fast; production hashes use DefaultCost.
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
