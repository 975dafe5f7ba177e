package transport

import (
	"github.com/zkd-io/zkd/server/quorum/election"
	"github.com/zkd-io/zkd/server/quorum/wire"
)

// toWire maps an election notification to its wire form. The wire form
// carries the sender's whole quorum config as text instead of a version
// number; configText is this server's config rendered by wire.QuorumConfig,
// which is what ZooKeeper's buildMsg sends.
func toWire(n election.Notification, configText []byte) wire.Notification {
	return wire.Notification{
		State:         int32(n.State),
		Leader:        n.Leader,
		Zxid:          n.Zxid,
		ElectionEpoch: n.ElectionEpoch,
		PeerEpoch:     n.PeerEpoch,
		Version:       wire.NotificationVersion,
		Config:        configText,
	}
}

// fromWire maps a received notification to the election's form. Only the
// config's version matters to the election; a config that does not parse
// counts as version 0, the static config's, since ZooKeeper too goes on with
// the vote when it cannot use the config (dynamic reconfiguration is not
// supported here). An unknown state is passed on: the election ignores it
// from voters but still answers non-voters, as ZooKeeper does.
func fromWire(n wire.Notification) election.Notification {
	out := election.Notification{
		State:         election.State(n.State),
		Leader:        n.Leader,
		Zxid:          n.Zxid,
		ElectionEpoch: n.ElectionEpoch,
		PeerEpoch:     n.PeerEpoch,
		Version:       n.Version,
	}
	if len(n.Config) > 0 {
		if qc, err := wire.ParseQuorumConfig(string(n.Config)); err == nil {
			out.ConfigVersion = qc.Version
		}
	}
	return out
}
