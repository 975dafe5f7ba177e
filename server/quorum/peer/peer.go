// Package peer runs one member of a zkd ensemble: it restores the member's
// durable state, elects a leader over package transport, then runs the ZAB
// core (package zab) in the role the election gave it, over TCP on the
// quorum port, persisting every zab.Ready through package storage and
// applying committed txns to a datatree.Tree. When the role ends (the
// leader loses its quorum, the leader goes away, a sync fails) it goes back
// to election.
//
// The core is a deterministic state machine; this package is its only
// edge. One goroutine per role owns the zab.Node: connection goroutines and
// the tick timer only hand it events over channels, so the core's strict
// order for a Ready (snapshot, truncate, append, epochs durable, then
// commits applied, then messages sent) holds without locks.
//
// On restart the tree is rebuilt from the newest snapshot only; logged txns
// after it are applied when the core knows they are committed, because some
// may never have been (ZOOKEEPER-2845).
//
// A client server (package zkserver) attaches through the Config hooks and
// Submit/Forward: the leader's server preps client writes into txns and
// submits them here; a learner's server forwards them as REQUEST packets,
// which reach the leader's server through OnRequest; committed txns reach
// every server through OnCommit; session touches ride on PING.
//
// The learner channel follows ZooKeeper 3.8's layout, so zkd and Apache
// ZooKeeper servers can share an ensemble: a SNAP is an empty packet
// followed on the stream by the serialized database and "BenWasHere"
// (LearnerHandler), and a leader answers REVALIDATE from the committed
// session table. Not processed: reconfig packets and quorum SASL; a zkd
// learner validates a moving session against the sessions it applied
// instead of sending REVALIDATE itself.
package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/quorum/transport"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/quorum/zab"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/txnlog"
)

var (
	// ErrNotLeader is returned by Propose on a peer that does not lead an
	// established epoch.
	ErrNotLeader = errors.New("peer: not the leader of an established epoch")
	// ErrOutcomeUnknown is returned by Propose when this peer stopped
	// leading after proposing: the txn may still be committed by the next
	// leader (it then shows up through Config.OnCommit) or be truncated.
	ErrOutcomeUnknown = errors.New("peer: leadership lost before the proposal committed")
	// ErrStopped is returned by Propose once Run has returned.
	ErrStopped = errors.New("peer: stopped")

	errLeaderUnreachable = errors.New("peer: cannot connect to the leader")
	errLeaderConnLost    = errors.New("peer: connection to the leader lost")
)

// DefaultLagWarning is Config.LagWarning's default: a follower 1000 txns
// behind is well past a burst and worth a look.
const DefaultLagWarning = 1000

// roleEndReason classifies why a role ended, for
// zkd_quorum_role_ends_total.
func roleEndReason(err error) string {
	switch {
	case errors.Is(err, zab.ErrQuorumLost):
		return "quorum_lost"
	case errors.Is(err, zab.ErrLeaderSilent):
		return "leader_silent"
	case errors.Is(err, errLeaderConnLost):
		return "leader_connection_lost"
	case errors.Is(err, errLeaderUnreachable):
		return "leader_unreachable"
	case errors.Is(err, zab.ErrNotEstablished):
		return "not_established"
	case errors.Is(err, zab.ErrUnsafe):
		return "unsafe"
	}
	return "other"
}

