package wire

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// LearnerType is a server's role in the quorum config.
type LearnerType int

// Roles a server line can name.
const (
	Participant LearnerType = iota // votes and may lead
	Observer                       // receives INFORMs, never votes
)

func (t LearnerType) String() string {
	if t == Observer {
		return "observer"
	}
	return "participant"
}

// ErrConfig is wrapped by every quorum config parsing error.
var ErrConfig = errors.New("invalid quorum config")

// ServerAddr is one quorum/election address pair of a server. Servers have
// several only with multiAddress.enabled.
type ServerAddr struct {
	Host         string // IPv6 literals without brackets
	QuorumPort   int
	ElectionPort int
}

// QuorumServer is one "server.N=" entry.
type QuorumServer struct {
	ID    int64
	Addrs []ServerAddr
	Type  LearnerType
	// ClientHost and ClientPort are the optional ";host:port" client
	// address; ClientPort 0 means none (ZooKeeper also omits a client
	// address that came from the static clientPort setting). A bare
	// ";port" parses as host 0.0.0.0.
	ClientHost string
	ClientPort int
}

// QuorumConfig is a QuorumMaj quorum verifier: the member list and the
// config version (the zxid of the reconfig that made it, 0 for a static
// config). Its text form is what peers exchange in notifications and
// NEWLEADER, and what /zookeeper/config holds.
type QuorumConfig struct {
	Servers []QuorumServer
	Version int64
}

// String renders the config exactly as QuorumMaj.toString does: one
// "server.N=value\n" line per member, then "version=<hex>" without a
// trailing newline. Members come in the iteration order of the Java
// HashMap<Long, QuorumServer> that holds them (see javaHashOrder).
func (c *QuorumConfig) String() string {
	var b strings.Builder
	for _, s := range javaHashOrder(c.Servers) {
		fmt.Fprintf(&b, "server.%d=%s\n", s.ID, s.value())
	}
	b.WriteString("version=")
	b.WriteString(strconv.FormatUint(uint64(c.Version), 16))
	return b.String()
}

// value renders QuorumServer.toString: addresses sorted by host (stably),
// each host:quorumPort:electionPort, joined by '|'; the role; the client
// address if any.
func (s *QuorumServer) value() string {
	var b strings.Builder
	addrs := slices.Clone(s.Addrs)
	slices.SortStableFunc(addrs, func(x, y ServerAddr) int { return javaCompareStrings(x.Host, y.Host) })
	for i, a := range addrs {
		if i > 0 {
			b.WriteByte('|')
		}
		fmt.Fprintf(&b, "%s:%d:%d", delimitHost(a.Host), a.QuorumPort, a.ElectionPort)
	}
	b.WriteByte(':')
	b.WriteString(s.Type.String())
	if s.ClientPort != 0 || s.ClientHost != "" {
		fmt.Fprintf(&b, ";%s:%d", delimitHost(s.ClientHost), s.ClientPort)
	}
	return b.String()
}

// javaCompareStrings orders like String.compareTo (UTF-16 code units),
// which matches byte order for the ASCII host names configs use.
func javaCompareStrings(a, b string) int { return strings.Compare(a, b) }

