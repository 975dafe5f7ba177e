package zkserver

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zkd-io/zkd/server/auth"
	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/fourlw"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/prep"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/quorum/peer"
	"github.com/zkd-io/zkd/server/quorum/zab"
)

// quorumState is the server's side of ensemble membership (Options.Peer).
//
// As in ZooKeeper, a member serves clients only while its peer is in
// broadcast: leaving it (an election, a lost leader) closes every client
// connection, and clients reconnect wherever a server serves. While
// serving:
//   - the leader preps writes, its own clients' and those its learners
//     forward, into txns with the zxids its ZAB core will assign, and
//     submits them in batches (peer.Submit); it alone expires sessions
//     and reaps containers;
//   - a learner forwards its clients' writes and syncs to the leader
//     (peer.Forward) and reports the sessions its clients touched in its
//     PING answers;
//   - every member answers a write when the txn is committed and applied
//     here (onCommit), finding the request by session id and cxid, and a
//     sync when the leader says everything proposed before it is applied
//     here (onSynced, in order).
//
// Every member holds every global session in its tracker (createSession
// and closeSession are txns), so a client can move to any server and re-
// attach; only the leader's tracker expires them.
type quorumState struct {
	peer *peer.Peer
	id   int64

	mu      sync.Mutex
	status  peer.Status
	serving bool
	leading bool
	prepped int64                // leader: zxid of the last prepped txn (prepOne counts on from it)
	pending map[reqKey]*writeReq // writes of this server's clients (and traced forwarded ones) awaiting their commit
	syncs   []*writeReq          // syncs of this server's clients, in submission order
	touched map[int64]struct{}   // learner: sessions touched since the last PING
	// traced (leader, tracing on): traced writes awaiting their quorum, by
	// zxid, so OnQuorumProgress can mark the leader's fsync and each ACK.
	traced map[int64]*writeTrace
}

type reqKey struct {
	session int64
	cxid    int32
}

func newQuorumState(p *peer.Peer, id int64) *quorumState {
	return &quorumState{peer: p, id: id, pending: map[reqKey]*writeReq{}, touched: map[int64]struct{}{},
		traced: map[int64]*writeTrace{}}
}

// peerHooks connects the server to its peer.
func (s *Server) peerHooks() peer.Hooks {
	h := peer.Hooks{
		OnCommit:  s.onCommit,
		OnRequest: s.onForwarded,
		OnSynced:  s.onSynced,
		OnPing:    s.onLearnerPing,
		PingData:  s.pingData,
		OnStatus:  s.onPeerStatus,
	}
	if s.tracing != nil {
		h.OnQuorumProgress = s.onQuorumProgress
	}
	return h
}

// onQuorumProgress records, on a traced write's span, when the leader's
// own copy became durable and when each follower's ACK arrived.
func (s *Server) onQuorumProgress(p peer.QuorumProgress) {
	q := s.q
	q.mu.Lock()
	if wt := q.traced[p.Zxid]; wt != nil {
		if p.From == q.id {
			wt.leaderDurable = p.At
		} else {
			wt.acks = append(wt.acks, quorumAck{from: p.From, at: p.At})
		}
	}
	q.mu.Unlock()
}

// serving reports whether clients may use the server; standalone servers
// always serve.
func (s *Server) serving() bool {
	if s.q == nil {
		return true
	}
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return s.q.serving
}

// leading reports whether this server may expire sessions and reap nodes:
// a standalone server, or the leader of an established epoch.
func (s *Server) leading() bool {
	if s.q == nil {
		return true
	}
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return s.q.serving && s.q.leading
}

// mode is srvr's Mode: standalone, leader, follower or observer, or "" when
// the member does not serve.
func (s *Server) mode() string {
	if s.q == nil {
		return "standalone"
	}
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if !s.q.serving {
		return ""
	}
	switch s.q.status.State {
	case peer.Leading:
		return "leader"
	case peer.Following:
		return "follower"
	case peer.Observing:
		return "observer"
	}
	return ""
}

