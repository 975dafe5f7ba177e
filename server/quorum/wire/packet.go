package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// QuorumPacket types (Leader.java constants).
const (
	TypeRequest           int32 = 1  // learner forwards a client write
	TypeProposal          int32 = 2  // leader proposes a txn
	TypeAck               int32 = 3  // learner acks a proposal, NEWLEADER or UPTODATE
	TypeCommit            int32 = 4  // leader commits a zxid
	TypePing              int32 = 5  // heartbeat; learner's reply carries session touches
	TypeRevalidate        int32 = 6  // session revalidation request / answer
	TypeSync              int32 = 7  // answer to a forwarded sync
	TypeInform            int32 = 8  // committed txn sent to observers
	TypeCommitAndActivate int32 = 9  // reconfig commit
	TypeNewLeader         int32 = 10 // end of sync; carries the quorum config
	TypeFollowerInfo      int32 = 11 // follower's LearnerInfo
	TypeUpToDate          int32 = 12 // learner may start serving
	TypeDiff              int32 = 13 // sync by replaying proposals
	TypeTrunc             int32 = 14 // sync by truncating the log
	TypeSnap              int32 = 15 // sync by a full snapshot
	TypeObserverInfo      int32 = 16 // observer's LearnerInfo
	TypeLeaderInfo        int32 = 17 // leader's new epoch and protocol version
	TypeAckEpoch          int32 = 18 // learner accepts the new epoch
	TypeInformAndActivate int32 = 19 // reconfig txn sent to observers
)

var typeNames = [...]string{
	TypeRequest:           "REQUEST",
	TypeProposal:          "PROPOSAL",
	TypeAck:               "ACK",
	TypeCommit:            "COMMIT",
	TypePing:              "PING",
	TypeRevalidate:        "REVALIDATE",
	TypeSync:              "SYNC",
	TypeInform:            "INFORM",
	TypeCommitAndActivate: "COMMITANDACTIVATE",
	TypeNewLeader:         "NEWLEADER",
	TypeFollowerInfo:      "FOLLOWERINFO",
	TypeUpToDate:          "UPTODATE",
	TypeDiff:              "DIFF",
	TypeTrunc:             "TRUNC",
	TypeSnap:              "SNAP",
	TypeObserverInfo:      "OBSERVERINFO",
	TypeLeaderInfo:        "LEADERINFO",
	TypeAckEpoch:          "ACKEPOCH",
	TypeInformAndActivate: "INFORMANDACTIVATE",
}

// TypeName returns the name ZooKeeper logs for a packet type
// (LearnerHandler.packetToString), or "UNKNOWN(n)".
func TypeName(t int32) string {
	if t > 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("UNKNOWN(%d)", t)
}

// ErrPacket is wrapped by every QuorumPacket decoding error.
var ErrPacket = errors.New("invalid quorum packet")

// Packet is a QuorumPacket, the only record on the learner channel.
type Packet struct {
	Type int32
	Zxid int64
	// Data is the type-specific payload; nil is written as a null buffer,
	// which is what ZooKeeper sends for data-less packets.
	Data []byte
	// AuthInfo carries a forwarded request's client identities; nil is
	// written as a null vector (ZooKeeper's usual), empty as length 0.
	AuthInfo []proto.ID
}

// packetHeaderLen is type + zxid + data length + authinfo count.
const packetHeaderLen = 4 + 8 + 4 + 4

// String summarises the packet for logs.
func (p *Packet) String() string {
	return fmt.Sprintf("%s zxid=0x%x data=%dB", TypeName(p.Type), p.Zxid, len(p.Data))
}

// Encode implements proto.Record: int type, long zxid, buffer data,
// vector<Id> authinfo.
func (p *Packet) Encode(e *jute.Encoder) {
	e.Int(p.Type)
	e.Long(p.Zxid)
	e.Buffer(p.Data)
	if p.AuthInfo == nil {
		e.Int(-1)
		return
	}
	e.Int(int32(len(p.AuthInfo)))
	for _, id := range p.AuthInfo {
		e.String(id.Scheme)
		e.String(id.ID)
	}
}

// Decode implements proto.Record.
func (p *Packet) Decode(d *jute.Decoder) {
	p.Type = d.Int()
	p.Zxid = d.Long()
	p.Data = d.Buffer()
	n := d.VectorLen(8)
	p.AuthInfo = nil
	if n < 0 || d.Err() != nil {
		return
	}
	p.AuthInfo = make([]proto.ID, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		p.AuthInfo = append(p.AuthInfo, proto.ID{Scheme: d.String(), ID: d.String()})
	}
}

// Size is the length of p's encoding, computed without encoding it (the
// queued-bytes statistic of a learner connection).
func (p *Packet) Size() int {
	n := packetHeaderLen + len(p.Data)
	for _, id := range p.AuthInfo {
		n += 4 + len(id.Scheme) + 4 + len(id.ID)
	}
	return n
}

// Marshal returns the packet's bytes as they appear on the learner channel.
func (p *Packet) Marshal() []byte {
	return p.AppendMarshal(make([]byte, 0, p.Size()))
}

// AppendMarshal appends the packet's bytes to b and returns the extended
// slice. A connection writer passes its buffered writer's spare room
// (bufio.Writer.AvailableBuffer), so that a packet is encoded in place
// rather than into a buffer of its own per packet.
func (p *Packet) AppendMarshal(b []byte) []byte {
	e := jute.NewEncoder(b)
	p.Encode(e)
	return e.Bytes()
}

