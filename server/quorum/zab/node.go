package zab

import (
	"errors"
	"fmt"
	"slices"

	"github.com/zkd-io/zkd/server/proto"
)

var (
	// ErrStopped is returned by calls on a peer that has stepped down.
	ErrStopped = errors.New("zab: peer has stepped down")
	// ErrNotLeading is returned by Propose and Sync on a peer that is not an
	// established leader.
	ErrNotLeading = errors.New("zab: not an established leader")
	// ErrUnsafe wraps step-down reasons that mean the other side broke a
	// ZAB invariant (for example a TRUNC below what this peer applied).
	// Seeing one in production means a bug; the simulator fails on it.
	ErrUnsafe = errors.New("zab: unsafe request refused")
	// ErrQuorumLost is the step-down reason of a leader that no longer
	// hears from a quorum of synced followers within syncLimit.
	ErrQuorumLost = errors.New("zab: leader lost its quorum")
	// ErrLeaderSilent is the step-down reason of a learner that did not
	// hear from its leader within initLimit (discovery, sync) or syncLimit.
	ErrLeaderSilent = errors.New("zab: leader silent")
	// ErrNotEstablished is the step-down reason of a leader whose epoch
	// did not complete synchronization within initLimit.
	ErrNotEstablished = errors.New("zab: epoch not established in time")
)

// handlerState is where the leader is with one learner.
type handlerState int

const (
	hsInfo          handlerState = iota + 1 // FOLLOWERINFO received, epoch not decided
	hsEpochSent                             // LEADERINFO sent, awaiting ACKEPOCH
	hsEpochAcked                            // ACKEPOCH received, awaiting the sync phase
	hsNewLeaderSent                         // sync and NEWLEADER sent, forwarding
	hsSynced                                // NEWLEADER acked: counts for quorums
)

// handler is the leader's view of one learner connection (LearnerHandler).
type handler struct {
	id        int64
	observer  bool
	state     handlerState
	accepted  int64 // acceptedEpoch from FOLLOWERINFO
	peerLast  int64 // from ACKEPOCH
	peerEpoch int64 // currentEpoch from ACKEPOCH (EpochAlreadyAccepted: not counted for discovery)
	acked     int64 // newest proposal zxid acked
	heard     int   // tick of the last message from it
	since     int   // tick it entered its state
	upToDate  bool
}

// proposal is an outstanding (uncommitted) proposal of the leader.
type proposal struct {
	e    Entry
	acks []int64 // voters (leader excluded) that logged it, each once
	tick int
	// ackBuf backs acks for ensembles of up to 9 voters, so that a
	// proposal costs one allocation, not a map's several.
	ackBuf [8]int64
}

// newProposal returns an outstanding proposal of e, made at tick.
func newProposal(e Entry, tick int) *proposal {
	p := &proposal{e: e, tick: tick}
	p.acks = p.ackBuf[:0]
	return p
}

// ack records that voter id logged the proposal.
func (p *proposal) ack(id int64) {
	if !slices.Contains(p.acks, id) {
		p.acks = append(p.acks, id)
	}
}

type pendingSync struct {
	after int64 // deliver once this zxid is committed
	to    int64
	data  []byte
}

// learnerSync collects what a learner receives between DIFF/TRUNC/SNAP and
// NEWLEADER; none of it touches the disk before NEWLEADER.
type learnerSync struct {
	kind     SyncKind
	truncate *int64
	snap     *SnapshotReq
	entries  []Entry
	last     int64 // zxid the learner's log will end at
}

// Node is one peer's ZAB state machine. It is not safe for concurrent use.
type Node struct {
	cfg Config
	// learners lists the other peers in a fixed order, so that the core's
	// output never depends on map iteration order. The membership is fixed
	// for a Node's life, so it is made once (the leader walks it for every
	// proposal and commit); nothing may modify it.
	learners []int64
	st       Storage
	role     Role
	phase    Phase
	leader   int64

	tick    int
	stopped bool
	pending Ready

	acceptedEpoch, currentEpoch     int64
	acceptedDurable, currentDurable bool
	lastLogged                      int64 // last txn handed out in Append (or the log's end)
	durableZxid                     int64 // last txn the caller made durable
	applied                         int64 // last txn handed out in Commit
	tail                            []Entry
	epoch                           int64 // epoch being established or led; 0 = undecided

	// leader
	startEpoch, startLast int64 // (currentEpoch, lastZxid) at New
	phaseStart            int
	handlers              map[int64]*handler
	hist                  []Entry // recent committed history (plus the initial tail)
	histBase              int64   // zxid right before hist[0]
	outstanding           []*proposal
	// A carried-out batch's arrays, for the next batch (recycle).
	spareMessages            []Message
	spareAppend, spareCommit []Entry
	syncs                    []pendingSync
	lastPing                 int
	// snapQueued holds back commits while a SNAP sits in the pending Ready:
	// the edge snapshots the tree after applying that Ready's Commit, which
	// must then end exactly at the SNAP's zxid.
	snapQueued bool

	// learner
	heard       int
	ackedEpoch  bool
	ls          *learnerSync
	gotNewLead  bool
	commitKnown int64
}

