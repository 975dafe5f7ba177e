package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Load reads the zoo.cfg at path the way ZooKeeper's QuorumPeerConfig.parse
// does: it parses the file, reads the dynamicConfigFile if one is named,
// resolves a relative dataDir and dataLogDir against the working directory,
// reads <dataDir>/myid when there are server lines, takes the client address
// and peer type of this server from its server line, and validates the
// result. Warnings are for the caller to log. Errors about a setting are
// *Error and name the file and line; errors reading a file wrap the os error.
func Load(path string) (*Config, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	c, warnings, err := parse(f, path)
	if err != nil {
		return nil, nil, err
	}
	l := &loader{c: c, warnings: warnings}
	if c.DynamicConfigFile != "" {
		if err := l.loadDynamic(c.DynamicConfigFile); err != nil {
			return nil, nil, err
		}
	}
	if err := l.resolveDirs(); err != nil {
		return nil, nil, err
	}
	if len(c.Servers) > 0 && c.DataDir != "" {
		if err := l.readMyID(); err != nil {
			return nil, nil, err
		}
		if err := l.applySelf(); err != nil {
			return nil, nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return c, l.warnings, nil
}

// loader carries the state of one Load call after parsing.
type loader struct {
	c        *Config
	warnings []string
}

func (l *loader) warnf(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

// loadDynamic reads the dynamic configuration file, which holds only the
// membership: server lines and nothing else. Its version is the hex suffix
// of the file name (zoo.cfg.dynamic.100000000), never a key in the file.
func (l *loader) loadDynamic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: dynamicConfigFile: %w", l.c.source, err)
	}
	defer f.Close()
	props, err := readProperties(f)
	if err != nil {
		return &Error{File: path, Reason: err.Error()}
	}
	p := &parser{c: l.c, source: path, serverLines: map[int64]int{}}
	for _, pr := range props {
		switch {
		case pr.key == "version":
			return p.errorf(pr, "must not be in the dynamic config file; the version is the file name's suffix")
		case strings.HasPrefix(pr.key, "server."), strings.HasPrefix(pr.key, "group"), strings.HasPrefix(pr.key, "weight"):
			if err := p.setMember(pr); err != nil {
				return err
			}
		default:
			return p.errorf(pr, "only server lines belong in the dynamic config file")
		}
	}
	l.c.ConfigVersion = 0
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		if v, err := strconv.ParseInt(path[i+1:], 16, 64); err == nil {
			l.c.ConfigVersion = v
		}
	}
	sortServers(l.c.Servers)
	p.membershipWarnings()
	l.warnings = append(l.warnings, p.warnings...)
	return nil
}

// resolveDirs makes dataDir and dataLogDir absolute. Java resolves a
// relative File against the working directory; the result is the same.
func (l *loader) resolveDirs() error {
	for _, d := range []struct {
		key string
		dir *string
	}{{"dataDir", &l.c.DataDir}, {"dataLogDir", &l.c.DataLogDir}} {
		if *d.dir == "" || filepath.IsAbs(*d.dir) {
			continue
		}
		abs, err := filepath.Abs(*d.dir)
		if err != nil {
			return l.c.errorf(d.key, *d.dir, "cannot resolve relative path: %v", err)
		}
		l.warnf("%s: %s %q is relative; using %q", l.c.source, d.key, *d.dir, abs)
		*d.dir = abs
	}
	return nil
}

// readMyID reads <dataDir>/myid. A missing file leaves MyID unset; Validate
// decides whether that matters (it does unless the server runs standalone).
func (l *loader) readMyID() error {
	path := filepath.Join(l.c.DataDir, "myid")
	id, err := ReadMyID(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	l.c.MyID = id
	return nil
}

// ReadMyID reads a ZooKeeper myid file: the server id in ASCII decimal on
// the first line. Surrounding whitespace is ignored (ZooKeeper itself would
// reject "1 ", which an editor adds easily).
func ReadMyID(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return NoServerID, fmt.Errorf("read myid: %w", err)
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	text := strings.TrimSpace(string(first))
	id, err := strconv.ParseInt(text, 10, 64)
	if err != nil || id < 0 {
		return NoServerID, fmt.Errorf("%s: %q is not a server id (a number >= 0)", path, text)
	}
	return id, nil
}

// applySelf does what QuorumPeerConfig.setupClientPort and setupPeerType
// do once the server knows its id: a client address on its own server line
// is where it serves clients (and must agree with clientPort if both are
// set), and the line's role overrides peerType.
func (l *loader) applySelf() error {
	c := l.c
	self, ok := c.Self()
	if !ok {
		return nil
	}
	key := "server." + strconv.FormatInt(self.ID, 10)
	if self.ClientPort != 0 {
		if c.ClientPort != 0 {
			anyAddr := c.ClientPortAddress == "" || c.ClientPortAddress == "0.0.0.0" || c.ClientPortAddress == "::"
			if c.ClientPort != self.ClientPort || (!anyAddr && c.ClientPortAddress != self.ClientHost) {
				return c.errorf(key, "", "client address %s:%d differs from clientPortAddress/clientPort %s:%d",
					self.ClientHost, self.ClientPort, orAny(c.ClientPortAddress), c.ClientPort)
			}
		}
		c.ClientPort = self.ClientPort
		c.ClientPortAddress = self.ClientHost
		if c.ClientPortAddress == "0.0.0.0" {
			c.ClientPortAddress = "" // all interfaces, as when clientPortAddress is unset
		}
	}
	role := Participant
	if self.Observer {
		role = Observer
	}
	if role != c.PeerType {
		l.warnf("%s: peerType %s does not match %s (%s); using the server line", c.source, c.PeerType, key, role)
		c.PeerType = role
	}
	return nil
}

func orAny(addr string) string {
	if addr == "" {
		return "0.0.0.0"
	}
	return addr
}
