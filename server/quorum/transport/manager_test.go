package transport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/quorum/election"
)

// electTimeout bounds an election that should decide. With ZooKeeper's
// timings a healthy ensemble decides in well under a second.
const electTimeout = 10 * time.Second

// best returns the sid FLE must elect among ids: the highest
// (epoch, zxid, sid).
func best(pos map[int64]logPos, ids []int64) int64 {
	win := ids[0]
	for _, id := range ids[1:] {
		a, b := pos[id], pos[win]
		if a.epoch > b.epoch || a.epoch == b.epoch && (a.zxid > b.zxid || a.zxid == b.zxid && id > win) {
			win = id
		}
	}
	return win
}

func TestEnsembleElectsBestServer(t *testing.T) {
	tests := []struct {
		name string
		n    int
		pos  map[int64]logPos
		want int64
	}{
		{name: "3 fresh servers", n: 3, want: 3},
		{name: "3, highest zxid wins", n: 3, want: 1, pos: map[int64]logPos{
			1: {zxid: 0x1_0000_0007, epoch: 1}, 2: {zxid: 0x1_0000_0003, epoch: 1}, 3: {zxid: 0x1_0000_0005, epoch: 1}}},
		{name: "5 fresh servers", n: 5, want: 5},
		{name: "5, epoch beats zxid", n: 5, want: 2, pos: map[int64]logPos{
			1: {zxid: 0x1_0000_0009, epoch: 1}, 2: {zxid: 0x2_0000_0000, epoch: 2}, 3: {zxid: 0x1_0000_0009, epoch: 1},
			4: {zxid: 0x1_0000_0001, epoch: 1}, 5: {zxid: 0x1_0000_0009, epoch: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			qc := quorumConfig(t, tt.n)
			reg := prometheus.NewPedanticRegistry()
			var ms []*Manager
			var ids []int64
			for i := 1; i <= tt.n; i++ {
				var r prometheus.Registerer
				if i == 1 {
					r = reg
				}
				ms = append(ms, startManager(t, qc, int64(i), r))
				ids = append(ids, int64(i))
			}
			if tt.pos == nil {
				tt.pos = map[int64]logPos{}
			}
			if got := best(tt.pos, ids); got != tt.want {
				t.Fatalf("test table: best(...) = %d, want %d", got, tt.want)
			}
			checkAgreed(t, elect(ms, tt.pos, electTimeout), tt.want)

			// Server 1's metrics describe the election it took part in.
			if got := testutil.ToFloat64(ms[0].metrics.rounds); got != 1 {
				t.Errorf("zkd_election_rounds_total = %v, want 1", got)
			}
			wantState := election.Following
			if tt.want == 1 {
				wantState = election.Leading
			}
			if got := testutil.ToFloat64(ms[0].metrics.state); got != float64(wantState) {
				t.Errorf("zkd_election_state = %v, want %v", got, float64(wantState))
			}
			if got := testutil.CollectAndCount(ms[0].metrics.duration); got != 1 {
				t.Errorf("zkd_election_duration_seconds has %d series, want 1", got)
			}
			if testutil.ToFloat64(ms[0].metrics.received) < float64(tt.n-1) || testutil.ToFloat64(ms[0].metrics.sent) < float64(tt.n-1) {
				t.Errorf("notifications received %v, sent %v; want at least %d each",
					testutil.ToFloat64(ms[0].metrics.received), testutil.ToFloat64(ms[0].metrics.sent), tt.n-1)
			}
			eventually(t, 5*time.Second, "server 1 connected to every peer", func() bool {
				return len(ms[0].ConnectedPeers()) == tt.n-1
			})
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Errorf("metrics lint: %v %v", problems, err)
			}
			if got := metricvalue.Of(t, reg, "zkd_election_connections"); got != float64(tt.n-1) {
				t.Errorf("zkd_election_connections = %v, want %d", got, tt.n-1)
			}
		})
	}
}

