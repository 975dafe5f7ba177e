package zab

import "fmt"

// learnerStep handles a message from the leader on a follower or observer
// (Learner.registerWithLeader, syncWithLeader, Follower/Observer loops).
func (n *Node) learnerStep(m Message) error {
	switch m.Type {
	case MsgLeaderInfo:
		return n.onLeaderInfo(m)
	case MsgDiff, MsgTrunc, MsgSnap:
		if n.phase != Discovery || !n.ackedEpoch {
			n.protocolError(m)
			return nil
		}
		n.phase = Synchronization
		n.ls = &learnerSync{last: n.lastLogged}
		switch m.Type {
		case MsgDiff:
			n.ls.kind = SyncDiff
			n.commitKnown = max(n.commitKnown, min(m.Zxid, n.lastLogged))
		case MsgTrunc:
			if m.Zxid < n.applied {
				n.stepDown(fmt.Errorf("%w: TRUNC to %#x below applied zxid %#x", ErrUnsafe, m.Zxid, n.applied))
				return nil
			}
			if m.Zxid > n.lastLogged {
				n.protocolError(m)
				return nil
			}
			n.ls.kind = SyncTrunc
			t := m.Zxid
			n.ls.truncate = &t
			n.ls.last = t
			n.commitKnown = max(n.commitKnown, t)
		case MsgSnap:
			if m.Snapshot.Zxid < n.applied {
				n.stepDown(fmt.Errorf("%w: SNAP at %#x below applied zxid %#x", ErrUnsafe, m.Snapshot.Zxid, n.applied))
				return nil
			}
			n.ls.kind = SyncSnap
			n.ls.snap = m.Snapshot
			n.ls.last = m.Snapshot.Zxid
		}
	case MsgProposal:
		// The sync before NEWLEADER sends committed history as PROPOSAL
		// plus COMMIT to every learner, observers included (ZooKeeper's
		// LearnerHandler.queueCommittedProposals); after it, an observer
		// only gets INFORM.
		syncing := n.phase == Synchronization && !n.gotNewLead
		if n.role == Observer && !syncing {
			n.protocolError(m)
			return nil
		}
		if syncing {
			if m.Zxid <= n.ls.last {
				return nil // duplicate
			}
			n.syncEntry(m)
			return nil
		}
		if n.phase == Discovery {
			n.protocolError(m)
			return nil
		}
		n.logProposal(m)
	case MsgCommit, MsgInform:
		syncing := n.phase == Synchronization && !n.gotNewLead
		if n.phase == Discovery || (m.Type == MsgInform && n.role != Observer) ||
			(m.Type == MsgCommit && n.role == Observer && !syncing) {
			n.protocolError(m)
			return nil
		}
		if m.Type == MsgInform {
			if n.phase == Synchronization && !n.gotNewLead {
				if m.Zxid > n.ls.last {
					n.syncEntry(m)
				}
			} else if m.Zxid > n.lastLogged {
				if want := n.nextZxid(); m.Zxid != want {
					n.stepDown(fmt.Errorf("zab: inform %#x out of order, expected %#x", m.Zxid, want))
					return nil
				}
				n.appendEntry(*m.Entry)
			}
		}
		last := n.lastLogged
		if n.phase == Synchronization && !n.gotNewLead {
			last = n.ls.last
		}
		if m.Zxid > last {
			n.stepDown(fmt.Errorf("zab: leader committed %#x, which this peer never received (last %#x)", m.Zxid, last))
			return nil
		}
		n.commitKnown = max(n.commitKnown, m.Zxid)
		if n.phase == Broadcast {
			n.commitUpTo(n.commitKnown)
		}
	case MsgNewLeader:
		if n.phase != Synchronization || n.gotNewLead || epochOf(m.Zxid) != n.epoch {
			n.protocolError(m)
			return nil
		}
		n.onNewLeader()
	case MsgUpToDate:
		if n.phase != Synchronization || !n.gotNewLead {
			n.protocolError(m)
			return nil
		}
		n.phase = Broadcast
		n.pending.Established = true
		n.commitUpTo(n.commitKnown)
		n.send(Message{Type: MsgAck, To: n.leader, Zxid: makeZxid(n.epoch, 0)})
	case MsgPing:
		if n.phase != Discovery {
			n.send(Message{Type: MsgPing, To: n.leader, Zxid: n.lastLogged})
		}
	case MsgSync:
		n.pending.Synced = append(n.pending.Synced, m.Data)
	default:
		return fmt.Errorf("zab: learner cannot handle %v", m)
	}
	return nil
}

// syncEntry takes a txn of the leader's sync (PROPOSAL or INFORM). It must
// directly follow the history the sync has built so far: the learner's
// log, the TRUNC point or the SNAP. A leader whose log skips txns (see
// gapAfter) would otherwise leave this learner without them, silently.
func (n *Node) syncEntry(m Message) {
	if !follows(n.ls.last, m.Zxid) {
		n.stepDown(fmt.Errorf("%w: the leader's sync skips txns: %#x after %#x", ErrUnsafe, m.Zxid, n.ls.last))
		return
	}
	n.ls.entries = append(n.ls.entries, *m.Entry)
	n.ls.last = m.Zxid
}

