package fourlw

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkd-io/zkd/server/javalang"
)

// NotServingMessage is ZooKeeper's reply (followed by a newline for all
// commands but hash) to a command that needs a running server while it
// is not serving (ServerInfo.NotServing).
const NotServingMessage = "This ZooKeeper instance is not currently serving requests"

// Known reports whether cmd is one of the four-letter words ZooKeeper 3.8
// recognises as the first four bytes of a connection (FourLetterCommands):
// conf, cons, crst, dirs, dump, envi, gtmk, hash, isro, mntr, ruok, srst,
// srvr, stat, stmk, wchc, wchp and wchs. Any other first four bytes are
// the length prefix of a ConnectRequest.
//
// ZooKeeper also recognises the telnet close sequence (0xfff4fffd) and
// closes the connection without a reply; Known does not, because a server
// that reads those bytes as a length rejects it as negative and closes
// the connection all the same.
func Known(cmd string) bool {
	switch cmd {
	case "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro",
		"mntr", "ruok", "srst", "srvr", "stat", "stmk", "wchc", "wchp", "wchs":
		return true
	}
	return false
}

// ArgLen is the number of bytes that follow cmd on the wire before the
// server replies: 8 for stmk (the new trace mask, a big-endian int64),
// 0 for every other command.
func ArgLen(cmd string) int {
	if cmd == "stmk" {
		return 8
	}
	return 0
}

