// Package config reads ZooKeeper's zoo.cfg and myid files the way Apache
// ZooKeeper 3.8 does, so that an existing ensemble's configuration can be
// handed to zkd unchanged.
//
// The rules follow QuorumPeerConfig.parseProperties: keys ZooKeeper parses
// itself are typed fields here, and keys ZooKeeper turns into Java system
// properties ("zookeeper.<key>") are accepted both bare and with the
// "zookeeper." prefix, because operators set them either in zoo.cfg or with
// -Dzookeeper.<key> in JVMFLAGS. Settings specific to zkd live under "zkd.".
//
// Where ZooKeeper silently falls back to a default on a malformed value
// (system properties read with Integer.getInteger), zkd reports an error
// instead: a typo that quietly changes durability or limits is worse than a
// refusal to start.
package config

import (
	"fmt"
	"strconv"
	"time"
)

// PeerType is the role of a server in the ensemble. The numeric values are
// ZooKeeper's LearnerType ordinals, which the 4lw "conf" command prints.
type PeerType int

const (
	Participant PeerType = iota
	Observer
)

func (t PeerType) String() string {
	switch t {
	case Participant:
		return "participant"
	case Observer:
		return "observer"
	}
	return "PeerType(" + strconv.Itoa(int(t)) + ")"
}

// NoServerID is the value of Config.MyID when no myid file was read.
const NoServerID int64 = -1

// Server is one "server.N=" line: a member of the ensemble.
type Server struct {
	ID           int64
	Host         string // as written, without IPv6 brackets
	QuorumPort   int    // followers connect to the leader here
	ElectionPort int    // leader election connections
	Observer     bool
	// ClientHost and ClientPort come from the optional ";[host:]port" part.
	// ClientPort 0 means the line has no client part; ClientHost is then "".
	// A port without a host listens on all interfaces, "0.0.0.0", as in
	// ZooKeeper.
	ClientHost string
	ClientPort int
}

// String renders the server in the form ZooKeeper uses for membership
// (QuorumServer.toString), without the "server.N=" key.
func (s Server) String() string {
	role := "participant"
	if s.Observer {
		role = "observer"
	}
	out := fmt.Sprintf("%s:%d:%d:%s", bracketIPv6(s.Host), s.QuorumPort, s.ElectionPort, role)
	if s.ClientPort != 0 {
		out += fmt.Sprintf(";%s:%d", bracketIPv6(s.ClientHost), s.ClientPort)
	}
	return out
}

// Config is the effective configuration of one server. Parse fills in
// ZooKeeper's defaults for everything the file leaves out.
type Config struct {
	// Client listener.
	ClientPort              int    // 0: not set (no client listener unless a server line gives one)
	ClientPortAddress       string // "": all interfaces
	ClientPortListenBacklog int    // -1: operating system default
	MaxClientCnxns          int    // per client IP; 0: unlimited
	MaxCnxns                int    // in total; 0: unlimited

	// Time.
	TickTime  time.Duration
	InitLimit int // ticks a follower may take to connect and sync to the leader
	SyncLimit int // ticks a follower may lag behind the leader
	// ConnectToLearnerMasterLimit is in ticks; 0 means InitLimit.
	ConnectToLearnerMasterLimit int
	// Session timeouts negotiated with clients are clamped to these bounds.
	// Unless set explicitly they follow TickTime (2x and 20x).
	MinSessionTimeout    time.Duration
	MaxSessionTimeout    time.Duration
	MinSessionTimeoutSet bool
	MaxSessionTimeoutSet bool

	// Storage. Snapshots go to DataDir/version-2, the transaction log to
	// DataLogDir/version-2.
	DataDir    string
	DataLogDir string // "" means DataDir; see TxnLogDir
	// MyID is this server's id from DataDir/myid; NoServerID if not read.
	MyID int64

	// Ensemble.
	Servers              []Server // sorted by ID
	PeerType             PeerType
	ElectionAlg          int // ZooKeeper 3.6+ accepts only 3 (fast leader election)
	StandaloneEnabled    bool
	ReconfigEnabled      bool
	SyncEnabled          bool // observers log transactions to disk
	QuorumListenOnAllIPs bool
	ObserverMasterPort   int // 0: not set
	DynamicConfigFile    string
	// ConfigVersion is the membership version ("version=" in hex, or the
	// hex suffix of the dynamic config file name).
	ConfigVersion int64

	// Sessions.
	LocalSessionsEnabled          bool
	LocalSessionsUpgradingEnabled bool

	// Transaction log and snapshots.
	SnapCount             int   // transactions between snapshots; at least 2
	SnapSizeLimitKB       int64 // log size that also triggers a snapshot; <= 0 disables
	PreAllocSize          int64 // bytes; the file says kilobytes
	ForceSync             bool  // fsync the log before acknowledging
	FsyncWarningThreshold time.Duration

	// SnapshotCompression is snapshot.compression.method: "" (none), "gz"
	// or "snappy". Snapshots of every kind are read whatever it says.
	SnapshotCompression string

	// Container and TTL node reaping (znode.container.checkIntervalMs and
	// znode.container.maxPerMinute; ZooKeeper reads them only as -D
	// system properties, zkd also from zoo.cfg).
	ContainerCheckInterval   time.Duration
	ContainerMaxPerMinute    int
	AutopurgeSnapRetainCount int // at least 3
	AutopurgePurgeInterval   int // hours; 0 disables the purge task

	// Requests.
	JuteMaxBuffer          int // largest accepted packet, bytes
	ExtendedTypesEnabled   bool
	GlobalOutstandingLimit int
	SuperDigest            string // "super:<base64 sha1>"; "" disables the super user
	ReadOnlyModeEnabled    bool

	// Throttles (throttle.go): ZooKeeper's RequestThrottler and
	// BlueThrottle, configured by system property keys.
	RequestThrottle    RequestThrottle
	ConnectionThrottle ConnectionThrottle

	// FourLetterWhitelist is 4lw.commands.whitelist as written, split at
	// commas; nil when not set. Use FourLetterAllowed to check a command.
	FourLetterWhitelist []string

	// AdminServer (the /commands HTTP API).
	AdminEnableServer  bool
	AdminServerAddress string
	AdminServerPort    int
	AdminCommandURL    string
	AdminIdleTimeout   time.Duration

	// MetricsProvider holds the metricsProvider.* keys without the prefix
	// (className, httpHost, httpPort, exportJvmInfo, ...), as written.
	MetricsProvider map[string]string

	// HTTPAddress and HTTPPort serve zkd's metrics and console
	// (zkd.httpAddress, zkd.httpPort). They default to the AdminServer's.
	HTTPAddress string
	HTTPPort    int
	// Pprof serves Go's profiler at /debug/pprof/ on the HTTP port
	// (zkd.pprof.enabled, default off: it reveals internals and costs CPU
	// while profiling).
	Pprof bool
	// GCHeadroomMB is the garbage the Go heap may hold above its live size
	// before a collection, at least: under load, a second of garbage if
	// that is more (zkd.gc.headroomMB, default 16; 0 leaves Go's
	// GOGC=100, under which the heap grows to twice the tree). See
	// package gctuner.
	GCHeadroomMB int

	// Console holds the zkd.console.* keys without the prefix, as written;
	// package web/console parses and validates them (users, tokens, peers).
	Console map[string]string

	// source names the file the configuration came from and lines records
	// where each key was set, so that Validate can point at the line.
	source string
	lines  map[string]int
}

// Default returns the configuration `zkd server` runs with when no file is
// given: zoo_sample.cfg's settings (clientPort 2181, tickTime 2000) on top of
// ZooKeeper's defaults. DataDir is empty: the caller picks one.
func Default() *Config {
	c := baseDefaults()
	c.ClientPort = 2181
	c.TickTime = 2000 * time.Millisecond
	c.InitLimit = 10
	c.SyncLimit = 5
	c.applyTimeDefaults()
	return c
}

