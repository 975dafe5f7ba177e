package zkserver

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/metrics"

	"github.com/zkd-io/zkd/server/proto"
)

// Metrics are the client-facing server's instruments. The zero value (all
// nil) is never used: NewMetrics with a nil Registerer still builds working
// collectors, just unregistered, so call sites need no nil checks.
type Metrics struct {
	Requests        *prometheus.CounterVec   // op, result
	RequestDuration *prometheus.HistogramVec // op
	Connections     prometheus.Gauge
	ConnsAccepted   prometheus.Counter
	ConnsRejected   *prometheus.CounterVec // reason
	ConnsClosed     *prometheus.CounterVec // reason
	BadInput        *prometheus.CounterVec // reason
	Outstanding     prometheus.Gauge
	BytesReceived   prometheus.Counter
	BytesSent       prometheus.Counter
	PacketsReceived prometheus.Counter
	PacketsSent     prometheus.Counter
	Notifications   prometheus.Counter
	NotifyDenied    prometheus.Counter
	WriteBatchSize  prometheus.Histogram
	WriteBatchTime  prometheus.Histogram
	LastZxid        prometheus.Gauge
	FourLetter      *prometheus.CounterVec // command, result
	ReapedNodes     prometheus.Counter
	SlowClients     prometheus.Counter
	WriteFailures   prometheus.Counter
	// Ensemble members only.
	QuorumServing   prometheus.Gauge
	QuorumForwarded prometheus.Counter
	QuorumAbandoned prometheus.Counter
	// SessionsReattached counts re-attaches by where the session was
	// served before: same_server, or moved (first connection here since
	// this server started: from another member, or across a restart).
	SessionsReattached *prometheus.CounterVec
	// Throttled counts client writes held back by globalOutstandingLimit;
	// ThrottleWait is how long each waited.
	Throttled    prometheus.Counter
	ThrottleWait prometheus.Histogram
	// The request throttler (request_throttle_max_requests): requests in
	// process and queued, requests that had to wait and for how long, and
	// the stall steps of the first in line (ZooKeeper's
	// request_throttle_wait_count).
	RequestThrottleInProcess prometheus.Gauge
	RequestThrottleQueued    prometheus.Gauge
	RequestThrottleWaited    prometheus.Counter
	RequestThrottleWait      prometheus.Histogram
	RequestThrottleStalls    prometheus.Counter
	// StaleDropped counts requests dropped because their connection went
	// away while they waited; StaleRequests stale requests processed
	// anyway; StaleReplies replies discarded because the connection had
	// gone; ThrottledOps requests answered THROTTLEDOP.
	StaleDropped  prometheus.Counter
	StaleRequests prometheus.Counter
	StaleReplies  prometheus.Counter
	ThrottledOps  prometheus.Counter
	// The connection throttle (connection_throttle_tokens): tokens left in
	// its bucket and BLUE's drop probability. Refusals count in
	// ConnsRejected (reason connection_throttle).
	ConnThrottleTokens prometheus.Gauge
	ConnThrottleDrop   prometheus.Gauge
}

// latencyBuckets spans 50µs to ~13s: in-memory reads sit at the bottom,
// fsync-bound writes in the middle, stalls at the top. Native histograms
// are enabled alongside, so the classic buckets are only a fallback.
var latencyBuckets = prometheus.ExponentialBuckets(0.00005, 2.5, 14)

