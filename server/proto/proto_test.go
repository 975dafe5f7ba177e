package proto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/adler32"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/jute"
)

var sampleStat = Stat{
	Czxid: 0x100000001, Mzxid: 0x100000002, Ctime: 1700000000000, Mtime: 1700000000001,
	Version: 1, Cversion: 2, Aversion: 3, EphemeralOwner: 0x1000000abcdef, DataLength: 5,
	NumChildren: 6, Pzxid: 0x100000003,
}

var sampleACL = []ACL{
	{Perms: PermAll, ID: IDAnyoneUnsafe},
	{Perms: PermRead | PermAdmin, ID: ID{Scheme: "digest", ID: "user:hash="}},
}

// roundTripCase is a record value and a constructor for an empty record
// of the same kind (with the same mode, where a record decodes differently
// by opcode).
type roundTripCase struct {
	name  string
	rec   Record
	fresh func() Record
}

// roundTripCases lists one or more values of every record.
func roundTripCases() []roundTripCase {
	type tc = roundTripCase
	return []tc{
		{"Stat", &sampleStat, func() Record { return &Stat{} }},
		{"StatPersisted", &StatPersisted{Czxid: 1, Mzxid: 2, Ctime: 3, Mtime: 4, Version: 5, Cversion: 6, Aversion: 7, EphemeralOwner: -1, Pzxid: 9}, func() Record { return &StatPersisted{} }},
		{"ConnectRequest readOnly", &ConnectRequest{LastZxidSeen: 7, TimeOut: 30000, SessionID: 9, Passwd: make([]byte, 16), ReadOnly: true, HasReadOnly: true}, func() Record { return &ConnectRequest{} }},
		{"ConnectRequest old client", &ConnectRequest{TimeOut: 4000, Passwd: make([]byte, 16)}, func() Record { return &ConnectRequest{} }},
		{"ConnectRequest null passwd", &ConnectRequest{TimeOut: 4000, HasReadOnly: true}, func() Record { return &ConnectRequest{} }},
		{"ConnectResponse", &ConnectResponse{TimeOut: 4000, SessionID: 0x100, Passwd: []byte{1, 2}, HasReadOnly: true}, func() Record { return &ConnectResponse{} }},
		{"ConnectResponse old client", &ConnectResponse{Passwd: make([]byte, 16)}, func() Record { return &ConnectResponse{} }},
		{"RequestHeader", &RequestHeader{Xid: 42, Type: OpGetData}, func() Record { return &RequestHeader{} }},
		{"ReplyHeader", &ReplyHeader{Xid: -1, Zxid: -1, Err: ErrNoNode}, func() Record { return &ReplyHeader{} }},
		{"CreateRequest", &CreateRequest{Path: "/a", Data: []byte("x"), ACL: sampleACL, Flags: FlagEphemeralSequential}, func() Record { return &CreateRequest{} }},
		{"CreateRequest null data", &CreateRequest{Path: "/a", ACL: OpenACLUnsafe}, func() Record { return &CreateRequest{} }},
		{"CreateRequest empty data", &CreateRequest{Path: "/a", Data: []byte{}}, func() Record { return &CreateRequest{} }},
		{"CreateTTLRequest", &CreateTTLRequest{Path: "/t", Data: []byte{0}, ACL: OpenACLUnsafe, Flags: FlagPersistentWithTTL, TTL: MaxTTL}, func() Record { return &CreateTTLRequest{} }},
		{"DeleteRequest", &DeleteRequest{Path: "/a", Version: -1}, func() Record { return &DeleteRequest{} }},
		{"PathWatchRequest", &PathWatchRequest{Path: "/a", Watch: true}, func() Record { return &PathWatchRequest{} }},
		{"PathRequest", &PathRequest{Path: "/"}, func() Record { return &PathRequest{} }},
		{"SetDataRequest", &SetDataRequest{Path: "/a", Data: bytes.Repeat([]byte{7}, 300), Version: 3}, func() Record { return &SetDataRequest{} }},
		{"SetACLRequest", &SetACLRequest{Path: "/a", ACL: sampleACL, Version: -1}, func() Record { return &SetACLRequest{} }},
		{"CheckVersionRequest", &CheckVersionRequest{Path: "/a", Version: 2}, func() Record { return &CheckVersionRequest{} }},
		{"WatchesRequest", &WatchesRequest{Path: "/a", Type: WatcherAny}, func() Record { return &WatchesRequest{} }},
		{"AddWatchRequest", &AddWatchRequest{Path: "/a", Mode: AddWatchPersistentRecursive}, func() Record { return &AddWatchRequest{} }},
		{"AuthPacket", &AuthPacket{Scheme: "digest", Auth: []byte("u:p")}, func() Record { return &AuthPacket{} }},
		{"SetWatches", &SetWatches{RelativeZxid: 5, DataWatches: []string{"/a"}, ExistWatches: []string{"/b", "/c"}}, func() Record { return &SetWatches{} }},
		{"SetWatches2", &SetWatches{RelativeZxid: 5, ChildWatches: []string{"/a"}, PersistentWatches: []string{"/p"}, PersistentRecursive: []string{"/r"}, V2: true}, func() Record { return &SetWatches{V2: true} }},
		{"MultiHeader", &MultiHeader{Type: OpCheck, Err: -1}, func() Record { return &MultiHeader{} }},
		{"MultiRequest", &MultiRequest{Ops: []MultiOp{
			{Type: OpCreate, Req: &CreateRequest{Path: "/m", ACL: OpenACLUnsafe}},
			{Type: OpCreate2, Req: &CreateRequest{Path: "/m2", Data: []byte{}, ACL: OpenACLUnsafe}},
			{Type: OpCreateContainer, Req: &CreateRequest{Path: "/c", ACL: OpenACLUnsafe, Flags: FlagContainer}},
			{Type: OpCreateTTL, Req: &CreateTTLRequest{Path: "/t", ACL: OpenACLUnsafe, Flags: FlagPersistentWithTTL, TTL: 10}},
			{Type: OpDelete, Req: &DeleteRequest{Path: "/m", Version: -1}},
			{Type: OpSetData, Req: &SetDataRequest{Path: "/m", Data: []byte("d"), Version: 0}},
			{Type: OpCheck, Req: &CheckVersionRequest{Path: "/m", Version: 1}},
		}}, func() Record { return &MultiRequest{} }},
		{"MultiRequest read", &MultiRequest{Ops: []MultiOp{
			{Type: OpGetData, Req: &PathWatchRequest{Path: "/a"}},
			{Type: OpGetChildren, Req: &PathWatchRequest{Path: "/", Watch: true}},
		}}, func() Record { return &MultiRequest{} }},
		{"MultiRequest empty", &MultiRequest{}, func() Record { return &MultiRequest{} }},
		{"CreateResponse", &CreateResponse{Path: "/a0000000001"}, func() Record { return &CreateResponse{} }},
		{"Create2Response", &Create2Response{Path: "/a", Stat: sampleStat}, func() Record { return &Create2Response{} }},
		{"StatResponse", &StatResponse{Stat: sampleStat}, func() Record { return &StatResponse{} }},
		{"GetDataResponse", &GetDataResponse{Data: []byte("hello"), Stat: sampleStat}, func() Record { return &GetDataResponse{} }},
		{"GetDataResponse null", &GetDataResponse{Stat: sampleStat}, func() Record { return &GetDataResponse{} }},
		{"GetACLResponse", &GetACLResponse{ACL: sampleACL, Stat: sampleStat}, func() Record { return &GetACLResponse{} }},
		{"GetChildrenResponse", &GetChildrenResponse{Children: []string{"a", "b"}}, func() Record { return &GetChildrenResponse{} }},
		{"GetChildren2Response", &GetChildren2Response{Children: []string{"z"}, Stat: sampleStat}, func() Record { return &GetChildren2Response{} }},
		{"PathResponse", &PathResponse{Path: "/s"}, func() Record { return &PathResponse{} }},
		{"IntResponse", &IntResponse{Value: -101}, func() Record { return &IntResponse{} }},
		{"StringsResponse", &StringsResponse{Values: []string{"/e1", "/e2"}}, func() Record { return &StringsResponse{} }},
		{"WhoAmIResponse", &WhoAmIResponse{Info: []ClientInfo{{AuthScheme: "ip", User: "127.0.0.1"}, {AuthScheme: "digest", User: "u"}}}, func() Record { return &WhoAmIResponse{} }},
		{"WhoAmIResponse empty", &WhoAmIResponse{}, func() Record { return &WhoAmIResponse{} }},
		{"WatcherEvent", &WatcherEvent{Type: EventNodeDataChanged, State: StateSyncConnected, Path: "/w"}, func() Record { return &WatcherEvent{} }},
		{"MultiResponse", &MultiResponse{Results: []MultiResult{
			{Type: OpCreate, Resp: &CreateResponse{Path: "/m"}},
			{Type: OpCreate2, Resp: &Create2Response{Path: "/m2", Stat: sampleStat}},
			{Type: OpDelete},
			{Type: OpCheck},
			{Type: OpSetData, Resp: &StatResponse{Stat: sampleStat}},
			{Type: OpGetData, Resp: &GetDataResponse{Data: []byte{}, Stat: sampleStat}},
			{Type: OpGetChildren, Resp: &GetChildrenResponse{Children: []string{"c"}}},
			{Type: OpError, Err: ErrNoNode},
		}}, func() Record { return &MultiResponse{} }},
		{"TxnHeader", &TxnHeader{ClientID: 0x100, Cxid: 3, Zxid: 0x200000001, Time: 1700000000000, Type: OpCreate}, func() Record { return &TxnHeader{} }},
		{"TxnDigest", &TxnDigest{Version: 2, TreeDigest: -5}, func() Record { return &TxnDigest{} }},
		{"FileHeader", &FileHeader{Magic: 0x5a4b4c47, Version: 2, Dbid: 0}, func() Record { return &FileHeader{} }},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tt := range roundTripCases() {
		t.Run(tt.name, func(t *testing.T) {
			b := Marshal(tt.rec)
			got := tt.fresh()
			if err := Unmarshal(b, jute.DefaultMaxBuffer, got); err != nil {
				t.Fatalf("Unmarshal(% x): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.rec) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, tt.rec)
			}
			if again := Marshal(got); !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs:\n% x\n% x", again, b)
			}
		})
	}
}

func TestTxnRoundTrip(t *testing.T) {
	for _, txn := range sampleTxns() {
		t.Run(OpName(txn.TxnType()), func(t *testing.T) {
			b := Marshal(txn)
			got, err := NewTxn(txn.TxnType())
			if err != nil {
				t.Fatal(err)
			}
			if err := Unmarshal(b, jute.DefaultMaxBuffer, got); err != nil {
				t.Fatalf("Unmarshal(% x): %v", b, err)
			}
			if !reflect.DeepEqual(got, txn) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, txn)
			}
		})
	}
}