// New starts a peer in the role an election gave it: leader if leader ==
// cfg.ID, else follower or observer as cfg says. Invalid configuration or
// unreadable storage yields a peer that is already stopped, with the reason
// in its first Ready's StepDown.
func New(cfg Config, st Storage, leader int64) *Node {
	if cfg.CommitLogCount == 0 {
		cfg.CommitLogCount = DefaultCommitLogCount
	}
	n := &Node{cfg: cfg, st: st, leader: leader, phase: Discovery, handlers: map[int64]*handler{}}
	n.learners = otherPeers(cfg)
	if err := cfg.validate(); err != nil {
		n.stepDown(err)
		return n
	}
	switch {
	case leader == cfg.ID:
		n.role = Leader
	case slices.Contains(cfg.Observers, cfg.ID):
		n.role = Observer
	default:
		n.role = Follower
	}
	if leader != cfg.ID && !slices.Contains(cfg.Voters, leader) {
		n.stepDown(fmt.Errorf("zab: leader %d is not a voter", leader))
		return n
	}
	n.acceptedEpoch, n.currentEpoch = st.AcceptedEpoch(), st.CurrentEpoch()
	n.acceptedDurable, n.currentDurable = true, true
	n.lastLogged = st.LastZxid()
	n.durableZxid = n.lastLogged
	n.applied = cfg.Applied
	if n.applied > n.lastLogged {
		n.stepDown(fmt.Errorf("zab: applied zxid %#x is beyond the last logged zxid %#x", n.applied, n.lastLogged))
		return n
	}
	if n.applied < n.lastLogged {
		tail, err := st.Entries(n.applied+1, n.lastLogged)
		if err != nil {
			n.stepDown(fmt.Errorf("zab: reading unapplied log tail: %w", err))
			return n
		}
		if len(tail) == 0 || tail[len(tail)-1].Zxid() != n.lastLogged {
			n.stepDown(fmt.Errorf("zab: log after applied zxid %#x does not reach last zxid %#x", n.applied, n.lastLogged))
			return n
		}
		n.tail = tail
	}
	n.commitKnown = n.applied
	if n.role == Leader {
		n.startEpoch, n.startLast = n.currentEpoch, n.lastLogged
		n.hist = slices.Clone(n.tail)
		n.histBase = n.applied
		n.leaderProgress()
		return n
	}
	typ := MsgFollowerInfo
	if n.role == Observer {
		typ = MsgObserverInfo
	}
	n.send(Message{Type: typ, To: leader, Zxid: makeZxid(n.acceptedEpoch, 0)})
	return n
}

// Status summarizes the peer.
func (n *Node) Status() Status {
	var s Status
	n.StatusInto(&s)
	return s
}

// StatusInto is Status written into s, whose SyncedFollowers array it
// reuses: the edge refreshes its status after every batch, and a new
// array each time would be garbage per write.
func (n *Node) StatusInto(s *Status) {
	*s = Status{ID: n.cfg.ID, Role: n.role, Phase: n.phase, Leader: n.leader, Epoch: n.epoch,
		LastZxid: n.lastLogged, CommittedZxid: n.applied, Stopped: n.stopped, SyncedFollowers: s.SyncedFollowers[:0]}
	for _, id := range n.cfg.Voters {
		if h := n.handlers[id]; h != nil && h.state == hsSynced {
			s.SyncedFollowers = append(s.SyncedFollowers, id)
		}
	}
	for _, ps := range n.syncs {
		if ps.to != n.cfg.ID {
			s.PendingSyncs++
		}
	}
}

// HasReady reports whether Ready would return work.
func (n *Node) HasReady() bool { return !n.pending.Empty() }

// Ready returns the accumulated work and starts a new batch. The caller
// must carry it out as Ready's doc says and then call Advance.
func (n *Node) Ready() Ready {
	rd := n.pending
	n.pending = Ready{}
	n.snapQueued = false
	return rd
}

// maxBatchReuse bounds the arrays kept for later batches (recycle):
// after a sync's long DIFF, the next batch is a broadcast one again, and
// an array that held a whole DIFF is not worth keeping for it.
const maxBatchReuse = 1024

