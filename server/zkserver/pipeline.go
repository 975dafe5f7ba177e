package zkserver

import (
	"time"

	"github.com/zkd-io/zkd/server/auth"
	"go.opentelemetry.io/otel/trace"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/prep"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/snapshot"
)

// maxBatch bounds how many requests one pipeline pass takes, so one pass
// never holds the tree lock for long.
const maxBatch = 1000

// writeReq is one request for the write pipeline: a txn-producing write, a
// session create/close, a container reap, or a sync (ordered, no txn).
type writeReq struct {
	conn    *conn // nil for the server's own requests
	xid     int32
	req     prep.Request
	start   time.Time
	sync    bool        // sync: answered in order, produces no txn
	path    string      // sync's path
	expired bool        // closeSession issued by session expiry
	trace   *writeTrace // nil: not traced
	// Ensemble members: forwarded marks a request a learner forwarded to
	// this leader, with its client's identity in ident; syncTo is the
	// member that answers a sync.
	forwarded bool
	ident     *auth.Identity
	syncTo    int64
	// submitted is when the leader proposed the txn, or the learner
	// forwarded the request (traced requests only).
	submitted time.Time
}

// identity is what the request's ACL checks run as.
func (w *writeReq) identity() *auth.Identity {
	if w.ident != nil {
		return w.ident
	}
	return identityOf(w.conn)
}

// pending is a prepped request waiting to be applied.
type pending struct {
	w      *writeReq
	hdr    proto.TxnHeader
	txn    proto.Txn
	digest *proto.TxnDigest // the tree digest after txn (prep.PrepTxn); nil for error txns
}

// addOutstanding counts requests entering (n > 0) or leaving the write
// pipeline, for the gauge and for throttling.
func (s *Server) addOutstanding(n int64) {
	s.inPipeline.Add(n)
	s.metrics.Outstanding.Add(float64(n))
}

// throttle holds back a client's write while the pipeline holds
// globalOutstandingLimit requests or more, as ZooKeeper stops reading from
// its connections then: the client's later requests wait in its socket
// instead of in the server's memory. The server's own requests and those
// a learner forwarded are never held (the leader must not stall its
// learners). It gives up when the connection closes.
func (s *Server) throttle(w *writeReq) {
	if w.conn == nil || w.forwarded || s.inPipeline.Load() < int64(s.opts.GlobalOutstandingLimit) {
		return
	}
	start := time.Now()
	s.metrics.Throttled.Inc()
	for s.inPipeline.Load() >= int64(s.opts.GlobalOutstandingLimit) {
		select {
		case <-w.conn.closed:
			return
		case <-time.After(time.Millisecond):
		}
	}
	s.metrics.ThrottleWait.Observe(time.Since(start).Seconds())
}

// submit hands a request to the pipeline. The request counts as pending on
// its connection until its reply is queued, which holds back the
// connection's later reads. A client's request arrives holding a request
// throttler slot (c.slot, set by its connection's reader, which is the
// goroutine calling submit); the slot moves to the pending write and is
// given back when the write is answered or abandoned (donePending).
func (s *Server) submit(w *writeReq) {
	s.throttle(w)
	if c := w.conn; c != nil {
		slot := c.slot
		c.slot = false
		c.addPending(slot)
	}
	if s.tracing != nil && w.trace == nil {
		w.trace = s.tracing.startWrite(w)
	}
	s.addOutstanding(1)
	s.submitMu.RLock()
	defer s.submitMu.RUnlock()
	if s.pipeClosed {
		if w.conn != nil {
			w.conn.donePending()
		}
		s.addOutstanding(-1)
		if w.trace != nil {
			w.trace.abandon("server shutting down")
		}
		return
	}
	s.writes <- w
}

