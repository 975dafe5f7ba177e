package transport

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/dskit/backoff"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/quorum/election"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/testpeer"
)

// testBackoff keeps redials quick so that tests of dead peers stay fast.
var testBackoff = backoff.Config{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxRetries: 10}

// quorumConfig returns an n-member ensemble on 127.0.0.1..127.0.0.n with
// free ports.
func quorumConfig(t *testing.T, n int) wire.QuorumConfig {
	t.Helper()
	var qc wire.QuorumConfig
	for i := 1; i <= n; i++ {
		host := testpeer.LoopbackHost(i)
		qc.Servers = append(qc.Servers, wire.QuorumServer{
			ID: int64(i),
			Addrs: []wire.ServerAddr{{
				Host:         host,
				QuorumPort:   testpeer.FreePort(t, host),
				ElectionPort: testpeer.FreePort(t, host),
			}},
			Type: wire.Participant,
		})
	}
	return qc
}

func testLogger(t *testing.T) zerolog.Logger {
	if os.Getenv("TRANSPORT_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
}

// startManager starts member id of qc; it is closed when the test ends.
func startManager(t *testing.T, qc wire.QuorumConfig, id int64, reg prometheus.Registerer) *Manager {
	t.Helper()
	m, err := New(Config{ID: id, Quorum: qc, Logger: testLogger(t), Registerer: reg, DialBackoff: testBackoff})
	if err != nil {
		t.Fatalf("start manager %d: %v", id, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// logPos is a member's log position: what it votes with.
type logPos struct{ zxid, epoch int64 }

type outcome struct {
	sid    int64
	leader int64
	state  election.State
	err    error
}

// elect runs RunElection on every manager at once and returns the outcomes
// in the order of ms.
func elect(ms []*Manager, pos map[int64]logPos, timeout time.Duration) []outcome {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := make([]outcome, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			p := pos[m.id]
			leader, st, err := m.RunElection(ctx, p.zxid, p.epoch)
			out[i] = outcome{sid: m.id, leader: leader, state: st, err: err}
		})
	}
	wg.Wait()
	return out
}

// checkAgreed fails unless every outcome names leader, which leads while
// the others follow.
func checkAgreed(t *testing.T, got []outcome, leader int64) {
	t.Helper()
	for _, o := range got {
		want := election.Following
		if o.sid == leader {
			want = election.Leading
		}
		if o.err != nil || o.leader != leader || o.state != want {
			t.Errorf("server %d: got leader %d, %v, err %v; want leader %d, %v", o.sid, o.leader, o.state, o.err, leader, want)
		}
	}
}

// checkNoLeaks fails the test if, once everything the test started has been
// cleaned up, more goroutines are running than when it began. Register it
// first so that its cleanup runs last.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d running, %d before the test\n%s", n, before, transportStacks(string(buf)))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// transportStacks keeps the goroutine dumps that involve this package.
func transportStacks(dump string) string {
	var keep []string
	for g := range strings.SplitSeq(dump, "\n\n") {
		if strings.Contains(g, "quorum/transport.") {
			keep = append(keep, g)
		}
	}
	return fmt.Sprintf("%d goroutines in package transport:\n%s", len(keep), strings.Join(keep, "\n\n"))
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
