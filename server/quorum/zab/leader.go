package zab

import (
	"fmt"
	"slices"
)

func (n *Node) leaderStep(m Message) error {
	if m.From == n.cfg.ID || (!n.isVoter(m.From) && !slices.Contains(n.cfg.Observers, m.From)) {
		return fmt.Errorf("zab: %v from unknown peer %d", m, m.From)
	}
	h := n.handlers[m.From]
	if h != nil {
		h.heard = n.tick
	}
	switch m.Type {
	case MsgFollowerInfo, MsgObserverInfo:
		observer := m.Type == MsgObserverInfo
		if observer == n.isVoter(m.From) {
			return fmt.Errorf("zab: %v from %d, which is configured as a %s", m, m.From,
				map[bool]string{true: "voter", false: "observer"}[n.isVoter(m.From)])
		}
		// A new connection from a learner replaces the old one, as a new
		// LearnerHandler would. Its votes go with it: what the old
		// connection acked may be truncated by the new sync.
		n.dropHandler(m.From)
		h = &handler{id: m.From, observer: observer, state: hsInfo, accepted: epochOf(m.Zxid), heard: n.tick, since: n.tick}
		n.handlers[m.From] = h
		if n.epoch != 0 {
			n.sendLeaderInfo(h)
		}
	case MsgAckEpoch:
		if h == nil || h.state != hsEpochSent {
			return nil // duplicate or stale
		}
		h.peerLast, h.peerEpoch = m.Zxid, m.Epoch
		// Only during discovery can a learner be ahead: the new epoch's
		// initial history is the leader's, chosen against a quorum's
		// (currentEpoch, lastZxid). Later, a learner that was synced in
		// this epoch and reconnects has a newer currentEpoch and last zxid
		// than the leader had at New, and is simply synced again
		// (ZooKeeper's waitForEpochAck returns once electionFinished). A
		// learner that had already accepted the epoch is not counted in
		// that quorum, so it is not checked either (ZooKeeper skips -1).
		if n.phase == Discovery && h.peerEpoch != EpochAlreadyAccepted &&
			(h.peerEpoch > n.startEpoch || (h.peerEpoch == n.startEpoch && h.peerLast > n.startLast)) {
			n.stepDown(fmt.Errorf("zab: follower %d is ahead of the leader: its (currentEpoch, lastZxid) is (%d, %#x), ours (%d, %#x)",
				m.From, h.peerEpoch, h.peerLast, n.startEpoch, n.startLast))
			return nil
		}
		h.state, h.since = hsEpochAcked, n.tick
		if n.phase != Discovery {
			n.syncLearner(h)
		}
	case MsgAck:
		if h == nil {
			return nil
		}
		switch {
		case h.state == hsNewLeaderSent && m.Zxid == makeZxid(n.epoch, 0):
			h.state, h.since = hsSynced, n.tick
			if n.phase == Broadcast {
				n.sendUpToDate(h)
			}
		case h.state == hsSynced && !h.observer && counterOf(m.Zxid) != 0 && epochOf(m.Zxid) == n.epoch:
			if m.Zxid > n.lastLogged {
				n.dropHandler(h.id)
				return fmt.Errorf("zab: follower %d acked %#x, which was never proposed", m.From, m.Zxid)
			}
			h.acked = max(h.acked, m.Zxid)
			for _, p := range n.outstanding {
				if p.e.Zxid() <= m.Zxid {
					p.ack(h.id)
				}
			}
			n.tryCommit()
		}
		// Other ACKs (UPTODATE acks, a PROPOSAL ack racing the NEWLEADER
		// ack) are harmless and ignored: ZOOKEEPER-4685 shut the leader
		// down on the latter.
	case MsgPing:
		// Liveness only; recorded above.
	case MsgRequest:
		if h != nil && h.state == hsSynced {
			n.pending.Requests = append(n.pending.Requests, m)
		}
	default:
		return fmt.Errorf("zab: leader cannot handle %v", m)
	}
	n.leaderProgress()
	return nil
}

func (n *Node) dropHandler(id int64) {
	delete(n.handlers, id)
	for _, p := range n.outstanding {
		p.acks = slices.DeleteFunc(p.acks, func(a int64) bool { return a == id })
	}
}

func (n *Node) idsIn(state handlerState, voters bool) []int64 {
	var ids []int64
	for _, id := range n.learners {
		if h := n.handlers[id]; h != nil && h.state >= state && (!voters || !h.observer) {
			ids = append(ids, id)
		}
	}
	return ids
}

// epochAckers lists the voters whose ACKEPOCH counts toward the new
// epoch's quorum: not those that had accepted the epoch already
// (ZooKeeper's waitForEpochAck leaves them out of electingFollowers).
func (n *Node) epochAckers() []int64 {
	var ids []int64
	for _, id := range n.idsIn(hsEpochAcked, true) {
		if n.handlers[id].peerEpoch != EpochAlreadyAccepted {
			ids = append(ids, id)
		}
	}
	return ids
}

