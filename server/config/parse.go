package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Parse reads a zoo.cfg from r and returns the configuration with
// ZooKeeper's defaults for everything left out, plus warnings for settings
// that were ignored or adjusted. It does no file I/O: the myid file and a
// dynamicConfigFile are read by Load. An error names the key and the bad
// value; errors are of type *Error.
//
// Parse checks everything that does not depend on the data directory;
// Validate checks the rest.
func Parse(r io.Reader) (*Config, []string, error) {
	return parse(r, "")
}

func parse(r io.Reader, source string) (*Config, []string, error) {
	props, err := readProperties(r)
	if err != nil {
		return nil, nil, &Error{File: source, Reason: err.Error()}
	}
	p := &parser{
		c:           baseDefaults(),
		source:      source,
		serverLines: map[int64]int{},
	}
	p.c.source = source
	p.c.lines = map[string]int{}

	// Java's Properties keeps the last value of a repeated key. Server
	// lines are exempt: a repeated server id is an error, not an override.
	last := map[string]int{}
	for i, pr := range props {
		k := canonicalKey(pr.key)
		if k == "dynamicConfigFile" {
			p.hasDynamic = true
		}
		if j, ok := last[k]; ok && !strings.HasPrefix(k, "server.") {
			p.warnf(pr.line, "%s overrides the value set on line %d", pr.key, props[j].line)
		}
		last[k] = i
	}
	for i, pr := range props {
		k := canonicalKey(pr.key)
		if last[k] != i && !strings.HasPrefix(k, "server.") {
			continue
		}
		p.c.lines[k] = pr.line
		if err := p.set(k, pr); err != nil {
			return nil, nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	return p.c, p.warnings, nil
}

// parser carries the state of one Parse call.
type parser struct {
	c           *Config
	source      string
	warnings    []string
	hasDynamic  bool
	serverLines map[int64]int // server id -> line, to report duplicates

	httpAddressSet bool
	httpPortSet    bool
}

func (p *parser) warnf(line int, format string, args ...any) {
	prefix := ""
	switch {
	case p.source != "" && line > 0:
		prefix = fmt.Sprintf("%s:%d: ", p.source, line)
	case p.source != "":
		prefix = p.source + ": "
	case line > 0:
		prefix = fmt.Sprintf("line %d: ", line)
	}
	p.warnings = append(p.warnings, prefix+fmt.Sprintf(format, args...))
}

func (p *parser) errorf(pr property, format string, args ...any) *Error {
	return &Error{File: p.source, Line: pr.line, Key: pr.key, Value: pr.value, Reason: fmt.Sprintf(format, args...)}
}

// valueError turns a failure of one of the value parsers into an *Error.
func (p *parser) valueError(pr property, err error) *Error {
	return &Error{File: p.source, Line: pr.line, Key: pr.key, Value: pr.value, Reason: err.Error()}
}

// systemPropertyKeys are settings ZooKeeper reads from Java system
// properties named "zookeeper.<key>" (a few, like jute.maxbuffer and
// readonlymode.enabled, without the prefix). zoo.cfg reaches them because
// ZooKeeper turns every key it does not know into "zookeeper.<key>"; zkd
// accepts both spellings in the file.
var systemPropertyKeys = map[string]bool{
	"snapCount":                                true,
	"snapSizeLimitInKb":                        true,
	"preAllocSize":                             true,
	"forceSync":                                true,
	"fsync.warningthresholdms":                 true,
	"jute.maxbuffer":                           true,
	"extendedTypesEnabled":                     true,
	"globalOutstandingLimit":                   true,
	"DigestAuthenticationProvider.superDigest": true,
	"4lw.commands.whitelist":                   true,
	"readonlymode.enabled":                     true,
	"admin.enableServer":                       true,
	"admin.serverAddress":                      true,
	"admin.serverPort":                         true,
	"admin.commandURL":                         true,
	"admin.idleTimeout":                        true,
	"maxCnxns":                                 true,
	"znode.container.checkIntervalMs":          true,
	"snapshot.compression.method":              true,
	"znode.container.maxPerMinute":             true,
	// The throttles (throttle.go).
	"request_throttle_max_requests":             true,
	"request_throttle_stall_time":               true,
	"request_throttle_drop_stale":               true,
	"request_stale_connection_check":            true,
	"request_stale_latency_check":               true,
	"throttled_op_wait_time":                    true,
	"connection_throttle_tokens":                true,
	"connection_throttle_fill_time":             true,
	"connection_throttle_fill_count":            true,
	"connection_throttle_freeze_time":           true,
	"connection_throttle_drop_increase":         true,
	"connection_throttle_drop_decrease":         true,
	"connection_throttle_decrease_ratio":        true,
	"connection_throttle_weight_enabled":        true,
	"connection_throttle_global_session_weight": true,
	"connection_throttle_local_session_weight":  true,
	"connection_throttle_renew_session_weight":  true,
}

// canonicalKey maps the "zookeeper."-prefixed spelling of a system
// property key to the bare one, so both set the same field.
func canonicalKey(key string) string {
	if bare, ok := strings.CutPrefix(key, "zookeeper."); ok && systemPropertyKeys[bare] {
		return bare
	}
	return key
}

// unsupportedKeys are ZooKeeper settings zkd recognises but does not
// implement (TLS, SASL between servers, multiple addresses per server, the
// JVM pause monitor, ...). They are ignored with a warning.
var unsupportedKeys = map[string]bool{
	"secureClientPort":                        true,
	"secureClientPortAddress":                 true,
	"sslQuorum":                               true,
	"portUnification":                         true,
	"sslQuorumReloadCertFiles":                true,
	"quorum.cnxn.threads.size":                true,
	"multiAddress.enabled":                    true,
	"multiAddress.reachabilityCheckTimeoutMs": true,
	"multiAddress.reachabilityCheckEnabled":   true,
	"oraclePath":                              true,
	"jvm.pause.monitor":                       true,
	"jvm.pause.info-threshold.ms":             true,
	"jvm.pause.warn-threshold.ms":             true,
	"jvm.pause.sleep.time.ms":                 true,
	"skipACL":                                 true,
	"zookeeper.skipACL":                       true,
	"serverCnxnFactory":                       true,
	"zookeeper.serverCnxnFactory":             true,
}

var unsupportedPrefixes = []string{"quorum.auth.", "ssl.", "zookeeper.ssl.", "authProvider.", "zookeeper.authProvider."}

func isUnsupported(key string) bool {
	if unsupportedKeys[key] {
		return true
	}
	for _, prefix := range unsupportedPrefixes {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return false
}

// set applies one property; key is its canonical name.
func (p *parser) set(key string, pr property) error {
	c, v := p.c, pr.value
	var err error
	switch key {
	// Keys QuorumPeerConfig parses itself (decimal, Integer.parseInt).
	case "dataDir":
		if v == "" {
			return p.errorf(pr, "value is empty")
		}
		c.DataDir = v
	case "dataLogDir":
		if v == "" {
			return p.errorf(pr, "value is empty")
		}
		c.DataLogDir = v
	case "clientPort":
		c.ClientPort, err = parsePort(v, true)
	case "clientPortAddress":
		c.ClientPortAddress = v
	case "clientPortListenBacklog":
		c.ClientPortListenBacklog, err = parseInt(v)
	case "tickTime":
		var ms int
		if ms, err = parseInt(v); err == nil {
			if ms <= 0 {
				return p.errorf(pr, "%q must be a positive number of milliseconds", v)
			}
			c.TickTime = time.Duration(ms) * time.Millisecond
		}
	case "maxClientCnxns":
		if c.MaxClientCnxns, err = parseInt(v); err == nil && c.MaxClientCnxns < 0 {
			p.warnf(pr.line, "%s=%s: a negative limit means unlimited, as 0 does", pr.key, v)
			c.MaxClientCnxns = 0
		}
	case "minSessionTimeout":
		c.MinSessionTimeout, c.MinSessionTimeoutSet, err = parseSessionTimeout(v)
	case "maxSessionTimeout":
		c.MaxSessionTimeout, c.MaxSessionTimeoutSet, err = parseSessionTimeout(v)
	case "initLimit":
		c.InitLimit, err = parseNonNegative(v)
	case "syncLimit":
		c.SyncLimit, err = parseNonNegative(v)
	case "connectToLearnerMasterLimit":
		c.ConnectToLearnerMasterLimit, err = parseNonNegative(v)
	case "electionAlg":
		if c.ElectionAlg, err = parseInt(v); err == nil && c.ElectionAlg != 3 {
			return p.errorf(pr, "%q is not supported: only 3 (fast leader election) is", v)
		}
	case "quorumListenOnAllIPs":
		c.QuorumListenOnAllIPs, err = parseBool(v)
	case "localSessionsEnabled":
		c.LocalSessionsEnabled, err = parseBool(v)
	case "localSessionsUpgradingEnabled":
		c.LocalSessionsUpgradingEnabled, err = parseBool(v)
	case "syncEnabled":
		c.SyncEnabled, err = parseBool(v)
	case "standaloneEnabled":
		c.StandaloneEnabled, err = parseBool(v)
	case "reconfigEnabled":
		c.ReconfigEnabled, err = parseBool(v)
		if err == nil && c.ReconfigEnabled {
			// An operator who turns it on expects the reconfig command to
			// work; say at startup that it will not, rather than only in
			// each client's error.
			p.warnf(pr.line, "reconfigEnabled=true: zkd has no dynamic reconfiguration; reconfig requests fail with RECONFIGDISABLED")
		}
	case "peerType":
		switch strings.ToLower(v) {
		case "participant":
			c.PeerType = Participant
		case "observer":
			c.PeerType = Observer
		default:
			return p.errorf(pr, "%q is not participant or observer", v)
		}
	case "dynamicConfigFile":
		if v == "" {
			return p.errorf(pr, "value is empty")
		}
		c.DynamicConfigFile = v
	case "autopurge.snapRetainCount":
		if c.AutopurgeSnapRetainCount, err = parseInt(v); err == nil && c.AutopurgeSnapRetainCount < 3 {
			p.warnf(pr.line, "%s=%s is below the minimum; using 3", pr.key, v)
			c.AutopurgeSnapRetainCount = 3
		}
	case "autopurge.purgeInterval":
		if c.AutopurgePurgeInterval, err = parseInt(v); err == nil && c.AutopurgePurgeInterval < 0 {
			p.warnf(pr.line, "%s=%s: a negative interval disables the purge task, as 0 does", pr.key, v)
			c.AutopurgePurgeInterval = 0
		}
	case "observerMasterPort":
		if c.ObserverMasterPort, err = parseInt(v); err == nil {
			if c.ObserverMasterPort > 65535 {
				return p.errorf(pr, "%q is not a port number (0-65535)", v)
			}
			c.ObserverMasterPort = max(c.ObserverMasterPort, 0) // <= 0 means not set
		}
	case "version":
		// The membership version, in hex (QuorumMaj).
		c.ConfigVersion, err = parseHexVersion(v)

	// System property keys (Integer.decode: decimal, 0x hex or 0 octal).
	case "snapCount":
		if c.SnapCount, err = decodeInt(v, 32); err == nil && c.SnapCount < 2 {
			p.warnf(pr.line, "%s=%s is below the minimum; using 2", pr.key, v)
			c.SnapCount = 2
		}
	case "snapSizeLimitInKb":
		c.SnapSizeLimitKB, err = decodeInt64(v)
	case "preAllocSize":
		// FilePadding reads it with Long.parseLong: decimal only.
		var kb int64
		if kb, err = strconv.ParseInt(v, 10, 64); err != nil {
			err = numberError(v, err)
		} else if kb > math.MaxInt64/1024 || kb < math.MinInt64/1024 {
			err = fmt.Errorf("%q is out of range", v)
		} else {
			c.PreAllocSize = max(kb, 0) * 1024 // <= 0 turns preallocation off
		}
	case "forceSync":
		switch v {
		case "yes":
			c.ForceSync = true
		case "no":
			c.ForceSync = false
		default:
			// ZooKeeper treats everything but "no" as yes, so
			// "false" would silently keep fsync on.
			return p.errorf(pr, "%q is not yes or no", v)
		}
	case "fsync.warningthresholdms":
		var ms int64
		if ms, err = decodeInt64(v); err == nil {
			if ms < 0 || ms > math.MaxInt64/int64(time.Millisecond) {
				return p.errorf(pr, "%q is not a duration in milliseconds >= 0", v)
			}
			c.FsyncWarningThreshold = time.Duration(ms) * time.Millisecond
		}
	case "snapshot.compression.method":
		switch v {
		case "", "gz", "snappy":
			c.SnapshotCompression = v
		default:
			return p.errorf(pr, "%q is not one of \"\" (none), gz, snappy", v)
		}
	case "znode.container.checkIntervalMs":
		var ms int64
		if ms, err = decodeInt64(v); err == nil {
			if ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
				return p.errorf(pr, "%q is not a positive number of milliseconds", v)
			}
			c.ContainerCheckInterval = time.Duration(ms) * time.Millisecond
		}
	case "znode.container.maxPerMinute":
		if c.ContainerMaxPerMinute, err = decodeInt(v, 32); err == nil && c.ContainerMaxPerMinute <= 0 {
			return p.errorf(pr, "%q must be positive", v)
		}
	case "jute.maxbuffer":
		if c.JuteMaxBuffer, err = decodeInt(v, 32); err == nil && c.JuteMaxBuffer <= 0 {
			return p.errorf(pr, "%q must be a positive number of bytes", v)
		}
	case "extendedTypesEnabled":
		c.ExtendedTypesEnabled, err = parseBool(v)
	case "globalOutstandingLimit":
		if c.GlobalOutstandingLimit, err = decodeInt(v, 32); err == nil && c.GlobalOutstandingLimit <= 0 {
			return p.errorf(pr, "%q must be positive", v)
		}
	case "DigestAuthenticationProvider.superDigest":
		if v != "" && !strings.Contains(v, ":") {
			return p.errorf(pr, "%q is not of the form super:<base64 digest>", v)
		}
		c.SuperDigest = v
	case "4lw.commands.whitelist":
		c.FourLetterWhitelist = parseWhitelist(v)
		for _, w := range c.FourLetterWhitelist {
			if w != "*" && !fourLetterWords[w] {
				p.warnf(pr.line, "%s: %q is not a four letter word command", pr.key, w)
			}
		}
	case "readonlymode.enabled":
		c.ReadOnlyModeEnabled, err = parseBool(v)
	case "admin.enableServer":
		c.AdminEnableServer, err = parseBool(v)
	case "admin.serverAddress":
		c.AdminServerAddress = v
	case "admin.serverPort":
		var port int
		if port, err = decodeInt(v, 32); err == nil {
			if port < 0 || port > 65535 {
				return p.errorf(pr, "%q is not a port number (0-65535)", v)
			}
			c.AdminServerPort = port
		}
	case "admin.commandURL":
		c.AdminCommandURL = v
	case "admin.idleTimeout":
		var ms int
		if ms, err = decodeInt(v, 32); err == nil {
			if ms < 0 {
				return p.errorf(pr, "%q is not a duration in milliseconds >= 0", v)
			}
			c.AdminIdleTimeout = time.Duration(ms) * time.Millisecond
		}
	case "maxCnxns":
		if c.MaxCnxns, err = decodeInt(v, 32); err == nil && c.MaxCnxns < 0 {
			p.warnf(pr.line, "%s=%s: a negative limit means unlimited, as 0 does", pr.key, v)
			c.MaxCnxns = 0
		}

	// zkd's own keys.
	case "zkd.httpAddress":
		c.HTTPAddress, p.httpAddressSet = v, true
	case "zkd.httpPort":
		c.HTTPPort, err = parsePort(v, true)
		p.httpPortSet = true
	case "zkd.pprof.enabled":
		c.Pprof, err = parseBool(v)
	case "zkd.gc.headroomMB":
		var mb int
		if mb, err = decodeInt(v, 32); err == nil {
			if mb < 0 {
				return p.errorf(pr, "%q is not a size in MB >= 0", v)
			}
			c.GCHeadroomMB = mb
		}

	default:
		if ok, err := p.setThrottle(key, pr); ok {
			return err
		}
		return p.setOther(key, pr)
	}
	if err != nil {
		return p.valueError(pr, err)
	}
	return nil
}

// setOther handles keys matched by prefix and keys zkd does not use.
func (p *parser) setOther(key string, pr property) error {
	switch {
	case strings.HasPrefix(key, "server.") ||
		strings.HasPrefix(key, "group") || strings.HasPrefix(key, "weight"):
		if p.hasDynamic {
			return p.errorf(pr, "must be in the dynamic config file when dynamicConfigFile is set")
		}
		return p.setMember(pr)
	case strings.HasPrefix(key, "metricsProvider."):
		p.setMetricsProvider(key, pr.value)
	case strings.HasPrefix(key, "zkd.console."):
		if p.c.Console == nil {
			p.c.Console = map[string]string{}
		}
		p.c.Console[strings.TrimPrefix(key, "zkd.console.")] = pr.value
	case strings.HasPrefix(key, "zkd."):
		p.warnf(pr.line, "%s is not a zkd setting; ignored", pr.key)
	case isUnsupported(key):
		p.warnf(pr.line, "%s is not supported by zkd; ignored", pr.key)
	default:
		p.warnf(pr.line, "%s is not a setting zkd knows; ignored (ZooKeeper would set the Java system property zookeeper.%s)", pr.key, pr.key)
	}
	return nil
}

func (p *parser) setMetricsProvider(key, value string) {
	if p.c.MetricsProvider == nil {
		p.c.MetricsProvider = map[string]string{}
	}
	p.c.MetricsProvider[strings.TrimPrefix(key, "metricsProvider.")] = value
}

// setMember handles server.N, group.N and weight.N lines.
func (p *parser) setMember(pr property) error {
	if !strings.HasPrefix(pr.key, "server.") {
		// Hierarchical quorums change what a majority is; ignoring them
		// would let zkd count votes differently from its peers.
		return p.errorf(pr, "hierarchical quorums (group/weight) are not supported by zkd")
	}
	s, err := parseServer(pr.key, pr.value)
	if err != nil {
		return p.valueError(pr, err)
	}
	if line, dup := p.serverLines[s.ID]; dup {
		return p.errorf(pr, "duplicate server id %d (also on line %d)", s.ID, line)
	}
	p.serverLines[s.ID] = pr.line
	p.c.Servers = append(p.c.Servers, s)
	return nil
}

// finish applies the defaults that depend on other keys and checks what
// can be checked without the data directory.
func (p *parser) finish() error {
	c := p.c
	if c.DataLogDir == "" {
		c.DataLogDir = c.DataDir
	}
	c.applyTimeDefaults()
	if !p.httpAddressSet {
		c.HTTPAddress = c.AdminServerAddress
	}
	if !p.httpPortSet {
		c.HTTPPort = c.AdminServerPort
	}
	p.finishWeights()
	sortServers(c.Servers)
	if !p.hasDynamic {
		p.membershipWarnings()
	}
	return c.check(false)
}

// membershipWarnings reports the ensemble shapes ZooKeeper warns about.
func (p *parser) membershipWarnings() {
	c := p.c
	n := c.participants()
	switch {
	case n == 1 && c.StandaloneEnabled:
		p.warnf(0, "only one server is listed and standaloneEnabled is true: running standalone, the server line is ignored")
	case n == 2:
		p.warnf(0, "no server failure will be tolerated: an ensemble needs at least 3 servers")
	case n > 2 && n%2 == 0:
		p.warnf(0, "%d voting servers tolerate no more failures than %d: consider an odd number of servers", n, n-1)
	}
}

// parseServer parses the value of a server.N line:
//
//	host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]
//
// IPv6 hosts are written in brackets. Several "|"-separated addresses need
// ZooKeeper's multiAddress.enabled, which zkd does not support.
func parseServer(key, value string) (Server, error) {
	var s Server
	idText := strings.TrimPrefix(key, "server.")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id < 0 {
		return s, fmt.Errorf("%q is not a server id (a number >= 0)", idText)
	}
	s.ID = id

	wrongForm := fmt.Errorf("%q is not of the form host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]", value)
	parts := javaSplit(value, ";")
	if len(parts) == 0 || len(parts) > 2 {
		return s, wrongForm
	}
	if strings.Contains(parts[0], "|") {
		return s, fmt.Errorf("%q lists several addresses, which zkd does not support (multiAddress)", value)
	}
	if len(parts) == 2 {
		client, err := splitHostPort(parts[1])
		if err != nil || len(client) == 0 || len(client) > 2 {
			return s, wrongForm
		}
		s.ClientHost = "0.0.0.0"
		if len(client) == 2 {
			s.ClientHost = client[0]
		}
		if s.ClientPort, err = parsePort(client[len(client)-1], false); err != nil {
			return s, fmt.Errorf("client port: %w", err)
		}
		if s.ClientHost == "" {
			return s, wrongForm
		}
	}
	addr, err := splitHostPort(parts[0])
	if err != nil || len(addr) < 3 || len(addr) > 4 {
		return s, wrongForm
	}
	if s.Host = addr[0]; s.Host == "" {
		return s, fmt.Errorf("%q has an empty host", value)
	}
	if s.QuorumPort, err = parsePort(addr[1], false); err != nil {
		return s, fmt.Errorf("quorum port: %w", err)
	}
	if s.ElectionPort, err = parsePort(addr[2], false); err != nil {
		return s, fmt.Errorf("election port: %w", err)
	}
	if s.QuorumPort == s.ElectionPort {
		return s, fmt.Errorf("%q uses port %d for both quorum and election; they must differ", value, s.QuorumPort)
	}
	if len(addr) == 4 {
		switch strings.ToLower(strings.TrimSpace(addr[3])) {
		case "participant":
		case "observer":
			s.Observer = true
		default:
			return s, fmt.Errorf("%q is not participant or observer", addr[3])
		}
	}
	return s, nil
}

// splitHostPort splits "host:a:b" at colons, where host may be an IPv6
// literal in brackets ("[::1]:a:b"), as ZooKeeper's ConfigUtils does.
func splitHostPort(s string) ([]string, error) {
	if !strings.HasPrefix(s, "[") {
		return javaSplit(s, ":"), nil
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return nil, fmt.Errorf("%q starts with '[' but has no matching ']'", s)
	}
	if end+1 == len(s) || s[end+1] != ':' || end+2 == len(s) {
		return nil, fmt.Errorf("%q has no port after the address", s)
	}
	return append([]string{s[1:end]}, javaSplit(s[end+2:], ":")...), nil
}

// javaSplit splits like Java's String.split with a literal separator:
// trailing empty fields are dropped.
func javaSplit(s, sep string) []string {
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func parseWhitelist(v string) []string {
	var list []string
	for _, w := range strings.Split(v, ",") {
		if w = strings.TrimSpace(w); w != "" {
			list = append(list, w)
		}
	}
	return list
}

// numberError describes a strconv failure in the terms of the file.
func numberError(v string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range", v)
	}
	return fmt.Errorf("%q is not a number", v)
}

// parseInt parses a decimal 32-bit integer like Java's Integer.parseInt.
func parseInt(v string) (int, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, numberError(v, err)
	}
	return int(n), nil
}

func parseNonNegative(v string) (int, error) {
	n, err := parseInt(v)
	if err == nil && n < 0 {
		return 0, fmt.Errorf("%q must not be negative", v)
	}
	return n, err
}

// parsePort parses a TCP port; zeroOK allows 0, meaning "not set".
func parsePort(v string, zeroOK bool) (int, error) {
	n, err := parseInt(v)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > 65535 || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", v)
	}
	return n, nil
}

