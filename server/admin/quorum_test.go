package admin

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/fourlw"
)

// quorumFake is a fakeSource that is an ensemble member.
type quorumFake struct {
	*fakeSource
	q Quorum
}

func (f quorumFake) Quorum() (Quorum, bool) { return f.q, true }

func member(id int64, host string, quorum, election int, client string) Member {
	return Member{ID: id, ServerAddrs: []HostPort{{host, quorum}}, ElectionAddrs: []HostPort{{host, election}},
		ClientAddr: client, LearnerType: "participant"}
}

// newQuorumFake returns the member myid of a 3+1 ensemble led by server 3,
// in the state of a fresh ensemble: the leader at zxid 0x100000000, the
// others at 0, the observer (4) synced with the leader.
func newQuorumFake(myid int64) quorumFake {
	f := newFake()
	host := func(id int64) string { return "10.0.0." + string(rune('0'+id)) }
	q := Quorum{
		MyID: myid, Leading: myid == 3, LeaderID: 3, LeaderHost: "10.0.0.3",
		QuorumAddrs:   []HostPort{{host(myid), 2888}},
		ElectionAddrs: []HostPort{{host(myid), 3888}},
		ClientAddr:    host(myid) + ":2181",
		Voting:        myid != 4,
		ZabState:      "broadcast",
		Voters: []Member{
			member(1, "10.0.0.1", 2888, 3888, ""),
			member(2, "10.0.0.2", 2888, 3888, ""),
			member(3, "10.0.0.3", 2888, 3888, ""),
		},
	}
	for i := range q.Voters {
		if q.Voters[i].ID == myid {
			q.Voters[i].ClientAddr = q.ClientAddr
		}
	}
	f.info.Zxid = 0
	f.info.QuorumSize, f.info.PeerState = 3, "following - broadcast"
	f.info.Mode, f.info.ServerState = "follower", "follower"
	switch myid {
	case 3:
		f.info.Zxid = 0x100000000
		f.info.Mode, f.info.ServerState, f.info.PeerState = "leader", "leader", "leading - broadcast"
		f.info.Followers, f.info.SyncedFollowers, f.info.SyncedObservers = 3, 2, 1
		f.info.LeaderUptime = 6759 * time.Millisecond
		q.Observers = []ObserverConn{{Remote: "/10.0.0.4:40290", SID: 4, Established: testNow.Add(-time.Minute),
			PacketsReceived: 49, PacketsSent: 51, LastZxid: 0x100000000}}
		q.SyncedObservers = 1
	case 4:
		f.info.Mode, f.info.ServerState, f.info.PeerState = "observer", "observer", "observing - broadcast"
		f.info.ObserverMasterID = 3
	}
	q.LastZxid = f.info.Zxid
	return quorumFake{fakeSource: f, q: q}
}

// TestQuorumGolden checks the ensemble commands of a leader, a follower
// and an observer byte for byte. The formats were taken from a 3+1 Apache
// ZooKeeper 3.8 ensemble (see TestApacheEnsembleComparison for the live
// field-by-field check).
func TestQuorumGolden(t *testing.T) {
	tests := []struct {
		golden string
		myid   int64
		name   string
	}{
		{"quorum-leader-leader.json", 3, "leader"},
		{"quorum-leader-voting_view.json", 3, "voting_view"},
		{"quorum-leader-zabstate.json", 3, "zabstate"},
		{"quorum-leader-observers.json", 3, "observers"},
		{"quorum-leader-server_stats.json", 3, "server_stats"},
		{"quorum-leader-monitor.json", 3, "monitor"},
		{"quorum-follower-leader.json", 1, "leader"},
		{"quorum-follower-zabstate.json", 1, "zabstate"},
		{"quorum-follower-observers.json", 1, "observers"},
		{"quorum-follower-monitor.json", 1, "monitor"},
		{"quorum-observer-zabstate.json", 4, "zabstate"},
		{"quorum-observer-voting_view.json", 4, "voting_view"},
		{"quorum-observer-monitor.json", 4, "monitor"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := Run(tt.name, nil, newQuorumFake(tt.myid), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("not valid JSON:\n%s", got)
			}
			checkGolden(t, tt.golden, got)
		})
	}
}

// lookingFake is an ensemble member between roles: not serving, and
// (as ZooKeeper's AdminServer then has no quorum server) no quorum view.
type lookingFake struct{ *fakeSource }

func (lookingFake) Quorum() (Quorum, bool) { return Quorum{}, false }

// TestQuorumNotServing: leader, voting_view and observers need a serving
// server; zabstate answers between roles as a standalone server does,
// which is what Apache ZooKeeper 3.8 answers while looking.
func TestQuorumNotServing(t *testing.T) {
	f := newFake()
	f.info.NotServing = true
	f.info.ServerState, f.info.Mode = "looking", ""
	src := lookingFake{f}
	for _, name := range []string{"leader", "voting_view", "observers", "server_stats"} {
		resp := run(name, nil, src, testNow)
		if got, _ := resp.get("error"); got != fourlw.NotServingMessage {
			t.Errorf("%s: error = %v, want %q", name, got, fourlw.NotServingMessage)
		}
	}
	got, err := Run("zabstate", nil, src, testNow)
	if err != nil {
		t.Fatal(err)
	}
	const want = "{\n  \"voting\" : false,\n  \"zabstate\" : \"\",\n  \"command\" : \"zabstate\",\n  \"error\" : null\n}"
	if string(got) != want {
		t.Errorf("zabstate:\n%s\nwant\n%s", got, want)
	}
	resp := run("monitor", nil, src, testNow)
	if got, _ := resp.get("server_state"); got != "looking" {
		t.Errorf("monitor server_state = %v, want looking", got)
	}
}

func TestMultipleAddresses(t *testing.T) {
	tests := []struct {
		name  string
		addrs []HostPort
		want  string
	}{
		{"none", nil, `{"empty":true,"all_addresses":[],"all_reachable_addresses":[],"one":null,"reachable_address":null,"wildcard_addresses":[],"all_ports":[],"all_host_strings":[],"all_reachable_addresses_or_all":[],"reachable_or_one":null}`},
		{"ipv6 and a name", []HostPort{{"::1", 2888}, {"zk1.example", 2889}},
			`{"empty":false,"all_addresses":["[::1]:2888","zk1.example:2889"],"all_reachable_addresses":["[::1]:2888","zk1.example:2889"],"one":"[::1]:2888","reachable_address":"[::1]:2888","wildcard_addresses":["0.0.0.0:2888","0.0.0.0:2889"],"all_ports":[2888,2889],"all_host_strings":["::1","zk1.example"],"all_reachable_addresses_or_all":["[::1]:2888","zk1.example:2889"],"reachable_or_one":"[::1]:2888"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := encode(multipleAddresses(tt.addrs))
			if err != nil {
				t.Fatal(err)
			}
			// Compact, keeping encode's key order.
			var compact bytes.Buffer
			if err := json.Compact(&compact, raw); err != nil {
				t.Fatal(err)
			}
			if compact.String() != tt.want {
				t.Errorf("got  %s\nwant %s", compact.String(), tt.want)
			}
		})
	}
}
