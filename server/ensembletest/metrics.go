package ensembletest

import (
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics scrapes the node's /metrics (zkd only: Apache ZooKeeper serves
// Prometheus metrics only with its Prometheus provider configured) and
// returns the metric families by name.
func (n *Node) Metrics() (map[string]*dto.MetricFamily, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(n.HTTPURL() + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("%v: scrape metrics: %w", n, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%v: scrape metrics: %s", n, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%v: parse metrics: %w", n, err)
	}
	return fams, nil
}

// CounterValues returns the values of a counter (or gauge) family by the
// value of one label, e.g. zkd_quorum_sync_total by "type".
func (n *Node) CounterValues(name, label string) (map[string]float64, error) {
	fams, err := n.Metrics()
	if err != nil {
		return nil, err
	}
	vals := make(map[string]float64)
	f, ok := fams[name]
	if !ok {
		return vals, nil
	}
	for _, m := range f.GetMetric() {
		key := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				key = l.GetValue()
			}
		}
		switch {
		case m.Counter != nil:
			vals[key] += m.Counter.GetValue()
		case m.Gauge != nil:
			vals[key] += m.Gauge.GetValue()
		case m.Untyped != nil:
			vals[key] += m.Untyped.GetValue()
		}
	}
	return vals, nil
}
