package zkserver

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/zkd-io/zkd/server/proto"
)

// Tracing follows one client request through the server as one span named
// "zk.<op>" (kind SERVER). A read is a single span. A write gets child spans
// for the pipeline phases it went through, which are recorded as timestamps
// while the request moves and turned into spans only after the batch is
// done, outside the tree lock: the pipeline goroutine and the lock are the
// server's bottlenecks, so tracing must not lengthen either while the tree
// is locked. Requests the sampler drops are not followed at all.
//
// A server without a txn log (Options.Store nil) has no fsync phase. The
// batch fsync is shared work: one "txnlog.commit" span per batch links
// to every request it made durable, and each request's "zk.fsync" span links
// back to it. The commit span is a child of the first traced request's
// fsync span, so a parent-based sampler keeps it whenever a request of the
// batch was kept (a root span would be sampled independently, leaving
// dangling links).
//
// The instant the reply is queued is a span event on the request span (it
// has no duration, so a span would be empty), and the request span ends
// there.
//
// In an ensemble, a write's span on the leader has a "zk.quorum" child from
// the proposal to its commit; inside it a "zk.fsync" child ends when the
// leader's own copy is durable, and an "ack" event (zk.ack.server_id)
// marks each follower's ACK, so a slow disk and a slow follower look
// different. When a quorum of followers ACKs before the leader's own copy
// is durable, the commit does not wait for it and there is no "zk.fsync". On a learner it has a "zk.forward" child from forwarding to
// the commit coming back; the request's span context travels with the
// forwarded REQUEST (as a "zkd-trace" entry of QuorumPacket.authinfo, which
// no ACL scheme matches), and the leader records its part of the request
// as a span whose parent is the learner's: one trace across servers.

// Attribute keys of request and commit spans.
const (
	attrSession       = attribute.Key("zk.session_id") // hex, as in logs and zkCli
	attrXid           = attribute.Key("zk.xid")
	attrOp            = attribute.Key("zk.op")
	attrPath          = attribute.Key("zk.path")
	attrResult        = attribute.Key("zk.result") // KeeperException code name
	attrZxid          = attribute.Key("zk.zxid")   // hex zxid of the reply
	attrBatchSize     = attribute.Key("zk.batch.requests")
	attrBatchTxns     = attribute.Key("zk.batch.txns")
	attrForwardedFrom = attribute.Key("zk.forwarded_from") // learner's server id
	attrAckFrom       = attribute.Key("zk.ack.server_id")  // follower whose ACK an event records
	spanCommit        = "txnlog.commit"
	eventReplyQueued  = "reply queued"
	eventAck          = "ack"
)

// phase is a step of a write's way through the pipeline.
type phase uint8

const (
	phasePrep    phase = iota // prep into a txn with a zxid
	phaseFsync                // the batch's txn log commit (append + fsync)
	phaseApply                // applied to the tree
	phaseQuorum               // leader: proposed until committed
	phaseForward              // learner: forwarded until committed here
	numPhases
)

var phaseSpanNames = [numPhases]string{
	phasePrep:    "zk.prep",
	phaseFsync:   "zk.fsync",
	phaseApply:   "zk.apply",
	phaseQuorum:  "zk.quorum",
	phaseForward: "zk.forward",
}

// tracing is the server's tracer with precomputed span names; nil when
// tracing is off, which is the only check the request path makes.
type tracing struct {
	tracer trace.Tracer
	names  map[proto.Op]string
}

func newTracing(t trace.Tracer) *tracing {
	if t == nil {
		return nil
	}
	tr := &tracing{tracer: t, names: map[proto.Op]string{}}
	for op := proto.Op(-20); op <= 200; op++ {
		if n := proto.OpName(op); n != "unknown" {
			tr.names[op] = "zk." + n
		}
	}
	return tr
}

// spanName is "zk.<op>"; unknown opcodes share one name so a client cannot
// create unbounded span names.
func (t *tracing) spanName(op proto.Op) string {
	if n, ok := t.names[op]; ok {
		return n
	}
	return "zk.unknown"
}

// start begins a request span at the time the request was read. It
// returns nil if the sampler dropped the request.
func (t *tracing) start(at time.Time, sid int64, xid int32, op proto.Op, path string, hasPath bool) trace.Span {
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs,
		attrSession.String(hex(sid)),
		attrXid.Int(int(xid)),
		attrOp.String(proto.OpName(op)))
	if hasPath {
		attrs = append(attrs, attrPath.String(path))
	}
	_, span := t.tracer.Start(context.Background(), t.spanName(op),
		trace.WithTimestamp(at), trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	if !span.IsRecording() {
		span.End()
		return nil
	}
	return span
}

