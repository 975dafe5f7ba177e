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
	mf := family(t, g, name)
	if mf == nil || len(mf.GetMetric()) == 0 {
		t.Fatalf("%s is not registered", name)
		return 0
	}
	m := mf.GetMetric()[0]
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

// OfSeries reads one series of a labelled counter from g: the one whose
// label has the given value; 0 when there is none yet.
func OfSeries(t testing.TB, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	for _, m := range family(t, g, name).GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && lp.GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
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
