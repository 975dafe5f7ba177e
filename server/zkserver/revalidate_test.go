package zkserver_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/session"
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
		if got := counterValue(t, reg, "zkd_quorum_session_revalidations_total", "result", result); got != want {
			t.Errorf("follower's revalidations{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := familySum(t, e.Registry(leader), "zkd_quorum_session_revalidations_total"); got != 0 {
		t.Errorf("the leader counted %v revalidations of its own; it answers them", got)
	}
}

// rawConnect sends a ConnectRequest for session (0: a new one) and returns
// the ConnectResponse. The connection stays open until the test ends.
func rawConnect(t *testing.T, addr string, session int64, passwd []byte) (proto.ConnectResponse, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return proto.ConnectResponse{}, err
	}
	t.Cleanup(func() { nc.Close() })
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	req := proto.Marshal(&proto.ConnectRequest{TimeOut: 30000, SessionID: session, Passwd: passwd})
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(req))), req...)); err != nil {
		return proto.ConnectResponse{}, err
	}
	var lb [4]byte
	if _, err := io.ReadFull(nc, lb[:]); err != nil {
		return proto.ConnectResponse{}, fmt.Errorf("no connect response: %w", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(lb[:]))
	if _, err := io.ReadFull(nc, b); err != nil {
		return proto.ConnectResponse{}, fmt.Errorf("no connect response: %w", err)
	}
	var resp proto.ConnectResponse
	err = proto.Unmarshal(b, 0, &resp)
	return resp, err
}