// Config configures one ensemble member.
type Config struct {
	ID     int64
	Quorum wire.QuorumConfig
	// DataDir holds the snapshots and epoch files, DataLogDir the txn log
	// ("" means DataDir).
	DataDir, DataLogDir string
	// NoSync turns fsync off (zoo.cfg forceSync=no); SnapCompression and
	// FsyncWarningThreshold are passed to storage.
	NoSync                bool
	SnapCompression       string
	FsyncWarningThreshold time.Duration
	// TreeOptions configure the data tree (its metrics, extended types).
	TreeOptions datatree.Options
	// TickTime is ZooKeeper's tickTime; InitLimit and SyncLimit are in
	// ticks, as in zoo.cfg.
	TickTime             time.Duration
	InitLimit, SyncLimit int
	// SnapCount is ZooKeeper's snapCount: a snapshot of the tree is taken
	// after a random number of logged txns in [SnapCount/2+1, SnapCount].
	// 0 means storage's default (100000).
	SnapCount int
	// PreAllocSize is the txn log's preallocation step in bytes (zoo.cfg
	// preAllocSize); 0 means ZooKeeper's 64 MiB, negative turns it off.
	PreAllocSize int64
	// PurgeInterval and SnapRetainCount are autopurge: every interval keep
	// the newest SnapRetainCount snapshots (at least 3) and the logs they
	// need. 0 turns it off.
	PurgeInterval   time.Duration
	SnapRetainCount int
	Logger          zerolog.Logger
	// Registerer receives the metrics (this package's and the election
	// transport's); nil means none.
	Registerer prometheus.Registerer
	// LagWarning is how many txns a synced follower may fall behind the
	// leader before the leader logs a warning (DefaultLagWarning if 0).
	LagWarning int64
	// Hooks connect a client server; SetHooks can set them after New.
	Hooks
}

// Hooks are how a client server (package zkserver) follows the peer. Each
// is optional.
type Hooks struct {
	// OnCommit, if set, is called for every committed txn in zxid order,
	// right after it was applied and while the tree's write lock is still
	// held, so that a server can fire watches and queue replies before any
	// reader sees the new state. It must not block.
	OnCommit func(e zab.Entry, r datatree.Result)
	// OnRequest (leader) receives a client request a learner forwarded
	// (REQUEST: the data and the client's identities). It runs on the
	// peer's owner goroutine and must not block: queue it.
	OnRequest func(from int64, data []byte, auth []proto.ID)
	// OnSynced receives the Data of a sync this peer submitted (Submit
	// with a Sync item on the leader, Forward on a learner), once every txn
	// proposed before it is applied here. Owner goroutine; must not block.
	OnSynced func(data []byte)
	// OnPing (leader) receives the payload of a learner's PING: the
	// sessions its clients touched (ZooKeeper's format: sessionId long,
	// timeout int, repeated). Owner goroutine; must not block.
	OnPing func(from int64, data []byte)
	// PingData (learner) returns the payload for the next PING answer to
	// the leader. Owner goroutine; must not block.
	PingData func() []byte
	// OnStatus is called when State, Leader, Epoch or Established change.
	// Owner goroutine; must not block.
	OnStatus func(Status)
	// OnQuorumProgress (leader), if set, is told how each outstanding
	// proposal gathers its quorum: when the leader's own log write of it
	// became durable (From is this server's id) and when each follower's
	// ACK arrived (From is that follower). Tracing uses it to split a
	// write's time in the quorum into the leader's fsync and the
	// followers' ACKs. Owner goroutine; must not block.
	OnQuorumProgress func(QuorumProgress)
}

// QuorumProgress is one step of a proposal towards its quorum.
type QuorumProgress struct {
	Zxid int64
	From int64     // the server whose durable copy this is
	At   time.Time // when the leader learned of it
}

func (c *Config) validate() error {
	if c.ID <= 0 {
		return fmt.Errorf("peer: invalid server id %d", c.ID)
	}
	if c.DataDir == "" {
		return errors.New("peer: DataDir is not set")
	}
	if c.TickTime <= 0 || c.InitLimit <= 0 || c.SyncLimit <= 0 {
		return fmt.Errorf("peer: TickTime, InitLimit and SyncLimit must be positive, got %v, %d, %d", c.TickTime, c.InitLimit, c.SyncLimit)
	}
	found := false
	for _, s := range c.Quorum.Servers {
		if len(s.Addrs) == 0 || s.Addrs[0].QuorumPort <= 0 {
			return fmt.Errorf("peer: server %d has no quorum address", s.ID)
		}
		found = found || s.ID == c.ID
	}
	if !found {
		return fmt.Errorf("peer: own id %d is not in the quorum config", c.ID)
	}
	return nil
}

// State is a member's quorum state; the values are zkd_quorum_state's.
type State int

const (
	Looking   State = stateLooking
	Following State = stateFollowing
	Leading   State = stateLeading
	Observing State = stateObserving
)

