package session

import (
	"strconv"
	"testing"
	"time"
)

func TestInitialSessionIDGolden(t *testing.T) {
	for _, row := range readGolden(t, "session_ids.golden") {
		if len(row) != 3 {
			t.Fatalf("malformed golden row %q", row)
		}
		serverID, err1 := strconv.ParseInt(row[0], 10, 64)
		millis, err2 := strconv.ParseInt(row[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("malformed golden row %q: %v, %v", row, err1, err2)
		}
		want := parseHexID(t, row[2])
		if got := InitialSessionID(serverID, time.UnixMilli(millis)); got != want {
			t.Errorf("InitialSessionID(%d, %d ms) = %s, want %s", serverID, millis, hexID(got), hexID(want))
		}
	}
}

func TestInitialSessionIDLayout(t *testing.T) {
	const millis = 1_700_000_000_123 // 0x18BCFE5687B
	tests := []struct {
		serverID int64
		want     uint64
	}{
		// server id byte | 40 bits of milliseconds | 16 zero bits
		{1, 0x01_8BCFE5687B_0000},
		{42, 0x2A_8BCFE5687B_0000},
		{255, 0xFF_8BCFE5687B_0000},
	}
	for _, tt := range tests {
		got := uint64(InitialSessionID(tt.serverID, time.UnixMilli(millis)))
		if got != tt.want {
			t.Errorf("server %d: id %#x, want %#x", tt.serverID, got, tt.want)
		}
		if top := got >> 56; top != uint64(tt.serverID) {
			t.Errorf("server %d: top byte %d, want the server id", tt.serverID, top)
		}
		if low := got & 0xFFFF; low != 0 {
			t.Errorf("server %d: low 16 bits %#x, want 0 (room for per-session increments)", tt.serverID, low)
		}
	}
}

func TestNextIDIncrements(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	tr := NewTracker(3, 2*time.Second, now)
	first := InitialSessionID(3, now)
	for i := range int64(3) {
		if got := tr.NextID(); got != first+i {
			t.Errorf("NextID #%d = %s, want %s", i, hexID(got), hexID(first+i))
		}
	}
}

func TestHexID(t *testing.T) {
	tests := []struct {
		id   int64
		want string
	}{
		{1, "0x1"},
		{0x100000123456789, "0x100000123456789"},
		{-1, "0xffffffffffffffff"}, // unsigned, like Long.toHexString
	}
	for _, tt := range tests {
		if got := hexID(tt.id); got != tt.want {
			t.Errorf("hexID(%d) = %q, want %q", tt.id, got, tt.want)
		}
	}
}
