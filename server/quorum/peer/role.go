package peer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/quorum/zab"
	"github.com/zkd-io/zkd/server/snapshot"
)

// state is what outlives a role: the tree and the session table it was
// built with, and the zxid it reflects. Only Run's goroutine touches it
// (the tree's contents are also read by others under its lock).
type state struct {
	tree     *datatree.Tree
	sessions map[int64]int32
	applied  int64
}

// role runs one zab.Node from an election result until it steps down.
type role struct {
	p      *Peer
	d      *disk
	st     *state
	leader int64
	term   uint64
	// onEstablished is called with the epoch once it is established
	// (the election transport's UpdateElectionVote).
	onEstablished func(epoch int64)

	node    *zab.Node
	events  chan event
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex // guards all: accept adds connections concurrently
	all     map[*conn]bool
	conns   map[int64]*conn
	acked   map[int64]int64
	waiters map[int64]*proposal
	est     bool

	started    time.Time                     // the role began (learners: sync duration)
	lagging    map[int64]bool                // leader: followers above the lag warning
	syncKind   string                        // learner: how the leader synced it
	proposedAt map[int64]time.Time           // leader: outstanding proposals (latency metrics)
	ackObs     map[int64]prometheus.Observer // leader: ACK latency by follower
	lagGauges  map[int64]prometheus.Gauge    // leader: published lag series by follower
	proposals  ProposalSizes                 // leader: sizes of this role's proposals
	// sized is the leader's last proposal: its zxid, counted in
	// proposals, and its encoded txn, which every follower it goes to is
	// sent (a packet's data is never written to).
	sized struct {
		zxid int64
		data []byte
	}
	// zs and followers are publish's buffers. The follower list alternates
	// between two arrays: Peer.Status copies the published one under the
	// lock, so the other is free to be refilled.
	zs        zab.Status
	followers [2][]FollowerStatus

	// revalidations (learner) wait for the leader's REVALIDATE answers,
	// oldest first per session, as ZooKeeper's pendingRevalidations.
	revalidations map[int64][]*revalidation

	writer   *logWriter  // in broadcast: asynchronous log writes
	inflight []zab.Ready // Readies handed to writer, not yet Advanced

	// snapping is set while a snapshot is written in the background;
	// snapDone reports its end (buffered: at most one is in flight).
	snapping bool
	snapDone chan snapResult
	// resnap (learner) is set when a SNAP was installed: see
	// resnapshotIfSynced.
	resnap bool
	// heldNewLeader (leader) has an entry for each learner connection
	// whose SNAP database is being encoded: the NEWLEADER the core sent
	// it, held back until the encoding ends (nil until the core sends
	// it). See releaseNewLeader.
	heldNewLeader map[*conn]*wire.Packet
}

// snapResult is a background snapshot write's outcome.
type snapResult struct {
	zxid int64
	err  error
}

func (r *role) self() int64 { return r.p.cfg.ID }

func (r *role) run(ctx context.Context) (runErr error) {
	p := r.p
	r.events = make(chan event, 1024)
	r.snapDone = make(chan snapResult, 1)
	r.stop = make(chan struct{})
	r.all = map[*conn]bool{}
	r.conns = map[int64]*conn{}
	r.acked = map[int64]int64{}
	r.waiters = map[int64]*proposal{}
	r.proposedAt = map[int64]time.Time{}
	r.ackObs = map[int64]prometheus.Observer{}
	r.revalidations = map[int64][]*revalidation{}
	r.lagGauges = map[int64]prometheus.Gauge{}
	r.lagging = map[int64]bool{}
	r.heldNewLeader = map[*conn]*wire.Packet{}
	r.started = time.Now()
	var ln net.Listener
	defer func() {
		if err := r.closeWriter(); err != nil {
			if fatal := (*fatalError)(nil); !errors.As(runErr, &fatal) {
				runErr = &fatalError{err}
			}
		}
		close(r.stop)
		if ln != nil {
			_ = ln.Close()
		}
		r.mu.Lock()
		for c := range r.all {
			c.close()
		}
		r.mu.Unlock()
		r.wg.Wait()
		if r.snapping {
			r.snapshotWritten(<-r.snapDone) // the next role's disk view includes it
		}
		for _, w := range r.waiters {
			w.result <- proposeResult{err: ErrOutcomeUnknown}
		}
		for _, rvs := range r.revalidations {
			for _, rv := range rvs {
				r.p.metrics.revalidations.WithLabelValues("unanswered").Inc()
				rv.answer(false, ErrRevalidateUnanswered)
			}
		}
	}()

	cfg := p.zabConfig(r.st.applied)
	leading := r.leader == r.self()
	if leading {
		addr, err := p.quorumAddr(r.self())
		if err != nil {
			return err
		}
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", addr); err != nil {
			return fmt.Errorf("peer: listen for learners on %s: %w", addr, err)
		}
		r.wg.Go(func() { r.accept(ln) })
	} else {
		c, err := r.dialLeader(ctx)
		if err != nil {
			return err
		}
		r.conns[r.leader] = c
	}
	r.node = zab.New(cfg, r.d, r.leader)
	stateGauge := stateFollowing
	if leading {
		stateGauge = stateLeading
	} else if slices.Contains(cfg.Observers, r.self()) {
		stateGauge = stateObserving
	}
	p.metrics.setRole(stateGauge)
	p.log.Info().Int64("leader", r.leader).Str("role", State(stateGauge).String()).Msg("starting role")

	ticker := time.NewTicker(p.cfg.TickTime)
	defer ticker.Stop()
	for {
		if err := r.handleReady(); err != nil {
			return err
		}
		r.publish()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-ticker.C:
			r.node.Tick()
			p.maybePurge(now)
		case wd := <-r.writeDone():
			if err := r.onWritten(wd); err != nil {
				return err
			}
		case res := <-r.snapDone:
			r.snapshotWritten(res)
			if err := r.resnapshotIfSynced(); err != nil {
				return &fatalError{err}
			}
			r.snapshotIfDue()
		case ev := <-r.events:
			if err := r.onEvent(ev); err != nil {
				return err
			}
			// Take whatever else already arrived before the next Ready, so
			// that a burst of PROPOSALs is logged with one fsync and a
			// burst of ACKs is counted in one pass: the learner's side of
			// group commit.
			if err := r.drainEvents(); err != nil {
				return err
			}
		case <-p.cmdWake:
			if err := r.runCommands(); err != nil {
				return err
			}
		case req := <-p.proposeCh:
			zxid, err := r.node.Propose(req.hdr, req.txn)
			if err != nil {
				if errors.Is(err, zab.ErrNotLeading) || errors.Is(err, zab.ErrStopped) {
					err = ErrNotLeader
				}
				req.result <- proposeResult{err: err}
				continue
			}
			p.metrics.proposals.Inc()
			r.proposedAt[zxid] = time.Now()
			r.waiters[zxid] = req
		}
	}
}

