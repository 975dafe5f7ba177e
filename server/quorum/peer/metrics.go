package peer

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	zkdmetrics "github.com/zkd-io/zkd/metrics"
)

// metrics are what an operator watches about this member of the ensemble.
type metrics struct {
	state         prometheus.Gauge
	isLeader      prometheus.Gauge
	leaderChanges prometheus.Counter
	proposals     prometheus.Counter
	commits       prometheus.Counter
	synced        prometheus.Gauge
	lag           *prometheus.GaugeVec
	syncs         *prometheus.CounterVec
	logGaps       prometheus.Counter
	// droppedRequests counts client requests that could not go on: queued
	// for a leadership that ended, or forwarded without a leader.
	droppedRequests prometheus.Counter
	quorumSize      prometheus.Gauge
	outstanding     prometheus.Gauge
	ackLatency      *prometheus.HistogramVec
	proposalSize    prometheus.Histogram
	commitLatency   prometheus.Histogram
	syncDuration    *prometheus.HistogramVec
	roleEnds        *prometheus.CounterVec
	lagWarnings     *prometheus.CounterVec
	unsent          *prometheus.CounterVec
	revalidations   *prometheus.CounterVec
	revalidateTime  prometheus.Histogram
	// snapEncodes and snapEncodeTime: a leader's encodes of a learner's
	// SNAP, which run beside broadcast.
	snapEncodes    *prometheus.CounterVec
	snapEncodeTime prometheus.Histogram
}

// quorumBuckets span 100µs to ~6.5 s: an ACK on loopback takes well
// under a millisecond, one behind a slow fsync or a GC pause seconds.
var quorumBuckets = prometheus.ExponentialBuckets(0.0001, 2, 17)

