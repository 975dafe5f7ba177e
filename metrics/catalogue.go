package metrics

// The catalogue is generated from the collectors a server actually registers,
// not from a hand-kept list, so that it cannot drift from the code: the test
// in catalogue_test.go builds a server the way `zkd server` does, renders
// CATALOGUE.md and fails when the checked-in copy differs.

//go:generate go test -run TestCatalogue -update .

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Recorder is a prometheus.Registerer that forwards every registration to
// another Registerer and remembers the collectors that were registered, so
// that the catalogue sees exactly what the server's packages register.
type Recorder struct {
	next       prometheus.Registerer
	collectors []prometheus.Collector
}

// NewRecorder returns a Recorder forwarding to next.
func NewRecorder(next prometheus.Registerer) *Recorder {
	return &Recorder{next: next}
}

// Register forwards c and, if next accepted it, records it.
func (r *Recorder) Register(c prometheus.Collector) error {
	if err := r.next.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

// MustRegister registers each collector and panics on the first error, as
// prometheus.Registry.MustRegister does.
func (r *Recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister forwards to next and forgets c if next removed it.
func (r *Recorder) Unregister(c prometheus.Collector) bool {
	if !r.next.Unregister(c) {
		return false
	}
	r.collectors = slices.DeleteFunc(r.collectors, func(x prometheus.Collector) bool { return x == c })
	return true
}

// Collectors returns the collectors currently registered through r, in
// registration order.
func (r *Recorder) Collectors() []prometheus.Collector {
	return slices.Clone(r.collectors)
}

// Type is a metric's Prometheus type.
type Type int

// Metric types. TypeUnknown means neither the collector's Go type nor its
// samples said what the metric is.
const (
	TypeUnknown Type = iota
	TypeCounter
	TypeGauge
	TypeHistogram
	TypeSummary
	TypeUntyped
)

func (t Type) String() string {
	switch t {
	case TypeCounter:
		return "counter"
	case TypeGauge:
		return "gauge"
	case TypeHistogram:
		return "histogram"
	case TypeSummary:
		return "summary"
	case TypeUntyped:
		return "untyped"
	}
	return "unknown"
}

// LabelPair is a constant label of a Desc.
type LabelPair struct {
	Name, Value string
}

// DescFields are the parts of a prometheus.Desc. client_golang exposes them
// only through Desc.String, which ParseDesc reads.
type DescFields struct {
	Name           string
	Help           string
	Unit           string // OpenMetrics unit, usually empty
	ConstLabels    []LabelPair
	VariableLabels []string // constrained labels, shown as c(name), by name
}

// ParseDesc parses the output of (*prometheus.Desc).String():
//
//	Desc{fqName: "n", help: "h", unit: "u", constLabels: {a="x",b="y"}, variableLabels: {c,c(d)}}
//
// The unit field is optional (client_golang before v1.20 has none), and the
// variable labels may also be in the older "[c d]" form.
func ParseDesc(s string) (DescFields, error) {
	p := descParser{rest: s}
	var d DescFields
	p.literal("Desc{fqName: ")
	d.Name = p.quoted()
	p.literal(", help: ")
	d.Help = p.quoted()
	if p.optional(", unit: ") {
		d.Unit = p.quoted()
	}
	p.literal(", constLabels: {")
	for p.err == nil && !p.optional("}") {
		if len(d.ConstLabels) > 0 {
			p.literal(",")
		}
		name := p.ident()
		p.literal("=")
		d.ConstLabels = append(d.ConstLabels, LabelPair{Name: name, Value: p.quoted()})
	}
	p.literal(", variableLabels: ")
	closing, sep := "}", ","
	if p.optional("[") {
		closing, sep = "]", " "
	} else {
		p.literal("{")
	}
	for p.err == nil && !p.optional(closing) {
		if len(d.VariableLabels) > 0 {
			p.literal(sep)
		}
		if p.optional("c(") {
			d.VariableLabels = append(d.VariableLabels, p.ident())
			p.literal(")")
		} else {
			d.VariableLabels = append(d.VariableLabels, p.ident())
		}
	}
	p.literal("}")
	if p.err == nil && p.rest != "" {
		p.fail("trailing text")
	}
	if p.err != nil {
		return DescFields{}, fmt.Errorf("parse %q: %w", s, p.err)
	}
	if d.Name == "" {
		// prometheus.NewInvalidDesc and descs that failed validation.
		return DescFields{}, fmt.Errorf("parse %q: empty metric name (invalid Desc)", s)
	}
	return d, nil
}

// descParser consumes a Desc string; the first error sticks.
type descParser struct {
	rest string
	err  error
}

func (p *descParser) fail(what string) {
	if p.err == nil {
		at := p.rest
		if len(at) > 20 {
			at = at[:20] + "…"
		}
		p.err = fmt.Errorf("%s at %q", what, at)
	}
}

func (p *descParser) literal(lit string) {
	if !p.optional(lit) {
		p.fail(fmt.Sprintf("want %q", lit))
	}
}

func (p *descParser) optional(lit string) bool {
	if p.err != nil || !strings.HasPrefix(p.rest, lit) {
		return false
	}
	p.rest = p.rest[len(lit):]
	return true
}

// quoted reads a Go-quoted string, as fmt's %q writes it.
func (p *descParser) quoted() string {
	if p.err != nil {
		return ""
	}
	q, err := strconv.QuotedPrefix(p.rest)
	if err != nil {
		p.fail("want a quoted string")
		return ""
	}
	s, err := strconv.Unquote(q)
	if err != nil {
		p.fail("bad quoted string")
		return ""
	}
	p.rest = p.rest[len(q):]
	return s
}

// ident reads a label name: [a-zA-Z_][a-zA-Z0-9_]*.
func (p *descParser) ident() string {
	if p.err != nil {
		return ""
	}
	n := 0
	for n < len(p.rest) {
		c := p.rest[n]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || n > 0 && '0' <= c && c <= '9' {
			n++
			continue
		}
		break
	}
	if n == 0 {
		p.fail("want a label name")
		return ""
	}
	id := p.rest[:n]
	p.rest = p.rest[n:]
	return id
}

// Label is a variable label of a metric with the values of the series that
// exist right after start-up. For labels whose series are created up front
// that is every value; for the others more appear as events happen (the help
// text says which).
type Label struct {
	Name   string
	Values []string // sorted
}

// Entry describes one metric.
type Entry struct {
	Name        string
	Type        Type
	Unit        string // see UnitOf
	Help        string
	Labels      []Label  // variable labels, in Desc order
	ConstLabels []string // names of constant labels, sorted
}

// Area is the metric's second name component (zkd_<area>_...), or the
// first for the standard collectors' metrics (go_..., process_...).
func (e Entry) Area() string {
	parts := strings.Split(e.Name, "_")
	if parts[0] == "zkd" && len(parts) > 2 {
		return parts[1]
	}
	return parts[0]
}

// Catalogue is every metric of a set of collectors, sorted by name.
type Catalogue struct {
	Entries []Entry
}

// Build describes the metrics of cs. Each collector's Descs give name, help
// and labels. The type comes from the collector's Go type for the
// client_golang vectors (which may have no series yet) and from the samples
// it collects otherwise; a metric whose type is still unknown is an error
// naming it. Label values are those of the collected series.
func Build(cs []prometheus.Collector) (*Catalogue, error) {
	byName := map[string]*Entry{}
	var errs []error
	for _, c := range cs {
		entries, err := describe(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			old, ok := byName[e.Name]
			if !ok {
				byName[e.Name] = &e
				continue
			}
			// The same name from several collectors (different constant
			// label values) must agree on everything else.
			if err := merge(old, e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	cat := &Catalogue{}
	for _, e := range byName {
		if e.Type == TypeUnknown {
			errs = append(errs, fmt.Errorf("metric %s: cannot determine its type: its collector (not a client_golang vector) exported no sample for it", e.Name))
		}
		cat.Entries = append(cat.Entries, *e)
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(cat.Entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return cat, nil
}

func merge(into *Entry, e Entry) error {
	if into.Help != e.Help || !slices.Equal(labelNames(into.Labels), labelNames(e.Labels)) ||
		!slices.Equal(into.ConstLabels, e.ConstLabels) {
		return fmt.Errorf("metric %s: registered twice with different help or label names", e.Name)
	}
	if into.Type == TypeUnknown {
		into.Type = e.Type
	} else if e.Type != TypeUnknown && e.Type != into.Type {
		return fmt.Errorf("metric %s: registered as both %s and %s", e.Name, into.Type, e.Type)
	}
	for i := range into.Labels {
		into.Labels[i].Values = union(into.Labels[i].Values, e.Labels[i].Values)
	}
	return nil
}

func labelNames(ls []Label) []string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return names
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// describe turns one collector into entries, one per Desc.
func describe(c prometheus.Collector) ([]Entry, error) {
	descs := make(chan *prometheus.Desc)
	go func() {
		c.Describe(descs)
		close(descs)
	}()
	var order []*prometheus.Desc
	for d := range descs {
		order = append(order, d)
	}
	vecType := vectorType(c)

	// Samples give the type of every metric with at least one series and
	// the label values of all of them.
	samples := make(chan prometheus.Metric)
	go func() {
		c.Collect(samples)
		close(samples)
	}()
	types := map[*prometheus.Desc]Type{}
	values := map[*prometheus.Desc]map[string][]string{}
	var errs []error
	for m := range samples {
		d := m.Desc()
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			errs = append(errs, fmt.Errorf("collect %s: %w", d, err))
			continue
		}
		t := sampleType(&pb)
		if old, ok := types[d]; ok && old != t {
			errs = append(errs, fmt.Errorf("collect %s: series of both types %s and %s", d, old, t))
		}
		types[d] = t
		if values[d] == nil {
			values[d] = map[string][]string{}
		}
		for _, lp := range pb.GetLabel() {
			values[d][lp.GetName()] = append(values[d][lp.GetName()], lp.GetValue())
		}
	}
	var entries []Entry
	for _, d := range order {
		f, err := ParseDesc(d.String())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e := Entry{Name: f.Name, Help: f.Help, Type: vecType}
		if t, ok := types[d]; ok {
			if e.Type != TypeUnknown && e.Type != t {
				errs = append(errs, fmt.Errorf("metric %s: collector is a %s vector but collects %s samples", f.Name, e.Type, t))
			}
			e.Type = t
		}
		for _, name := range f.VariableLabels {
			e.Labels = append(e.Labels, Label{Name: name, Values: union(nil, values[d][name])})
		}
		for _, lp := range f.ConstLabels {
			e.ConstLabels = append(e.ConstLabels, lp.Name)
		}
		slices.Sort(e.ConstLabels)
		e.Unit = UnitOf(e.Name, e.Type)
		entries = append(entries, e)
	}
	return entries, errors.Join(errs...)
}

// vectorType is the type of a client_golang vector, the one kind of
// collector that may describe a metric without collecting any sample.
func vectorType(c prometheus.Collector) Type {
	switch c.(type) {
	case *prometheus.CounterVec:
		return TypeCounter
	case *prometheus.GaugeVec:
		return TypeGauge
	case *prometheus.HistogramVec:
		return TypeHistogram
	case *prometheus.SummaryVec:
		return TypeSummary
	}
	return TypeUnknown
}

func sampleType(m *dto.Metric) Type {
	switch {
	case m.Counter != nil:
		return TypeCounter
	case m.Gauge != nil:
		return TypeGauge
	case m.Histogram != nil:
		return TypeHistogram
	case m.Summary != nil:
		return TypeSummary
	case m.Untyped != nil:
		return TypeUntyped
	}
	return TypeUnknown
}

// baseUnits are the unit suffixes Prometheus recommends; UnitOf reports
// them.
var baseUnits = []string{"seconds", "bytes", "ratio", "celsius", "meters", "volts", "amperes", "joules", "grams"}

// nonBaseUnits are suffixes that should be a base unit instead (seconds,
// bytes, ratio).
var nonBaseUnits = []string{
	"nanoseconds", "microseconds", "milliseconds", "millis", "ms", "us", "ns", "minutes", "hours", "days",
	"kilobytes", "megabytes", "gigabytes", "kb", "mb", "gb", "kib", "mib", "gib", "bits", "percent", "percentage",
}

// UnitOf returns the unit a metric's name declares: its last component (for
// counters, the one before _total) when that is a Prometheus base unit;
// "info" for _info gauges; "count" for other counters; "" for anything else
// (a unitless gauge or histogram: a number of things).
func UnitOf(name string, t Type) string {
	base := name
	if t == TypeCounter {
		base = strings.TrimSuffix(name, "_total")
	}
	last := base[strings.LastIndexByte(base, '_')+1:]
	switch {
	case slices.Contains(baseUnits, last):
		return last
	case last == "info" && t == TypeGauge:
		return "info"
	case t == TypeCounter:
		return "count"
	}
	return ""
}

// StandardPrefixes are the name prefixes of the collectors that come with
// client_golang (Go runtime, process, promhttp's /metrics handler): their
// names are fixed upstream, so they are exempt from the zkd_ prefix rule.
var StandardPrefixes = []string{"go_", "process_", "promhttp_"}

func isStandard(name string) bool {
	for _, p := range StandardPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Problem is a metric that breaks one of zkd's naming rules.
type Problem struct {
	Metric string
	Text   string
}

func (p Problem) String() string { return p.Metric + ": " + p.Text }

// Check applies zkd's metric rules:
//   - names start with zkd_ (standard collectors excepted);
//   - help text is present and has no leading or trailing white space;
//   - counters, and only counters, end in _total;
//   - no name ends in _count, _sum or _bucket, which histograms and
//     summaries add to their series;
//   - histograms are in seconds (latencies), bytes (sizes of things on
//     the wire or on disk) or unitless (a count, as the help text says);
//   - units are base units (seconds, not milliseconds; ratio, not percent).
//
// Standard collectors are held only to the rules their upstream names can
// keep: help text and the type suffixes.
func (c *Catalogue) Check() []Problem {
	var ps []Problem
	for _, e := range c.Entries {
		add := func(format string, args ...any) {
			ps = append(ps, Problem{Metric: e.Name, Text: fmt.Sprintf(format, args...)})
		}
		std := isStandard(e.Name)
		if !std && !strings.HasPrefix(e.Name, "zkd_") {
			add("name does not start with zkd_")
		}
		switch {
		case e.Help == "":
			add("no help text")
		case strings.TrimSpace(e.Help) != e.Help:
			add("help text has leading or trailing white space")
		}
		total := strings.HasSuffix(e.Name, "_total")
		if e.Type == TypeCounter && !total {
			add("counter name does not end in _total")
		}
		if e.Type != TypeCounter && total {
			add("%s name ends in _total, which is for counters", e.Type)
		}
		for _, suffix := range []string{"_count", "_sum", "_bucket"} {
			if strings.HasSuffix(e.Name, suffix) {
				add("name ends in %s, which collides with histogram and summary series", suffix)
			}
		}
		if std {
			continue
		}
		if e.Type == TypeHistogram && e.Unit != "seconds" && e.Unit != "bytes" && e.Unit != "" {
			add("histogram in %s: zkd histograms are in seconds, bytes or unitless", e.Unit)
		}
		for _, part := range strings.Split(strings.TrimSuffix(e.Name, "_total"), "_")[1:] {
			if slices.Contains(nonBaseUnits, part) {
				add("unit %q is not a base unit (use seconds, bytes or ratio)", part)
			}
		}
	}
	return ps
}

// Markdown renders the catalogue for operators: one table per area.
// Metrics of the standard collectors whose set depends on the Go version or
// the OS (go_, process_) are left out of the tables and only mentioned, so
// that the document is the same on every build machine.
func (c *Catalogue) Markdown() []byte {
	var b bytes.Buffer
	b.WriteString(markdownHeader)
	var areas []string
	byArea := map[string][]Entry{}
	for _, e := range c.Entries {
		if strings.HasPrefix(e.Name, "go_") || strings.HasPrefix(e.Name, "process_") {
			continue
		}
		a := e.Area()
		if _, ok := byArea[a]; !ok {
			areas = append(areas, a)
		}
		byArea[a] = append(byArea[a], e)
	}
	slices.Sort(areas)
	b.WriteString("\nAreas:")
	for i, a := range areas {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " [%s](#%s)", a, a)
	}
	b.WriteString(".\n")
	for _, a := range areas {
		fmt.Fprintf(&b, "\n## %s\n\n", a)
		b.WriteString("| Metric | Type | Unit | Labels | Help |\n")
		b.WriteString("|---|---|---|---|---|\n")
		for _, e := range byArea[a] {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n",
				e.Name, e.Type, cmpOrDash(e.Unit), labelsCell(e), escapeCell(e.Help))
		}
	}
	return b.Bytes()
}

const markdownHeader = `# zkd metrics catalogue

<!-- Generated from the code by ` + "`go generate ./metrics`" + ` (go test ./metrics -run TestCatalogue -update); DO NOT EDIT. -->

Every metric ` + "`zkd server`" + ` registers, with its Prometheus type, unit,
labels and help text. The test that generates this file fails when it is
stale, so it always matches the code.

- **Unit** is the one the name declares (` + "`_seconds`, `_bytes`, `_ratio`" + `);
  ` + "`count`" + ` is a counter of events or things; ` + "`—`" + ` is a unitless number.
- **Labels** lists each label with the values whose series exist from
  start-up, before any traffic. Where the help text names more values, they
  appear once they occur. Constant labels have one value per process.
- The Go runtime (` + "`go_*`" + `) and process (` + "`process_*`" + `) collectors of
  client_golang are registered too; their sets depend on the Go version and
  the OS, so they are not listed here (see
  https://pkg.go.dev/github.com/prometheus/client_golang/prometheus/collectors).
`

func cmpOrDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func labelsCell(e Entry) string {
	var parts []string
	for _, l := range e.Labels {
		s := "`" + l.Name + "`"
		if len(l.Values) > 0 {
			vs := make([]string, len(l.Values))
			for i, v := range l.Values {
				vs[i] = "`" + escapeCell(v) + "`"
			}
			s += ": " + strings.Join(vs, ", ")
		}
		parts = append(parts, s)
	}
	for _, name := range e.ConstLabels {
		parts = append(parts, "`"+name+"` (constant)")
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, "<br>")
}

// cellEscaper keeps text inside one Markdown table cell and literal: a pipe
// would end the cell, a star start emphasis (as in "log.* files"), a "<"
// an HTML tag.
var cellEscaper = strings.NewReplacer("|", `\|`, "*", `\*`, "<", "&lt;", "\n", " ")

func escapeCell(s string) string { return cellEscaper.Replace(s) }
