package logdump

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/txnlog"
)

// DataFormat says how znode data is shown in human output.
type DataFormat string

// Data formats.
const (
	DataUTF8   DataFormat = "utf8" // quoted text when printable UTF-8, else hex
	DataHex    DataFormat = "hex"
	DataBase64 DataFormat = "base64"
	DataNone   DataFormat = "none" // length only
)

// ParseDataFormat checks a --data value.
func ParseDataFormat(s string) (DataFormat, error) {
	switch f := DataFormat(s); f {
	case DataUTF8, DataHex, DataBase64, DataNone:
		return f, nil
	}
	return "", fmt.Errorf("unknown data format %q (want utf8, hex, base64 or none)", s)
}

// ACL is one ACL entry as logdump shows it.
type ACL struct {
	Perms  string `json:"perms"` // ZooKeeper's letters, in cdrwa order
	Scheme string `json:"scheme"`
	ID     string `json:"id"`
}

func (a ACL) String() string { return a.Scheme + ":" + a.ID + ":" + a.Perms }

// PermString returns perms as ZooKeeper's letters in cdrwa order, "" for none.
func PermString(perms int32) string {
	var b strings.Builder
	for _, p := range []struct {
		bit int32
		c   byte
	}{{proto.PermCreate, 'c'}, {proto.PermDelete, 'd'}, {proto.PermRead, 'r'}, {proto.PermWrite, 'w'}, {proto.PermAdmin, 'a'}} {
		if perms&p.bit != 0 {
			b.WriteByte(p.c)
		}
	}
	if rest := perms &^ proto.PermAll; rest != 0 {
		fmt.Fprintf(&b, "+%#x", rest)
	}
	return b.String()
}

func aclView(acls []proto.ACL) []ACL {
	out := make([]ACL, len(acls))
	for i, a := range acls {
		out[i] = ACL{Perms: PermString(a.Perms), Scheme: a.ID.Scheme, ID: a.ID.ID}
	}
	return out
}

// Op is one operation of a txn: the txn itself, or a sub-op of a multi.
// Pointer fields are present only for the ops that carry them, so JSON
// consumers can tell "absent" from zero.
type Op struct {
	Type           string    `json:"type"`
	Path           string    `json:"path,omitempty"`
	Data           *[]byte   `json:"data,omitempty"` // base64 in JSON
	ACL            []ACL     `json:"acl,omitempty"`
	Ephemeral      *bool     `json:"ephemeral,omitempty"`
	Version        *int32    `json:"version,omitempty"`
	ParentCVersion *int32    `json:"parent_cversion,omitempty"`
	TTLMs          *int64    `json:"ttl_ms,omitempty"`
	TimeoutMs      *int32    `json:"timeout_ms,omitempty"`
	Ephemerals     *[]string `json:"ephemerals,omitempty"` // closeSession: the nodes it deletes
	Error          string    `json:"error,omitempty"`      // error txns: the code's name
	ErrorCode      *int32    `json:"error_code,omitempty"`
	// Result is set on the sub-ops of a failed multi: "rolled back"
	// (would have succeeded), "failed" (the op that failed) or
	// "not attempted".
	Result string `json:"result,omitempty"`
}

// Txn is one log record decoded for display; its JSON form is what
// --json prints, one object per line, and its field names are stable.
type Txn struct {
	Time    string `json:"time"` // RFC 3339 with milliseconds
	TimeMs  int64  `json:"time_ms"`
	Session string `json:"session"` // hex
	Cxid    int32  `json:"cxid"`
	Zxid    string `json:"zxid"` // hex
	Op
	Ops []Op `json:"ops,omitempty"` // multi sub-ops
	// FailedOp is the 1-based index of the sub-op that made a multi fail;
	// a failed multi applies none of its ops.
	FailedOp      int     `json:"failed_op,omitempty"`
	Digest        *Digest `json:"digest,omitempty"`
	File          string  `json:"file"`
	Offset        int64   `json:"offset"`
	Size          int64   `json:"size"`
	ChecksumError bool    `json:"checksum_error,omitempty"`
}

// Digest is the tree digest a record carries.
type Digest struct {
	Version int32  `json:"version"`
	Tree    string `json:"tree"` // hex
}

func hex64(v int64) string { return "0x" + strconv.FormatUint(uint64(v), 16) }