func delimitHost(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// javaHashOrder returns the servers in the order a java.util.HashMap keyed
// by Long iterates them: by bucket, hash(sid) & (capacity-1), where the
// table starts at 16 buckets and doubles whenever size exceeds 3/4 of it.
// For up to 12 servers with sids below 16 that is ascending sid order.
// Entries sharing a bucket iterate in insertion order, which depends on how
// the Java side built the map; ascending sid is assumed for them.
func javaHashOrder(servers []QuorumServer) []QuorumServer {
	capacity := 16
	for len(servers) > capacity*3/4 {
		capacity *= 2
	}
	bucket := func(id int64) int {
		h := int32(id ^ int64(uint64(id)>>32)) // Long.hashCode
		h ^= int32(uint32(h) >> 16)            // HashMap.hash spreading
		return int(h) & (capacity - 1)
	}
	out := slices.Clone(servers)
	slices.SortStableFunc(out, func(x, y QuorumServer) int {
		if bx, by := bucket(x.ID), bucket(y.ID); bx != by {
			return bx - by
		}
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	return out
}

// ParseQuorumConfig parses config text as QuorumPeer.configFromString and
// QuorumMaj do: Java properties lines (blank lines and '#'/'!' comments
// skipped, key separated by '=' or ':'), "server.N" entries and an optional
// "version" in hex (default 0); other keys are ignored, except "group." and
// "weight.", which would select a hierarchical verifier zkd does not
// support. Servers keep the order of the text; duplicate sids are an error.
func ParseQuorumConfig(text string) (QuorumConfig, error) {
	var c QuorumConfig
	seen := make(map[int64]bool)
	for lineNo, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.TrimLeft(line, " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		key, value := splitProperty(line)
		switch {
		case strings.HasPrefix(key, "server."):
			id, err := strconv.ParseInt(key[len("server."):], 10, 64)
			if err != nil {
				return QuorumConfig{}, fmt.Errorf("%w: line %d: bad server id in %q", ErrConfig, lineNo+1, key)
			}
			if seen[id] {
				return QuorumConfig{}, fmt.Errorf("%w: line %d: server.%d appears twice", ErrConfig, lineNo+1, id)
			}
			seen[id] = true
			s, err := ParseQuorumServer(id, value)
			if err != nil {
				return QuorumConfig{}, fmt.Errorf("%w: line %d: %w", ErrConfig, lineNo+1, err)
			}
			c.Servers = append(c.Servers, s)
		case key == "version":
			v, err := strconv.ParseInt(value, 16, 64)
			if err != nil {
				return QuorumConfig{}, fmt.Errorf("%w: line %d: version %q is not hex", ErrConfig, lineNo+1, value)
			}
			c.Version = v
		case strings.HasPrefix(key, "group.") || strings.HasPrefix(key, "weight."):
			return QuorumConfig{}, fmt.Errorf("%w: line %d: hierarchical quorums (%s) are not supported", ErrConfig, lineNo+1, key)
		}
	}
	if len(c.Servers) == 0 {
		return QuorumConfig{}, fmt.Errorf("%w: no server.N entries", ErrConfig)
	}
	return c, nil
}

// splitProperty splits a java.util.Properties line (escapes aside): the key
// ends at the first '=', ':' or white space; separators and white space
// around them are skipped. Trailing white space belongs to the value; it
// is trimmed here because ZooKeeper trims every value it parses.
func splitProperty(line string) (key, value string) {
	i := strings.IndexAny(line, "=: \t\f")
	if i < 0 {
		return line, ""
	}
	key, rest := line[:i], strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return key, strings.TrimSpace(rest)
}

// ParseQuorumServer parses the value of a "server.N=" line as
// QuorumPeer.QuorumServer does:
// host:quorumPort:electionPort[:participant|observer] (several joined by
// '|' with multiAddress), optionally followed by ";[clientHost:]clientPort".
func ParseQuorumServer(id int64, value string) (QuorumServer, error) {
	s := QuorumServer{ID: id}
	serverClient := javaSplit(value, ";")
	if len(serverClient) == 0 || len(serverClient) > 2 {
		return QuorumServer{}, fmt.Errorf("server.%d=%q: want host:port:port[:type][;[clientHost:]clientPort]", id, value)
	}
	if len(serverClient) == 2 {
		parts, err := hostAndPort(serverClient[1])
		if err != nil {
			return QuorumServer{}, fmt.Errorf("server.%d client address: %w", id, err)
		}
		if len(parts) == 0 || len(parts) > 2 {
			return QuorumServer{}, fmt.Errorf("server.%d client address %q: want [host:]port", id, serverClient[1])
		}
		s.ClientHost = "0.0.0.0"
		if len(parts) == 2 {
			if err := checkHost(parts[0]); err != nil {
				return QuorumServer{}, fmt.Errorf("server.%d client address: %w", id, err)
			}
			s.ClientHost = parts[0]
		}
		if s.ClientPort, err = parsePort(parts[len(parts)-1]); err != nil {
			return QuorumServer{}, fmt.Errorf("server.%d client address: %w", id, err)
		}
	}
	var typ *LearnerType
	for _, addr := range javaSplit(serverClient[0], "|") {
		parts, err := hostAndPort(addr)
		if err != nil {
			return QuorumServer{}, fmt.Errorf("server.%d: %w", id, err)
		}
		if len(parts) < 3 || len(parts) > 4 {
			return QuorumServer{}, fmt.Errorf("server.%d address %q: want host:quorumPort:electionPort[:type]", id, addr)
		}
		if err := checkHost(parts[0]); err != nil {
			return QuorumServer{}, fmt.Errorf("server.%d: %w", id, err)
		}
		a := ServerAddr{Host: parts[0]}
		if a.QuorumPort, err = parsePort(parts[1]); err != nil {
			return QuorumServer{}, fmt.Errorf("server.%d quorum port: %w", id, err)
		}
		if a.ElectionPort, err = parsePort(parts[2]); err != nil {
			return QuorumServer{}, fmt.Errorf("server.%d election port: %w", id, err)
		}
		if a.QuorumPort == a.ElectionPort {
			return QuorumServer{}, fmt.Errorf("server.%d: quorum and election port must differ (both %d)", id, a.QuorumPort)
		}
		if len(parts) == 4 {
			var t LearnerType
			switch strings.ToLower(strings.TrimSpace(parts[3])) {
			case "participant":
				t = Participant
			case "observer":
				t = Observer
			default:
				return QuorumServer{}, fmt.Errorf("server.%d: unrecognised peer type %q", id, parts[3])
			}
			if typ != nil && *typ != t {
				return QuorumServer{}, fmt.Errorf("server.%d: addresses name different roles (%s, %s)", id, *typ, t)
			}
			typ = &t
		}
		s.Addrs = append(s.Addrs, a)
	}
	if len(s.Addrs) == 0 {
		return QuorumServer{}, fmt.Errorf("server.%d=%q: no address", id, value)
	}
	if typ != nil {
		s.Type = *typ
	}
	return s, nil
}

// checkHost rejects a host that holds white space or control characters
// (e.g. "[ ]:2888:3888"). ZooKeeper would pass it on to the resolver, which
// cannot resolve it, so the member could never be reached; and since a
// properties value is trimmed, such a host would not survive being written
// to /zookeeper/config and read back.
func checkHost(host string) error {
	if i := strings.IndexFunc(host, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("host %q contains white space or a control character", host)
	}
	return nil
}

// DialSource is the local address a member should dial its peers from:
// its own server line's host when that is a specific IP address, so that
// every packet of the member carries the address the ensemble knows it by
// (which is what per-address firewall rules and partition tests match on).
// nil means "let the kernel choose" (a host name or a wildcard address).
func (s QuorumServer) DialSource() net.Addr {
	if len(s.Addrs) == 0 {
		return nil
	}
	ip := net.ParseIP(s.Addrs[0].Host)
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: ip}
}