// maxDrain bounds the events taken in one pass, so ticks and commands are
// not starved under a flood.
const maxDrain = 1024

func (r *role) drainEvents() error {
	for range maxDrain {
		select {
		case ev := <-r.events:
			if err := r.onEvent(ev); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func (r *role) accept(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		select {
		case <-r.stop:
			r.mu.Unlock()
			_ = nc.Close()
			return
		default:
		}
		c := startConn(nc, 0, r.events, r.stop, r.writeTimeout(), &r.wg)
		r.all[c] = true
		r.mu.Unlock()
	}
}

func (r *role) writeTimeout() time.Duration {
	return time.Duration(r.p.cfg.SyncLimit) * r.p.cfg.TickTime
}

// dialLeader connects to the leader's quorum port, retrying for up to
// initLimit ticks: the leader starts listening only once it decided.
func (r *role) dialLeader(ctx context.Context) (*conn, error) {
	addr, err := r.p.quorumAddr(r.leader)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Duration(r.p.cfg.InitLimit) * r.p.cfg.TickTime)
	d := net.Dialer{Timeout: r.p.cfg.TickTime * time.Duration(r.p.cfg.SyncLimit), LocalAddr: r.p.dialSource()}
	for attempt := 1; ; attempt++ {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			r.mu.Lock()
			c := startConn(nc, r.leader, r.events, r.stop, r.writeTimeout(), &r.wg)
			r.all[c] = true
			r.mu.Unlock()
			return c, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: leader %d at %s (%d attempts): %w", errLeaderUnreachable, r.leader, addr, attempt, err)
		}
		sleepCtx(ctx, min(100*time.Millisecond, r.p.cfg.TickTime))
	}
}

