package admin

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkd-io/zkd/server/javalang"

	"github.com/zkd-io/zkd/server/fourlw"
)

// command is one AdminServer command (ZooKeeper's CommandBase).
type command struct {
	// names are the primary name, then the aliases.
	names []string
	// serverRequired commands answer NotServingMessage while the server
	// is not serving; the others always run.
	serverRequired bool
	// run fills in the command's fields; run adds "command" and "error".
	run func(src Source, kwargs map[string]string, now time.Time) object
}

// commands lists ZooKeeper 3.8's commands (Commands' static registry).
// Those that only have an answer in an ensemble (leader, observers,
// voting_view, zabstate) read a QuorumSource; without one they give what
// a standalone ZooKeeper gives.
// Read-only.
var commands = []command{
	{[]string{"connection_stat_reset", "crst"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		src.ResetConnStats()
		return nil
	}},
	{[]string{"configuration", "conf", "config"}, true, runConfiguration},
	{[]string{"connections", "cons"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		return object{{"connections", connections(src, false)}, {"secure_connections", []any{}}}
	}},
	{[]string{"hash"}, true, runHash},
	{[]string{"dirs"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		data, log := src.Dirs()
		return object{{"datadir_size", data}, {"logdir_size", log}}
	}},
	{[]string{"dump"}, true, runDump},
	{[]string{"environment", "env", "envi"}, false, runEnvironment},
	{[]string{"get_trace_mask", "gtmk"}, false, func(src Source, _ map[string]string, _ time.Time) object {
		mask := fourlw.DefaultTraceMask
		if t, ok := src.(fourlw.TraceMaskSource); ok {
			mask = t.TraceMask().Get()
		}
		return object{{"tracemask", mask}}
	}},
	{[]string{"initial_configuration", "icfg"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		return object{{"initial_configuration", src.InitialConfiguration()}}
	}},
	{[]string{"is_read_only", "isro"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		return object{{"read_only", readOnly(src.Server())}}
	}},
	{[]string{"last_snapshot", "lsnp"}, true, runLastSnapshot},
	{[]string{"leader", "lead"}, true, runLeader},
	{[]string{"monitor", "mntr"}, false, runMonitor},
	{[]string{"observer_connection_stat_reset", "orst"}, true, func(Source, map[string]string, time.Time) object {
		return nil // only leaders and followers have observers
	}},
	{[]string{"ruok"}, true, func(Source, map[string]string, time.Time) object { return nil }},
	{[]string{"set_trace_mask", "stmk"}, false, runSetTraceMask},
	{[]string{"server_stats", "srvr"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		return serverStats(src)
	}},
	{[]string{"stats", "stat"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		o := serverStats(src)
		o.put("connections", connections(src, true))
		o.put("secure_connections", []any{})
		return o
	}},
	{[]string{"stat_reset", "srst"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		src.ResetServerStats()
		return nil
	}},
	{[]string{"observers", "obsr"}, true, runObservers},
	{[]string{"system_properties", "sysp"}, false, runSystemProperties},
	{[]string{"voting_view"}, true, runVotingView},
	{[]string{"watches", "wchc"}, true, runWatchesByConn},
	{[]string{"watches_by_path", "wchp"}, true, runWatchesByPath},
	{[]string{"watch_summary", "wchs"}, true, func(src Source, _ map[string]string, _ time.Time) object {
		conns, paths, watches := src.WatchSummary()
		return object{{"num_connections", conns}, {"num_paths", paths}, {"num_total_watches", watches}}
	}},
	{[]string{"zabstate"}, false, runZabState},
}

// lookup finds a command by any of its names. Names are case-sensitive,
// as in ZooKeeper.
func lookup(name string) (command, bool) {
	for _, c := range commands {
		if slices.Contains(c.names, name) {
			return c, true
		}
	}
	return command{}, false
}

