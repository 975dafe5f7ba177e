package peer

import (
	"fmt"

	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/quorum/zab"
)

// toPacket encodes a core message as the QuorumPacket ZooKeeper sends for
// it. quorum is the config NEWLEADER carries; a SNAP's Payload must already
// be the encoded snapshot stream ([]byte).
func toPacket(m zab.Message, self int64, quorum *wire.QuorumConfig) (wire.Packet, error) {
	p := wire.Packet{Type: int32(m.Type), Zxid: m.Zxid}
	switch m.Type {
	case zab.MsgProposal, zab.MsgInform:
		p.Data = wire.EncodeTxn(&wire.Txn{Header: m.Entry.Hdr, Body: m.Entry.Txn, Digest: m.Entry.Digest})
	case zab.MsgFollowerInfo, zab.MsgObserverInfo:
		p.Data = wire.LearnerInfo{SID: self, ProtocolVersion: wire.ProtocolVersion, ConfigVersion: quorum.Version}.Encode()
	case zab.MsgLeaderInfo:
		p.Data = wire.EncodeInt(wire.ProtocolVersion)
	case zab.MsgAckEpoch:
		p.Data = wire.EncodeInt(int32(m.Epoch))
	case zab.MsgNewLeader:
		p.Data = wire.EncodeNewLeader(quorum)
	case zab.MsgSnap:
		// The database follows the packet on the stream (role.send).
	case zab.MsgRequest:
		p.Data, p.AuthInfo = m.Data, m.Auth
	case zab.MsgSync, zab.MsgPing:
		p.Data = m.Data
	}
	return p, nil
}

// fromPacket decodes a QuorumPacket received from peer `from` into a core
// message addressed to self.
func fromPacket(p wire.Packet, from, self int64, maxLen int) (zab.Message, error) {
	m := zab.Message{Type: zab.MsgType(p.Type), From: from, To: self, Zxid: p.Zxid}
	switch p.Type {
	case wire.TypeProposal, wire.TypeInform:
		t, err := wire.DecodeTxn(p.Data, maxLen)
		if err != nil {
			return m, fmt.Errorf("peer: %s %#x from %d: %w", wire.TypeName(p.Type), p.Zxid, from, err)
		}
		m.Entry = &zab.Entry{Hdr: t.Header, Txn: t.Body, Digest: t.Digest}
	case wire.TypeAckEpoch:
		e, err := wire.DecodeAckEpoch(p.Data)
		if err != nil {
			return m, fmt.Errorf("peer: ACKEPOCH from %d: %w", from, err)
		}
		m.Epoch = int64(e)
	case wire.TypeSnap:
		m.Snapshot = &zab.SnapshotReq{Zxid: p.Zxid, Payload: p.Data}
	case wire.TypeRequest:
		m.Data, m.Auth = p.Data, p.AuthInfo
	case wire.TypeSync, wire.TypePing:
		m.Data = p.Data
	case wire.TypeAck, wire.TypeCommit, wire.TypeNewLeader, wire.TypeFollowerInfo, wire.TypeUpToDate,
		wire.TypeDiff, wire.TypeTrunc, wire.TypeObserverInfo, wire.TypeLeaderInfo:
	default:
		return m, fmt.Errorf("peer: unsupported packet %s from %d", wire.TypeName(p.Type), from)
	}
	return m, nil
}
