package config

import (
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exported returns a copy of c without the bookkeeping fields, so configs
// can be compared with reflect.DeepEqual.
func exported(c *Config) Config {
	cp := *c
	cp.source, cp.lines = "", nil
	return cp
}

func mustParse(t *testing.T, in string) (*Config, []string) {
	t.Helper()
	c, warnings, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c, warnings
}

// zookeeperDefaults is what ZooKeeper 3.8 uses when a file sets only
// dataDir, spelled out independently of baseDefaults.
func zookeeperDefaults() Config {
	return Config{
		ClientPortListenBacklog:  -1,
		MaxClientCnxns:           60,
		TickTime:                 3 * time.Second,
		MinSessionTimeout:        6 * time.Second,
		MaxSessionTimeout:        60 * time.Second,
		DataDir:                  "/d",
		DataLogDir:               "/d",
		MyID:                     -1,
		ElectionAlg:              3,
		StandaloneEnabled:        true,
		SyncEnabled:              true,
		SnapCount:                100000,
		SnapSizeLimitKB:          4194304,
		PreAllocSize:             64 << 20,
		ForceSync:                true,
		FsyncWarningThreshold:    time.Second,
		ContainerCheckInterval:   time.Minute,
		ContainerMaxPerMinute:    10000,
		AutopurgeSnapRetainCount: 3,
		JuteMaxBuffer:            1048575,
		GlobalOutstandingLimit:   1000,
		RequestThrottle: RequestThrottle{
			StallTime:            100 * time.Millisecond,
			DropStale:            true,
			StaleConnectionCheck: true,
		},
		ConnectionThrottle: ConnectionThrottle{
			FillTime:            time.Millisecond,
			FillCount:           1,
			FreezeTime:          -time.Millisecond,
			DropIncrease:        0.02,
			DropDecrease:        0.002,
			GlobalSessionWeight: 3,
			LocalSessionWeight:  1,
			RenewSessionWeight:  2,
		},
		AdminEnableServer:  true,
		AdminServerAddress: "0.0.0.0",
		AdminServerPort:    8080,
		AdminCommandURL:    "/commands",
		AdminIdleTimeout:   30 * time.Second,
		HTTPAddress:        "0.0.0.0",
		HTTPPort:           8080,
		GCHeadroomMB:       16,
	}
}

func TestParseSample(t *testing.T) {
	f, err := os.Open("testdata/zoo_sample.cfg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, warnings, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	want := zookeeperDefaults()
	want.TickTime = 2 * time.Second
	want.MinSessionTimeout = 4 * time.Second
	want.MaxSessionTimeout = 40 * time.Second
	want.InitLimit, want.SyncLimit = 10, 5
	want.DataDir, want.DataLogDir = "/tmp/zookeeper", "/tmp/zookeeper"
	want.ClientPort = 2181
	if got := exported(c); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if !c.Standalone() {
		t.Error("sample config is not standalone")
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	want := zookeeperDefaults()
	want.DataDir, want.DataLogDir = "", ""
	want.ClientPort = 2181
	want.TickTime = 2 * time.Second
	want.MinSessionTimeout = 4 * time.Second
	want.MaxSessionTimeout = 40 * time.Second
	want.InitLimit, want.SyncLimit = 10, 5
	if got := exported(c); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "dataDir: is not set") {
		t.Errorf("Validate without dataDir: %v", err)
	}
	c.DataDir = "/var/lib/zkd"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with dataDir: %v", err)
	}
	if c.TxnLogDir() != "/var/lib/zkd" {
		t.Errorf("TxnLogDir = %q", c.TxnLogDir())
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string // appended to "dataDir=/d\n"
		want func(c *Config)
	}{
		{"only dataDir", "", func(c *Config) {}},
		{"dataLogDir", "dataLogDir=/log", func(c *Config) { c.DataLogDir = "/log" }},
		{"session timeouts follow tickTime", "tickTime=1000", func(c *Config) {
			c.TickTime = time.Second
			c.MinSessionTimeout, c.MaxSessionTimeout = 2*time.Second, 20*time.Second
		}},
		{"explicit session timeouts", "minSessionTimeout=1000\nmaxSessionTimeout=90000", func(c *Config) {
			c.MinSessionTimeout, c.MaxSessionTimeout = time.Second, 90*time.Second
			c.MinSessionTimeoutSet, c.MaxSessionTimeoutSet = true, true
		}},
		{"session timeout -1 means unset", "minSessionTimeout=-1\ntickTime=100", func(c *Config) {
			c.TickTime = 100 * time.Millisecond
			c.MinSessionTimeout, c.MaxSessionTimeout = 200*time.Millisecond, 2*time.Second
		}},
		{"client port and address", "clientPort=2182\nclientPortAddress=127.0.0.1", func(c *Config) {
			c.ClientPort, c.ClientPortAddress = 2182, "127.0.0.1"
		}},
		{"connection limits", "maxClientCnxns=0\nmaxCnxns=500\nclientPortListenBacklog=128", func(c *Config) {
			c.MaxClientCnxns, c.MaxCnxns, c.ClientPortListenBacklog = 0, 500, 128
		}},
		{"booleans in any case", "localSessionsEnabled=TRUE\nlocalSessionsUpgradingEnabled=true\nsyncEnabled=False\nquorumListenOnAllIPs=true\nreconfigEnabled=true\nstandaloneEnabled=true", func(c *Config) {
			c.LocalSessionsEnabled, c.LocalSessionsUpgradingEnabled = true, true
			c.SyncEnabled, c.QuorumListenOnAllIPs, c.ReconfigEnabled = false, true, true
		}},
		{"autopurge", "autopurge.snapRetainCount=10\nautopurge.purgeInterval=24", func(c *Config) {
			c.AutopurgeSnapRetainCount, c.AutopurgePurgeInterval = 10, 24
		}},
		{"system property keys, bare", "snapCount=5000\npreAllocSize=1024\nforceSync=no\njute.maxbuffer=4194304\nextendedTypesEnabled=true\nglobalOutstandingLimit=2000\nsnapSizeLimitInKb=-1\nfsync.warningthresholdms=50", func(c *Config) {
			c.SnapCount, c.PreAllocSize, c.ForceSync = 5000, 1<<20, false
			c.JuteMaxBuffer, c.ExtendedTypesEnabled, c.GlobalOutstandingLimit = 4194304, true, 2000
			c.SnapSizeLimitKB, c.FsyncWarningThreshold = -1, 50*time.Millisecond
		}},
		{"system property keys, prefixed", "zookeeper.snapCount=7\nzookeeper.preAllocSize=0\nzookeeper.forceSync=yes\nzookeeper.jute.maxbuffer=0x100000\nzookeeper.extendedTypesEnabled=TRUE\nzookeeper.fsync.warningthresholdms=2000\nzookeeper.maxCnxns=10", func(c *Config) {
			c.SnapCount, c.PreAllocSize = 7, 0
			c.JuteMaxBuffer, c.ExtendedTypesEnabled = 1<<20, true
			c.FsyncWarningThreshold, c.MaxCnxns = 2*time.Second, 10
		}},
		{"system property numbers decode like Integer.decode", "snapCount=#10\nglobalOutstandingLimit=010\njute.maxbuffer=+0X20", func(c *Config) {
			c.SnapCount, c.GlobalOutstandingLimit, c.JuteMaxBuffer = 16, 8, 32
		}},
		{"super digest with and without prefix", "DigestAuthenticationProvider.superDigest=super:abc=", func(c *Config) {
			c.SuperDigest = "super:abc="
		}},
		{"super digest prefixed", "zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=", func(c *Config) {
			c.SuperDigest = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
		}},
		{"4lw whitelist", "4lw.commands.whitelist=stat, ruok,,conf ", func(c *Config) {
			c.FourLetterWhitelist = []string{"stat", "ruok", "conf"}
		}},
		{"4lw whitelist prefixed", "zookeeper.4lw.commands.whitelist=*", func(c *Config) {
			c.FourLetterWhitelist = []string{"*"}
		}},
		{"admin server", "admin.enableServer=false\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=9090\nadmin.commandURL=/cmd\nadmin.idleTimeout=1000", func(c *Config) {
			c.AdminEnableServer, c.AdminServerAddress, c.AdminServerPort = false, "127.0.0.1", 9090
			c.AdminCommandURL, c.AdminIdleTimeout = "/cmd", time.Second
			c.HTTPAddress, c.HTTPPort = "127.0.0.1", 9090 // follow the AdminServer
		}},
		{"zkd http", "admin.serverPort=9090\nzkd.httpPort=7070\nzkd.httpAddress=10.0.0.1", func(c *Config) {
			c.AdminServerPort, c.HTTPPort, c.HTTPAddress = 9090, 7070, "10.0.0.1"
		}},
		{"metrics provider kept raw", "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\nmetricsProvider.httpPort=7000\nmetricsProvider.exportJvmInfo=true", func(c *Config) {
			c.MetricsProvider = map[string]string{
				"className":     "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
				"httpPort":      "7000",
				"exportJvmInfo": "true",
			}
		}},
		{"readonly mode", "readonlymode.enabled=true", func(c *Config) { c.ReadOnlyModeEnabled = true }},
		{"version is hex", "version=100000000", func(c *Config) { c.ConfigVersion = 0x100000000 }},
		{"electionAlg 3", "electionAlg=3", func(c *Config) {}},
		{"peerType", "peerType=OBSERVER", func(c *Config) { c.PeerType = Observer }},
		{"observerMasterPort", "observerMasterPort=2191", func(c *Config) { c.ObserverMasterPort = 2191 }},
		{"later value wins", "tickTime=1000\ntickTime=500", func(c *Config) {
			c.TickTime = 500 * time.Millisecond
			c.MinSessionTimeout, c.MaxSessionTimeout = time.Second, 10*time.Second
		}},
		{"colon and blank separators, continuation", "tickTime : 1000\ninitLimit 10\nsyncLimit=\\\n  5", func(c *Config) {
			c.TickTime, c.InitLimit, c.SyncLimit = time.Second, 10, 5
			c.MinSessionTimeout, c.MaxSessionTimeout = 2*time.Second, 20*time.Second
		}},
		{"ensemble", "initLimit=10\nsyncLimit=5\nserver.3=zk3:2888:3888\nserver.1=zk1:2888:3888\nserver.2=zk2:2888:3888;2181", func(c *Config) {
			c.InitLimit, c.SyncLimit = 10, 5
			c.Servers = []Server{
				{ID: 1, Host: "zk1", QuorumPort: 2888, ElectionPort: 3888},
				{ID: 2, Host: "zk2", QuorumPort: 2888, ElectionPort: 3888, ClientHost: "0.0.0.0", ClientPort: 2181},
				{ID: 3, Host: "zk3", QuorumPort: 2888, ElectionPort: 3888},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustParse(t, "dataDir=/d\n"+tt.in)
			want := zookeeperDefaults()
			tt.want(&want)
			if got := exported(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		key  string // Error.Key
		want string // full message
	}{
		{"tickTime not a number", "tickTime=abc", "tickTime", `line 1: tickTime: "abc" is not a number`},
		{"tickTime zero", "tickTime=0", "tickTime", `line 1: tickTime: "0" must be a positive number of milliseconds`},
		{"tickTime too large", "tickTime=3000000000", "tickTime", `line 1: tickTime: "3000000000" is out of range`},
		{"tickTime with unit", "tickTime=2s", "tickTime", `line 1: tickTime: "2s" is not a number`},
		{"clientPort out of range", "clientPort=70000", "clientPort", `line 1: clientPort: "70000" is not a port number (1-65535)`},
		{"clientPort negative", "clientPort=-1", "clientPort", `line 1: clientPort: "-1" is not a port number (1-65535)`},
		{"clientPortAddress without clientPort", "clientPortAddress=127.0.0.1", "clientPortAddress", `line 1: clientPortAddress: is set but clientPort is not`},
		{"negative initLimit", "initLimit=-1", "initLimit", `line 1: initLimit: "-1" must not be negative`},
		{"negative syncLimit", "syncLimit=-5", "syncLimit", `line 1: syncLimit: "-5" must not be negative`},
		{"min above max session timeout", "\nminSessionTimeout=50000\nmaxSessionTimeout=40000", "minSessionTimeout", `line 2: minSessionTimeout: 50000 ms is larger than maxSessionTimeout (40000 ms)`},
		{"min above default max", "minSessionTimeout=70000", "minSessionTimeout", `line 1: minSessionTimeout: 70000 ms is larger than maxSessionTimeout (60000 ms)`},
		{"negative session timeout", "maxSessionTimeout=-2", "maxSessionTimeout", `line 1: maxSessionTimeout: "-2" must not be negative`},
		{"electionAlg 1", "electionAlg=1", "electionAlg", `line 1: electionAlg: "1" is not supported: only 3 (fast leader election) is`},
		{"bad boolean", "syncEnabled=yes", "syncEnabled", `line 1: syncEnabled: "yes" is not true or false`},
		{"bad peerType", "peerType=leader", "peerType", `line 1: peerType: "leader" is not participant or observer`},
		{"forceSync false", "forceSync=false", "forceSync", `line 1: forceSync: "false" is not yes or no`},
		{"prefixed key named as written", "zookeeper.snapCount=lots", "zookeeper.snapCount", `line 1: zookeeper.snapCount: "lots" is not a number`},
		{"octal with 8", "snapCount=08", "snapCount", `line 1: snapCount: "08" is not a number`},
		{"preAllocSize hex", "preAllocSize=0x10", "preAllocSize", `line 1: preAllocSize: "0x10" is not a number`},
		{"preAllocSize overflow", "preAllocSize=9223372036854775807", "preAllocSize", `line 1: preAllocSize: "9223372036854775807" is out of range`},
		{"jute.maxbuffer zero", "jute.maxbuffer=0", "jute.maxbuffer", `line 1: jute.maxbuffer: "0" must be a positive number of bytes`},
		{"globalOutstandingLimit zero", "globalOutstandingLimit=0", "globalOutstandingLimit", `line 1: globalOutstandingLimit: "0" must be positive`},
		{"admin port", "admin.serverPort=65536", "admin.serverPort", `line 1: admin.serverPort: "65536" is not a port number (0-65535)`},
		{"zkd http port", "zkd.httpPort=x", "zkd.httpPort", `line 1: zkd.httpPort: "x" is not a number`},
		{"fsync threshold negative", "fsync.warningthresholdms=-1", "fsync.warningthresholdms", `line 1: fsync.warningthresholdms: "-1" is not a duration in milliseconds >= 0`},
		{"super digest without colon", "DigestAuthenticationProvider.superDigest=abc", "DigestAuthenticationProvider.superDigest", `line 1: DigestAuthenticationProvider.superDigest: "abc" is not of the form super:<base64 digest>`},
		{"empty dataDir", "dataDir=", "dataDir", `line 1: dataDir: value is empty`},
		{"bad version", "version=xyz", "version", `line 1: version: "xyz" is not a hexadecimal version`},
		{"server id not a number", "server.a=h:1:2", "server.a", `line 1: server.a: "a" is not a server id (a number >= 0)`},
		{"server id negative", "server.-1=h:1:2", "server.-1", `line 1: server.-1: "-1" is not a server id (a number >= 0)`},
		{"server too few parts", "server.1=h:2888", "server.1", `line 1: server.1: "h:2888" is not of the form host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`},
		{"server too many parts", "server.1=h:1:2:observer:x", "server.1", `is not of the form`},
		{"server unbracketed IPv6", "server.1=::1:2888:3888", "server.1", `is not of the form`},
		{"server unclosed bracket", "server.1=[::1:2888:3888", "server.1", `is not of the form`},
		{"server bad port", "server.1=h:x:3888", "server.1", `line 1: server.1: quorum port: "x" is not a number`},
		{"server port zero", "server.1=h:0:3888", "server.1", `line 1: server.1: quorum port: "0" is not a port number (1-65535)`},
		{"server election port range", "server.1=h:2888:99999", "server.1", `line 1: server.1: election port: "99999" is not a port number (1-65535)`},
		{"server same ports", "server.1=h:2888:2888", "server.1", `line 1: server.1: "h:2888:2888" uses port 2888 for both quorum and election; they must differ`},
		{"server bad role", "server.1=h:2888:3888:leader", "server.1", `line 1: server.1: "leader" is not participant or observer`},
		{"server bad client port", "server.1=h:2888:3888;abc", "server.1", `line 1: server.1: client port: "abc" is not a number`},
		{"server client too many parts", "server.1=h:2888:3888;a:b:2181", "server.1", `is not of the form`},
		{"server client part only a colon", "server.1=h:2888:3888;:", "server.1", `is not of the form`},
		{"server two semicolons", "server.1=h:2888:3888;2181;x", "server.1", `is not of the form`},
		{"server multiple addresses", "server.1=a:1:2|b:1:2", "server.1", `lists several addresses, which zkd does not support (multiAddress)`},
		{"server empty host", "server.1=:2888:3888", "server.1", `has an empty host`},
		{"duplicate server id", "initLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2\nserver.01=c:1:2", "server.01", `line 5: server.01: duplicate server id 1 (also on line 3)`},
		{"repeated server key", "server.1=a:1:2\nserver.1=a:1:2", "server.1", `line 2: server.1: duplicate server id 1 (also on line 1)`},
		{"group", "group.1=1:2:3", "group.1", `hierarchical quorums (group/weight) are not supported by zkd`},
		{"weight", "weight.1=2", "weight.1", `hierarchical quorums`},
		{"server lines next to dynamicConfigFile", "server.1=a:1:2\ndynamicConfigFile=/x", "server.1", `line 1: server.1: must be in the dynamic config file when dynamicConfigFile is set`},
		{"ensemble without initLimit", "syncLimit=5\nserver.1=a:1:2\nserver.2=b:1:2", "initLimit", `initLimit: is not set; an ensemble needs it`},
		{"ensemble without syncLimit", "initLimit=5\nserver.1=a:1:2\nserver.2=b:1:2", "syncLimit", `syncLimit: is not set; an ensemble needs it`},
		{"standaloneEnabled=false without servers", "standaloneEnabled=false", "standaloneEnabled", `line 1: standaloneEnabled: is false, so at least one participant server line is needed`},
		{"observers only", "server.1=a:1:2:observer", "", `observers without participants are not a valid ensemble`},
		{"one participant and an observer", "server.1=a:1:2\nserver.2=b:1:2:observer", "", `observers with a single participant are not a valid ensemble`},
		{"malformed escape", "a=\\uzzzz", "", `line 1: malformed \uxxxx escape`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *Error", err)
			}
			if ce.Key != tt.key {
				t.Errorf("Error.Key = %q, want %q", ce.Key, tt.key)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name  string
		in    string // appended to "dataDir=/d\n"
		want  []string
		check func(t *testing.T, c *Config)
	}{
		{name: "no warnings", in: "tickTime=2000", want: nil},
		{name: "unknown key", in: "fooBar=1", want: []string{
			"line 2: fooBar is not a setting zkd knows; ignored (ZooKeeper would set the Java system property zookeeper.fooBar)"}},
		{name: "unknown zkd key", in: "zkd.httpPrt=1", want: []string{"line 2: zkd.httpPrt is not a zkd setting; ignored"}},
		{name: "unsupported keys", in: "secureClientPort=2281\nquorum.auth.enableSasl=true\nssl.keyStore.location=/k", want: []string{
			"line 2: secureClientPort is not supported by zkd; ignored",
			"line 3: quorum.auth.enableSasl is not supported by zkd; ignored",
			"line 4: ssl.keyStore.location is not supported by zkd; ignored",
		}},
		{name: "reconfig enabled", in: "reconfigEnabled=true", want: []string{
			"line 2: reconfigEnabled=true: zkd has no dynamic reconfiguration; reconfig requests fail with RECONFIGDISABLED"}},
		{name: "reconfig disabled", in: "reconfigEnabled=false", want: nil},
		{name: "repeated key", in: "tickTime=1\ntickTime=2", want: []string{"line 3: tickTime overrides the value set on line 2"}},
		{name: "bare and prefixed spelling", in: "snapCount=10\nzookeeper.snapCount=20", want: []string{
			"line 3: zookeeper.snapCount overrides the value set on line 2"},
			check: func(t *testing.T, c *Config) {
				if c.SnapCount != 20 {
					t.Errorf("SnapCount = %d, want the later 20", c.SnapCount)
				}
			}},
		{name: "snapRetainCount below 3", in: "autopurge.snapRetainCount=1", want: []string{
			"line 2: autopurge.snapRetainCount=1 is below the minimum; using 3"},
			check: func(t *testing.T, c *Config) {
				if c.AutopurgeSnapRetainCount != 3 {
					t.Errorf("AutopurgeSnapRetainCount = %d", c.AutopurgeSnapRetainCount)
				}
			}},
		{name: "snapCount below 2", in: "snapCount=1", want: []string{"line 2: snapCount=1 is below the minimum; using 2"},
			check: func(t *testing.T, c *Config) {
				if c.SnapCount != 2 {
					t.Errorf("SnapCount = %d", c.SnapCount)
				}
			}},
		{name: "negative limits mean unlimited", in: "maxClientCnxns=-1\nmaxCnxns=-3\nautopurge.purgeInterval=-1", want: []string{
			"line 2: maxClientCnxns=-1: a negative limit means unlimited, as 0 does",
			"line 3: maxCnxns=-3: a negative limit means unlimited, as 0 does",
			"line 4: autopurge.purgeInterval=-1: a negative interval disables the purge task, as 0 does",
		}, check: func(t *testing.T, c *Config) {
			if c.MaxClientCnxns != 0 || c.MaxCnxns != 0 || c.AutopurgePurgeInterval != 0 {
				t.Errorf("limits = %d, %d, %d; want 0", c.MaxClientCnxns, c.MaxCnxns, c.AutopurgePurgeInterval)
			}
		}},
		{name: "unknown four letter word", in: "4lw.commands.whitelist=stat,ruk", want: []string{
			`line 2: 4lw.commands.whitelist: "ruk" is not a four letter word command`}},
		{name: "single server", in: "server.1=a:1:2", want: []string{
			"only one server is listed and standaloneEnabled is true: running standalone, the server line is ignored"}},
		{name: "two servers", in: "initLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2", want: []string{
			"no server failure will be tolerated: an ensemble needs at least 3 servers"}},
		{name: "four servers", in: "initLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2\nserver.5=e:1:2:observer", want: []string{
			"4 voting servers tolerate no more failures than 3: consider an odd number of servers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings := mustParse(t, "dataDir=/d\n"+tt.in)
			if !reflect.DeepEqual(warnings, tt.want) {
				t.Errorf("warnings:\n got  %q\n want %q", warnings, tt.want)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		key, value string
		want       Server
	}{
		{"server.1", "zk1:2888:3888", Server{ID: 1, Host: "zk1", QuorumPort: 2888, ElectionPort: 3888}},
		{"server.2", "10.0.0.2:2888:3888", Server{ID: 2, Host: "10.0.0.2", QuorumPort: 2888, ElectionPort: 3888}},
		{"server.3", "zk3:2888:3888:participant", Server{ID: 3, Host: "zk3", QuorumPort: 2888, ElectionPort: 3888}},
		{"server.4", "zk4:2888:3888:observer", Server{ID: 4, Host: "zk4", QuorumPort: 2888, ElectionPort: 3888, Observer: true}},
		{"server.5", "zk5:2888:3888: Observer ", Server{ID: 5, Host: "zk5", QuorumPort: 2888, ElectionPort: 3888, Observer: true}},
		{"server.6", "zk6:2888:3888;2181", Server{ID: 6, Host: "zk6", QuorumPort: 2888, ElectionPort: 3888, ClientHost: "0.0.0.0", ClientPort: 2181}},
		{"server.7", "zk7:2888:3888;10.0.0.7:2181", Server{ID: 7, Host: "zk7", QuorumPort: 2888, ElectionPort: 3888, ClientHost: "10.0.0.7", ClientPort: 2181}},
		{"server.8", "zk8:2888:3888:observer;0.0.0.0:2181", Server{ID: 8, Host: "zk8", QuorumPort: 2888, ElectionPort: 3888, Observer: true, ClientHost: "0.0.0.0", ClientPort: 2181}},
		{"server.9", "[2001:db8::9]:2888:3888;[::1]:2181", Server{ID: 9, Host: "2001:db8::9", QuorumPort: 2888, ElectionPort: 3888, ClientHost: "::1", ClientPort: 2181}},
		{"server.10", "zk10:2888:3888;", Server{ID: 10, Host: "zk10", QuorumPort: 2888, ElectionPort: 3888}},
		{"server.11", "zk11:2888:3888:", Server{ID: 11, Host: "zk11", QuorumPort: 2888, ElectionPort: 3888}},
		{"server.0", "zk0:1:2", Server{ID: 0, Host: "zk0", QuorumPort: 1, ElectionPort: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			got, err := parseServer(tt.key, tt.value)
			if err != nil {
				t.Fatalf("parseServer: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestServerString(t *testing.T) {
	tests := []struct {
		s    Server
		want string
	}{
		{Server{ID: 1, Host: "zk1", QuorumPort: 2888, ElectionPort: 3888}, "zk1:2888:3888:participant"},
		{Server{ID: 2, Host: "zk2", QuorumPort: 2888, ElectionPort: 3888, Observer: true, ClientHost: "0.0.0.0", ClientPort: 2181}, "zk2:2888:3888:observer;0.0.0.0:2181"},
		{Server{ID: 3, Host: "::1", QuorumPort: 2888, ElectionPort: 3888, ClientHost: "fe80::1", ClientPort: 2181}, "[::1]:2888:3888:participant;[fe80::1]:2181"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.s, got, tt.want)
		}
		// The rendering must parse back to the same server.
		back, err := parseServer("server."+strconv.FormatInt(tt.s.ID, 10), tt.s.String())
		if err != nil || back != tt.s {
			t.Errorf("round trip of %q: %+v, %v", tt.s.String(), back, err)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{"10", 10, ""},
		{"+10", 10, ""},
		{"-10", -10, ""},
		{"0", 0, ""},
		{"0x1F", 31, ""},
		{"0X1f", 31, ""},
		{"#ff", 255, ""},
		{"-0x10", -16, ""},
		{"010", 8, ""},
		{"-0x80000000", -1 << 31, ""},
		{"0x80000000", 0, "out of range"},
		{"08", 0, "not a number"},
		{"0x", 0, "not a number"},
		{"0x-1", 0, "not a number"},
		{"", 0, "not a number"},
		{"1_000", 0, "not a number"},
	}
	for _, tt := range tests {
		got, err := decode(tt.in, 32)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("decode(%q) = %d, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("decode(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestFourLetterAllowed(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		allowed  []string
		disabled []string
	}{
		{"default is srvr only", "", []string{"srvr"}, []string{"ruok", "stat", "mntr", "isro", "conf"}},
		{"list", "4lw.commands.whitelist=stat, ruok", []string{"srvr", "stat", "ruok"}, []string{"mntr", "conf"}},
		{"star", "4lw.commands.whitelist=*", []string{"srvr", "stat", "mntr", "conf", "wchc", "isro", "hash"}, []string{"nope", ""}},
		{"star anywhere", "4lw.commands.whitelist=ruok, *", []string{"mntr", "dump"}, []string{"xxxx"}},
		{"read-only mode adds isro", "readonlymode.enabled=true", []string{"srvr", "isro"}, []string{"ruok"}},
		{"empty list", "4lw.commands.whitelist=", []string{"srvr"}, []string{"ruok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustParse(t, "dataDir=/d\n"+tt.in)
			for _, cmd := range tt.allowed {
				if !c.FourLetterAllowed(cmd) {
					t.Errorf("%q not allowed", cmd)
				}
			}
			for _, cmd := range tt.disabled {
				if c.FourLetterAllowed(cmd) {
					t.Errorf("%q allowed", cmd)
				}
			}
		})
	}
}

func TestStandalone(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"no servers", "", true},
		{"one participant", "server.1=a:1:2", true},
		{"one participant, standalone disabled", "standaloneEnabled=false\ninitLimit=1\nsyncLimit=1\nserver.1=a:1:2", false},
		{"one participant and an observer, standalone disabled", "standaloneEnabled=false\ninitLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2:observer", false},
		{"three participants", "initLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mustParse(t, "dataDir=/d\n"+tt.in)
			if got := c.Standalone(); got != tt.want {
				t.Errorf("Standalone() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidateProgrammatic(t *testing.T) {
	// Validate also guards configs built in code rather than parsed.
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"valid", func(c *Config) {}, ""},
		{"zero tick", func(c *Config) { c.TickTime = 0 }, "tickTime: 0s is not a positive number of milliseconds"},
		{"port", func(c *Config) { c.HTTPPort = 70000 }, "zkd.httpPort: 70000 is not a port number"},
		{"snapCount", func(c *Config) { c.SnapCount = 1 }, "snapCount: 1 is below the minimum of 2"},
		{"retain", func(c *Config) { c.AutopurgeSnapRetainCount = 2 }, "autopurge.snapRetainCount: 2 is below the minimum of 3"},
		{"duplicate ids", func(c *Config) {
			c.InitLimit, c.SyncLimit = 1, 1
			c.Servers = []Server{{ID: 1, Host: "a", QuorumPort: 1, ElectionPort: 2}, {ID: 1, Host: "b", QuorumPort: 1, ElectionPort: 2}}
		}, "server.1: duplicate server id 1"},
		{"ensemble without myid", func(c *Config) {
			c.Servers = []Server{{ID: 1, Host: "a", QuorumPort: 1, ElectionPort: 2}, {ID: 2, Host: "b", QuorumPort: 1, ElectionPort: 2}}
		}, "dataDir: myid file is missing"},
		{"myid not listed", func(c *Config) {
			c.MyID = 3
			c.Servers = []Server{{ID: 1, Host: "a", QuorumPort: 1, ElectionPort: 2}, {ID: 2, Host: "b", QuorumPort: 1, ElectionPort: 2}}
		}, "dataDir: myid 3 has no server.3 line"},
		{"extended types and large id", func(c *Config) {
			c.MyID, c.ExtendedTypesEnabled = 300, true
			c.Servers = []Server{{ID: 300, Host: "a", QuorumPort: 1, ElectionPort: 2}, {ID: 2, Host: "b", QuorumPort: 1, ElectionPort: 2}}
		}, "extendedTypesEnabled: needs server ids up to 254, but myid is 300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.DataDir = "/d"
			tt.modify(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParse checks that no input makes Parse panic, and that whatever it
// accepts passes its own static checks.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"dataDir=/d\nclientPort=2181",
		"server.1=[::1]:1:2;[::1]:3\nserver.2=a:1:2:observer;4",
		"a\\\n b=\\u0041\\",
		"snapCount=0x10\npreAllocSize=-1\n4lw.commands.whitelist=*",
		"server.=[]:\nversion=-1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, _, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		if err := c.check(false); err != nil {
			t.Errorf("Parse accepted a config its checks reject: %v", err)
		}
		_ = c.ConfLines(0, 0)
	})
}

func TestSnapshotCompression(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{"snapshot.compression.method=gz", "gz", true},
		{"zookeeper.snapshot.compression.method=snappy", "snappy", true},
		{"snapshot.compression.method=", "", true},
		{"snapshot.compression.method=zstd", "", false},
	} {
		c, _, err := Parse(strings.NewReader("dataDir=/d\n" + tc.line + "\n"))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err=%v", tc.line, err)
			continue
		}
		if err == nil && c.SnapshotCompression != tc.want {
			t.Errorf("%q: got %q", tc.line, c.SnapshotCompression)
		}
	}
}
