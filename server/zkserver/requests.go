package zkserver

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/zkd-io/zkd/server/auth"
	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/prep"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/watch"
)

// handleRequest decodes and dispatches one request frame. It returns false
// when the connection must stop reading (it is being closed).
func (s *Server) handleRequest(c *conn, buf []byte) bool {
	start := time.Now()
	d := jute.NewDecoder(buf, s.opts.MaxBuffer)
	var h proto.RequestHeader
	h.Decode(d)
	if err := d.Err(); err != nil {
		s.badInput(c, "malformed_request", fmt.Errorf("request header: %w", err))
		return false
	}
	sid := c.sessionID.Load()
	if h.Type != proto.OpAuth && !s.touch(sid) {
		// ZooKeeper drops the connection of a session it no longer has;
		// the client reconnects and learns that the session expired.
		s.log.Info().Str("remote", c.remote).Str("session", hex(sid)).Int32("xid", h.Xid).Str("op", proto.OpName(h.Type)).
			Msg("request on a session that is gone or closing; closing connection")
		c.closeAfterFlush("session_expired")
		return false
	}
	body := d.Rest()

	switch h.Type {
	case proto.OpPing:
		if !c.waitWrites() {
			return false
		}
		s.tree.RLock()
		zxid := s.tree.LastProcessedZxid()
		c.reply(proto.ReplyHeader{Xid: h.Xid, Zxid: zxid}, nil)
		s.tree.RUnlock()
		s.observeRead(c, start, h, nil, proto.ErrOK, zxid)
		return true
	case proto.OpAuth:
		return s.handleAuth(c, h, body, start)
	case proto.OpSASL:
		// zkd has no SASL: answer as ZooKeeper does without a SASL server.
		s.metrics.BadInput.WithLabelValues("auth_failed").Inc()
		c.reply(proto.ReplyHeader{Xid: h.Xid, Err: proto.ErrAuthFailed}, nil)
		c.closeAfterFlush("auth_failed")
		return false
	case proto.OpCloseSession:
		s.submit(&writeReq{conn: c, xid: h.Xid, start: start,
			req: prep.Request{SessionID: sid, Cxid: h.Xid, Op: proto.OpCloseSession}})
		return true
	case proto.OpSync:
		var r proto.PathRequest
		if err := proto.UnmarshalPrefix(body, s.opts.MaxBuffer, &r); err != nil {
			return s.marshallingError(c, h, start, err)
		}
		s.submit(&writeReq{conn: c, xid: h.Xid, start: start, sync: true, path: r.Path,
			req: prep.Request{SessionID: sid, Cxid: h.Xid, Op: proto.OpSync}})
		return true
	case proto.OpReconfig:
		if !c.waitWrites() {
			return false
		}
		s.replyRead(c, start, h, proto.ErrReconfigDisabled, nil)
		return true
	}

	if rec := writeRecord(h.Type); rec != nil {
		if err := proto.UnmarshalPrefix(body, s.opts.MaxBuffer, rec); err != nil {
			return s.marshallingError(c, h, start, err)
		}
		if m, ok := rec.(*proto.MultiRequest); ok {
			normalizeMultiCreates(m)
		}
		s.submit(&writeReq{conn: c, xid: h.Xid, start: start,
			req: prep.Request{SessionID: sid, Cxid: h.Xid, Op: h.Type, Body: rec}})
		return true
	}

	rec := readRecord(h.Type)
	if rec == nil {
		// An opcode ZooKeeper does not know: UNIMPLEMENTED, then close
		// (UnimplementedRequestProcessor).
		s.metrics.BadInput.WithLabelValues("unknown_op").Inc()
		s.log.Warn().Str("remote", c.remote).Str("session", hex(sid)).Int32("xid", h.Xid).Int32("op", h.Type).
			Msg("unknown request type; closing connection")
		if c.waitWrites() {
			s.replyRead(c, start, h, proto.ErrUnimplemented, nil)
		}
		c.closeAfterFlush("bad_input")
		return false
	}
	if err := proto.UnmarshalPrefix(body, s.opts.MaxBuffer, rec); err != nil {
		return s.marshallingError(c, h, start, err)
	}
	if !c.waitWrites() {
		return false
	}
	s.tree.RLock()
	code, resp := s.read(c, h.Type, rec)
	hdr := proto.ReplyHeader{Xid: h.Xid, Zxid: s.tree.LastProcessedZxid(), Err: code}
	c.reply(hdr, resp)
	s.tree.RUnlock()
	s.observeRead(c, start, h, rec, code, hdr.Zxid)
	return true
}

