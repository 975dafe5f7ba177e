package peer

import (
	"reflect"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/quorum/zab"
)

func TestMessagePacketRoundTrip(t *testing.T) {
	qc := wire.QuorumConfig{Servers: []wire.QuorumServer{{ID: 1, Addrs: []wire.ServerAddr{{Host: "127.0.0.1", QuorumPort: 2888, ElectionPort: 3888}}}}}
	entry := &zab.Entry{
		Hdr: proto.TxnHeader{ClientID: 7, Cxid: 3, Zxid: 0x100000002, Time: 1234, Type: int32(proto.OpCreate)},
		Txn: &proto.CreateTxn{Path: "/a", Data: []byte("x"), ACL: proto.OpenACLUnsafe, ParentCVersion: 1, Op: int32(proto.OpCreate)},
	}
	tests := []struct {
		name     string
		m        zab.Message
		wantData bool // the packet carries a payload
	}{
		{"proposal", zab.Message{Type: zab.MsgProposal, Zxid: 0x100000002, Entry: entry}, true},
		{"inform", zab.Message{Type: zab.MsgInform, Zxid: 0x100000002, Entry: entry}, true},
		{"ack", zab.Message{Type: zab.MsgAck, Zxid: 0x100000002}, false},
		{"commit", zab.Message{Type: zab.MsgCommit, Zxid: 0x100000002}, false},
		{"ackepoch", zab.Message{Type: zab.MsgAckEpoch, Zxid: 0x100000005, Epoch: 1}, true},
		{"leaderinfo", zab.Message{Type: zab.MsgLeaderInfo, Zxid: 0x200000000}, true},
		{"newleader", zab.Message{Type: zab.MsgNewLeader, Zxid: 0x200000000}, true},
		{"diff", zab.Message{Type: zab.MsgDiff, Zxid: 0x100000005}, false},
		{"trunc", zab.Message{Type: zab.MsgTrunc, Zxid: 0x100000003}, false},
		// The database follows an empty SNAP packet on the stream.
		{"snap", zab.Message{Type: zab.MsgSnap, Zxid: 9, Snapshot: &zab.SnapshotReq{Zxid: 9}}, false},
		{"uptodate", zab.Message{Type: zab.MsgUpToDate, Zxid: -1}, false},
		{"ping", zab.Message{Type: zab.MsgPing, Zxid: 4, Data: []byte{1, 2}}, true},
		{"request", zab.Message{Type: zab.MsgRequest, Zxid: -1, Data: []byte{9}}, true},
		{"sync", zab.Message{Type: zab.MsgSync, Zxid: 4, Data: []byte{8}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.From, tt.m.To = 2, 1
			p, err := toPacket(tt.m, 2, &qc)
			if err != nil {
				t.Fatalf("toPacket: %v", err)
			}
			if (p.Data != nil) != tt.wantData {
				t.Errorf("packet data = %x, want payload %v", p.Data, tt.wantData)
			}
			dec, err := wire.UnmarshalPacket(p.Marshal(), maxPacket)
			if err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			got, err := fromPacket(dec, 2, 1, maxPacket)
			if err != nil {
				t.Fatalf("fromPacket: %v", err)
			}
			if tt.m.Snapshot != nil {
				if got.Snapshot == nil || got.Snapshot.Zxid != tt.m.Snapshot.Zxid {
					t.Fatalf("snapshot = %+v, want %+v", got.Snapshot, tt.m.Snapshot)
				}
				got.Snapshot, tt.m.Snapshot = nil, nil
			}
			if !reflect.DeepEqual(got, tt.m) {
				t.Errorf("round trip = %+v, want %+v", got, tt.m)
			}
		})
	}
}

func TestFollowerInfoNamesSender(t *testing.T) {
	qc := wire.QuorumConfig{Version: 0x100000000}
	p, err := toPacket(zab.Message{Type: zab.MsgFollowerInfo, Zxid: 0x300000000}, 5, &qc)
	if err != nil {
		t.Fatal(err)
	}
	li, err := wire.DecodeLearnerInfo(p.Data)
	if err != nil {
		t.Fatal(err)
	}
	if li.SID != 5 || li.ProtocolVersion != wire.ProtocolVersion || li.ConfigVersion != qc.Version {
		t.Errorf("learner info = %+v", li)
	}
}

func TestFromPacketRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		p    wire.Packet
	}{
		{"unknown type", wire.Packet{Type: 99}},
		{"reconfig unsupported", wire.Packet{Type: wire.TypeCommitAndActivate}},
		{"proposal without txn", wire.Packet{Type: wire.TypeProposal, Zxid: 1, Data: []byte{1, 2}}},
		{"short ackepoch", wire.Packet{Type: wire.TypeAckEpoch, Data: []byte{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := fromPacket(tt.p, 2, 1, 0); err == nil {
				t.Errorf("fromPacket(%v) succeeded", tt.p.String())
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	good := func() Config {
		return Config{ID: 1, DataDir: t.TempDir(), TickTime: 1, InitLimit: 1, SyncLimit: 1,
			Quorum: wire.QuorumConfig{Servers: []wire.QuorumServer{{ID: 1, Addrs: []wire.ServerAddr{{Host: "127.0.0.1", QuorumPort: 1, ElectionPort: 2}}}}}}
	}
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"valid", func(*Config) {}, true},
		{"zero id", func(c *Config) { c.ID = 0 }, false},
		{"no data dir", func(c *Config) { c.DataDir = "" }, false},
		{"no tick", func(c *Config) { c.TickTime = 0 }, false},
		{"no init limit", func(c *Config) { c.InitLimit = 0 }, false},
		{"not a member", func(c *Config) { c.ID = 2 }, false},
		{"no quorum port", func(c *Config) { c.Quorum.Servers[0].Addrs[0].QuorumPort = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(&c)
			_, err := New(c)
			if (err == nil) != tt.ok {
				t.Errorf("New: err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