// pipeline is the single writer: it takes every queued request, preps each
// into a txn with the next zxid, makes the batch durable (a no-op while
// storage is in memory), then applies the batch under one tree lock and
// queues the replies. Requests that arrive while a batch is being made
// durable form the next batch: that is the group commit.
func (s *Server) pipeline() {
	defer close(s.pipeDone)
	zxid := s.lastZxid()
	batch := make([]pending, 0, maxBatch)
	for {
		w, ok := <-s.writes
		if !ok {
			return
		}
		start := time.Now()
		batch = batch[:0]
		batch = append(batch, s.prepOne(w, &zxid))
	drain:
		for len(batch) < maxBatch {
			select {
			case w, ok := <-s.writes:
				if !ok {
					break drain
				}
				batch = append(batch, s.prepOne(w, &zxid))
			default:
				break drain
			}
		}

		txns, traced := 0, false
		for i := range batch {
			if batch[i].txn != nil {
				txns++
			}
			traced = traced || batch[i].w.trace != nil
		}
		var commit batchCommit
		if traced && s.store != nil && txns > 0 {
			commit.start, commit.txns = time.Now(), txns
		}
		err := s.persist(batch, txns)
		if !commit.start.IsZero() {
			commit.end, commit.err = time.Now(), err
		}
		if err != nil {
			// Nothing of this batch happened: answer every request
			// with an error and forget what prep assumed.
			s.failBatch(batch, err)
			s.prepper.Reset()
			zxid = s.tree.LastProcessedZxid()
		} else {
			s.tree.Lock()
			for i := range batch {
				p := &batch[i]
				if p.txn == nil {
					s.finishSync(p.w)
					continue
				}
				var t0 time.Time
				if p.w.trace != nil {
					t0 = time.Now()
				}
				res := s.tree.ProcessTxn(&p.hdr, p.txn)
				if p.digest != nil && !s.tree.CheckDigest(p.digest) {
					s.log.Warn().Str("zxid", hex(p.hdr.Zxid)).Str("want", hex(p.digest.TreeDigest)).
						Str("got", hex(s.tree.Digest())).Msg("tree digest after applying a txn differs from the one prep computed")
				}
				if p.w.trace != nil {
					p.w.trace.mark(phaseApply, t0, time.Now())
				}
				s.finishWrite(p, &res)
			}
			s.tree.Unlock()
			s.prepper.Applied(zxid)
			s.metrics.LastZxid.Set(float64(zxid))
			s.afterCommit(txns)
		}
		if traced {
			s.tracing.finishBatch(batch, &commit)
		}

		for i := range batch {
			if c := batch[i].w.conn; c != nil {
				c.donePending()
			}
			batch[i] = pending{}
		}
		s.addOutstanding(-int64(len(batch)))
		s.metrics.WriteBatchSize.Observe(float64(len(batch)))
		s.metrics.WriteBatchTime.Observe(time.Since(start).Seconds())
	}
}

func (s *Server) prepOne(w *writeReq, zxid *int64) pending {
	if w.sync {
		return pending{w: w}
	}
	*zxid++
	w.req.Identity = w.identity()
	now := time.Now()
	w.req.TimeMs = now.UnixMilli()
	hdr, txn, digest := s.prepper.PrepTxn(&w.req, *zxid)
	if w.trace != nil {
		w.trace.mark(phasePrep, now, time.Now())
	}
	return pending{w: w, hdr: hdr, txn: txn, digest: digest}
}

// persist makes the batch's txns durable before any of them is applied or
// acknowledged: all are appended, then one Commit (one fsync) covers them.
func (s *Server) persist(batch []pending, txns int) error {
	if s.store == nil || txns == 0 {
		return nil
	}
	for i := range batch {
		if batch[i].txn == nil {
			continue
		}
		if err := s.store.Append(&batch[i].hdr, batch[i].txn, batch[i].digest); err != nil {
			return s.rollback(err)
		}
	}
	if err := s.store.Commit(); err != nil {
		return s.rollback(err)
	}
	return nil
}

// rollback cuts the log back to its last durable record after a failed
// write, so a failure (a full disk) leaves no partial record behind.
func (s *Server) rollback(cause error) error {
	if err := s.store.Rollback(); err != nil {
		s.log.Error().Err(err).Msg("txn log rollback failed after a write error")
	}
	return cause
}