// writeRecord returns an empty request record for opcodes that become txns.
func writeRecord(op proto.Op) proto.Record {
	switch op {
	case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer:
		return &proto.CreateRequest{}
	case proto.OpCreateTTL:
		return &proto.CreateTTLRequest{}
	case proto.OpDelete:
		return &proto.DeleteRequest{}
	case proto.OpSetData:
		return &proto.SetDataRequest{}
	case proto.OpSetACL:
		return &proto.SetACLRequest{}
	case proto.OpCheck:
		return &proto.CheckVersionRequest{}
	case proto.OpMulti:
		return &proto.MultiRequest{}
	}
	return nil
}

// normalizeMultiCreates gives each create in a multi the opcode its flags
// imply, as ZooKeeper's MultiOperationRecord does when it rebuilds the ops
// with Op.create: create2 becomes create, container flags make a
// createContainer and TTL flags a createTTL (with TTL -1 when the request
// carried none, which the TTL check then refuses).
func normalizeMultiCreates(m *proto.MultiRequest) {
	for i := range m.Ops {
		op := &m.Ops[i]
		cr, ok := op.Req.(*proto.CreateRequest)
		if !ok {
			continue
		}
		switch cr.Flags {
		case proto.FlagContainer:
			op.Type = proto.OpCreateContainer
		case proto.FlagPersistentWithTTL, proto.FlagPersistentSequentialWithTTL:
			op.Type = proto.OpCreateTTL
			op.Req = &proto.CreateTTLRequest{Path: cr.Path, Data: cr.Data, ACL: cr.ACL, Flags: cr.Flags, TTL: -1}
		default:
			op.Type = proto.OpCreate
		}
	}
}

// readRecord returns an empty request record for opcodes answered from the
// tree without a txn.
func readRecord(op proto.Op) proto.Record {
	switch op {
	case proto.OpExists, proto.OpGetData, proto.OpGetChildren, proto.OpGetChildren2:
		return &proto.PathWatchRequest{}
	case proto.OpGetACL, proto.OpGetAllChildrenNumber, proto.OpGetEphemerals:
		return &proto.PathRequest{}
	case proto.OpCheckWatches, proto.OpRemoveWatches:
		return &proto.WatchesRequest{}
	case proto.OpAddWatch:
		return &proto.AddWatchRequest{}
	case proto.OpSetWatches:
		return &proto.SetWatches{}
	case proto.OpSetWatches2:
		return &proto.SetWatches{V2: true}
	case proto.OpMultiRead:
		return &proto.MultiRequest{}
	case proto.OpWhoAmI:
		return &emptyRecord{}
	}
	return nil
}

// emptyRecord is a request without a body.
type emptyRecord struct{}

func (emptyRecord) Encode(*jute.Encoder) {}
func (emptyRecord) Decode(*jute.Decoder) {}

