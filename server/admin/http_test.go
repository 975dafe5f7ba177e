package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHTTP(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	Register(e, "", newFake(), m)
	Register(e, "/zk/admin/", newFake(), nil) // a configured admin.commandURL

	tests := []struct {
		path, wantType, wantBody string
	}{
		{"/commands", "text/html", `<a href="/commands/configuration">configuration</a>` + "\n<br/>\n"},
		{"/commands/", "text/html", `<a href="/commands/zabstate">zabstate</a>` + "\n<br/>\n"},
		{"/zk/admin", "text/html", `<a href="/zk/admin/ruok">ruok</a>`},
		{"/zk/admin/ruok", "application/json", "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}"},
		{"/commands/ruok", "application/json", "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}"},
		{"/commands/srvr?x=1", "application/json", `"command" : "server_stats"`},
		{"/commands/stmk?traceMask=7", "application/json", `"tracemask" : 7,`},
		{"/commands/nosuch", "application/json", `"error" : "Unknown command: nosuch"`},
		{"/commands/a/b", "application/json", `"error" : "Unknown command: a/b"`},
		{"/commands/%3Cx%3E", "application/json", `"error" : "Unknown command: <x>"`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200 (as Jetty, even for errors)", tt.path, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.wantType)
		}
		if !strings.Contains(string(body), tt.wantBody) {
			t.Errorf("GET %s: body lacks %q:\n%s", tt.path, tt.wantBody, body)
		}
	}

	// The index lists every primary name once, and no alias.
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/commands", nil))
	if n := strings.Count(rec.Body.String(), "<a href="); n != len(commands) {
		t.Errorf("index has %d links, want %d", n, len(commands))
	}
	if strings.Contains(rec.Body.String(), ">srvr<") {
		t.Error("index lists an alias")
	}

	for _, c := range []struct {
		command string
		want    float64
	}{{"ruok", 1}, {"server_stats", 1}, {"set_trace_mask", 1}, {"unknown", 3}} {
		if got := testutil.ToFloat64(m.Requests.WithLabelValues(c.command, "200")); got != c.want {
			t.Errorf("zkd_admin_requests_total{command=%q} = %v, want %v", c.command, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.Errors.WithLabelValues("unknown")); got != 3 {
		t.Errorf("zkd_admin_command_errors_total{command=unknown} = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.Errors.WithLabelValues("ruok")); got != 0 {
		t.Errorf("zkd_admin_command_errors_total{command=ruok} = %v, want 0", got)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
}
