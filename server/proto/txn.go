package proto

import (
	"errors"
	"fmt"

	"github.com/zkd-io/zkd/server/jute"
)

// TxnHeader precedes every transaction in the log and in proposals.
type TxnHeader struct {
	ClientID int64 // session id
	Cxid     int32
	Zxid     int64
	Time     int64 // ms since the epoch
	Type     int32
}

// TxnHeaderSize is the encoded size of a TxnHeader.
const TxnHeaderSize = 32

// Encode implements Record.
func (h *TxnHeader) Encode(e *jute.Encoder) {
	e.Long(h.ClientID)
	e.Int(h.Cxid)
	e.Long(h.Zxid)
	e.Long(h.Time)
	e.Int(h.Type)
}

// Decode implements Record.
func (h *TxnHeader) Decode(d *jute.Decoder) {
	h.ClientID = d.Long()
	h.Cxid = d.Int()
	h.Zxid = d.Long()
	h.Time = d.Long()
	h.Type = d.Int()
}

// Txn is the body of one transaction; its concrete type follows the header's
// type (see DecodeTxn).
type Txn interface {
	Record
	// TxnType returns the header type this body is written under.
	TxnType() int32
}

// CreateTxn is the body of create and create2 txns. ParentCVersion is the
// parent's stored cversion after the create; -1 (old logs without the
// field) means "parent's cversion + 1".
type CreateTxn struct {
	Path           string
	Data           []byte
	ACL            []ACL
	Ephemeral      bool
	ParentCVersion int32
	// Op is OpCreate or OpCreate2: both share this record.
	Op int32
}

// TxnType implements Txn.
func (t *CreateTxn) TxnType() int32 {
	if t.Op == 0 {
		return OpCreate
	}
	return t.Op
}

// Encode implements Record.
func (t *CreateTxn) Encode(e *jute.Encoder) {
	e.String(t.Path)
	e.Buffer(t.Data)
	EncodeACLs(e, t.ACL)
	e.Bool(t.Ephemeral)
	e.Int(t.ParentCVersion)
}

// Decode implements Record. A body that ends before parentCVersion is the
// old CreateTxnV0 and gets ParentCVersion -1, as ZooKeeper reads it.
func (t *CreateTxn) Decode(d *jute.Decoder) {
	t.Path = d.String()
	t.Data = d.Buffer()
	t.ACL = DecodeACLs(d)
	t.Ephemeral = d.Bool()
	if d.Err() == nil && d.Remaining() == 0 {
		t.ParentCVersion = -1
		return
	}
	t.ParentCVersion = d.Int()
}

// CreateContainerTxn is the body of a createContainer txn.
type CreateContainerTxn struct {
	Path           string
	Data           []byte
	ACL            []ACL
	ParentCVersion int32
}

// TxnType implements Txn.
func (t *CreateContainerTxn) TxnType() int32 { return OpCreateContainer }

// Encode implements Record.
func (t *CreateContainerTxn) Encode(e *jute.Encoder) {
	e.String(t.Path)
	e.Buffer(t.Data)
	EncodeACLs(e, t.ACL)
	e.Int(t.ParentCVersion)
}

// Decode implements Record.
func (t *CreateContainerTxn) Decode(d *jute.Decoder) {
	t.Path = d.String()
	t.Data = d.Buffer()
	t.ACL = DecodeACLs(d)
	t.ParentCVersion = d.Int()
}

// CreateTTLTxn is the body of a createTTL txn.
type CreateTTLTxn struct {
	Path           string
	Data           []byte
	ACL            []ACL
	ParentCVersion int32
	TTL            int64
}

// TxnType implements Txn.
func (t *CreateTTLTxn) TxnType() int32 { return OpCreateTTL }

// Encode implements Record.
func (t *CreateTTLTxn) Encode(e *jute.Encoder) {
	e.String(t.Path)
	e.Buffer(t.Data)
	EncodeACLs(e, t.ACL)
	e.Int(t.ParentCVersion)
	e.Long(t.TTL)
}

// Decode implements Record.
func (t *CreateTTLTxn) Decode(d *jute.Decoder) {
	t.Path = d.String()
	t.Data = d.Buffer()
	t.ACL = DecodeACLs(d)
	t.ParentCVersion = d.Int()
	t.TTL = d.Long()
}

// DeleteTxn is the body of delete and deleteContainer txns.
type DeleteTxn struct {
	Path string
	// Op is OpDelete or OpDeleteContainer: both share this record.
	Op int32
}

// TxnType implements Txn.
func (t *DeleteTxn) TxnType() int32 {
	if t.Op == 0 {
		return OpDelete
	}
	return t.Op
}

// Encode implements Record.
func (t *DeleteTxn) Encode(e *jute.Encoder) { e.String(t.Path) }

// Decode implements Record.
func (t *DeleteTxn) Decode(d *jute.Decoder) { t.Path = d.String() }