// failBatch answers every request of a batch that could not be made
// durable. Clients get SYSTEMERROR (a ZooKeeper server would have crashed);
// the server keeps serving and retries with the next batch, so it resumes
// by itself once the disk has room again.
func (s *Server) failBatch(batch []pending, cause error) {
	s.metrics.WriteFailures.Add(float64(len(batch)))
	s.log.Error().Err(cause).Int("requests", len(batch)).
		Msg("could not write the txn log; failing the batch (nothing of it was applied)")
	s.tree.RLock()
	defer s.tree.RUnlock()
	last := s.tree.LastProcessedZxid()
	for i := range batch {
		w := batch[i].w
		switch w.req.Op {
		case proto.OpCreateSession:
			s.sessions.Remove(w.req.SessionID)
			if w.conn != nil {
				w.conn.closeAfterFlush("error")
			}
			s.observe(w, w.req.Op, proto.ErrSystemError, last)
			continue
		case proto.OpCloseSession:
			if w.expired {
				// Still closing: expiry will submit it again.
				s.observe(w, w.req.Op, proto.ErrSystemError, last)
				continue
			}
		}
		if w.conn != nil {
			w.conn.reply(proto.ReplyHeader{Xid: w.xid, Zxid: last, Err: proto.ErrSystemError}, nil)
		}
		s.observe(w, w.req.Op, proto.ErrSystemError, last)
	}
}

// afterCommit counts durable txns and starts a snapshot when one is due.
func (s *Server) afterCommit(txns int) {
	if s.store == nil || txns == 0 {
		return
	}
	due, err := s.store.Committed(txns)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot roll the txn log for a snapshot")
		return
	}
	if due {
		go s.snapshot()
	}
}

// snapshot writes a fuzzy snapshot of the tree and sessions, as
// ZooKeeper's snapshot thread does: writes go on while the tree is
// encoded (storage.EncodeSnapshot), and the disk work holds no lock at
// all. It belongs to the zxid applied when it starts, with the sessions of
// that moment.
func (s *Server) snapshot() {
	s.tree.RLock()
	sessions := s.sessionList()
	zxid := s.tree.LastProcessedZxid()
	s.tree.RUnlock()
	stream, err := s.store.EncodeSnapshot(s.tree, sessions, zxid)
	if err != nil {
		return // logged and counted by the store
	}
	_, _ = s.store.Snapshot(zxid, stream)
}

// sessionList is the live sessions in the snapshot's form.
func (s *Server) sessionList() []snapshot.Session {
	all := s.sessions.Sessions()
	out := make([]snapshot.Session, 0, len(all))
	for _, ss := range all {
		out = append(out, snapshot.Session{ID: ss.ID, TimeoutMs: int32(ss.Timeout / time.Millisecond)})
	}
	return out
}

// finishSync answers a sync once every earlier write was applied.
func (s *Server) finishSync(w *writeReq) {
	if w.conn == nil {
		return
	}
	zxid := s.tree.LastProcessedZxid()
	w.conn.reply(proto.ReplyHeader{Xid: w.xid, Zxid: zxid}, &proto.PathResponse{Path: w.path})
	s.observe(w, proto.OpSync, proto.ErrOK, zxid)
}