// parseSessionTimeout parses milliseconds; -1 means "not set", as in
// ZooKeeper, so the default derived from tickTime applies.
func parseSessionTimeout(v string) (time.Duration, bool, error) {
	ms, err := parseInt(v)
	switch {
	case err != nil:
		return 0, false, err
	case ms == -1:
		return 0, false, nil
	case ms < 0:
		return 0, false, fmt.Errorf("%q must not be negative", v)
	}
	return time.Duration(ms) * time.Millisecond, true, nil
}

// parseBool accepts true or false in any case, as QuorumPeerConfig does.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

func parseHexVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a hexadecimal version", v)
	}
	return n, nil
}

// decodeInt parses like Java's Integer.decode / Long.decode, which
// Integer.getInteger uses for system properties: an optional sign, then
// "0x", "0X" or "#" for hex, a leading "0" for octal, else decimal.
func decodeInt(v string, bits int) (int, error) {
	n, err := decode(v, bits)
	return int(n), err
}

func decodeInt64(v string) (int64, error) { return decode(v, 64) }

func decode(v string, bits int) (int64, error) {
	digits, sign := v, ""
	if strings.HasPrefix(digits, "-") || strings.HasPrefix(digits, "+") {
		sign, digits = digits[:1], digits[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(digits, "0x"), strings.HasPrefix(digits, "0X"):
		base, digits = 16, digits[2:]
	case strings.HasPrefix(digits, "#"):
		base, digits = 16, digits[1:]
	case strings.HasPrefix(digits, "0") && len(digits) > 1:
		base, digits = 8, digits[1:]
	}
	if digits == "" || digits[0] == '-' || digits[0] == '+' {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	n, err := strconv.ParseInt(sign+digits, base, bits)
	if err != nil {
		return 0, numberError(v, err)
	}
	return n, nil
}

func sortServers(servers []Server) {
	slices.SortFunc(servers, func(a, b Server) int { return cmp.Compare(a.ID, b.ID) })
}
