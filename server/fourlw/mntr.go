package fourlw

import (
	"strconv"
	"strings"

	"github.com/zkd-io/zkd/server/javalang"
)

// Which ZooKeeper server class registers a gauge: the standalone (and
// read-only) ZooKeeperServer, or a leader, follower or observer.
const (
	inStandalone = 1 << iota
	inLeader
	inFollower
	inObserver

	// inLooking is a member between roles, which zkd's AdminServer
	// monitor still reports (ZooKeeper's has no server then): the
	// standalone gauges and the quorum size.
	inLooking

	inQuorum = inLeader | inFollower | inObserver
	inAll    = inStandalone | inQuorum
)

// gauge is one of the mntr keys ZooKeeper derives from server state.
type gauge struct {
	key   string // without the zk_ prefix
	roles int
	value func(ServerInfo) string
}

// monitorGauges lists the gauges ZooKeeper 3.8 registers
// (ZooKeeperServer.registerMetrics and its quorum subclasses) in the
// order mntr prints them. That order is the iteration order of the
// ConcurrentHashMap holding them, not registration order; it is the same
// for every role's subset, and the Apache comparison test checks it for a
// standalone server, and for a leader, follower and observer of a 3+1
// ensemble. A follower registers synced_observers too, but its value is
// null (and mntr skips it) unless it runs an observer master
// (observerMasterPort), which zkd does not; so it is a leader-only key
// here. Read-only: never modified.
var monitorGauges = [...]gauge{
	{"ephemerals_count", inAll, func(i ServerInfo) string { return itoa(i.EphemeralsCount) }},
	{"num_alive_connections", inAll, func(i ServerInfo) string { return itoa(i.NumAliveConnections) }},
	{"avg_latency", inAll, func(i ServerInfo) string { return javalang.FormatDouble(javalang.RoundHalfUp(i.AvgLatencyMs, 4)) }},
	{"min_proposal_size", inLeader, func(i ServerInfo) string { return itoa(sizesOrUnset(i.ProposalSizes).Min) }},
	{"outstanding_requests", inAll, func(i ServerInfo) string { return i64toa(i.Outstanding) }},
	{"znode_count", inAll, func(i ServerInfo) string { return itoa(i.NodeCount) }},
	{"global_sessions", inAll, func(i ServerInfo) string { return itoa(i.GlobalSessions) }},
	{"non_mtls_remote_conn_count", inAll, func(i ServerInfo) string { return i64toa(i.NonMTLSRemoteConnCount) }},
	{"last_client_response_size", inAll, func(i ServerInfo) string { return itoa(sizesOrUnset(i.ClientResponseSizes).Last) }},
	{"packets_sent", inAll, func(i ServerInfo) string { return i64toa(i.PacketsSent) }},
	{"packets_received", inAll, func(i ServerInfo) string { return i64toa(i.PacketsReceived) }},
	{"max_proposal_size", inLeader, func(i ServerInfo) string { return itoa(sizesOrUnset(i.ProposalSizes).Max) }},
	{"max_client_response_size", inAll, func(i ServerInfo) string { return itoa(sizesOrUnset(i.ClientResponseSizes).Max) }},
	{"synced_followers", inLeader, func(i ServerInfo) string { return itoa(i.SyncedFollowers) }},
	{"connection_drop_probability", inAll, func(i ServerInfo) string { return javalang.FormatDouble(i.ConnectionDropProbability) }},
	{"watch_count", inAll, func(i ServerInfo) string { return itoa(i.WatchCount) }},
	{"synced_non_voting_followers", inLeader, func(i ServerInfo) string { return itoa(i.SyncedNonVotingFollowers) }},
	{"synced_observers", inLeader, func(i ServerInfo) string { return itoa(i.SyncedObservers) }},
	{"auth_failed_count", inAll, func(i ServerInfo) string { return i64toa(i.AuthFailedCount) }},
	{"min_latency", inAll, func(i ServerInfo) string { return i64toa(i.MinLatencyMs) }},
	{"max_file_descriptor_count", inAll, func(i ServerInfo) string { return i64toa(i.MaxFileDescriptors) }},
	{"approximate_data_size", inAll, func(i ServerInfo) string { return i64toa(i.ApproximateDataSize) }},
	{"open_file_descriptor_count", inAll, func(i ServerInfo) string { return i64toa(i.OpenFileDescriptors) }},
	{"last_proposal_size", inLeader, func(i ServerInfo) string { return itoa(sizesOrUnset(i.ProposalSizes).Last) }},
	{"pending_syncs", inLeader, func(i ServerInfo) string { return itoa(i.PendingSyncs) }},
	{"leader_uptime", inLeader, func(i ServerInfo) string { return i64toa(i.LeaderUptime.Milliseconds()) }},
	{"local_sessions", inAll, func(i ServerInfo) string { return itoa(i.LocalSessions) }},
	{"uptime", inAll, func(i ServerInfo) string { return i64toa(i.Uptime.Milliseconds()) }},
	{"max_latency", inAll, func(i ServerInfo) string { return i64toa(i.MaxLatencyMs) }},
	{"outstanding_tls_handshake", inAll, func(i ServerInfo) string { return itoa(i.OutstandingTLSHandshakes) }},
	{"learners", inLeader, func(i ServerInfo) string { return itoa(i.Followers) }},
	{"min_client_response_size", inAll, func(i ServerInfo) string { return itoa(sizesOrUnset(i.ClientResponseSizes).Min) }},
	{"non_mtls_local_conn_count", inAll, func(i ServerInfo) string { return i64toa(i.NonMTLSLocalConnCount) }},
	{"quorum_size", inQuorum | inLooking, func(i ServerInfo) string { return itoa(i.QuorumSize) }},
}

// role maps a server state to the gauges its ZooKeeper server class
// registers. A read-only server is a plain ZooKeeperServer.
func role(state string) int {
	switch state {
	case "leader":
		return inLeader
	case "follower":
		return inFollower
	case "observer":
		return inObserver
	case "looking":
		return inLooking | inStandalone
	}
	return inStandalone
}

// writeMonitor writes mntr: the values of ZooKeeperServer.dumpMonitorValues
// (version, server_state, and for quorum members peer_state and an
// observer's observer_master_id), then the gauges, then src's extra keys
// in place of ZooKeeper's counters and summaries.
func writeMonitor(b *strings.Builder, src Source, info ServerInfo) {
	line := func(key, value string) {
		b.WriteString("zk_" + key + "\t" + value + "\n")
	}
	state := info.state()
	r := role(state)
	line("version", src.Version())
	line("server_state", state)
	if r&(inQuorum|inLooking) != 0 {
		line("peer_state", info.PeerState)
	}
	if r == inObserver {
		line("observer_master_id", i64toa(info.ObserverMasterID))
	}
	for _, g := range monitorGauges {
		if g.roles&r != 0 {
			line(g.key, g.value(info))
		}
	}
	for _, kv := range src.Monitor() {
		b.WriteString(kv.Key + "\t" + kv.Value + "\n")
	}
}

// sizesOrUnset returns s, or BufferStats' initial -1/-1/-1 when nil.
func sizesOrUnset(s *BufferSizes) BufferSizes {
	if s == nil {
		return BufferSizes{Last: -1, Min: -1, Max: -1}
	}
	return *s
}

func itoa(v int) string     { return strconv.Itoa(v) }
func i64toa(v int64) string { return strconv.FormatInt(v, 10) }
