// Package zab is the ZooKeeper Atomic Broadcast protocol core of zkd: the
// discovery, synchronization and broadcast phases that ZooKeeper 3.8 runs
// between a leader and its learners once an election has picked the leader.
//
// The core is a deterministic state machine in the manner of etcd-io/raft:
// messages (Step) and ticks (Tick) go in; messages to send and durable writes
// to make come out (Ready). It owns no goroutines, clocks, sockets,
// randomness or files, so every interleaving can be replayed from a seed by
// the simulator in sim_test.go. The election itself and the wire encoding
// of QuorumPacket live in other packages; this one only assumes "an
// election decided that L leads" (New) and a Message struct that mirrors
// QuorumPacket{Type, Zxid, Data} with typed payloads.
//
// Most consistency bugs ZooKeeper had in this area (ZOOKEEPER-3911, 4394,
// 4643, 4646, 4685, 4785) came from the sync path being spread over threads
// that persisted the log, the epoch and the ACK in racy orders. Here a
// learner handles NEWLEADER in one step that yields one Ready whose
// durable writes the caller performs in a fixed order (snapshot, truncate,
// append, epochs) before any message of that Ready is sent, so the ACK of
// NEWLEADER can only leave after the txns and then currentEpoch are durable,
// and the ACK of a later PROPOSAL can only leave after the ACK of NEWLEADER.
package zab

import (
	"fmt"

	"github.com/zkd-io/zkd/server/proto"
)

// Role is what the election made this peer.
type Role int

const (
	Leader Role = iota + 1
	Follower
	Observer
)