// appendRecycled appends v to a pending batch's slice s, which starts
// from the spare array when it is nil.
func appendRecycled[E any](s []E, spare *[]E, v E) []E {
	if s == nil {
		s, *spare = *spare, nil
	}
	return append(s, v)
}

// Advance tells the core that rd's durable writes are done and its messages
// sent. Leader votes that depend on its own disk (its epoch acks, its ACK
// of its own proposals) count only from here. The core takes back rd's
// Messages, Append and Commit arrays to hold later batches: the caller must
// be done with them (the entries they hold may be kept).
func (n *Node) Advance(rd Ready) {
	if rd.SetAcceptedEpoch != nil && *rd.SetAcceptedEpoch == n.acceptedEpoch {
		n.acceptedDurable = true
	}
	if rd.SetCurrentEpoch != nil && *rd.SetCurrentEpoch == n.currentEpoch {
		n.currentDurable = true
	}
	if len(rd.Append) > 0 {
		n.durableZxid = max(n.durableZxid, rd.Append[len(rd.Append)-1].Zxid())
	}
	// rd is read; recycling clears its arrays. Before the commits below,
	// so that they can fill the arrays given back.
	recycle(&n.spareMessages, rd.Messages, n.pending.Messages)
	recycle(&n.spareAppend, rd.Append, n.pending.Append)
	recycle(&n.spareCommit, rd.Commit, n.pending.Commit)
	if n.stopped || n.role != Leader {
		return
	}
	n.leaderProgress()
	n.tryCommit()
}

// recycle keeps the array s of a carried-out batch as spare, for the next
// batch: a busy leader sends a PROPOSAL and a COMMIT per follower, logs and
// applies every write, and allocating those arrays anew was the largest
// part of the core's garbage. The largest array seen is kept, up to
// maxBatchReuse elements. pending is the same slice of the batch being
// built.
func recycle[E any](spare *[]E, s, pending []E) {
	if cap(s) <= cap(*spare) || cap(s) > maxBatchReuse {
		return
	}
	if cap(pending) > 0 && &pending[:1][0] == &s[:1][0] {
		return // Advance of a batch still pending: not the caller's to give back
	}
	clear(s) // the entries and data they point to are not the core's to keep
	*spare = s[:0]
}

// Tick advances the peer's logical clock by one tick.
func (n *Node) Tick() {
	if n.stopped {
		return
	}
	n.tick++
	if n.role == Leader {
		n.leaderTick()
		return
	}
	limit := n.cfg.InitLimitTicks
	if n.phase == Broadcast {
		limit = n.cfg.SyncLimitTicks
	}
	if n.tick-n.heard > limit {
		n.stepDown(fmt.Errorf("%w: leader %d silent for %d ticks in %v", ErrLeaderSilent, n.leader, n.tick-n.heard, n.phase))
	}
}

// Step feeds one message received from a peer. Malformed messages are
// rejected with an error and change nothing; protocol violations make the
// peer step down (see Ready.StepDown).
func (n *Node) Step(m Message) error {
	if n.stopped {
		return ErrStopped
	}
	if m.To != n.cfg.ID {
		return fmt.Errorf("zab: %v addressed to %d delivered to %d", m, m.To, n.cfg.ID)
	}
	if err := checkPayload(m); err != nil {
		return err
	}
	if n.role == Leader {
		return n.leaderStep(m)
	}
	if m.From != n.leader {
		return fmt.Errorf("zab: %v from %d, who is not the leader %d", m, m.From, n.leader)
	}
	n.heard = n.tick
	return n.learnerStep(m)
}

func checkPayload(m Message) error {
	switch m.Type {
	case MsgProposal, MsgInform:
		if m.Entry == nil || m.Entry.Txn == nil {
			return fmt.Errorf("zab: %v without a txn", m)
		}
		if m.Entry.Zxid() != m.Zxid {
			return fmt.Errorf("zab: %v carries txn zxid %#x", m, m.Entry.Zxid())
		}
	case MsgSnap:
		if m.Snapshot == nil {
			return fmt.Errorf("zab: %v without a snapshot", m)
		}
	case MsgRequest, MsgAck, MsgCommit, MsgPing, MsgSync, MsgNewLeader, MsgFollowerInfo,
		MsgUpToDate, MsgDiff, MsgTrunc, MsgObserverInfo, MsgLeaderInfo, MsgAckEpoch:
	default:
		return fmt.Errorf("zab: unknown message type %v from %d", m.Type, m.From)
	}
	return nil
}

