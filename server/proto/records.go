package proto

import (
	"fmt"

	"github.com/zkd-io/zkd/server/jute"
)

// Record is a jute record: it knows how to append itself to an encoder and
// how to read itself from a decoder (errors are left in the decoder).
type Record interface {
	Encode(e *jute.Encoder)
	Decode(d *jute.Decoder)
}

// Marshal encodes r into a fresh byte slice.
func Marshal(r Record) []byte {
	e := jute.NewEncoder(nil)
	r.Encode(e)
	return e.Bytes()
}

// Unmarshal decodes r from b, rejecting lengths above maxLen and any bytes
// left over after the record.
func Unmarshal(b []byte, maxLen int, r Record) error {
	d := jute.GetDecoder(b, maxLen)
	defer jute.PutDecoder(d)
	r.Decode(d)
	if err := d.Err(); err != nil {
		return err
	}
	if d.Remaining() != 0 {
		return fmt.Errorf("jute: %d trailing bytes after %T", d.Remaining(), r)
	}
	return nil
}

// UnmarshalPrefix decodes r from the start of b and ignores whatever
// follows, as ZooKeeper does when it reads a request record from a packet:
// extra bytes after a request body are not an error on the wire.
func UnmarshalPrefix(b []byte, maxLen int, r Record) error {
	d := jute.GetDecoder(b, maxLen)
	defer jute.PutDecoder(d)
	r.Decode(d)
	return d.Err()
}

// ID is an authentication identity (jute Id).
type ID struct {
	Scheme string
	ID     string
}

// ACL is one access-control entry (jute ACL).
type ACL struct {
	Perms int32
	ID    ID
}

// EncodeACLs writes a vector<ACL>.
func EncodeACLs(e *jute.Encoder, acls []ACL) {
	e.Int(int32(len(acls)))
	for _, a := range acls {
		e.Int(a.Perms)
		e.String(a.ID.Scheme)
		e.String(a.ID.ID)
	}
}

// DecodeACLs reads a vector<ACL>; null decodes as nil.
func DecodeACLs(d *jute.Decoder) []ACL {
	n := d.VectorLen(12)
	if n <= 0 {
		return nil
	}
	out := make([]ACL, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		var a ACL
		a.Perms = d.Int()
		a.ID.Scheme = d.String()
		a.ID.ID = d.String()
		out = append(out, a)
	}
	return out
}

// Stat is the znode metadata returned to clients (jute Stat, 68 bytes).
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

// Encode implements Record.
func (s *Stat) Encode(e *jute.Encoder) {
	e.Long(s.Czxid)
	e.Long(s.Mzxid)
	e.Long(s.Ctime)
	e.Long(s.Mtime)
	e.Int(s.Version)
	e.Int(s.Cversion)
	e.Int(s.Aversion)
	e.Long(s.EphemeralOwner)
	e.Int(s.DataLength)
	e.Int(s.NumChildren)
	e.Long(s.Pzxid)
}

// Decode implements Record.
func (s *Stat) Decode(d *jute.Decoder) {
	s.Czxid = d.Long()
	s.Mzxid = d.Long()
	s.Ctime = d.Long()
	s.Mtime = d.Long()
	s.Version = d.Int()
	s.Cversion = d.Int()
	s.Aversion = d.Int()
	s.EphemeralOwner = d.Long()
	s.DataLength = d.Int()
	s.NumChildren = d.Int()
	s.Pzxid = d.Long()
}

// StatPersisted is the stat kept on disk (jute StatPersisted): Stat without
// dataLength and numChildren. Cversion here is the *stored* cversion, which
// counts child creations only.
type StatPersisted struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	Pzxid          int64
}

// Encode implements Record.
func (s *StatPersisted) Encode(e *jute.Encoder) {
	e.Long(s.Czxid)
	e.Long(s.Mzxid)
	e.Long(s.Ctime)
	e.Long(s.Mtime)
	e.Int(s.Version)
	e.Int(s.Cversion)
	e.Int(s.Aversion)
	e.Long(s.EphemeralOwner)
	e.Long(s.Pzxid)
}

