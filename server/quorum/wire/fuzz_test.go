package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// Every decoder must return an error or a value that re-encodes to a form
// it decodes identically; none may panic.

func FuzzDecodeHandshake(f *testing.F) {
	for _, h := range []Handshake{{ProtocolV1, 1, []string{"127.0.0.1:3888"}}, {ProtocolV2, 2, []string{"a:1", "[::1]:2"}}, {ProtocolLegacy, 3, nil}} {
		b, _ := h.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHandshake(bytes.NewReader(b))
		if err != nil || (h.ProtocolVersion == ProtocolV1 && len(h.Addrs) != 1) || (h.ProtocolVersion == ProtocolV2 && len(h.Addrs) == 0) {
			return
		}
		enc, err := h.Encode()
		if err != nil {
			t.Fatalf("decoded %+v does not re-encode: %v", h, err)
		}
		h2, err := DecodeHandshake(bytes.NewReader(enc))
		if err != nil || h2.SID != h.SID || len(h2.Addrs) != len(h.Addrs) {
			t.Fatalf("re-decode %+v: %+v, %v", h, h2, err)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 7})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ReadFrame(bytes.NewReader(b))
		if err == nil && (len(p) == 0 || len(p) > MaxFrameLen) {
			t.Fatalf("accepted a %d-byte frame", len(p))
		}
	})
}

func FuzzDecodeNotification(f *testing.F) {
	f.Add((&Notification{State: 1, Leader: 2, Config: []byte("server.1=h:1:2\nversion=0")}).Encode())
	f.Add(make([]byte, 28))
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DecodeNotification(b)
		if err != nil || n.Version <= 1 {
			return
		}
		n2, err := DecodeNotification(n.Encode())
		if err != nil || n2.Leader != n.Leader || n2.Zxid != n.Zxid || n2.PeerEpoch != n.PeerEpoch || !bytes.Equal(n2.Config, n.Config) {
			t.Fatalf("round trip %+v: %+v, %v", n, n2, err)
		}
	})
}

func FuzzDecodePacket(f *testing.F) {
	f.Add((&Packet{Type: TypeRequest, Zxid: -1, Data: []byte{1}}).Marshal())
	f.Add((&Packet{Type: TypeAck}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := NewDecoder(bytes.NewReader(b), 4096).Decode()
		if err != nil {
			return
		}
		// A round trip must give the same packet. It need not give the
		// same bytes: jute reads a null string (-1) as "" and writes ""
		// back as length 0, which ZooKeeper treats alike in an Id.
		enc := p.Marshal()
		p2, err := UnmarshalPacket(enc, 4096)
		if err != nil {
			t.Fatalf("bytes decoder rejects what the stream decoder read: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the packet:\n%+v\n%+v", p, p2)
		}
	})
}

func FuzzPayloads(f *testing.F) {
	f.Add(LearnerInfo{SID: 1, ProtocolVersion: ProtocolVersion}.Encode())
	tx := sampleTxn()
	f.Add(EncodeTxn(&tx))
	f.Add(EncodePing([]SessionTouch{{1, 2}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Only absence of panics and of huge allocations is checked here;
		// the unit tests pin the values.
		_, _ = DecodeLearnerInfo(b)
		_, _ = DecodeLeaderInfo(b)
		_, _ = DecodeAckEpoch(b)
		_, _ = DecodeTxn(b, 4096)
		_, _ = DecodeForwardedRequest(b)
		if ts, err := DecodePing(b); err == nil && !bytes.Equal(EncodePing(ts), b) {
			t.Fatalf("ping round trip differs")
		}
		_, _ = DecodeRevalidateRequest(b)
		_, _ = DecodeRevalidateResponse(b)
		_, _ = DecodeCommitAndActivate(b)
		_, _ = DecodeInformAndActivate(b, 4096)
		_, _ = DecodeNewLeader(b)
		_, _ = UnmarshalAuthPacket(b, 4096)
	})
}

func FuzzParseQuorumConfig(f *testing.F) {
	f.Add("server.1=a:1:2:participant;0.0.0.0:2181\nserver.2=[::1]:3:4:observer\nversion=1")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseQuorumConfig(s)
		if err != nil {
			return
		}
		text := c.String()
		c2, err := ParseQuorumConfig(text)
		if err != nil {
			t.Fatalf("rendered config %q does not parse: %v", text, err)
		}
		if c2.String() != text {
			t.Fatalf("render not stable:\n%s\n%s", text, c2.String())
		}
	})
}