// PrimaryNames returns every command's primary name, sorted, as the
// command index lists them.
func PrimaryNames() []string {
	names := make([]string, 0, len(commands))
	for _, c := range commands {
		names = append(names, c.names[0])
	}
	slices.Sort(names)
	return names
}

// Known reports whether name is a command's name or alias.
func Known(name string) bool {
	_, ok := lookup(name)
	return ok
}

// Run runs the command name (a primary name or alias) with the query
// arguments kwargs against src, and returns the JSON document ZooKeeper
// 3.8's AdminServer answers with. now dates dump's session expiries.
// An unknown name gives ZooKeeper's "Unknown command: <name>" response;
// a command that needs a serving server, while src is not serving, its
// not-serving response.
func Run(name string, kwargs map[string]string, src Source, now time.Time) ([]byte, error) {
	return encode(run(name, kwargs, src, now))
}

// run is Commands.runCommand followed by CommandResponse.toMap: the
// command's fields in order, then "command" and "error" (unless the
// command put an error among its fields, where it then stays).
func run(name string, kwargs map[string]string, src Source, now time.Time) object {
	cmd, ok := lookup(name)
	if !ok {
		return object{{"command", name}, {"error", "Unknown command: " + name}}
	}
	if cmd.serverRequired && src.Server().NotServing {
		// ZooKeeper names the command as it was asked for here.
		return object{{"command", name}, {"error", fourlw.NotServingMessage}}
	}
	resp := cmd.run(src, kwargs, now)
	resp = slices.Clone(resp)
	resp.put("command", cmd.names[0])
	if _, ok := resp.get("error"); !ok {
		resp.put("error", nil)
	}
	return resp
}

func readOnly(info fourlw.ServerInfo) bool {
	return info.ReadOnly || cmp.Or(info.ServerState, info.Mode) == "read-only"
}

func runConfiguration(src Source, _ map[string]string, _ time.Time) object {
	c := src.Configuration()
	return object{
		{"client_port", c.ClientPort},
		{"data_dir", c.DataDir},
		{"data_log_dir", c.DataLogDir},
		{"tick_time", c.TickTime.Milliseconds()},
		{"max_client_cnxns", c.MaxClientCnxns},
		{"min_session_timeout", c.MinSessionTimeout.Milliseconds()},
		{"max_session_timeout", c.MaxSessionTimeout.Milliseconds()},
		{"server_id", c.ServerID},
		{"client_port_listen_backlog", c.ClientPortListenBacklog},
	}
}

// digestVersion is ZooKeeper 3.8's DigestCalculator.DIGEST_VERSION, the
// version of the digests zkd computes alike.
const digestVersion = 2

func runHash(src Source, _ map[string]string, _ time.Time) object {
	digests := []any{}
	if d, ok := src.(fourlw.DigestSource); ok {
		for _, e := range d.Digests() {
			digests = append(digests, object{{"zxid", e.Zxid}, {"digest", e.Digest}, {"digest_version", digestVersion}})
		}
	}
	return object{{"digests", digests}}
}

// runDump reports sessions by expiry time and ephemeral paths by session.
// ZooKeeper keys the expiry map by its monotonic clock in milliseconds,
// which means nothing outside its JVM; zkd uses Unix milliseconds.
func runDump(src Source, _ map[string]string, now time.Time) object {
	byExpiry := map[int64][]int64{}
	for _, s := range src.Sessions() {
		at := s.Expires
		if at.IsZero() {
			at = now.Add(s.Timeout)
		}
		byExpiry[at.UnixMilli()] = append(byExpiry[at.UnixMilli()], s.ID)
	}
	expiry := object{}
	for _, ms := range sortedKeys(byExpiry) {
		ids := byExpiry[ms]
		slices.Sort(ids)
		expiry = append(expiry, field{strconv.FormatInt(ms, 10), ids})
	}
	eph := src.Ephemerals()
	ephemerals := object{}
	for _, id := range sortedKeys(eph) {
		paths := slices.Clone(eph[id])
		slices.Sort(paths)
		ephemerals = append(ephemerals, field{strconv.FormatInt(id, 10), paths})
	}
	return object{{"expiry_time_to_session_ids", expiry}, {"session_id_to_ephemeral_paths", ephemerals}}
}