func (r *role) onEvent(ev event) error {
	c := ev.c
	if ev.snapEncoded {
		r.releaseNewLeader(c)
		return nil
	}
	if ev.err != nil {
		r.mu.Lock()
		delete(r.all, c)
		r.mu.Unlock()
		if c.id != 0 && r.conns[c.id] == c {
			delete(r.conns, c.id)
		}
		if r.leader != r.self() && c.id == r.leader {
			return fmt.Errorf("%w: leader %d: %w", errLeaderConnLost, r.leader, ev.err)
		}
		return nil
	}
	pkt := ev.pkt
	if c.id == 0 {
		// First packet from a learner: it names the learner.
		if pkt.Type != wire.TypeFollowerInfo && pkt.Type != wire.TypeObserverInfo {
			r.p.log.Warn().Str("packet", pkt.String()).Msg("learner did not start with FOLLOWERINFO/OBSERVERINFO; closing")
			c.close()
			return nil
		}
		li, err := wire.DecodeLearnerInfo(pkt.Data)
		if err == nil && !slices.ContainsFunc(r.p.cfg.Quorum.Servers, func(s wire.QuorumServer) bool { return s.ID == li.SID && s.ID != r.self() }) {
			err = fmt.Errorf("server %d is not another member of the ensemble", li.SID)
		}
		if err != nil {
			r.p.log.Warn().Err(err).Msg("bad learner info; closing")
			c.close()
			return nil
		}
		if old := r.conns[li.SID]; old != nil {
			old.close()
		}
		c.id = li.SID
		r.conns[li.SID] = c
		delete(r.acked, li.SID)
	} else if r.conns[c.id] != c {
		return nil // a replaced connection's leftovers
	}
	if c.toLeader && r.p.fromLeader != nil {
		r.p.fromLeader(pkt)
	}
	if pkt.Type == wire.TypeRevalidate {
		if r.leader == r.self() {
			r.revalidate(c, pkt)
		} else {
			r.revalidated(pkt)
		}
		return nil
	}
	m, err := fromPacket(pkt, c.id, r.self(), maxPacket)
	if err != nil {
		r.p.log.Warn().Err(err).Msg("dropping learner connection")
		c.close()
		return nil
	}
	if ev.snap != nil && m.Snapshot != nil {
		m.Snapshot.Payload = ev.snap
	}
	switch m.Type {
	case zab.MsgDiff, zab.MsgTrunc, zab.MsgSnap:
		r.syncKind = map[zab.MsgType]string{zab.MsgDiff: "diff", zab.MsgTrunc: "trunc", zab.MsgSnap: "snap"}[m.Type]
		r.p.metrics.syncs.WithLabelValues(r.syncKind).Inc()
	case zab.MsgPing:
		if r.leader == r.self() && len(m.Data) > 0 && r.p.cfg.OnPing != nil {
			r.p.cfg.OnPing(c.id, m.Data)
		}
	case zab.MsgAck:
		if r.leader == r.self() {
			if m.Zxid&0xffffffff != 0 {
				r.acked[c.id] = max(r.acked[c.id], m.Zxid)
				if t, ok := r.proposedAt[m.Zxid]; ok {
					now := time.Now()
					r.ackObserver(c.id).Observe(now.Sub(t).Seconds())
					if r.p.cfg.OnQuorumProgress != nil {
						r.p.cfg.OnQuorumProgress(QuorumProgress{Zxid: m.Zxid, From: c.id, At: now})
					}
				}
			} else if m.Zxid>>32 != 0 {
				// The NEWLEADER ack: the learner holds what the sync sent,
				// which ended at our log's end when NEWLEADER left (an
				// approximation when proposals were forwarded meanwhile).
				// That end may lie in an earlier epoch: the ack's own zxid,
				// this epoch's start, then keeps the lag in this epoch's
				// txns instead of a distance across epochs of about 2^32.
				r.acked[c.id] = max(r.acked[c.id], r.node.Status().LastZxid, m.Zxid)
			}
		}
	}
	if err := r.node.Step(m); err != nil {
		r.p.log.Warn().Err(err).Int64("from", c.id).Msg("message refused")
		if r.leader != r.self() {
			return err
		}
	}
	return nil
}

// revalidate answers a learner's REVALIDATE as LearnerMaster.
// revalidateSession does: a client re-attached to that learner with a
// session the learner does not know, and the session is valid if it is
// in the committed session table. A valid one is touched, as a PING
// entry (same layout: session id, timeout) would touch it.
func (r *role) revalidate(c *conn, pkt wire.Packet) {
	req, err := wire.DecodeRevalidateRequest(pkt.Data)
	if err != nil {
		r.p.log.Warn().Err(err).Int64("from", c.id).Msg("bad REVALIDATE; dropping learner connection")
		c.close()
		return
	}
	_, valid := r.st.sessions[req.SessionID]
	if valid && r.p.cfg.OnPing != nil {
		r.p.cfg.OnPing(c.id, pkt.Data[:12])
	}
	c.send(wire.Packet{Type: wire.TypeRevalidate, Zxid: pkt.Zxid,
		Data: wire.RevalidateResponse{SessionID: req.SessionID, Valid: valid}.Encode()})
}

// handleReady carries out every pending Ready in the order zab.Ready's doc
// requires.
func (r *role) handleReady() error {
	for r.node.HasReady() {
		rd := r.node.Ready()
		if r.writeAsync(&rd) {
			continue
		}
		if len(r.inflight) > 0 && rd.HasDurableWork() {
			// Durable writes stay in order: what the writer holds first.
			if err := r.drainWrites(); err != nil {
				return err
			}
		}
		if rd.Snapshot != nil {
			if err := r.installSnapshot(rd.Snapshot); err != nil {
				return &fatalError{err}
			}
		}
		if rd.Truncate != nil {
			if err := r.d.truncate(*rd.Truncate); err != nil {
				return &fatalError{err}
			}
		}
		sentEarly := r.sendProposalsEarly(&rd)
		if len(rd.Append) > 0 {
			if err := r.d.append(rd.Append); err != nil {
				return &fatalError{err}
			}
		}
		if rd.SetAcceptedEpoch != nil {
			if err := r.d.setAcceptedEpoch(*rd.SetAcceptedEpoch); err != nil {
				return &fatalError{err}
			}
		}
		if rd.SetCurrentEpoch != nil {
			if err := r.d.setCurrentEpoch(*rd.SetCurrentEpoch); err != nil {
				return &fatalError{err}
			}
		}
		r.apply(rd.Commit)
		r.snapshotIfDue()
		for i, m := range rd.Messages {
			if sentEarly != nil && sentEarly[i] {
				continue
			}
			if err := r.send(m); err != nil {
				r.notSent(m, err)
			}
		}
		r.deliver(&rd)
		if rd.Established {
			r.est = true
			if r.writer == nil {
				r.writer = startLogWriter(r.d)
			}
			if err := r.resnapshotIfSynced(); err != nil {
				return &fatalError{err}
			}
			if r.onEstablished != nil {
				r.onEstablished(r.node.Status().Epoch)
			}
			if r.leader == r.self() {
				r.p.metrics.isLeader.Set(1)
			} else {
				r.p.metrics.syncDuration.WithLabelValues(cmp.Or(r.syncKind, "none")).Observe(time.Since(r.started).Seconds())
			}
			r.p.log.Info().Int64("leader", r.leader).Msg("epoch established")
		}
		r.node.Advance(rd)
		if rd.StepDown != nil {
			return rd.StepDown
		}
	}
	return nil
}

