package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Built from QuorumCnxManager.startConnection: writeLong(version),
// writeLong(myId), writeInt(len), UTF-8 address bytes.
func TestHandshakeGolden(t *testing.T) {
	tests := []struct {
		name string
		h    Handshake
		hex  string
	}{
		{"v1", Handshake{ProtocolV1, 3, []string{"127.0.0.3:3888"}},
			"ffffffffffff0000 0000000000000003 0000000e" + hex.EncodeToString([]byte("127.0.0.3:3888"))},
		{"v2", Handshake{ProtocolV2, 2, []string{"a:1", "[::1]:2"}},
			"ffffffffffff0001 0000000000000002 0000000b" + hex.EncodeToString([]byte("a:1|[::1]:2"))},
		{"legacy", Handshake{ProtocolLegacy, 7, nil}, "0000000000000007"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			got, err := tt.h.Encode()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Encode = %x, %v; want %x", got, err, want)
			}
			r := bytes.NewReader(append(want, 0xAA)) // a following frame byte must stay unread
			dec, err := DecodeHandshake(r)
			if err != nil {
				t.Fatal(err)
			}
			if dec.ProtocolVersion != tt.h.ProtocolVersion || dec.SID != tt.h.SID || !slices.Equal(dec.Addrs, tt.h.Addrs) {
				t.Errorf("Decode = %+v, want %+v", dec, tt.h)
			}
			if r.Len() != 1 {
				t.Errorf("decoder left %d bytes, want 1", r.Len())
			}
		})
	}
}

func TestHandshakeDecodeErrors(t *testing.T) {
	v1 := "ffffffffffff0000 0000000000000001"
	addr := func(s string) string {
		return hex.EncodeToString([]byte{0, 0, 0, byte(len(s))}) + hex.EncodeToString([]byte(s))
	}
	tests := []struct{ name, hex, want string }{
		{"empty", "", "protocol version"},
		{"short version", "ffffff", "protocol version"},
		{"unknown version", "ffffffffffff0002 0000000000000001 00000003 613a31", "unrecognized protocol version -65534"},
		{"no sid", "ffffffffffff0000 00000000", "sid and address length"},
		{"zero length", v1 + "00000000", "unreasonable address length 0"},
		{"negative length", v1 + "ffffffff", "unreasonable address length -1"},
		{"oversized length", v1 + "00000801", "unreasonable address length 2049"},
		{"truncated address", v1 + "00000005 613a", "address of 5 bytes"},
		{"no port", v1 + addr("host"), `badly formed address "host"`},
		{"bad port", v1 + addr("h:x"), `bad port number "x"`},
		{"port range", v1 + addr("h:70000"), "port 70000 out of range"},
		{"too many colons", v1 + addr("h:1:2"), "badly formed"},
		{"unclosed bracket", v1 + addr("[::1:5"), "no matching"},
		{"bracket no port", v1 + addr("[::1]:"), "doesn't have a port"},
		{"empty part", v1 + addr("|a:1"), `badly formed address ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeHandshake(bytes.NewReader(unhex(t, tt.hex)))
			if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrHandshake mentioning %q", err, tt.want)
			}
		})
	}
}

// Java's String.split drops trailing empty parts, and an address string of
// only separators yields no address at all (the receiver then dials the
// address from its own config).
func TestHandshakeDecodeJavaSplit(t *testing.T) {
	for in, want := range map[string][]string{"a:1|": {"a:1"}, "|": nil, "a:1||b:2": nil} {
		b, _ := Handshake{ProtocolVersion: ProtocolV2, SID: 1, Addrs: []string{"x:1"}}.Encode()
		b = append(b[:16], 0, 0, 0, byte(len(in)))
		b = append(b, in...)
		h, err := DecodeHandshake(bytes.NewReader(b))
		if in == "a:1||b:2" {
			if err == nil {
				t.Errorf("%q: want an error for the empty middle part", in)
			}
			continue
		}
		if err != nil || !slices.Equal(h.Addrs, want) {
			t.Errorf("%q: addrs %q, %v; want %q", in, h.Addrs, err, want)
		}
	}
}

func TestHandshakeEncodeErrors(t *testing.T) {
	long := strings.Repeat("h", 2050) + ":1|" + "b:1"
	tests := []struct {
		name string
		h    Handshake
	}{
		{"unknown version", Handshake{ProtocolVersion: -1, SID: 1, Addrs: []string{"a:1"}}},
		{"v1 two addrs", Handshake{ProtocolV1, 1, []string{"a:1", "b:2"}}},
		{"v1 no addr", Handshake{ProtocolV1, 1, nil}},
		{"v2 no addr", Handshake{ProtocolV2, 1, nil}},
		{"separator", Handshake{ProtocolV2, 1, []string{"a:1|b:2"}}},
		{"bad addr", Handshake{ProtocolV1, 1, []string{"a"}}},
		{"too long", Handshake{ProtocolV2, 1, strings.Split(long, "|")}},
		{"legacy negative", Handshake{ProtocolLegacy, -5, nil}},
		{"legacy addr", Handshake{ProtocolLegacy, 5, []string{"a:1"}}},
	}
	for _, tt := range tests {
		if _, err := tt.h.Encode(); !errors.Is(err, ErrHandshake) {
			t.Errorf("%s: err = %v, want ErrHandshake", tt.name, err)
		}
	}
}

func TestShouldKeep(t *testing.T) {
	tests := []struct {
		initiator, receiver int64
		want                bool
	}{{3, 1, true}, {1, 3, false}, {2, 2, false}, {ObserverSID, 1, true}}
	for _, tt := range tests {
		if got := ShouldKeep(tt.initiator, tt.receiver); got != tt.want {
			t.Errorf("ShouldKeep(%d, %d) = %v, want %v", tt.initiator, tt.receiver, got, tt.want)
		}
	}
}

func TestFrame(t *testing.T) {
	b, err := AppendFrame([]byte{9}, []byte("abc"))
	if err != nil || !bytes.Equal(b, unhex(t, "09 00000003 616263")) {
		t.Fatalf("AppendFrame = %x, %v", b, err)
	}
	r := bytes.NewReader(b[1:])
	if got, err := ReadFrame(r); err != nil || string(got) != "abc" {
		t.Fatalf("ReadFrame = %q, %v", got, err)
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("ReadFrame at end = %v, want io.EOF", err)
	}
	max := make([]byte, MaxFrameLen)
	if _, err := AppendFrame(nil, max); err != nil {
		t.Errorf("AppendFrame(MaxFrameLen): %v", err)
	}
	for _, p := range [][]byte{nil, make([]byte, MaxFrameLen+1)} {
		if _, err := AppendFrame(nil, p); !errors.Is(err, ErrFrame) {
			t.Errorf("AppendFrame(%d bytes) err = %v, want ErrFrame", len(p), err)
		}
	}
	for name, in := range map[string]string{
		"zero": "00000000", "negative": "ffffffff", "oversized": "00080001",
		"short length": "0000", "truncated": "00000004 6162",
	} {
		if _, err := ReadFrame(bytes.NewReader(unhex(t, in))); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: err = %v, want ErrFrame", name, err)
		}
	}
}
