// Package fourlw implements ZooKeeper's four-letter-word commands (ruok,
// srvr, stat, mntr, ...) with Apache ZooKeeper 3.8's output formats, which
// scripts and monitoring integrations parse (zkServer.sh status reads the
// "Mode:" line of srvr; Telegraf, Metricbeat and the OpenTelemetry
// collector read mntr's keys). The server supplies its state through
// Source; this package only formats.
package fourlw

import "time"

// Source is what the commands read from a running server. Every method must
// be safe to call concurrently with request processing.
//
// A Source may also implement TraceMaskSource (gtmk, stmk), DigestSource
// (hash) and EnvironmentSource (envi); without them those commands fall
// back to what ZooKeeper prints when the feature is unused.
type Source interface {
	// Version is the full version string printed after "Zookeeper version: ".
	Version() string
	// Server returns the server-wide statistics.
	Server() ServerInfo
	// Connections lists the open client connections (cons, stat, dump),
	// including the one running the command (see ConnInfo.FourLetter).
	Connections() []ConnInfo
	// ResetServerStats implements srst; ResetConnStats implements crst.
	ResetServerStats()
	ResetConnStats()
	// Conf returns the effective configuration, one key=value per line.
	// In an ensemble it ends with a "membership: " line and the quorum
	// verifier's lines, the last of which ("version=<hex>") ZooKeeper
	// prints without a newline; Run reproduces that.
	Conf() []string
	// Sessions lists the live sessions with their timeouts, and
	// Ephemerals the ephemeral paths of each session (dump).
	Sessions() []SessionInfo
	Ephemerals() map[int64][]string
	// WatchesByConn, WatchesByPath and WatchSummary implement wchc, wchp
	// and wchs. ZooKeeper 3.8 reports only data watches (getData, exists)
	// in these three commands; child watches count in mntr's
	// zk_watch_count only.
	WatchesByConn() map[int64][]string // session id -> paths
	WatchesByPath() map[string][]int64 // path -> session ids
	WatchSummary() (connections, paths, watches int)
	// Dirs returns the sizes of the data and log directories in bytes.
	Dirs() (dataBytes, logBytes int64)
	// Monitor returns zkd's extra mntr keys (with their zk_ prefix), after
	// the ZooKeeper ones this package derives from ServerInfo.
	Monitor() []KV
}

// KV is one mntr line, or one envi line.
type KV struct {
	Key   string
	Value string
}

// ServerInfo is the server-wide state srvr, stat and mntr print.
type ServerInfo struct {
	// NotServing is set while the server is not serving requests (starting,
	// between elections, shutting down). ZooKeeper then answers most
	// commands with "This ZooKeeper instance is not currently serving
	// requests"; ruok, envi, gtmk and stmk still work and isro says "null".
	// The zero value means serving, so a Source that never sets it is
	// always up.
	NotServing bool

	MinLatencyMs, MaxLatencyMs int64
	// AvgLatencyMs is printed rounded half-up to 4 decimals, as
	// ZooKeeper's AvgMinMaxCounter does.
	AvgLatencyMs        float64
	PacketsReceived     int64
	PacketsSent         int64
	NumAliveConnections int
	Outstanding         int64
	Zxid                int64
	Mode                string // "standalone", "leader", "follower", "observer", "read-only"
	NodeCount           int
	WatchCount          int
	EphemeralsCount     int
	ApproximateDataSize int64
	OpenFileDescriptors int64
	MaxFileDescriptors  int64
	GlobalSessions      int
	LocalSessions       int
	Uptime              time.Duration
	ReadOnly            bool

	// ConnectionDropProbability is the connection throttle's current drop
	// chance (zk_connection_drop_probability), 0 when not throttling.
	ConnectionDropProbability float64
	// ClientResponseSizes are the last, smallest and largest serialized
	// response sizes (zk_*_client_response_size); nil prints ZooKeeper's
	// "no data yet" value -1 for all three.
	ClientResponseSizes *BufferSizes
	// Security counters: TLS handshakes in progress, failed
	// authentications, and connections that did not use mutual TLS.
	OutstandingTLSHandshakes int
	AuthFailedCount          int64
	NonMTLSRemoteConnCount   int64
	NonMTLSLocalConnCount    int64

	// Leader-only (quorum). Followers is the number of connected learners
	// (followers and observers, zk_learners); SyncedFollowers those
	// followers that are synced and forwarding.
	Followers, SyncedFollowers, PendingSyncs int
	SyncedNonVotingFollowers                 int
	// SyncedObservers is the number of observers synced with a leader.
	// (A ZooKeeper follower reports it only as an observer master, which
	// zkd has no equivalent of.)
	SyncedObservers int
	LeaderUptime    time.Duration
	// ProposalSizes are the leader's last/min/max proposal sizes (srvr's
	// "Proposal sizes" line, zk_*_proposal_size); nil prints -1/-1/-1.
	ProposalSizes *BufferSizes
	// ObserverMasterID is the server id an observer follows
	// (zk_observer_master_id, observers only).
	ObserverMasterID int64

	QuorumSize int
	// ServerState is zk_server_state: "standalone", "leader", "follower",
	// "observer", "read-only", or for an ensemble member between roles
	// "looking" (mntr then prints the standalone gauges, peer_state and
	// quorum_size). Empty means Mode.
	ServerState string
	PeerState   string // zk_peer_state, e.g. "leading - broadcast"
}