// finish records a request's outcome and ends its span at the time its
// reply was queued.
func finishSpan(span trace.Span, code proto.Code, zxid int64, replied time.Time) {
	name := proto.CodeName(code)
	span.SetAttributes(attrResult.String(name), attrZxid.String(hex(zxid)))
	if code != proto.ErrOK {
		span.SetStatus(codes.Error, name)
	}
	span.AddEvent(eventReplyQueued, trace.WithTimestamp(replied))
	span.End(trace.WithTimestamp(replied))
}

// traceRead records a request answered outside the pipeline as one span.
func (t *tracing) traceRead(c *conn, start time.Time, h proto.RequestHeader, rec proto.Record, code proto.Code, zxid int64) trace.SpanContext {
	if h.Type == proto.OpPing {
		// Heartbeats are not requests anyone traces; they would dominate.
		return trace.SpanContext{}
	}
	path, ok := requestPath(rec)
	span := t.start(start, c.sessionID.Load(), h.Xid, h.Type, path, ok)
	if span == nil {
		return trace.SpanContext{}
	}
	finishSpan(span, code, zxid, time.Now())
	return span.SpanContext()
}

// writeTrace follows one write through the pipeline. The pipeline marks
// phases with plain timestamps; spans are made from them once the batch is
// done.
type writeTrace struct {
	span    trace.Span
	phases  [numPhases]struct{ start, end time.Time }
	code    proto.Code
	zxid    int64
	replied time.Time
	done    bool // the request was answered (observe ran)
	// On the leader, inside phaseQuorum: when its own log write of the
	// txn was durable, and the followers' ACKs as they arrived.
	leaderDurable time.Time
	acks          []quorumAck
}

// quorumAck is a follower's ACK of a traced proposal.
type quorumAck struct {
	from int64
	at   time.Time
}

func (wt *writeTrace) mark(p phase, start, end time.Time) {
	wt.phases[p].start, wt.phases[p].end = start, end
}

// traceScheme is the QuorumPacket.authinfo scheme that carries a
// forwarded request's W3C traceparent.
const traceScheme = "zkd-trace"

// traceAuth returns the authinfo entry carrying sc, or false when sc is
// not valid.
func traceAuth(sc trace.SpanContext) (proto.ID, bool) {
	if !sc.IsValid() {
		return proto.ID{}, false
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	return proto.ID{Scheme: traceScheme, ID: carrier.Get("traceparent")}, true
}

// remoteParent decodes a traceparent from a forwarded request's authinfo.
func remoteParent(traceparent string) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}