// UnmarshalPacket decodes exactly one packet from b; maxLen bounds the data
// buffer and each auth string (0 means jute.DefaultMaxBuffer).
func UnmarshalPacket(b []byte, maxLen int) (Packet, error) {
	var p Packet
	d := jute.NewDecoder(b, maxLen)
	p.Decode(d)
	if err := d.Err(); err != nil {
		return Packet{}, fmt.Errorf("%w: %w", ErrPacket, err)
	}
	if d.Remaining() != 0 {
		return Packet{}, fmt.Errorf("%w: %s: %d bytes after the record", ErrPacket, TypeName(p.Type), d.Remaining())
	}
	return p, nil
}

// Decoder reads packets written back to back on a learner connection.
// The learner channel has no frame length, so a bound on a packet's size
// must be enforced while reading it: every length is checked against what
// is left of the budget before anything is allocated.
type Decoder struct {
	r   io.Reader
	max int
	buf [8]byte
}

// NewDecoder returns a decoder reading from r that rejects packets whose
// encoding would exceed maxPacket bytes (0 means jute.DefaultMaxBuffer plus
// room for the header, like ZooKeeper's jute.maxbuffer check on the data).
// r should be buffered: the decoder issues small reads.
func NewDecoder(r io.Reader, maxPacket int) *Decoder {
	if maxPacket <= 0 {
		maxPacket = jute.DefaultMaxBuffer + packetHeaderLen
	}
	return &Decoder{r: r, max: maxPacket}
}

// Decode reads the next packet. It returns io.EOF, unwrapped, when the
// stream ends cleanly between packets; a stream ending inside a packet is
// an io.ErrUnexpectedEOF error. After an error the stream position is
// undefined and the connection should be closed.
func (d *Decoder) Decode() (Packet, error) {
	var p Packet
	budget := d.max
	typ, err := d.int32(&budget, "type", "")
	if err != nil {
		if err == io.EOF {
			return Packet{}, io.EOF
		}
		return Packet{}, fmt.Errorf("%w: type: %w", ErrPacket, err)
	}
	p.Type = typ
	if p.Zxid, err = d.int64(&budget, "zxid"); err != nil {
		return Packet{}, d.wrap(p, noEOF(err))
	}
	if p.Data, err = d.bytes(&budget, "data", 4); err != nil {
		return Packet{}, d.wrap(p, err)
	}
	n, err := d.int32(&budget, "authinfo count", "")
	if err != nil {
		return Packet{}, d.wrap(p, noEOF(err))
	}
	switch {
	case n == -1:
		return p, nil
	case n < -1:
		return Packet{}, d.wrap(p, fmt.Errorf("%w: negative authinfo count %d", jute.ErrLength, n))
	case int64(n)*8 > int64(budget):
		return Packet{}, d.wrap(p, fmt.Errorf("%w: authinfo count %d exceeds the %d-byte packet limit", jute.ErrLength, n, d.max))
	}
	p.AuthInfo = make([]proto.ID, 0, n)
	for i := range int(n) {
		scheme, err := d.bytes(&budget, "authinfo scheme", 4)
		if err != nil {
			return Packet{}, d.wrap(p, fmt.Errorf("authinfo %d: %w", i, err))
		}
		id, err := d.bytes(&budget, "authinfo id", 0)
		if err != nil {
			return Packet{}, d.wrap(p, fmt.Errorf("authinfo %d: %w", i, err))
		}
		p.AuthInfo = append(p.AuthInfo, proto.ID{Scheme: string(scheme), ID: string(id)})
	}
	return p, nil
}

func (d *Decoder) wrap(p Packet, err error) error {
	return fmt.Errorf("%w: %s zxid 0x%x: %w", ErrPacket, TypeName(p.Type), p.Zxid, err)
}

// read reads n bytes of the field named what+suffix, counted against
// budget. The name comes in two parts so that naming a length field
// ("data" " length") costs a concatenation only when there is an error to
// report, not on every packet.
func (d *Decoder) read(budget *int, n int, what, suffix string) ([]byte, error) {
	if n > *budget {
		return nil, fmt.Errorf("%w: %s%s exceeds the %d-byte packet limit", jute.ErrLength, what, suffix, d.max)
	}
	*budget -= n
	if _, err := io.ReadFull(d.r, d.buf[:n]); err != nil {
		return nil, err
	}
	return d.buf[:n], nil
}

func (d *Decoder) int32(budget *int, what, suffix string) (int32, error) {
	b, err := d.read(budget, 4, what, suffix)
	if err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}

func (d *Decoder) int64(budget *int, what string) (int64, error) {
	b, err := d.read(budget, 8, what, "")
	if err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// bytes reads a length-prefixed buffer; -1 is nil. reserve is the least
// number of bytes that must still follow it in a well-formed packet.
func (d *Decoder) bytes(budget *int, what string, reserve int) ([]byte, error) {
	n, err := d.int32(budget, what, " length")
	if err != nil {
		return nil, noEOF(err)
	}
	if n == -1 {
		return nil, nil
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: %s length %d", jute.ErrLength, what, n)
	}
	if int64(n)+int64(reserve) > int64(*budget) {
		return nil, fmt.Errorf("%w: %s length %d exceeds the %d-byte packet limit", jute.ErrLength, what, n, d.max)
	}
	*budget -= int(n)
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, fmt.Errorf("%s of %d bytes: %w", what, n, noEOF(err))
	}
	return b, nil
}
