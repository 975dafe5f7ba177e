package metrics_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/zkd-io/zkd/metrics"
	"github.com/zkd-io/zkd/metrics/metricstest"
)

var update = flag.Bool("update", false, "rewrite CATALOGUE.md from the code")

const cataloguePath = "CATALOGUE.md"

// TestCatalogue checks every metric of a full server against zkd's rules
// and promlint, and CATALOGUE.md against the code (-update rewrites it).
func TestCatalogue(t *testing.T) {
	reg, cs := metricstest.Server(t)
	cat, err := metrics.Build(cs)
	if err != nil {
		t.Fatalf("build catalogue (a metric the generator cannot describe):\n%v", err)
	}
	if len(cat.Entries) < 50 {
		t.Fatalf("catalogue has only %d metrics; is the server wired as in cmd/zkd?", len(cat.Entries))
	}
	for _, p := range cat.Check() {
		t.Errorf("rule: %s", p)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	got := cat.Markdown()
	if *update {
		if err := os.WriteFile(cataloguePath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(cataloguePath)
	if err != nil {
		t.Fatalf("%v (run: go test ./metrics -run TestCatalogue -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale; regenerate it with: go test ./metrics -run TestCatalogue -update\n--- %s\n+++ generated\n%s",
			cataloguePath, cataloguePath, lineDiff(string(want), string(got)))
	}
}

// TestCatalogueStandardRegistry makes sure Register, which the catalogue
// uses, registers exactly what NewRegistry does.
func TestCatalogueStandardRegistry(t *testing.T) {
	names := func(g prometheus.Gatherer) []string {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			out = append(out, mf.GetName())
		}
		return out
	}
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg, "v"); err != nil {
		t.Fatal(err)
	}
	want, got := names(metrics.NewRegistry("v")), names(reg)
	if !slices.Equal(got, want) || !slices.Contains(got, "zkd_build_info") {
		t.Errorf("Register gives %v, NewRegistry %v", got, want)
	}
	if err := metrics.Register(reg, "v"); err == nil {
		t.Error("registering twice: no error")
	}
}

// TestCataloguePromtool pipes a real scrape through `promtool check
// metrics`. CI (CI=true) installs promtool (Debian package prometheus), so
// there a missing promtool is a failure; elsewhere the test skips.
func TestCataloguePromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed: add the Debian package prometheus to DEB_PACKAGES in the Makefile")
		}
		t.Skip("promtool not installed (Debian package prometheus); CI runs this check")
	}
	reg, _ := metricstest.Server(t)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var scrape bytes.Buffer
	enc := expfmt.NewEncoder(&scrape, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(scrape.String(), "# TYPE zkd_server_requests_total counter") &&
		!strings.Contains(scrape.String(), "# TYPE zkd_tree_znodes gauge") {
		t.Fatalf("scrape lacks zkd metrics:\n%s", scrape.String())
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = &scrape
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestParseDesc(t *testing.T) {
	constrained := prometheus.V2.NewDesc("zkd_x_total", "h",
		prometheus.ConstrainedLabels{{Name: "op", Constraint: strings.ToLower}, {Name: "plain"}}, nil)
	tests := []struct {
		name string
		in   string
		want metrics.DescFields
	}{
		{
			name: "no labels",
			in:   prometheus.NewDesc("zkd_a_bytes", "Size.", nil, nil).String(),
			want: metrics.DescFields{Name: "zkd_a_bytes", Help: "Size."},
		},
		{
			name: "variable and constant labels with awkward values",
			in: prometheus.NewDesc("zkd_b_total", "Help with \"quotes\", {braces}, commas=, ünicode\nand a newline.",
				[]string{"op", "result"},
				prometheus.Labels{"v": `a",b="c}`, "w": ""}).String(),
			want: metrics.DescFields{
				Name:           "zkd_b_total",
				Help:           "Help with \"quotes\", {braces}, commas=, ünicode\nand a newline.",
				ConstLabels:    []metrics.LabelPair{{Name: "v", Value: `a",b="c}`}, {Name: "w", Value: ""}},
				VariableLabels: []string{"op", "result"},
			},
		},
		{
			name: "constrained label",
			in:   constrained.String(),
			want: metrics.DescFields{Name: "zkd_x_total", Help: "h", VariableLabels: []string{"op", "plain"}},
		},
		{
			name: "with unit",
			in:   `Desc{fqName: "a", help: "", unit: "seconds", constLabels: {}, variableLabels: {}}`,
			want: metrics.DescFields{Name: "a", Unit: "seconds"},
		},
		{
			name: "old format: no unit, labels in brackets",
			in:   `Desc{fqName: "a", help: "h", constLabels: {k="v"}, variableLabels: [x y]}`,
			want: metrics.DescFields{Name: "a", Help: "h", ConstLabels: []metrics.LabelPair{{Name: "k", Value: "v"}}, VariableLabels: []string{"x", "y"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := metrics.ParseDesc(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
				t.Errorf("ParseDesc(%s)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDescErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"", `want "Desc{fqName: "`},
		{`Desc{fqName: a, help: "h", constLabels: {}, variableLabels: {}}`, "want a quoted string"},
		{`Desc{fqName: "a", help: "h", constLabels: {k=v}, variableLabels: {}}`, "want a quoted string"},
		{`Desc{fqName: "a", help: "h", constLabels: {="v"}, variableLabels: {}}`, "want a label name"},
		{`Desc{fqName: "a", help: "h", constLabels: {}, variableLabels: {x,}}`, "want a label name"},
		{`Desc{fqName: "a", help: "h", constLabels: {}, variableLabels: {x}`, `want "}"`},
		{`Desc{fqName: "a", help: "h", constLabels: {}, variableLabels: {x}} more`, "trailing text"},
		{`Desc{fqName: "a", help: "h\q", constLabels: {}, variableLabels: {}}`, "quoted string"},
		{prometheus.NewInvalidDesc(errors.New("bad")).String(), "empty metric name"},
	}
	for _, tt := range tests {
		_, err := metrics.ParseDesc(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseDesc(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
		}
	}
}

// composite is a collector made of others, the way zkd packages register
// their Metrics structs.
type composite []prometheus.Collector

func (c composite) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range c {
		x.Describe(ch)
	}
}

func (c composite) Collect(ch chan<- prometheus.Metric) {
	for _, x := range c {
		x.Collect(ch)
	}
}

func TestBuildTypes(t *testing.T) {
	withSeries := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_a_seen_total", Help: "h"}, []string{"op", "result"})
	withSeries.WithLabelValues("write", "ok")
	withSeries.WithLabelValues("read", "ok")
	withSeries.WithLabelValues("read", "failed")
	cs := []prometheus.Collector{
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_a_empty_total", Help: "h"}, []string{"op"}),
		prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zkd_a_empty_gauge", Help: "h"}, []string{"op"}),
		prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "zkd_a_empty_seconds", Help: "h"}, []string{"op"}),
		prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "zkd_a_empty_summary", Help: "h"}, []string{"op"}),
		composite{
			prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_b_gauge", Help: "h", ConstLabels: prometheus.Labels{"k": "v", "a": "b"}}),
			prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zkd_b_size", Help: "h"}),
			prometheus.NewSummary(prometheus.SummaryOpts{Name: "zkd_b_summary", Help: "h"}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "zkd_b_func_bytes_total", Help: "h"}, func() float64 { return 1 }),
			prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "zkd_b_untyped", Help: "h"}, func() float64 { return 1 }),
			withSeries,
		},
	}
	cat, err := metrics.Build(cs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range cat.Entries {
		got = append(got, fmt.Sprintf("%s %s unit=%q labels=%v const=%v area=%s", e.Name, e.Type, e.Unit, e.Labels, e.ConstLabels, e.Area()))
	}
	want := []string{
		`zkd_a_empty_gauge gauge unit="" labels=[{op []}] const=[] area=a`,
		`zkd_a_empty_seconds histogram unit="seconds" labels=[{op []}] const=[] area=a`,
		`zkd_a_empty_summary summary unit="" labels=[{op []}] const=[] area=a`,
		`zkd_a_empty_total counter unit="count" labels=[{op []}] const=[] area=a`,
		`zkd_a_seen_total counter unit="count" labels=[{op [read write]} {result [failed ok]}] const=[] area=a`,
		`zkd_b_func_bytes_total counter unit="bytes" labels=[] const=[] area=b`,
		`zkd_b_gauge gauge unit="" labels=[] const=[a k] area=b`,
		`zkd_b_size histogram unit="" labels=[] const=[] area=b`,
		`zkd_b_summary summary unit="" labels=[] const=[] area=b`,
		`zkd_b_untyped untyped unit="" labels=[] const=[] area=b`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBuildUnknownType(t *testing.T) {
	// A vector inside a composite collector with no series: neither its Go
	// type nor a sample tells what it is.
	c := composite{
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_c_ok", Help: "h"}),
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_c_hidden_total", Help: "h"}, []string{"op"}),
	}
	_, err := metrics.Build([]prometheus.Collector{c})
	if err == nil || !strings.Contains(err.Error(), "zkd_c_hidden_total: cannot determine its type") || strings.Contains(err.Error(), "zkd_c_ok") {
		t.Errorf("Build error = %v, want one naming only zkd_c_hidden_total", err)
	}
}

func TestBuildMergesSameNameAcrossCollectors(t *testing.T) {
	g := func(v string) prometheus.Collector {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_d_info", Help: "h", ConstLabels: prometheus.Labels{"v": v}})
	}
	cat, err := metrics.Build([]prometheus.Collector{g("1"), g("2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Entries) != 1 || cat.Entries[0].Unit != "info" {
		t.Errorf("entries = %+v, want one zkd_d_info with unit info", cat.Entries)
	}
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "zkd_d_info", Help: "other help", ConstLabels: prometheus.Labels{"v": "3"}})
	if _, err := metrics.Build([]prometheus.Collector{g("1"), other}); err == nil || !strings.Contains(err.Error(), "zkd_d_info") {
		t.Errorf("conflicting help: error = %v", err)
	}
}

func TestUnitOf(t *testing.T) {
	tests := []struct {
		name string
		typ  metrics.Type
		want string
	}{
		{"zkd_server_request_duration_seconds", metrics.TypeHistogram, "seconds"},
		{"zkd_server_received_bytes_total", metrics.TypeCounter, "bytes"},
		{"zkd_tree_data_bytes", metrics.TypeGauge, "bytes"},
		{"zkd_cache_hit_ratio", metrics.TypeGauge, "ratio"},
		{"zkd_server_requests_total", metrics.TypeCounter, "count"},
		{"zkd_build_info", metrics.TypeGauge, "info"},
		{"zkd_server_connections", metrics.TypeGauge, ""},
		{"zkd_txnlog_txns_per_fsync", metrics.TypeHistogram, ""},
		{"zkd_odd_total", metrics.TypeGauge, ""},
	}
	for _, tt := range tests {
		if got := metrics.UnitOf(tt.name, tt.typ); got != tt.want {
			t.Errorf("UnitOf(%s, %s) = %q, want %q", tt.name, tt.typ, got, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	entry := func(name string, typ metrics.Type, help string) metrics.Entry {
		return metrics.Entry{Name: name, Type: typ, Help: help, Unit: metrics.UnitOf(name, typ)}
	}
	tests := []struct {
		entry metrics.Entry
		want  []string // problem texts, in order
	}{
		{entry("zkd_server_requests_total", metrics.TypeCounter, "Requests."), nil},
		{entry("zkd_txnlog_txns_per_fsync", metrics.TypeHistogram, "Txns per fsync."), nil},
		{entry("go_gc_gogc_percent", metrics.TypeGauge, "GOGC."), nil},
		{entry("promhttp_metric_handler_requests_total", metrics.TypeCounter, "Scrapes."), nil},
		{entry("server_requests_total", metrics.TypeCounter, "h"), []string{"name does not start with zkd_"}},
		{entry("zkd_a_things", metrics.TypeGauge, ""), []string{"no help text"}},
		{entry("zkd_a_things", metrics.TypeGauge, "Things. "), []string{"help text has leading or trailing white space"}},
		{entry("zkd_a_requests", metrics.TypeCounter, "h"), []string{"counter name does not end in _total"}},
		{entry("zkd_a_open_total", metrics.TypeGauge, "h"), []string{"gauge name ends in _total, which is for counters"}},
		{entry("zkd_a_requests_count", metrics.TypeGauge, "h"), []string{"name ends in _count, which collides with histogram and summary series"}},
		{entry("zkd_a_latency_sum", metrics.TypeGauge, "h"), []string{"name ends in _sum, which collides with histogram and summary series"}},
		{entry("zkd_a_size_bytes", metrics.TypeHistogram, "h"), nil},
		{entry("zkd_a_fill_ratio", metrics.TypeHistogram, "h"), []string{"histogram in ratio: zkd histograms are in seconds, bytes or unitless"}},
		{entry("zkd_a_latency_milliseconds", metrics.TypeHistogram, "h"), []string{`unit "milliseconds" is not a base unit (use seconds, bytes or ratio)`}},
		{entry("zkd_a_used_percent", metrics.TypeGauge, "h"), []string{`unit "percent" is not a base unit (use seconds, bytes or ratio)`}},
		{entry("go_weird", metrics.TypeCounter, ""), []string{"no help text", "counter name does not end in _total"}},
	}
	for _, tt := range tests {
		cat := &metrics.Catalogue{Entries: []metrics.Entry{tt.entry}}
		var got []string
		for _, p := range cat.Check() {
			if p.Metric != tt.entry.Name {
				t.Errorf("problem %v names the wrong metric", p)
			}
			got = append(got, p.Text)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Check(%s %s %q) = %q, want %q", tt.entry.Name, tt.entry.Type, tt.entry.Help, got, tt.want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	cat := &metrics.Catalogue{Entries: []metrics.Entry{
		{Name: "go_goroutines", Type: metrics.TypeGauge, Help: "left out"},
		{Name: "promhttp_metric_handler_requests_in_flight", Type: metrics.TypeGauge, Help: "log.* <b>"},
		{Name: "zkd_build_info", Type: metrics.TypeGauge, Unit: "info", Help: "Always 1.", ConstLabels: []string{"version"}},
		{Name: "zkd_server_requests_total", Type: metrics.TypeCounter, Unit: "count", Help: "A | B.",
			Labels: []metrics.Label{{Name: "op", Values: []string{"create", "delete"}}, {Name: "result"}}},
	}}
	md := string(cat.Markdown())
	for _, want := range []string{
		"Areas: [build](#build), [promhttp](#promhttp), [server](#server).\n",
		"\n## build\n\n| Metric | Type | Unit | Labels | Help |\n|---|---|---|---|---|\n| `zkd_build_info` | gauge | info | `version` (constant) | Always 1. |\n",
		"| `promhttp_metric_handler_requests_in_flight` | gauge | — | — | log.\\* &lt;b> |\n",
		"| `zkd_server_requests_total` | counter | count | `op`: `create`, `delete`<br>`result` | A \\| B. |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "`go_goroutines`") {
		t.Error("Markdown lists a go_ metric")
	}
}

func TestRecorder(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := metrics.NewRecorder(reg)
	a := prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_r_a", Help: "h"})
	b := collectors.NewBuildInfoCollector()
	rec.MustRegister(a, b)
	if err := rec.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_r_a", Help: "h"})); err == nil {
		t.Error("duplicate registration accepted")
	}
	if got := rec.Collectors(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("Collectors() = %v, want [a b]", got)
	}
	if !rec.Unregister(a) || rec.Unregister(a) {
		t.Error("Unregister: want true then false")
	}
	if got := rec.Collectors(); len(got) != 1 || got[0] != b {
		t.Errorf("after Unregister, Collectors() = %v", got)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "go_build_info" {
		t.Errorf("registry after Unregister: %v, %v", mfs, err)
	}
}

// lineDiff is a minimal line diff (longest common subsequence) for the
// staleness message: "-" lines are in the file, "+" lines generated.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("-" + x[i] + "\n")
			i++
		default:
			out.WriteString("+" + y[j] + "\n")
			j++
		}
	}
	return out.String()
}

func TestLineDiff(t *testing.T) {
	got := lineDiff("a\nb\nc", "a\nB\nc\nd")
	if want := "-b\n+B\n+d\n"; got != want {
		t.Errorf("lineDiff = %q, want %q", got, want)
	}
}