// read answers one read-only request. The caller holds the tree read lock,
// so the reply it queues is ordered with notifications.
func (s *Server) read(c *conn, op proto.Op, rec proto.Record) (proto.Code, proto.Record) {
	id := c.identity.Load()
	var w watch.Watcher
	switch op {
	case proto.OpExists:
		r := rec.(*proto.PathWatchRequest)
		if strings.IndexByte(r.Path, 0) >= 0 {
			return proto.ErrBadArguments, nil
		}
		if r.Watch {
			w = c
		}
		stat, code := s.tree.Exists(r.Path, w)
		return code, &proto.StatResponse{Stat: stat}
	case proto.OpGetData:
		r := rec.(*proto.PathWatchRequest)
		if r.Watch {
			w = c
		}
		data, stat, code := s.tree.GetData(r.Path, w, checker(proto.PermRead, id))
		return code, &proto.GetDataResponse{Data: data, Stat: stat}
	case proto.OpGetChildren, proto.OpGetChildren2:
		r := rec.(*proto.PathWatchRequest)
		if r.Watch {
			w = c
		}
		children, stat, code := s.tree.GetChildren(r.Path, w, checker(proto.PermRead, id))
		if op == proto.OpGetChildren {
			return code, &proto.GetChildrenResponse{Children: children}
		}
		return code, &proto.GetChildren2Response{Children: children, Stat: stat}
	case proto.OpGetACL:
		r := rec.(*proto.PathRequest)
		acl, stat, code := s.tree.GetACL(r.Path)
		if code != proto.ErrOK {
			return code, nil
		}
		if !auth.CheckACL(acl, proto.PermRead|proto.PermAdmin, id) {
			return proto.ErrNoAuth, nil
		}
		if !auth.CheckACL(acl, proto.PermAdmin, id) {
			acl = maskDigests(acl)
		}
		return proto.ErrOK, &proto.GetACLResponse{ACL: acl, Stat: stat}
	case proto.OpGetAllChildrenNumber:
		r := rec.(*proto.PathRequest)
		info, ok := s.tree.Lookup(r.Path)
		if !ok {
			return proto.ErrNoNode, nil
		}
		if !auth.CheckACL(info.ACL, proto.PermRead, id) {
			return proto.ErrNoAuth, nil
		}
		n, code := s.tree.AllChildrenNumber(r.Path)
		return code, &proto.IntResponse{Value: n}
	case proto.OpGetEphemerals:
		r := rec.(*proto.PathRequest)
		return proto.ErrOK, &proto.StringsResponse{Values: s.tree.Ephemerals(c.sessionID.Load(), r.Path)}
	case proto.OpCheckWatches, proto.OpRemoveWatches:
		r := rec.(*proto.WatchesRequest)
		if r.Type < proto.WatcherChildren || r.Type > proto.WatcherAny {
			return proto.ErrMarshallingError, nil
		}
		return s.tree.RemoveWatches(r.Path, c, r.Type, op == proto.OpCheckWatches), nil
	case proto.OpAddWatch:
		r := rec.(*proto.AddWatchRequest)
		if r.Mode != proto.AddWatchPersistent && r.Mode != proto.AddWatchPersistentRecursive {
			return proto.ErrMarshallingError, nil
		}
		s.tree.AddWatch(r.Path, c, r.Mode)
		return proto.ErrOK, &proto.IntResponse{Value: 0}
	case proto.OpSetWatches, proto.OpSetWatches2:
		r := rec.(*proto.SetWatches)
		s.tree.SetWatches(r.RelativeZxid, r, c)
		return proto.ErrOK, nil
	case proto.OpWhoAmI:
		return proto.ErrOK, &proto.WhoAmIResponse{Info: id.WhoAmI()}
	case proto.OpMultiRead:
		return proto.ErrOK, s.multiRead(c, rec.(*proto.MultiRequest), id)
	}
	return proto.ErrUnimplemented, nil
}

// multiRead answers each getData/getChildren on its own; a failing op gets
// an error result and never aborts the others.
func (s *Server) multiRead(c *conn, r *proto.MultiRequest, id *auth.Identity) *proto.MultiResponse {
	out := &proto.MultiResponse{}
	for _, op := range r.Ops {
		pw, ok := op.Req.(*proto.PathWatchRequest)
		if !ok || (op.Type != proto.OpGetData && op.Type != proto.OpGetChildren) {
			out.Results = append(out.Results, proto.MultiResult{Type: proto.OpError, Err: proto.ErrBadArguments})
			continue
		}
		var w watch.Watcher
		if pw.Watch {
			w = c
		}
		if op.Type == proto.OpGetData {
			data, stat, code := s.tree.GetData(pw.Path, w, checker(proto.PermRead, id))
			if code != proto.ErrOK {
				out.Results = append(out.Results, proto.MultiResult{Type: proto.OpError, Err: code})
				continue
			}
			out.Results = append(out.Results, proto.MultiResult{Type: proto.OpGetData,
				Resp: &proto.GetDataResponse{Data: data, Stat: stat}})
			continue
		}
		children, _, code := s.tree.GetChildren(pw.Path, w, checker(proto.PermRead, id))
		if code != proto.ErrOK {
			out.Results = append(out.Results, proto.MultiResult{Type: proto.OpError, Err: code})
			continue
		}
		out.Results = append(out.Results, proto.MultiResult{Type: proto.OpGetChildren,
			Resp: &proto.GetChildrenResponse{Children: children}})
	}
	return out
}

// checker adapts an ACL check to the tree's Checker.
func checker(perm int32, id *auth.Identity) datatree.Checker {
	return func(acl []proto.ACL) proto.Code {
		if auth.CheckACL(acl, perm, id) {
			return proto.ErrOK
		}
		return proto.ErrNoAuth
	}
}

// maskDigests hides digest hashes from a caller without ADMIN
// (CVE-2019-0201): "user:hash" becomes "user:x".
func maskDigests(acl []proto.ACL) []proto.ACL {
	out := make([]proto.ACL, len(acl))
	for i, a := range acl {
		out[i] = a
		if a.ID.Scheme == "digest" {
			if j := strings.IndexByte(a.ID.ID, ':'); j >= 0 {
				out[i].ID.ID = a.ID.ID[:j] + ":x"
			}
		}
	}
	return out
}