// leaderProgress moves the leader through discovery and synchronization
// as soon as the quorums it waits for are complete.
func (n *Node) leaderProgress() {
	if n.stopped {
		return
	}
	if n.phase == Discovery && n.epoch == 0 && n.isQuorum(true, n.idsIn(hsInfo, true)) {
		// getEpochToPropose: one more than any acceptedEpoch seen,
		// observers' included.
		e := n.acceptedEpoch
		for _, id := range n.learners {
			if h := n.handlers[id]; h != nil {
				e = max(e, h.accepted)
			}
		}
		n.epoch = e + 1
		n.acceptedEpoch = n.epoch
		n.acceptedDurable = false
		ae := n.epoch
		n.pending.SetAcceptedEpoch = &ae
		n.phaseStart = n.tick
		for _, id := range n.learners {
			if h := n.handlers[id]; h != nil && h.state == hsInfo {
				n.sendLeaderInfo(h)
			}
		}
	}
	if n.phase == Discovery && n.epoch != 0 && n.acceptedDurable && n.isQuorum(true, n.epochAckers()) {
		n.phase = Synchronization
		n.phaseStart = n.tick
		n.currentEpoch = n.epoch
		n.currentDurable = false
		ce := n.epoch
		n.pending.SetCurrentEpoch = &ce
		for _, id := range n.learners {
			if h := n.handlers[id]; h != nil && h.state == hsEpochAcked {
				n.syncLearner(h)
			}
		}
	}
	if n.phase == Synchronization && n.currentDurable && !n.snapQueued && n.isQuorum(true, n.idsIn(hsSynced, true)) {
		// Established: the initial history is committed.
		n.phase = Broadcast
		n.pending.Established = true
		n.lastPing = n.tick
		n.commitUpTo(n.lastLogged)
		for _, id := range n.learners {
			h := n.handlers[id]
			if h == nil {
				continue
			}
			h.heard = n.tick
			if h.state == hsSynced {
				n.sendUpToDate(h)
			}
		}
	}
}

func (n *Node) sendLeaderInfo(h *handler) {
	h.state, h.since = hsEpochSent, n.tick
	n.send(Message{Type: MsgLeaderInfo, To: h.id, Zxid: makeZxid(n.epoch, 0)})
}

func (n *Node) sendUpToDate(h *handler) {
	h.upToDate = true
	n.send(Message{Type: MsgUpToDate, To: h.id, Zxid: -1})
}

// syncLearner sends a learner what it needs to share the leader's
// committed history, then the outstanding proposals, then NEWLEADER
// (LearnerHandler.syncFollower + startForwarding). After a SNAP, whose
// database the edge encodes while broadcast goes on, the edge holds
// NEWLEADER back until the encoding ends, behind the PROPOSALs and
// COMMITs sent meanwhile, as LearnerHandler does; a learner takes them in
// either order.
func (n *Node) syncLearner(h *handler) {
	plan, err := n.planFor(h.peerLast)
	if err != nil {
		n.stepDown(fmt.Errorf("zab: planning sync of learner %d: %w", h.id, err))
		return
	}
	switch plan.Kind {
	case SyncDiff:
		n.send(Message{Type: MsgDiff, To: h.id, Zxid: plan.Zxid})
	case SyncTrunc:
		n.send(Message{Type: MsgTrunc, To: h.id, Zxid: plan.Zxid})
	case SyncSnap:
		if plan.Gap != nil {
			plan.Gap.Learner = h.id
			n.pending.LogGaps = append(n.pending.LogGaps, *plan.Gap)
		}
		// The snapshot is the leader's tree, which holds committed txns
		// only; what the leader logged but has not applied follows it.
		n.send(Message{Type: MsgSnap, To: h.id, Zxid: n.applied, Snapshot: &SnapshotReq{Zxid: n.applied}})
		n.snapQueued = true
		plan.Send = nil
		for _, e := range n.hist {
			if e.Zxid() > n.applied {
				plan.Send = append(plan.Send, e)
			}
		}
	}
	for i := range plan.Send {
		e := plan.Send[i]
		n.send(Message{Type: MsgProposal, To: h.id, Zxid: e.Zxid(), Entry: &e})
		n.send(Message{Type: MsgCommit, To: h.id, Zxid: e.Zxid()})
	}
	if !h.observer {
		for _, p := range n.outstanding {
			e := p.e
			n.send(Message{Type: MsgProposal, To: h.id, Zxid: e.Zxid(), Entry: &e})
		}
	}
	n.send(Message{Type: MsgNewLeader, To: h.id, Zxid: makeZxid(n.epoch, 0)})
	h.state, h.since = hsNewLeaderSent, n.tick
}

