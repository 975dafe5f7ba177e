package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

func TestTypeNames(t *testing.T) {
	want := []string{"", "REQUEST", "PROPOSAL", "ACK", "COMMIT", "PING", "REVALIDATE", "SYNC", "INFORM", "COMMITANDACTIVATE",
		"NEWLEADER", "FOLLOWERINFO", "UPTODATE", "DIFF", "TRUNC", "SNAP", "OBSERVERINFO", "LEADERINFO", "ACKEPOCH", "INFORMANDACTIVATE"}
	for i := 1; i < len(want); i++ {
		if got := TypeName(int32(i)); got != want[i] {
			t.Errorf("TypeName(%d) = %q, want %q", i, got, want[i])
		}
	}
	for _, bad := range []int32{0, 20, -1} {
		if got := TypeName(bad); !strings.HasPrefix(got, "UNKNOWN") {
			t.Errorf("TypeName(%d) = %q", bad, got)
		}
	}
}

// QuorumPacket{int type, long zxid, buffer data, vector<Id> authinfo},
// as BinaryOutputArchive.writeRecord writes it.
func TestPacketGolden(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		hex  string
	}{
		{"uptodate, null data and authinfo", Packet{Type: TypeUpToDate, Zxid: -1},
			"0000000c ffffffffffffffff ffffffff ffffffff"},
		{"leaderinfo", Packet{Type: TypeLeaderInfo, Zxid: 2 << 32, Data: EncodeInt(ProtocolVersion)},
			"00000011 0000000200000000 00000004 00010000 ffffffff"},
		{"request with auth", Packet{Type: TypeRequest, Zxid: -1, Data: []byte{}, AuthInfo: []proto.ID{{Scheme: "ip", ID: "1.2"}}},
			"00000001 ffffffffffffffff 00000000 00000001 00000002 6970 00000003 312e32"},
		{"empty authinfo", Packet{Type: TypeAck, Zxid: 5, AuthInfo: []proto.ID{}},
			"00000003 0000000000000005 ffffffff 00000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			if got := tt.p.Marshal(); !bytes.Equal(got, want) {
				t.Fatalf("Marshal = %x, want %x", got, want)
			}
			if n := tt.p.Size(); n != len(want) {
				t.Errorf("Size = %d, want %d", n, len(want))
			}
			got, err := UnmarshalPacket(want, 0)
			if err != nil {
				t.Fatal(err)
			}
			assertPacket(t, got, tt.p)
			// The stream decoder reads the same record.
			sd, err := NewDecoder(bytes.NewReader(want), 0).Decode()
			if err != nil {
				t.Fatal(err)
			}
			assertPacket(t, sd, tt.p)
		})
	}
}

func assertPacket(t *testing.T, got, want Packet) {
	t.Helper()
	if got.Type != want.Type || got.Zxid != want.Zxid || !bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) ||
		len(got.AuthInfo) != len(want.AuthInfo) || (got.AuthInfo == nil) != (want.AuthInfo == nil) {
		t.Fatalf("packet = %+v, want %+v", got, want)
	}
	for i := range got.AuthInfo {
		if got.AuthInfo[i] != want.AuthInfo[i] {
			t.Fatalf("authinfo[%d] = %+v, want %+v", i, got.AuthInfo[i], want.AuthInfo[i])
		}
	}
}

func TestDecoderStream(t *testing.T) {
	pkts := []Packet{
		{Type: TypePing, Zxid: 7},
		{Type: TypeProposal, Zxid: 1<<32 | 1, Data: bytes.Repeat([]byte{1}, 300)},
		{Type: TypeRequest, Zxid: -1, Data: []byte{1}, AuthInfo: []proto.ID{{Scheme: "digest", ID: "a:b"}, {}}},
	}
	var stream []byte
	for i := range pkts {
		stream = append(stream, pkts[i].Marshal()...)
	}
	d := NewDecoder(bufio.NewReader(bytes.NewReader(stream)), 1024)
	for _, want := range pkts {
		got, err := d.Decode()
		if err != nil {
			t.Fatal(err)
		}
		assertPacket(t, got, want)
	}
	if _, err := d.Decode(); err != io.EOF {
		t.Fatalf("after last packet: %v, want io.EOF", err)
	}
}

// TestDecodeAllocations: decoding a packet allocates its data and
// nothing else (the names of length fields were once concatenated for
// every packet, whether or not there was an error to name them in).
func TestDecodeAllocations(t *testing.T) {
	const runs = 100
	var stream []byte
	for range runs + 1 { // AllocsPerRun adds a warm-up run
		stream = (&Packet{Type: TypeAck, Zxid: 7}).AppendMarshal(stream)
		stream = (&Packet{Type: TypeProposal, Zxid: 8, Data: []byte("txn")}).AppendMarshal(stream)
	}
	d := NewDecoder(bytes.NewReader(stream), 0)
	allocs := testing.AllocsPerRun(runs, func() {
		for _, want := range []int32{TypeAck, TypeProposal} {
			if p, err := d.Decode(); err != nil || p.Type != want {
				t.Fatalf("Decode = %v, %v; want a %s", p, err, TypeName(want))
			}
		}
	})
	if allocs != 1 {
		t.Errorf("decoding an ACK and a PROPOSAL allocates %.1f times, want 1 (the PROPOSAL's data)", allocs)
	}
}

func TestPacketDecodeErrors(t *testing.T) {
	tests := []struct{ name, hex, want string }{
		{"short type", "0000", "unexpected EOF"},
		{"no zxid", "00000005 0000", "unexpected EOF"},
		{"no data length", "00000005 0000000000000001", "EOF"},
		{"negative data length", "00000005 0000000000000001 fffffffe ffffffff", "length -2"},
		{"oversized data", "00000005 0000000000000001 7fffffff ffffffff", "limit"},
		{"truncated data", "00000005 0000000000000001 00000004 0102 ", "EOF"},
		{"no authinfo count", "00000005 0000000000000001 ffffffff", "EOF"},
		{"negative authinfo count", "00000005 0000000000000001 ffffffff fffffffe", "-2"},
		{"huge authinfo count", "00000005 0000000000000001 ffffffff 7fffffff", "authinfo"},
		{"truncated id", "00000005 0000000000000001 ffffffff 00000001 00000002 6970", "EOF"},
		{"negative id length", "00000005 0000000000000001 ffffffff 00000001 fffffff0", "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, tt.hex)
			_, err := NewDecoder(bytes.NewReader(b), 64).Decode()
			if !errors.Is(err, ErrPacket) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("stream: err = %v, want ErrPacket mentioning %q", err, tt.want)
			}
			if _, err := UnmarshalPacket(b, 64); !errors.Is(err, ErrPacket) {
				t.Errorf("bytes: err = %v, want ErrPacket", err)
			}
		})
	}
	// A packet over the stream limit is refused before its data is read.
	big := (&Packet{Type: TypeSnap, Data: make([]byte, 100)}).Marshal()
	if _, err := NewDecoder(bytes.NewReader(big), 100).Decode(); !errors.Is(err, jute.ErrLength) {
		t.Errorf("oversized packet: err = %v, want jute.ErrLength", err)
	}
	if _, err := NewDecoder(bytes.NewReader(big), len(big)).Decode(); err != nil {
		t.Errorf("packet of exactly the limit: %v", err)
	}
	if _, err := UnmarshalPacket(append(big, 0), 0); !errors.Is(err, ErrPacket) {
		t.Errorf("trailing byte: err = %v, want ErrPacket", err)
	}
}