func ptr[T any](v T) *T { return &v }

// NewTxn decodes a log entry for display.
func NewTxn(e *txnlog.Entry, loc *time.Location) Txn {
	t := Txn{
		Time:          time.UnixMilli(e.Hdr.Time).In(loc).Format(timeFormat),
		TimeMs:        e.Hdr.Time,
		Session:       hex64(e.Hdr.ClientID),
		Cxid:          e.Hdr.Cxid,
		Zxid:          hex64(e.Hdr.Zxid),
		File:          filepath.Base(e.File),
		Offset:        e.Offset,
		Size:          e.Size,
		ChecksumError: !e.ChecksumOK,
	}
	t.Op = opView(e.Hdr.Type, e.Txn)
	if m, ok := e.Txn.(*proto.MultiTxn); ok {
		t.Ops, t.FailedOp = multiView(m)
	}
	if e.Digest != nil {
		t.Digest = &Digest{Version: e.Digest.Version, Tree: hex64(e.Digest.TreeDigest)}
	}
	return t
}

func opView(typ int32, body proto.Txn) Op {
	op := Op{Type: proto.OpName(typ)}
	switch b := body.(type) {
	case *proto.CreateSessionTxn:
		op.TimeoutMs = ptr(b.TimeOut)
	case *proto.CloseSessionTxn:
		paths := append([]string{}, b.Paths2Delete...)
		op.Ephemerals = &paths
	case *proto.CreateTxn:
		op.Path, op.Data, op.ACL = b.Path, dataPtr(b.Data), aclView(b.ACL)
		op.Ephemeral, op.ParentCVersion = ptr(b.Ephemeral), ptr(b.ParentCVersion)
	case *proto.CreateContainerTxn:
		op.Path, op.Data, op.ACL, op.ParentCVersion = b.Path, dataPtr(b.Data), aclView(b.ACL), ptr(b.ParentCVersion)
	case *proto.CreateTTLTxn:
		op.Path, op.Data, op.ACL, op.ParentCVersion = b.Path, dataPtr(b.Data), aclView(b.ACL), ptr(b.ParentCVersion)
		op.TTLMs = ptr(b.TTL)
	case *proto.DeleteTxn:
		op.Path = b.Path
	case *proto.SetDataTxn:
		op.Path, op.Data, op.Version = b.Path, dataPtr(b.Data), ptr(b.Version)
	case *proto.SetACLTxn:
		op.Path, op.ACL, op.Version = b.Path, aclView(b.ACL), ptr(b.Version)
	case *proto.CheckVersionTxn:
		op.Path, op.Version = b.Path, ptr(b.Version)
	case *proto.ErrorTxn:
		op.Error, op.ErrorCode = proto.CodeName(b.Err), ptr(b.Err)
	}
	return op
}

// multiView decodes a multi's sub-ops and applies ZooKeeper's failure
// semantics (DataTree.processTxn): once any sub-txn is an error the whole
// multi is rolled back. PrepRequestProcessor writes the op that failed as an
// error with its code and every later op as an error with
// RUNTIMEINCONSISTENCY; earlier ops keep their bodies but are not applied.
func multiView(m *proto.MultiTxn) ([]Op, int) {
	ops := make([]Op, len(m.Txns))
	failed := 0
	for i, sub := range m.Txns {
		ops[i] = opView(sub.TxnType(), sub)
		if failed == 0 && sub.TxnType() == proto.OpError {
			failed = i + 1
		}
	}
	if failed == 0 {
		return ops, 0
	}
	for i := range ops {
		switch {
		case i+1 < failed:
			ops[i].Result = "rolled back"
		case i+1 == failed:
			ops[i].Result = "failed"
		default:
			ops[i].Result = "not attempted"
		}
	}
	return ops, failed
}

// Paths returns every path a txn touches: its own, its multi sub-ops' and
// the ephemerals a closeSession deletes.
func (t *Txn) Paths() []string {
	var ps []string
	add := func(o *Op) {
		if o.Path != "" {
			ps = append(ps, o.Path)
		}
		if o.Ephemerals != nil {
			ps = append(ps, *o.Ephemerals...)
		}
	}
	add(&t.Op)
	for i := range t.Ops {
		add(&t.Ops[i])
	}
	return ps
}

