// Package alerts holds zkd's Prometheus alerting rules (zkd.rules.yml), their
// promtool unit tests (zkd.rules.test.yml) and the runbook they link to
// (RUNBOOK.md). This test keeps the three honest: promtool must accept the
// rules and pass the unit tests, every metric the rules name must be one zkd
// really exports, and every alert must carry the labels, annotations and
// runbook section operators rely on.
package alerts

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/metrics"
	"github.com/zkd-io/zkd/metrics/metricstest"
)

const (
	rulesFile   = "zkd.rules.yml"
	testsFile   = "zkd.rules.test.yml"
	runbookFile = "RUNBOOK.md"
	// runbookURL is where RUNBOOK.md is published; runbook_url is this
	// plus the anchor of the alert's section.
	runbookURL = "https://github.com/zkd-io/zkd/blob/main/alerts/RUNBOOK.md#"
)

// promtool returns the path of promtool. CI installs it (Debian package
// prometheus, via `make deps`), so there a missing promtool is a failure;
// elsewhere the promtool tests are skipped.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("promtool not found (CI=true): install the Debian package prometheus (make deps): %v", err)
	}
	t.Skipf("promtool not found, skipping (apt-get install prometheus): %v", err)
	return ""
}

func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	out := runPromtool(t, "check", "rules", rulesFile)
	// promtool counts the rules; our line reader must see as many, or the
	// checks below would silently skip some.
	m := regexp.MustCompile(`SUCCESS: (\d+) rules found`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("promtool check rules: no rule count in output:\n%s", out)
	}
	rules := readRules(t)
	if n, _ := strconv.Atoi(m[1]); n != len(rules) {
		t.Errorf("promtool found %d rules in %s, the test's reader %d: keep the layout the reader expects (see the file's header)", n, rulesFile, len(rules))
	}
}

func TestPromtoolTestRules(t *testing.T) {
	out := runPromtool(t, "test", "rules", testsFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: no SUCCESS in output:\n%s", out)
	}
}

// TestEveryAlertTested requires, for every alert, a unit test case where it
// fires and one where it stays silent, and no test of an unknown alert.
func TestEveryAlertTested(t *testing.T) {
	cases := readTestCases(t)
	for _, r := range readRules(t) {
		c := cases[r.name]
		if c.firing == 0 {
			t.Errorf("%s: no test case in %s where it fires", r.name, testsFile)
		}
		if c.silent == 0 {
			t.Errorf("%s: no test case in %s where it stays silent (exp_alerts: [])", r.name, testsFile)
		}
		delete(cases, r.name)
	}
	for name := range cases {
		t.Errorf("%s tests alert %s, which %s does not define", testsFile, name, rulesFile)
	}
}

// TestAlertConventions checks what every alert must carry (mixtool lint's
// rules, plus zkd's runbook links).
func TestAlertConventions(t *testing.T) {
	anchors := runbookAnchors(t)
	camel := regexp.MustCompile(`^([A-Z]+[a-z0-9]+)+$`)
	seen := map[string]bool{}
	for _, r := range readRules(t) {
		if !camel.MatchString(r.name) {
			t.Errorf("%s: alert names are CamelCase", r.name)
		}
		if seen[r.name] {
			t.Errorf("%s: defined twice", r.name)
		}
		seen[r.name] = true
		if r.expr == "" {
			t.Errorf("%s: no expr", r.name)
		}
		if sev := r.labels["severity"]; !slices.Contains([]string{"info", "warning", "critical"}, sev) {
			t.Errorf("%s: severity %q, want info, warning or critical", r.name, sev)
		}
		summary := r.annotations["summary"]
		switch {
		case summary == "":
			t.Errorf("%s: no summary", r.name)
		case strings.Contains(summary, "{{"):
			t.Errorf("%s: summary %q has a template; instance and values belong in the description", r.name, summary)
		case summary[0] < 'A' || summary[0] > 'Z' || !strings.HasSuffix(summary, "."):
			t.Errorf("%s: summary %q should start with a capital and end with a period", r.name, summary)
		}
		desc := r.annotations["description"]
		for _, want := range []string{"{{ $labels.instance }}", "$value"} {
			if !strings.Contains(desc, want) {
				t.Errorf("%s: description %q lacks %s", r.name, desc, want)
			}
		}
		anchor, ok := strings.CutPrefix(r.annotations["runbook_url"], runbookURL)
		switch {
		case !ok:
			t.Errorf("%s: runbook_url %q does not start with %s", r.name, r.annotations["runbook_url"], runbookURL)
		case anchor != headingAnchor(r.name):
			t.Errorf("%s: runbook_url anchor #%s, want #%s (the section named after the alert)", r.name, anchor, headingAnchor(r.name))
		case !anchors[anchor]:
			t.Errorf("%s: %s has no section %q (anchor #%s)", r.name, runbookFile, r.name, anchor)
		}
	}
}