// DecodeArg decodes stmk's argument, the 8 bytes that follow the command.
func DecodeArg(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("stmk argument: got %d bytes, want a big-endian 8-byte trace mask", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// NotAllowed is ZooKeeper's reply to a known command that is not in the
// 4lw.commands.whitelist.
func NotAllowed(cmd string) string {
	return cmd + " is not executed because it is not in the whitelist.\n"
}

// Run executes the four-letter word cmd against src and returns exactly
// the text Apache ZooKeeper 3.8 writes before closing the connection.
// now is the wall-clock time used for dump's expiry dates. srst and crst
// reset src's statistics; every other command only reads. Every command
// but ruok, envi, gtmk and stmk first calls src.Server() to learn whether
// the server is serving (ServerInfo.NotServing).
//
// Run returns "" for an unknown command (see Known) and for stmk, whose
// trace-mask argument it lacks: ZooKeeper closes the connection without a
// reply when the 8 bytes are missing. Use RunWithArg for stmk.
func Run(cmd string, src Source, now time.Time) string {
	if cmd == "stmk" {
		return ""
	}
	return run(cmd, 0, src, now)
}

// RunWithArg is Run for a command that takes an argument (ArgLen > 0):
// for stmk, arg is the new trace mask, which is stored in src's
// TraceMask (if src is a TraceMaskSource) and echoed in decimal. For
// other commands arg is ignored.
func RunWithArg(cmd string, arg int64, src Source, now time.Time) string {
	return run(cmd, arg, src, now)
}

func run(cmd string, arg int64, src Source, now time.Time) string {
	// Commands that work whether or not the server is serving.
	switch cmd {
	case "ruok":
		return "imok"
	case "envi":
		return environment(src)
	case "gtmk":
		mask := DefaultTraceMask
		if t, ok := src.(TraceMaskSource); ok {
			mask = t.TraceMask().Get()
		}
		return strconv.FormatInt(mask, 10)
	case "stmk":
		if t, ok := src.(TraceMaskSource); ok {
			t.TraceMask().Set(arg)
		}
		return strconv.FormatInt(arg, 10)
	}
	if !Known(cmd) {
		return ""
	}

	info := src.Server()
	if info.NotServing {
		switch cmd {
		case "isro":
			return "null"
		case "hash":
			return NotServingMessage
		}
		return NotServingMessage + "\n"
	}

	var b strings.Builder
	switch cmd {
	case "srvr":
		writeStat(&b, src, info, false)
	case "stat":
		writeStat(&b, src, info, true)
	case "cons":
		for _, c := range src.Connections() {
			writeConn(&b, c, false)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	case "conf":
		writeConf(&b, src.Conf())
	case "crst":
		src.ResetConnStats()
		b.WriteString("Connection stats reset.\n")
	case "srst":
		src.ResetServerStats()
		b.WriteString("Server stats reset.\n")
	case "dirs":
		data, log := src.Dirs()
		fmt.Fprintf(&b, "datadir_size: %d\nlogdir_size: %d\n", data, log)
	case "dump":
		writeDump(&b, src, now)
	case "isro":
		if readOnly(info) {
			return "ro"
		}
		return "rw"
	case "mntr":
		writeMonitor(&b, src, info)
	case "wchs":
		conns, paths, watches := src.WatchSummary()
		fmt.Fprintf(&b, "%d connections watching %d paths\nTotal watches:%d\n", conns, paths, watches)
	case "wchc":
		writeWatchesByConn(&b, src.WatchesByConn())
	case "wchp":
		writeWatchesByPath(&b, src.WatchesByPath())
	case "hash":
		if d, ok := src.(DigestSource); ok {
			for _, e := range d.Digests() {
				fmt.Fprintf(&b, "%s: %d\n", javaHex(e.Zxid), e.Digest)
			}
		}
	}
	return b.String()
}

// state is ZooKeeper's getState: zk_server_state, also srvr's Mode line.
func (i ServerInfo) state() string { return cmp.Or(i.ServerState, i.Mode) }

func readOnly(info ServerInfo) bool { return info.ReadOnly || info.state() == "read-only" }

// writeStat writes srvr's report (StatCommand), with stat's client list
// when withClients is set.
func writeStat(b *strings.Builder, src Source, info ServerInfo, withClients bool) {
	b.WriteString("Zookeeper version: " + src.Version() + "\n")
	if readOnly(info) {
		b.WriteString("READ-ONLY mode; serving only read-only clients\n")
	}
	if withClients {
		b.WriteString("Clients:\n")
		for _, c := range src.Connections() {
			writeConn(b, c, true)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	// ServerStats.toString.
	fmt.Fprintf(b, "Latency min/avg/max: %d/%s/%d\n", info.MinLatencyMs, javalang.FormatDouble(javalang.RoundHalfUp(info.AvgLatencyMs, 4)), info.MaxLatencyMs)
	fmt.Fprintf(b, "Received: %d\n", info.PacketsReceived)
	fmt.Fprintf(b, "Sent: %d\n", info.PacketsSent)
	fmt.Fprintf(b, "Connections: %d\n", info.NumAliveConnections)
	fmt.Fprintf(b, "Outstanding: %d\n", info.Outstanding)
	fmt.Fprintf(b, "Zxid: 0x%s\n", javaHex(info.Zxid))
	fmt.Fprintf(b, "Mode: %s\n", cmp.Or(info.Mode, info.ServerState))
	fmt.Fprintf(b, "Node count: %d\n", info.NodeCount)
	if info.state() == "leader" {
		fmt.Fprintf(b, "Proposal sizes last/min/max: %s\n", bufferSizes(info.ProposalSizes))
	}
}

// bufferSizes formats BufferStats.toString, "last/min/max".
func bufferSizes(s *BufferSizes) string {
	if s == nil {
		return "-1/-1/-1"
	}
	return fmt.Sprintf("%d/%d/%d", s.Last, s.Min, s.Max)
}

// writeConn writes one connection as ServerCnxn.dumpConnectionInfo does:
// the brief form for stat, the full one for cons. Connections without a
// session get the brief form in both.
func writeConn(b *strings.Builder, c ConnInfo, brief bool) {
	interest := 1 // OP_READ
	switch {
	case c.FourLetter:
		interest = 0
	case c.WritePending:
		interest |= 4 // OP_WRITE
	}
	fmt.Fprintf(b, " %s[%d](queued=%d,recved=%d,sent=%d",
		cmp.Or(c.Remote, "null"), interest, c.Queued, c.Received, c.Sent)
	if !brief && c.SessionID != 0 {
		fmt.Fprintf(b, ",sid=0x%s,lop=%s,est=%d,to=%d",
			javaHex(c.SessionID), cmp.Or(c.LastOp, "NA"), unixMillis(c.Established), c.Timeout)
		if c.LastCxid >= 0 {
			fmt.Fprintf(b, ",lcxid=0x%s", javaHex(int64(c.LastCxid)))
		}
		fmt.Fprintf(b, ",lzxid=0x%s,lresp=%d,llat=%d,minlat=%d,avglat=%d,maxlat=%d",
			javaHex(c.LastZxid), unixMillis(c.LastResponse), c.LastLatencyMs,
			c.MinLatencyMs, int64(c.AvgLatencyMs), c.MaxLatencyMs)
	}
	b.WriteByte(')')
}

// writeConf writes the configuration lines. ZooKeeper prints an
// ensemble's membership with QuorumVerifier.toString, which has no
// newline after its final "version=" line.
func writeConf(b *strings.Builder, lines []string) {
	ensemble := slices.Contains(lines, "membership: ")
	for i, l := range lines {
		b.WriteString(l)
		if !ensemble || i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
}

// expiring is one element of an ExpiryQueue dump.
type expiring struct {
	at   time.Time
	text string
}

// writeDump writes dump's three sections: sessions by expiry time,
// ephemeral nodes by session, and connections by expiry time.
func writeDump(b *strings.Builder, src Source, now time.Time) {
	b.WriteString("SessionTracker dump:\n")
	sessions := slices.Clone(src.Sessions())
	slices.SortFunc(sessions, func(x, y SessionInfo) int { return cmp.Compare(x.ID, y.ID) })
	elems := make([]expiring, 0, len(sessions))
	for _, s := range sessions {
		at := s.Expires
		if at.IsZero() {
			at = now.Add(s.Timeout)
		}
		elems = append(elems, expiring{at: at, text: "0x" + javaHex(s.ID)})
	}
	writeExpiryQueue(b, "Session ", elems, now.Location())

	b.WriteString("ephemeral nodes dump:\n")
	eph := src.Ephemerals()
	fmt.Fprintf(b, "Sessions with Ephemerals (%d):\n", len(eph))
	for _, id := range sortedKeys(eph) {
		fmt.Fprintf(b, "0x%s:\n", javaHex(id))
		paths := slices.Clone(eph[id])
		slices.Sort(paths)
		for _, p := range paths {
			b.WriteString("\t" + p + "\n")
		}
	}

	b.WriteString("Connections dump:\n")
	conns := src.Connections()
	elems = elems[:0]
	for _, c := range conns {
		at := c.Expires
		if at.IsZero() {
			at = now.Add(time.Duration(c.Timeout) * time.Millisecond)
		}
		elems = append(elems, expiring{at: at, text: "ip: " + cmp.Or(c.Remote, "null") + " sessionId: 0x" + javaHex(c.SessionID)})
	}
	writeExpiryQueue(b, "Connections ", elems, now.Location())
}

// writeExpiryQueue writes elems grouped by expiry time, earliest first, as
// ExpiryQueue.dump does. Dates are printed in loc, to the second.
func writeExpiryQueue(b *strings.Builder, prefix string, elems []expiring, loc *time.Location) {
	buckets := make(map[int64][]string)
	for _, e := range elems {
		ms := e.at.UnixMilli()
		buckets[ms] = append(buckets[ms], e.text)
	}
	fmt.Fprintf(b, "%sSets (%d)/(%d):\n", prefix, len(buckets), len(elems))
	for _, ms := range sortedKeys(buckets) {
		set := buckets[ms]
		fmt.Fprintf(b, "%d expire at %s:\n", len(set), javaDate(time.UnixMilli(ms).In(loc)))
		for _, t := range set {
			b.WriteString("\t" + t + "\n")
		}
	}
}

// writeWatchesByConn writes wchc: each session and the paths it watches.
func writeWatchesByConn(b *strings.Builder, bySession map[int64][]string) {
	for _, id := range sortedKeys(bySession) {
		fmt.Fprintf(b, "0x%s\n", javaHex(id))
		paths := slices.Clone(bySession[id])
		slices.Sort(paths)
		for _, p := range paths {
			b.WriteString("\t" + p + "\n")
		}
	}
	b.WriteByte('\n')
}

// writeWatchesByPath writes wchp: each watched path and its sessions.
func writeWatchesByPath(b *strings.Builder, byPath map[string][]int64) {
	for _, p := range sortedKeys(byPath) {
		b.WriteString(p + "\n")
		ids := slices.Clone(byPath[p])
		slices.Sort(ids)
		for _, id := range ids {
			fmt.Fprintf(b, "\t0x%s\n", javaHex(id))
		}
	}
	b.WriteByte('\n')
}

// sortedKeys returns m's keys in ascending order. ZooKeeper prints hash
// map order; sorting keeps zkd's output stable from one call to the next.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