func (s State) String() string {
	switch s {
	case Looking:
		return "looking"
	case Following:
		return "following"
	case Leading:
		return "leading"
	case Observing:
		return "observing"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// FollowerStatus is the leader's view of one learner.
type FollowerStatus struct {
	ID        int64
	AckedZxid int64 // newest proposal it acked in this epoch
	Synced    bool  // counted for the leader's quorum

	// Its connection, as ZooKeeper's LearnerHandler reports it.
	Remote            string    // the learner's address
	Connected         time.Time // when it connected
	QueuedPackets     int       // waiting to be written to it
	QueuedPacketsSize int64     // their encoded size in bytes
	PacketsReceived   int64
	PacketsSent       int64
	Requests          int64 // REQUESTs it forwarded
}

// Status is a summary for srvr/mntr and metrics.
type Status struct {
	// Term counts the roles this peer has run; Submit checks it, so that a
	// batch prepared for one leadership is never proposed in the next.
	Term          uint64
	ID            int64
	State         State
	Leader        int64 // 0 while looking
	Epoch         int64
	Established   bool  // the epoch finished synchronization
	LastZxid      int64 // last logged
	CommittedZxid int64 // last applied to the tree
	Followers     []FollowerStatus
	// PendingSyncs (leader) are learners' SYNCs waiting for earlier
	// proposals to commit (zk_pending_syncs).
	PendingSyncs int
	// Proposals (leader) are the sizes of the PROPOSAL packets' data in
	// this role (srvr's "Proposal sizes", zk_*_proposal_size).
	Proposals ProposalSizes
	// Since is when this role began (a new Term or State): zk_leader_uptime
	// on a leader. Set by setStatus.
	Since time.Time
}

// ProposalSizes are the leader's last, smallest and largest proposal, in
// bytes of the PROPOSAL packet's data (the serialized txn), as ZooKeeper's
// ProposalStats counts them. Count is zero before the first proposal.
type ProposalSizes struct {
	Count          int64
	Last, Min, Max int
}

func (p *ProposalSizes) add(n int) {
	if p.Count == 0 || n < p.Min {
		p.Min = n
	}
	p.Max = max(p.Max, n)
	p.Last = n
	p.Count++
}

// Peer is one ensemble member.
type Peer struct {
	cfg     Config
	log     zerolog.Logger
	metrics *metrics

	proposeCh chan *proposal
	done      chan struct{}
	running   sync.Once

	// cmds queues Submit and Forward calls for the owner goroutine. It is
	// unbounded so callers never block on a peer between roles; a queued
	// command whose Term is over is dropped.
	cmdMu   sync.Mutex
	cmds    []command
	cmdWake chan struct{}

	restoreOnce sync.Once
	restoreErr  error
	d           *disk
	st          *state
	nextPurge   time.Time // owner goroutine only

	// snapChunk is how many nodes a leader encodes for a learner's SNAP
	// per hold of the tree's read lock (snapshot.FuzzyChunk; tests make
	// it small so that writes land inside the walk). Set before Run.
	snapChunk int
	// fromLeader, if set, sees every packet a learner takes from its
	// leader, in order, on the owner goroutine (tests check the wire
	// order of a sync with it). Set before Run.
	fromLeader func(wire.Packet)

	mu     sync.Mutex
	tree   *datatree.Tree
	status Status
}

// Item is one step of a Submit batch: a txn to propose (Entry, its zxid
// already set to the one the leader's core will assign) or a sync to
// answer once everything proposed before it is committed (SyncTo is the
// learner to answer with a SYNC packet, or this peer's id for its own
// clients, which get OnSynced).
type Item struct {
	Entry    *zab.Entry
	SyncTo   int64
	SyncData []byte
}

// command is a queued Submit or Forward.
type command struct {
	term  uint64
	items []Item
	// forward: a learner's REQUEST to the leader
	forward bool
	data    []byte
	auth    []proto.ID
	// revalidate: a session re-attach to check with the leader
	revalidate *revalidation
}

// revalidation is a Revalidate call waiting for the leader's answer.
type revalidation struct {
	session int64
	timeout int32 // ms, as the client negotiated it
	sent    time.Time
	result  chan revalidateResult // buffered: the answer never blocks the owner
}

type revalidateResult struct {
	valid bool
	err   error
}

// answer delivers the outcome (once: result has room for one).
func (rv *revalidation) answer(valid bool, err error) {
	select {
	case rv.result <- revalidateResult{valid: valid, err: err}:
	default:
	}
}

// proposal is a Propose call waiting on the owner goroutine.
type proposal struct {
	hdr    proto.TxnHeader
	txn    proto.Txn
	result chan proposeResult
}

type proposeResult struct {
	zxid int64
	err  error
}

// New validates cfg and registers the metrics; Run starts the member.
func New(cfg Config) (*Peer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("peer: register metrics: %w", err)
	}
	voters := 0
	for _, s := range cfg.Quorum.Servers {
		if s.Type != wire.Observer {
			voters++
		}
	}
	m.quorumSize.Set(float64(voters))
	return &Peer{
		cfg:       cfg,
		log:       cfg.Logger.With().Int64("myid", cfg.ID).Logger(),
		metrics:   m,
		proposeCh: make(chan *proposal),
		done:      make(chan struct{}),
		cmdWake:   make(chan struct{}, 1),
		snapChunk: snapshot.FuzzyChunk,
		status:    Status{ID: cfg.ID},
	}, nil
}

// Tree returns the data tree committed txns are applied to: one tree for
// the peer's life (a SNAP sync replaces its contents in place), nil before
// Restore. Readers take its read lock.
func (p *Peer) Tree() *datatree.Tree {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tree
}

// Status returns a summary of the member.
func (p *Peer) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.status
	s.Followers = slices.Clone(s.Followers)
	return s
}