// sendProposalsEarly sends the Ready's EarlyMessages (a leader's
// PROPOSALs) before the leader logs them, so that followers fsync in
// parallel with it. It returns the indexes sent (nil: none).
func (r *role) sendProposalsEarly(rd *zab.Ready) map[int]bool {
	early := rd.EarlyMessages()
	if len(early) == 0 {
		return nil
	}
	sent := make(map[int]bool, len(early))
	for _, i := range early {
		sent[i] = true
		if err := r.send(rd.Messages[i]); err != nil {
			r.notSent(rd.Messages[i], err)
		}
	}
	return sent
}

// writeAsync carries out a Ready in broadcast whose only durable work is
// appending proposals, so the owner goroutine keeps applying commits and
// answering clients while the disk works: commits are applied and
// messages sent now, the append goes to the log writer, and Advance
// follows when it is durable (onWritten). It reports whether it took rd.
//
// On the leader none of the messages depends on this append: its own
// vote for these txns counts only at Advance. A learner's ACKs do depend
// on it, so they wait for the write (advanceWritten sends them); its other
// messages (forwarded requests, pings, syncs) leave now. A learner applies
// the commits at once even when their txns are still being logged here:
// a COMMIT means a quorum already has them on disk, which is what
// ZooKeeper's followers rely on too (their CommitProcessor does not wait
// for the local SyncRequestProcessor).
func (r *role) writeAsync(rd *zab.Ready) bool {
	if r.writer == nil || !rd.OnlyAppends() || rd.Established {
		return false
	}
	r.writer.enqueue(rd.Append)
	r.inflight = append(r.inflight, *rd)
	r.apply(rd.Commit)
	learner := r.leader != r.self()
	for _, m := range rd.Messages {
		if learner && m.Type == zab.MsgAck {
			continue
		}
		if err := r.send(m); err != nil {
			r.notSent(m, err)
		}
	}
	r.deliver(rd)
	return true
}

// writeDone is the writer's report channel, nil (never ready) when there
// is no writer.
func (r *role) writeDone() <-chan writeDone {
	if r.writer == nil {
		return nil
	}
	return r.writer.done
}

// onWritten records batches the writer made durable and tells the core.
func (r *role) onWritten(wd writeDone) error {
	if err := r.advanceWritten(wd); err != nil {
		return err
	}
	r.snapshotIfDue()
	return r.handleReady()
}

// drainWrites waits until every Ready handed to the writer is durable and
// advanced.
func (r *role) drainWrites() error {
	for len(r.inflight) > 0 {
		if err := r.advanceWritten(<-r.writer.done); err != nil {
			return err
		}
	}
	return nil
}

// closeWriter stops the log writer once it has written what it holds,
// and records in the disk view what became durable, which the next role
// starts from. A write that fails here is as fatal as one in broadcast
// (advanceWritten): a learner applies COMMITs while their txns are still
// queued for the writer (writeAsync), so its tree would be ahead of its
// log; the next role's core refuses that (zab.New steps down), and the
// peer would go round election and refusal until stopped.
func (r *role) closeWriter() error {
	if r.writer == nil {
		return nil
	}
	var failed error
	for _, wd := range r.writer.close() {
		if failed = cmp.Or(failed, wd.err); failed == nil {
			r.d.appended(wd.entries, wd.snapDue)
		}
	}
	return failed
}

// advanceWritten records what the writer made durable in the disk view
// and advances the core past those Readies, in order.
func (r *role) advanceWritten(wd writeDone) error {
	if wd.err != nil {
		return &fatalError{wd.err}
	}
	r.d.appended(wd.entries, wd.snapDue)
	learner := r.leader != r.self()
	if !learner && r.p.cfg.OnQuorumProgress != nil {
		now := time.Now()
		for i := range wd.entries {
			r.p.cfg.OnQuorumProgress(QuorumProgress{Zxid: wd.entries[i].Hdr.Zxid, From: r.self(), At: now})
		}
	}
	for range wd.batches {
		rd := r.inflight[0]
		// Shifted down, not resliced, so the array keeps its capacity
		// and the next append does not allocate.
		r.inflight = slices.Delete(r.inflight, 0, 1)
		if learner {
			r.sendAcks(rd.Messages)
		}
		r.node.Advance(rd)
	}
	return nil
}

// publishLag sets the lag gauge of every synced follower and removes the
// series of followers no longer synced. It runs after every event, so the
// gauges are looked up once per follower, not once per call.
func (r *role) publishLag(last int64, followers []FollowerStatus) {
	seen := 0
	for _, f := range followers {
		if !f.Synced {
			continue
		}
		g, ok := r.lagGauges[f.ID]
		if !ok {
			g = r.p.metrics.lagGauge(f.ID)
			r.lagGauges[f.ID] = g
		}
		g.Set(float64(max(0, last-f.AckedZxid)))
		seen++
	}
	if seen == len(r.lagGauges) {
		return
	}
	for id := range r.lagGauges {
		if !slices.ContainsFunc(followers, func(f FollowerStatus) bool { return f.ID == id && f.Synced }) {
			r.p.metrics.deleteLag(id)
			delete(r.lagGauges, id)
		}
	}
}