// planFor chooses the sync for a learner whose last zxid is peerLast,
// from the in-memory window or, if the learner is older than that, from
// the txn log on disk (ZooKeeper's txnlog sync).
func (n *Node) planFor(peerLast int64) (syncPlan, error) {
	if peerLast >= n.histBase {
		return planSync(peerLast, n.histBase, n.hist), nil
	}
	base := int64(noBase)
	from := makeZxid(epochOf(peerLast), 0)
	if peerLast == 0 {
		if n.st.SnapshotZxid() != 0 {
			return syncPlan{Kind: SyncSnap}, nil
		}
		base = 0 // no snapshot: the log holds the whole history
	}
	older, err := n.st.Entries(from, n.histBase)
	if err != nil {
		return syncPlan{}, fmt.Errorf("reading txn log [%#x, %#x]: %w", from, n.histBase, err)
	}
	if len(older) == 0 || older[len(older)-1].Zxid() != n.histBase {
		return syncPlan{Kind: SyncSnap}, nil
	}
	// A DIFF read across a gap would leave the learner without the txns
	// the gap skips, and a TRUNC to the txn before a gap holding peerLast
	// would cut committed txns from it. A SNAP is safe here: the learner
	// holds nothing above histBase, which the leader has applied. (The
	// in-memory window needs no such check: it is the log after the
	// leader's snapshot, then what it committed since.)
	snaps, err := n.st.Snapshots()
	if err != nil {
		return syncPlan{}, fmt.Errorf("listing snapshots: %w", err)
	}
	if g := gapAfter(older, peerLast, snaps); g != nil {
		return syncPlan{Kind: SyncSnap, Gap: g}, nil
	}
	return planSync(peerLast, base, append(older, n.hist...)), nil
}

// tryCommit commits outstanding proposals in zxid order while each has a
// quorum of durable acks. The leader's own counts once its append is
// durable (Advance); until then, acks from a quorum of followers commit
// the txn on their own, as ZooKeeper's leader counts its own ack like any
// other: its fsync leaves the commit path whenever followers are faster.
func (n *Node) tryCommit() {
	k := 0
	for k < len(n.outstanding) && n.phase == Broadcast && !n.stopped && !n.snapQueued {
		p := n.outstanding[k]
		z := p.e.Zxid()
		if !n.isQuorum(n.durableZxid >= z, p.acks) {
			break
		}
		k++
		n.pending.Commit = appendRecycled(n.pending.Commit, &n.spareCommit, p.e)
		n.applied = z
		n.hist = append(n.hist, p.e)
		if extra := len(n.hist) - n.cfg.CommitLogCount; extra > 0 {
			// Reslice rather than copy: append reallocates once the
			// front-trimmed capacity runs out, copying only the live
			// window, so trimming costs O(1) per commit instead of
			// O(CommitLogCount). Entries are never modified in place, so
			// a sync plan still holding an older window stays valid.
			n.histBase = n.hist[extra-1].Zxid()
			n.hist = n.hist[extra:]
		}
		for _, id := range n.learners {
			h := n.handlers[id]
			if h == nil || h.state < hsNewLeaderSent {
				continue
			}
			if h.observer {
				e := p.e
				n.send(Message{Type: MsgInform, To: id, Zxid: z, Entry: &e})
			} else {
				n.send(Message{Type: MsgCommit, To: id, Zxid: z})
			}
		}
		for len(n.syncs) > 0 && n.syncs[0].after <= z {
			n.deliverSync(n.syncs[0])
			n.syncs = n.syncs[1:]
		}
	}
	// Moved down rather than resliced from the front, so that the next
	// proposals reuse the array instead of reallocating it.
	n.outstanding = slices.Delete(n.outstanding, 0, k)
}

func (n *Node) deliverSync(s pendingSync) {
	if s.to == n.cfg.ID {
		n.pending.Synced = append(n.pending.Synced, s.data)
		return
	}
	n.send(Message{Type: MsgSync, To: s.to, Zxid: n.applied, Data: s.data})
}

func (n *Node) leaderTick() {
	if n.phase != Broadcast {
		if n.tick-n.phaseStart > n.cfg.InitLimitTicks {
			n.stepDown(fmt.Errorf("%w: epoch %d, %d ticks of %v", ErrNotEstablished, n.epoch, n.cfg.InitLimitTicks, n.phase))
		}
		return
	}
	for _, id := range n.learners {
		h := n.handlers[id]
		if h == nil {
			continue
		}
		if h.state < hsSynced {
			if n.tick-h.since > n.cfg.InitLimitTicks {
				n.dropHandler(id)
			}
			continue
		}
		late := n.tick-h.heard > n.cfg.SyncLimitTicks
		if !h.observer {
			for _, p := range n.outstanding {
				if p.e.Zxid() > h.acked && n.tick-max(p.tick, h.since) > n.cfg.SyncLimitTicks {
					late = true
				}
				break // the oldest outstanding proposal decides
			}
		}
		if late {
			n.dropHandler(id)
		}
	}
	if !n.isQuorum(true, n.idsIn(hsSynced, true)) {
		n.stepDown(fmt.Errorf("%w (epoch %d)", ErrQuorumLost, n.epoch))
		return
	}
	if n.tick-n.lastPing >= n.cfg.PingTicks {
		n.lastPing = n.tick
		for _, id := range n.idsIn(hsNewLeaderSent, false) {
			n.send(Message{Type: MsgPing, To: id, Zxid: n.lastLogged})
		}
	}
}
