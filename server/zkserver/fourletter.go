package zkserver

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/zkd-io/zkd/server/fourlw"
	"github.com/zkd-io/zkd/server/watch"
)

func isFourLetterWord(cmd string) bool { return fourlw.Known(cmd) }

// fourLetter answers a four-letter word on a fresh connection and closes it.
func (s *Server) fourLetter(c *conn, r io.Reader, cmd string) {
	// ZooKeeper lists the connection running the command in cons and stat
	// (as "[0]"), with the command counted as one packet received.
	c.fourLetter.Store(true)
	c.stats.received.Add(1)
	s.stats.packetsReceived.Add(1)
	var out string
	result := "ok"
	if s.opts.FourLetterAllowed(cmd) {
		if n := fourlw.ArgLen(cmd); n > 0 {
			// stmk carries an 8-byte argument; without it ZooKeeper
			// closes the connection without a reply.
			_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				s.metrics.FourLetter.WithLabelValues(cmd, "bad_argument").Inc()
				return
			}
			arg, err := fourlw.DecodeArg(buf)
			if err != nil {
				s.metrics.FourLetter.WithLabelValues(cmd, "bad_argument").Inc()
				return
			}
			out = fourlw.RunWithArg(cmd, arg, fourLetterSource{s}, time.Now())
		} else {
			out = fourlw.Run(cmd, fourLetterSource{s}, time.Now())
		}
	} else {
		out = fourlw.NotAllowed(cmd)
		result = "not_allowed"
	}
	s.metrics.FourLetter.WithLabelValues(cmd, result).Inc()
	c.outMu.Lock()
	c.closeWhy = "four_letter"
	c.outMu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.nc.Write([]byte(out))
}

// fourLetterSource exposes the server's state to the 4lw formatters.
type fourLetterSource struct{ s *Server }

var _ fourlw.Source = fourLetterSource{}

func (f fourLetterSource) Version() string { return f.s.opts.Version }

func (f fourLetterSource) Server() fourlw.ServerInfo {
	s := f.s
	minMs, avgMs, maxMs := s.stats.latency()
	s.tree.RLock()
	info := fourlw.ServerInfo{
		MinLatencyMs:        minMs,
		AvgLatencyMs:        avgMs,
		MaxLatencyMs:        maxMs,
		Zxid:                s.tree.LastProcessedZxid(),
		NodeCount:           s.tree.NodeCount(),
		EphemeralsCount:     s.tree.EphemeralCount(),
		ApproximateDataSize: s.tree.ApproximateDataSize(),
	}
	s.tree.RUnlock()
	data, child := s.tree.WatchManagers()
	info.WatchCount = data.Count() + child.Count()
	info.PacketsReceived = s.stats.packetsReceived.Load()
	info.PacketsSent = s.stats.packetsSent.Load()
	s.connMu.Lock()
	info.NumAliveConnections = len(s.conns)
	s.connMu.Unlock()
	info.Outstanding = s.outstanding()
	info.ConnectionDropProbability = s.connThrottle.dropChance()
	if s.q != nil {
		s.quorumInfo(&info)
	} else {
		info.Mode = "standalone"
		info.ServerState = "standalone"
	}
	info.GlobalSessions = s.sessions.Len()
	info.Uptime = time.Since(s.started)
	info.OpenFileDescriptors, info.MaxFileDescriptors = fileDescriptors()
	return info
}

func (f fourLetterSource) Connections() []fourlw.ConnInfo {
	s := f.s
	s.connMu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	sort.Slice(conns, func(i, j int) bool { return conns[i].id < conns[j].id })
	out := make([]fourlw.ConnInfo, 0, len(conns))
	for _, c := range conns {
		ci := fourlw.ConnInfo{
			Remote:      "/" + c.remote,
			Received:    c.stats.received.Load(),
			Sent:        c.stats.sent.Load(),
			SessionID:   c.sessionID.Load(),
			LastOp:      lastOpName(c.stats.lastOp.Load()),
			Established: c.started,
			FourLetter:  c.fourLetter.Load(),
			Timeout:     c.timeoutMs.Load(),
			LastCxid:    c.stats.lastCxid.Load(),
			LastZxid:    c.stats.lastZxid.Load(),
		}
		ci.Queued, _ = c.out.Queued()
		if ms := c.stats.lastResp.Load(); ms > 0 {
			ci.LastResponse = time.UnixMilli(ms)
		}
		if n := c.stats.count.Load(); n > 0 {
			ci.MinLatencyMs = c.stats.minLatency.Load()
			ci.MaxLatencyMs = c.stats.maxLatency.Load()
			ci.AvgLatencyMs = float64(c.stats.sumLatency.Load()) / float64(n)
		}
		out = append(out, ci)
	}
	return out
}