// nextZxid is the zxid a new leader's first proposal gets: the counter goes
// on within the leader's epoch and restarts at 1 in a new one.
func nextZxid(epoch, last int64) int64 {
	if last>>32 == epoch {
		return last + 1
	}
	return epoch<<32 | 1
}

// onPeerStatus follows the peer's role. Leaving broadcast, or a new term,
// ends every client connection and forgets what was in flight: those
// clients see a connection loss, as with ZooKeeper, and learn the outcome
// after reconnecting.
func (s *Server) onPeerStatus(st peer.Status) {
	q := s.q
	q.mu.Lock()
	wasServing, wasLeading, prevTerm := q.serving, q.serving && q.leading, q.status.Term
	q.status = st
	q.leading = st.State == peer.Leading
	q.serving = st.Established && st.State != peer.Looking
	if q.serving && q.leading {
		q.prepped = nextZxid(st.Epoch, st.LastZxid) - 1
	}
	var dropped []*writeReq
	if wasServing && (!q.serving || st.Term != prevTerm) {
		for _, w := range q.pending {
			dropped = append(dropped, w)
		}
		dropped = append(dropped, q.syncs...)
		q.pending = map[reqKey]*writeReq{}
		q.syncs = nil
		clear(q.touched)
		clear(q.traced)
	}
	serving, leadingNow := q.serving, q.serving && q.leading
	q.mu.Unlock()

	s.metrics.QuorumServing.Set(boolGauge(serving))
	if wasServing && (!serving || st.Term != prevTerm) {
		s.prepper.Reset()
		s.closeAllConns("not_serving")
		for _, w := range dropped {
			s.abandon(w, "leadership changed")
		}
		s.log.Info().Str("state", st.State.String()).Int64("leader", st.Leader).
			Int("dropped_requests", len(dropped)).Msg("stopped serving clients")
	}
	if serving && (!wasServing || st.Term != prevTerm) {
		if leadingNow && !wasLeading {
			// Sessions were tracked without expiry while this server
			// followed: give each a full timeout, as a new ZooKeeper
			// leader does when it loads its session table.
			now := time.Now()
			for _, ss := range s.sessions.Sessions() {
				s.sessions.Touch(ss.ID, now)
			}
		}
		s.log.Info().Str("state", st.State.String()).Int64("leader", st.Leader).
			Str("epoch", hex(st.Epoch)).Str("last_zxid", hex(st.LastZxid)).Msg("serving clients")
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// closeAllConns ends every client connection.
func (s *Server) closeAllConns(reason string) {
	s.connMu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	for _, c := range conns {
		c.close(reason)
	}
}

// abandon releases a request that will never be answered (its connection
// is being closed).
func (s *Server) abandon(w *writeReq, why string) {
	if w.conn != nil {
		w.conn.donePending()
	}
	s.addOutstanding(-1)
	s.metrics.QuorumAbandoned.Inc()
	if w.trace != nil {
		w.trace.abandon(why)
	}
}

// refuse drops a batch that cannot be served: each client's connection is
// closed (it reconnects and learns the outcome) and the request released.
func (s *Server) refuse(batch []*writeReq, why string) {
	for _, w := range batch {
		if w.conn != nil {
			w.conn.close("not_serving")
		}
		s.abandon(w, why)
	}
}

// quorumPipeline replaces pipeline for an ensemble member: it batches
// requests as pipeline does, then preps and submits them (leader) or
// forwards them (learner). Replies come from onCommit and onSynced.
func (s *Server) quorumPipeline() {
	defer close(s.pipeDone)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		w, ok := <-s.writes
		if !ok {
			return
		}
		start := time.Now()
		batch = append(batch[:0], w)
	drain:
		for len(batch) < maxBatch {
			select {
			case w, ok := <-s.writes:
				if !ok {
					break drain
				}
				batch = append(batch, w)
			default:
				break drain
			}
		}
		s.quorumBatch(batch)
		s.metrics.WriteBatchSize.Observe(float64(len(batch)))
		s.metrics.WriteBatchTime.Observe(time.Since(start).Seconds())
		clear(batch)
	}
}

func (s *Server) quorumBatch(batch []*writeReq) {
	q := s.q
	q.mu.Lock()
	serving, leading, term, prepped := q.serving, q.leading, q.status.Term, q.prepped
	q.mu.Unlock()
	if !serving {
		s.refuse(batch, "not serving")
		return
	}
	if !leading {
		s.forwardBatch(batch, term)
		return
	}

	items := make([]peer.Item, 0, len(batch))
	txns := make([]pending, 0, len(batch))
	for _, w := range batch {
		if w.sync {
			if !w.forwarded {
				w.syncTo = q.id
			}
			items = append(items, peer.Item{SyncTo: w.syncTo})
			txns = append(txns, pending{w: w})
			continue
		}
		if w.req.Op == proto.OpCreateSession {
			// A learner created the session; the leader tracks it from
			// here on (PrepRequestProcessor's trackSession).
			if _, ok := s.sessions.Get(w.req.SessionID); !ok {
				if body, ok := w.req.Body.(*proto.CreateSessionTxn); ok {
					_, _ = s.sessions.Add(w.req.SessionID, time.Duration(body.TimeOut)*time.Millisecond, time.Now())
				}
			}
		} else if w.forwarded && w.req.SessionID != 0 {
			s.sessions.Touch(w.req.SessionID, time.Now())
		}
		p := s.prepOne(w, &prepped)
		e := &zab.Entry{Hdr: p.hdr, Txn: p.txn, Digest: p.digest}
		items = append(items, peer.Item{Entry: e})
		txns = append(txns, p)
	}

	q.mu.Lock()
	if q.term() != term || !q.serving {
		q.mu.Unlock()
		s.refuse(batch, "leadership changed")
		return
	}
	q.prepped = prepped
	now := time.Now()
	for _, p := range txns {
		if p.w.trace != nil {
			p.w.submitted = now
			if p.txn != nil {
				q.traced[p.hdr.Zxid] = p.w.trace
			}
		}
		switch {
		case p.w.sync && p.w.syncTo == q.id:
			q.syncs = append(q.syncs, p.w)
		case p.w.sync:
			// A learner's sync: the SYNC packet answers it there.
			s.addOutstanding(-1)
			if p.w.trace != nil {
				p.w.trace.answered(proto.ErrOK, 0)
				s.tracing.finishBatch([]pending{p}, &batchCommit{})
			}
		case p.w.conn != nil || p.w.trace != nil:
			q.pending[reqKey{p.w.req.SessionID, p.w.req.Cxid}] = p.w
		default:
			// The server's own request or a learner's: nobody to answer
			// here.
			s.addOutstanding(-1)
		}
	}
	q.mu.Unlock()
	q.peer.Submit(term, items)
}

func (q *quorumState) term() uint64 { return q.status.Term }

// forwardBatch sends a learner's client requests to the leader.
func (s *Server) forwardBatch(batch []*writeReq, term uint64) {
	q := s.q
	q.mu.Lock()
	if q.term() != term || !q.serving {
		q.mu.Unlock()
		s.refuse(batch, "leadership changed")
		return
	}
	var own []*writeReq
	for _, w := range batch {
		switch {
		case w.conn == nil:
			// Expiry and reaping are the leader's; a learner never
			// submits its own requests, but drop any defensively.
			own = append(own, w)
		case w.sync:
			q.syncs = append(q.syncs, w)
		default:
			q.pending[reqKey{w.req.SessionID, w.req.Cxid}] = w
		}
	}
	q.mu.Unlock()
	for _, w := range own {
		s.abandon(w, "learners do not submit their own requests")
	}
	for _, w := range batch {
		if w.conn == nil {
			continue
		}
		s.metrics.QuorumForwarded.Inc()
		ids := forwardAuth(identityOf(w.conn))
		if w.trace != nil {
			w.submitted = time.Now()
			if id, ok := traceAuth(w.trace.span.SpanContext()); ok {
				ids = append(ids, id)
			}
		}
		q.peer.Forward(term, encodeForward(w), ids)
	}
}

// encodeForward lays a request out as ZooKeeper's Learner.request does:
// session id, cxid, op, then the request body (createSession: the
// negotiated timeout; closeSession: nothing).
func encodeForward(w *writeReq) []byte {
	e := jute.NewEncoder(make([]byte, 0, 128))
	e.Long(w.req.SessionID)
	e.Int(w.req.Cxid)
	switch {
	case w.sync:
		e.Int(proto.OpSync)
		(&proto.PathRequest{Path: w.path}).Encode(e)
	case w.req.Op == proto.OpCreateSession:
		e.Int(proto.OpCreateSession)
		if body, ok := w.req.Body.(*proto.CreateSessionTxn); ok {
			e.Int(body.TimeOut)
		}
	case w.req.Op == proto.OpCloseSession:
		e.Int(proto.OpCloseSession)
	default:
		e.Int(w.req.Op)
		if w.req.Body != nil {
			w.req.Body.Encode(e)
		}
	}
	return e.Bytes()
}

// forwardAuth is QuorumPacket.authinfo for a client: its proven ids, then
// its ip id, as ZooKeeper's ServerCnxn.getAuthInfo lists them.
func forwardAuth(id *auth.Identity) []proto.ID {
	if id == nil {
		return nil
	}
	out := make([]proto.ID, 0, len(id.IDs)+1)
	out = append(out, id.IDs...)
	if id.RemoteIP != "" {
		out = append(out, proto.ID{Scheme: "ip", ID: id.RemoteIP})
	}
	return out
}

// identityFromAuth rebuilds a forwarded client's identity, and returns the
// traceparent the learner attached, if any.
func identityFromAuth(ids []proto.ID) (*auth.Identity, string) {
	id := &auth.Identity{}
	traceparent := ""
	for _, a := range ids {
		switch {
		case a.Scheme == traceScheme:
			traceparent = a.ID
		case a.Scheme == "ip":
			id.RemoteIP = a.ID
		case a.Scheme == "super" && a.ID == "":
			id.Super = true
			id.IDs = append(id.IDs, a)
		default:
			id.IDs = append(id.IDs, a)
		}
	}
	return id, traceparent
}

// onForwarded (leader) queues a request a learner forwarded. Malformed ones
// are counted and dropped: the learner's client times out and reconnects.
func (s *Server) onForwarded(from int64, data []byte, ids []proto.ID) {
	w, err := s.decodeForward(data)
	if err != nil {
		s.metrics.BadInput.WithLabelValues("bad_forward").Inc()
		s.log.Warn().Int64("from", from).Err(err).Msg("malformed request forwarded by a learner; dropped")
		return
	}
	w.forwarded = true
	var traceparent string
	w.ident, traceparent = identityFromAuth(ids)
	if w.sync {
		w.syncTo = from
	}
	if s.tracing != nil && traceparent != "" {
		if parent := remoteParent(traceparent); parent.IsValid() {
			w.trace = s.tracing.startForwarded(w, parent, from)
		}
	}
	s.submit(w)
}

func (s *Server) decodeForward(data []byte) (*writeReq, error) {
	d := jute.NewDecoder(data, s.opts.MaxBuffer)
	sid, cxid, op := d.Long(), d.Int(), d.Int()
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("request header: %w", err)
	}
	body := d.Rest()
	w := &writeReq{start: time.Now(), xid: cxid, req: prep.Request{SessionID: sid, Cxid: cxid, Op: op}}
	switch op {
	case proto.OpSync:
		var r proto.PathRequest
		if err := proto.UnmarshalPrefix(body, s.opts.MaxBuffer, &r); err != nil {
			return nil, fmt.Errorf("sync: %w", err)
		}
		w.sync, w.path = true, r.Path
	case proto.OpCreateSession:
		bd := jute.NewDecoder(body, s.opts.MaxBuffer)
		to := bd.Int()
		if err := bd.Err(); err != nil {
			return nil, fmt.Errorf("createSession: %w", err)
		}
		w.req.Body = &proto.CreateSessionTxn{TimeOut: to}
	case proto.OpCloseSession:
	default:
		rec := writeRecord(op)
		if rec == nil {
			return nil, fmt.Errorf("op %d is not a write", op)
		}
		if err := proto.UnmarshalPrefix(body, s.opts.MaxBuffer, rec); err != nil {
			// The client's server decoded it; prep answers as for a
			// local malformed body.
			return nil, fmt.Errorf("%s: %w", proto.OpName(op), err)
		}
		if m, ok := rec.(*proto.MultiRequest); ok {
			normalizeMultiCreates(m)
		}
		w.req.Body = rec
	}
	return w, nil
}