// handleAuth processes an AuthPacket at once (ZooKeeper does not queue it).
func (s *Server) handleAuth(c *conn, h proto.RequestHeader, body []byte, start time.Time) bool {
	var ap proto.AuthPacket
	if err := proto.UnmarshalPrefix(body, s.opts.MaxBuffer, &ap); err != nil {
		return s.marshallingError(c, h, start, err)
	}
	old := c.identity.Load()
	next := old.Clone()
	if err := s.authMetrics.AddAuth(next, ap.Scheme, ap.Auth, s.opts.SuperDigest); err != nil {
		s.metrics.BadInput.WithLabelValues("auth_failed").Inc()
		s.log.Warn().Str("remote", c.remote).Str("session", hex(c.sessionID.Load())).Int32("xid", h.Xid).Str("scheme", ap.Scheme).
			Err(err).Msg("authentication failed; closing connection")
		c.reply(proto.ReplyHeader{Xid: h.Xid, Err: proto.ErrAuthFailed}, nil)
		s.observeRead(c, start, h, nil, proto.ErrAuthFailed, 0)
		c.closeAfterFlush("auth_failed")
		return false
	}
	c.identity.Store(next)
	c.reply(proto.ReplyHeader{Xid: h.Xid}, nil)
	s.observeRead(c, start, h, nil, proto.ErrOK, 0)
	return true
}

// marshallingError answers a request whose body does not decode, in order,
// with MARSHALLINGERROR; the connection stays open, as in ZooKeeper.
func (s *Server) marshallingError(c *conn, h proto.RequestHeader, start time.Time, err error) bool {
	s.metrics.BadInput.WithLabelValues("malformed_request").Inc()
	s.log.Warn().Str("remote", c.remote).Str("session", hex(c.sessionID.Load())).Str("op", proto.OpName(h.Type)).
		Int32("xid", h.Xid).Err(err).Msg("malformed request body")
	if !c.waitWrites() {
		return false
	}
	s.replyRead(c, start, h, proto.ErrMarshallingError, nil)
	return true
}

// replyRead queues a reply for a request answered outside the pipeline.
func (s *Server) replyRead(c *conn, start time.Time, h proto.RequestHeader, code proto.Code, body proto.Record) {
	s.tree.RLock()
	zxid := s.tree.LastProcessedZxid()
	c.reply(proto.ReplyHeader{Xid: h.Xid, Zxid: zxid, Err: code}, body)
	s.tree.RUnlock()
	s.observeRead(c, start, h, nil, code, zxid)
}

// observeRead records a request answered outside the pipeline (rec is its
// decoded body, nil if none) in metrics, statistics, a span and the debug
// log.
func (s *Server) observeRead(c *conn, start time.Time, h proto.RequestHeader, rec proto.Record, code proto.Code, zxid int64) {
	name := proto.OpName(h.Type)
	s.metrics.Requests.WithLabelValues(name, resultLabel(code)).Inc()
	s.metrics.RequestDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	c.recordLatency(start, h.Type, h.Xid)
	var sc trace.SpanContext
	if s.tracing != nil {
		sc = s.tracing.traceRead(c, start, h, rec, code, zxid)
	}
	s.logRequest(c, c.sessionID.Load(), h.Xid, h.Type, code, zxid, start, sc)
}

// logRequest writes a finished request's debug line. Every request line
// carries session id, xid and the reply's zxid, and the trace and span id
// when the request was traced, so logs and traces lead to each other. The
// level check comes first: with debug off nothing is formatted.
func (s *Server) logRequest(c *conn, sid int64, xid int32, op proto.Op, code proto.Code, zxid int64, start time.Time, sc trace.SpanContext) {
	e := s.log.Debug()
	if e == nil {
		return
	}
	if c != nil {
		e = e.Str("remote", c.remote)
	}
	e = e.Str("session", hex(sid)).Int32("xid", xid).Str("zxid", hex(zxid)).
		Str("op", proto.OpName(op)).Str("result", proto.CodeName(code)).Dur("latency", time.Since(start))
	if sc.IsValid() {
		e = e.Str("trace_id", sc.TraceID().String()).Str("span_id", sc.SpanID().String())
	}
	e.Msg("request")
}

// hex formats a session id or zxid as ZooKeeper's logs do ("0x1f").
func hex(v int64) string { return "0x" + strconv.FormatUint(uint64(v), 16) }

func isTruncated(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }
