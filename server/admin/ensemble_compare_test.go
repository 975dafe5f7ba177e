package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/labstack/echo/v4"

	"github.com/zkd-io/zkd/server/admin"
	"github.com/zkd-io/zkd/server/ensembletest"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// ensembleMember is one server of either ensemble, by role.
type ensembleMember struct {
	id       int64
	addr     string // client address (four-letter words)
	url      string // ".../commands/"
	leaderID int64  // the ensemble's leader
}

// TestApacheEnsembleComparison runs a 3+1 Apache ZooKeeper 3.8 ensemble
// (processes, via ensembletest) and a 3+1 in-process zkd ensemble, and
// compares, for the leader, a follower and the observer, the four-letter
// words mntr and srvr (keys, their order, and the values the ensemble's
// shape determines) and the AdminServer's ensemble commands (keys, JSON
// shapes, and state-determined values such as roles, quorum size and
// learner counts). Ids are compared relative to each ensemble's leader:
// the two elect different servers.
func TestApacheEnsembleComparison(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-node Apache ZooKeeper ensemble")
	}
	zkdRoles := startZkdEnsemble(t)
	apacheRoles := startApacheEnsemble(t)
	waitSynced(t, "apache", apacheRoles["leader"])
	waitSynced(t, "zkd", zkdRoles["leader"])
	// A new leader's tree is at its epoch's first zxid.
	for name, m := range map[string]ensembleMember{"apache": apacheRoles["leader"], "zkd": zkdRoles["leader"]} {
		if _, v := srvrLines(t, m); v["Zxid"] == "0x0" || !strings.HasSuffix(v["Zxid"], "00000000") {
			t.Errorf("%s: new leader's Zxid %q; want <epoch>00000000", name, v["Zxid"])
		}
	}
	// The same writes on both leaders, so that the proposal sizes (and
	// the node counts and zxids) compared below are those of real
	// proposals: a session, a create and a setData of known sizes, and
	// its close.
	for _, m := range []ensembleMember{apacheRoles["leader"], zkdRoles["leader"]} {
		writeKnownTxns(t, m.addr)
	}

	for _, role := range []string{"leader", "follower", "observer"} {
		a, z := apacheRoles[role], zkdRoles[role]
		t.Run(role+"/mntr", func(t *testing.T) {
			ak, av := mntrGauges(t, a)
			zk, zv := mntrGauges(t, z)
			if !slices.Equal(ak, zk) {
				t.Errorf("mntr keys differ:\napache %v\nzkd    %v", ak, zk)
			}
			for _, k := range []string{"zk_server_state", "zk_peer_state", "zk_quorum_size", "zk_learners",
				"zk_synced_followers", "zk_synced_non_voting_followers", "zk_synced_observers", "zk_pending_syncs",
				"zk_last_proposal_size", "zk_min_proposal_size", "zk_max_proposal_size", "zk_znode_count"} {
				if av[k] != zv[k] {
					t.Errorf("%s: apache %q, zkd %q", k, av[k], zv[k])
				}
			}
			if role == "observer" {
				for name, m := range map[string]ensembleMember{"apache": a, "zkd": z} {
					v := map[string]string{"apache": av["zk_observer_master_id"], "zkd": zv["zk_observer_master_id"]}[name]
					if v != strconv.FormatInt(m.leaderID, 10) {
						t.Errorf("%s: zk_observer_master_id %q, want the leader %d", name, v, m.leaderID)
					}
				}
			}
			if role == "leader" {
				for name, v := range map[string]string{"apache": av["zk_leader_uptime"], "zkd": zv["zk_leader_uptime"]} {
					if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
						t.Errorf("%s: zk_leader_uptime %q, want a positive number of ms", name, v)
					}
				}
			}
		})
		t.Run(role+"/srvr", func(t *testing.T) {
			ak, av := srvrLines(t, a)
			zk, zv := srvrLines(t, z)
			if !slices.Equal(ak, zk) {
				t.Errorf("srvr lines differ:\napache %v\nzkd    %v", ak, zk)
			}
			for _, k := range []string{"Mode", "Node count", "Proposal sizes last/min/max", "Outstanding"} {
				if av[k] != zv[k] {
					t.Errorf("%s: apache %q, zkd %q", k, av[k], zv[k])
				}
			}
			if role == "leader" && av["Zxid"] != zv["Zxid"] {
				t.Errorf("leader Zxid after the same writes: apache %q, zkd %q", av["Zxid"], zv["Zxid"])
			}
		})

		tests := []struct {
			path string
			keys keyRule
			// equal lists fields (/-separated paths) that must be
			// equal, or absent from both (leader-only keys).
			equal []string
			// ids lists fields holding a server id, compared as
			// "self" / "leader" / the value.
			ids []string
		}{
			{path: "leader", equal: []string{"is_leader"}, ids: []string{"leader_id"}},
			{path: "voting_view"},
			{path: "zabstate", equal: []string{"is_leader", "voting", "zabstate", "zab_counter",
				"quorum_address/empty", "quorum_address/all_ports", "election_address/empty"}, ids: []string{"myid"}},
			{path: "observers", equal: []string{"synced_observers"}},
			{path: "orst", equal: []string{""}},
			{path: "server_stats", equal: []string{"read_only", "node_count", "server_stats/server_state",
				"proposal_stats", "server_stats/provider_null"}},
			{path: "monitor", keys: keysSubset, equal: []string{"server_state", "peer_state", "quorum_size",
				"learners", "synced_followers", "synced_observers", "synced_non_voting_followers"}},
		}
		for _, tt := range tests {
			t.Run(role+"/"+tt.path, func(t *testing.T) {
				var docs [2]any
				var orders [2][]string
				for i, m := range []ensembleMember{a, z} {
					raw := get(t, m.url+tt.path)
					orders[i] = topLevelKeys(t, raw)
					docs[i] = decode(t, raw)
				}
				if tt.path == "zabstate" {
					// Ports differ; keep the lists' shapes only.
					for _, d := range docs {
						for _, k := range []string{"quorum_address", "election_address"} {
							if o, ok := d.(map[string]any)[k].(map[string]any); ok {
								o["all_ports"] = len(o["all_ports"].([]any))
							}
						}
					}
				}
				apacheDoc, zkdDoc := docs[0].(map[string]any), docs[1].(map[string]any)
				compareKeys(t, tt.keys, orders[0], orders[1])
				for _, k := range orders[1] {
					if _, ok := apacheDoc[k]; ok {
						compareShape(t, k, apacheDoc[k], zkdDoc[k], nil)
					}
				}
				for _, p := range tt.equal {
					av, aok := lookupPath(docs[0], p)
					zv, zok := lookupPath(docs[1], p)
					if aok != zok {
						t.Errorf("%s: present in apache %v, zkd %v", p, aok, zok)
						continue
					}
					if aok && !equalJSON(av, zv) {
						t.Errorf("%q: apache %s, zkd %s", p, show(av), show(zv))
					}
				}
				for _, p := range tt.ids {
					av, _ := lookupPath(docs[0], p)
					zv, _ := lookupPath(docs[1], p)
					if ar, zr := relativeID(av, a), relativeID(zv, z); ar != zr {
						t.Errorf("%s: apache %s (%s), zkd %s (%s)", p, show(av), ar, show(zv), zr)
					}
				}
				if tt.path == "voting_view" {
					compareVotingView(t, docs[0], docs[1])
				}
			})
		}
	}
}