// Propose replicates one txn (its header's Zxid is assigned here) and
// returns its zxid once a quorum logged it and this peer applied it to the
// tree. Leader of an established epoch only.
func (p *Peer) Propose(ctx context.Context, hdr proto.TxnHeader, txn proto.Txn) (int64, error) {
	if txn == nil {
		return 0, errors.New("peer: propose without a txn")
	}
	if st := p.Status(); st.State != Leading || !st.Established {
		return 0, ErrNotLeader
	}
	req := &proposal{hdr: hdr, txn: txn, result: make(chan proposeResult, 1)}
	select {
	case p.proposeCh <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-p.done:
		return 0, ErrStopped
	}
	select {
	case r := <-req.result:
		return r.zxid, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-p.done:
		return 0, ErrStopped
	}
}

// SetHooks replaces the hooks of the Config; call it before Run.
func (p *Peer) SetHooks(h Hooks) { p.cfg.Hooks = h }

// Restore opens the data directory and rebuilds the tree as of the newest
// snapshot (see the package doc), once; Run calls it if the caller did not.
// Call it before Run to get Tree and Sessions early.
func (p *Peer) Restore() error {
	p.restoreOnce.Do(func() {
		prealloc := p.cfg.PreAllocSize
		if prealloc == 0 {
			prealloc = txnlog.DefaultPreAllocSize
		}
		d, rs, err := openDisk(storage.Options{
			DataDir: p.cfg.DataDir, DataLogDir: p.cfg.DataLogDir, SnapCount: p.cfg.SnapCount,
			SnapCompression: p.cfg.SnapCompression, PreAllocSize: prealloc, ForceSync: !p.cfg.NoSync,
			FsyncWarningThreshold: p.cfg.FsyncWarningThreshold, Logger: p.log, Registerer: p.cfg.Registerer,
		}, p.cfg.TreeOptions)
		if err != nil {
			p.restoreErr = err
			return
		}
		p.d = d
		p.st = &state{tree: rs.tree, sessions: rs.sessions, applied: rs.applied}
		p.setTree(rs.tree)
	})
	return p.restoreErr
}

// Sessions returns the sessions of the restored snapshot (id -> timeout
// in ms). Call it after Restore and before Run.
func (p *Peer) Sessions() map[int64]int32 {
	if p.st == nil {
		return nil
	}
	out := make(map[int64]int32, len(p.st.sessions))
	for id, to := range p.st.sessions {
		out[id] = to
	}
	return out
}