func TestLateServerLearnsEstablishedLeader(t *testing.T) {
	checkNoLeaks(t)
	qc := quorumConfig(t, 3)
	m1 := startManager(t, qc, 1, nil)
	m2 := startManager(t, qc, 2, nil)
	checkAgreed(t, elect([]*Manager{m1, m2}, nil, electTimeout), 2)

	// Server 3 would win a fresh election, but the ensemble already has a
	// leader: the others answer its LOOKING votes with that leader.
	m3 := startManager(t, qc, 3, nil)
	got := elect([]*Manager{m3}, nil, electTimeout)
	checkAgreed(t, got, 2)
	eventually(t, 5*time.Second, "server 3 connected to both peers", func() bool {
		return slices.Equal(m3.ConnectedPeers(), []int64{1, 2})
	})
}

func TestLeaderFailureElectsNewLeader(t *testing.T) {
	checkNoLeaks(t)
	for _, n := range []int{3, 5} {
		qc := quorumConfig(t, n)
		var ms []*Manager
		for i := 1; i <= n; i++ {
			ms = append(ms, startManager(t, qc, int64(i), nil))
		}
		pos := map[int64]logPos{}
		for id := int64(1); id <= int64(n); id++ {
			pos[id] = logPos{zxid: 0x1_0000_0004, epoch: 1}
		}
		checkAgreed(t, elect(ms, pos, electTimeout), int64(n))

		if err := ms[n-1].Close(); err != nil {
			t.Fatalf("close leader %d: %v", n, err)
		}
		// The survivors have moved on by one txn each; the next best
		// wins.
		for id := int64(1); id < int64(n); id++ {
			pos[id] = logPos{zxid: 0x1_0000_0005, epoch: 1}
		}
		checkAgreed(t, elect(ms[:n-1], pos, electTimeout), int64(n-1))
		if got := ms[0].ConnectedPeers(); slices.Contains(got, int64(n)) {
			t.Errorf("%d servers: server 1 still connected to the closed leader: %v", n, got)
		}
	}
}

func TestMinorityNeverDecides(t *testing.T) {
	tests := []struct {
		n       int
		running int
	}{
		{n: 3, running: 1},
		{n: 5, running: 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d of %d", tt.running, tt.n), func(t *testing.T) { testMinority(t, tt.n, tt.running) })
	}
}

func testMinority(t *testing.T, n, running int) {
	tt := struct{ n, running int }{n, running}
	{
		checkNoLeaks(t)
		qc := quorumConfig(t, tt.n)
		reg := prometheus.NewPedanticRegistry()
		var ms []*Manager
		for i := 1; i <= tt.running; i++ {
			var r prometheus.Registerer
			if i == 1 {
				r = reg
			}
			ms = append(ms, startManager(t, qc, int64(i), r))
		}
		start := time.Now()
		for _, o := range elect(ms, nil, time.Second) {
			if !errors.Is(o.err, context.DeadlineExceeded) || o.state != election.Looking {
				t.Errorf("%d of %d: server %d: got leader %d, %v, err %v; want LOOKING and a deadline error",
					tt.running, tt.n, o.sid, o.leader, o.state, o.err)
			}
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%d of %d: RunElection returned %v after its deadline of 1s", tt.running, tt.n, took)
		}
		if got := testutil.ToFloat64(ms[0].metrics.connErrors.WithLabelValues("dial")); got == 0 {
			t.Errorf("%d of %d: no dial errors counted for the absent servers", tt.running, tt.n)
		}
		if got := testutil.ToFloat64(ms[0].metrics.state); got != float64(election.Looking) {
			t.Errorf("%d of %d: zkd_election_state = %v, want 0 (looking)", tt.running, tt.n, got)
		}
	}
}

func TestRunElectionConcurrencyAndClose(t *testing.T) {
	checkNoLeaks(t)
	qc := quorumConfig(t, 3)
	m := startManager(t, qc, 1, nil)
	first := make(chan error, 1)
	go func() {
		_, _, err := m.RunElection(context.Background(), 0, 0)
		first <- err
	}()
	eventually(t, 5*time.Second, "first election started", func() bool {
		return testutil.ToFloat64(m.metrics.rounds) == 1
	})
	if _, _, err := m.RunElection(context.Background(), 0, 0); !errors.Is(err, ErrElectionRunning) {
		t.Errorf("second RunElection: %v, want ErrElectionRunning", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-first:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("running election ended with %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("running election did not end on Close")
	}
	if _, _, err := m.RunElection(context.Background(), 0, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("RunElection after Close: %v, want ErrClosed", err)
	}
}