// startZkdEnsemble starts 3 voters and an observer in process, each with
// the AdminServer commands on its own HTTP server.
func startZkdEnsemble(t *testing.T) map[string]ensembleMember {
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{Size: 3, Observers: 1})
	leader := e.WaitServing()
	urls := map[int64]string{}
	for _, id := range e.Running() {
		h := echo.New()
		admin.Register(h, admin.DefaultPrefix, e.Server(id).AdminSource(""), nil)
		web := httptest.NewServer(h)
		t.Cleanup(web.Close)
		urls[id] = web.URL + "/commands/"
	}
	member := func(id int64) ensembleMember {
		return ensembleMember{id: id, addr: e.Addr(id), url: urls[id], leaderID: leader}
	}
	follower := e.Followers(leader)[0]
	if follower == 4 {
		follower = e.Followers(leader)[1]
	}
	return map[string]ensembleMember{"leader": member(leader), "follower": member(follower), "observer": member(4)}
}

func startApacheEnsemble(t *testing.T) map[string]ensembleMember {
	c := ensembletest.Start(t, ensembletest.Options{Kind: ensembletest.Apache, Size: 3, Observers: 1})
	leader := c.Leader()
	member := func(n *ensembletest.Node) ensembleMember {
		return ensembleMember{id: int64(n.ID), addr: n.Addr(), url: n.HTTPURL() + "/commands/", leaderID: int64(leader.ID)}
	}
	roles := map[string]ensembleMember{"leader": member(leader), "follower": member(c.Followers()[0])}
	for _, n := range c.Nodes {
		if n.Observer {
			roles["observer"] = member(n)
		}
	}
	return roles
}

