// Package console is zkd's embedded web console: ensemble health, a znode
// browser and editor, an audit view and a txn-log/snapshot explorer, served
// by the node's echo server with every asset embedded (no CDN, no build
// step). The browser uses the same JSON API that is documented in
// openapi.yaml (served at /api/openapi.yaml).
//
// Reads come straight from the node's in-memory tree under its read lock;
// writes go through the ZooKeeper protocol on the console's own client
// session, so they take the normal write path (ACL checks, the leader in an
// ensemble) and are audited with the zxid they produced.
package console

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/datatree"
)

//go:embed ui
var uiFS embed.FS

//go:embed openapi.yaml
var openAPI []byte

// Peer is one server of the ensemble as the health page polls it.
type Peer struct {
	ID  int64
	URL string // base URL of its HTTP port, e.g. http://10.0.0.1:8080
}

// Options configure a Console.
type Options struct {
	// Tree returns the node's current tree. It is a func because a
	// follower's tree is replaced when it syncs a snapshot from the leader.
	Tree func() *datatree.Tree
	// ZKAddr is the node's own client address (host:port); writes go there.
	ZKAddr string
	// Peers lists the servers the health page shows (this node included);
	// evaluated per poll.
	Peers func() []Peer
	// AdminPrefix is the AdminServer's command URL on every peer
	// ("/commands" when empty).
	AdminPrefix string
	// DataDir and DataLogDir are the node's snapshot and txn-log
	// directories (either the dataDir or its version-2), for the explorer;
	// empty disables it.
	DataDir, DataLogDir string
	Settings            Settings
	Registerer          prometheus.Registerer
	Logger              zerolog.Logger
	// HTTPClient polls peers (a client with a 2 s timeout when nil).
	HTTPClient *http.Client
	// Now is the clock (time.Now when nil); tests set it.
	Now func() time.Time
}

// Console serves the console's UI and API.
type Console struct {
	opts    Options
	m       *metrics
	log     zerolog.Logger
	sess    *sessionStore
	audit   *auditLog
	health  *healthPoller
	snaps   snapCache
	kids    childCache
	zkOnce  sync.Once
	zkConn  *zk.Conn
	zkErr   error
	closeMu sync.Mutex
	closed  bool
}

