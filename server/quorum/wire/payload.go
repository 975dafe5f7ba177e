package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// ErrPayload is wrapped by every packet payload decoding error.
var ErrPayload = errors.New("invalid quorum packet payload")

func payloadErr(what string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrPayload, what, fmt.Sprintf(format, args...))
}

// ProtocolVersion is the learner protocol version 3.8 leaders and learners
// announce (0x10000); older leaders send NEWLEADER without config data.
const ProtocolVersion int32 = 0x10000

// LearnerInfo is the FOLLOWERINFO/OBSERVERINFO payload a learner sends
// first: who it is and which config version it has activated.
type LearnerInfo struct {
	SID             int64
	ProtocolVersion int32
	ConfigVersion   int64
}

// learnerInfoLen is the jute size of a full LearnerInfo.
const learnerInfoLen = 20

// Encode returns the jute LearnerInfo record (20 bytes).
func (li LearnerInfo) Encode() []byte {
	b := make([]byte, 0, learnerInfoLen)
	b = binary.BigEndian.AppendUint64(b, uint64(li.SID))
	b = binary.BigEndian.AppendUint32(b, uint32(li.ProtocolVersion))
	return binary.BigEndian.AppendUint64(b, uint64(li.ConfigVersion))
}

// DecodeLearnerInfo reads a FOLLOWERINFO/OBSERVERINFO payload as
// LearnerHandler does: the sid needs 8 bytes, the protocol version is read
// if 12 are present (else 0x1, an old learner) and the config version if 20
// are (else 0, which never exceeds a leader's version). Extra bytes are
// ignored. ZooKeeper invents an id for a learner without a sid; zkd has no
// use for such a learner, so that is an error here.
func DecodeLearnerInfo(data []byte) (LearnerInfo, error) {
	if len(data) < 8 {
		return LearnerInfo{}, payloadErr("learner info", "%d bytes, need at least 8 for the sid", len(data))
	}
	li := LearnerInfo{SID: int64(binary.BigEndian.Uint64(data)), ProtocolVersion: 0x1}
	if len(data) >= 12 {
		li.ProtocolVersion = int32(binary.BigEndian.Uint32(data[8:]))
	}
	if len(data) >= learnerInfoLen {
		li.ConfigVersion = int64(binary.BigEndian.Uint64(data[12:]))
	}
	return li, nil
}

// EncodeInt returns a 4-byte big-endian int payload: LEADERINFO's protocol
// version and ACKEPOCH's current epoch use it.
func EncodeInt(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

// DecodeLeaderInfo returns the protocol version in a LEADERINFO payload
// (a ByteBuffer.getInt; extra bytes are ignored).
func DecodeLeaderInfo(data []byte) (int32, error) { return decodeInt("leader info", data) }

// EpochAlreadyAccepted is the ACKEPOCH current-epoch value a learner sends
// when it had already accepted the proposed epoch.
const EpochAlreadyAccepted int32 = -1

// DecodeAckEpoch returns the current epoch in an ACKEPOCH payload, or
// EpochAlreadyAccepted.
func DecodeAckEpoch(data []byte) (int32, error) { return decodeInt("ack epoch", data) }

func decodeInt(what string, data []byte) (int32, error) {
	if len(data) < 4 {
		return 0, payloadErr(what, "%d bytes, need 4", len(data))
	}
	return int32(binary.BigEndian.Uint32(data)), nil
}

// Txn is the payload of PROPOSAL and INFORM packets (and the tail of
// INFORMANDACTIVATE): a txn log entry without the log's checksum and
// length framing.
type Txn struct {
	Header proto.TxnHeader
	Body   proto.Txn
	// Digest is the tree digest after the txn, nil when digests are off.
	Digest *proto.TxnDigest
}

// EncodeTxn returns the TxnHeader, body and optional TxnDigest as
// SerializeUtils.serializeRequest writes them.
func EncodeTxn(t *Txn) []byte {
	e := jute.NewEncoder(make([]byte, 0, proto.TxnHeaderSize+64))
	proto.EncodeTxn(e, &t.Header, t.Body, t.Digest)
	return e.Bytes()
}

// DecodeTxn decodes a PROPOSAL/INFORM payload; maxLen bounds strings and
// buffers inside it (0 means jute.DefaultMaxBuffer).
func DecodeTxn(data []byte, maxLen int) (Txn, error) {
	hdr, body, digest, err := proto.DecodeTxn(data, maxLen)
	if err != nil {
		return Txn{}, fmt.Errorf("%w: txn: %w", ErrPayload, err)
	}
	return Txn{Header: hdr, Body: body, Digest: digest}, nil
}

// ForwardedRequest is a REQUEST payload: a client write a learner hands to
// the leader. Body is the client's request record as it arrived (without
// the RequestHeader); the client's identities travel in Packet.AuthInfo.
type ForwardedRequest struct {
	SessionID int64
	Cxid      int32
	Type      int32 // op code
	Body      []byte
}

// Encode returns long sessionId, int cxid, int type, raw body.
func (r *ForwardedRequest) Encode() []byte {
	b := make([]byte, 0, 16+len(r.Body))
	b = binary.BigEndian.AppendUint64(b, uint64(r.SessionID))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Cxid))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Type))
	return append(b, r.Body...)
}