func (f fourLetterSource) ResetServerStats() { f.s.stats.reset() }

func (f fourLetterSource) ResetConnStats() {
	f.s.connMu.Lock()
	defer f.s.connMu.Unlock()
	for c := range f.s.conns {
		c.stats.count.Store(0)
		c.stats.sumLatency.Store(0)
		c.stats.minLatency.Store(-1)
		c.stats.maxLatency.Store(0)
		c.stats.received.Store(0)
		c.stats.sent.Store(0)
		c.stats.lastCxid.Store(-1)
		c.stats.lastZxid.Store(-1)
		c.stats.lastOp.Store(noLastOp)
		c.stats.lastResp.Store(0)
	}
}

func (f fourLetterSource) Conf() []string {
	if f.s.opts.Conf == nil {
		return nil
	}
	return f.s.opts.Conf()
}

func (f fourLetterSource) Sessions() []fourlw.SessionInfo {
	all := f.s.sessions.Sessions()
	out := make([]fourlw.SessionInfo, 0, len(all))
	for _, ss := range all {
		out = append(out, fourlw.SessionInfo{ID: ss.ID, Timeout: ss.Timeout})
	}
	return out
}

func (f fourLetterSource) Ephemerals() map[int64][]string {
	f.s.tree.RLock()
	defer f.s.tree.RUnlock()
	return f.s.tree.EphemeralsBySession()
}

// sessionOf maps a watcher (a connection) to its session id.
func sessionOf(w watch.Watcher) int64 {
	if c, ok := w.(*conn); ok {
		return c.sessionID.Load()
	}
	return 0
}

// The wch* commands report data watches only: ZooKeeper 3.8's
// DataTree.dumpWatches* read the data watch manager, where every watch a
// client can set (exists, getData, addWatch) is kept.

func (f fourLetterSource) WatchesByConn() map[int64][]string {
	data, _ := f.s.tree.WatchManagers()
	out := map[int64][]string{}
	for w, paths := range data.PathsByWatcher() {
		sid := sessionOf(w)
		out[sid] = dedupSorted(append(out[sid], paths...))
	}
	return out
}

func (f fourLetterSource) WatchesByPath() map[string][]int64 {
	data, _ := f.s.tree.WatchManagers()
	out := map[string][]int64{}
	for path, ws := range data.WatchersByPath() {
		ids := make([]int64, 0, len(ws))
		for _, w := range ws {
			ids = append(ids, sessionOf(w))
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		out[path] = ids
	}
	return out
}

func (f fourLetterSource) WatchSummary() (connections, paths, watches int) {
	data, _ := f.s.tree.WatchManagers()
	return data.Stats()
}

func (f fourLetterSource) Dirs() (int64, int64) {
	if f.s.opts.Dirs == nil {
		return 0, 0
	}
	return f.s.opts.Dirs()
}

// Monitor adds the ZooKeeper counters zkd keeps: those of the throttles.
func (f fourLetterSource) Monitor() []fourlw.KV { return f.s.stats.monitor() }

// TraceMask implements fourlw.TraceMaskSource for gtmk and stmk.
func (f fourLetterSource) TraceMask() *fourlw.TraceMask { return f.s.traceMask }

func (s *Server) outstanding() int64 {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	var n int64
	for c := range s.conns {
		c.pendMu.Lock()
		n += int64(c.pending)
		c.pendMu.Unlock()
	}
	return n
}

func dedupSorted(paths []string) []string {
	sort.Strings(paths)
	out := paths[:0]
	for i, p := range paths {
		if i == 0 || p != paths[i-1] {
			out = append(out, p)
		}
	}
	return out
}

// fileDescriptors counts this process's open descriptors (Linux /proc).
func fileDescriptors() (open, max int64) {
	ents, err := os.ReadDir(filepath.Join("/proc", "self", "fd"))
	if err == nil {
		open = int64(len(ents))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		max = int64(lim.Cur)
	}
	return open, max
}