func runEnvironment(src Source, _ map[string]string, _ time.Time) object {
	var env []fourlw.KV
	if e, ok := src.(fourlw.EnvironmentSource); ok {
		env = e.Environment()
	} else {
		env = fourlw.HostEnvironment()
	}
	o := object{{"zookeeper.version", src.Version()}}
	for _, kv := range env {
		o.put(kv.Key, kv.Value)
	}
	return o
}

func runLastSnapshot(src Source, _ map[string]string, _ time.Time) object {
	snap, ok := src.LastSnapshot()
	if !ok {
		// ZooKeeper before it has any snapshot: Long.toHexString(-1L).
		return object{{"zxid", "ffffffffffffffff"}, {"timestamp", int64(-1)}}
	}
	return object{{"zxid", strconv.FormatUint(uint64(snap.Zxid), 16)}, {"timestamp", snap.Written.Unix()}}
}

// runMonitor reports the four-letter word mntr's keys without their zk_
// prefix, numbers as JSON numbers, in mntr's order. It runs even while
// the server is not serving, as ZooKeeper's does.
func runMonitor(src Source, _ map[string]string, now time.Time) object {
	text := fourlw.Run("mntr", servingSource{src}, now)
	o := object{}
	for line := range strings.SplitSeq(text, "\n") {
		key, value, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		o.put(strings.TrimPrefix(key, "zk_"), monitorValue(value))
	}
	return o
}

// monitorValue types an mntr value: integers and decimals (printed as
// Java prints doubles) become numbers, anything else stays a string.
func monitorValue(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && strings.ContainsAny(s, ".E") && !strings.ContainsAny(s, "xXpP_") {
		return number(s)
	}
	return s
}

// servingSource presents src as serving, for mntr, which ZooKeeper runs
// whatever the server's state.
type servingSource struct{ Source }

func (s servingSource) Server() fourlw.ServerInfo {
	info := s.Source.Server()
	info.NotServing = false
	return info
}

func runSetTraceMask(src Source, kwargs map[string]string, _ time.Time) object {
	arg, ok := kwargs["traceMask"]
	if !ok {
		return object{{"error", "setTraceMask requires long traceMask argument"}}
	}
	mask, err := strconv.ParseInt(arg, 10, 64)
	if err != nil {
		return object{{"error", "setTraceMask requires long traceMask argument, got " + arg}}
	}
	if t, ok := src.(fourlw.TraceMaskSource); ok {
		t.TraceMask().Set(mask)
	}
	return object{{"tracemask", mask}}
}

// serverStats is the srvr response: the version, ServerStats as Jackson
// serializes it, the client response sizes and the node count.
func serverStats(src Source) object {
	info := src.Server()
	data, log := src.Dirs()
	responses := bufferStats(info.ClientResponseSizes)
	stats := object{
		{"packets_sent", info.PacketsSent},
		{"packets_received", info.PacketsReceived},
		{"fsync_threshold_exceed_count", int64(0)},
		{"client_response_stats", responses},
		{"data_dir_size", data},
		{"log_dir_size", log},
		{"provider_null", false},
		{"server_state", cmp.Or(info.ServerState, info.Mode)},
		{"last_processed_zxid", info.Zxid},
		{"outstanding_requests", info.Outstanding},
		{"avg_latency", javaDouble(javalang.RoundHalfUp(info.AvgLatencyMs, 4))},
		{"max_latency", info.MaxLatencyMs},
		{"min_latency", info.MinLatencyMs},
		{"num_alive_client_connections", info.NumAliveConnections},
		{"uptime", info.Uptime.Milliseconds()},
		{"auth_failed_count", info.AuthFailedCount},
		{"non_mtlsremote_conn_count", info.NonMTLSRemoteConnCount},
		{"non_mtlslocal_conn_count", info.NonMTLSLocalConnCount},
	}
	o := object{
		{"version", src.Version()},
		{"read_only", readOnly(info)},
		{"server_stats", stats},
		{"client_response", responses},
	}
	if cmp.Or(info.ServerState, info.Mode) == "leader" {
		o.put("proposal_stats", bufferStats(info.ProposalSizes))
	}
	o.put("node_count", info.NodeCount)
	return o
}