// ackObserver is the follower's ACK latency histogram, looked up once per
// follower rather than once per ACK.
func (r *role) ackObserver(id int64) prometheus.Observer {
	o, ok := r.ackObs[id]
	if !ok {
		o = r.p.metrics.ackLatency.WithLabelValues(strconv.FormatInt(id, 10))
		r.ackObs[id] = o
	}
	return o
}

// askRevalidate sends a learner's REVALIDATE to its leader, or answers on
// the leader from the committed sessions (as it answers its learners).
func (r *role) askRevalidate(rv *revalidation) {
	if r.leader == r.self() {
		_, valid := r.st.sessions[rv.session]
		rv.answer(valid, nil)
		return
	}
	c := r.conns[r.leader]
	if c == nil {
		r.p.metrics.revalidations.WithLabelValues("unanswered").Inc()
		rv.answer(false, ErrRevalidateUnanswered)
		return
	}
	rv.sent = time.Now()
	r.revalidations[rv.session] = append(r.revalidations[rv.session], rv)
	c.send(wire.Packet{Type: wire.TypeRevalidate, Zxid: -1,
		Data: wire.RevalidateRequest{SessionID: rv.session, Timeout: rv.timeout}.Encode()})
}

// revalidated delivers the leader's REVALIDATE answer to the oldest
// waiting re-attach of that session (Learner.revalidate).
func (r *role) revalidated(pkt wire.Packet) {
	resp, err := wire.DecodeRevalidateResponse(pkt.Data)
	if err != nil {
		r.p.log.Warn().Err(err).Msg("bad REVALIDATE answer from the leader; ignored")
		return
	}
	waiting := r.revalidations[resp.SessionID]
	if len(waiting) == 0 {
		r.p.log.Warn().Str("session", hex(resp.SessionID)).Msg("REVALIDATE answer for a session nobody waits for; ignored")
		return
	}
	rv := waiting[0]
	if len(waiting) == 1 {
		delete(r.revalidations, resp.SessionID)
	} else {
		r.revalidations[resp.SessionID] = waiting[1:]
	}
	r.p.metrics.revalidateTime.Observe(time.Since(rv.sent).Seconds())
	r.p.metrics.revalidations.WithLabelValues(map[bool]string{true: "valid", false: "invalid"}[resp.Valid]).Inc()
	rv.answer(resp.Valid, nil)
}

// sendAcks sends a learner's ACKs that waited for their txns to be
// durable (writeAsync held them back).
func (r *role) sendAcks(msgs []zab.Message) {
	for _, m := range msgs {
		if m.Type != zab.MsgAck {
			continue
		}
		if err := r.send(m); err != nil {
			r.notSent(m, err)
		}
	}
}

// snapshotIfDue writes a snapshot when storage asked for one. A failure
// only makes recovery longer (the log still holds everything), as when
// ZooKeeper's snapshot thread fails.
//
// Only the sessions and the zxid are taken here, on the owner goroutine,
// which owns both. Encoding the tree (a fuzzy snapshot, as ZooKeeper's
// snapshot thread takes: broadcast goes on applying txns meanwhile),
// writing and fsyncing the file run in the background and report to
// snapDone, so broadcast stalls neither behind a large tree nor behind
// the disk.
//
// A learner applies COMMITs of txns its log writer still holds
// (writeAsync), and a leader commits on its followers' acks before its
// own append is durable, so the tree can be ahead of the durable log. No snapshot
// is taken then: one named after such a txn could be durable before the
// log catches up, and a crash in between would leave the log with a gap
// under it. The restart would trust the snapshot for the missing txns,
// but a DIFF this peer later reads from its log, as leader, would skip
// them. The snapshot waits until the writer is done (onWritten asks
// again); the seeded simulator found this.
func (r *role) snapshotIfDue() {
	if !r.d.snapDue || r.snapping || r.st.applied > r.d.LastZxid() {
		return
	}
	r.d.snapDue = false
	sessions, zxid := r.sessionList(), r.st.applied
	r.snapping = true
	r.wg.Go(func() {
		stream, err := r.d.store.EncodeSnapshot(r.st.tree, sessions, zxid)
		if err == nil { // else logged and counted by the store
			_, err = r.d.store.Snapshot(zxid, stream)
		}
		r.snapDone <- snapResult{zxid: zxid, err: err}
	})
}

// resnapshotIfSynced takes a learner's snapshot out of snapCount's turn
// once it is established after installing a SNAP. installSnapshot wrote
// the leader's database as it came: fuzzy (it may already hold the effects
// of txns after its zxid), with a digest record of that fuzzy tree at the
// SNAP's zxid. Replaying the logged txns over it converges, since each txn
// whose effect it may hold reaches the learner before UPTODATE. But until
// the replay gets there the tree's digest differs from the logged ones, so
// a start-up that checks digests (a standalone server, zkd logdump) over
// that file would report false mismatches. ZooKeeper's learner takes its
// snapshot at NEWLEADER for this reason. Once established, the tree is
// consistent at every zxid, and a snapshot taken now supersedes the
// installed one. If a snapshot is being written, this waits for its end.
func (r *role) resnapshotIfSynced() error {
	if !r.resnap || !r.est || r.snapping {
		return nil
	}
	r.resnap = false
	if err := r.d.startSnapshot(); err != nil {
		return err
	}
	r.snapshotIfDue()
	return nil
}

