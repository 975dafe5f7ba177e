// Package admin serves Apache ZooKeeper 3.8's AdminServer commands over
// HTTP: GET <prefix>/<command> answers with a JSON document, GET <prefix>
// lists the commands. Operators and monitoring tools (Datadog, the
// Prometheus zookeeper exporters, zkui, curl scripts) call these with the
// same names and parse the same fields as on ZooKeeper's Jetty server, so
// zkd answers with ZooKeeper's field names, value types, key order and
// pretty-printing.
//
// The server's state comes from Source, the same state the four-letter
// words print (package fourlw) plus what only the AdminServer reports.
package admin

import (
	"cmp"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/server/fourlw"
)

// DefaultPrefix is ZooKeeper's default admin.commandURL.
const DefaultPrefix = "/commands"

// Source is what the commands read from a running server. Every method
// must be safe to call concurrently with request processing.
//
// Like fourlw.Source, a Source may also implement fourlw.TraceMaskSource
// (get_trace_mask, set_trace_mask), fourlw.DigestSource (hash) and
// fourlw.EnvironmentSource (environment), and SystemPropertiesSource
// (system_properties).
type Source interface {
	fourlw.Source
	// Configuration returns the server configuration (configuration).
	Configuration() Configuration
	// InitialConfiguration returns the text of the zoo.cfg the server was
	// started from, "" when it had none (initial_configuration).
	InitialConfiguration() string
	// LastSnapshot returns the newest snapshot the server has written or
	// loaded (last_snapshot); ok is false when there is none.
	LastSnapshot() (snap Snapshot, ok bool)
}

// Configuration is ZooKeeperServerConf, what the configuration command
// reports.
type Configuration struct {
	ClientPort int
	// DataDir and DataLogDir are the version-2 directories, as ZooKeeper
	// reports them.
	DataDir, DataLogDir     string
	TickTime                time.Duration
	MaxClientCnxns          int
	MinSessionTimeout       time.Duration
	MaxSessionTimeout       time.Duration
	ServerID                int64
	ClientPortListenBacklog int
}

// Snapshot describes a snapshot file for last_snapshot.
type Snapshot struct {
	Zxid int64
	// Written is the file's modification time; ZooKeeper reports it in
	// whole seconds.
	Written time.Time
}

// SystemPropertiesSource is implemented by a Source that supplies
// system_properties itself (tests use it for deterministic output).
// Without it the command reports HostSystemProperties().
type SystemPropertiesSource interface {
	SystemProperties() []fourlw.KV
}

// Metrics counts admin requests.
type Metrics struct {
	// Requests counts command requests by primary command name ("unknown"
	// for names that are not commands) and HTTP status code. ZooKeeper
	// answers 200 even when the command fails; Errors counts those.
	Requests *prometheus.CounterVec
	// Errors counts responses whose "error" field is not null, by command.
	Errors *prometheus.CounterVec
}

// NewMetrics registers the admin metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_admin_requests_total",
			Help: "AdminServer command requests, by command and HTTP status code.",
		}, []string{"command", "code"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_admin_command_errors_total",
			Help: "AdminServer command responses that carried an error (unknown command, server not serving, bad argument, or the command's own error), by command.",
		}, []string{"command"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.Requests, m.Errors} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Register adds the command routes under prefix (admin.commandURL; ""
// means DefaultPrefix) to e. m may be nil.
func Register(e *echo.Echo, prefix string, src Source, m *Metrics) {
	prefix = "/" + strings.Trim(cmp.Or(prefix, DefaultPrefix), "/")
	h := &handler{prefix: prefix, src: src, metrics: m, now: time.Now}
	e.GET(prefix, h.list)
	e.GET(prefix+"/", h.list)
	e.GET(prefix+"/*", h.command)
}

type handler struct {
	prefix  string
	src     Source
	metrics *Metrics
	now     func() time.Time
}

// list writes Jetty's index of the commands: a link per primary name.
func (h *handler) list(c echo.Context) error {
	var b strings.Builder
	for _, name := range PrimaryNames() {
		href := html.EscapeString(h.prefix + "/" + name)
		b.WriteString(`<a href="` + href + `">` + name + "</a>\n<br/>\n")
	}
	return c.HTML(http.StatusOK, b.String())
}

// command runs the command named by the rest of the path. Like Jetty's
// CommandServlet it answers 200 with the command's JSON even when the
// command is unknown or fails.
func (h *handler) command(c echo.Context) error {
	name := c.Param("*")
	kwargs := map[string]string{}
	for k, vs := range c.QueryParams() {
		if len(vs) > 0 {
			kwargs[k] = vs[0]
		}
	}
	resp := run(name, kwargs, h.src, h.now())
	body, err := encode(resp)
	if err != nil {
		// Only a programming error in a command gets here.
		return echo.NewHTTPError(http.StatusInternalServerError, err.Error())
	}
	if h.metrics != nil {
		label := "unknown"
		if cmd, ok := lookup(name); ok {
			label = cmd.names[0]
		}
		h.metrics.Requests.WithLabelValues(label, "200").Inc()
		if v, _ := resp.get("error"); v != nil {
			h.metrics.Errors.WithLabelValues(label).Inc()
		}
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}