// onCommit runs for every committed txn, with the tree's write lock held
// (peer.Hooks.OnCommit): it answers this server's client, keeps the
// session table in step, and lets the leader's prep forget the txn.
func (s *Server) onCommit(e zab.Entry, res datatree.Result) {
	hdr := e.Hdr
	q := s.q
	key := reqKey{hdr.ClientID, hdr.Cxid}
	q.mu.Lock()
	w := q.pending[key]
	if w != nil {
		delete(q.pending, key)
	}
	if len(q.traced) > 0 {
		delete(q.traced, hdr.Zxid)
	}
	leading := q.leading
	q.mu.Unlock()
	if leading {
		s.prepper.Applied(hdr.Zxid)
	}
	s.metrics.LastZxid.Set(float64(hdr.Zxid))

	switch hdr.Type {
	case proto.OpCreateSession:
		if txn, ok := e.Txn.(*proto.CreateSessionTxn); ok {
			if _, known := s.sessions.Get(hdr.ClientID); !known {
				_, _ = s.sessions.Add(hdr.ClientID, time.Duration(txn.TimeOut)*time.Millisecond, time.Now())
			}
		}
	case proto.OpCloseSession:
		if w == nil {
			// Closed elsewhere (expired on the leader, or closed by the
			// client on another server): drop it and its connection here.
			s.sessions.Remove(hdr.ClientID)
			s.connMu.Lock()
			c := s.bySess[hdr.ClientID]
			delete(s.served, hdr.ClientID)
			s.connMu.Unlock()
			if c != nil {
				c.closeAfterFlush("session_closed")
			}
		}
	}
	if w == nil {
		return
	}
	p := pending{w: w, hdr: hdr, txn: e.Txn}
	if w.trace != nil && !w.submitted.IsZero() {
		ph := phaseQuorum
		if !leading {
			ph = phaseForward
		}
		w.trace.mark(ph, w.submitted, time.Now())
	}
	if w.conn == nil {
		// A traced request a learner forwarded: its client is answered
		// there; the leader's span ends at the commit.
		w.trace.answered(res.Err, hdr.Zxid)
	} else {
		s.finishWrite(&p, &res)
		w.conn.donePending()
	}
	s.addOutstanding(-1)
	if w.trace != nil {
		s.tracing.finishBatch([]pending{p}, &batchCommit{})
	}
}

