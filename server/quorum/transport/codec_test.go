package transport

import (
	"testing"

	"github.com/zkd-io/zkd/server/quorum/election"
	"github.com/zkd-io/zkd/server/quorum/wire"
)

func TestNotificationMapping(t *testing.T) {
	qc := wire.QuorumConfig{Version: 0x1_0000_0003, Servers: []wire.QuorumServer{
		{ID: 1, Addrs: []wire.ServerAddr{{Host: "127.0.0.1", QuorumPort: 2888, ElectionPort: 3888}}},
		{ID: 2, Addrs: []wire.ServerAddr{{Host: "127.0.0.2", QuorumPort: 2888, ElectionPort: 3888}}},
	}}
	tests := []struct {
		name string
		n    election.Notification
	}{
		{"looking", election.Notification{State: election.Looking, Leader: 2, Zxid: 0x1_0000_0005, ElectionEpoch: 3, PeerEpoch: 1}},
		{"following", election.Notification{State: election.Following, Leader: 1, Zxid: -1, ElectionEpoch: 1 << 40, PeerEpoch: 7}},
		{"leading", election.Notification{State: election.Leading, Leader: 1, ElectionEpoch: 1}},
		{"observing", election.Notification{State: election.Observing, Leader: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wn := toWire(tt.n, []byte(qc.String()))
			if string(wn.Config) != qc.String() {
				t.Errorf("config text %q, want %q", wn.Config, qc.String())
			}
			decoded, err := wire.DecodeNotification(wn.Encode())
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := fromWire(decoded)
			want := tt.n
			want.Version = wire.NotificationVersion // 3.8 always sends version 2
			want.ConfigVersion = qc.Version         // taken from the config text
			if got != want {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestFromWireLegacyAndBadConfig(t *testing.T) {
	tests := []struct {
		name string
		in   wire.Notification
		want election.Notification
	}{
		{
			name: "pre-3.4.6 form has no version or config",
			in:   wire.Notification{State: wire.StateLooking, Leader: 3, Zxid: 0x2_0000_0001, ElectionEpoch: 4, PeerEpoch: 2},
			want: election.Notification{State: election.Looking, Leader: 3, Zxid: 0x2_0000_0001, ElectionEpoch: 4, PeerEpoch: 2},
		},
		{
			name: "unparsable config counts as version 0",
			in:   wire.Notification{State: wire.StateFollowing, Leader: 3, Version: 2, Config: []byte("group.1=1:2\nversion=5")},
			want: election.Notification{State: election.Following, Leader: 3, Version: 2},
		},
		{
			name: "unknown state is passed on for the election to judge",
			in:   wire.Notification{State: 9, Leader: 1, Version: 2},
			want: election.Notification{State: 9, Leader: 1, Version: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromWire(tt.in); got != tt.want {
				t.Errorf("fromWire:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
