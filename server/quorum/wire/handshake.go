package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Protocol versions a dialling election peer sends as its first long
// (QuorumCnxManager.PROTOCOL_VERSION_V1/V2). V1 carries one election
// address; V2, used only when multiAddress.enabled is set, carries several
// joined by '|'.
const (
	ProtocolV1 int64 = -65536
	ProtocolV2 int64 = -65535
	// ProtocolLegacy marks the pre-3.5 handshake whose first and only long
	// is the sender's sid. Any non-negative first long is read this way.
	ProtocolLegacy int64 = 0
)

// Limits QuorumCnxManager enforces on the election channel.
const (
	// MaxHandshakeAddrLen bounds the address string of a handshake
	// (QuorumCnxManager.maxBuffer); it must also be at least 1 byte.
	MaxHandshakeAddrLen = 2048
	// MaxFrameLen bounds one election frame (PACKETMAXSIZE, 512 KiB); a
	// frame must also be at least 1 byte.
	MaxFrameLen = 512 * 1024
)

// ObserverSID is the sid old-style observers send in the handshake
// (QuorumPeer.OBSERVER_ID); the receiver substitutes a private negative id.
const ObserverSID int64 = math.MaxInt64

// ErrHandshake is wrapped by every handshake decoding error.
var ErrHandshake = errors.New("invalid election handshake")

// ErrFrame is wrapped by every election frame error.
var ErrFrame = errors.New("invalid election frame")

// Handshake is the first thing the dialling side of an election connection
// writes: who it is and where it can be dialled back.
type Handshake struct {
	// ProtocolVersion is ProtocolV1, ProtocolV2 or ProtocolLegacy.
	ProtocolVersion int64
	SID             int64
	// Addrs are "host:port" election addresses (IPv6 hosts in brackets).
	// V1 carries exactly one, V2 one or more, legacy none. ZooKeeper
	// ignores wildcard addresses (0.0.0.0, ::) here; they are kept so the
	// caller can decide.
	Addrs []string
}

// Encode returns the handshake bytes exactly as QuorumCnxManager.startConnection
// writes them: long version, long sid, int length, UTF-8 addresses joined
// by '|'. The legacy form is the sid alone.
func (h Handshake) Encode() ([]byte, error) {
	switch h.ProtocolVersion {
	case ProtocolLegacy:
		if h.SID < 0 {
			return nil, fmt.Errorf("%w: legacy handshake needs a non-negative sid, got %d", ErrHandshake, h.SID)
		}
		if len(h.Addrs) != 0 {
			return nil, fmt.Errorf("%w: legacy handshake carries no addresses", ErrHandshake)
		}
		return binary.BigEndian.AppendUint64(nil, uint64(h.SID)), nil
	case ProtocolV1:
		if len(h.Addrs) != 1 {
			return nil, fmt.Errorf("%w: protocol V1 carries exactly one address, got %d", ErrHandshake, len(h.Addrs))
		}
	case ProtocolV2:
		if len(h.Addrs) == 0 {
			return nil, fmt.Errorf("%w: protocol V2 needs at least one address", ErrHandshake)
		}
	default:
		return nil, fmt.Errorf("%w: unknown protocol version %d", ErrHandshake, h.ProtocolVersion)
	}
	for _, a := range h.Addrs {
		if strings.Contains(a, "|") {
			return nil, fmt.Errorf("%w: address %q contains the separator '|'", ErrHandshake, a)
		}
		if err := checkHostPort(a); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
	}
	addr := strings.Join(h.Addrs, "|")
	if len(addr) > MaxHandshakeAddrLen {
		return nil, fmt.Errorf("%w: address length %d over %d", ErrHandshake, len(addr), MaxHandshakeAddrLen)
	}
	b := make([]byte, 0, 20+len(addr))
	b = binary.BigEndian.AppendUint64(b, uint64(h.ProtocolVersion))
	b = binary.BigEndian.AppendUint64(b, uint64(h.SID))
	b = binary.BigEndian.AppendUint32(b, uint32(len(addr)))
	return append(b, addr...), nil
}

