package session

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsCounting(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	tr := NewTracker(1, 2*time.Second, base, WithMetrics(m))

	// Three client sessions and one restored from a snapshot.
	mustCreate(t, tr, 1, 4*time.Second, base) // bucket +6 s
	mustCreate(t, tr, 2, 10*time.Second, base)
	mustCreate(t, tr, 3, 40*time.Second, base)
	if _, err := tr.Add(4, 30*time.Second, base); err != nil {
		t.Fatal(err)
	}
	// A failed create counts nothing.
	if err := tr.Create(1, 4*time.Second, base); err == nil {
		t.Fatal("duplicate Create succeeded")
	}

	// Session 1 expires, then its close is applied: expired, not closed.
	if ids := tr.Expired(at(6_000)); len(ids) != 1 || ids[0] != 1 {
		t.Fatalf("Expired = %v, want [1]", ids)
	}
	tr.Remove(1)
	// Session 2 is closed by its client; its bucket passing before the close
	// is applied must not count it as expired too.
	tr.SetClosing(2)
	if ids := tr.Expired(at(12_000)); len(ids) != 1 || ids[0] != 2 {
		t.Fatalf("Expired = %v, want [2]", ids)
	}
	tr.Remove(2)
	// Session 4 is closed before its bucket.
	tr.SetClosing(4)
	tr.Remove(4)
	// Removing an unknown session counts nothing.
	tr.Remove(99)

	tests := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"active", m.active, 1},
		{"created", m.created, 3},
		{"expired", m.expired, 1},
		{"closed", m.closed, 2},
	}
	for _, tt := range tests {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}

	const wantHist = `
# HELP zkd_session_timeout_seconds Negotiated timeouts of sessions created for clients.
# TYPE zkd_session_timeout_seconds histogram
zkd_session_timeout_seconds_bucket{le="2"} 0
zkd_session_timeout_seconds_bucket{le="4"} 1
zkd_session_timeout_seconds_bucket{le="6"} 1
zkd_session_timeout_seconds_bucket{le="10"} 2
zkd_session_timeout_seconds_bucket{le="15"} 2
zkd_session_timeout_seconds_bucket{le="20"} 2
zkd_session_timeout_seconds_bucket{le="30"} 2
zkd_session_timeout_seconds_bucket{le="40"} 3
zkd_session_timeout_seconds_bucket{le="60"} 3
zkd_session_timeout_seconds_bucket{le="120"} 3
zkd_session_timeout_seconds_bucket{le="+Inf"} 3
zkd_session_timeout_seconds_sum 54
zkd_session_timeout_seconds_count 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantHist), "zkd_session_timeout_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m); n != 5 {
		t.Errorf("collected %d metrics, want 5", n)
	}
}

func TestMetricsLint(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatalf("CollectAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsRegistration(t *testing.T) {
	m, err := NewMetrics(nil)
	if m != nil || err != nil {
		t.Fatalf("NewMetrics(nil) = %v, %v; want nil, nil", m, err)
	}
	// A tracker with nil metrics works and records nothing.
	tr := NewTracker(1, 2*time.Second, base, WithMetrics(nil))
	mustCreate(t, tr, 1, 4*time.Second, base)
	tr.Expired(at(6_000))
	tr.Remove(1)

	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatalf("first NewMetrics: %v", err)
	}
	_, err = NewMetrics(reg)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Errorf("second NewMetrics on one registry: err = %v, want AlreadyRegisteredError", err)
	}
}
