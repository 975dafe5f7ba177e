package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/zkd-io/zkd/server/testpeer"
)

// Job is the scrape job name of the zkd targets, the one alerts/zkd.rules.yml
// expects.
const Job = "zkd"

// Prometheus is a Prometheus server reached over its HTTP API.
type Prometheus struct {
	URL string
}

// NewClient returns a client for the Prometheus at url.
func NewClient(url string) *Prometheus { return &Prometheus{URL: url} }

// PrometheusOptions configure StartPrometheus.
type PrometheusOptions struct {
	// Interval is the scrape and rule evaluation interval (default 1s).
	Interval time.Duration
	// RuleFiles are loaded as rule_files (absolute or relative paths).
	RuleFiles []string
}

// PrometheusBinary returns the path of the prometheus binary (Debian
// package prometheus). CI installs it (`make deps`), so there a missing
// binary is a failure; elsewhere the test is skipped.
func PrometheusBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PROMETHEUS_BIN"); p != "" {
		return p
	}
	p, err := exec.LookPath("prometheus")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("prometheus not found (CI=true): install the Debian package prometheus (make deps): %v", err)
	}
	t.Skipf("prometheus not found, skipping (apt-get install prometheus): %v", err)
	return ""
}

// StartPrometheus runs the local Prometheus binary on a free loopback
// port, scraping targets as job zkd, and returns once it is ready.
func StartPrometheus(t testing.TB, targets []Target, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := PrometheusBinary(t)
	if opts.Interval == 0 {
		opts.Interval = time.Second
	}
	dir := t.TempDir()
	var rules []string
	for _, f := range opts.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, fmt.Sprintf("%q", abs))
	}
	var addrs []string
	for _, tg := range targets {
		addrs = append(addrs, fmt.Sprintf("%q", tg.MetricsAddr))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
  evaluation_interval: %s
rule_files: [%s]
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: [%s]
`, model.Duration(opts.Interval), model.Duration(opts.Interval*9/10), model.Duration(opts.Interval),
		strings.Join(rules, ", "), Job, strings.Join(addrs, ", "))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	host := testpeer.LoopbackHost(testpeer.LoopbackBlock() + 39)
	addr := fmt.Sprintf("%s:%d", host, testpeer.FreePort(t, host))
	p, err := startProc(t, "prometheus", bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if exited, log := p.exited(); exited {
			t.Fatalf("prometheus exited: %s", log)
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus at %s not ready after 20s: %v\n%s", base, err, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return NewClient(base)
}

// Query evaluates expr at the current time (/api/v1/query).
func (p *Prometheus) Query(ctx context.Context, expr string) (model.Value, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	var v model.Value
	switch data.ResultType {
	case "vector":
		v = &model.Vector{}
	case "matrix":
		v = &model.Matrix{}
	case "scalar":
		v = &model.Scalar{}
	case "string":
		v = &model.String{}
	default:
		return nil, fmt.Errorf("query %q: unknown result type %q", expr, data.ResultType)
	}
	if err := json.Unmarshal(data.Result, v); err != nil {
		return nil, fmt.Errorf("query %q: decode the %s result: %w", expr, data.ResultType, err)
	}
	switch v := v.(type) {
	case *model.Vector:
		return *v, nil
	case *model.Matrix:
		return *v, nil
	}
	return v, nil
}

// TargetHealth is one active scrape target.
type TargetHealth struct {
	Labels    map[string]string `json:"labels"`
	Health    string            `json:"health"` // up, down, unknown
	LastError string            `json:"lastError"`
}

// Targets returns the active scrape targets (/api/v1/targets).
func (p *Prometheus) Targets(ctx context.Context) ([]TargetHealth, error) {
	var data struct {
		Active []TargetHealth `json:"activeTargets"`
	}
	err := p.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data)
	return data.Active, err
}

// Alert is one pending or firing alert.
type Alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// Alerts returns the pending and firing alerts (/api/v1/alerts).
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	err := p.get(ctx, "/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// RuleHealth is one loaded rule as Prometheus evaluates it.
type RuleHealth struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"` // alerting, recording
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// Rules returns every loaded rule (/api/v1/rules).
func (p *Prometheus) Rules(ctx context.Context) ([]RuleHealth, error) {
	var data struct {
		Groups []struct {
			Rules []RuleHealth `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	var out []RuleHealth
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// get calls one endpoint of the HTTP API and decodes its data. The client
// is hand-written because client_golang's API client would add
// dependencies to the module for four endpoints.
func (p *Prometheus) get(ctx context.Context, path string, params url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("GET %s: HTTP %d, not an API answer: %q", path, resp.StatusCode, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s: %s", path, env.ErrorType, env.Error)
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

// Empty reports whether a query result holds no sample.
func Empty(v model.Value) bool {
	switch v := v.(type) {
	case model.Vector:
		return len(v) == 0
	case model.Matrix:
		return len(v) == 0
	case nil:
		return true
	}
	return false // scalar, string
}

// WaitTargetsUp waits until Prometheus has scraped every target of job
// successfully, or fails the test after timeout.
func (p *Prometheus) WaitTargetsUp(t testing.TB, job string, want int, timeout time.Duration) {
	t.Helper()
	var last string
	err := Poll(t.Context(), timeout, func(ctx context.Context) (bool, error) {
		active, err := p.Targets(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		up, states := 0, []string{}
		for _, tg := range active {
			if tg.Labels["job"] != job {
				continue
			}
			states = append(states, fmt.Sprintf("%s=%s %s", tg.Labels["instance"], tg.Health, tg.LastError))
			if tg.Health == "up" {
				up++
			}
		}
		last = strings.Join(states, "; ")
		return up == want, nil
	})
	if err != nil {
		t.Fatalf("Prometheus: %d targets of job %s not all up after %v: %s", want, job, timeout, last)
	}
}

// AlertState returns the state (pending, firing) of the alert named name
// whose labels include match, or "" if there is none.
func (p *Prometheus) AlertState(ctx context.Context, name string, match map[string]string) (string, error) {
	alerts, err := p.Alerts(ctx)
	if err != nil {
		return "", err
	}
	for _, a := range alerts {
		if a.Labels["alertname"] != name {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && a.Labels[k] == v
		}
		if ok {
			return a.State, nil
		}
	}
	return "", nil
}

// WaitAlert waits until the alert is in one of states, failing the test
// after timeout.
func (p *Prometheus) WaitAlert(t testing.TB, name string, match map[string]string, states []string, timeout time.Duration) {
	t.Helper()
	var last string
	err := Poll(t.Context(), timeout, func(ctx context.Context) (bool, error) {
		s, err := p.AlertState(ctx, name, match)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = s
		return slices.Contains(states, s), nil
	})
	if err != nil {
		t.Fatalf("alert %s%v not %v after %v (state %q)", name, match, states, timeout, last)
	}
}

// MetricNames returns every metric name Prometheus holds a series of.
func (p *Prometheus) MetricNames(ctx context.Context) ([]string, error) {
	var names []string
	err := p.get(ctx, "/api/v1/label/__name__/values", nil, &names)
	return names, err
}

// Poll calls f every 250 ms until it returns true or an error, or until
// timeout passes (an error saying so). Each call gets at most 5 s.
func Poll(ctx context.Context, timeout time.Duration, f func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := f(callCtx)
		callCancel()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