// finishWrite turns an applied txn into the client's reply and does the
// session bookkeeping that follows createSession and closeSession. It runs
// with the tree lock held.
func (s *Server) finishWrite(p *pending, res *datatree.Result) {
	w := p.w
	op := w.req.Op
	switch op {
	case proto.OpCreateSession:
		if c := w.conn; c != nil {
			c.established.Store(true)
			s.sendConnectResponse(c, w.req.SessionID, c.timeoutMs.Load())
			s.log.Info().Str("remote", c.remote).Str("session", hex(w.req.SessionID)).
				Int32("timeout_ms", c.timeoutMs.Load()).Msg("session established")
		}
		s.observe(w, op, proto.ErrOK, p.hdr.Zxid)
		return
	case proto.OpCloseSession:
		s.sessions.Remove(w.req.SessionID)
		if c := w.conn; c != nil {
			c.reply(proto.ReplyHeader{Xid: w.xid, Zxid: p.hdr.Zxid}, nil)
			c.closeAfterFlush("close_session")
		}
		s.connMu.Lock()
		other := s.bySess[w.req.SessionID]
		delete(s.served, w.req.SessionID)
		s.connMu.Unlock()
		if other != nil && other != w.conn {
			reason := "close_session"
			if w.expired {
				reason = "expired"
			}
			other.closeAfterFlush(reason)
		}
		s.observe(w, op, proto.ErrOK, p.hdr.Zxid)
		return
	}
	if w.conn == nil {
		if res.Err != proto.ErrOK && op == proto.OpDeleteContainer {
			s.log.Debug().Str("path", res.Path).Str("err", proto.CodeName(res.Err)).Msg("container reap skipped")
		}
		return
	}
	hdr := proto.ReplyHeader{Xid: w.xid, Zxid: p.hdr.Zxid, Err: res.Err}
	var body proto.Record
	if op == proto.OpMulti {
		hdr.Err = proto.ErrOK
		body = multiResponse(res.Multi)
	} else if res.Err == proto.ErrOK {
		body = writeResponse(op, res)
	}
	w.conn.reply(hdr, body)
	code := res.Err
	if op == proto.OpMulti {
		code = firstError(res.Multi)
	}
	s.observe(w, op, code, p.hdr.Zxid)
}

// writeResponse builds the reply body of a successful write
// (FinalRequestProcessor).
func writeResponse(op proto.Op, res *datatree.Result) proto.Record {
	stat := proto.Stat{}
	if res.Stat != nil {
		stat = *res.Stat
	}
	switch op {
	case proto.OpCreate:
		return &proto.CreateResponse{Path: res.Path}
	case proto.OpCreate2, proto.OpCreateContainer, proto.OpCreateTTL:
		return &proto.Create2Response{Path: res.Path, Stat: stat}
	case proto.OpSetData, proto.OpSetACL, proto.OpCheck:
		return &proto.StatResponse{Stat: stat}
	}
	return nil // delete: header only
}

func multiResponse(results []datatree.Result) *proto.MultiResponse {
	out := &proto.MultiResponse{Results: make([]proto.MultiResult, 0, len(results))}
	for i := range results {
		r := &results[i]
		mr := proto.MultiResult{Type: r.Type, Err: r.Err}
		switch r.Type {
		case proto.OpError, proto.OpCheck, proto.OpDelete, proto.OpDeleteContainer:
		case proto.OpCreateContainer, proto.OpCreateTTL:
			// A CreateResult with a stat is written as create2.
			mr.Type = proto.OpCreate2
			mr.Resp = writeResponse(r.Type, r)
		default:
			mr.Resp = writeResponse(r.Type, r)
		}
		out.Results = append(out.Results, mr)
	}
	return out
}

func firstError(results []datatree.Result) proto.Code {
	for _, r := range results {
		if r.Err != proto.ErrOK {
			return r.Err
		}
	}
	return proto.ErrOK
}

// observe records a finished request, answered with code at zxid, in
// metrics, srvr/cons statistics, its trace and the debug log.
func (s *Server) observe(w *writeReq, op proto.Op, code proto.Code, zxid int64) {
	name := proto.OpName(op)
	s.metrics.Requests.WithLabelValues(name, resultLabel(code)).Inc()
	s.metrics.RequestDuration.WithLabelValues(name).Observe(time.Since(w.start).Seconds())
	if w.conn != nil {
		w.conn.recordLatency(w.start, op, w.req.Cxid)
	}
	var sc trace.SpanContext
	if w.trace != nil {
		w.trace.answered(code, zxid)
		sc = w.trace.span.SpanContext()
	}
	s.logRequest(w.conn, w.req.SessionID, w.xid, op, code, zxid, w.start, sc)
}