// onSynced answers the oldest outstanding sync of this server's clients.
func (s *Server) onSynced([]byte) {
	q := s.q
	q.mu.Lock()
	if len(q.syncs) == 0 {
		q.mu.Unlock()
		s.log.Warn().Msg("sync answer without an outstanding sync; ignored")
		return
	}
	w := q.syncs[0]
	q.syncs = q.syncs[1:]
	q.mu.Unlock()
	s.tree.RLock()
	s.finishSync(w)
	s.tree.RUnlock()
	if w.conn != nil {
		w.conn.donePending()
	}
	s.addOutstanding(-1)
	if w.trace != nil {
		s.tracing.finishBatch([]pending{{w: w}}, &batchCommit{})
	}
}

// noteTouch records that a client used its session here, for the next
// PING answer to the leader (learners only).
func (s *Server) noteTouch(id int64) {
	q := s.q
	q.mu.Lock()
	if !q.leading {
		q.touched[id] = struct{}{}
	}
	q.mu.Unlock()
}

// pingData (learner) is the PING answer's payload: the sessions touched
// since the last one, each as session id and timeout in ms, as ZooKeeper's
// LearnerSessionTracker reports them.
func (s *Server) pingData() []byte {
	q := s.q
	q.mu.Lock()
	ids := make([]int64, 0, len(q.touched))
	for id := range q.touched {
		ids = append(ids, id)
	}
	clear(q.touched)
	q.mu.Unlock()
	e := jute.NewEncoder(make([]byte, 0, 12*len(ids)))
	for _, id := range ids {
		ss, ok := s.sessions.Get(id)
		if !ok {
			continue
		}
		e.Long(id)
		e.Int(int32(ss.Timeout / time.Millisecond))
	}
	return e.Bytes()
}