// BufferSizes is ZooKeeper's BufferStats: the last, smallest and largest
// size of a kind of buffer, in bytes.
type BufferSizes struct {
	Last, Min, Max int
}

// ConnInfo is one client connection as cons prints it.
type ConnInfo struct {
	Remote                     string // "/127.0.0.1:54321"; empty prints "null", as for a closed socket
	Queued                     int
	Received, Sent             int64
	SessionID                  int64
	LastOp                     string
	Established                time.Time
	Timeout                    int32 // ms
	LastCxid                   int32 // negative: no request yet, not printed
	LastZxid                   int64
	LastResponse               time.Time
	MinLatencyMs, MaxLatencyMs int64
	// AvgLatencyMs is printed truncated to an integer: ZooKeeper keeps a
	// connection's average as a long.
	AvgLatencyMs float64
	// LastLatencyMs is the latency of the last request (llat).
	LastLatencyMs int64
	// FourLetter marks the connection that is running the command.
	// ZooKeeper has stopped selecting on it, so it shows interest ops
	// "[0]"; other connections show "[1]" (reading), or "[5]" when
	// WritePending says replies are waiting to be written.
	FourLetter   bool
	WritePending bool
	// Expires is when the connection is closed if idle, for dump's
	// "Connections dump"; zero means now plus Timeout.
	Expires time.Time
}

// SessionInfo is one live session for dump.
type SessionInfo struct {
	ID      int64
	Timeout time.Duration
	// Expires is the session's current expiry deadline; zero means now
	// plus Timeout (a session touched just now).
	Expires time.Time
}

// TraceMaskSource is implemented by a Source that keeps the trace mask
// gtmk reports and stmk sets. Without it gtmk prints DefaultTraceMask and
// stmk echoes its argument without keeping it.
type TraceMaskSource interface {
	TraceMask() *TraceMask
}

// DigestSource is implemented by a Source that keeps a history of data
// tree digests (ZooKeeper's digest.enabled). Without it hash prints
// nothing, as ZooKeeper does before it has logged any digest.
type DigestSource interface {
	// Digests returns the logged digests, oldest first.
	Digests() []Digest
}

// Digest is the data tree digest after the transaction Zxid.
type Digest struct {
	Zxid   int64
	Digest int64
}

// EnvironmentSource is implemented by a Source that supplies envi's lines
// itself, after "zookeeper.version" (tests use it for deterministic
// output). Without it envi prints HostEnvironment().
type EnvironmentSource interface {
	Environment() []KV
}
