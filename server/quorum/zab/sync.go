package zab

// SyncKind is how the leader brings a learner's history in line with its own.
type SyncKind int

const (
	SyncDiff  SyncKind = iota + 1 // send the txns the learner lacks
	SyncTrunc                     // cut the learner's log, then send what it lacks
	SyncSnap                      // send a snapshot, then the txns after it
)

func (k SyncKind) String() string {
	switch k {
	case SyncDiff:
		return "DIFF"
	case SyncTrunc:
		return "TRUNC"
	case SyncSnap:
		return "SNAP"
	}
	return "SyncKind(?)"
}

// syncPlan is the outcome of planSync.
type syncPlan struct {
	Kind SyncKind
	// Zxid is the DIFF zxid (the leader's last committed) or the TRUNC
	// point. Unused for SNAP: the snapshot is taken at the leader's
	// applied zxid when the plan is executed.
	Zxid int64
	// Send are the committed txns to stream as PROPOSAL+COMMIT pairs.
	Send []Entry
	// Gap is set when a SNAP replaces a DIFF or TRUNC because the
	// leader's log skips txns where that sync would read it.
	Gap *LogGap
}

// LogGap is a place where a peer's txn log skips txns: Next follows After
// in the log, but a history without gaps holds other txns between them.
type LogGap struct {
	// Learner is the learner whose sync found it.
	Learner     int64
	After, Next int64
}

// follows reports whether z can directly follow prev in a history without
// gaps. Within an epoch the counters run on by one: the epoch's leader
// numbers its proposals so and commits them in order, and a learner logs
// them in order. A new epoch's history starts at counter 1, its leader's
// first proposal.
func follows(prev, z int64) bool {
	if epochOf(z) == epochOf(prev) {
		return z == prev+1
	}
	return epochOf(z) > epochOf(prev) && counterOf(z) == 1
}

// gapAfter returns the first gap in es (ascending zxids) whose later txn is
// above zxid, or nil; snaps are the zxids of the member's snapshots,
// ascending. A log has gaps where its member installed a snapshot without
// dropping the log before it (ZooKeeper's learners keep their log files
// after a SNAP), or crashed with a snapshot durable ahead of its log (a
// ZooKeeper follower applies commits before logging them, as zkd's
// learners do; zkd holds its own snapshots back until the log catches up).
// Either way a snapshot falls inside the gap. Where that snapshot was
// purged, the counting rule of follows still sees every gap except one
// that swallows the end of an epoch. A gap ending at or below zxid cannot
// hurt a sync from zxid on.
func gapAfter(es []Entry, zxid int64, snaps []int64) *LogGap {
	k := 0
	for i := 1; i < len(es); i++ {
		prev, z := es[i-1].Zxid(), es[i].Zxid()
		for k < len(snaps) && snaps[k] <= prev {
			k++
		}
		inside := k < len(snaps) && snaps[k] < z
		if z > zxid && (inside || !follows(prev, z)) {
			return &LogGap{After: prev, Next: z}
		}
	}
	return nil
}

// noBase marks a history whose start is unknown: it is only known to be
// complete from its first entry on.
const noBase = -1

// planSync chooses DIFF, TRUNC or SNAP for a learner whose last logged zxid
// is peerLast, the way LearnerHandler.syncFollower does. The leader's
// committed history is base followed by hist (ascending, complete after
// base); base is noBase when the history's start is unknown.
//
// It relies on ZAB's property that two logs holding the same zxid agree on
// everything up to it (one leader per epoch, learners log in order), so the
// learner's history matches the leader's up to the newest leader zxid that
// it also holds. Differences from ZooKeeper, each safe by that property:
// learners never report an epoch-start zxid here (their last logged zxid is
// always a real txn or a snapshot point), so isPeerNewEpochZxid is not
// needed; and a divergent learner is truncated to the newest common txn
// even across an epoch boundary, where ZooKeeper sends a SNAP because its
// log files cannot be truncated that way. A SNAP there would be taken at
// the leader's applied zxid, which before the epoch is established can be
// below txns the learner holds and that are committed: a crash between
// installing it and logging the txns after it would lose a durable copy of
// a committed txn (the simulator found this). The newest common txn is in
// the learner's log: the learner's txns of its last epoch e follow that
// epoch's initial history, which every later leader's history extends.
func planSync(peerLast, base int64, hist []Entry) syncPlan {
	last := base
	if len(hist) > 0 {
		last = hist[len(hist)-1].Zxid()
	}
	switch {
	case peerLast == last:
		return syncPlan{Kind: SyncDiff, Zxid: last}
	case peerLast > last:
		// The learner holds txns beyond the leader's history: they were
		// never committed (the election picked a leader holding every
		// committed txn), so cut them.
		return syncPlan{Kind: SyncTrunc, Zxid: last}
	case base != noBase && peerLast == base:
		return syncPlan{Kind: SyncDiff, Zxid: last, Send: hist}
	case base != noBase && peerLast < base:
		return syncPlan{Kind: SyncSnap}
	case base == noBase && (len(hist) == 0 || hist[0].Zxid() > peerLast):
		return syncPlan{Kind: SyncSnap}
	}
	prev := base
	for i, e := range hist {
		z := e.Zxid()
		if z == peerLast {
			return syncPlan{Kind: SyncDiff, Zxid: last, Send: hist[i+1:]}
		}
		if z > peerLast {
			// The learner's last txn is not in the leader's history: it has
			// an uncommitted tail after prev, the newest txn both hold.
			if prev != noBase {
				return syncPlan{Kind: SyncTrunc, Zxid: prev, Send: hist[i:]}
			}
			return syncPlan{Kind: SyncSnap}
		}
		prev = z
	}
	return syncPlan{Kind: SyncSnap} // unreachable: peerLast < last
}
