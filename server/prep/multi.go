package prep

import "github.com/zkd-io/zkd/server/proto"

// subOp is one operation of a multi after ZooKeeper's decoding of it.
type subOp struct {
	op   int32
	path string
	body proto.Record
}

// multiOps is what ZooKeeper's MultiOperationRecord.deserialize and
// Op.create make of a multi's ops. Creates are re-typed by their flags: a
// create, create2 or createContainer with the container flag becomes
// createContainer, and a createTTL without a TTL flag becomes a create (or
// createContainer), dropping its TTL. ok is false when ZooKeeper fails to
// decode the multi, which fails the whole request with MARSHALLINGERROR: an
// unknown create flag or a TTL flag on a create without TTL, any op that is
// not create/delete/setData/check, or data over MaxDataBytes.
func (c *opContext) multiOps(m *proto.MultiRequest) (ops []subOp, ok bool) {
	for _, o := range m.Ops {
		var data []byte
		switch o.Type {
		case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer:
			r, ok := o.Req.(*proto.CreateRequest)
			if !ok {
				return nil, false
			}
			mode, ok := createModeOf(r.Flags)
			if !ok || mode.ttl {
				return nil, false
			}
			op := o.Type
			if mode.container {
				op = proto.OpCreateContainer
			}
			ops = append(ops, subOp{op: op, path: r.Path, body: r})
			data = r.Data
		case proto.OpCreateTTL:
			r, ok := o.Req.(*proto.CreateTTLRequest)
			if !ok {
				return nil, false
			}
			mode, _ := createModeOf(r.Flags) // unknown flags: persistent here, BADARGUMENTS later
			switch {
			case mode.ttl:
				ops = append(ops, subOp{op: proto.OpCreateTTL, path: r.Path, body: r})
			default:
				op := int32(proto.OpCreate)
				if mode.container {
					op = proto.OpCreateContainer
				}
				ops = append(ops, subOp{op: op, path: r.Path, body: &proto.CreateRequest{Path: r.Path, Data: r.Data, ACL: r.ACL, Flags: r.Flags}})
			}
			data = r.Data
		case proto.OpDelete:
			r, ok := o.Req.(*proto.DeleteRequest)
			if !ok {
				return nil, false
			}
			ops = append(ops, subOp{op: o.Type, path: r.Path, body: r})
		case proto.OpSetData:
			r, ok := o.Req.(*proto.SetDataRequest)
			if !ok {
				return nil, false
			}
			ops = append(ops, subOp{op: o.Type, path: r.Path, body: r})
			data = r.Data
		case proto.OpCheck:
			r, ok := o.Req.(*proto.CheckVersionRequest)
			if !ok {
				return nil, false
			}
			ops = append(ops, subOp{op: o.Type, path: r.Path, body: r})
		default:
			// deleteContainer is not a multi op; reads cannot be mixed
			// with writes, and a multi of reads only fails to prep.
			return nil, false
		}
		if c.tooBig(data) {
			return nil, false
		}
	}
	return ops, true
}

// multi preps a multi: each op in order against the overlay as the ops
// before it left it. On the first failure the op gets an ErrorTxn with its
// code, the ops after it ErrorTxn RUNTIMEINCONSISTENCY, the ops before it
// keep their txns, and the overlay loses everything this multi added.
// The returned code is the first failure (for metrics); the txn is nil only
// when the multi could not be decoded.
func (c *opContext) multi() (proto.Txn, proto.Code) {
	m, ok := c.req.Body.(*proto.MultiRequest)
	if !ok {
		return fail(proto.ErrMarshallingError)
	}
	ops, ok := c.multiOps(m)
	if !ok {
		return fail(proto.ErrMarshallingError)
	}
	paths := make([]string, len(ops))
	for i, o := range ops {
		paths[i] = o.path
	}
	pending := c.p.overlay.pending(paths)
	txns := make([]proto.Txn, 0, len(ops))
	failed := proto.ErrOK
	for _, o := range ops {
		if failed != proto.ErrOK {
			txns = append(txns, &proto.ErrorTxn{Err: proto.ErrRuntimeInconsistency})
			continue
		}
		txn, code := c.op(o.op, o.body)
		if txn == nil {
			failed = code
			txns = append(txns, &proto.ErrorTxn{Err: code})
			c.p.overlay.rollback(c.zxid, pending)
			continue
		}
		txns = append(txns, txn)
	}
	return &proto.MultiTxn{Txns: txns}, failed
}