// Decode implements Record.
func (s *StatPersisted) Decode(d *jute.Decoder) {
	s.Czxid = d.Long()
	s.Mzxid = d.Long()
	s.Ctime = d.Long()
	s.Mtime = d.Long()
	s.Version = d.Int()
	s.Cversion = d.Int()
	s.Aversion = d.Int()
	s.EphemeralOwner = d.Long()
	s.Pzxid = d.Long()
}

// ConnectRequest opens or re-attaches a session. ReadOnly is not part of the
// jute schema: Java, C and kazoo append it, go-zookeeper does not, and the
// server must echo it in the response only when it was sent.
type ConnectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	HasReadOnly     bool
}

// Encode implements Record.
func (r *ConnectRequest) Encode(e *jute.Encoder) {
	e.Int(r.ProtocolVersion)
	e.Long(r.LastZxidSeen)
	e.Int(r.TimeOut)
	e.Long(r.SessionID)
	e.Buffer(r.Passwd)
	if r.HasReadOnly {
		e.Bool(r.ReadOnly)
	}
}

// Decode implements Record.
func (r *ConnectRequest) Decode(d *jute.Decoder) {
	r.ProtocolVersion = d.Int()
	r.LastZxidSeen = d.Long()
	r.TimeOut = d.Int()
	r.SessionID = d.Long()
	r.Passwd = d.Buffer()
	if d.Err() == nil && d.Remaining() > 0 {
		r.HasReadOnly = true
		r.ReadOnly = d.Bool()
	}
}

// ConnectResponse answers a ConnectRequest. TimeOut 0 and SessionID 0 tell
// the client its session is invalid.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	HasReadOnly     bool
}

// Encode implements Record.
func (r *ConnectResponse) Encode(e *jute.Encoder) {
	e.Int(r.ProtocolVersion)
	e.Int(r.TimeOut)
	e.Long(r.SessionID)
	e.Buffer(r.Passwd)
	if r.HasReadOnly {
		e.Bool(r.ReadOnly)
	}
}

// Decode implements Record.
func (r *ConnectResponse) Decode(d *jute.Decoder) {
	r.ProtocolVersion = d.Int()
	r.TimeOut = d.Int()
	r.SessionID = d.Long()
	r.Passwd = d.Buffer()
	if d.Err() == nil && d.Remaining() > 0 {
		r.HasReadOnly = true
		r.ReadOnly = d.Bool()
	}
}

// RequestHeader precedes every request after the connect.
type RequestHeader struct {
	Xid  int32
	Type int32
}

// Encode implements Record.
func (r *RequestHeader) Encode(e *jute.Encoder) { e.Int(r.Xid); e.Int(r.Type) }

// Decode implements Record.
func (r *RequestHeader) Decode(d *jute.Decoder) { r.Xid = d.Int(); r.Type = d.Int() }

// ReplyHeader precedes every reply and notification.
type ReplyHeader struct {
	Xid  int32
	Zxid int64
	Err  int32
}

// Encode implements Record.
func (r *ReplyHeader) Encode(e *jute.Encoder) { e.Int(r.Xid); e.Long(r.Zxid); e.Int(r.Err) }

// Decode implements Record.
func (r *ReplyHeader) Decode(d *jute.Decoder) { r.Xid = d.Int(); r.Zxid = d.Long(); r.Err = d.Int() }

// CreateRequest is the body of create, create2 and createContainer.
type CreateRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags int32
}

// Encode implements Record.
func (r *CreateRequest) Encode(e *jute.Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	EncodeACLs(e, r.ACL)
	e.Int(r.Flags)
}

// Decode implements Record.
func (r *CreateRequest) Decode(d *jute.Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.ACL = DecodeACLs(d)
	r.Flags = d.Int()
}