func (r Role) String() string {
	switch r {
	case Leader:
		return "leader"
	case Follower:
		return "follower"
	case Observer:
		return "observer"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Phase is the ZAB phase a peer is in.
type Phase int

const (
	Discovery Phase = iota + 1
	Synchronization
	Broadcast
)

func (p Phase) String() string {
	switch p {
	case Discovery:
		return "discovery"
	case Synchronization:
		return "synchronization"
	case Broadcast:
		return "broadcast"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// MsgType mirrors QuorumPacket.type; the numbers are ZooKeeper's so that
// the wire adapter can map them one to one.
type MsgType int32

const (
	MsgRequest      MsgType = 1
	MsgProposal     MsgType = 2
	MsgAck          MsgType = 3
	MsgCommit       MsgType = 4
	MsgPing         MsgType = 5
	MsgSync         MsgType = 7
	MsgInform       MsgType = 8
	MsgNewLeader    MsgType = 10
	MsgFollowerInfo MsgType = 11
	MsgUpToDate     MsgType = 12
	MsgDiff         MsgType = 13
	MsgTrunc        MsgType = 14
	MsgSnap         MsgType = 15
	MsgObserverInfo MsgType = 16
	MsgLeaderInfo   MsgType = 17
	MsgAckEpoch     MsgType = 18
)

// EpochAlreadyAccepted is the ACKEPOCH Epoch of a learner that had
// accepted the leader's epoch before this LEADERINFO (ZooKeeper's -1): the
// leader does not count it toward the epoch's quorum.
const EpochAlreadyAccepted int64 = -1

var msgNames = map[MsgType]string{
	MsgRequest: "REQUEST", MsgProposal: "PROPOSAL", MsgAck: "ACK", MsgCommit: "COMMIT",
	MsgPing: "PING", MsgSync: "SYNC", MsgInform: "INFORM", MsgNewLeader: "NEWLEADER",
	MsgFollowerInfo: "FOLLOWERINFO", MsgUpToDate: "UPTODATE", MsgDiff: "DIFF",
	MsgTrunc: "TRUNC", MsgSnap: "SNAP", MsgObserverInfo: "OBSERVERINFO",
	MsgLeaderInfo: "LEADERINFO", MsgAckEpoch: "ACKEPOCH",
}

func (t MsgType) String() string {
	if s, ok := msgNames[t]; ok {
		return s
	}
	return fmt.Sprintf("MsgType(%d)", int32(t))
}

// Entry is one txn of the replicated log.
type Entry struct {
	Hdr proto.TxnHeader
	Txn proto.Txn
	// Digest is the tree digest once this txn is applied, computed by the
	// leader's prep and carried in PROPOSAL and the log as ZooKeeper 3.8
	// does; nil for error txns and txns from logs without digests. The
	// core never looks at it.
	Digest *proto.TxnDigest
}

// Zxid is the entry's position in the total order.
func (e Entry) Zxid() int64 { return e.Hdr.Zxid }

// Message mirrors QuorumPacket. Zxid carries what QuorumPacket.zxid
// carries for the type (see the MsgType table in the reference notes);
// the typed fields replace QuorumPacket.data:
//
//	PROPOSAL, INFORM   Entry
//	FOLLOWERINFO,
//	OBSERVERINFO       Zxid = acceptedEpoch<<32
//	LEADERINFO         Zxid = newEpoch<<32
//	ACKEPOCH           Zxid = learner's last logged zxid, Epoch = its currentEpoch,
//	                   or EpochAlreadyAccepted
//	SNAP               Snapshot (Zxid = Snapshot.Zxid)
//	REQUEST, SYNC,
//	PING               Data, opaque to the core
type Message struct {
	Type     MsgType
	From, To int64
	Zxid     int64
	Epoch    int64
	Entry    *Entry
	Snapshot *SnapshotReq
	Data     []byte
	// Auth is a REQUEST's client identities (QuorumPacket.authinfo),
	// opaque to the core like Data.
	Auth []proto.ID
}

func (m Message) String() string {
	return fmt.Sprintf("%v %d->%d zxid=%#x", m.Type, m.From, m.To, m.Zxid)
}

// SnapshotReq is the state transfer of a SNAP sync. The leader's core fills
// Zxid only: the leader's edge must attach the serialized data tree (and
// sessions) in Payload when it sends the message, taken after applying the
// Commit entries of the Ready that carried the message, at which point the
// tree reflects exactly Zxid. The learner's core hands the same value back
// in Ready.Snapshot; the learner's edge installs Payload durably and drops
// its whole txn log, so that its history is the snapshot up to Zxid.
type SnapshotReq struct {
	Zxid    int64
	Payload any
}

// Storage is the read-only view of a peer's durable state that the core
// needs. It must reflect every Ready the caller has passed to Advance.
type Storage interface {
	// LastZxid is the zxid of the last logged txn, or the snapshot's zxid
	// when the log is empty, or 0 for an empty history.
	LastZxid() int64
	AcceptedEpoch() int64
	CurrentEpoch() int64
	// Entries returns the logged txns with fromZxid <= zxid <= toZxid in
	// order; txns purged from the log (covered by a snapshot) are absent.
	Entries(fromZxid, toZxid int64) ([]Entry, error)
	// FirstZxid is the zxid of the oldest txn still in the log, or 0 when
	// the log is empty.
	FirstZxid() int64
	// SnapshotZxid is the zxid of the newest durable snapshot: the history
	// up to it is complete even where the log was purged. 0 if none.
	SnapshotZxid() int64
	// Snapshots returns the zxids of the snapshots on disk, ascending,
	// complete or not. Each names a txn its member had applied, so one
	// that falls between two adjacent txns of the log shows that the log
	// skips txns there.
	Snapshots() ([]int64, error)
}

// Config configures one peer.
type Config struct {
	ID        int64
	Voters    []int64
	Observers []int64
	// InitLimitTicks bounds discovery plus synchronization; SyncLimitTicks
	// bounds how long a learner may stay silent or behind in broadcast.
	InitLimitTicks, SyncLimitTicks int
	// PingTicks is the leader's ping period.
	PingTicks int
	// CommitLogCount is how many recent committed txns the leader keeps in
	// memory to DIFF learners from (zookeeper.commitLogCount); 0 means 500.
	CommitLogCount int
	// Applied is the zxid the caller's data tree reflects when New is
	// called. Every txn up to it must be committed (the caller got it from
	// a snapshot, a SNAP or Ready.Commit). Txns logged after it are applied
	// only once the core knows they are committed, which is why a peer must
	// not replay its whole log into the tree on restart (ZOOKEEPER-2845).
	Applied int64
}

// DefaultCommitLogCount is zookeeper.commitLogCount's default.
const DefaultCommitLogCount = 500

func (c *Config) validate() error {
	if c.InitLimitTicks <= 0 || c.SyncLimitTicks <= 0 || c.PingTicks <= 0 {
		return fmt.Errorf("zab: InitLimitTicks, SyncLimitTicks and PingTicks must be positive, got %d, %d, %d",
			c.InitLimitTicks, c.SyncLimitTicks, c.PingTicks)
	}
	if c.CommitLogCount < 0 {
		return fmt.Errorf("zab: negative CommitLogCount %d", c.CommitLogCount)
	}
	if len(c.Voters) == 0 {
		return fmt.Errorf("zab: no voters")
	}
	seen := map[int64]bool{}
	for _, id := range append(append([]int64(nil), c.Voters...), c.Observers...) {
		if seen[id] {
			return fmt.Errorf("zab: peer %d listed twice", id)
		}
		seen[id] = true
	}
	if !seen[c.ID] {
		return fmt.Errorf("zab: own id %d is not among voters or observers", c.ID)
	}
	return nil
}

// Ready is a batch of work for the caller. The caller must, in this order,
// make durable: Snapshot, Truncate, Append, SetAcceptedEpoch,
// SetCurrentEpoch; then apply Commit to the data tree; then send Messages
// (in order) and deliver Requests and Synced; then call Advance. The one
// allowed exception is EarlyMessages, which may go out first. Each
// durable step must complete before the next starts: this order is what
// makes a learner's currentEpoch never run ahead of its log.
//
// Once established, a caller may pipeline Readies whose only durable work
// is Append, as the edge's log writer does: hand the Append to the
// writer, apply Commit and send the Messages at once except a learner's
// ACKs, take further Readies, and when the Append is durable send those
// ACKs and call Advance, for such Readies in order. A Ready with other
// durable work waits until the writer holds nothing. This is safe because
// a COMMIT means a quorum already holds the txn durably and every vote
// (a learner's ACK, the leader's own at Advance) still waits for its own
// disk. The seeded simulator runs the core this way.
type Ready struct {
	Messages         []Message
	SetAcceptedEpoch *int64
	SetCurrentEpoch  *int64
	// Append are txns to log durably (before the ACKs in Messages leave).
	Append []Entry
	// Truncate asks to cut the log after this zxid (TRUNC).
	Truncate *int64
	// Snapshot asks to install the leader's state (SNAP).
	Snapshot *SnapshotReq
	// Commit are committed txns to apply in order, after Append is durable.
	Commit []Entry
	// Requests are REQUEST messages forwarded by learners (leader only):
	// the caller runs them through its request pipeline and Propose.
	Requests []Message
	// Synced carries the Data of SYNC answers for this peer's clients.
	Synced [][]byte
	// LogGaps are gaps in this leader's txn log that its syncs of
	// learners ran into: each such learner gets a SNAP instead, and the
	// caller reports them.
	LogGaps []LogGap
	// Established is set in the Ready in which this peer entered Broadcast.
	Established bool
	// StepDown is set when this peer stopped (leader lost its quorum, sync
	// failed, the leader went silent, a protocol violation). The durable
	// writes in this Ready must still be made; then the caller runs a new
	// election and calls New again.
	StepDown error
}

// EarlyMessages returns the indexes of the Messages that may be sent before
// this Ready's durable writes, instead of after them: a leader's PROPOSALs,
// when the Ready changes nothing but the log's tail, to learners that get
// nothing else in it. ZooKeeper's leader sends proposals while it logs them
// so that followers fsync in parallel with it. It stays safe because the
// leader's own vote for a txn counts only once Advance says its append is
// durable, and a learner still being synced, whose NEWLEADER or UPTODATE
// must come first, gets no early message.
func (rd *Ready) EarlyMessages() []int {
	if !rd.OnlyAppends() {
		return nil
	}
	mixed := map[int64]bool{}
	for _, m := range rd.Messages {
		if m.Type != MsgProposal {
			mixed[m.To] = true
		}
	}
	var out []int
	for i, m := range rd.Messages {
		if m.Type == MsgProposal && !mixed[m.To] {
			out = append(out, i)
		}
	}
	return out
}

// HasDurableWork reports whether rd has a durable write to make (a
// StepDown counts: the writes before it must be made first).
func (rd *Ready) HasDurableWork() bool {
	return len(rd.Append) > 0 || rd.Snapshot != nil || rd.Truncate != nil ||
		rd.SetAcceptedEpoch != nil || rd.SetCurrentEpoch != nil || rd.StepDown != nil
}

// OnlyAppends reports whether rd's only durable work is Append: the Ready
// whose PROPOSALs may go out early and, once established, that a caller
// may pipeline (see Ready).
func (rd *Ready) OnlyAppends() bool {
	return len(rd.Append) > 0 && rd.Snapshot == nil && rd.Truncate == nil &&
		rd.SetAcceptedEpoch == nil && rd.SetCurrentEpoch == nil && rd.StepDown == nil
}

// Empty reports whether rd carries nothing to do.
func (rd *Ready) Empty() bool {
	return len(rd.Messages) == 0 && rd.SetAcceptedEpoch == nil && rd.SetCurrentEpoch == nil &&
		len(rd.Append) == 0 && rd.Truncate == nil && rd.Snapshot == nil && len(rd.Commit) == 0 &&
		len(rd.Requests) == 0 && len(rd.Synced) == 0 && len(rd.LogGaps) == 0 && !rd.Established && rd.StepDown == nil
}

// Status is a read-only summary for monitoring (srvr, mntr, metrics).
type Status struct {
	ID            int64
	Role          Role
	Phase         Phase
	Leader        int64
	Epoch         int64 // the epoch being established or led
	LastZxid      int64 // last logged (possibly not yet durable)
	CommittedZxid int64 // last txn handed out in Ready.Commit
	Stopped       bool
	// SyncedFollowers are the voters (leader excluded) currently counted
	// for the leader's quorum.
	SyncedFollowers []int64
	// PendingSyncs are learners' SYNCs the leader holds until the txns
	// proposed before them commit (ZooKeeper's Leader.pendingSyncs).
	PendingSyncs int
}

// Zxid helpers: a zxid is epoch<<32 | counter.
func makeZxid(epoch int64, counter int64) int64 { return epoch<<32 | counter&0xffffffff }
func epochOf(zxid int64) int64                  { return zxid >> 32 }
func counterOf(zxid int64) int64                { return zxid & 0xffffffff }
