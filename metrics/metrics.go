// Package metrics builds zkd's Prometheus registry: one per server process
// (never the global default registry, so tests can run several servers in
// one process), with the Go runtime, process and build-info collectors.
package metrics

import (
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the standard collectors and
// zkd_build_info{version,goversion,revision}.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	if err := Register(reg, version); err != nil {
		panic(err) // a fresh registry holds nothing to conflict with
	}
	return reg
}

// Register adds what NewRegistry puts in a registry to reg. It is separate
// so that the metrics catalogue can see these collectors through a
// Recorder.
func Register(reg prometheus.Registerer, version string) error {
	revision := "unknown"
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "zkd_build_info",
		Help:        "Always 1; labels carry the zkd version, Go version and VCS revision of the running binary.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion, "revision": revision},
	})
	info.Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info,
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register standard metrics: %w", err)
		}
	}
	return nil
}

// RegisterConfigWarnings adds zkd_config_warnings: how many warnings
// loading zoo.cfg gave (settings ignored or corrected, each logged once at
// start-up), so that an operator sees from the metrics alone that a
// server runs on other settings than the file says, long after the log
// lines have rotated away.
func RegisterConfigWarnings(reg prometheus.Registerer, warnings int) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "zkd_config_warnings",
		Help: "Warnings loading zoo.cfg gave at start-up: settings ignored or corrected, each logged.",
	})
	g.Set(float64(warnings))
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("register config warnings: %w", err)
	}
	return nil
}
