package admin

import (
	"net"
	"strconv"
	"time"
)

// QuorumSource is implemented by a Source that runs as an ensemble member.
// Without it (or when Quorum reports ok false) leader, voting_view,
// zabstate and observers answer as a standalone ZooKeeper does.
type QuorumSource interface {
	// Quorum returns the member's view of the ensemble; ok is false for a
	// standalone server.
	Quorum() (q Quorum, ok bool)
}

// Quorum is what ZooKeeper's QuorumPeer tells the ensemble commands.
type Quorum struct {
	MyID int64
	// Leading is set on the leader (is_leader); LeaderID is the current
	// leader's id (0 while looking) and LeaderHost its quorum host as
	// configured (leader_ip; "" while unknown).
	Leading    bool
	LeaderID   int64
	LeaderHost string
	// QuorumAddrs and ElectionAddrs are this member's quorum and election
	// addresses (several with multiAddress); ClientAddr is the address its
	// clients connect to, "host:port" ("" if none).
	QuorumAddrs, ElectionAddrs []HostPort
	ClientAddr                 string
	// Voting is set when this member is a participant of the config.
	Voting bool
	// ZabState is QuorumPeer.ZabState in lower case: "election",
	// "discovery", "synchronization" or "broadcast".
	ZabState string
	// LastZxid is the data tree's last processed zxid (zabstate's
	// last_zxid, zab_epoch and zab_counter).
	LastZxid int64
	// Voters are the voting members in the order ZooKeeper's HashMap of
	// them iterates (voting_view).
	Voters []Member
	// Observers are the observers connected to this leader (observers);
	// SyncedObservers counts those synced.
	Observers       []ObserverConn
	SyncedObservers int
}

// HostPort is one socket address, the host as configured (a name or an
// IP literal, IPv6 without brackets).
type HostPort struct {
	Host string
	Port int
}

// String renders the address as Jackson writes an InetSocketAddress and
// ZooKeeper its delimited host strings: host:port, IPv6 in brackets.
func (a HostPort) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// Member is one server of the config as QuorumServerView shows it.
type Member struct {
	ID                         int64
	ServerAddrs, ElectionAddrs []HostPort
	// ClientAddr is "host:port", or "" when the server line names none.
	ClientAddr  string
	LearnerType string // "participant" or "observer"
}

// ObserverConn is one observer's connection to the leader
// (LearnerHandlerBean). Fields a Source does not track stay zero.
type ObserverConn struct {
	Remote            string // "/host:port"
	SID               int64
	Established       time.Time
	QueuedPackets     int64
	QueuedPacketsSize int64
	PacketsReceived   int64
	PacketsSent       int64
	Requests          int64
	LastZxid          int64
}

// quorumOf returns src's ensemble view, if it is a member.
func quorumOf(src Source) (Quorum, bool) {
	if q, ok := src.(QuorumSource); ok {
		return q.Quorum()
	}
	return Quorum{}, false
}

func runLeader(src Source, _ map[string]string, _ time.Time) object {
	q, ok := quorumOf(src)
	if !ok {
		// A standalone server is no QuorumZooKeeperServer.
		return object{{"error", "server is not initialized"}}
	}
	return object{{"is_leader", q.Leading}, {"leader_id", q.LeaderID}, {"leader_ip", q.LeaderHost}}
}

func runVotingView(src Source, _ map[string]string, _ time.Time) object {
	q, ok := quorumOf(src)
	if !ok {
		return object{{"current_config", object{}}}
	}
	cfg := object{}
	for _, m := range q.Voters {
		cfg = append(cfg, field{strconv.FormatInt(m.ID, 10), object{
			{"server_addresses", hostPorts(m.ServerAddrs)},
			{"election_addresses", hostPorts(m.ElectionAddrs)},
			{"client_address", m.ClientAddr},
			{"learner_type", m.LearnerType},
		}})
	}
	return object{{"current_config", cfg}}
}

func runZabState(src Source, _ map[string]string, _ time.Time) object {
	q, ok := quorumOf(src)
	if !ok {
		return object{{"voting", false}, {"zabstate", ""}}
	}
	return object{
		{"myid", q.MyID},
		{"is_leader", q.Leading},
		{"quorum_address", multipleAddresses(q.QuorumAddrs)},
		{"election_address", multipleAddresses(q.ElectionAddrs)},
		{"client_address", q.ClientAddr},
		{"voting", q.Voting},
		{"last_zxid", "0x" + strconv.FormatUint(uint64(q.LastZxid), 16)},
		{"zab_epoch", q.LastZxid >> 32},
		{"zab_counter", q.LastZxid & 0xffffffff},
		{"zabstate", q.ZabState},
	}
}

func runObservers(src Source, _ map[string]string, _ time.Time) object {
	q, ok := quorumOf(src)
	if !ok {
		return object{{"synced_observers", 0}, {"observers", []any{}}}
	}
	list := []any{}
	for _, o := range q.Observers {
		list = append(list, object{
			{"remote_socket_address", o.Remote},
			{"sid", o.SID},
			{"established", unixMillis(o.Established)},
			{"queued_packets", o.QueuedPackets},
			{"queued_packets_size", o.QueuedPacketsSize},
			{"packets_received", o.PacketsReceived},
			{"packets_sent", o.PacketsSent},
			{"requests", o.Requests},
			{"last_zxid", o.LastZxid},
		})
	}
	return object{{"synced_observers", q.SyncedObservers}, {"observers", list}}
}

func hostPorts(addrs []HostPort) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

// multipleAddresses is ZooKeeper's MultipleAddresses as Jackson serializes
// its getters. Every address counts as reachable: ZooKeeper checks
// reachability with a 1 s ping, which a member's own addresses pass.
func multipleAddresses(addrs []HostPort) object {
	all := hostPorts(addrs)
	wildcard := make([]string, 0, len(addrs))
	ports := make([]int64, 0, len(addrs))
	hosts := make([]string, 0, len(addrs))
	for _, a := range addrs {
		wildcard = append(wildcard, HostPort{"0.0.0.0", a.Port}.String())
		ports = append(ports, int64(a.Port))
		hosts = append(hosts, a.Host)
	}
	var one any
	if len(all) > 0 {
		one = all[0]
	}
	return object{
		{"empty", len(addrs) == 0},
		{"all_addresses", all},
		{"all_reachable_addresses", all},
		{"one", one},
		{"reachable_address", one},
		{"wildcard_addresses", wildcard},
		{"all_ports", ports},
		{"all_host_strings", hosts},
		{"all_reachable_addresses_or_all", all},
		{"reachable_or_one", one},
	}
}
