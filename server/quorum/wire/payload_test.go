package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

func TestLearnerInfo(t *testing.T) {
	li := LearnerInfo{SID: 2, ProtocolVersion: ProtocolVersion, ConfigVersion: 0x100000003}
	want := unhex(t, "0000000000000002 00010000 0000000100000003")
	if got := li.Encode(); !bytes.Equal(got, want) {
		t.Fatalf("Encode = %x, want %x", got, want)
	}
	tests := []struct {
		name string
		data []byte
		want LearnerInfo
	}{
		{"full", want, li},
		{"trailing", append(want, 9), li},
		{"sid only: old learner", want[:8], LearnerInfo{SID: 2, ProtocolVersion: 1}},
		{"no config version", want[:12], LearnerInfo{SID: 2, ProtocolVersion: ProtocolVersion}},
		{"partial config version", want[:19], LearnerInfo{SID: 2, ProtocolVersion: ProtocolVersion}},
	}
	for _, tt := range tests {
		got, err := DecodeLearnerInfo(tt.data)
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	for _, bad := range [][]byte{nil, want[:7]} {
		if _, err := DecodeLearnerInfo(bad); !errors.Is(err, ErrPayload) {
			t.Errorf("DecodeLearnerInfo(%x) err = %v", bad, err)
		}
	}
}

func TestIntPayloads(t *testing.T) {
	if got := EncodeInt(EpochAlreadyAccepted); !bytes.Equal(got, unhex(t, "ffffffff")) {
		t.Errorf("EncodeInt(-1) = %x", got)
	}
	if v, err := DecodeAckEpoch(unhex(t, "ffffffff")); err != nil || v != EpochAlreadyAccepted {
		t.Errorf("DecodeAckEpoch = %d, %v", v, err)
	}
	if v, err := DecodeLeaderInfo(unhex(t, "00010000")); err != nil || v != ProtocolVersion {
		t.Errorf("DecodeLeaderInfo = %#x, %v", v, err)
	}
	for _, f := range []func([]byte) (int32, error){DecodeAckEpoch, DecodeLeaderInfo} {
		if _, err := f([]byte{0, 1, 0}); !errors.Is(err, ErrPayload) {
			t.Errorf("3-byte int err = %v", err)
		}
	}
}

func sampleTxn() Txn {
	return Txn{
		Header: proto.TxnHeader{ClientID: 0x100, Cxid: 3, Zxid: 1<<32 | 2, Time: 1700000000000, Type: proto.OpSetData},
		Body:   &proto.SetDataTxn{Path: "/a", Data: []byte("x"), Version: 1, Op: proto.OpSetData},
		Digest: &proto.TxnDigest{Version: 2, TreeDigest: 42},
	}
}

func TestTxnPayload(t *testing.T) {
	tx := sampleTxn()
	// TxnHeader, SetDataTxn{ustring path, buffer data, int version}, TxnDigest.
	want := unhex(t, "0000000000000100 00000003 0000000100000002 0000018bcfe56800 00000005"+
		"00000002 2f61 00000001 78 00000001"+"00000002 000000000000002a")
	data := EncodeTxn(&tx)
	if !bytes.Equal(data, want) {
		t.Fatalf("EncodeTxn =\n%x\nwant\n%x", data, want)
	}
	got, err := DecodeTxn(data, 0)
	if err != nil || got.Header != tx.Header || *got.Digest != *tx.Digest {
		t.Fatalf("DecodeTxn = %+v, %v", got, err)
	}
	if b, ok := got.Body.(*proto.SetDataTxn); !ok || b.Path != "/a" || string(b.Data) != "x" || b.Version != 1 {
		t.Fatalf("body = %#v", got.Body)
	}
	if _, err := DecodeTxn(data[:len(data)-3], 0); !errors.Is(err, ErrPayload) {
		t.Errorf("truncated txn err = %v", err)
	}

	ia := InformAndActivate{SuggestedLeader: 3, Txn: tx}
	iab := ia.Encode()
	if !bytes.Equal(iab[:8], unhex(t, "0000000000000003")) || !bytes.Equal(iab[8:], want) {
		t.Fatalf("InformAndActivate.Encode = %x", iab)
	}
	gia, err := DecodeInformAndActivate(iab, 0)
	if err != nil || gia.SuggestedLeader != 3 || gia.Txn.Header != tx.Header {
		t.Fatalf("DecodeInformAndActivate = %+v, %v", gia, err)
	}
	for _, bad := range [][]byte{iab[:7], iab[:20]} {
		if _, err := DecodeInformAndActivate(bad, 0); !errors.Is(err, ErrPayload) {
			t.Errorf("DecodeInformAndActivate(%d bytes) err = %v", len(bad), err)
		}
	}
	if v, err := DecodeCommitAndActivate(EncodeCommitAndActivate(-2)); err != nil || v != -2 {
		t.Errorf("commit and activate round trip = %d, %v", v, err)
	}
}

func TestForwardedRequest(t *testing.T) {
	r := ForwardedRequest{SessionID: 0x1000001, Cxid: 9, Type: proto.OpCreate, Body: []byte{0xAB}}
	want := unhex(t, "0000000001000001 00000009 00000001 ab")
	if got := r.Encode(); !bytes.Equal(got, want) {
		t.Fatalf("Encode = %x", got)
	}
	got, err := DecodeForwardedRequest(want)
	if err != nil || got.SessionID != r.SessionID || got.Cxid != 9 || got.Type != 1 || !bytes.Equal(got.Body, r.Body) {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	if got, err := DecodeForwardedRequest(want[:16]); err != nil || got.Body == nil || len(got.Body) != 0 {
		t.Errorf("body-less request = %+v, %v", got, err)
	}
	if _, err := DecodeForwardedRequest(want[:15]); !errors.Is(err, ErrPayload) {
		t.Errorf("short request err = %v", err)
	}
}

func TestPingAndRevalidate(t *testing.T) {
	touches := []SessionTouch{{1, 4000}, {-1, 0}}
	want := unhex(t, "0000000000000001 00000fa0 ffffffffffffffff 00000000")
	if got := EncodePing(touches); !bytes.Equal(got, want) {
		t.Fatalf("EncodePing = %x", got)
	}
	if got := EncodePing(nil); got == nil || len(got) != 0 {
		t.Errorf("EncodePing(nil) = %#v, want empty non-nil", got)
	}
	got, err := DecodePing(want)
	if err != nil || !slices.Equal(got, touches) {
		t.Fatalf("DecodePing = %v, %v", got, err)
	}
	if got, err := DecodePing(nil); err != nil || len(got) != 0 {
		t.Errorf("leader ping = %v, %v", got, err)
	}
	if _, err := DecodePing(want[:13]); !errors.Is(err, ErrPayload) {
		t.Errorf("partial ping entry err = %v", err)
	}

	rq := RevalidateRequest{SessionID: 5, Timeout: 30000}
	if b := rq.Encode(); !bytes.Equal(b, unhex(t, "0000000000000005 00007530")) {
		t.Errorf("RevalidateRequest.Encode = %x", b)
	} else if g, err := DecodeRevalidateRequest(b); err != nil || g != rq {
		t.Errorf("DecodeRevalidateRequest = %+v, %v", g, err)
	}
	rs := RevalidateResponse{SessionID: 5, Valid: true}
	if b := rs.Encode(); !bytes.Equal(b, unhex(t, "0000000000000005 01")) {
		t.Errorf("RevalidateResponse.Encode = %x", b)
	}
	if g, err := DecodeRevalidateResponse(unhex(t, "0000000000000005 02")); err != nil || !g.Valid {
		t.Errorf("readBoolean of 2 = %+v, %v", g, err)
	}
	if _, err := DecodeRevalidateRequest(make([]byte, 11)); !errors.Is(err, ErrPayload) {
		t.Errorf("short revalidate request err = %v", err)
	}
	if _, err := DecodeRevalidateResponse(make([]byte, 8)); !errors.Is(err, ErrPayload) {
		t.Errorf("short revalidate response err = %v", err)
	}
	if _, err := DecodeCommitAndActivate(make([]byte, 7)); !errors.Is(err, ErrPayload) {
		t.Errorf("short commit and activate err = %v", err)
	}
}

func TestNewLeaderPayload(t *testing.T) {
	c := QuorumConfig{Version: 0x100000000, Servers: []QuorumServer{{ID: 1, Addrs: []ServerAddr{{"h", 1, 2}}}}}
	data := EncodeNewLeader(&c)
	if string(data) != "server.1=h:1:2:participant\nversion=100000000" {
		t.Fatalf("EncodeNewLeader = %q", data)
	}
	got, err := DecodeNewLeader(data)
	if err != nil || got.String() != string(data) {
		t.Fatalf("DecodeNewLeader = %v, %v", got, err)
	}
	if got, err := DecodeNewLeader(nil); got != nil || err != nil {
		t.Errorf("old leader's NEWLEADER = %v, %v", got, err)
	}
	if _, err := DecodeNewLeader([]byte("version=1")); !errors.Is(err, ErrPayload) {
		t.Errorf("server-less config err = %v", err)
	}
}

func TestAuthPacket(t *testing.T) {
	a := AuthPacket{Magic: QuorumAuthMagic, Status: AuthStatusSuccess, Token: nil}
	want := unhex(t, "5f2435013501edcc 00000001 ffffffff")
	if got := proto.Marshal(&a); !bytes.Equal(got, want) {
		t.Fatalf("Marshal = %x", got)
	}
	if got, err := UnmarshalAuthPacket(want, 0); err != nil || got.Status != AuthStatusSuccess || got.Token != nil {
		t.Fatalf("Unmarshal = %+v, %v", got, err)
	}
	bad := append([]byte{0}, want[1:]...)
	if _, err := UnmarshalAuthPacket(bad, 0); !errors.Is(err, ErrPayload) {
		t.Errorf("bad magic err = %v", err)
	}
	if _, err := UnmarshalAuthPacket(want[:11], 0); !errors.Is(err, ErrPayload) || !errors.Is(err, jute.ErrShort) {
		t.Errorf("truncated err = %v", err)
	}
}
