package dashboards

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/internal/promtest"
)

// liveVariables are the values Grafana's variables stand for when the
// queries run against the live Prometheus of TestLiveQueries, which
// scrapes and evaluates every second: $__rate_interval is what Grafana
// would use for a 1 s scrape interval with margin (at least four scrapes),
// and the job and instance variables are on All, as a dashboard opens.
var liveVariables = strings.NewReplacer(
	"$__rate_interval", "15s",
	"$__interval", "1s",
	"$__range", "5m",
	"$job", promtest.Job,
	"$instance", ".+",
)

// ensembleOnly are the metric families only an ensemble member exports
// (or only exports with data); a query selecting one of them is checked
// for data only when the live targets form an ensemble.
var ensembleOnly = []struct{ prefix, reason string }{
	{"zkd_quorum_", "quorum state, proposals, commits, learner sync and follower lag exist only on ensemble members"},
	{"zkd_election_", "leader election runs only in an ensemble"},
}

// unobservable are metric families no running server can show with data,
// so no query of them can be checked live. Keep this list short: every
// entry is a panel (and possibly an alert) that never shows anything.
var unobservable = []struct{ prefix, reason string }{}

// unobservableReason returns why expr can have no data from a running
// server, or "".
func unobservableReason(expr string) string {
	a, err := analyze(expr)
	if err != nil {
		return ""
	}
	for _, s := range a.selectors {
		for _, e := range unobservable {
			if strings.HasPrefix(s.metric, e.prefix) {
				return e.reason
			}
		}
	}
	return ""
}

// ensembleGaps are metric families an ensemble member should export with
// data but does not yet; queries of them are logged, not failed, on an
// ensemble. Remove an entry when the gap is closed.
var ensembleGaps = []struct{ prefix, reason string }{}

func gapReason(expr string) string {
	a, err := analyze(expr)
	if err != nil {
		return ""
	}
	for _, s := range a.selectors {
		for _, e := range ensembleGaps {
			if strings.HasPrefix(s.metric, e.prefix) {
				return e.reason
			}
		}
	}
	return ""
}

// ensembleReason returns why expr can only have data in an ensemble, or "".
func ensembleReason(expr string) string {
	a, err := analyze(expr)
	if err != nil {
		return ""
	}
	for _, s := range a.selectors {
		for _, e := range ensembleOnly {
			if strings.HasPrefix(s.metric, e.prefix) {
				return e.reason
			}
		}
	}
	return ""
}

// TestLiveQueries runs every dashboard query through a real Prometheus
// scraping real zkd servers under load, and requires data from each: a
// query that parses and names exported metrics can still show nothing
// (a label value never used, a counter never created, a histogram
// without observations in a ratio). It also checks that every metric a
// query names is one Prometheus really scraped from zkd.
//
// It runs against a three-node ensemble and against three standalone
// servers.
func TestLiveQueries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts zkd servers and Prometheus (-short)")
	}
	queries := allQueries(t)
	bin := promtest.ZkdBinary(t)
	for _, mode := range []struct {
		name       string
		standalone bool
	}{{"ensemble", false}, {"standalone", true}} {
		t.Run(mode.name, func(t *testing.T) { checkLiveQueries(t, queries, bin, mode.standalone) })
	}
}

func checkLiveQueries(t *testing.T, queries []query, bin string, standalone bool) {
	start := time.Now()
	srv := promtest.StartServers(t, promtest.Options{Binary: bin, Standalone: standalone, Config: map[string]string{"snapCount": "50"}})
	prom := promtest.StartPrometheus(t, srv.Targets, promtest.PrometheusOptions{RuleFiles: []string{"../alerts/zkd.rules.yml"}})
	prom.WaitTargetsUp(t, promtest.Job, len(srv.Targets), 20*time.Second)
	t.Logf("servers and Prometheus up after %v", time.Since(start).Round(time.Millisecond))
	promtest.DriveLoad(t, srv.Targets, promtest.LoadOptions{Writes: 120})
	t.Logf("load done after %v", time.Since(start).Round(time.Millisecond))

	type liveQuery struct {
		query
		expr   string // variables substituted
		reason string // ensemble-only: why
	}
	var checked []liveQuery
	for _, q := range queries {
		lq := liveQuery{query: q, expr: liveVariables.Replace(q.expr), reason: ensembleReason(q.expr)}
		if strings.Contains(lq.expr, "$") {
			t.Errorf("%s: a Grafana variable the test does not substitute: %s", q.where, q.expr)
			continue
		}
		if r := unobservableReason(q.expr); r != "" {
			t.Logf("%s: not checked: %s", q.where, r)
			continue
		}
		if r := gapReason(q.expr); r != "" && srv.Ensemble {
			t.Logf("%s: NOT CHECKED, known gap on ensemble members: %s", q.where, r)
			continue
		}
		if lq.reason != "" && !srv.Ensemble {
			t.Logf("%s: not checked, ensemble-only (%s)", q.where, lq.reason)
			continue
		}
		checked = append(checked, lq)
	}

	// Data arrives with the scrapes after the load: wait (bounded) until
	// every query has some, then report the ones that have none.
	results := map[string]string{} // where -> problem
	for deadline := time.Now().Add(30 * time.Second); ; {
		clear(results)
		for _, q := range checked {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			v, err := prom.Query(ctx, q.expr)
			cancel()
			switch {
			case err != nil:
				results[q.where] = fmt.Sprintf("query failed: %v", err)
			case promtest.Empty(v):
				results[q.where] = "no data"
			}
		}
		if len(results) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, q := range checked {
		if p, ok := results[q.where]; ok {
			t.Errorf("%s: %s\n\t%s", q.where, p, q.expr)
		}
	}

	t.Logf("queries answered after %v", time.Since(start).Round(time.Millisecond))
	names, err := prom.MetricNames(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range checked {
		a, err := analyze(q.query.expr)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		for _, s := range a.selectors {
			if !slices.Contains(names, s.metric) {
				t.Errorf("%s: Prometheus scraped no series named %s from zkd", q.where, s.metric)
			}
		}
	}
	t.Logf("%d of %d dashboard queries returned data from %d %s", len(checked)-len(results), len(queries), len(srv.Targets),
		map[bool]string{true: "ensemble members", false: "standalone servers"}[srv.Ensemble])
}