// formatData renders data for human output.
func formatData(data []byte, f DataFormat, max int) string {
	n := len(data)
	cut := data
	if max >= 0 && len(cut) > max {
		cut = cut[:max]
	}
	var s string
	switch f {
	case DataNone:
		return fmt.Sprintf("data(%d)", n)
	case DataHex:
		s = "0x" + hex.EncodeToString(cut)
	case DataBase64:
		s = "b64:" + base64.StdEncoding.EncodeToString(cut)
	default:
		if printable(data) {
			for len(cut) > 0 && !utf8.Valid(cut) { // do not split a rune
				cut = cut[:len(cut)-1]
			}
			s = strconv.Quote(string(cut))
		} else {
			s = "0x" + hex.EncodeToString(cut)
		}
	}
	if len(cut) < n {
		s += fmt.Sprintf("…(+%d bytes)", n-len(cut))
	}
	return fmt.Sprintf("data(%d)=%s", n, s)
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\n' && r != '\t' && r != '\r' {
			return false
		}
	}
	return true
}

func formatACLs(acls []ACL) string { return "acl=" + aclList(acls) }

func aclList(acls []ACL) string {
	s := make([]string, len(acls))
	for i, a := range acls {
		s[i] = a.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// dataPtr keeps a field present (as "" in JSON) when the data is null.
func dataPtr(b []byte) *[]byte {
	if b == nil {
		b = []byte{}
	}
	return &b
}

// fields renders an op's fields after its type name.
func (o *Op) fields(df DataFormat, max int) string {
	var f []string
	if o.Path != "" {
		f = append(f, o.Path)
	}
	if o.TimeoutMs != nil {
		f = append(f, fmt.Sprintf("timeout=%dms", *o.TimeoutMs))
	}
	if o.Data != nil {
		f = append(f, formatData(*o.Data, df, max))
	}
	if o.ACL != nil {
		f = append(f, formatACLs(o.ACL))
	}
	if o.Ephemeral != nil {
		f = append(f, fmt.Sprintf("ephemeral=%t", *o.Ephemeral))
	}
	if o.TTLMs != nil {
		f = append(f, fmt.Sprintf("ttl=%dms", *o.TTLMs))
	}
	if o.Version != nil {
		f = append(f, fmt.Sprintf("version=%d", *o.Version))
	}
	if o.ParentCVersion != nil {
		f = append(f, fmt.Sprintf("parentCVersion=%d", *o.ParentCVersion))
	}
	if o.Ephemerals != nil {
		f = append(f, "ephemerals=["+strings.Join(*o.Ephemerals, " ")+"]")
	}
	if o.ErrorCode != nil {
		f = append(f, fmt.Sprintf("err=%s(%d)", o.Error, *o.ErrorCode))
	}
	return strings.Join(f, " ")
}

// Human renders the txn as logdump's human output: one line, plus one
// indented line per multi sub-op.
func (t *Txn) Human(df DataFormat, max int, verbose bool) string {
	var b strings.Builder
	if verbose {
		fmt.Fprintf(&b, "%s@%d(%dB) ", t.File, t.Offset, t.Size)
	}
	fmt.Fprintf(&b, "%s session=%s cxid=%#x zxid=%s %s", t.Time, t.Session, uint32(t.Cxid), t.Zxid, t.Type)
	if fs := t.fields(df, max); fs != "" {
		b.WriteString(" " + fs)
	}
	if t.Type == "multi" {
		if t.FailedOp > 0 {
			fmt.Fprintf(&b, " FAILED at op %d (%s): none applied", t.FailedOp, t.Ops[t.FailedOp-1].Error)
		} else {
			fmt.Fprintf(&b, " ops=%d", len(t.Ops))
		}
	}
	if t.Digest != nil {
		fmt.Fprintf(&b, " digest=v%d:%s", t.Digest.Version, t.Digest.Tree)
	}
	if t.ChecksumError {
		b.WriteString(" CHECKSUM MISMATCH")
	}
	for i := range t.Ops {
		o := &t.Ops[i]
		fmt.Fprintf(&b, "\n    %d. %s", i+1, o.Type)
		if fs := o.fields(df, max); fs != "" {
			b.WriteString(" " + fs)
		}
		if o.Result != "" {
			b.WriteString(" [" + o.Result + "]")
		}
	}
	return b.String()
}