// Propose assigns the next zxid to a txn and broadcasts it. Leader in
// Broadcast only.
func (n *Node) Propose(hdr proto.TxnHeader, txn proto.Txn) (int64, error) {
	return n.ProposeEntry(Entry{Hdr: hdr, Txn: txn})
}

// ProposeEntry is Propose for a whole entry: its digest travels with it.
// The zxid in e.Hdr is replaced by the one assigned.
func (n *Node) ProposeEntry(e Entry) (int64, error) {
	hdr, txn := e.Hdr, e.Txn
	if n.stopped {
		return 0, ErrStopped
	}
	if n.role != Leader || n.phase != Broadcast {
		return 0, ErrNotLeading
	}
	if txn == nil {
		return 0, fmt.Errorf("zab: propose without a txn")
	}
	var counter int64
	if epochOf(n.lastLogged) == n.epoch {
		counter = counterOf(n.lastLogged)
	}
	if counter >= 0xffffffff {
		// ZooKeeper forces a new election when the counter would wrap.
		err := fmt.Errorf("zab: zxid counter exhausted in epoch %d", n.epoch)
		n.stepDown(err)
		return 0, err
	}
	hdr.Zxid = makeZxid(n.epoch, counter+1)
	e.Hdr = hdr
	n.lastLogged = hdr.Zxid
	n.pending.Append = appendRecycled(n.pending.Append, &n.spareAppend, e)
	p := newProposal(e, n.tick)
	n.outstanding = append(n.outstanding, p)
	for _, id := range n.learners {
		if h := n.handlers[id]; h != nil && !h.observer && h.state >= hsNewLeaderSent {
			n.send(Message{Type: MsgProposal, To: id, Zxid: hdr.Zxid, Entry: &p.e})
		}
	}
	return hdr.Zxid, nil
}

// Sync answers a client's sync (forwarded by learner to, or local when to
// is this peer) once every txn proposed so far is committed. Leader only.
func (n *Node) Sync(to int64, data []byte) error {
	if n.stopped {
		return ErrStopped
	}
	if n.role != Leader || n.phase != Broadcast {
		return ErrNotLeading
	}
	if len(n.outstanding) == 0 {
		n.deliverSync(pendingSync{to: to, data: data})
		return nil
	}
	n.syncs = append(n.syncs, pendingSync{after: n.outstanding[len(n.outstanding)-1].e.Zxid(), to: to, data: data})
	return nil
}

// Forward sends a client write (or sync) to the leader as a REQUEST, with
// the client's identities. Learner in Broadcast only.
func (n *Node) Forward(data []byte, auth []proto.ID) error {
	if n.stopped {
		return ErrStopped
	}
	if n.role == Leader || n.phase != Broadcast {
		return fmt.Errorf("zab: forward needs a learner in broadcast, this is a %v in %v", n.role, n.phase)
	}
	n.send(Message{Type: MsgRequest, To: n.leader, Zxid: -1, Data: data, Auth: auth})
	return nil
}

func (n *Node) send(m Message) {
	m.From = n.cfg.ID
	n.pending.Messages = appendRecycled(n.pending.Messages, &n.spareMessages, m)
}

func (n *Node) stepDown(err error) {
	if n.stopped {
		return
	}
	n.stopped = true
	n.pending.StepDown = err
	n.pending.Messages = nil // the connections are going away
	n.pending.Requests = nil
	n.pending.Synced = nil
}

func (n *Node) isVoter(id int64) bool { return slices.Contains(n.cfg.Voters, id) }

// isQuorum reports whether ids (plus the leader itself if self) form a
// majority of the voters.
func (n *Node) isQuorum(self bool, ids []int64) bool {
	c := 0
	if self {
		c++
	}
	for _, id := range ids {
		if id != n.cfg.ID && n.isVoter(id) {
			c++
		}
	}
	return 2*c > len(n.cfg.Voters)
}

// otherPeers is every voter and observer of cfg but cfg.ID, sorted.
func otherPeers(cfg Config) []int64 {
	ids := make([]int64, 0, len(cfg.Voters)+len(cfg.Observers))
	for _, id := range slices.Concat(cfg.Voters, cfg.Observers) {
		if id != cfg.ID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// commitUpTo hands out, in order, the logged txns up to zxid for applying.
func (n *Node) commitUpTo(zxid int64) {
	i := 0
	for ; i < len(n.tail) && n.tail[i].Zxid() <= zxid; i++ {
		n.pending.Commit = appendRecycled(n.pending.Commit, &n.spareCommit, n.tail[i])
		n.applied = n.tail[i].Zxid()
	}
	n.tail = n.tail[i:]
}