// SetDataTxn is the body of setData (and reconfig) txns; Version is the new
// data version.
type SetDataTxn struct {
	Path    string
	Data    []byte
	Version int32
	// Op is OpSetData or OpReconfig: both share this record.
	Op int32
}

// TxnType implements Txn.
func (t *SetDataTxn) TxnType() int32 {
	if t.Op == 0 {
		return OpSetData
	}
	return t.Op
}

// Encode implements Record.
func (t *SetDataTxn) Encode(e *jute.Encoder) { e.String(t.Path); e.Buffer(t.Data); e.Int(t.Version) }

// Decode implements Record.
func (t *SetDataTxn) Decode(d *jute.Decoder) {
	t.Path = d.String()
	t.Data = d.Buffer()
	t.Version = d.Int()
}

// SetACLTxn is the body of a setACL txn; Version is the new aversion.
type SetACLTxn struct {
	Path    string
	ACL     []ACL
	Version int32
}

// TxnType implements Txn.
func (t *SetACLTxn) TxnType() int32 { return OpSetACL }

// Encode implements Record.
func (t *SetACLTxn) Encode(e *jute.Encoder) { e.String(t.Path); EncodeACLs(e, t.ACL); e.Int(t.Version) }

// Decode implements Record.
func (t *SetACLTxn) Decode(d *jute.Decoder) {
	t.Path = d.String()
	t.ACL = DecodeACLs(d)
	t.Version = d.Int()
}

// CheckVersionTxn is the body of a check inside a multi.
type CheckVersionTxn struct {
	Path    string
	Version int32
}

// TxnType implements Txn.
func (t *CheckVersionTxn) TxnType() int32 { return OpCheck }

// Encode implements Record.
func (t *CheckVersionTxn) Encode(e *jute.Encoder) { e.String(t.Path); e.Int(t.Version) }

// Decode implements Record.
func (t *CheckVersionTxn) Decode(d *jute.Decoder) { t.Path = d.String(); t.Version = d.Int() }

// ErrorTxn records a write that failed validation: it still takes a zxid.
type ErrorTxn struct{ Err int32 }

// TxnType implements Txn.
func (t *ErrorTxn) TxnType() int32 { return OpError }

// Encode implements Record.
func (t *ErrorTxn) Encode(e *jute.Encoder) { e.Int(t.Err) }

// Decode implements Record.
func (t *ErrorTxn) Decode(d *jute.Decoder) { t.Err = d.Int() }

// CreateSessionTxn is the body of a createSession txn.
type CreateSessionTxn struct{ TimeOut int32 }

// TxnType implements Txn.
func (t *CreateSessionTxn) TxnType() int32 { return OpCreateSession }

// Encode implements Record.
func (t *CreateSessionTxn) Encode(e *jute.Encoder) { e.Int(t.TimeOut) }

// Decode implements Record.
func (t *CreateSessionTxn) Decode(d *jute.Decoder) { t.TimeOut = d.Int() }

// CloseSessionTxn is the body of a closeSession txn: the session's
// ephemeral nodes, which the txn deletes. Old logs have an empty body.
type CloseSessionTxn struct {
	Paths2Delete []string
	// Empty is true for an old body-less closeSession.
	Empty bool
}

// TxnType implements Txn.
func (t *CloseSessionTxn) TxnType() int32 { return OpCloseSession }

// Encode implements Record.
func (t *CloseSessionTxn) Encode(e *jute.Encoder) {
	if !t.Empty {
		e.StringVector(t.Paths2Delete)
	}
}

// Decode implements Record.
func (t *CloseSessionTxn) Decode(d *jute.Decoder) {
	if d.Remaining() == 0 {
		t.Empty = true
		return
	}
	t.Paths2Delete = d.StringVector()
}

// MultiTxn is the body of a multi txn: each sub-txn is stored as its type
// and its encoded body.
type MultiTxn struct {
	Txns []Txn
}

// TxnType implements Txn.
func (t *MultiTxn) TxnType() int32 { return OpMulti }

// Encode implements Record.
func (t *MultiTxn) Encode(e *jute.Encoder) {
	e.Int(int32(len(t.Txns)))
	for _, sub := range t.Txns {
		e.Int(sub.TxnType())
		e.Buffer(Marshal(sub))
	}
}

// Decode implements Record.
func (t *MultiTxn) Decode(d *jute.Decoder) {
	n := d.VectorLen(8)
	t.Txns = nil
	for i := 0; i < n && d.Err() == nil; i++ {
		typ := d.Int()
		body := d.Buffer()
		if d.Err() != nil {
			return
		}
		if typ == OpMulti || typ == OpCreateSession || typ == OpCloseSession {
			d.Fail(fmt.Errorf("jute: sub-txn type %d (%s) cannot appear in a multi", typ, OpName(typ)))
			return
		}
		sub, err := decodeTxnBody(typ, body, jute.DefaultMaxBuffer*2)
		if err != nil {
			d.Fail(fmt.Errorf("multi sub-txn %d: %w", i, err))
			return
		}
		t.Txns = append(t.Txns, sub)
	}
}