// TestRulesUseExportedMetrics builds the registry the way cmd/zkd does and
// checks every zkd_* and process_* name in the rules against it, along with
// the label names and values the rules match on. A renamed metric otherwise
// turns an alert into one that can never fire, and nothing notices.
func TestRulesUseExportedMetrics(t *testing.T) {
	exported := zkdRegistry(t)
	for _, r := range readRules(t) {
		for _, name := range metricNames(r.expr) {
			if _, err := exported.resolve(name); err != nil {
				t.Errorf("%s: %v", r.name, err)
			}
		}
		for _, m := range matchers(r.expr) {
			fam, err := exported.resolve(m.metric)
			if err != nil {
				continue // reported above
			}
			if m.label == "le" && strings.HasSuffix(m.metric, "_bucket") {
				continue
			}
			if !slices.Contains(fam.labels, m.label) {
				t.Errorf("%s: %s has no label %q (labels: %v)", r.name, fam.name, m.label, fam.labels)
				continue
			}
			if m.op == "=" && !fam.knowsValue(m.label, m.value) {
				t.Errorf("%s: %s{%s=%q}: zkd neither exports nor documents (in the help text) that label value", r.name, fam.name, m.label, m.value)
			}
		}
	}
}

// TestMetricNameExtraction pins the expression scanning the metric check
// relies on.
func TestMetricNameExtraction(t *testing.T) {
	tests := []struct {
		expr     string
		names    []string
		matchers []matcher
	}{
		{
			expr:  `histogram_quantile(0.99, sum by (le) (rate(zkd_txnlog_fsync_duration_seconds_bucket[5m]))) > 1`,
			names: []string{"zkd_txnlog_fsync_duration_seconds_bucket"},
		},
		{
			expr:     `increase(zkd_snapshot_errors_total{op="write", kind=~"a|b"}[1h]) > 0 unless on (instance) process_start_time_seconds`,
			names:    []string{"zkd_snapshot_errors_total", "process_start_time_seconds"},
			matchers: []matcher{{"zkd_snapshot_errors_total", "op", "=", "write"}, {"zkd_snapshot_errors_total", "kind", "=~", "a|b"}},
		},
		{
			// Names inside strings are label values, not metrics.
			expr:     `up{job="zkd_fake_total"} == 0`,
			matchers: nil,
		},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.names) {
			t.Errorf("metricNames(%q) = %v, want %v", tt.expr, got, tt.names)
		}
		if got := matchers(tt.expr); !slices.Equal(got, tt.matchers) {
			t.Errorf("matchers(%q) = %v, want %v", tt.expr, got, tt.matchers)
		}
	}
}

// ---- the registry ----

// family is one metric family zkd exports: its name, type (histogram,
// summary, counter, gauge, untyped; "" if it could not be told because no
// series exists yet), label names, help text and the label values of the
// series that exist at start-up.
type family struct {
	name   string
	typ    string
	labels []string
	help   string
	values map[string][]string // label name -> values seen
}

func (f *family) knowsValue(label, value string) bool {
	if slices.Contains(f.values[label], value) {
		return true
	}
	words := regexp.MustCompile(`[A-Za-z0-9_]+`).FindAllString(f.help, -1)
	return slices.Contains(words, value)
}

type registry map[string]*family

// resolve finds the family a series name belongs to: the name itself, or a
// histogram's (or summary's) _bucket, _sum and _count series.
func (r registry) resolve(name string) (*family, error) {
	if f, ok := r[name]; ok {
		return f, nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		f, ok := r[base]
		if !ok {
			break
		}
		if f.typ == "histogram" || (f.typ == "summary" && suffix != "_bucket") {
			return f, nil
		}
		return nil, errors.New(name + ": " + base + " is exported, but as a " + f.typ + ", which has no " + suffix + " series")
	}
	return nil, errors.New(name + " is not exported by zkd")
}

// zkdRegistry is every metric family a zkd server exports, with the label
// values of the series that exist from start-up.
func zkdRegistry(t *testing.T) registry {
	t.Helper()
	_, cs := metricstest.Server(t)
	cat, err := metrics.Build(cs)
	if err != nil {
		t.Fatalf("describe the registry: %v", err)
	}
	out := registry{}
	for _, e := range cat.Entries {
		f := &family{name: e.Name, typ: e.Type.String(), help: e.Help, values: map[string][]string{}}
		for _, l := range e.Labels {
			f.labels = append(f.labels, l.Name)
			f.values[l.Name] = l.Values
		}
		out[e.Name] = f
	}
	if len(out) < 50 {
		t.Fatalf("the registry has only %d metric families; is the server wired up?", len(out))
	}
	return out
}

// ---- reading the expressions ----