// State gauge values (zkd_quorum_state).
const (
	stateLooking   = 0
	stateFollowing = 1
	stateLeading   = 2
	stateObserving = 3
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		state: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_quorum_state",
			Help: "This server's quorum state: 0 looking, 1 following, 2 leading, 3 observing."}),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_quorum_is_leader",
			Help: "1 while this server leads an established epoch."}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "zkd_quorum_leader_changes_total",
			Help: "Elections that ended with a different leader than the previous one."}),
		proposals: prometheus.NewCounter(prometheus.CounterOpts{Name: "zkd_quorum_proposals_total",
			Help: "Txns this server proposed as leader."}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "zkd_quorum_commits_total",
			Help: "Committed txns applied to the data tree."}),
		synced: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_quorum_learners_synced",
			Help: "Followers counted for the leader's quorum (leader only)."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zkd_quorum_follower_lag_zxid",
			Help: "Leader's last zxid minus the last zxid a follower acked (leader only)."}, []string{"server_id"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_quorum_sync_total",
			Help: "Learner synchronizations by kind (counted on the learner)."}, []string{"type"}),
		logGaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "zkd_quorum_sync_log_gaps_total",
			Help: "Learner syncs that met a gap in this leader's txn log where a DIFF or TRUNC would read it, so the learner got a SNAP (leader only; such a gap lies under a snapshot taken or installed ahead of the log, as in some Apache ZooKeeper data directories)."}),
		droppedRequests: prometheus.NewCounter(prometheus.CounterOpts{Name: "zkd_quorum_dropped_requests_total",
			Help: "Client requests and proposals dropped because the leadership they were meant for ended (their clients are disconnected)."}),
		quorumSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_quorum_size",
			Help: "Voting members in the ensemble's config; a majority of them must log a txn before it commits."}),
		outstanding: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zkd_quorum_outstanding_proposals",
			Help: "Proposals the leader sent that are not committed yet (leader only)."}),
		ackLatency: prometheus.NewHistogramVec(zkdmetrics.Native(prometheus.HistogramOpts{Name: "zkd_quorum_follower_ack_latency_seconds",
			Help:    "Time from the leader proposing a txn to a follower's ACK of it, by follower (leader only).",
			Buckets: quorumBuckets}), []string{"server_id"}),
		proposalSize: prometheus.NewHistogram(zkdmetrics.Native(prometheus.HistogramOpts{Name: "zkd_quorum_proposal_size_bytes",
			Help:    "Size of each proposal the leader sends: the PROPOSAL packet's data, the serialized txn (leader only; ZooKeeper's zk_*_proposal_size).",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10)})),
		commitLatency: prometheus.NewHistogram(zkdmetrics.Native(prometheus.HistogramOpts{Name: "zkd_quorum_proposal_commit_seconds",
			Help:    "Time from the leader proposing a txn to its commit: a quorum logged it (leader only).",
			Buckets: quorumBuckets})),
		syncDuration: prometheus.NewHistogramVec(zkdmetrics.Native(prometheus.HistogramOpts{Name: "zkd_quorum_sync_duration_seconds",
			Help:    "Time a learner took from connecting to its leader to serving (discovery and synchronization), by sync type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}), []string{"type"}),
		roleEnds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_quorum_role_ends_total",
			Help: "Leader or learner roles that ended (back to election), by reason: quorum_lost, leader_silent, leader_connection_lost, leader_unreachable, not_established, unsafe, other."}, []string{"reason"}),
		lagWarnings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_quorum_follower_lag_warnings_total",
			Help: "Times a synced follower fell more than the lag warning threshold (1000 txns) behind the leader, by follower (leader only)."}, []string{"server_id"}),
		revalidations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_quorum_session_revalidations_total",
			Help: "Session re-attaches this learner checked with its leader (REVALIDATE), by outcome: valid, invalid, unanswered (the role ended or the wait timed out)."}, []string{"result"}),
		revalidateTime: prometheus.NewHistogram(zkdmetrics.Native(prometheus.HistogramOpts{Name: "zkd_quorum_session_revalidation_seconds",
			Help:    "Time from a learner sending REVALIDATE to the leader's answer.",
			Buckets: quorumBuckets})),
		unsent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_quorum_unsent_messages_total",
			Help: "Quorum messages not sent because the peer's connection was gone, by packet type (lower case, e.g. ping, proposal)."}, []string{"type"}),
		snapEncodes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zkd_quorum_snap_encodes_total",
			Help: "Databases this leader encoded for a learner's SNAP, by result: ok, cancelled (the learner went away first), error (the learner's connection is closed and it syncs again)."}, []string{"result"}),
		snapEncodeTime: prometheus.NewHistogram(zkdmetrics.Native(prometheus.HistogramOpts{Name: "zkd_quorum_snap_encode_duration_seconds",
			Help:    "Time this leader took to encode its database for a learner's SNAP. Broadcast goes on meanwhile; the learner's packets wait behind it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)})),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.state, m.isLeader, m.leaderChanges, m.proposals, m.commits, m.synced, m.lag, m.syncs, m.logGaps, m.droppedRequests,
		m.quorumSize, m.outstanding, m.ackLatency, m.proposalSize, m.commitLatency, m.syncDuration, m.roleEnds, m.lagWarnings, m.unsent,
		m.revalidations, m.revalidateTime, m.snapEncodes, m.snapEncodeTime} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"diff", "trunc", "snap"} {
		m.syncs.WithLabelValues(k)
	}
	for _, r := range []string{"ok", "cancelled", "error"} {
		m.snapEncodes.WithLabelValues(r)
	}
	for _, r := range []string{"quorum_lost", "leader_silent", "leader_connection_lost", "leader_unreachable", "not_established", "unsafe", "other"} {
		m.roleEnds.WithLabelValues(r)
	}
	return m, nil
}

// setRole records the state a new role starts in. Lag series start over
// with every role (the leader's publishLag adds them as followers sync).
func (m *metrics) setRole(state int) {
	m.state.Set(float64(state))
	m.lag.Reset()
	if state != stateLeading {
		m.isLeader.Set(0)
		m.synced.Set(0)
		m.outstanding.Set(0)
		m.ackLatency.Reset()
	}
}

// lagGauge is the zxid lag series of follower id.
func (m *metrics) lagGauge(id int64) prometheus.Gauge {
	return m.lag.WithLabelValues(strconv.FormatInt(id, 10))
}

// deleteLag removes the lag series of a follower that is no longer synced.
func (m *metrics) deleteLag(id int64) {
	m.lag.DeleteLabelValues(strconv.FormatInt(id, 10))
}