// CreateTTLRequest is the body of createTTL.
type CreateTTLRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags int32
	TTL   int64
}

// Encode implements Record.
func (r *CreateTTLRequest) Encode(e *jute.Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	EncodeACLs(e, r.ACL)
	e.Int(r.Flags)
	e.Long(r.TTL)
}

// Decode implements Record.
func (r *CreateTTLRequest) Decode(d *jute.Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.ACL = DecodeACLs(d)
	r.Flags = d.Int()
	r.TTL = d.Long()
}

// DeleteRequest is the body of delete.
type DeleteRequest struct {
	Path    string
	Version int32
}

// Encode implements Record.
func (r *DeleteRequest) Encode(e *jute.Encoder) { e.String(r.Path); e.Int(r.Version) }

// Decode implements Record.
func (r *DeleteRequest) Decode(d *jute.Decoder) { r.Path = d.String(); r.Version = d.Int() }

// PathWatchRequest is the body of exists, getData, getChildren and
// getChildren2, which all carry a path and a watch flag.
type PathWatchRequest struct {
	Path  string
	Watch bool
}

// Encode implements Record.
func (r *PathWatchRequest) Encode(e *jute.Encoder) { e.String(r.Path); e.Bool(r.Watch) }

// Decode implements Record.
func (r *PathWatchRequest) Decode(d *jute.Decoder) { r.Path = d.String(); r.Watch = d.Bool() }

// PathRequest is the body of getACL, sync, getAllChildrenNumber and
// getEphemerals (prefix path), which carry just a path.
type PathRequest struct {
	Path string
}

// Encode implements Record.
func (r *PathRequest) Encode(e *jute.Encoder) { e.String(r.Path) }

// Decode implements Record.
func (r *PathRequest) Decode(d *jute.Decoder) { r.Path = d.String() }

// SetDataRequest is the body of setData.
type SetDataRequest struct {
	Path    string
	Data    []byte
	Version int32
}

// Encode implements Record.
func (r *SetDataRequest) Encode(e *jute.Encoder) {
	e.String(r.Path)
	e.Buffer(r.Data)
	e.Int(r.Version)
}

// Decode implements Record.
func (r *SetDataRequest) Decode(d *jute.Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.Version = d.Int()
}

// SetACLRequest is the body of setACL.
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

// Encode implements Record.
func (r *SetACLRequest) Encode(e *jute.Encoder) {
	e.String(r.Path)
	EncodeACLs(e, r.ACL)
	e.Int(r.Version)
}

// Decode implements Record.
func (r *SetACLRequest) Decode(d *jute.Decoder) {
	r.Path = d.String()
	r.ACL = DecodeACLs(d)
	r.Version = d.Int()
}

// CheckVersionRequest is the body of check (used inside multi).
type CheckVersionRequest struct {
	Path    string
	Version int32
}

// Encode implements Record.
func (r *CheckVersionRequest) Encode(e *jute.Encoder) { e.String(r.Path); e.Int(r.Version) }

// Decode implements Record.
func (r *CheckVersionRequest) Decode(d *jute.Decoder) { r.Path = d.String(); r.Version = d.Int() }

// WatchesRequest is the body of checkWatches and removeWatches.
type WatchesRequest struct {
	Path string
	Type int32
}

// Encode implements Record.
func (r *WatchesRequest) Encode(e *jute.Encoder) { e.String(r.Path); e.Int(r.Type) }

// Decode implements Record.
func (r *WatchesRequest) Decode(d *jute.Decoder) { r.Path = d.String(); r.Type = d.Int() }

// AddWatchRequest is the body of addWatch.
type AddWatchRequest struct {
	Path string
	Mode int32
}

// Encode implements Record.
func (r *AddWatchRequest) Encode(e *jute.Encoder) { e.String(r.Path); e.Int(r.Mode) }

// Decode implements Record.
func (r *AddWatchRequest) Decode(d *jute.Decoder) { r.Path = d.String(); r.Mode = d.Int() }