// New builds a console; call Register to mount it and Close when done.
func New(opts Options) (*Console, error) {
	if opts.Tree == nil {
		return nil, errors.New("console: Options.Tree is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	}
	if opts.AdminPrefix == "" {
		opts.AdminPrefix = "/commands"
	}
	if opts.Settings.Users == nil && opts.Settings.Peers == nil && !opts.Settings.Enabled {
		// The zero Settings: treat as defaults (read-only anonymous).
		opts.Settings, _ = ParseSettings(nil)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	log := opts.Logger.With().Str("component", "console").Logger()
	c := &Console{
		opts:  opts,
		m:     m,
		log:   log,
		sess:  newSessionStore(opts.Now),
		audit: newAuditLog(1000),
	}
	c.health = newHealthPoller(c)
	return c, nil
}

// Close ends the console's ZooKeeper session and its pollers.
func (c *Console) Close() {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.health.close()
	if c.zkConn != nil {
		c.zkConn.Close()
	}
}

// Register mounts the UI at /console/ (and / redirects there) and the API
// at /api/.
func (c *Console) Register(e *echo.Echo) {
	sub, _ := fs.Sub(uiFS, "ui")
	static := http.StripPrefix("/console/", http.FileServer(http.FS(sub)))
	e.GET("/", func(ec echo.Context) error { return ec.Redirect(http.StatusFound, "/console/") })
	e.GET("/console", func(ec echo.Context) error { return ec.Redirect(http.StatusFound, "/console/") })
	e.GET("/console/*", func(ec echo.Context) error {
		ec.Response().Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		ec.Response().Header().Set("X-Content-Type-Options", "nosniff")
		static.ServeHTTP(ec.Response(), ec.Request())
		return nil
	})

	g := e.Group("/api", c.instrument, c.identify, middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:X-CSRF-Token",
		CookieName:     "zkd_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteStrictMode,
		// A bearer token is not sent by the browser on its own, so a
		// request carrying one cannot be forged cross-site.
		Skipper: func(ec echo.Context) bool { return bearer(ec.Request()) != "" },
		ErrorHandler: func(err error, ec echo.Context) error {
			c.m.csrfRejected.Inc()
			c.log.Warn().Str("remote", ec.RealIP()).Str("path", ec.Request().URL.Path).Err(err).Msg("console: request without a valid CSRF token rejected")
			return echo.NewHTTPError(http.StatusForbidden, "missing or invalid CSRF token (send the X-CSRF-Token header from GET /api/session)")
		},
	}))
	for _, r := range c.routes() {
		h := r.h
		if r.role > RoleNone {
			h = c.require(r.role, h)
		}
		g.Add(r.method, strings.TrimPrefix(r.path, "/api"), h)
	}
}

// route is one API route; routes() is also what the OpenAPI test checks.
type route struct {
	method, path string
	role         Role
	h            echo.HandlerFunc
}

func (c *Console) routes() []route {
	return []route{
		{http.MethodGet, "/api/openapi.yaml", RoleNone, c.getOpenAPI},
		{http.MethodGet, "/api/session", RoleNone, c.getSession},
		{http.MethodPost, "/api/login", RoleNone, c.postLogin},
		{http.MethodPost, "/api/logout", RoleNone, c.postLogout},
		{http.MethodGet, "/api/node", RoleViewer, c.getNode},
		{http.MethodGet, "/api/children", RoleViewer, c.getChildren},
		{http.MethodGet, "/api/search", RoleViewer, c.getSearch},
		{http.MethodPost, "/api/node", RoleEditor, c.postNode},
		{http.MethodPut, "/api/node/data", RoleEditor, c.putData},
		{http.MethodDelete, "/api/node", RoleEditor, c.deleteNode},
		{http.MethodPut, "/api/node/acl", RoleAdmin, c.putACL},
		{http.MethodGet, "/api/audit", RoleViewer, c.getAudit},
		{http.MethodGet, "/api/health", RoleViewer, c.getHealth},
		{http.MethodGet, "/api/health/stream", RoleViewer, c.getHealthStream},
		{http.MethodGet, "/api/txns", RoleViewer, c.getTxns},
		{http.MethodGet, "/api/history", RoleViewer, c.getHistory},
		{http.MethodGet, "/api/snapshots", RoleViewer, c.getSnapshots},
		{http.MethodGet, "/api/snapshot", RoleViewer, c.getSnapshot},
		{http.MethodGet, "/api/diff", RoleViewer, c.getDiff},
	}
}

func (c *Console) getOpenAPI(ec echo.Context) error {
	return ec.Blob(http.StatusOK, "application/yaml", openAPI)
}

// instrument counts requests and their latency by route template.
func (c *Console) instrument(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ec echo.Context) error {
		start := c.opts.Now()
		err := next(ec)
		code := ec.Response().Status
		if err != nil {
			var he *echo.HTTPError
			if errors.As(err, &he) {
				code = he.Code
			} else {
				code = http.StatusInternalServerError
			}
		}
		route := ec.Path()
		if route == "" {
			route = "unmatched"
		}
		c.m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		switch {
		case code >= 500:
			c.log.Warn().Str("route", route).Int("code", code).Str("remote", ec.RealIP()).Err(err).Msg("console: request failed")
		case code >= 400:
			c.log.Debug().Str("route", route).Int("code", code).Str("remote", ec.RealIP()).Str("query", ec.QueryString()).Msg("console: request refused")
		}
		if route != "/api/health/stream" {
			c.m.duration.WithLabelValues(route).Observe(c.opts.Now().Sub(start).Seconds())
		}
		return err
	}
}

// apiError is the JSON body of every error.
type apiError struct {
	Error string `json:"error"`
}

func jsonError(ec echo.Context, code int, format string, args ...any) error {
	return ec.JSON(code, apiError{Error: fmt.Sprintf(format, args...)})
}
