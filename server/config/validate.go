package config

import (
	"strconv"
	"time"
)

// maxExtendedServerID is the largest server id usable with extended types
// (TTL nodes): the id shares the ephemeralOwner field with the type bits.
const maxExtendedServerID = 0xfe

// Validate checks the configuration as a whole: the values Parse checks,
// plus what needs the data directory, namely that dataDir is set and that a
// server in an ensemble knows its id (myid) and finds it among the server
// lines. Load calls it; callers that build a Config from Default call it
// after filling in DataDir.
func (c *Config) Validate() error {
	return c.check(true)
}

// check validates c; full adds the checks that need dataDir and myid.
func (c *Config) check(full bool) error {
	if full && c.DataDir == "" {
		return c.errorf("dataDir", "", "is not set")
	}
	if c.TickTime < time.Millisecond {
		return c.errorf("tickTime", "", "%v is not a positive number of milliseconds", c.TickTime)
	}
	for _, p := range []struct {
		key  string
		port int
	}{
		{"clientPort", c.ClientPort},
		{"observerMasterPort", c.ObserverMasterPort},
		{"admin.serverPort", c.AdminServerPort},
		{"zkd.httpPort", c.HTTPPort},
	} {
		if p.port < 0 || p.port > 65535 {
			return c.errorf(p.key, "", "%d is not a port number (0-65535)", p.port)
		}
	}
	if c.ClientPortAddress != "" && c.ClientPort == 0 {
		return c.errorf("clientPortAddress", c.ClientPortAddress, "is set but clientPort is not")
	}
	for _, n := range []struct {
		key   string
		value int
		min   int
	}{
		{"maxClientCnxns", c.MaxClientCnxns, 0},
		{"maxCnxns", c.MaxCnxns, 0},
		{"initLimit", c.InitLimit, 0},
		{"syncLimit", c.SyncLimit, 0},
		{"connectToLearnerMasterLimit", c.ConnectToLearnerMasterLimit, 0},
		{"snapCount", c.SnapCount, 2},
		{"autopurge.snapRetainCount", c.AutopurgeSnapRetainCount, 3},
		{"autopurge.purgeInterval", c.AutopurgePurgeInterval, 0},
		{"jute.maxbuffer", c.JuteMaxBuffer, 1},
		{"globalOutstandingLimit", c.GlobalOutstandingLimit, 1},
	} {
		if n.value < n.min {
			return c.errorf(n.key, "", "%d is below the minimum of %d", n.value, n.min)
		}
	}
	if err := c.checkThrottles(); err != nil {
		return err
	}
	if c.PreAllocSize < 0 {
		return c.errorf("preAllocSize", "", "%d bytes must not be negative", c.PreAllocSize)
	}
	if c.FsyncWarningThreshold < 0 {
		return c.errorf("fsync.warningthresholdms", "", "%v must not be negative", c.FsyncWarningThreshold)
	}
	if c.MinSessionTimeout < 0 || c.MaxSessionTimeout < 0 {
		return c.errorf("minSessionTimeout", "", "session timeouts must not be negative (%v, %v)", c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	if c.MinSessionTimeout > c.MaxSessionTimeout {
		return c.errorf("minSessionTimeout", "", "%d ms is larger than maxSessionTimeout (%d ms)",
			c.MinSessionTimeout.Milliseconds(), c.MaxSessionTimeout.Milliseconds())
	}
	if c.ElectionAlg != 3 {
		return c.errorf("electionAlg", "", "%d is not supported: only 3 (fast leader election) is", c.ElectionAlg)
	}
	if c.PeerType != Participant && c.PeerType != Observer {
		return c.errorf("peerType", "", "%v is not participant or observer", c.PeerType)
	}
	if err := c.checkServers(); err != nil {
		return err
	}
	// With a dynamicConfigFile the server lines arrive after Parse.
	if full || c.DynamicConfigFile == "" {
		if err := c.checkMembership(); err != nil {
			return err
		}
	}
	if !c.Standalone() {
		if c.InitLimit == 0 {
			return c.errorf("initLimit", "", "is not set; an ensemble needs it")
		}
		if c.SyncLimit == 0 {
			return c.errorf("syncLimit", "", "is not set; an ensemble needs it")
		}
	}
	if full {
		return c.checkMyID()
	}
	return nil
}

// checkServers checks each server line on its own and that ids are unique.
func (c *Config) checkServers() error {
	seen := map[int64]bool{}
	for _, s := range c.Servers {
		key := "server." + strconv.FormatInt(s.ID, 10)
		switch {
		case s.ID < 0:
			return c.errorf(key, "", "%d is not a server id (a number >= 0)", s.ID)
		case seen[s.ID]:
			return c.errorf(key, "", "duplicate server id %d", s.ID)
		case s.Host == "":
			return c.errorf(key, "", "host is empty")
		case s.QuorumPort < 1 || s.QuorumPort > 65535:
			return c.errorf(key, "", "quorum port %d is not a port number (1-65535)", s.QuorumPort)
		case s.ElectionPort < 1 || s.ElectionPort > 65535:
			return c.errorf(key, "", "election port %d is not a port number (1-65535)", s.ElectionPort)
		case s.QuorumPort == s.ElectionPort:
			return c.errorf(key, "", "quorum and election port are both %d; they must differ", s.QuorumPort)
		case s.ClientPort < 0 || s.ClientPort > 65535:
			return c.errorf(key, "", "client port %d is not a port number (1-65535)", s.ClientPort)
		}
		seen[s.ID] = true
	}
	return nil
}

// checkMembership applies ZooKeeper's rules on the shape of the ensemble
// (QuorumPeerConfig.parseDynamicConfig).
func (c *Config) checkMembership() error {
	participants := c.participants()
	observers := len(c.Servers) - participants
	switch {
	case participants == 0 && !c.StandaloneEnabled:
		return c.errorf("standaloneEnabled", "false", "is false, so at least one participant server line is needed")
	case participants == 0 && observers > 0:
		return &Error{File: c.source, Reason: "observers without participants are not a valid ensemble"}
	case participants == 1 && c.StandaloneEnabled && observers > 0:
		return &Error{File: c.source, Reason: "observers with a single participant are not a valid ensemble (set standaloneEnabled=false to run a one-voter ensemble)"}
	}
	return nil
}

// checkMyID checks that a server in an ensemble has an id that is listed.
func (c *Config) checkMyID() error {
	if c.Standalone() {
		return nil
	}
	if c.MyID == NoServerID {
		return c.errorf("dataDir", c.DataDir, "myid file is missing: a server in an ensemble needs its id in %s/myid", c.DataDir)
	}
	if _, ok := c.Self(); !ok {
		return c.errorf("dataDir", c.DataDir, "myid %d has no server.%d line", c.MyID, c.MyID)
	}
	if c.ExtendedTypesEnabled && c.MyID > maxExtendedServerID {
		return c.errorf("extendedTypesEnabled", "true", "needs server ids up to %d, but myid is %d", maxExtendedServerID, c.MyID)
	}
	return nil
}