// Submit queues a batch for the leader's core, in order: each Entry is
// proposed (its zxid must be the one the core assigns next, or the role
// ends: the caller's view of the log has diverged) and each sync is
// answered after what was proposed before it. term is Status.Term of the
// leadership the batch was prepared for; a batch for an earlier term is
// dropped (its clients lost their connections when that term ended).
// Results arrive through OnCommit and OnSynced, never through Submit.
func (p *Peer) Submit(term uint64, items []Item) {
	p.enqueue(command{term: term, items: items})
}

// Forward queues a client request (ZooKeeper's Learner.request layout:
// session id, cxid, op, request bytes) for the leader, with the client's
// identities. Learner only; dropped when term is over.
func (p *Peer) Forward(term uint64, data []byte, auth []proto.ID) {
	p.enqueue(command{term: term, forward: true, data: data, auth: auth})
}

// ErrRevalidateUnanswered is Revalidate's error when the role it asked in
// ended (or had already ended) before the leader answered.
var ErrRevalidateUnanswered = errors.New("peer: session revalidation not answered: the role ended")

// Revalidate asks the leader whether a global session is still valid, as a
// ZooKeeper learner does when a client re-attaches a session that this
// server does not own (Learner.validateSession: a REVALIDATE packet with
// the session id and timeout; the leader touches the session and answers
// whether it is valid). On the leader itself it answers from the committed
// sessions. term is the Status.Term the caller serves in. The answer is
// the leader's; ctx bounds the wait.
func (p *Peer) Revalidate(ctx context.Context, term uint64, sessionID int64, timeout time.Duration) (bool, error) {
	rv := &revalidation{session: sessionID, timeout: int32(timeout / time.Millisecond),
		result: make(chan revalidateResult, 1)}
	p.enqueue(command{term: term, revalidate: rv})
	select {
	case r := <-rv.result:
		return r.valid, r.err
	case <-ctx.Done():
		// A late answer is still counted when it arrives.
		return false, ctx.Err()
	}
}

func (p *Peer) enqueue(c command) {
	p.cmdMu.Lock()
	p.cmds = append(p.cmds, c)
	p.cmdMu.Unlock()
	select {
	case p.cmdWake <- struct{}{}:
	default:
	}
}

func (p *Peer) takeCommands() []command {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	c := p.cmds
	p.cmds = nil
	return c
}

// Run runs the member until ctx ends: restore, then elect and serve the
// elected role, again and again. It returns ctx's error, or the error that
// made continuing unsafe (the disk failed). Run may be called once.
func (p *Peer) Run(ctx context.Context) error {
	err := errors.New("peer: Run called twice")
	p.running.Do(func() { err = p.run(ctx) })
	return err
}

func (p *Peer) run(ctx context.Context) error {
	defer close(p.done)
	if err := p.Restore(); err != nil {
		return err
	}
	d, st := p.d, p.st
	defer func() { _ = d.close() }()
	p.log.Info().Str("applied", hex(st.applied)).Str("last", hex(d.LastZxid())).
		Int64("current_epoch", d.currentEpoch).Msg("restored")

	mgr, err := transport.New(transport.Config{ID: p.cfg.ID, Quorum: p.cfg.Quorum, Logger: p.log, Registerer: p.cfg.Registerer})
	if err != nil {
		return fmt.Errorf("peer: start election transport: %w", err)
	}
	defer func() { _ = mgr.Close() }()

	var lastLeader int64
	var term uint64
	for ctx.Err() == nil {
		term++
		p.setStatus(Status{Term: term, ID: p.cfg.ID, State: Looking, LastZxid: d.LastZxid(), CommittedZxid: st.applied, Epoch: d.currentEpoch})
		p.metrics.setRole(stateLooking)
		leader, _, err := mgr.RunElection(ctx, d.LastZxid(), d.currentEpoch)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.log.Warn().Err(err).Msg("election failed")
			sleepCtx(ctx, p.cfg.TickTime)
			continue
		}
		if lastLeader != 0 && leader != lastLeader {
			p.metrics.leaderChanges.Inc()
		}
		lastLeader = leader
		r := &role{p: p, d: d, st: st, leader: leader, term: term, onEstablished: mgr.UpdateElectionVote}
		err = r.run(ctx)
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if ctx.Err() != nil {
			break
		}
		reason := roleEndReason(err)
		p.metrics.roleEnds.WithLabelValues(reason).Inc()
		switch reason {
		case "unsafe":
			// A ZAB invariant broke: a bug somewhere in the ensemble.
			p.log.Error().Err(err).Int64("leader", leader).Msg("unsafe sync refused; back to election")
		case "quorum_lost":
			p.log.Warn().Err(err).Msg("quorum lost: no longer leading; back to election")
		default:
			p.log.Info().Err(err).Int64("leader", leader).Str("reason", reason).Msg("role ended; back to election")
		}
	}
	p.setStatus(Status{Term: term + 1, ID: p.cfg.ID, State: Looking})
	p.metrics.setRole(stateLooking)
	return ctx.Err()
}