var (
	stringRE  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	nameRE    = regexp.MustCompile(`\b(?:zkd|process)_[a-zA-Z0-9_:]+`)
	selectRE  = regexp.MustCompile(`\b((?:zkd|process)_[a-zA-Z0-9_:]+)\s*\{([^}]*)\}`)
	matcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")`)
)

// metricNames lists the distinct zkd_* and process_* names an expression
// selects, in order of appearance. (up is Prometheus's own.)
func metricNames(expr string) []string {
	var names []string
	for _, n := range nameRE.FindAllString(stringRE.ReplaceAllString(expr, `""`), -1) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

type matcher struct{ metric, label, op, value string }

// matchers lists the label matchers of the zkd_* and process_* selectors.
func matchers(expr string) []matcher {
	var out []matcher
	for _, sel := range selectRE.FindAllStringSubmatch(expr, -1) {
		for _, m := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
			v, err := strconv.Unquote(m[3])
			if err != nil {
				v = m[3]
			}
			out = append(out, matcher{metric: sel[1], label: m[1], op: m[2], value: v})
		}
	}
	return out
}

// ---- reading the files ----
//
// The module has no YAML library, and the rules must not need one to be
// checked, so the files are read line by line in the layout they are
// written in (see the header of zkd.rules.yml). TestPromtoolCheckRules
// cross-checks the rule count with promtool's own parse.

type rule struct {
	name        string
	expr        string
	labels      map[string]string
	annotations map[string]string
}

var keyRE = regexp.MustCompile(`^(\s*)(- )?([a-z_]+):\s*(.*)$`)

func readRules(t *testing.T) []rule {
	t.Helper()
	lines := readLines(t, rulesFile)
	var rules []rule
	var cur *rule
	section := ""      // labels or annotations
	keyIndent := -1    // indentation of the rule's own keys
	blockIndent := -1  // > 0 while reading the expr block
	var block []string // its lines
	flush := func() {
		if cur != nil && block != nil {
			cur.expr = strings.TrimSpace(strings.Join(block, "\n"))
		}
		block, blockIndent = nil, -1
	}
	for _, line := range lines {
		if blockIndent >= 0 {
			if strings.TrimSpace(line) == "" || indent(line) > blockIndent {
				block = append(block, line)
				continue
			}
			flush()
		}
		m := keyRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ind, key, val := len(m[1]), m[3], unquoteYAML(m[4])
		if m[2] != "" {
			ind += 2
		}
		switch {
		case key == "alert" && m[2] != "":
			rules = append(rules, rule{name: val, labels: map[string]string{}, annotations: map[string]string{}})
			cur, keyIndent, section = &rules[len(rules)-1], ind, ""
		case cur == nil:
		case ind < keyIndent:
			cur = nil // left the rules list
		case ind == keyIndent:
			section = key
			if key == "expr" {
				if val == "|" || val == ">" || val == "|-" || val == ">-" {
					blockIndent, block = ind, []string{}
				} else {
					cur.expr = val
				}
			}
		case section == "labels":
			cur.labels[key] = val
		case section == "annotations":
			cur.annotations[key] = val
		}
	}
	flush()
	if len(rules) == 0 {
		t.Fatalf("%s: no alerts found", rulesFile)
	}
	return rules
}

type coverage struct{ firing, silent int }

// readTestCases counts, per alert, the alert_rule_test cases that expect it
// to fire and those that expect silence.
func readTestCases(t *testing.T) map[string]coverage {
	t.Helper()
	lines := readLines(t, testsFile)
	out := map[string]coverage{}
	name := ""
	for i, line := range lines {
		m := keyRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch key, val := m[3], unquoteYAML(m[4]); key {
		case "alertname":
			name = val
		case "exp_alerts":
			c := out[name]
			switch {
			case val == "[]":
				c.silent++
			case val == "" && i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "- exp_labels:"):
				c.firing++
			default:
				t.Fatalf("%s:%d: cannot read exp_alerts of %s (write [] or a list of - exp_labels:)", testsFile, i+1, name)
			}
			out[name] = c
		}
	}
	return out
}

// runbookAnchors returns the anchors GitHub gives RUNBOOK.md's headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	for _, line := range readLines(t, runbookFile) {
		if strings.HasPrefix(line, "#") {
			anchors[headingAnchor(strings.TrimSpace(strings.TrimLeft(line, "#")))] = true
		}
	}
	return anchors
}

// headingAnchor is GitHub's anchor for a Markdown heading: lower case,
// punctuation dropped, spaces turned into hyphens.
func headingAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func readLines(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Clean(name))
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return lines
}

func indent(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// unquoteYAML undoes YAML's one-line quoting: single quotes (a quote inside
// is doubled) and double quotes (with backslash escapes).
func unquoteYAML(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	return s
}