// waitSynced waits (at most 30 s) until the leader counts both followers
// and the observer as synced.
func waitSynced(t *testing.T, name string, leader ensembleMember) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, v := mntrGauges(t, leader)
		if v["zk_synced_followers"] == "2" && v["zk_synced_observers"] == "1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: leader not synced with its learners after 30s: %v", name, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mntrGauges returns mntr's keys up to zk_quorum_size, the last of the
// gauges ZooKeeper derives from server state (after it come its counters
// and summaries, zkd's own keys), and every value.
func mntrGauges(t *testing.T, m ensembleMember) ([]string, map[string]string) {
	t.Helper()
	out, err := testpeer.FourLetter(m.addr, "mntr", 5*time.Second)
	if err != nil {
		t.Fatalf("mntr %s: %v", m.addr, err)
	}
	var keys []string
	values := map[string]string{}
	done := false
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok {
			continue
		}
		values[k] = v
		if !done {
			keys = append(keys, k)
		}
		done = done || k == "zk_quorum_size"
	}
	return keys, values
}

// srvrLines returns srvr's line names in order and their values.
func srvrLines(t *testing.T, m ensembleMember) ([]string, map[string]string) {
	t.Helper()
	out, err := testpeer.FourLetter(m.addr, "srvr", 5*time.Second)
	if err != nil {
		t.Fatalf("srvr %s: %v", m.addr, err)
	}
	var keys []string
	values := map[string]string{}
	for line := range strings.Lines(out) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ": ")
		keys = append(keys, k)
		values[k] = v
	}
	return keys, values
}

// relativeID names a server id as seen from m: "self", "leader", or the
// number.
func relativeID(v any, m ensembleMember) string {
	n, ok := v.(json.Number)
	if !ok {
		return fmt.Sprint(v)
	}
	id, _ := n.Int64()
	switch id {
	case m.id:
		return "self"
	case m.leaderID:
		return "leader"
	}
	return string(n)
}

// compareVotingView checks that both list the same voters (ids 1-3 in
// both ensembles) as participants. Client addresses differ by setup: the
// Apache harness's server lines carry none (ZooKeeper then shows only its
// own), zkd's in-process ones carry all.
func compareVotingView(t *testing.T, apache, zkd any) {
	t.Helper()
	view := func(d any) map[string]string {
		out := map[string]string{}
		cfg, _ := d.(map[string]any)["current_config"].(map[string]any)
		for id, m := range cfg {
			out[id] = fmt.Sprint(m.(map[string]any)["learner_type"])
		}
		return out
	}
	if a, z := view(apache), view(zkd); show(a) != show(z) {
		t.Errorf("voting view: apache %v, zkd %v", a, z)
	}
}

// writeKnownTxns opens a session on addr, creates a node with 100 bytes,
// sets 10 bytes and closes the session, waiting for each reply.
func writeKnownTxns(t *testing.T, addr string) {
	t.Helper()
	c, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Create("/proposal-sizes", make([]byte, 100), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create on %s: %v", addr, err)
	}
	if _, err := c.Set("/proposal-sizes", make([]byte, 10), -1); err != nil {
		t.Fatalf("set on %s: %v", addr, err)
	}
}
