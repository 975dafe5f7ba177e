package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Built from FastLeaderElection.buildMsg(state, leader, zxid, electionEpoch,
// epoch, configData): int, 4 longs, int 2, int config length, config.
func TestNotificationGolden(t *testing.T) {
	n := Notification{State: StateFollowing, Leader: 3, Zxid: 0x100000007, ElectionEpoch: 2, PeerEpoch: 1, Version: 2, Config: []byte("version=0")}
	want := unhex(t, "00000001 0000000000000003 0000000100000007 0000000000000002 0000000000000001 00000002 00000009"+
		"76657273696f6e3d30")
	if got := n.Encode(); !bytes.Equal(got, want) {
		t.Fatalf("Encode =\n%x\nwant\n%x", got, want)
	}
	got, err := DecodeNotification(want)
	if err != nil || got.State != n.State || got.Leader != 3 || got.Zxid != n.Zxid || got.ElectionEpoch != 2 ||
		got.PeerEpoch != 1 || got.Version != 2 || string(got.Config) != "version=0" {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	// Encode always writes the current version, whatever Version says.
	n.Version = 0
	if got := n.Encode(); !bytes.Equal(got, want) {
		t.Errorf("Encode with Version 0 = %x", got)
	}
}

// The receiver's compatibility rules (FastLeaderElection.WorkerReceiver).
func TestNotificationDecodeForms(t *testing.T) {
	head := "00000000 0000000000000002 0000000500000009 0000000000000004" // LOOKING, leader 2, zxid epoch 5, round 4
	tests := []struct {
		name      string
		hex       string
		peerEpoch int64
		version   int32
		config    []byte
	}{
		{"28 bytes: peerEpoch from zxid", head, 5, 0, nil},
		{"40 bytes: version ignored", head + "0000000000000006 00000001", 6, 0, nil},
		{"40 bytes with version 2 still ignored", head + "0000000000000006 00000002", 6, 0, nil},
		{"version 1 without config", head + "0000000000000006 00000001 00", 6, 1, nil},
		{"version 0 trailing bytes", head + "0000000000000006 00000000 ffffffff", 6, 0, nil},
		{"negative version", head + "0000000000000006 ffffffff 01020304", 6, -1, nil},
		{"empty config", head + "0000000000000006 00000002 00000000", 6, 2, []byte{}},
		{"trailing bytes after config", head + "0000000000000006 00000002 00000001 41 4243", 6, 2, []byte("A")},
		{"future version", head + "0000000000000006 00000007 00000001 41", 6, 7, []byte("A")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := DecodeNotification(unhex(t, tt.hex))
			if err != nil {
				t.Fatal(err)
			}
			if n.State != StateLooking || n.Leader != 2 || n.Zxid != 0x500000009 || n.ElectionEpoch != 4 {
				t.Errorf("common fields = %+v", n)
			}
			if n.PeerEpoch != tt.peerEpoch || n.Version != tt.version || !bytes.Equal(n.Config, tt.config) || (n.Config == nil) != (tt.config == nil) {
				t.Errorf("got peerEpoch %d version %d config %q, want %d %d %q", n.PeerEpoch, n.Version, n.Config, tt.peerEpoch, tt.version, tt.config)
			}
		})
	}
}

func TestNotificationDecodeErrors(t *testing.T) {
	head := "00000000 0000000000000002 0000000500000009 0000000000000004"
	tests := []struct{ name, hex, want string }{
		{"empty", "", "0 bytes"},
		{"27 bytes", head[:len(head)-2], "27 bytes"},
		{"inside peerEpoch", head + "0000", "inside peerEpoch"},
		{"inside version", head + "0000000000000006 00", "inside version"},
		{"no config length", head + "0000000000000006 00000002 00", "inside config length"},
		{"negative config length", head + "0000000000000006 00000002 ffffffff", "config length -1"},
		{"config length over capacity", head + "0000000000000006 00000002 00000100", "config length 256"},
		{"truncated config", head + "0000000000000006 00000002 00000005 4142", "only 2 bytes follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeNotification(unhex(t, strings.ReplaceAll(tt.hex, " ", "")))
			if !errors.Is(err, ErrNotification) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrNotification mentioning %q", err, tt.want)
			}
		})
	}
}

func TestStateNames(t *testing.T) {
	for s, want := range map[int32]string{0: "LOOKING", 1: "FOLLOWING", 2: "LEADING", 3: "OBSERVING", 4: "UNKNOWN(4)", -1: "UNKNOWN(-1)"} {
		if got := StateName(s); got != want {
			t.Errorf("StateName(%d) = %q, want %q", s, got, want)
		}
		if KnownState(s) != (s >= 0 && s <= 3) {
			t.Errorf("KnownState(%d) = %v", s, KnownState(s))
		}
	}
}

func TestNotificationRoundTrip(t *testing.T) {
	for _, n := range []Notification{
		{State: StateLeading, Leader: -1, Zxid: -1, ElectionEpoch: 1 << 40, PeerEpoch: -7, Config: []byte{}},
		{State: 99, Leader: 1, Config: []byte(strings.Repeat("x", 1000))},
	} {
		got, err := DecodeNotification(n.Encode())
		n.Version = NotificationVersion
		if err != nil || got.State != n.State || got.Leader != n.Leader || got.Zxid != n.Zxid || got.ElectionEpoch != n.ElectionEpoch ||
			got.PeerEpoch != n.PeerEpoch || got.Version != n.Version || !bytes.Equal(got.Config, n.Config) {
			t.Errorf("round trip of %+v = %+v, %v", n, got, err)
		}
	}
}