// DecodeForwardedRequest decodes a REQUEST payload. Body is a copy and
// empty (non-nil) when the request had no record.
func DecodeForwardedRequest(data []byte) (ForwardedRequest, error) {
	if len(data) < 16 {
		return ForwardedRequest{}, payloadErr("request", "%d bytes, need at least 16", len(data))
	}
	return ForwardedRequest{
		SessionID: int64(binary.BigEndian.Uint64(data)),
		Cxid:      int32(binary.BigEndian.Uint32(data[8:])),
		Type:      int32(binary.BigEndian.Uint32(data[12:])),
		Body:      append([]byte{}, data[16:]...),
	}, nil
}

// SessionTouch is one entry of a learner's PING reply: a session that saw
// activity and its timeout in milliseconds.
type SessionTouch struct {
	SessionID int64
	Timeout   int32
}

// EncodePing returns a learner's PING reply payload, (long, int) per
// session. Like Learner.ping it is an empty, not null, buffer when no
// session was touched.
func EncodePing(touches []SessionTouch) []byte {
	b := make([]byte, 0, 12*len(touches))
	for _, t := range touches {
		b = binary.BigEndian.AppendUint64(b, uint64(t.SessionID))
		b = binary.BigEndian.AppendUint32(b, uint32(t.Timeout))
	}
	return b
}

// DecodePing decodes a PING reply payload; a leader's PING carries no data
// and decodes as no touches. A length that is not a multiple of 12 is an
// error (Java hits EOF inside an entry and drops the learner).
func DecodePing(data []byte) ([]SessionTouch, error) {
	if len(data)%12 != 0 {
		return nil, payloadErr("ping", "%d bytes is not a whole number of 12-byte session entries", len(data))
	}
	out := make([]SessionTouch, 0, len(data)/12)
	for i := 0; i < len(data); i += 12 {
		out = append(out, SessionTouch{
			SessionID: int64(binary.BigEndian.Uint64(data[i:])),
			Timeout:   int32(binary.BigEndian.Uint32(data[i+8:])),
		})
	}
	return out, nil
}

// RevalidateRequest is a learner's REVALIDATE payload: a client
// reconnected to it with this session.
type RevalidateRequest struct {
	SessionID int64
	Timeout   int32
}

// Encode returns long sessionId, int timeout.
func (r RevalidateRequest) Encode() []byte {
	return EncodePing([]SessionTouch{{SessionID: r.SessionID, Timeout: r.Timeout}})
}

// DecodeRevalidateRequest decodes a learner's REVALIDATE payload (extra
// bytes are ignored, as a DataInputStream reader would).
func DecodeRevalidateRequest(data []byte) (RevalidateRequest, error) {
	if len(data) < 12 {
		return RevalidateRequest{}, payloadErr("revalidate request", "%d bytes, need 12", len(data))
	}
	return RevalidateRequest{
		SessionID: int64(binary.BigEndian.Uint64(data)),
		Timeout:   int32(binary.BigEndian.Uint32(data[8:])),
	}, nil
}

// RevalidateResponse is the leader's REVALIDATE answer.
type RevalidateResponse struct {
	SessionID int64
	Valid     bool
}

// Encode returns long sessionId, boolean valid (one byte).
func (r RevalidateResponse) Encode() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9), uint64(r.SessionID))
	if r.Valid {
		return append(b, 1)
	}
	return append(b, 0)
}

