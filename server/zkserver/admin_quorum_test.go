package zkserver_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/admin"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// TestEnsembleAdminAndMonitor checks what an in-process 3+1 ensemble's
// members report about the ensemble through mntr, srvr and the
// AdminServer commands (ZooKeeper 3.8's keys; see
// admin.TestApacheEnsembleComparison for the comparison with Apache).
func TestEnsembleAdminAndMonitor(t *testing.T) {
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{Size: 3, Observers: 1})
	leader := e.WaitServing()

	// The leader counts both followers and the observer once synced.
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := mntr(t, e.Addr(leader))
		if m["zk_synced_followers"] == "2" && m["zk_synced_observers"] == "1" {
			if m["zk_learners"] != "3" || m["zk_quorum_size"] != "3" || m["zk_peer_state"] != "leading - broadcast" {
				t.Errorf("leader mntr: %v", m)
			}
			if n, err := strconv.Atoi(m["zk_leader_uptime"]); err != nil || n <= 0 {
				t.Errorf("zk_leader_uptime = %q", m["zk_leader_uptime"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader never counted its learners: %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	srvr, err := testpeer.FourLetter(e.Addr(leader), "srvr", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(srvr, "Proposal sizes last/min/max: ") || !strings.Contains(srvr, "00000000\nMode: leader\n") {
		t.Errorf("leader srvr:\n%s", srvr)
	}

	for _, id := range e.Running() {
		m := mntr(t, e.Addr(id))
		_, hasSynced := m["zk_synced_observers"]
		if (id == leader) != hasSynced {
			t.Errorf("member %d: zk_synced_observers present %v; want it on the leader only", id, hasSynced)
		}
		if id == 4 && m["zk_observer_master_id"] != strconv.FormatInt(leader, 10) {
			t.Errorf("observer: zk_observer_master_id = %q, want %d", m["zk_observer_master_id"], leader)
		}

		src := e.Server(id).AdminSource("")
		lead := adminDoc(t, "leader", src)
		if lead["is_leader"] != (id == leader) || lead["leader_id"] != float64(leader) || lead["leader_ip"] == "" {
			t.Errorf("member %d: leader = %v", id, lead)
		}
		zab := adminDoc(t, "zabstate", src)
		if zab["myid"] != float64(id) || zab["voting"] != (id != 4) || zab["zabstate"] != "broadcast" {
			t.Errorf("member %d: zabstate = %v", id, zab)
		}
		if want := e.Addr(id); zab["client_address"] != want {
			t.Errorf("member %d: zabstate client_address = %v, want %s", id, zab["client_address"], want)
		}
		view := adminDoc(t, "voting_view", src)["current_config"].(map[string]any)
		if len(view) != 3 || view["4"] != nil {
			t.Errorf("member %d: voting_view lists %v, want the 3 voters", id, view)
		}
		obs := adminDoc(t, "observers", src)
		list := obs["observers"].([]any)
		if id == leader {
			if obs["synced_observers"] != float64(1) || len(list) != 1 || list[0].(map[string]any)["sid"] != float64(4) {
				t.Errorf("leader: observers = %v", obs)
			} else {
				// The observer's connection, as LearnerHandler reports it:
				// synced (so packets went both ways), nothing stuck queued.
				o := list[0].(map[string]any)
				if r, _ := o["remote_socket_address"].(string); !strings.HasPrefix(r, "/127.") {
					t.Errorf("leader: observer remote_socket_address %v, want /127.x.x.x:port", o["remote_socket_address"])
				}
				if est, _ := o["established"].(float64); est <= 0 || time.UnixMilli(int64(est)).After(time.Now()) {
					t.Errorf("leader: observer established %v, want when it connected (ms)", o["established"])
				}
				for _, k := range []string{"packets_sent", "packets_received"} {
					if n, _ := o[k].(float64); n < 1 {
						t.Errorf("leader: observer %s = %v, want at least 1", k, o[k])
					}
				}
			}
		} else if len(list) != 0 {
			t.Errorf("member %d: observers = %v, want none", id, obs)
		}
	}
}

func mntr(t *testing.T, addr string) map[string]string {
	t.Helper()
	out, err := testpeer.FourLetter(addr, "mntr", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t"); ok {
			m[k] = v
		}
	}
	return m
}

func adminDoc(t *testing.T, cmd string, src admin.Source) map[string]any {
	t.Helper()
	raw, err := admin.Run(cmd, nil, src, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, raw)
	}
	if v["error"] != nil {
		t.Fatalf("%s: error %v", cmd, v["error"])
	}
	return v
}
