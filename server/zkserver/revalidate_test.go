package zkserver_test

import (
	"testing"
	"time"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/session"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// TestLearnerRevalidatesSessions: a session re-attached on a follower is
// checked with the leader (REVALIDATE), as ZooKeeper's learners do: a live
// session created through the leader is let in with its timeout, one the
// leader does not know is refused as expired (timeout 0), and the
// follower counts both answers.
func TestLearnerRevalidatesSessions(t *testing.T) {
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{})
	leader := e.WaitServing()
	follower := e.Followers(leader)[0]

	created, err := rawConnect(t, e.Addr(leader), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if created.SessionID == 0 || created.TimeOut == 0 {
		t.Fatalf("session through the leader: %+v", created)
	}

	moved, err := rawConnect(t, e.Addr(follower), created.SessionID, session.Password(created.SessionID))
	if err != nil {
		t.Fatal(err)
	}
	if moved.SessionID != created.SessionID || moved.TimeOut == 0 {
		t.Errorf("live session re-attached on follower %d: %+v, want session %#x with its timeout", follower, moved, created.SessionID)
	}

	const unknown = int64(0x7e57_0000_0000_0001)
	refused, err := rawConnect(t, e.Addr(follower), unknown, session.Password(unknown))
	if err != nil {
		t.Fatal(err)
	}
	if refused.TimeOut != 0 {
		t.Errorf("unknown session re-attached on follower %d: %+v, want it refused (timeout 0)", follower, refused)
	}

	reg := e.Registry(follower)
	for result, want := range map[string]float64{"valid": 1, "invalid": 1, "unanswered": 0} {
		if got := metricvalue.OfSeries(t, reg, "zkd_quorum_session_revalidations_total", "result", result); got != want {
			t.Errorf("follower's revalidations{result=%q} = %v, want %v", result, got, want)
		}
	}
	for _, result := range []string{"valid", "invalid", "unanswered"} {
		if got := metricvalue.OfSeries(t, e.Registry(leader), "zkd_quorum_session_revalidations_total", "result", result); got != 0 {
			t.Errorf("the leader counted %v revalidations{result=%q} of its own; it answers them", got, result)
		}
	}
}

// rawConnect is testpeer.RawConnect; the connection stays open until the
// test ends.
func rawConnect(t *testing.T, addr string, session int64, passwd []byte) (proto.ConnectResponse, error) {
	t.Helper()
	resp, nc, err := testpeer.RawConnect(addr, session, passwd, 30*time.Second)
	if err == nil {
		t.Cleanup(func() { nc.Close() })
	}
	return resp, err
}
