package peer

import (
	"slices"

	"github.com/zkd-io/zkd/server/quorum/wire"
)

// Read-only views of the member's configuration for the four-letter words
// and the AdminServer (leader, voting_view, zabstate), which report the
// membership and this member's addresses as ZooKeeper does.

// ID is this member's server id (myid).
func (p *Peer) ID() int64 { return p.cfg.ID }

// QuorumConfig returns a copy of the quorum config the member runs with:
// every server line, voters and observers, with their addresses.
func (p *Peer) QuorumConfig() wire.QuorumConfig {
	q := p.cfg.Quorum
	q.Servers = slices.Clone(q.Servers)
	for i := range q.Servers {
		q.Servers[i].Addrs = slices.Clone(q.Servers[i].Addrs)
	}
	return q
}

// Server returns the config line of server id, if it is a member.
func (p *Peer) Server(id int64) (wire.QuorumServer, bool) {
	for _, s := range p.cfg.Quorum.Servers {
		if s.ID == id {
			s.Addrs = slices.Clone(s.Addrs)
			return s, true
		}
	}
	return wire.QuorumServer{}, false
}

// IsObserver reports whether server id is an observer of the config.
func (p *Peer) IsObserver(id int64) bool {
	s, ok := p.Server(id)
	return ok && s.Type == wire.Observer
}
