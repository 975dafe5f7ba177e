// Package election implements ZooKeeper's fast leader election (FLE) as a
// deterministic state machine.
//
// The algorithm follows Apache ZooKeeper 3.8 FastLeaderElection.lookForLeader
// together with the reply rules of its Messenger.WorkerReceiver. Unlike the
// Java implementation, which runs two threads and polls a queue with
// timeouts, an Election has no goroutines, clocks, sockets or randomness: the
// caller feeds it notifications (Step) and ticks (Tick) and sends the Messages
// it returns. A seeded simulator can therefore replay any schedule exactly.
//
// A tick is the caller's unit of time. The defaults assume a 10 ms tick, so
// that FinalizeWaitTicks and the notification back-off match ZooKeeper's
// finalizeWait (200 ms) and minNotificationInterval/maxNotificationInterval
// (200 ms doubling to 60 s).
//
// Notifications addressed to this peer itself (ZooKeeper loops them back
// through QuorumCnxManager) are delivered internally and never returned.
package election

import (
	"fmt"
	"slices"
	"time"
)

// State is a peer's server state as carried in a notification. The numeric
// values are the wire values of QuorumPeer.ServerState.
type State int32

const (
	Looking   State = 0
	Following State = 1
	Leading   State = 2
	Observing State = 3
)