// startForwarded begins the leader's span of a request a learner
// forwarded, as a child of the learner's request span.
func (t *tracing) startForwarded(w *writeReq, parent trace.SpanContext, from int64) *writeTrace {
	path, ok := w.path, w.sync
	if !ok {
		path, ok = requestPath(w.req.Body)
	}
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	attrs := []attribute.KeyValue{attrSession.String(hex(w.req.SessionID)), attrXid.Int(int(w.xid)),
		attrOp.String(proto.OpName(w.req.Op)), attrForwardedFrom.Int64(from)}
	if ok {
		attrs = append(attrs, attrPath.String(path))
	}
	_, span := t.tracer.Start(ctx, t.spanName(w.req.Op), trace.WithTimestamp(w.start),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	if !span.IsRecording() {
		span.End()
		return nil
	}
	return &writeTrace{span: span}
}

// startWrite begins the span of a request entering the pipeline. The
// server's own requests (expiry, reaping) have no client and no span.
func (t *tracing) startWrite(w *writeReq) *writeTrace {
	if w.conn == nil {
		return nil
	}
	path, ok := w.path, w.sync
	if !ok {
		path, ok = requestPath(w.req.Body)
	}
	span := t.start(w.start, w.req.SessionID, w.xid, w.req.Op, path, ok)
	if span == nil {
		return nil
	}
	return &writeTrace{span: span}
}

// answered notes a write's outcome as its reply is queued.
func (wt *writeTrace) answered(code proto.Code, zxid int64) {
	wt.code, wt.zxid, wt.replied, wt.done = code, zxid, time.Now(), true
}

// abandon ends the span of a request that never reached the pipeline.
func (wt *writeTrace) abandon(why string) {
	wt.span.SetStatus(codes.Error, why)
	wt.span.End()
}

// batchCommit is the timing of one batch's txn log commit.
type batchCommit struct {
	start, end time.Time
	txns       int
	err        error
}

// finishBatch turns the marks of a finished batch into spans and ends the
// request spans. It runs on the pipeline goroutine after the tree lock is
// released.
func (t *tracing) finishBatch(batch []pending, commit *batchCommit) {
	if !commit.start.IsZero() {
		t.traceCommit(batch, commit)
	}
	for i := range batch {
		wt := batch[i].w.trace
		if wt == nil {
			continue
		}
		ctx := trace.ContextWithSpan(context.Background(), wt.span)
		for _, p := range [...]phase{phasePrep, phaseApply, phaseQuorum, phaseForward} {
			m := wt.phases[p]
			if m.start.IsZero() {
				continue
			}
			_, child := t.tracer.Start(ctx, phaseSpanNames[p], trace.WithTimestamp(m.start))
			if p == phaseQuorum {
				t.traceQuorum(child, wt, m.start)
			}
			child.End(trace.WithTimestamp(m.end))
		}
		if !wt.done {
			// Every request is answered before its batch ends; this is a
			// safety net so that no span is left open.
			wt.answered(proto.ErrSystemError, 0)
		}
		finishSpan(wt.span, wt.code, wt.zxid, wt.replied)
	}
}

// traceQuorum splits a leader's "zk.quorum" span: a "zk.fsync" child from
// the proposal until the leader's own copy was durable, and an "ack" event
// (with the follower's id) for every follower ACK that arrived before the
// commit. The slowest of these that the quorum needed is what the write
// waited for.
func (t *tracing) traceQuorum(quorum trace.Span, wt *writeTrace, proposed time.Time) {
	if !wt.leaderDurable.IsZero() {
		ctx := trace.ContextWithSpan(context.Background(), quorum)
		_, fs := t.tracer.Start(ctx, phaseSpanNames[phaseFsync], trace.WithTimestamp(proposed))
		fs.End(trace.WithTimestamp(wt.leaderDurable))
	}
	for _, a := range wt.acks {
		quorum.AddEvent(eventAck, trace.WithTimestamp(a.at), trace.WithAttributes(attrAckFrom.Int64(a.from)))
	}
}

// traceCommit records the batch's txn log commit: one "txnlog.commit" span
// linked to every traced request with a txn, and a "zk.fsync" span under
// each of those requests linked back to it.
func (t *tracing) traceCommit(batch []pending, commit *batchCommit) {
	var links []trace.Link
	first := -1
	for i := range batch {
		if batch[i].w.trace == nil || batch[i].txn == nil {
			continue
		}
		if first < 0 {
			first = i
		}
		links = append(links, trace.Link{SpanContext: batch[i].w.trace.span.SpanContext()})
	}
	if first < 0 {
		return
	}
	fsyncOf := func(wt *writeTrace, opts ...trace.SpanStartOption) trace.Span {
		ctx := trace.ContextWithSpan(context.Background(), wt.span)
		_, s := t.tracer.Start(ctx, phaseSpanNames[phaseFsync], append(opts, trace.WithTimestamp(commit.start))...)
		return s
	}
	end := func(s trace.Span) {
		if commit.err != nil {
			s.RecordError(commit.err, trace.WithTimestamp(commit.end))
			s.SetStatus(codes.Error, "txn log commit failed")
		}
		s.End(trace.WithTimestamp(commit.end))
	}
	firstFsync := fsyncOf(batch[first].w.trace)
	ctx := trace.ContextWithSpan(context.Background(), firstFsync)
	_, cs := t.tracer.Start(ctx, spanCommit, trace.WithTimestamp(commit.start), trace.WithLinks(links...),
		trace.WithAttributes(attrBatchSize.Int(len(batch)), attrBatchTxns.Int(commit.txns)))
	csLink := trace.WithLinks(trace.Link{SpanContext: cs.SpanContext()})
	end(cs)
	end(firstFsync)
	for i := first + 1; i < len(batch); i++ {
		if batch[i].w.trace == nil || batch[i].txn == nil {
			continue
		}
		end(fsyncOf(batch[i].w.trace, csLink))
	}
}

// requestPath is the znode path a request names, if it names one.
func requestPath(rec proto.Record) (string, bool) {
	switch r := rec.(type) {
	case *proto.CreateRequest:
		return r.Path, true
	case *proto.CreateTTLRequest:
		return r.Path, true
	case *proto.DeleteRequest:
		return r.Path, true
	case *proto.SetDataRequest:
		return r.Path, true
	case *proto.SetACLRequest:
		return r.Path, true
	case *proto.CheckVersionRequest:
		return r.Path, true
	case *proto.PathWatchRequest:
		return r.Path, true
	case *proto.PathRequest:
		return r.Path, true
	case *proto.WatchesRequest:
		return r.Path, true
	case *proto.AddWatchRequest:
		return r.Path, true
	}
	return "", false
}