// bufferStats is ZooKeeper's BufferStats; nil is its initial -1s.
func bufferStats(s *fourlw.BufferSizes) object {
	v := fourlw.BufferSizes{Last: -1, Min: -1, Max: -1}
	if s != nil {
		v = *s
	}
	return object{{"last_buffer_size", v.Last}, {"min_buffer_size", v.Min}, {"max_buffer_size", v.Max}}
}

// connections lists the client connections as ServerCnxn.getConnectionInfo
// does; brief (stats) keeps the first five fields.
func connections(src Source, brief bool) []any {
	out := []any{}
	for _, c := range src.Connections() {
		interest := 1 // OP_READ
		switch {
		case c.FourLetter:
			interest = 0
		case c.WritePending:
			interest |= 4 // OP_WRITE
		}
		var remote any
		if c.Remote != "" {
			// InetSocketAddress as Jackson writes it: no leading "/".
			remote = strings.TrimPrefix(c.Remote, "/")
		}
		o := object{
			{"remote_socket_address", remote},
			{"interest_ops", interest},
			{"outstanding_requests", c.Queued},
			{"packets_received", c.Received},
			{"packets_sent", c.Sent},
		}
		if !brief {
			o = append(o,
				field{"session_id", c.SessionID},
				field{"last_operation", cmp.Or(c.LastOp, "NA")},
				field{"established", unixMillis(c.Established)},
				field{"session_timeout", c.Timeout},
				field{"last_cxid", c.LastCxid},
				field{"last_zxid", c.LastZxid},
				field{"last_response_time", unixMillis(c.LastResponse)},
				field{"last_latency", c.LastLatencyMs},
				field{"min_latency", c.MinLatencyMs},
				field{"avg_latency", int64(c.AvgLatencyMs)},
				field{"max_latency", c.MaxLatencyMs},
			)
		}
		out = append(out, o)
	}
	return out
}

func unixMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func runSystemProperties(src Source, _ map[string]string, _ time.Time) object {
	var props []fourlw.KV
	if s, ok := src.(SystemPropertiesSource); ok {
		props = s.SystemProperties()
	} else {
		props = HostSystemProperties()
	}
	props = slices.Clone(props)
	slices.SortStableFunc(props, func(a, b fourlw.KV) int { return strings.Compare(a.Key, b.Key) })
	o := object{}
	for _, kv := range props {
		o.put(kv.Key, kv.Value)
	}
	return o
}

func runWatchesByConn(src Source, _ map[string]string, _ time.Time) object {
	bySession := src.WatchesByConn()
	o := object{}
	for _, id := range sortedKeys(bySession) {
		paths := slices.Clone(bySession[id])
		slices.Sort(paths)
		o = append(o, field{strconv.FormatInt(id, 10), paths})
	}
	return object{{"session_id_to_watched_paths", o}}
}

func runWatchesByPath(src Source, _ map[string]string, _ time.Time) object {
	byPath := src.WatchesByPath()
	o := object{}
	for _, p := range sortedKeys(byPath) {
		ids := slices.Clone(byPath[p])
		slices.Sort(ids)
		o = append(o, field{p, ids})
	}
	return object{{"path_to_session_ids", o}}
}

// sortedKeys returns m's keys in ascending order. ZooKeeper writes hash
// map order; sorting keeps zkd's output stable.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