// DecodeRevalidateResponse decodes the leader's REVALIDATE answer; any
// non-zero byte is true, as DataInputStream.readBoolean reads it.
func DecodeRevalidateResponse(data []byte) (RevalidateResponse, error) {
	if len(data) < 9 {
		return RevalidateResponse{}, payloadErr("revalidate response", "%d bytes, need 9", len(data))
	}
	return RevalidateResponse{SessionID: int64(binary.BigEndian.Uint64(data)), Valid: data[8] != 0}, nil
}

// EncodeCommitAndActivate returns a COMMITANDACTIVATE payload: the sid the
// leader suggests should lead under the new config.
func EncodeCommitAndActivate(suggestedLeader int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(suggestedLeader))
}

// DecodeCommitAndActivate returns the suggested leader in a
// COMMITANDACTIVATE payload (extra bytes are ignored, as in Java).
func DecodeCommitAndActivate(data []byte) (int64, error) {
	if len(data) < 8 {
		return 0, payloadErr("commit and activate", "%d bytes, need 8", len(data))
	}
	return int64(binary.BigEndian.Uint64(data)), nil
}

// InformAndActivate is an INFORMANDACTIVATE payload: the suggested leader
// followed by the reconfig txn, the same bytes a PROPOSAL would carry.
type InformAndActivate struct {
	SuggestedLeader int64
	Txn             Txn
}

// Encode returns long suggestedLeader followed by the txn bytes.
func (ia *InformAndActivate) Encode() []byte {
	return append(EncodeCommitAndActivate(ia.SuggestedLeader), EncodeTxn(&ia.Txn)...)
}

// DecodeInformAndActivate decodes an INFORMANDACTIVATE payload.
func DecodeInformAndActivate(data []byte, maxLen int) (InformAndActivate, error) {
	leader, err := DecodeCommitAndActivate(data)
	if err != nil {
		return InformAndActivate{}, fmt.Errorf("inform and activate: %w", err)
	}
	txn, err := DecodeTxn(data[8:], maxLen)
	if err != nil {
		return InformAndActivate{}, fmt.Errorf("inform and activate: %w", err)
	}
	return InformAndActivate{SuggestedLeader: leader, Txn: txn}, nil
}

// EncodeNewLeader returns a NEWLEADER payload: the leader's last seen
// quorum config text (QuorumVerifier.toString) in UTF-8.
func EncodeNewLeader(c *QuorumConfig) []byte { return []byte(c.String()) }

// DecodeNewLeader parses a NEWLEADER payload. Leaders speaking a protocol
// older than ProtocolVersion send none; that returns (nil, nil).
func DecodeNewLeader(data []byte) (*QuorumConfig, error) {
	if data == nil {
		return nil, nil
	}
	c, err := ParseQuorumConfig(string(data))
	if err != nil {
		return nil, fmt.Errorf("%w: new leader: %w", ErrPayload, err)
	}
	return &c, nil
}

// Quorum SASL authentication packet constants (QuorumAuth).
// QuorumAuthMagic is Java's -0xa0dbcafecafe1234L: the hex literal is a
// negative long there, so the negation is positive.
const (
	QuorumAuthMagic      int64 = 0x5f2435013501edcc
	AuthStatusInProgress int32 = 0
	AuthStatusSuccess    int32 = 1
	AuthStatusError      int32 = -1
)

// AuthPacket is a QuorumAuthPacket, exchanged back to back (no frame
// length) right after the handshakes when quorum SASL is enabled.
type AuthPacket struct {
	Magic  int64
	Status int32
	Token  []byte
}

// Encode implements proto.Record.
func (a *AuthPacket) Encode(e *jute.Encoder) { e.Long(a.Magic); e.Int(a.Status); e.Buffer(a.Token) }

// Decode implements proto.Record.
func (a *AuthPacket) Decode(d *jute.Decoder) {
	a.Magic = d.Long()
	a.Status = d.Int()
	a.Token = d.Buffer()
}

// UnmarshalAuthPacket decodes exactly one QuorumAuthPacket and checks its
// magic number, as the SASL authenticators do.
func UnmarshalAuthPacket(b []byte, maxLen int) (AuthPacket, error) {
	var a AuthPacket
	if err := proto.Unmarshal(b, maxLen, &a); err != nil {
		return AuthPacket{}, fmt.Errorf("%w: quorum auth packet: %w", ErrPayload, err)
	}
	if a.Magic != QuorumAuthMagic {
		return AuthPacket{}, payloadErr("quorum auth packet", "magic 0x%x, want 0x%x", uint64(a.Magic), uint64(QuorumAuthMagic))
	}
	return a, nil
}