func (s State) String() string {
	switch s {
	case Looking:
		return "LOOKING"
	case Following:
		return "FOLLOWING"
	case Leading:
		return "LEADING"
	case Observing:
		return "OBSERVING"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

func (s State) valid() bool { return s >= Looking && s <= Observing }

// CurrentVersion is the notification format version this package emits
// (FastLeaderElection.Notification.CURRENTVERSION).
const CurrentVersion = 0x2

// DefaultTick is the tick length the Default*Ticks values are computed for.
const DefaultTick = 10 * time.Millisecond

// Defaults matching ZooKeeper 3.8 at DefaultTick.
const (
	DefaultFinalizeWaitTicks    = 20   // finalizeWait = 200 ms
	DefaultMinNotificationTicks = 20   // zookeeper.fastleader.minNotificationInterval = 200 ms
	DefaultMaxNotificationTicks = 6000 // zookeeper.fastleader.maxNotificationInterval = 60 s
)

// Notification mirrors the fields of an FLE notification. A wire adapter maps
// it to and from the byte layout (state, leader, zxid, electionEpoch,
// peerEpoch, version, config).
type Notification struct {
	State         State // sender's state
	Leader        int64 // proposed (or followed) leader sid
	Zxid          int64 // proposed leader's last logged zxid
	ElectionEpoch int64 // sender's logical clock (election round)
	PeerEpoch     int64 // proposed leader's epoch
	// Version is the notification format version: 0 for pre-3.4.6 peers
	// (28- and 40-byte messages), 1 or 2 otherwise. It matters when
	// comparing votes of peers out of election (ZOOKEEPER-1732).
	Version int32
	// ConfigVersion is the version of the sender's quorum configuration.
	// It is carried for the adapter; dynamic reconfiguration is not
	// interpreted here.
	ConfigVersion int64
}

// Message is a notification to send to peer To.
type Message struct {
	To int64
	N  Notification
}

// Vote is a vote as kept by the election: what a peer proposes or follows.
type Vote struct {
	Leader        int64
	Zxid          int64
	ElectionEpoch int64
	PeerEpoch     int64
	State         State
	Version       int32
}

// equal reports whether two votes count as the same vote, with the rules of
// ZooKeeper's Vote.equals: while either side is LOOKING all of leader, zxid,
// electionEpoch and peerEpoch must match; for peers out of election the zxid
// and electionEpoch may legitimately differ (ZOOKEEPER-1805), and peerEpoch is
// skipped when exactly one side predates format version 1 (ZOOKEEPER-1732).
func (v Vote) equal(o Vote) bool {
	if v.State == Looking || o.State == Looking {
		return v.Leader == o.Leader && v.Zxid == o.Zxid &&
			v.ElectionEpoch == o.ElectionEpoch && v.PeerEpoch == o.PeerEpoch
	}
	if (v.Version > 0) != (o.Version > 0) {
		return v.Leader == o.Leader
	}
	return v.Leader == o.Leader && v.PeerEpoch == o.PeerEpoch
}

// Config configures one peer's election.
type Config struct {
	ID        int64
	Voters    []int64 // participants; a quorum is a strict majority of them
	Observers []int64 // non-voting members; they learn the leader only
	// Weights optionally gives hierarchical-quorum weights. A candidate of
	// weight 0 never wins the vote order. Absent ids weigh 1 (QuorumMaj).
	// The quorum itself is always a majority of Voters.
	Weights map[int64]int64

	FinalizeWaitTicks    int // wait for a better vote once a quorum agrees
	MinNotificationTicks int // first idle timeout before re-sending
	MaxNotificationTicks int // cap of the doubling idle timeout
	// ConfigVersion is stamped on outgoing notifications.
	ConfigVersion int64
}

// Validate reports the first problem with c, if any. New does not fail on a
// bad config (it treats an unknown ID as a non-voter, like ZooKeeper), so
// callers should validate configuration they read from users.
func (c Config) Validate() error {
	if len(c.Voters) == 0 {
		return fmt.Errorf("election config: no voters")
	}
	seen := make(map[int64]string, len(c.Voters)+len(c.Observers))
	for _, id := range c.Voters {
		if seen[id] != "" {
			return fmt.Errorf("election config: voter %d listed twice", id)
		}
		seen[id] = "voter"
	}
	for _, id := range c.Observers {
		if seen[id] != "" {
			return fmt.Errorf("election config: observer %d is already a %s", id, seen[id])
		}
		seen[id] = "observer"
	}
	if seen[c.ID] == "" {
		return fmt.Errorf("election config: own id %d is neither a voter nor an observer", c.ID)
	}
	for id, w := range c.Weights {
		if w < 0 {
			return fmt.Errorf("election config: negative weight %d for server %d", w, id)
		}
	}
	if c.FinalizeWaitTicks < 0 || c.MinNotificationTicks < 0 || c.MaxNotificationTicks < 0 {
		return fmt.Errorf("election config: negative tick count (finalize %d, min %d, max %d)",
			c.FinalizeWaitTicks, c.MinNotificationTicks, c.MaxNotificationTicks)
	}
	if c.MaxNotificationTicks != 0 && c.MinNotificationTicks > c.MaxNotificationTicks {
		return fmt.Errorf("election config: min notification interval %d exceeds max %d",
			c.MinNotificationTicks, c.MaxNotificationTicks)
	}
	return nil
}

// Decision describes how an election ended.
type Decision struct {
	Vote  Vote  // the end vote (ElectionEpoch is the deciding round)
	State State // LEADING, FOLLOWING or OBSERVING
	// Quorum lists the voters whose matching votes decided the election,
	// in ascending order (ZooKeeper hands this set to a new leader).
	Quorum []int64
	// Votes holds the counted vote of each Quorum member, in the same
	// order. A LOOKING round may count FOLLOWING/LEADING votes too.
	Votes []Vote
	// Joined is true when the peer joined an established ensemble, i.e.
	// decided on FOLLOWING/LEADING notifications rather than LOOKING votes.
	Joined bool
}

// Election is one peer's fast leader election. It is not safe for concurrent
// use; the caller serialises Start, Step and Tick.
type Election struct {
	cfg       Config
	voters    map[int64]bool
	isVoter   bool
	lastZxid  int64
	curEpoch  int64
	clock     int64 // logicalclock; survives rounds, not restarts
	proposal  Vote  // proposedLeader/Zxid/Epoch (State Looking)
	current   Vote  // QuorumPeer.currentVote: last end vote or initial vote
	state     State // QuorumPeer state
	started   bool  // lookForLeader is running or has ended
	decision  Decision
	recvset   map[int64]Vote
	outofelec map[int64]Vote

	notTimeout   int // current idle timeout
	idle         int // ticks since the last notification was queued
	finalizing   bool
	finalizeLeft int

	pending []inbound // notifications queued before Start
	self    []Notification
	out     []Message
}

type inbound struct {
	from int64
	n    Notification
}

// New returns an election for the peer cfg.ID whose last logged zxid and
// current epoch are given. It is LOOKING but idle until Start. Zero tick
// settings take the defaults.
func New(cfg Config, lastZxid, currentEpoch int64) *Election {
	if cfg.FinalizeWaitTicks <= 0 {
		cfg.FinalizeWaitTicks = DefaultFinalizeWaitTicks
	}
	if cfg.MinNotificationTicks <= 0 {
		cfg.MinNotificationTicks = DefaultMinNotificationTicks
	}
	if cfg.MaxNotificationTicks <= 0 {
		cfg.MaxNotificationTicks = max(DefaultMaxNotificationTicks, cfg.MinNotificationTicks)
	}
	e := &Election{
		cfg:      cfg,
		voters:   make(map[int64]bool, len(cfg.Voters)),
		lastZxid: lastZxid,
		curEpoch: currentEpoch,
		state:    Looking,
	}
	for _, id := range cfg.Voters {
		e.voters[id] = true
	}
	e.isVoter = e.voters[cfg.ID]
	// QuorumPeer.startLeaderElection: the initial current vote.
	e.current = Vote{Leader: cfg.ID, Zxid: lastZxid, ElectionEpoch: -1, PeerEpoch: currentEpoch, State: Looking}
	e.proposal = Vote{Leader: -1, Zxid: -1, State: Looking}
	return e
}

// SetLastLogged updates the log position used for this peer's own vote in
// the next round (after it has followed or led, its log has moved on).
func (e *Election) SetLastLogged(lastZxid, currentEpoch int64) {
	e.lastZxid, e.curEpoch = lastZxid, currentEpoch
}

// Start begins a new round (lookForLeader): it increments the logical
// clock, votes for this peer (an observer proposes nobody) and broadcasts the
// vote to all voters. Notifications received before the first Start are
// processed now, as ZooKeeper's receive queue would hold them.
func (e *Election) Start() []Message {
	e.state = Looking
	e.started = true
	e.decision = Decision{}
	e.recvset = make(map[int64]Vote)
	e.outofelec = make(map[int64]Vote)
	e.notTimeout = e.cfg.MinNotificationTicks
	e.idle = 0
	e.finalizing = false
	e.clock++
	e.proposal = e.initVote()
	e.sendNotifications()
	pending := e.pending
	e.pending = nil
	for _, in := range pending {
		if e.state != Looking {
			break // leaveInstance clears the queue
		}
		e.lookForLeaderStep(in.from, in.n)
	}
	return e.flush()
}

// Step handles a notification from peer from and returns the messages to
// send: an immediate reply where ZooKeeper's receiver sends one, plus any
// re-broadcast caused by a changed vote.
func (e *Election) Step(from int64, n Notification) []Message {
	e.receiveOne(from, n)
	return e.flush()
}

// Tick advances time by one tick: it completes a finalize wait that saw no
// better vote, or re-sends the vote when nothing arrived for the current
// notification timeout, doubling that timeout up to the maximum.
func (e *Election) Tick() []Message {
	if !e.started || e.state != Looking {
		return nil
	}
	if e.finalizing {
		e.finalizeLeft--
		if e.finalizeLeft <= 0 {
			e.finalizing = false
			e.decide(e.proposal.Leader, e.proposal.withClock(e.clock), e.recvset, false)
		}
		return e.flush()
	}
	e.idle++
	if e.idle >= e.notTimeout {
		e.idle = 0
		// ZooKeeper re-sends only if its connection manager has delivered
		// something, otherwise it reconnects; connections are the
		// transport's business here, so re-send.
		e.sendNotifications()
		e.notTimeout = min(e.notTimeout*2, e.cfg.MaxNotificationTicks)
	}
	return e.flush()
}

// Result reports the elected leader and this peer's resulting state once
// decided. Before that it returns the current proposal and LOOKING.
func (e *Election) Result() (leader int64, state State, decided bool) {
	if e.state == Looking {
		return e.proposal.Leader, Looking, false
	}
	return e.decision.Vote.Leader, e.state, true
}

// Decision returns details of the last decision, if the peer has decided.
func (e *Election) Decision() (Decision, bool) {
	if e.state == Looking {
		return Decision{}, false
	}
	d := e.decision
	d.Quorum = slices.Clone(d.Quorum)
	d.Votes = slices.Clone(d.Votes)
	return d, true
}

// Round returns the logical clock (the election round).
func (e *Election) Round() int64 { return e.clock }

// VotesReceived returns how many voters' votes are held for the current round.
func (e *Election) VotesReceived() int { return len(e.recvset) }

// Proposal returns the vote this peer currently proposes.
func (e *Election) Proposal() Vote { return e.proposal.withClock(e.clock) }

// CurrentVote returns the peer's current vote as served to others once it
// has decided (QuorumPeer.getCurrentVote).
func (e *Election) CurrentVote() Vote { return e.current }

// UpdateEpoch sets the peerEpoch of the vote a decided peer answers
// LOOKING peers with to the epoch it has since established, as
// QuorumPeer.updateElectionVote does (Leader.startZkServer,
// Learner.syncWithLeader; ZOOKEEPER-1732). Without it a late peer hears
// different peerEpochs from members that did and did not update, and out
// of its round Vote.equals finds no quorum. No-op while LOOKING.
func (e *Election) UpdateEpoch(epoch int64) {
	if e.state == Looking {
		return
	}
	e.current.PeerEpoch = epoch
}

// NotificationTimeout returns the current idle timeout in ticks.
func (e *Election) NotificationTimeout() int { return e.notTimeout }

func (v Vote) withClock(clock int64) Vote {
	v.ElectionEpoch = clock
	v.State = Looking
	return v
}

// initVote is the vote a peer starts a round with: getInitId,
// getInitLastLoggedZxid and getPeerEpoch. A non-voter proposes nobody.
func (e *Election) initVote() Vote {
	if !e.isVoter {
		return Vote{Leader: minInt64, Zxid: minInt64, PeerEpoch: minInt64, State: Looking}
	}
	return Vote{Leader: e.cfg.ID, Zxid: e.lastZxid, PeerEpoch: e.curEpoch, State: Looking}
}

const minInt64 = -1 << 63

func (e *Election) learningState() State {
	if e.isVoter {
		return Following
	}
	return Observing
}

func (e *Election) weight(id int64) int64 {
	if w, ok := e.cfg.Weights[id]; ok {
		return w
	}
	return 1
}

// totalOrderPredicate reports whether the vote (newID, newZxid, newEpoch)
// beats (curID, curZxid, curEpoch): a zero-weight candidate never wins;
// otherwise a higher peer epoch, then a higher zxid, then a higher sid wins.
func (e *Election) totalOrderPredicate(newID, newZxid, newEpoch, curID, curZxid, curEpoch int64) bool {
	if e.weight(newID) == 0 {
		return false
	}
	return newEpoch > curEpoch ||
		(newEpoch == curEpoch && (newZxid > curZxid || (newZxid == curZxid && newID > curID)))
}

func (e *Election) beats(n Notification, v Vote) bool {
	return e.totalOrderPredicate(n.Leader, n.Zxid, n.PeerEpoch, v.Leader, v.Zxid, v.PeerEpoch)
}

// ackers returns the voters in votes whose vote equals v, in ascending order
// (SyncedLearnerTracker.addAck only counts voting members).
func (e *Election) ackers(votes map[int64]Vote, v Vote) []int64 {
	var ids []int64
	for sid, got := range votes {
		if e.voters[sid] && v.equal(got) {
			ids = append(ids, sid)
		}
	}
	slices.Sort(ids)
	return ids
}

// hasQuorum is QuorumMaj.containsQuorum: strictly more than half the voters.
func (e *Election) hasQuorum(ids []int64) bool { return len(ids) > len(e.cfg.Voters)/2 }

// checkLeader guards against electing a peer that has crashed: unless this
// peer is the named leader, the leader itself must have said it is LEADING;
// if this peer is the named leader, the votes must be from its own round
// (ZOOKEEPER-1514: an old round's FOLLOWING notices must not make it lead).
func (e *Election) checkLeader(votes map[int64]Vote, leader, electionEpoch int64) bool {
	if leader != e.cfg.ID {
		v, ok := votes[leader]
		return ok && v.State == Leading
	}
	return e.clock == electionEpoch
}

// receiveOne is Messenger.WorkerReceiver followed, while LOOKING, by one
// iteration of lookForLeader on the queued notification.
func (e *Election) receiveOne(from int64, n Notification) {
	// A non-voter (observer) gets our current vote right away; its
	// notification is not considered.
	if !e.voters[from] {
		e.send(from, e.reply(e.current, e.clock))
		return
	}
	if !n.State.valid() {
		return
	}
	if e.state == Looking {
		// Answer a LOOKING peer that is behind our round with our
		// proposal so it catches up.
		if n.State == Looking && n.ElectionEpoch < e.clock {
			e.send(from, e.reply(e.proposal, e.clock))
		}
		if !e.started {
			e.pending = append(e.pending, inbound{from, n})
			return
		}
		e.lookForLeaderStep(from, n)
		return
	}
	// Decided: tell a LOOKING peer whom we follow or that we lead.
	if n.State == Looking {
		e.send(from, e.reply(e.current, e.current.ElectionEpoch))
	}
}

func (e *Election) reply(v Vote, electionEpoch int64) Notification {
	return Notification{
		State:         e.state,
		Leader:        v.Leader,
		Zxid:          v.Zxid,
		ElectionEpoch: electionEpoch,
		PeerEpoch:     v.PeerEpoch,
		Version:       CurrentVersion,
		ConfigVersion: e.cfg.ConfigVersion,
	}
}

// lookForLeaderStep processes one notification taken from the receive queue.
func (e *Election) lookForLeaderStep(from int64, n Notification) {
	e.idle = 0 // the poll returned a notification
	if e.finalizing {
		// Waiting finalizeWait for a better vote: anything else is
		// consumed and discarded, and the wait starts over.
		if !e.beats(n, e.proposal) {
			e.finalizeLeft = e.cfg.FinalizeWaitTicks
			return
		}
		e.finalizing = false
	}
	if !e.voters[from] || !e.voters[n.Leader] {
		return
	}
	switch n.State {
	case Looking:
		if e.initVote().Zxid == -1 || n.Zxid == -1 {
			return // a peer with an unreadable log takes no part
		}
		switch {
		case n.ElectionEpoch > e.clock:
			e.clock = n.ElectionEpoch
			clear(e.recvset)
			init := e.initVote()
			if e.beats(n, init) {
				e.proposal = Vote{Leader: n.Leader, Zxid: n.Zxid, PeerEpoch: n.PeerEpoch, State: Looking}
			} else {
				e.proposal = init
			}
			e.sendNotifications()
		case n.ElectionEpoch < e.clock:
			return
		case e.beats(n, e.proposal):
			e.proposal = Vote{Leader: n.Leader, Zxid: n.Zxid, PeerEpoch: n.PeerEpoch, State: Looking}
			e.sendNotifications()
		}
		e.recvset[from] = Vote{Leader: n.Leader, Zxid: n.Zxid, ElectionEpoch: n.ElectionEpoch, PeerEpoch: n.PeerEpoch, State: Looking}
		if e.hasQuorum(e.ackers(e.recvset, e.proposal.withClock(e.clock))) {
			e.finalizing = true
			e.finalizeLeft = e.cfg.FinalizeWaitTicks
		}
	case Observing:
		// Observers never vote.
	case Following, Leading:
		e.receivedFollowingNotification(from, n)
	}
}

// receivedFollowingNotification handles FOLLOWING/LEADING notifications: in
// our own round they join the round's votes; in any round they let a late
// peer join an established ensemble once a quorum follows the same leader
// and that leader has confirmed it is leading.
func (e *Election) receivedFollowingNotification(from int64, n Notification) {
	nv := Vote{Leader: n.Leader, Zxid: n.Zxid, ElectionEpoch: n.ElectionEpoch, PeerEpoch: n.PeerEpoch, State: n.State, Version: n.Version}
	if n.ElectionEpoch == e.clock {
		// ZooKeeper stores these without the format version, so they
		// match the notification on leader alone (see Vote.equal).
		stored := nv
		stored.Version = 0
		e.recvset[from] = stored
		if e.hasQuorum(e.ackers(e.recvset, nv)) && e.checkLeader(e.recvset, n.Leader, n.ElectionEpoch) {
			e.decide(n.Leader, nv, e.recvset, true)
			return
		}
	}
	e.outofelec[from] = nv
	if e.hasQuorum(e.ackers(e.outofelec, nv)) && e.checkLeader(e.outofelec, n.Leader, n.ElectionEpoch) {
		e.clock = n.ElectionEpoch
		e.decide(n.Leader, nv, e.outofelec, true)
	}
}

// decide ends the round (setPeerState + leaveInstance).
func (e *Election) decide(leader int64, v Vote, votes map[int64]Vote, joined bool) {
	quorum := e.ackers(votes, v)
	counted := make([]Vote, len(quorum))
	for i, id := range quorum {
		counted[i] = votes[id]
	}
	st := e.learningState()
	if leader == e.cfg.ID {
		st = Leading
	}
	end := Vote{Leader: leader, Zxid: v.Zxid, ElectionEpoch: v.ElectionEpoch, PeerEpoch: v.PeerEpoch, State: Looking}
	e.state = st
	e.current = end
	e.decision = Decision{Vote: end, State: st, Quorum: quorum, Votes: counted, Joined: joined}
	e.finalizing = false
	e.self = nil
	e.pending = nil
}

// sendNotifications broadcasts the proposal to every voter, this peer
// included (its own copy is delivered internally).
func (e *Election) sendNotifications() {
	n := Notification{
		State:         Looking,
		Leader:        e.proposal.Leader,
		Zxid:          e.proposal.Zxid,
		ElectionEpoch: e.clock,
		PeerEpoch:     e.proposal.PeerEpoch,
		Version:       CurrentVersion,
		ConfigVersion: e.cfg.ConfigVersion,
	}
	for _, id := range e.cfg.Voters {
		e.send(id, n)
	}
}

func (e *Election) send(to int64, n Notification) {
	if to == e.cfg.ID {
		e.self = append(e.self, n)
		return
	}
	e.out = append(e.out, Message{To: to, N: n})
}

func (e *Election) flush() []Message {
	// Deliver this peer's own notifications, queued while handling the
	// input, after it: the next entries of ZooKeeper's receive queue.
	for len(e.self) > 0 {
		n := e.self[0]
		e.self = e.self[1:]
		e.receiveOne(e.cfg.ID, n)
	}
	out := e.out
	e.out = nil
	return out
}
