// Package metricvalue reads one metric's value from a registry, for tests
// that check what a component counted. It imports nothing of zkd, so any
// package's tests can use it.
package metricvalue

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Of reads an unlabelled metric from g: a counter's or gauge's value,
// or a histogram's observation count. It fails the test when name is not
// registered.
func Of(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	return value(t, name, first(t, g, name))
}

// Sum reads an unlabelled histogram's sum of observations from g. It fails
// the test when name is not a registered histogram.
func Sum(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	h := first(t, g, name).GetHistogram()
	if h == nil {
		t.Fatalf("%s is not a histogram", name)
	}
	return h.GetSampleSum()
}

// OfSeries reads one series of a labelled metric from g (as Of reads an
// unlabelled one): the one whose label has the given value; 0 when there
// is none yet.
func OfSeries(t testing.TB, g prometheus.Gatherer, name, label, labelValue string) float64 {
	t.Helper()
	for _, m := range family(t, g, name).GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && lp.GetValue() == labelValue {
				return value(t, name, m)
			}
		}
	}
	return 0
}

// value is a counter's or gauge's value, or a histogram's observation
// count.
func value(t testing.TB, name string, m *dto.Metric) float64 {
	t.Helper()
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	t.Fatalf("%s is not a counter, gauge or histogram", name)
	return 0
}

// first is the first series of the family called name; it fails the test
// when there is none.
func first(t testing.TB, g prometheus.Gatherer, name string) *dto.Metric {
	t.Helper()
	mf := family(t, g, name)
	if mf == nil || len(mf.GetMetric()) == 0 {
		t.Fatalf("%s is not registered", name)
		return nil
	}
	return mf.GetMetric()[0]
}

// family gathers g and returns the family called name (nil: none).
func family(t testing.TB, g prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}