// sampleTxns has one body of every txn type ZooKeeper writes.
func sampleTxns() []Txn {
	return []Txn{
		&CreateTxn{Path: "/a", Data: []byte("x"), ACL: OpenACLUnsafe, Ephemeral: true, ParentCVersion: 4, Op: OpCreate},
		&CreateTxn{Path: "/b", Data: []byte{}, ACL: sampleACL, ParentCVersion: 0, Op: OpCreate2},
		&CreateContainerTxn{Path: "/c", ACL: OpenACLUnsafe, ParentCVersion: 1},
		&CreateTTLTxn{Path: "/t", Data: []byte("t"), ACL: OpenACLUnsafe, ParentCVersion: 2, TTL: 1000},
		&DeleteTxn{Path: "/a", Op: OpDelete},
		&DeleteTxn{Path: "/c", Op: OpDeleteContainer},
		&SetDataTxn{Path: "/a", Data: []byte("y"), Version: 1, Op: OpSetData},
		&SetDataTxn{Path: "/zookeeper/config", Data: []byte("server.1=..."), Version: -1, Op: OpReconfig},
		&SetACLTxn{Path: "/a", ACL: sampleACL, Version: 1},
		&CheckVersionTxn{Path: "/a", Version: 3},
		&ErrorTxn{Err: ErrNodeExists},
		&CreateSessionTxn{TimeOut: 30000},
		&CloseSessionTxn{Paths2Delete: []string{"/e1", "/e2"}},
		&CloseSessionTxn{Empty: true},
		&MultiTxn{Txns: []Txn{
			&CreateTxn{Path: "/m", ACL: OpenACLUnsafe, ParentCVersion: 1, Op: OpCreate},
			&SetDataTxn{Path: "/m", Data: []byte("d"), Version: 1, Op: OpSetData},
			&CheckVersionTxn{Path: "/m", Version: 1},
			&DeleteTxn{Path: "/m", Op: OpDelete},
			&ErrorTxn{Err: ErrRuntimeInconsistency},
		}},
		&MultiTxn{},
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenEncodings pins records to the jute layout of zookeeper.jute
// (reference §0-1): field order, widths, the optional readOnly byte and
// the multi terminator.
func TestGoldenEncodings(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{"ConnectRequest with readOnly", &ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true},
			"00000000 0000000000000000 00007530 0000000000000000 00000010 00000000000000000000000000000000 00"},
		{"ConnectRequest without readOnly", &ConnectRequest{LastZxidSeen: 0x10, TimeOut: 30000, SessionID: 0x0100000000000001, Passwd: make([]byte, 16)},
			"00000000 0000000000000010 00007530 0100000000000001 00000010 00000000000000000000000000000000"},
		{"ConnectResponse invalid session", &ConnectResponse{Passwd: make([]byte, 16), HasReadOnly: true},
			"00000000 00000000 0000000000000000 00000010 00000000000000000000000000000000 00"},
		{"RequestHeader ping", &RequestHeader{Xid: XidPing, Type: OpPing}, "fffffffe 0000000b"},
		{"ReplyHeader", &ReplyHeader{Xid: 1, Zxid: 0x100000002, Err: ErrNoNode}, "00000001 0000000100000002 ffffff9b"},
		{"Stat", &sampleStat,
			"0000000100000001 0000000100000002 0000018bcfe56800 0000018bcfe56801 00000001 00000002 00000003 0001000000abcdef 00000005 00000006 0000000100000003"},
		{"GetDataRequest", &PathWatchRequest{Path: "/a", Watch: true}, "00000002 2f61 01"},
		{"CreateRequest", &CreateRequest{Path: "/a", Data: nil, ACL: OpenACLUnsafe, Flags: FlagEphemeral},
			"00000002 2f61 ffffffff 00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000001"},
		{"MultiRequest terminator", &MultiRequest{}, "ffffffff 01 ffffffff"},
		{"MultiRequest one check", &MultiRequest{Ops: []MultiOp{{Type: OpCheck, Req: &CheckVersionRequest{Path: "/", Version: 0}}}},
			"0000000d 00 ffffffff 00000001 2f 00000000 ffffffff 01 ffffffff"},
		{"MultiResponse error", &MultiResponse{Results: []MultiResult{{Type: OpError, Err: ErrNoNode}}},
			"ffffffff 00 ffffff9b ffffff9b ffffffff 01 ffffffff"},
		{"WatcherEvent", &WatcherEvent{Type: EventNodeCreated, State: StateSyncConnected, Path: "/w"}, "00000001 00000003 00000002 2f77"},
		{"TxnHeader", &TxnHeader{ClientID: 1, Cxid: 2, Zxid: 3, Time: 4, Type: OpCreateSession},
			"0000000000000001 00000002 0000000000000003 0000000000000004 fffffff6"},
		{"CloseSessionTxn empty", &CloseSessionTxn{Empty: true}, ""},
		{"FileHeader", &FileHeader{Magic: 0x5a4b4c47, Version: 2}, "5a4b4c47 00000002 0000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := mustHex(t, tt.want)
			if got := Marshal(tt.rec); !bytes.Equal(got, want) {
				t.Fatalf("encoding:\n got % x\nwant % x", got, want)
			}
		})
	}
	if n := len(Marshal(&Stat{})); n != 68 {
		t.Fatalf("Stat is %d bytes, want 68", n)
	}
	if n := len(Marshal(&TxnHeader{})); n != TxnHeaderSize {
		t.Fatalf("TxnHeader is %d bytes, want %d", n, TxnHeaderSize)
	}
	if n := len(Marshal(&TxnDigest{})); n != TxnDigestSize {
		t.Fatalf("TxnDigest is %d bytes, want %d", n, TxnDigestSize)
	}
}

