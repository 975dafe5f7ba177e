package metricvalue

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total", Help: "h"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "h"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"})
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cv_total", Help: "h"}, []string{"reason"})
	gv := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gv", Help: "h"}, []string{"dir"})
	reg.MustRegister(c, g, h, cv, gv)
	c.Add(3)
	g.Set(-2.5)
	h.Observe(0.25)
	h.Observe(1.5)
	cv.WithLabelValues("a").Add(7)
	gv.WithLabelValues("x").Set(11)

	for _, tt := range []struct {
		what      string
		got, want float64
	}{
		{"counter", Of(t, reg, "c_total"), 3},
		{"gauge", Of(t, reg, "g"), -2.5},
		{"histogram count", Of(t, reg, "h_seconds"), 2},
		{"histogram sum", Sum(t, reg, "h_seconds"), 1.75},
		{"counter series", OfSeries(t, reg, "cv_total", "reason", "a"), 7},
		{"missing counter series", OfSeries(t, reg, "cv_total", "reason", "b"), 0},
		{"gauge series", OfSeries(t, reg, "gv", "dir", "x"), 11},
		{"unregistered family's series", OfSeries(t, reg, "nothing_total", "reason", "a"), 0},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.what, tt.got, tt.want)
		}
	}
}