// fatalError ends Run: the disk failed in the middle of a Ready, and the
// core's view of what is durable can no longer be trusted.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

func (p *Peer) setTree(t *datatree.Tree) {
	p.mu.Lock()
	p.tree = t
	p.mu.Unlock()
}

// setStatus publishes s and calls OnStatus when what servers act on
// changed. Owner goroutine only.
func (p *Peer) setStatus(s Status) {
	p.mu.Lock()
	old := p.status
	if s.Since = old.Since; old.Term != s.Term || old.State != s.State || s.Since.IsZero() {
		s.Since = time.Now()
	}
	p.status = s
	p.mu.Unlock()
	changed := old.Term != s.Term || old.State != s.State || old.Leader != s.Leader ||
		old.Epoch != s.Epoch || old.Established != s.Established
	if changed && p.cfg.OnStatus != nil {
		s.Followers = slices.Clone(s.Followers) // the owner refills its array later (role.publish)
		p.cfg.OnStatus(s)
	}
}

// maybePurge runs autopurge when it is due (owner goroutine). The first
// run is at start-up, as in ZooKeeper.
func (p *Peer) maybePurge(now time.Time) {
	if p.cfg.PurgeInterval <= 0 || now.Before(p.nextPurge) {
		return
	}
	p.nextPurge = now.Add(p.cfg.PurgeInterval)
	_, _ = p.d.store.Purge(max(p.cfg.SnapRetainCount, 3))
}

// dialSource is the local address to dial the leader from (see
// wire.QuorumServer.DialSource).
func (p *Peer) dialSource() net.Addr {
	for _, s := range p.cfg.Quorum.Servers {
		if s.ID == p.cfg.ID {
			return s.DialSource()
		}
	}
	return nil
}

// quorumAddr is where server id accepts learners.
func (p *Peer) quorumAddr(id int64) (string, error) {
	for _, s := range p.cfg.Quorum.Servers {
		if s.ID == id {
			a := s.Addrs[0]
			return net.JoinHostPort(a.Host, strconv.Itoa(a.QuorumPort)), nil
		}
	}
	return "", fmt.Errorf("peer: server %d is not in the quorum config", id)
}

func (p *Peer) zabConfig(applied int64) zab.Config {
	c := zab.Config{ID: p.cfg.ID, InitLimitTicks: p.cfg.InitLimit, SyncLimitTicks: p.cfg.SyncLimit, PingTicks: 1, Applied: applied}
	for _, s := range p.cfg.Quorum.Servers {
		if s.Type == wire.Observer {
			c.Observers = append(c.Observers, s.ID)
		} else {
			c.Voters = append(c.Voters, s.ID)
		}
	}
	return c
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func hex(v int64) string { return fmt.Sprintf("0x%x", uint64(v)) }

// ConfigData is what ZooKeeper publishes in /zookeeper/config: the server
// lines with client addresses, then version=<hex>.
func (p *Peer) ConfigData() []byte { return []byte(p.cfg.Quorum.String()) }

// Voters is the number of voting members (zk_quorum_size).
func (p *Peer) Voters() int {
	n := 0
	for _, s := range p.cfg.Quorum.Servers {
		if s.Type != wire.Observer {
			n++
		}
	}
	return n
}