// snapshotWritten records a background snapshot's outcome in the disk
// view (storage has logged and counted a failure).
func (r *role) snapshotWritten(res snapResult) {
	r.snapping = false
	if res.err == nil {
		r.d.snapZxid = max(r.d.snapZxid, res.zxid)
	}
}

// deliver hands a Ready's forwarded requests and sync answers to the
// server, and reports the gaps in the txn log that its syncs found.
func (r *role) deliver(rd *zab.Ready) {
	for _, g := range rd.LogGaps {
		r.p.metrics.logGaps.Inc()
		r.p.log.Warn().Int64("learner", g.Learner).Str("after", hex(g.After)).Str("next", hex(g.Next)).
			Msg("the txn log skips txns between these zxids (a snapshot installed or taken ahead of it); syncing the learner with SNAP instead of from the log")
	}
	for _, m := range rd.Requests {
		if r.p.cfg.OnRequest == nil {
			r.p.metrics.droppedRequests.Inc()
			continue
		}
		r.p.cfg.OnRequest(m.From, m.Data, m.Auth)
	}
	for _, data := range rd.Synced {
		if r.p.cfg.OnSynced != nil {
			r.p.cfg.OnSynced(data)
		}
	}
}

// installSnapshot replaces the tree with the leader's snapshot (SNAP),
// after checking it decodes, and makes it this peer's durable history.
func (r *role) installSnapshot(s *zab.SnapshotReq) error {
	snap, ok := s.Payload.(*snapshot.Snapshot)
	if !ok {
		return fmt.Errorf("peer: SNAP %s without the leader's database", hex(s.Zxid))
	}
	if r.snapping {
		// A snapshot of the tree being replaced is still being encoded:
		// let it end first, so it does not mix the two.
		r.snapshotWritten(<-r.snapDone)
	}
	if snap.Tree.LastProcessedZxid() < s.Zxid {
		snap.Tree.SetLastProcessedZxid(s.Zxid)
	}
	snap.Tree.RLock()
	stream, err := snapshot.Encode(snap.Tree, snap.Sessions)
	snap.Tree.RUnlock()
	if err != nil {
		return fmt.Errorf("peer: encode leader's snapshot %s: %w", hex(s.Zxid), err)
	}
	if err := r.d.installSnapshot(s.Zxid, stream); err != nil {
		return err
	}
	r.resnap = true
	r.st.tree.Lock()
	r.st.tree.ReplaceContents(snap.Tree)
	r.st.tree.Unlock()
	r.st.applied = s.Zxid
	r.st.sessions = map[int64]int32{}
	for _, ss := range snap.Sessions {
		r.st.sessions[ss.ID] = ss.TimeoutMs
	}
	r.p.log.Info().Str("zxid", hex(s.Zxid)).Int("bytes", len(stream)).Msg("installed leader's snapshot")
	return nil
}

func (r *role) apply(entries []zab.Entry) {
	if len(entries) == 0 {
		return
	}
	t := r.st.tree
	t.Lock()
	for i := range entries {
		e := &entries[i]
		res := t.ProcessTxn(&e.Hdr, e.Txn)
		// Only in broadcast: what a sync delivers may replay txns a fuzzy
		// snapshot from the leader already holds, which ZooKeeper does not
		// compare either (DataTree.compareDigest skips the fuzzy state).
		if r.est && e.Digest != nil && !t.CheckDigest(e.Digest) {
			// DataTree.compareDigest: counted (zkd_tree_digest_mismatches_total)
			// and logged; the txn stays applied, as in ZooKeeper.
			r.p.log.Warn().Str("zxid", hex(e.Hdr.Zxid)).Str("want", hex(e.Digest.TreeDigest)).Str("got", hex(t.Digest())).
				Msg("tree digest after applying a txn differs from the leader's")
		}
		trackSession(r.st.sessions, &e.Hdr, e.Txn)
		r.st.applied = e.Hdr.Zxid
		if r.p.cfg.OnCommit != nil {
			r.p.cfg.OnCommit(*e, res)
		}
	}
	t.Unlock()
	r.p.metrics.commits.Add(float64(len(entries)))
	now := time.Now()
	for _, e := range entries {
		if t, ok := r.proposedAt[e.Hdr.Zxid]; ok {
			r.p.metrics.commitLatency.Observe(now.Sub(t).Seconds())
			delete(r.proposedAt, e.Hdr.Zxid)
		}
		if w := r.waiters[e.Hdr.Zxid]; w != nil {
			delete(r.waiters, e.Hdr.Zxid)
			w.result <- proposeResult{zxid: e.Hdr.Zxid}
		}
	}
}

