package config

import (
	"path/filepath"
	"strconv"
	"strings"
)

// snapshotSubdir is where ZooKeeper's FileTxnSnapLog keeps snapshots and
// logs below dataDir and dataLogDir; the conf command reports these paths.
const snapshotSubdir = "version-2"

// ConfLines renders the effective configuration as the 4lw "conf" command
// does (ZooKeeperServer.dumpConf, extended by QuorumZooKeeperServer in an
// ensemble). The directory sizes are only known at run time and are passed
// in, in bytes. ClientPort should be the port actually listened on; it is
// printed as -1 when 0, as ZooKeeper does without a client listener.
func (c *Config) ConfLines(dataDirSize, dataLogSize int64) []string {
	itoa := strconv.Itoa
	clientPort := c.ClientPort
	if clientPort == 0 {
		clientPort = -1
	}
	serverID := int64(0) // a standalone ZooKeeperServer reports 0
	if !c.Standalone() {
		serverID = c.MyID
	}
	lines := []string{
		"clientPort=" + itoa(clientPort),
		"secureClientPort=-1", // zkd has no TLS listener
		"dataDir=" + filepath.Join(c.DataDir, snapshotSubdir),
		"dataDirSize=" + strconv.FormatInt(dataDirSize, 10),
		"dataLogDir=" + filepath.Join(c.TxnLogDir(), snapshotSubdir),
		"dataLogSize=" + strconv.FormatInt(dataLogSize, 10),
		"tickTime=" + strconv.FormatInt(c.TickTime.Milliseconds(), 10),
		"maxClientCnxns=" + itoa(c.MaxClientCnxns),
		"minSessionTimeout=" + strconv.FormatInt(c.MinSessionTimeout.Milliseconds(), 10),
		"maxSessionTimeout=" + strconv.FormatInt(c.MaxSessionTimeout.Milliseconds(), 10),
		"clientPortListenBacklog=" + itoa(c.ClientPortListenBacklog),
		"serverId=" + strconv.FormatInt(serverID, 10),
	}
	if c.Standalone() {
		return lines
	}
	self, _ := c.Self()
	lines = append(lines,
		"initLimit="+itoa(c.InitLimit),
		"syncLimit="+itoa(c.SyncLimit),
		"electionAlg="+itoa(c.ElectionAlg),
		"electionPort="+itoa(self.ElectionPort),
		"quorumPort="+itoa(self.QuorumPort),
		"peerType="+itoa(int(c.PeerType)),
		"membership: ",
	)
	return append(lines, c.MembershipLines()...)
}

// ConfText is the exact text of the 4lw "conf" reply: ConfLines joined by
// newlines. In an ensemble ZooKeeper prints no newline after the final
// "version=" line; standalone, every line ends in one.
func (c *Config) ConfText(dataDirSize, dataLogSize int64) string {
	text := strings.Join(c.ConfLines(dataDirSize, dataLogSize), "\n")
	if c.Standalone() {
		text += "\n"
	}
	return text
}

// MembershipLines renders the ensemble as ZooKeeper's QuorumMaj.toString
// does: one "server.N=..." line per server in id order, then the version in
// hex. This is also the format of a dynamic config file and of the
// /zookeeper/config znode.
func (c *Config) MembershipLines() []string {
	lines := make([]string, 0, len(c.Servers)+1)
	for _, s := range c.Servers {
		lines = append(lines, "server."+strconv.FormatInt(s.ID, 10)+"="+s.String())
	}
	return append(lines, "version="+strconv.FormatUint(uint64(c.ConfigVersion), 16))
}

// bracketIPv6 writes an IPv6 literal in brackets so the port separator
// stays unambiguous.
func bracketIPv6(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}
