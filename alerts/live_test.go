package alerts

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/internal/promtest"
)

// TestLiveRules loads zkd.rules.yml into a real Prometheus scraping real
// zkd servers under load and requires every alert expression to evaluate
// without error, both through /api/v1/query and in the rule manager
// (/api/v1/rules health), and every zkd_* and process_* name the rules use
// to be one Prometheus really scraped (names zkd creates only on a rare
// event are listed in rareSeries). Then it kills one server and waits for
// ZkdDown to go pending for exactly that instance; its for: 1m is longer
// than this test may run, so firing is left to docker/docker_test.go,
// which loads the rules with a shorter for.
//
// It runs against a three-node ensemble and against three standalone
// servers.
func TestLiveRules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts zkd servers and Prometheus (-short)")
	}
	rules := readRules(t)
	bin := promtest.ZkdBinary(t)
	for _, mode := range []struct {
		name       string
		standalone bool
	}{{"ensemble", false}, {"standalone", true}} {
		t.Run(mode.name, func(t *testing.T) { checkLiveRules(t, rules, bin, mode.standalone) })
	}
}

func checkLiveRules(t *testing.T, rules []rule, bin string, standalone bool) {
	srv := promtest.StartServers(t, promtest.Options{Binary: bin, Standalone: standalone, Config: map[string]string{"snapCount": "50"}})
	prom := promtest.StartPrometheus(t, srv.Targets, promtest.PrometheusOptions{RuleFiles: []string{rulesFile}})
	prom.WaitTargetsUp(t, promtest.Job, len(srv.Targets), 20*time.Second)
	promtest.DriveLoad(t, srv.Targets, promtest.LoadOptions{Writes: 100})

	// Series the load creates appear with the next scrape: wait (bounded)
	// until every name the rules use has been scraped.
	var missing []string
	err := promtest.Poll(t.Context(), 15*time.Second, func(ctx context.Context) (bool, error) {
		scraped, err := prom.MetricNames(ctx)
		if err != nil {
			return false, err
		}
		missing = missing[:0]
		for _, r := range rules {
			for _, name := range metricNames(r.expr) {
				if !slices.Contains(scraped, name) && rareSeries[name] == "" && (!standalone || ensembleOnlyReason(name) == "") {
					missing = append(missing, r.name+": "+name)
				}
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		t.Errorf("Prometheus scraped no series of these names the rules use (%v): %s", err, strings.Join(missing, "; "))
	}

	for _, r := range rules {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := prom.Query(ctx, r.expr)
		cancel()
		if err != nil {
			t.Errorf("%s: the expression does not evaluate: %v\n%s", r.name, err, r.expr)
		}
	}

	// The rule manager evaluates every rule each second; wait until each
	// has been evaluated once without error.
	var bad []string
	err = promtest.Poll(t.Context(), 20*time.Second, func(ctx context.Context) (bool, error) {
		loaded, err := prom.Rules(ctx)
		if err != nil {
			return false, err
		}
		bad = bad[:0]
		var names []string
		for _, lr := range loaded {
			if lr.Type != "alerting" {
				continue
			}
			names = append(names, lr.Name)
			if lr.Health != "ok" {
				bad = append(bad, lr.Name+": health "+lr.Health+" "+lr.LastError)
			}
		}
		if len(names) != len(rules) {
			bad = append(bad, "Prometheus loaded alerts "+strings.Join(names, ", "))
		}
		return len(bad) == 0, nil
	})
	if err != nil {
		t.Errorf("rule evaluation in Prometheus: %v: %s", err, strings.Join(bad, "; "))
	}

	victim := srv.Targets[len(srv.Targets)-1]
	srv.Kill(len(srv.Targets) - 1)
	prom.WaitAlert(t, "ZkdDown", map[string]string{"instance": victim.MetricsAddr, "job": promtest.Job},
		[]string{"pending", "firing"}, 15*time.Second)
	if s, err := prom.AlertState(t.Context(), "ZkdDown", map[string]string{"instance": srv.Targets[0].MetricsAddr}); err != nil || s != "" {
		t.Errorf("ZkdDown for %s, which still runs: state %q, %v", srv.Targets[0].Name, s, err)
	}
}

// ensembleOnly are the name prefixes of metric families only an ensemble
// member exports; standalone servers are not expected to have them.
var ensembleOnly = []struct{ prefix, reason string }{
	{"zkd_quorum_", "quorum state, learner sync, follower lag and ACK latency exist only on ensemble members"},
	{"zkd_election_", "leader election runs only in an ensemble"},
}

// ensembleOnlyReason returns why only ensemble members export name, or "".
func ensembleOnlyReason(name string) string {
	for _, e := range ensembleOnly {
		if strings.HasPrefix(name, e.prefix) {
			return e.reason
		}
	}
	return ""
}

// rareSeries are names the rules use that a healthy server under this
// test's load does not export, with the reason.
var rareSeries = map[string]string{}