// TestConnectRequestReadOnlyByte checks that the optional byte is detected
// and any non-zero value reads as true, as Java's readBool does.
func TestConnectRequestReadOnlyByte(t *testing.T) {
	base := Marshal(&ConnectRequest{TimeOut: 1, Passwd: []byte{}})
	tests := []struct {
		tail         []byte
		wantHas, wRO bool
	}{
		{nil, false, false},
		{[]byte{0}, true, false},
		{[]byte{1}, true, true},
		{[]byte{2}, true, true},
	}
	for _, tt := range tests {
		var r ConnectRequest
		if err := Unmarshal(append(bytes.Clone(base), tt.tail...), 0, &r); err != nil {
			t.Fatalf("tail % x: %v", tt.tail, err)
		}
		if r.HasReadOnly != tt.wantHas || r.ReadOnly != tt.wRO {
			t.Fatalf("tail % x: HasReadOnly %v ReadOnly %v, want %v %v", tt.tail, r.HasReadOnly, r.ReadOnly, tt.wantHas, tt.wRO)
		}
	}
	var r ConnectRequest
	if err := Unmarshal(append(bytes.Clone(base), 0, 0), 0, &r); err == nil {
		t.Fatal("two bytes after passwd accepted")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	be32 := func(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	multiOp := func(typ int32) []byte { return cat(be32(typ), []byte{0}, be32(-1)) }
	tests := []struct {
		name    string
		in      []byte
		max     int
		rec     Record
		wantErr error // nil: any error
		wantMsg string
	}{
		{"trailing bytes", cat(Marshal(&DeleteRequest{Path: "/a"}), []byte{0}), 0, &DeleteRequest{}, nil, "trailing"},
		{"truncated int", Marshal(&DeleteRequest{Path: "/a"})[:7], 0, &DeleteRequest{}, jute.ErrShort, ""},
		{"empty input", nil, 0, &ReplyHeader{}, jute.ErrShort, ""},
		{"negative path length", cat(be32(-2), be32(0)), 0, &DeleteRequest{}, jute.ErrLength, ""},
		{"negative data length", cat(be32(2), []byte("/a"), be32(-7), be32(0)), 0, &SetDataRequest{}, jute.ErrLength, ""},
		{"data over limit", Marshal(&SetDataRequest{Path: "/a", Data: make([]byte, 100)}), 64, &SetDataRequest{}, jute.ErrLength, ""},
		{"path over default limit", cat(be32(jute.DefaultMaxBuffer+1), be32(0)), 0, &PathRequest{}, jute.ErrLength, ""},
		{"ACL count beyond input", cat(be32(2), []byte("/a"), be32(-1), be32(1000), be32(0)), 0, &CreateRequest{}, jute.ErrShort, ""},
		{"ACL count huge", cat(be32(2), []byte("/a"), be32(-1), be32(0x7fffffff)), 0, &CreateRequest{}, jute.ErrLength, ""},
		{"watch vector beyond input", cat(make([]byte, 8), be32(100)), 0, &SetWatches{}, jute.ErrShort, ""},
		{"children count negative", be32(-5), 0, &GetChildrenResponse{}, jute.ErrLength, ""},
		{"whoami count beyond input", be32(3), 0, &WhoAmIResponse{}, jute.ErrShort, ""},
		{"multi without terminator", multiOp(OpCheck)[:5], 0, &MultiRequest{}, jute.ErrShort, ""},
		{"multi op not allowed", cat(multiOp(OpSetACL), Marshal(&SetACLRequest{Path: "/"})), 0, &MultiRequest{}, nil, "not allowed in a multi"},
		{"multi nested multi", multiOp(OpMulti), 0, &MultiRequest{}, nil, "not allowed in a multi"},
		{"multi truncated op", cat(multiOp(OpCreate), be32(2), []byte("/a")), 0, &MultiRequest{}, jute.ErrShort, ""},
		{"multi response bad type", cat(multiOp(OpSetACL)), 0, &MultiResponse{}, nil, "not allowed in a multi response"},
		{"connect truncated passwd", Marshal(&ConnectRequest{Passwd: make([]byte, 16)})[:30], 0, &ConnectRequest{}, jute.ErrShort, ""},
		{"connect negative passwd", cat(make([]byte, 24), be32(-3)), 0, &ConnectRequest{}, jute.ErrLength, ""},
		{"multi txn count beyond input", be32(50), 0, &MultiTxn{}, jute.ErrShort, ""},
		{"multi txn nested session", cat(be32(1), be32(OpCreateSession), be32(4), be32(1000)), 0, &MultiTxn{}, nil, "cannot appear in a multi"},
		{"multi txn unknown sub type", cat(be32(1), be32(77), be32(0)), 0, &MultiTxn{}, ErrUnknownTxnType, ""},
		{"multi txn sub body trailing", cat(be32(1), be32(OpError), be32(5), be32(-101), []byte{9}), 0, &MultiTxn{}, nil, "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Unmarshal(tt.in, tt.max, tt.rec)
			if err == nil {
				t.Fatalf("Unmarshal(% x) succeeded: %#v", tt.in, tt.rec)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestDecodeTxn(t *testing.T) {
	hdrFor := func(typ int32) TxnHeader {
		return TxnHeader{ClientID: 0x1000000abc, Cxid: 7, Zxid: 0x300000010, Time: 1700000000000, Type: typ}
	}
	for _, txn := range sampleTxns() {
		for _, digest := range []*TxnDigest{nil, {Version: 2, TreeDigest: 0x1234567890}} {
			name := OpName(txn.TxnType())
			if digest != nil {
				name += "+digest"
			}
			t.Run(name, func(t *testing.T) {
				if c, ok := txn.(*CloseSessionTxn); ok && c.Empty && digest != nil {
					t.Skip("an empty closeSession body followed by a digest is ambiguous (see report)")
				}
				hdr := hdrFor(txn.TxnType())
				e := jute.NewEncoder(nil)
				EncodeTxn(e, &hdr, txn, digest)
				gotHdr, gotTxn, gotDigest, err := DecodeTxn(e.Bytes(), 0)
				if err != nil {
					t.Fatalf("DecodeTxn(% x): %v", e.Bytes(), err)
				}
				if gotHdr != hdr {
					t.Fatalf("header %+v, want %+v", gotHdr, hdr)
				}
				if !reflect.DeepEqual(gotTxn, txn) {
					t.Fatalf("txn:\n got %#v\nwant %#v", gotTxn, txn)
				}
				if !reflect.DeepEqual(gotDigest, digest) {
					t.Fatalf("digest %+v, want %+v", gotDigest, digest)
				}
			})
		}
	}
}

func TestDecodeTxnCreateV0(t *testing.T) {
	// CreateTxnV0 has no parentCVersion: the body ends after ephemeral.
	hdr := TxnHeader{Zxid: 5, Type: OpCreate}
	e := jute.NewEncoder(nil)
	hdr.Encode(e)
	e.String("/old")
	e.Buffer([]byte("v0"))
	EncodeACLs(e, OpenACLUnsafe)
	e.Bool(false)
	_, txn, digest, err := DecodeTxn(e.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &CreateTxn{Path: "/old", Data: []byte("v0"), ACL: OpenACLUnsafe, ParentCVersion: -1, Op: OpCreate}
	if !reflect.DeepEqual(txn, want) || digest != nil {
		t.Fatalf("got %#v digest %v, want %#v", txn, digest, want)
	}
}

func TestDecodeTxnErrors(t *testing.T) {
	good := func(typ int32, body Txn) []byte {
		e := jute.NewEncoder(nil)
		EncodeTxn(e, &TxnHeader{Zxid: 9, Type: typ}, body, nil)
		return e.Bytes()
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		wantMsg string
	}{
		{"short header", make([]byte, TxnHeaderSize-1), jute.ErrShort, "txn header"},
		{"unknown type", good(99, nil), ErrUnknownTxnType, "99"},
		{"notification type", good(OpNotification, nil), ErrUnknownTxnType, ""},
		{"truncated body", good(OpSetData, &SetDataTxn{Path: "/a"})[:TxnHeaderSize+5], jute.ErrShort, "setData body"},
		{"stray bytes", append(good(OpError, &ErrorTxn{Err: -1}), 1, 2, 3), nil, "3 unexpected bytes"},
		{"bad multi sub-txn", good(OpMulti, &MultiTxn{Txns: []Txn{&CreateSessionTxn{TimeOut: 1}}}), nil, "cannot appear in a multi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, txn, _, err := DecodeTxn(tt.in, 0)
			if err == nil {
				t.Fatalf("DecodeTxn(% x) = %#v, want an error", tt.in, txn)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

// logEntry is one record of a ZooKeeper txn log file.
type logEntry struct {
	payload    []byte
	checksumOK bool
}

// readTxnLog splits a txn log (FileTxnLog) into entries: a 16-byte file
// header, then per entry a long checksum (Adler32 of the payload), an int
// length, the payload and the 0x42 end-of-record byte; length 0 or the end
// of the file ends the log (the file is preallocated with zeros).
func readTxnLog(t testing.TB, name string) (FileHeader, []logEntry) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	d := jute.NewDecoder(b, 0)
	var fh FileHeader
	fh.Decode(d)
	var out []logEntry
	for d.Err() == nil && d.Remaining() >= 12 {
		sum := d.Long()
		payload := d.Buffer()
		if len(payload) == 0 {
			break
		}
		if eor := d.Byte(); eor != 0x42 {
			t.Fatalf("%s: entry %d ends with 0x%02x, want 0x42", name, len(out), eor)
		}
		out = append(out, logEntry{payload: payload, checksumOK: uint64(adler32.Checksum(payload)) == uint64(sum)})
	}
	if d.Err() != nil {
		t.Fatalf("%s: %v", name, d.Err())
	}
	return fh, out
}

// TestDecodeApacheTxnLogs decodes the txn logs from Apache ZooKeeper's own
// test resources (release-3.8.6).
func TestDecodeApacheTxnLogs(t *testing.T) {
	tests := []struct {
		file       string
		wantTypes  []int32
		badSumAt   int // index of the entry with a broken checksum, -1 none
		checkEntry func(t *testing.T, i int, txn Txn)
	}{
		{
			file:      "data_buffersize_create_version-2_log.1",
			wantTypes: []int32{OpCreateSession, OpCreate, OpCloseSession},
			badSumAt:  -1,
			checkEntry: func(t *testing.T, i int, txn Txn) {
				switch i {
				case 1:
					c := txn.(*CreateTxn)
					if c.Path != "/test_node" || len(c.Data) != 5000 || c.ParentCVersion != 1 {
						t.Fatalf("create txn: path %q, %d data bytes, parentCVersion %d", c.Path, len(c.Data), c.ParentCVersion)
					}
				case 2:
					if c := txn.(*CloseSessionTxn); !c.Empty {
						t.Fatalf("closeSession has a body: %#v", c)
					}
				}
			},
		},
		{
			file:      "data_invalidsnap_version-2_log.42",
			wantTypes: []int32{OpCloseSession, OpCreateSession, OpSetData},
			badSumAt:  1,
			checkEntry: func(t *testing.T, i int, txn Txn) {
				if i == 0 {
					if c := txn.(*CloseSessionTxn); !c.Empty {
						t.Fatalf("old closeSession decoded with a body: %#v", c)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			fh, entries := readTxnLog(t, tt.file)
			if fh.Magic != 0x5a4b4c47 || fh.Version != 2 {
				t.Fatalf("file header %+v, want magic ZKLG version 2", fh)
			}
			if len(entries) != len(tt.wantTypes) {
				t.Fatalf("%d entries, want %d", len(entries), len(tt.wantTypes))
			}
			var lastZxid int64
			for i, ent := range entries {
				if ent.checksumOK != (i != tt.badSumAt) {
					t.Errorf("entry %d: checksum ok = %v", i, ent.checksumOK)
				}
				hdr, txn, digest, err := DecodeTxn(ent.payload, 0)
				if err != nil {
					t.Fatalf("entry %d: %v", i, err)
				}
				if hdr.Type != tt.wantTypes[i] || txn.TxnType() != tt.wantTypes[i] {
					t.Fatalf("entry %d: header type %d body %T, want %s", i, hdr.Type, txn, OpName(tt.wantTypes[i]))
				}
				if digest != nil {
					t.Fatalf("entry %d: unexpected digest in a pre-digest log", i)
				}
				if hdr.Zxid <= lastZxid {
					t.Fatalf("entry %d: zxid 0x%x not after 0x%x", i, hdr.Zxid, lastZxid)
				}
				lastZxid = hdr.Zxid
				tt.checkEntry(t, i, txn)
				// Re-encoding reproduces the logged bytes exactly.
				e := jute.NewEncoder(nil)
				EncodeTxn(e, &hdr, txn, digest)
				if !bytes.Equal(e.Bytes(), ent.payload) {
					t.Fatalf("entry %d re-encodes differently:\n got % x\nwant % x", i, e.Bytes(), ent.payload)
				}
			}
		})
	}
}

func TestNewTxnTypes(t *testing.T) {
	for _, typ := range []int32{OpCreate, OpCreate2, OpCreateContainer, OpCreateTTL, OpDelete, OpDeleteContainer,
		OpSetData, OpReconfig, OpSetACL, OpCheck, OpError, OpCreateSession, OpCloseSession, OpMulti} {
		txn, err := NewTxn(typ)
		if err != nil {
			t.Fatalf("NewTxn(%d): %v", typ, err)
		}
		if txn.TxnType() != typ {
			t.Fatalf("NewTxn(%d).TxnType() = %d", typ, txn.TxnType())
		}
	}
	for _, typ := range []int32{OpGetData, OpPing, 0, 1000} {
		if _, err := NewTxn(typ); !errors.Is(err, ErrUnknownTxnType) {
			t.Fatalf("NewTxn(%d) err = %v", typ, err)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{OpName(OpCreate2), "create2"},
		{OpName(OpCreateSession), "createSession"},
		{OpName(12345), "unknown"},
		{CodeName(ErrNoNode), "NONODE"},
		{CodeName(ErrMarshallingError), "MARSHALLINGERROR"},
		{CodeName(-999), "UNKNOWN"},
		{KeeperError(ErrNodeExists).Error(), "zookeeper error -110 (NODEEXISTS)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if len(OpNames()) != len(opNames)+1 {
		t.Fatalf("OpNames has %d names", len(OpNames()))
	}
}

// TestHostileCountsAllocateLittle is the memory guard for every record: a
// ten-byte input claiming a vector, string or buffer of jute.maxbuffer
// elements must be refused before anything of that size is allocated.
func TestHostileCountsAllocateLittle(t *testing.T) {
	inputs := [][]byte{
		{0x00, 0x0f, 0xff, 0xff, 0, 0, 0, 0, 0, 0},
		{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0},
		{0, 0, 0, 0, 0x00, 0x0f, 0xff, 0xff, 0, 0},
		{0, 0, 0, 1, '/', 0x00, 0x0f, 0xff, 0xff, 0},
	}
	var decoders []func(in []byte)
	for _, c := range roundTripCases() {
		decoders = append(decoders, func(in []byte) { _ = Unmarshal(in, 0, c.fresh()) })
	}
	decoders = append(decoders, func(in []byte) { _, _, _, _ = DecodeTxn(append(make([]byte, TxnHeaderSize-4), in...), 0) })
	for _, typ := range []int32{OpCreate, OpMulti, OpCloseSession, OpSetACL} {
		decoders = append(decoders, func(in []byte) {
			hdr := Marshal(&TxnHeader{Type: typ})
			_, _, _, _ = DecodeTxn(append(hdr, in...), 0)
		})
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 10
	for range rounds {
		for _, in := range inputs {
			for _, dec := range decoders {
				dec(in)
			}
		}
	}
	runtime.ReadMemStats(&after)
	perInput := float64(after.TotalAlloc-before.TotalAlloc) / float64(rounds*len(inputs)*len(decoders))
	if perInput > 1024 {
		t.Fatalf("decoding a 10-byte input allocates %.0f bytes on average", perInput)
	}
}