func (r *role) send(m zab.Message) error {
	c := r.conns[m.To]
	if c == nil {
		return fmt.Errorf("peer: no connection to %d for %v", m.To, m)
	}
	var pending <-chan encoded
	if m.Type == zab.MsgSnap {
		// ZooKeeper's layout: an empty SNAP packet, then the database and
		// the signature on the stream (LearnerHandler.syncFollower).
		if r.st.applied != m.Snapshot.Zxid {
			return fmt.Errorf("peer: SNAP at %s but the tree is at %s", hex(m.Snapshot.Zxid), hex(r.st.applied))
		}
		pending = r.encodeSnap(c, m.To, m.Snapshot.Zxid)
		r.heldNewLeader[c] = nil
	}
	if m.Type == zab.MsgPing && r.leader != r.self() && r.p.cfg.PingData != nil {
		m.Data = r.p.cfg.PingData()
	}
	var pkt wire.Packet
	if m.Type == zab.MsgProposal && m.Zxid == r.sized.zxid {
		// Encoded once per proposal, not once per follower it goes to.
		pkt = wire.Packet{Type: wire.TypeProposal, Zxid: m.Zxid, Data: r.sized.data}
	} else {
		var err error
		if pkt, err = toPacket(m, r.self(), &r.p.cfg.Quorum); err != nil {
			return err
		}
	}
	if m.Type == zab.MsgProposal && m.Zxid > r.sized.zxid {
		r.sized.zxid, r.sized.data = m.Zxid, pkt.Data
		r.proposals.add(len(pkt.Data))
		r.p.metrics.proposalSize.Observe(float64(len(pkt.Data)))
	}
	if _, encoding := r.heldNewLeader[c]; encoding && m.Type == zab.MsgNewLeader {
		held := pkt // a copy, so that pkt, taken by every send, stays off the heap
		r.heldNewLeader[c] = &held
		return nil
	}
	if pending != nil {
		c.sendPending(pkt, pending)
	} else {
		c.send(pkt)
	}
	return nil
}

// releaseNewLeader queues the NEWLEADER held back for learner connection
// c now that the database for its SNAP is encoded. The core sends
// NEWLEADER right after the SNAP, but the encoding is fuzzy: broadcast
// goes on meanwhile, and the database may hold txns committed after the
// SNAP's zxid. Queued now, NEWLEADER follows the COMMIT of every such txn:
// this goroutine applies a txn and queues its COMMITs in one step, and
// the encoding ended before this event. That is ZooKeeper's order
// (LearnerHandler queues NEWLEADER once serializeSnapshot returns), on
// which its learner relies: it applies the COMMITs it receives before
// NEWLEADER to the SNAP's tree and then snapshots that tree as consistent
// at its last zxid.
func (r *role) releaseNewLeader(c *conn) {
	pkt, ok := r.heldNewLeader[c]
	delete(r.heldNewLeader, c)
	if !ok || pkt == nil || c.ctx.Err() != nil {
		return // the learner went away, or the core has not sent it yet
	}
	c.send(*pkt)
}

// encodeSnap encodes the database for learner to's SNAP at zxid, the zxid
// applied now, on a goroutine of its own, as ZooKeeper's LearnerHandler
// does: encoding a large tree takes long, and this goroutine must go on
// broadcasting meanwhile (pings and ACKs included, or every follower
// would miss syncLimit while one learner syncs). The walk is fuzzy
// (snapshot.EncodeFuzzySyncStream): nodes may hold txns after zxid, which
// the learner replays over them from the PROPOSALs and COMMITs the core
// queues after the SNAP; NEWLEADER waits for the end of the encoding
// (releaseNewLeader), so that the COMMITs of all such txns precede it.
// The sessions are taken here, at zxid. The encoding stops if c closes
// first.
func (r *role) encodeSnap(c *conn, to, zxid int64) <-chan encoded {
	tree, sessions := r.st.tree, r.sessionList()
	done := make(chan encoded, 1)
	r.wg.Go(func() {
		start := time.Now()
		stream, err := snapshot.EncodeFuzzySyncStream(c.ctx, tree, sessions, r.p.snapChunk)
		switch {
		case err == nil:
			r.p.metrics.snapEncodes.WithLabelValues("ok").Inc()
			r.p.metrics.snapEncodeTime.Observe(time.Since(start).Seconds())
			r.p.log.Info().Int64("learner", to).Str("zxid", hex(zxid)).Int("bytes", len(stream)).
				Dur("took", time.Since(start)).Msg("encoded database for a learner's SNAP")
		case c.ctx.Err() != nil:
			r.p.metrics.snapEncodes.WithLabelValues("cancelled").Inc()
			r.p.log.Info().Int64("learner", to).Str("zxid", hex(zxid)).Msg("learner went away while its SNAP was encoded")
		default:
			r.p.metrics.snapEncodes.WithLabelValues("error").Inc()
			r.p.log.Error().Err(err).Int64("learner", to).Str("zxid", hex(zxid)).
				Msg("cannot encode the database for a learner's SNAP; closing its connection")
		}
		done <- encoded{stream: stream, err: err}
		select {
		case r.events <- event{c: c, snapEncoded: true}:
		case <-r.stop:
		}
	})
	return done
}