// baseDefaults is what ZooKeeper uses for every key a file leaves out.
func baseDefaults() *Config {
	c := &Config{
		ClientPortListenBacklog:  -1,
		MaxClientCnxns:           60,
		TickTime:                 3000 * time.Millisecond,
		MyID:                     NoServerID,
		PeerType:                 Participant,
		ElectionAlg:              3,
		StandaloneEnabled:        true,
		SyncEnabled:              true,
		SnapCount:                100000,
		SnapSizeLimitKB:          4194304,
		PreAllocSize:             65536 * 1024,
		ForceSync:                true,
		FsyncWarningThreshold:    time.Second,
		ContainerCheckInterval:   time.Minute,
		ContainerMaxPerMinute:    10000,
		AutopurgeSnapRetainCount: 3,
		JuteMaxBuffer:            0xfffff,
		GlobalOutstandingLimit:   1000,
		RequestThrottle:          defaultRequestThrottle(),
		ConnectionThrottle:       defaultConnectionThrottle(),
		AdminEnableServer:        true,
		AdminServerAddress:       "0.0.0.0",
		AdminServerPort:          8080,
		AdminCommandURL:          "/commands",
		AdminIdleTimeout:         30000 * time.Millisecond,
		HTTPAddress:              "0.0.0.0",
		HTTPPort:                 8080,
		GCHeadroomMB:             16,
	}
	c.applyTimeDefaults()
	return c
}

// applyTimeDefaults derives the session timeout bounds that were not set
// explicitly from TickTime, as ZooKeeper does.
func (c *Config) applyTimeDefaults() {
	if !c.MinSessionTimeoutSet {
		c.MinSessionTimeout = 2 * c.TickTime
	}
	if !c.MaxSessionTimeoutSet {
		c.MaxSessionTimeout = 20 * c.TickTime
	}
}

// TxnLogDir is the directory holding the transaction log: DataLogDir, or
// DataDir when DataLogDir is empty.
func (c *Config) TxnLogDir() string {
	if c.DataLogDir != "" {
		return c.DataLogDir
	}
	return c.DataDir
}

// Standalone reports whether the server runs alone rather than in an
// ensemble: there are no server lines, or exactly one participant and
// standaloneEnabled is true (ZooKeeper then ignores the single line, a
// concession to HBase).
func (c *Config) Standalone() bool {
	if len(c.Servers) == 0 {
		return true
	}
	return c.participants() == 1 && c.StandaloneEnabled
}

func (c *Config) participants() int {
	n := 0
	for _, s := range c.Servers {
		if !s.Observer {
			n++
		}
	}
	return n
}

// Self returns the server line for MyID.
func (c *Config) Self() (Server, bool) {
	for _, s := range c.Servers {
		if s.ID == c.MyID {
			return s, true
		}
	}
	return Server{}, false
}

// fourLetterWords are the commands ZooKeeper 3.8 knows; "*" in the
// whitelist enables exactly these.
var fourLetterWords = map[string]bool{
	"conf": true, "cons": true, "crst": true, "dirs": true, "dump": true,
	"envi": true, "gtmk": true, "ruok": true, "stmk": true, "srst": true,
	"srvr": true, "stat": true, "wchc": true, "wchp": true, "wchs": true,
	"mntr": true, "isro": true, "hash": true,
}

// FourLetterAllowed reports whether the four letter word cmd may run. As in
// ZooKeeper, srvr is always allowed (zkServer.sh status needs it) and isro
// is allowed when read-only mode is enabled; otherwise the command must be
// in 4lw.commands.whitelist, where "*" stands for every known command.
func (c *Config) FourLetterAllowed(cmd string) bool {
	if cmd == "srvr" || (cmd == "isro" && c.ReadOnlyModeEnabled) {
		return true
	}
	for _, w := range c.FourLetterWhitelist {
		if w == "*" {
			return fourLetterWords[cmd]
		}
		if w == cmd {
			return true
		}
	}
	return false
}

// Error is a setting zkd cannot accept. It names the key and, when known,
// the file and line where the key was set.
type Error struct {
	File   string // "" when the configuration did not come from a named file
	Line   int    // 0 when not tied to one line
	Key    string
	Value  string // the offending value as written, if any
	Reason string // what is wrong, e.g. `"abc" is not a number`
}

func (e *Error) Error() string {
	var where string
	switch {
	case e.File != "" && e.Line > 0:
		where = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.File != "":
		where = e.File + ": "
	case e.Line > 0:
		where = fmt.Sprintf("line %d: ", e.Line)
	}
	if e.Key == "" {
		return where + e.Reason
	}
	return where + e.Key + ": " + e.Reason
}

// errorf builds an Error for key, locating it from the recorded lines.
func (c *Config) errorf(key, value, format string, args ...any) *Error {
	return &Error{File: c.source, Line: c.lines[key], Key: key, Value: value, Reason: fmt.Sprintf(format, args...)}
}