func (n *Node) protocolError(m Message) {
	n.stepDown(fmt.Errorf("zab: unexpected %v in %v", m, n.phase))
}

func (n *Node) onLeaderInfo(m Message) error {
	newEpoch := epochOf(m.Zxid)
	if n.phase != Discovery || (n.ackedEpoch && newEpoch != n.epoch) {
		n.protocolError(m)
		return nil
	}
	if newEpoch < n.acceptedEpoch {
		n.stepDown(fmt.Errorf("zab: leader's epoch %d is less than our accepted epoch %d", newEpoch, n.acceptedEpoch))
		return nil
	}
	ackEpoch := n.currentEpoch
	if newEpoch > n.acceptedEpoch {
		n.acceptedEpoch = newEpoch
		ae := newEpoch
		n.pending.SetAcceptedEpoch = &ae
	} else {
		// Accepted before: from this leader on an earlier connection, or
		// from another leader that chose the same epoch. Each learner may
		// help one leader establish an epoch, or two leaders could each
		// gather a quorum for it through the same learner; so, as
		// ZooKeeper's learner does, say so instead of giving currentEpoch,
		// and the leader does not count this ack (it syncs the learner
		// once a quorum of others has acked).
		ackEpoch = EpochAlreadyAccepted
	}
	n.epoch = newEpoch
	n.ackedEpoch = true
	n.send(Message{Type: MsgAckEpoch, To: n.leader, Zxid: n.lastLogged, Epoch: ackEpoch})
	return nil
}

// onNewLeader makes the synced history durable and acks it, in one Ready
// whose write order (snapshot, truncate, append, currentEpoch) the caller
// must keep: the ACK leaves only after all of it is durable, and no txn is
// applied before UPTODATE says the epoch is established.
func (n *Node) onNewLeader() {
	ls := n.ls
	n.gotNewLead = true
	if ls.snap != nil {
		n.pending.Snapshot = ls.snap
		n.tail = nil
		n.applied = ls.snap.Zxid
		n.lastLogged = ls.snap.Zxid
		n.commitKnown = max(n.commitKnown, ls.snap.Zxid)
	}
	if ls.truncate != nil {
		t := *ls.truncate
		i := 0
		for i < len(n.tail) && n.tail[i].Zxid() <= t {
			i++
		}
		// The leader plans from its committed history, so a follower that
		// rejoins within the epoch after logging proposals still
		// outstanding gets a TRUNC to the last committed txn and those
		// proposals again (LearnerHandler does the same). A zxid names one
		// txn (one leader per epoch), so where the resent txns match the
		// logged ones, keep them: cutting them and logging them again
		// would, for a moment, drop a txn that may have been committed
		// with this follower's ack.
		for _, e := range ls.entries {
			if e.Zxid() <= t {
				continue
			}
			if i >= len(n.tail) || n.tail[i].Zxid() != e.Zxid() {
				break
			}
			t = e.Zxid()
			i++
		}
		n.tail = n.tail[:i]
		if t != n.lastLogged {
			n.pending.Truncate = &t
		}
		n.lastLogged = t
	}
	for _, e := range ls.entries {
		if e.Zxid() > n.lastLogged {
			n.appendEntry(e)
		}
	}
	n.ls = nil
	n.currentEpoch = n.epoch
	ce := n.epoch
	n.pending.SetCurrentEpoch = &ce
	n.send(Message{Type: MsgAck, To: n.leader, Zxid: makeZxid(n.epoch, 0)})
	if n.role == Follower && epochOf(n.lastLogged) == n.epoch {
		// Proposals of this epoch forwarded during the sync: ack them now,
		// after the NEWLEADER ack.
		n.send(Message{Type: MsgAck, To: n.leader, Zxid: n.lastLogged})
	}
}

func (n *Node) appendEntry(e Entry) {
	n.tail = append(n.tail, e)
	n.pending.Append = appendRecycled(n.pending.Append, &n.spareAppend, e)
	n.lastLogged = e.Zxid()
}

// logProposal logs a broadcast proposal and acks it. Proposals must arrive
// in order without gaps; a gap means a lost message on what should be a
// reliable connection, so the learner drops out and resyncs.
func (n *Node) logProposal(m Message) {
	z := m.Zxid
	if z <= n.lastLogged {
		return // duplicate
	}
	if want := n.nextZxid(); z != want {
		n.stepDown(fmt.Errorf("zab: proposal %#x out of order, expected %#x", z, n.nextZxid()))
		return
	}
	n.appendEntry(*m.Entry)
	n.send(Message{Type: MsgAck, To: n.leader, Zxid: z})
}

// nextZxid is the zxid the next broadcast txn must have.
func (n *Node) nextZxid() int64 {
	if epochOf(n.lastLogged) == n.epoch {
		return n.lastLogged + 1
	}
	return makeZxid(n.epoch, 1)
}