// warnLagging logs (and counts) a synced follower whose acknowledged zxid
// falls more than LagWarning txns behind the leader's log, once each time
// it crosses the threshold; an operator sees it before syncLimit drops the
// follower.
func (r *role) warnLagging(last int64, followers []FollowerStatus) {
	limit := r.p.cfg.LagWarning
	if limit <= 0 {
		limit = DefaultLagWarning
	}
	for _, f := range followers {
		lag := last - f.AckedZxid
		behind := f.Synced && lag > limit
		if behind && !r.lagging[f.ID] {
			r.p.metrics.lagWarnings.WithLabelValues(strconv.FormatInt(f.ID, 10)).Inc()
			r.p.log.Warn().Int64("follower", f.ID).Int64("lag_txns", lag).Int64("threshold", limit).
				Msg("follower lagging behind the leader")
		}
		r.lagging[f.ID] = behind
	}
}

// notSent counts a message the edge could not send. The usual cause is a
// learner whose connection just closed while the core still has its
// handler (it drops it within syncLimit), which would otherwise log on
// every tick; the counter shows it, the log only at debug level.
func (r *role) notSent(m zab.Message, err error) {
	r.p.metrics.unsent.WithLabelValues(strings.ToLower(m.Type.String())).Inc()
	r.p.log.Debug().Err(err).Int64("to", m.To).Msg("not sent")
}

// runCommands carries out queued Submit and Forward calls of this term, in
// order; those of an earlier term are dropped.
func (r *role) runCommands() error {
	for _, c := range r.p.takeCommands() {
		if c.term != r.term {
			if c.revalidate != nil {
				r.p.metrics.revalidations.WithLabelValues("unanswered").Inc()
				c.revalidate.answer(false, ErrRevalidateUnanswered)
				continue
			}
			r.p.metrics.droppedRequests.Inc()
			continue
		}
		if c.revalidate != nil {
			r.askRevalidate(c.revalidate)
			continue
		}
		if c.forward {
			if err := r.node.Forward(c.data, c.auth); err != nil {
				r.p.metrics.droppedRequests.Inc()
				r.p.log.Warn().Err(err).Msg("cannot forward a client request to the leader")
			}
			continue
		}
		for _, it := range c.items {
			if it.Entry == nil {
				if err := r.node.Sync(it.SyncTo, it.SyncData); err != nil {
					return fmt.Errorf("peer: sync for %d: %w", it.SyncTo, err)
				}
				continue
			}
			want := it.Entry.Hdr.Zxid
			zxid, err := r.node.ProposeEntry(*it.Entry)
			if err != nil {
				return fmt.Errorf("peer: propose %s: %w", hex(want), err)
			}
			if zxid != want {
				return fmt.Errorf("peer: server prepared %s but the core assigned %s", hex(want), hex(zxid))
			}
			r.p.metrics.proposals.Inc()
			r.proposedAt[zxid] = time.Now()
		}
	}
	return nil
}

// sessionList is the committed session table in the snapshot's form,
// ordered by session id.
func (r *role) sessionList() []snapshot.Session {
	out := make([]snapshot.Session, 0, len(r.st.sessions))
	for id, to := range r.st.sessions {
		out = append(out, snapshot.Session{ID: id, TimeoutMs: to})
	}
	slices.SortFunc(out, func(a, b snapshot.Session) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// publish refreshes Status and the leader's gauges.
func (r *role) publish() {
	r.node.StatusInto(&r.zs)
	zs := &r.zs
	s := Status{Term: r.term, ID: r.self(), Leader: r.leader, Epoch: zs.Epoch, Established: r.est && !zs.Stopped,
		LastZxid: zs.LastZxid, CommittedZxid: r.st.applied}
	switch zs.Role {
	case zab.Leader:
		s.State = Leading
	case zab.Observer:
		s.State = Observing
	default:
		s.State = Following
	}
	if zs.Role == zab.Leader {
		r.followers[0], r.followers[1] = r.followers[1], r.followers[0][:0]
		s.Followers = r.followers[1]
		for id, c := range r.conns {
			s.Followers = append(s.Followers, FollowerStatus{ID: id, AckedZxid: r.acked[id], Synced: slices.Contains(zs.SyncedFollowers, id),
				Remote: c.remote, Connected: c.started, QueuedPackets: int(c.queuedLen.Load()),
				QueuedPacketsSize: c.queuedBytes.Load(), PacketsReceived: c.recvd.Load(), PacketsSent: c.sent.Load(),
				Requests: c.requests.Load()})
		}
		slices.SortFunc(s.Followers, func(a, b FollowerStatus) int { return int(a.ID - b.ID) })
		r.followers[1] = s.Followers
		r.p.metrics.synced.Set(float64(len(zs.SyncedFollowers)))
		s.PendingSyncs = zs.PendingSyncs
		s.Proposals = r.proposals
		r.p.metrics.outstanding.Set(float64(len(r.proposedAt)))
		r.warnLagging(zs.LastZxid, s.Followers)
		r.publishLag(zs.LastZxid, s.Followers)
	}
	r.p.setStatus(s)
}

// trackSession keeps the session table of an applied txn: a session
// opens with its CreateSessionTxn and ends with its CloseSessionTxn.
func trackSession(sessions map[int64]int32, hdr *proto.TxnHeader, txn proto.Txn) {
	switch txn := txn.(type) {
	case *proto.CreateSessionTxn:
		sessions[hdr.ClientID] = txn.TimeOut
	case *proto.CloseSessionTxn:
		delete(sessions, hdr.ClientID)
	}
}
