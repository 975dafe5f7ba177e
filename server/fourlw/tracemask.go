package fourlw

import "sync/atomic"

// DefaultTraceMask is ZooKeeper's initial trace mask, 0x132: client
// requests, server packets, sessions and warnings (ZooTrace).
const DefaultTraceMask int64 = 0x132

// TraceMask is the value gtmk reports and stmk sets. ZooKeeper uses it to
// choose what its TRACE log level records; zkd has no trace logging, so it
// only keeps the value, which tools that set and read it back expect to
// survive. Use NewTraceMask; it is safe for concurrent use.
type TraceMask struct {
	v atomic.Int64
}

// NewTraceMask returns a trace mask holding DefaultTraceMask.
func NewTraceMask() *TraceMask {
	m := &TraceMask{}
	m.v.Store(DefaultTraceMask)
	return m
}

// Get returns the current mask.
func (m *TraceMask) Get() int64 { return m.v.Load() }

// Set replaces the mask.
func (m *TraceMask) Set(mask int64) { m.v.Store(mask) }