// AuthPacket is the body of auth (xid -4).
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

// Encode implements Record.
func (r *AuthPacket) Encode(e *jute.Encoder) { e.Int(r.Type); e.String(r.Scheme); e.Buffer(r.Auth) }

// Decode implements Record.
func (r *AuthPacket) Decode(d *jute.Decoder) {
	r.Type = d.Int()
	r.Scheme = d.String()
	r.Auth = d.Buffer()
}

// SetWatches re-registers watches after a reconnect (setWatches and, with
// the two persistent lists, setWatches2).
type SetWatches struct {
	RelativeZxid        int64
	DataWatches         []string
	ExistWatches        []string
	ChildWatches        []string
	PersistentWatches   []string
	PersistentRecursive []string
	// V2 is true for setWatches2, which carries the two persistent lists.
	V2 bool
}

// Encode implements Record.
func (r *SetWatches) Encode(e *jute.Encoder) {
	e.Long(r.RelativeZxid)
	e.StringVector(r.DataWatches)
	e.StringVector(r.ExistWatches)
	e.StringVector(r.ChildWatches)
	if r.V2 {
		e.StringVector(r.PersistentWatches)
		e.StringVector(r.PersistentRecursive)
	}
}

// Decode implements Record.
func (r *SetWatches) Decode(d *jute.Decoder) {
	r.RelativeZxid = d.Long()
	r.DataWatches = d.StringVector()
	r.ExistWatches = d.StringVector()
	r.ChildWatches = d.StringVector()
	if r.V2 {
		r.PersistentWatches = d.StringVector()
		r.PersistentRecursive = d.StringVector()
	}
}

// MultiHeader precedes each op in a multi request and each result in a
// multi response; Type -1 with Done set ends the list.
type MultiHeader struct {
	Type int32
	Done bool
	Err  int32
}

// Encode implements Record.
func (r *MultiHeader) Encode(e *jute.Encoder) { e.Int(r.Type); e.Bool(r.Done); e.Int(r.Err) }

// Decode implements Record.
func (r *MultiHeader) Decode(d *jute.Decoder) { r.Type = d.Int(); r.Done = d.Bool(); r.Err = d.Int() }

// MultiOp is one operation of a multi or multiRead request.
type MultiOp struct {
	Type int32
	Req  Record
}

// MultiRequest is the body of multi and multiRead.
type MultiRequest struct {
	Ops []MultiOp
}