// DecodeHandshake reads one handshake from r, as
// QuorumCnxManager.handleConnection does: a non-negative first long is a
// legacy sid; otherwise it must be V1 or V2, followed by the sid and an
// address string of 1..2048 bytes whose '|'-separated parts are each
// host:port. It reads exactly the handshake's bytes.
func DecodeHandshake(r io.Reader) (Handshake, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Handshake{}, fmt.Errorf("%w: protocol version: %w", ErrHandshake, err)
	}
	v := int64(binary.BigEndian.Uint64(hdr[:]))
	if v >= 0 {
		return Handshake{ProtocolVersion: ProtocolLegacy, SID: v}, nil
	}
	if v != ProtocolV1 && v != ProtocolV2 {
		return Handshake{}, fmt.Errorf("%w: unrecognized protocol version %d", ErrHandshake, v)
	}
	var rest [12]byte
	if _, err := io.ReadFull(r, rest[:]); err != nil {
		return Handshake{}, fmt.Errorf("%w: sid and address length: %w", ErrHandshake, err)
	}
	h := Handshake{ProtocolVersion: v, SID: int64(binary.BigEndian.Uint64(rest[:8]))}
	n := int32(binary.BigEndian.Uint32(rest[8:]))
	if n <= 0 || n > MaxHandshakeAddrLen {
		return Handshake{}, fmt.Errorf("%w: sid %d: unreasonable address length %d (want 1..%d)", ErrHandshake, h.SID, n, MaxHandshakeAddrLen)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return Handshake{}, fmt.Errorf("%w: sid %d: address of %d bytes: %w", ErrHandshake, h.SID, n, err)
	}
	// Java's String.split drops trailing empty parts ("a:1|" is one address).
	for _, a := range javaSplit(string(buf), "|") {
		if err := checkHostPort(a); err != nil {
			return Handshake{}, fmt.Errorf("%w: sid %d: %w", ErrHandshake, h.SID, err)
		}
		h.Addrs = append(h.Addrs, a)
	}
	return h, nil
}

// checkHostPort applies ConfigUtils.getHostAndPort's rules: "[v6]:port" or
// "host:port" with exactly one colon, and a port in 0..65535.
func checkHostPort(a string) error {
	parts, err := hostAndPort(a)
	if err != nil {
		return err
	}
	if len(parts) != 2 {
		return fmt.Errorf("badly formed address %q: want host:port", a)
	}
	if _, err := parsePort(parts[1]); err != nil {
		return fmt.Errorf("address %q: %w", a, err)
	}
	return nil
}

// hostAndPort splits like ConfigUtils.getHostAndPort: a leading "[...]"
// is one host part, the rest is split on ':' (trailing empty parts dropped).
func hostAndPort(s string) ([]string, error) {
	if !strings.HasPrefix(s, "[") {
		return javaSplit(s, ":"), nil
	}
	i := strings.IndexByte(s, ']')
	switch {
	case i < 0:
		return nil, fmt.Errorf("%q starts with '[' but has no matching ']:'", s)
	case i+2 == len(s):
		return nil, fmt.Errorf("%q doesn't have a port after colon", s)
	case i+2 < len(s):
		return append([]string{s[1:i]}, javaSplit(s[i+2:], ":")...), nil
	}
	return []string{strings.NewReplacer("[", "", "]", "").Replace(s)}, nil
}

// javaSplit mimics Java's String.split with a literal separator: trailing
// empty strings are removed, and an empty input yields one empty string.
func javaSplit(s, sep string) []string {
	parts := strings.Split(s, sep)
	for len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 1 && parts[0] == "" && s != "" {
		return nil // s consisted only of separators
	}
	return parts
}

// parsePort parses a port as Integer.parseInt plus InetSocketAddress's
// range check would.
func parsePort(s string) (int, error) {
	p, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad port number %q", s)
	}
	if p < 0 || p > 65535 {
		return 0, fmt.Errorf("port %d out of range", p)
	}
	return int(p), nil
}

// ShouldKeep reports whether an election connection dialled by initiator
// to receiver survives: ZooKeeper keeps only connections initiated by the
// larger sid. When it returns false the receiver closes the connection and
// dials back, and the initiator closes it right after its handshake.
// Equal sids (a misconfiguration) are never kept.
func ShouldKeep(initiator, receiver int64) bool { return initiator > receiver }

// AppendFrame appends one election frame (int length, payload) to dst.
func AppendFrame(dst, payload []byte) ([]byte, error) {
	if len(payload) == 0 || len(payload) > MaxFrameLen {
		return dst, fmt.Errorf("%w: payload length %d (want 1..%d)", ErrFrame, len(payload), MaxFrameLen)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...), nil
}

// ReadFrame reads one election frame from r and returns its payload, as
// QuorumCnxManager.RecvWorker does: lengths <= 0 or over MaxFrameLen are
// errors (the Java peer drops the connection). io.EOF is returned unwrapped
// when r ends cleanly before a frame.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: length: %w", ErrFrame, err)
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n <= 0 || n > MaxFrameLen {
		return nil, fmt.Errorf("%w: length %d (want 1..%d)", ErrFrame, n, MaxFrameLen)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: payload of %d bytes: %w", ErrFrame, n, noEOF(err))
	}
	return b, nil
}

// noEOF turns a clean EOF inside a record into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