// TxnDigest follows the txn body in the log when digests are enabled: the
// tree digest after the txn was applied.
type TxnDigest struct {
	Version    int32
	TreeDigest int64
}

// TxnDigestSize is the encoded size of a TxnDigest.
const TxnDigestSize = 12

// Encode implements Record.
func (t *TxnDigest) Encode(e *jute.Encoder) { e.Int(t.Version); e.Long(t.TreeDigest) }

// Decode implements Record.
func (t *TxnDigest) Decode(d *jute.Decoder) { t.Version = d.Int(); t.TreeDigest = d.Long() }

// ErrUnknownTxnType is returned (wrapped) for a txn header type that
// ZooKeeper never writes.
var ErrUnknownTxnType = errors.New("unsupported txn type")

// NewTxn returns an empty body for a txn header type.
func NewTxn(typ int32) (Txn, error) {
	switch typ {
	case OpCreate, OpCreate2:
		return &CreateTxn{Op: typ}, nil
	case OpCreateContainer:
		return &CreateContainerTxn{}, nil
	case OpCreateTTL:
		return &CreateTTLTxn{}, nil
	case OpDelete, OpDeleteContainer:
		return &DeleteTxn{Op: typ}, nil
	case OpSetData, OpReconfig:
		return &SetDataTxn{Op: typ}, nil
	case OpSetACL:
		return &SetACLTxn{}, nil
	case OpCheck:
		return &CheckVersionTxn{}, nil
	case OpError:
		return &ErrorTxn{}, nil
	case OpCreateSession:
		return &CreateSessionTxn{}, nil
	case OpCloseSession:
		return &CloseSessionTxn{}, nil
	case OpMulti:
		return &MultiTxn{}, nil
	}
	return nil, fmt.Errorf("%w %d", ErrUnknownTxnType, typ)
}

// decodeTxnBody decodes a sub-txn body that must be consumed exactly.
func decodeTxnBody(typ int32, body []byte, maxLen int) (Txn, error) {
	t, err := NewTxn(typ)
	if err != nil {
		return nil, err
	}
	if err := Unmarshal(body, maxLen, t); err != nil {
		return nil, fmt.Errorf("%s txn: %w", OpName(typ), err)
	}
	return t, nil
}

// DecodeTxn decodes a log entry payload: TxnHeader, the body its type names,
// and the optional TxnDigest that follows (ZooKeeper reads the body, then
// tries 12 more bytes). digest is nil when absent.
func DecodeTxn(payload []byte, maxLen int) (hdr TxnHeader, txn Txn, digest *TxnDigest, err error) {
	d := jute.GetDecoder(payload, maxLen)
	defer jute.PutDecoder(d)
	hdr.Decode(d)
	if err := d.Err(); err != nil {
		return hdr, nil, nil, fmt.Errorf("txn header: %w", err)
	}
	txn, err = NewTxn(hdr.Type)
	if err != nil {
		return hdr, nil, nil, fmt.Errorf("zxid 0x%x: %w", hdr.Zxid, err)
	}
	txn.Decode(d)
	if err := d.Err(); err != nil {
		return hdr, nil, nil, fmt.Errorf("zxid 0x%x %s body: %w", hdr.Zxid, OpName(hdr.Type), err)
	}
	switch d.Remaining() {
	case 0:
	case TxnDigestSize:
		digest = &TxnDigest{}
		digest.Decode(d)
	default:
		return hdr, nil, nil, fmt.Errorf("zxid 0x%x %s: %d unexpected bytes after the body", hdr.Zxid, OpName(hdr.Type), d.Remaining())
	}
	return hdr, txn, digest, nil
}

// EncodeTxn encodes a log entry payload: header, body and, when digest is
// non-nil, the TxnDigest.
func EncodeTxn(e *jute.Encoder, hdr *TxnHeader, txn Txn, digest *TxnDigest) {
	hdr.Encode(e)
	if txn != nil {
		txn.Encode(e)
	}
	if digest != nil {
		digest.Encode(e)
	}
}

// FileHeader starts txn log and snapshot files.
type FileHeader struct {
	Magic   int32
	Version int32
	Dbid    int64
}

// Encode implements Record.
func (h *FileHeader) Encode(e *jute.Encoder) { e.Int(h.Magic); e.Int(h.Version); e.Long(h.Dbid) }

// Decode implements Record.
func (h *FileHeader) Decode(d *jute.Decoder) {
	h.Magic = d.Int()
	h.Version = d.Int()
	h.Dbid = d.Long()
}
