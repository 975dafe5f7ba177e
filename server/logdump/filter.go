package logdump

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zkd-io/zkd/server/proto"
)

// Filter selects txns; the zero Filter selects everything and every set
// field must match (they combine with AND).
type Filter struct {
	FromZxid, ToZxid int64 // inclusive; ToZxid 0 means no upper bound
	// PathPrefix matches a txn that touches the path or anything below it
	// (multi sub-ops and closeSession ephemerals included). A trailing "*"
	// makes it a plain string prefix: "/app/seq-*".
	PathPrefix string
	Session    *int64
	Types      map[string]bool // ZooKeeper op names, lower-cased
	Since      time.Time       // inclusive; zero means unbounded
	Until      time.Time       // inclusive; zero means unbounded
}

// Match reports whether t passes the filter.
func (f *Filter) Match(t *Txn, zxid, session int64) bool {
	if zxid < f.FromZxid || (f.ToZxid != 0 && zxid > f.ToZxid) {
		return false
	}
	if f.Session != nil && *f.Session != session {
		return false
	}
	if len(f.Types) > 0 && !f.matchType(t) {
		return false
	}
	if !f.Since.IsZero() && t.TimeMs < f.Since.UnixMilli() {
		return false
	}
	if !f.Until.IsZero() && t.TimeMs > f.Until.UnixMilli() {
		return false
	}
	if f.PathPrefix != "" {
		for _, p := range t.Paths() {
			if MatchPath(f.PathPrefix, p) {
				return true
			}
		}
		return false
	}
	return true
}

// matchType matches the txn's type or, for a multi, any sub-op's type.
func (f *Filter) matchType(t *Txn) bool {
	if f.Types[strings.ToLower(t.Type)] {
		return true
	}
	for _, o := range t.Ops {
		if f.Types[strings.ToLower(o.Type)] {
			return true
		}
	}
	return false
}

// MatchPath reports whether path is prefix or lies below it.
func MatchPath(prefix, path string) bool {
	if raw, ok := strings.CutSuffix(prefix, "*"); ok {
		return strings.HasPrefix(path, raw)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return true
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// ParseZxid parses a zxid as hex with 0x or as decimal.
func ParseZxid(s string) (int64, error) {
	return parseID(s, "zxid")
}

// ParseSession parses a session id as hex with 0x or as decimal.
func ParseSession(s string) (int64, error) {
	return parseID(s, "session id")
}

func parseID(s, what string) (int64, error) {
	var u uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		u, err = strconv.ParseUint(h, 16, 64)
	} else {
		var v int64
		v, err = strconv.ParseInt(s, 10, 64)
		u = uint64(v)
	}
	if err != nil {
		return 0, fmt.Errorf("bad %s %q: want hex (0x...) or decimal", what, s)
	}
	return int64(u), nil
}

// ParseTime parses an RFC 3339 time or unix milliseconds.
func ParseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: want RFC 3339 (2006-01-02T15:04:05Z) or unix milliseconds", s)
	}
	return t, nil
}

// ParseTypes parses a comma-separated list of ZooKeeper op names.
func ParseTypes(s string) (map[string]bool, error) {
	known := map[string]bool{}
	for _, n := range proto.OpNames() {
		known[strings.ToLower(n)] = true
	}
	out := map[string]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		if !known[n] {
			return nil, fmt.Errorf("unknown txn type %q (ZooKeeper's op names: create, create2, createContainer, createTtl, delete, deleteContainer, setData, setACL, check, multi, createSession, closeSession, error, reconfig)", n)
		}
		out[n] = true
	}
	return out, nil
}