// NewMetrics builds the server's metrics and registers them with reg
// (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	hist := func(name, help string, buckets []float64) prometheus.HistogramOpts {
		return metrics.Native(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	}
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_server_requests_total",
			Help: "Client requests answered, by opcode name and result (ok or the lower-case ZooKeeper error name).",
		}, []string{"op", "result"}),
		RequestDuration: prometheus.NewHistogramVec(hist("zkd_server_request_duration_seconds",
			"Time from reading a client request to queueing its reply, by opcode name.", latencyBuckets), []string{"op"}),
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_server_connections", Help: "Open client connections (including ones not yet past the handshake)."}),
		ConnsAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_connections_accepted_total", Help: "Client TCP connections accepted."}),
		ConnsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_server_connections_rejected_total",
			Help: "Client connections refused, by reason (max_client_cnxns, connection_throttle, not_serving, zxid_ahead, bad_password, session_expired, revalidation_failed, shutting_down).",
		}, []string{"reason"}),
		ConnsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_server_connections_closed_total",
			Help: "Client connections closed, by reason (client, close_session, expired, error, reconnect, slow_client, bad_input, shutdown, four_letter, stale_request).",
		}, []string{"reason"}),
		BadInput: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_server_bad_input_total",
			Help: "Malformed or refused client input, by reason (len_error, truncated, bad_connect, unknown_op, malformed_request, auth_failed).",
		}, []string{"reason"}),
		Outstanding: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_server_outstanding_requests", Help: "Requests read from clients and not yet answered."}),
		BytesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_received_bytes_total", Help: "Bytes read from client connections."}),
		BytesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_sent_bytes_total", Help: "Bytes written to client connections."}),
		PacketsReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_received_packets_total", Help: "Frames read from client connections."}),
		PacketsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_sent_packets_total", Help: "Frames (replies and notifications) queued to client connections."}),
		Notifications: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_watch_notifications_total", Help: "Watch notifications queued to clients."}),
		NotifyDenied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_watch_notifications_denied_total",
			Help: "Watch notifications withheld because the watcher lacks READ on the znode (CVE-2024-23944 rule)."}),
		WriteBatchSize: prometheus.NewHistogram(hist("zkd_server_write_batch_requests",
			"Write requests handled together by one pass of the write pipeline (group commit batch).", prometheus.ExponentialBuckets(1, 2, 12))),
		WriteBatchTime: prometheus.NewHistogram(hist("zkd_server_write_batch_duration_seconds",
			"Time one write-pipeline batch takes from prep to the last reply queued.", latencyBuckets)),
		LastZxid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_server_last_zxid", Help: "Last zxid applied to the data tree (epoch in the high 32 bits)."}),
		FourLetter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zkd_server_four_letter_commands_total",
			Help: "Four-letter-word commands received, by command and result (ok, not_allowed, unknown).",
		}, []string{"command", "result"}),
		ReapedNodes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_reaped_nodes_total", Help: "Empty container and expired TTL znodes submitted for deletion."}),
		SlowClients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_slow_client_disconnects_total",
			Help: "Connections closed because their unsent reply backlog exceeded the limit."}),
		WriteFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_write_failures_total",
			Help: "Write requests failed with SYSTEMERROR because the txn log could not be written (e.g. a full disk)."}),
		QuorumServing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zkd_server_serving",
			Help: "1 while the server serves clients: always when standalone; in an ensemble, while its epoch is established."}),
		QuorumForwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_forwarded_requests_total",
			Help: "Client writes and syncs a learner forwarded to the leader."}),
		QuorumAbandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zkd_server_abandoned_requests_total",
			Help: "Requests in flight when the server stopped serving (leader change, lost quorum); their clients saw a connection loss."}),
	}
	m.SessionsReattached = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zkd_server_sessions_reattached_total",
		Help: "Sessions a reconnecting client re-attached here, by where it was served before: same_server, or moved (its first connection to this server since it started: from another ensemble member, or across a restart).",
	}, []string{"where"})
	m.Throttled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zkd_server_throttled_requests_total",
		Help: "Client writes held back because the write pipeline held globalOutstandingLimit requests.",
	})
	m.ThrottleWait = prometheus.NewHistogram(hist("zkd_server_throttle_wait_seconds",
		"Time a throttled client write waited for room in the write pipeline.", latencyBuckets))
	m.RequestThrottleInProcess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "zkd_server_request_throttle_in_process_requests",
		Help: "Client requests admitted by the request throttler and not yet answered (what request_throttle_max_requests bounds).",
	})
	m.RequestThrottleQueued = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "zkd_server_request_throttle_queued_requests",
		Help: "Client requests waiting in the request throttler for a slot.",
	})
	m.RequestThrottleWaited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zkd_server_request_throttle_waited_requests_total",
		Help: "Client requests that found request_throttle_max_requests requests in process and waited in the request throttler.",
	})
	m.RequestThrottleWait = prometheus.NewHistogram(hist("zkd_server_request_throttle_wait_seconds",
		"Time a client request waited in the request throttler before it was admitted or dropped as stale.", latencyBuckets))
	m.RequestThrottleStalls = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zkd_server_request_throttle_stalls_total",
		Help: "Stall steps (of at most request_throttle_stall_time) the first waiting request slept through; ZooKeeper's request_throttle_wait_count.",
	})
	m.StaleDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zkd_server_stale_requests_dropped_total",
		Help: "Client requests dropped unprocessed by the request throttler because they went stale while waiting (connection gone, or session timeout exceeded with request_stale_latency_check); their connections were closed.",
	})
	m.StaleRequests = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zkd_server_stale_requests_total",
		Help: "Stale client requests processed anyway (request_throttle_drop_stale=false, or the request throttler off).",
	})
	m.StaleReplies = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zkd_server_stale_replies_total",
		Help: "Replies discarded because the request's connection had gone before the answer.",
	})
	m.ThrottledOps = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "zkd_server_throttled_ops_total",
		Help: "Client requests answered THROTTLEDOP unprocessed because they waited longer than throttled_op_wait_time in the request throttler.",
	})
	m.ConnThrottleTokens = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "zkd_server_connection_throttle_tokens",
		Help: "Tokens left in the connection throttle's bucket as of the last connect request (0 when connection_throttle_tokens is off).",
	})
	m.ConnThrottleDrop = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "zkd_server_connection_throttle_drop_ratio",
		Help: "Probability (0-1) that the connection throttle's BLUE refuses a connect request at random; mntr's connection_drop_probability.",
	})
	m.SessionsReattached.WithLabelValues("same_server")
	m.SessionsReattached.WithLabelValues("moved")
	m.QuorumServing.Set(1)
	if reg != nil {
		reg.MustRegister(m.Requests, m.RequestDuration, m.Connections, m.ConnsAccepted, m.ConnsRejected,
			m.ConnsClosed, m.BadInput, m.Outstanding, m.BytesReceived, m.BytesSent, m.PacketsReceived,
			m.PacketsSent, m.Notifications, m.NotifyDenied, m.WriteBatchSize, m.WriteBatchTime, m.LastZxid,
			m.FourLetter, m.ReapedNodes, m.SlowClients, m.WriteFailures,
			m.QuorumServing, m.QuorumForwarded, m.QuorumAbandoned, m.SessionsReattached,
			m.Throttled, m.ThrottleWait,
			m.RequestThrottleInProcess, m.RequestThrottleQueued, m.RequestThrottleWaited, m.RequestThrottleWait,
			m.RequestThrottleStalls, m.StaleDropped, m.StaleRequests, m.StaleReplies, m.ThrottledOps,
			m.ConnThrottleTokens, m.ConnThrottleDrop)
	}
	return m
}

// resultLabel turns an error code into the result label value.
func resultLabel(code proto.Code) string {
	if code == proto.ErrOK {
		return "ok"
	}
	return strings.ToLower(proto.CodeName(code))
}
