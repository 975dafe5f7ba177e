package zkserver

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/zkd-io/zkd/server/admin"
	"github.com/zkd-io/zkd/server/quorum/peer"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/snapshot"
)

// AdminSource exposes the server's state to the AdminServer commands
// (package admin): what the four-letter words see, plus the
// configuration and the last snapshot. initialConfig is the text of the
// zoo.cfg the server was started from ("" without one), which
// initial_configuration reports.
func (s *Server) AdminSource(initialConfig string) admin.Source {
	return adminSource{fourLetterSource: fourLetterSource{s}, initialConfig: initialConfig}
}

type adminSource struct {
	fourLetterSource
	initialConfig string
}

var (
	_ admin.Source       = adminSource{}
	_ admin.QuorumSource = adminSource{}
)

// Configuration starts from the server's options and takes what they do
// not hold (the directories, the listen backlog) and what zoo.cfg states
// from the conf lines, when the server has them.
func (a adminSource) Configuration() admin.Configuration {
	s := a.s
	c := admin.Configuration{
		ClientPort:              -1,
		TickTime:                s.opts.TickTime,
		MaxClientCnxns:          s.opts.MaxClientCnxns,
		MinSessionTimeout:       s.opts.MinSessionTimeout,
		MaxSessionTimeout:       s.opts.MaxSessionTimeout,
		ServerID:                s.opts.ServerID,
		ClientPortListenBacklog: -1,
	}
	if addr, ok := s.Addr().(*net.TCPAddr); ok && addr != nil {
		c.ClientPort = addr.Port
	}
	if s.store != nil {
		c.DataDir, c.DataLogDir = s.store.SnapDir(), s.store.LogDir()
	}
	if s.opts.Conf == nil {
		return c
	}
	for _, line := range s.opts.Conf() {
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(value, 10, 64)
		switch key {
		case "dataDir":
			c.DataDir = value
		case "dataLogDir":
			c.DataLogDir = value
		}
		if err != nil {
			continue
		}
		switch key {
		case "clientPort":
			c.ClientPort = int(n)
		case "clientPortListenBacklog":
			c.ClientPortListenBacklog = int(n)
		case "serverId":
			c.ServerID = n
		case "maxClientCnxns":
			c.MaxClientCnxns = int(n)
		}
	}
	return c
}

func (a adminSource) InitialConfiguration() string { return a.initialConfig }

// LastSnapshot reports the newest valid snapshot file in the snapshot
// directory: the one the server last wrote, or restored from.
func (a adminSource) LastSnapshot() (admin.Snapshot, bool) {
	if a.s.store == nil {
		return admin.Snapshot{}, false
	}
	files, err := snapshot.List(a.s.store.SnapDir())
	if err != nil {
		return admin.Snapshot{}, false
	}
	for _, f := range files {
		if !f.Valid {
			continue
		}
		info, err := os.Stat(f.Path)
		if err != nil {
			continue
		}
		return admin.Snapshot{Zxid: f.Zxid, Written: info.ModTime()}, true
	}
	return admin.Snapshot{}, false
}

// Quorum reports the ensemble view for leader, voting_view, zabstate and
// observers; a standalone server has none, nor has a member while it
// looks for a leader.
func (a adminSource) Quorum() (admin.Quorum, bool) {
	s := a.s
	if s.q == nil {
		return admin.Quorum{}, false
	}
	p := s.q.peer
	st := p.Status()
	if st.State == peer.Looking {
		// Between roles ZooKeeper's AdminServer has no quorum server and
		// answers zabstate as a standalone server does.
		return admin.Quorum{}, false
	}
	cfg := p.QuorumConfig()
	q := admin.Quorum{
		MyID:     p.ID(),
		Leading:  st.State == peer.Leading,
		LeaderID: st.Leader,
		LastZxid: a.Server().Zxid,
	}
	if l, ok := p.Server(st.Leader); ok && len(l.Addrs) > 0 {
		q.LeaderHost = l.Addrs[0].Host
	}
	q.ZabState = "broadcast"
	if !st.Established {
		// ZooKeeper tells discovery (epoch agreement) from
		// synchronization; the peer reports both as not established.
		q.ZabState = "synchronization"
	}
	// The client address ZooKeeper gives its own entry when the server
	// line names none: the one its clients connect to.
	self := ""
	if addr, ok := s.Addr().(*net.TCPAddr); ok && addr != nil {
		host := "0.0.0.0"
		if !addr.IP.IsUnspecified() {
			host = addr.IP.String()
		}
		self = admin.HostPort{Host: host, Port: addr.Port}.String()
	}
	q.ClientAddr = self
	for _, m := range cfg.Servers {
		if m.ID == q.MyID {
			q.QuorumAddrs, q.ElectionAddrs = addrs(m)
			q.Voting = m.Type != wire.Observer
		}
	}
	for _, id := range hashOrder(&cfg) {
		m, _ := p.Server(id)
		if m.Type == wire.Observer {
			continue
		}
		v := admin.Member{ID: m.ID, LearnerType: m.Type.String()}
		v.ServerAddrs, v.ElectionAddrs = addrs(m)
		switch {
		case m.ClientPort != 0 || m.ClientHost != "":
			v.ClientAddr = admin.HostPort{Host: m.ClientHost, Port: m.ClientPort}.String()
		case m.ID == q.MyID:
			v.ClientAddr = self
		}
		q.Voters = append(q.Voters, v)
	}
	if q.Leading {
		for _, f := range st.Followers {
			if p.IsObserver(f.ID) {
				q.Observers = append(q.Observers, admin.ObserverConn{SID: f.ID, LastZxid: f.AckedZxid,
					Remote: "/" + f.Remote, Established: f.Connected, QueuedPackets: int64(f.QueuedPackets),
					QueuedPacketsSize: f.QueuedPacketsSize, PacketsReceived: f.PacketsReceived,
					PacketsSent: f.PacketsSent, Requests: f.Requests})
			}
		}
		q.SyncedObservers = len(q.Observers)
	}
	return q, true
}

// addrs splits a server line's address pairs into quorum and election
// addresses.
func addrs(m wire.QuorumServer) (quorum, election []admin.HostPort) {
	for _, a := range m.Addrs {
		quorum = append(quorum, admin.HostPort{Host: a.Host, Port: a.QuorumPort})
		election = append(election, admin.HostPort{Host: a.Host, Port: a.ElectionPort})
	}
	return quorum, election
}

// hashOrder returns the server ids in the order ZooKeeper's HashMap of
// members iterates them, which QuorumConfig.String already follows.
func hashOrder(cfg *wire.QuorumConfig) []int64 {
	var ids []int64
	for line := range strings.Lines(cfg.String()) {
		rest, ok := strings.CutPrefix(line, "server.")
		if !ok {
			continue
		}
		id, _, _ := strings.Cut(rest, "=")
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	return ids
}