// onLearnerPing (leader) touches the sessions a learner's clients used.
func (s *Server) onLearnerPing(from int64, data []byte) {
	d := jute.NewDecoder(data, len(data))
	now := time.Now()
	for d.Remaining() >= 12 {
		id := d.Long()
		_ = d.Int() // timeout: the leader's table has it
		s.sessions.Touch(id, now)
	}
	if d.Remaining() != 0 || d.Err() != nil {
		s.metrics.BadInput.WithLabelValues("bad_ping").Inc()
		s.log.Warn().Int64("from", from).Int("bytes", len(data)).Msg("learner PING payload is not a list of sessions")
	}
}

// quorumInfo fills the ensemble fields of srvr, stat and mntr with what
// ZooKeeper 3.8's leader, follower and observer servers report.
func (s *Server) quorumInfo(info *fourlw.ServerInfo) {
	st := s.q.peer.Status()
	mode := s.mode()
	info.NotServing = mode == ""
	info.Mode, info.ServerState = mode, mode
	if mode == "" {
		// Not serving: srvr says so, but the AdminServer's monitor still
		// reports, with the peer's state (ZooKeeper's fails with a
		// NullPointerException between roles).
		info.ServerState = map[peer.State]string{peer.Leading: "leader", peer.Following: "follower",
			peer.Observing: "observer"}[st.State]
		if info.ServerState == "" {
			info.ServerState = "looking"
		}
	}
	info.QuorumSize = s.q.peer.Voters()
	switch st.State {
	case peer.Leading:
		info.PeerState = "leading - broadcast"
		// zk_learners counts every learner handler, observers included;
		// zk_synced_followers the voting followers counted for the quorum
		// (forwardingFollowers); zk_synced_observers the observers. An
		// observer counts as soon as its connection names it: the leader
		// core does not track when an observer's sync ends.
		for _, f := range st.Followers {
			info.Followers++
			if s.q.peer.IsObserver(f.ID) {
				info.SyncedObservers++
			} else if f.Synced {
				info.SyncedFollowers++
			}
		}
		if !st.Since.IsZero() {
			info.LeaderUptime = time.Since(st.Since)
		}
		info.PendingSyncs = st.PendingSyncs
		if p := st.Proposals; p.Count > 0 {
			info.ProposalSizes = &fourlw.BufferSizes{Last: p.Last, Min: p.Min, Max: p.Max}
		}
		if st.Established {
			// A ZooKeeper leader sets its tree's last processed zxid to
			// the new epoch's first zxid (epoch<<32) when it starts
			// serving, so srvr shows e.g. 0x100000000 before any write.
			info.Zxid = max(info.Zxid, st.Epoch<<32)
		}
	case peer.Following:
		info.PeerState = "following - broadcast"
	case peer.Observing:
		info.PeerState = "observing - broadcast"
		info.ObserverMasterID = st.Leader
	default:
		info.PeerState = "looking"
	}
	if !st.Established && st.State != peer.Looking {
		info.PeerState = strings.Replace(info.PeerState, "broadcast", "synchronization", 1)
	}
}