// Encode implements Record.
func (r *MultiRequest) Encode(e *jute.Encoder) {
	for _, op := range r.Ops {
		h := MultiHeader{Type: op.Type, Done: false, Err: -1}
		h.Encode(e)
		op.Req.Encode(e)
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	end.Encode(e)
}

// maxMultiOps bounds the ops of one multi: each op header takes 9 bytes, so
// a frame of jute.maxbuffer can never hold more; the bound is a guard only.
const maxMultiOps = jute.DefaultMaxBuffer / 9

// Decode implements Record. An op type that cannot appear in a multi or
// multiRead is a decoding error (ZooKeeper answers it with MARSHALLINGERROR).
func (r *MultiRequest) Decode(d *jute.Decoder) {
	r.Ops = r.Ops[:0]
	for d.Err() == nil {
		var h MultiHeader
		h.Decode(d)
		if d.Err() != nil || h.Done {
			return
		}
		if len(r.Ops) >= maxMultiOps {
			d.Fail(fmt.Errorf("jute: multi has more than %d ops", maxMultiOps))
			return
		}
		var req Record
		switch h.Type {
		case OpCreate, OpCreate2, OpCreateContainer:
			req = &CreateRequest{}
		case OpCreateTTL:
			req = &CreateTTLRequest{}
		case OpDelete, OpDeleteContainer:
			req = &DeleteRequest{}
		case OpSetData:
			req = &SetDataRequest{}
		case OpCheck:
			req = &CheckVersionRequest{}
		case OpGetData, OpGetChildren:
			req = &PathWatchRequest{}
		default:
			d.Fail(fmt.Errorf("jute: op type %d (%s) is not allowed in a multi", h.Type, OpName(h.Type)))
			return
		}
		req.Decode(d)
		r.Ops = append(r.Ops, MultiOp{Type: h.Type, Req: req})
	}
}

// CreateResponse is the reply body of create.
type CreateResponse struct{ Path string }

// Encode implements Record.
func (r *CreateResponse) Encode(e *jute.Encoder) { e.String(r.Path) }

// Decode implements Record.
func (r *CreateResponse) Decode(d *jute.Decoder) { r.Path = d.String() }

// Create2Response is the reply body of create2, createContainer and createTTL.
type Create2Response struct {
	Path string
	Stat Stat
}

// Encode implements Record.
func (r *Create2Response) Encode(e *jute.Encoder) { e.String(r.Path); r.Stat.Encode(e) }

// Decode implements Record.
func (r *Create2Response) Decode(d *jute.Decoder) { r.Path = d.String(); r.Stat.Decode(d) }

// StatResponse is the reply body of exists, setData, setACL and check: a
// bare Stat (ExistsResponse, SetDataResponse and SetACLResponse in jute).
type StatResponse struct{ Stat Stat }

// Encode implements Record.
func (r *StatResponse) Encode(e *jute.Encoder) { r.Stat.Encode(e) }

// Decode implements Record.
func (r *StatResponse) Decode(d *jute.Decoder) { r.Stat.Decode(d) }

// GetDataResponse is the reply body of getData.
type GetDataResponse struct {
	Data []byte
	Stat Stat
}

// Encode implements Record.
func (r *GetDataResponse) Encode(e *jute.Encoder) { e.Buffer(r.Data); r.Stat.Encode(e) }

// Decode implements Record.
func (r *GetDataResponse) Decode(d *jute.Decoder) { r.Data = d.Buffer(); r.Stat.Decode(d) }

// GetACLResponse is the reply body of getACL.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

// Encode implements Record.
func (r *GetACLResponse) Encode(e *jute.Encoder) { EncodeACLs(e, r.ACL); r.Stat.Encode(e) }

// Decode implements Record.
func (r *GetACLResponse) Decode(d *jute.Decoder) { r.ACL = DecodeACLs(d); r.Stat.Decode(d) }

// GetChildrenResponse is the reply body of getChildren.
type GetChildrenResponse struct{ Children []string }

// Encode implements Record.
func (r *GetChildrenResponse) Encode(e *jute.Encoder) { e.StringVector(r.Children) }

// Decode implements Record.
func (r *GetChildrenResponse) Decode(d *jute.Decoder) { r.Children = d.StringVector() }

// GetChildren2Response is the reply body of getChildren2.
type GetChildren2Response struct {
	Children []string
	Stat     Stat
}

// Encode implements Record.
func (r *GetChildren2Response) Encode(e *jute.Encoder) { e.StringVector(r.Children); r.Stat.Encode(e) }

// Decode implements Record.
func (r *GetChildren2Response) Decode(d *jute.Decoder) {
	r.Children = d.StringVector()
	r.Stat.Decode(d)
}

// PathResponse is the reply body of sync (SyncResponse).
type PathResponse struct{ Path string }

// Encode implements Record.
func (r *PathResponse) Encode(e *jute.Encoder) { e.String(r.Path) }

// Decode implements Record.
func (r *PathResponse) Decode(d *jute.Decoder) { r.Path = d.String() }

// IntResponse is a reply body holding one int: GetAllChildrenNumberResponse,
// and ErrorResponse (addWatch's body, and a failed op inside a multi).
type IntResponse struct{ Value int32 }

// Encode implements Record.
func (r *IntResponse) Encode(e *jute.Encoder) { e.Int(r.Value) }

// Decode implements Record.
func (r *IntResponse) Decode(d *jute.Decoder) { r.Value = d.Int() }

// StringsResponse is the reply body of getEphemerals.
type StringsResponse struct{ Values []string }

// Encode implements Record.
func (r *StringsResponse) Encode(e *jute.Encoder) { e.StringVector(r.Values) }

// Decode implements Record.
func (r *StringsResponse) Decode(d *jute.Decoder) { r.Values = d.StringVector() }

// ClientInfo is one authenticated identity in a whoAmI reply.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// WhoAmIResponse is the reply body of whoAmI.
type WhoAmIResponse struct{ Info []ClientInfo }

// Encode implements Record.
func (r *WhoAmIResponse) Encode(e *jute.Encoder) {
	e.Int(int32(len(r.Info)))
	for _, c := range r.Info {
		e.String(c.AuthScheme)
		e.String(c.User)
	}
}

// Decode implements Record.
func (r *WhoAmIResponse) Decode(d *jute.Decoder) {
	n := d.VectorLen(8)
	r.Info = nil
	for i := 0; i < n && d.Err() == nil; i++ {
		r.Info = append(r.Info, ClientInfo{AuthScheme: d.String(), User: d.String()})
	}
}

// WatcherEvent is the body of a notification (xid -1).
type WatcherEvent struct {
	Type  int32
	State int32
	Path  string
}

// Encode implements Record.
func (r *WatcherEvent) Encode(e *jute.Encoder) { e.Int(r.Type); e.Int(r.State); e.String(r.Path) }

// Decode implements Record.
func (r *WatcherEvent) Decode(d *jute.Decoder) {
	r.Type = d.Int()
	r.State = d.Int()
	r.Path = d.String()
}

// MultiResult is one result of a multi or multiRead: Type is the op's type,
// or -1 (OpError) with Err set for a failed op. Resp is nil for ops whose
// result has no body (delete, check) and for errors.
type MultiResult struct {
	Type int32
	Err  int32
	Resp Record
}

// MultiResponse is the reply body of multi and multiRead.
type MultiResponse struct {
	Results []MultiResult
}

// Encode implements Record. An error result carries an ErrorResponse body
// holding its code, as ZooKeeper writes it.
func (r *MultiResponse) Encode(e *jute.Encoder) {
	for _, res := range r.Results {
		h := MultiHeader{Type: res.Type}
		if res.Type == OpError {
			h.Err = res.Err
		}
		h.Encode(e)
		switch {
		case res.Type == OpError:
			e.Int(res.Err)
		case res.Resp != nil:
			res.Resp.Encode(e)
		}
	}
	end := MultiHeader{Type: -1, Done: true, Err: -1}
	end.Encode(e)
}

// Decode implements Record.
func (r *MultiResponse) Decode(d *jute.Decoder) {
	r.Results = r.Results[:0]
	for d.Err() == nil {
		var h MultiHeader
		h.Decode(d)
		if d.Err() != nil || h.Done {
			return
		}
		// A successful result's header carries err 0; only error results
		// carry a code (in the ErrorResponse body).
		res := MultiResult{Type: h.Type}
		switch h.Type {
		case OpError:
			res.Err = d.Int()
		case OpCreate:
			res.Resp = &CreateResponse{}
		case OpCreate2, OpCreateContainer, OpCreateTTL:
			res.Resp = &Create2Response{}
		case OpSetData:
			res.Resp = &StatResponse{}
		case OpGetData:
			res.Resp = &GetDataResponse{}
		case OpGetChildren:
			res.Resp = &GetChildrenResponse{}
		case OpDelete, OpDeleteContainer, OpCheck:
		default:
			d.Fail(fmt.Errorf("jute: result type %d is not allowed in a multi response", h.Type))
			return
		}
		if res.Resp != nil {
			res.Resp.Decode(d)
		}
		r.Results = append(r.Results, res)
	}
}
