package datatree

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// quotaSet holds the paths that have a quota (a zookeeper_limits node under
// /zookeeper/quota). It replaces ZooKeeper's PathTrie: findMaxPrefix asks
// for the deepest quota path that is a prefix of a node's path, which is a
// handful of map lookups.
type quotaSet map[string]struct{}

// quotaComponents splits a path as PathTrie.split does: components that are
// empty or blank (Java's trim) are dropped.
func quotaComponents(path string) []string {
	parts := strings.Split(path, "/")
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimFunc(p, func(r rune) bool { return r <= ' ' }) != "" {
			out = append(out, p)
		}
	}
	return out
}

func (q *quotaSet) add(path string) {
	c := quotaComponents(path)
	if len(c) == 0 {
		return
	}
	if *q == nil {
		*q = make(quotaSet)
	}
	(*q)["/"+strings.Join(c, "/")] = struct{}{}
}

func (q quotaSet) remove(path string) {
	c := quotaComponents(path)
	if len(c) == 0 {
		return
	}
	delete(q, "/"+strings.Join(c, "/"))
}

// maxPrefix is DataTree.getMaxPrefixWithQuota: the deepest quota path that
// is a prefix of path, or "" when there is none.
func (q quotaSet) maxPrefix(path string) string {
	if len(q) == 0 {
		return ""
	}
	c := quotaComponents(path)
	for i := len(c); i > 0; i-- {
		p := "/" + strings.Join(c[:i], "/")
		if _, ok := q[p]; ok {
			return p
		}
	}
	return ""
}

// statsTrack is ZooKeeper's StatsTrack: the "count=N,bytes=M" text of
// zookeeper_stats and zookeeper_limits nodes, plus optional hard limits.
type statsTrack map[string]int64

var statsSeparator = regexp.MustCompile(`[,;]+`)

// parseStatsTrack parses StatsTrack text. It fails where Java's parser
// throws, in which case the stat node is left alone.
func parseStatsTrack(data []byte) (statsTrack, bool) {
	st := statsTrack{}
	if len(data) == 0 {
		return st, true
	}
	pairs := statsSeparator.Split(string(data), -1)
	for len(pairs) > 0 && pairs[len(pairs)-1] == "" { // as Pattern.split
		pairs = pairs[:len(pairs)-1]
	}
	for _, pair := range pairs {
		kv := javaSplit(pair, "=")
		if len(kv) < 2 {
			return nil, false
		}
		v := int64(-1)
		if kv[1] != "" {
			var err error
			if v, err = strconv.ParseInt(kv[1], 10, 64); err != nil {
				return nil, false
			}
		}
		st[kv[0]] = v
	}
	return st, true
}

// javaSplit is String.split for a literal separator: trailing empty
// strings are dropped.
func javaSplit(s, sep string) []string {
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func (st statsTrack) get(key string) int64 {
	if v, ok := st[key]; ok {
		return v
	}
	return -1
}

// bytes renders StatsTrack.toString: count and bytes first, then, after an
// extra "=" that old parsers ignore, the other keys sorted.
func (st statsTrack) bytes() []byte {
	b := []byte("count=")
	b = strconv.AppendInt(b, st.get("count"), 10)
	b = append(b, ",bytes="...)
	b = strconv.AppendInt(b, st.get("bytes"), 10)
	var extra []string
	for k := range st {
		if k != "count" && k != "bytes" {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		b = append(b, '=')
		for _, k := range extra {
			b = append(b, ';')
			b = append(b, k...)
			b = append(b, '=')
			b = strconv.AppendInt(b, st[k], 10)
		}
	}
	return b
}

// updateQuotaStat adds to the count and bytes of the stat node of a quota
// path (DataTree.updateQuotaStat). ZooKeeper changes the data in place,
// without touching the stat or the digest (stat nodes are below
// /zookeeper/) or the approximate data size.
func (t *Tree) updateQuotaStat(prefix string, bytesDiff int64, countDiff int64) {
	sn := t.nodes[quotaPath+prefix+"/"+statNodeName]
	if sn == nil {
		return
	}
	st, ok := parseStatsTrack(sn.data)
	if !ok {
		return
	}
	st["count"] = st.get("count") + countDiff
	st["bytes"] = st.get("bytes") + bytesDiff
	sn.data = st.bytes()
}

// updateQuotaForPath recounts the nodes and bytes below path and writes them
// to its stat node (DataTree.updateQuotaForPath).
func (t *Tree) updateQuotaForPath(path string) {
	var count, bytes int64
	var walk func(p string)
	walk = func(p string) {
		n := t.get(p)
		if n == nil {
			return
		}
		count++
		bytes += int64(len(n.data))
		for c := range n.children {
			walk(p + "/" + c)
		}
	}
	walk(path)
	statPath := quotaPath + path + "/" + statNodeName
	sn := t.nodes[statPath]
	if sn == nil {
		return
	}
	t.removeDigest(statPath, sn)
	sn.data = statsTrack{"count": count, "bytes": bytes}.bytes()
	t.addDigest(statPath, sn)
}

// setupQuota rebuilds the quota set and the stat nodes after a snapshot
// load (DataTree.setupQuota/traverseNode).
func (t *Tree) setupQuota() {
	var walk func(p string)
	walk = func(p string) {
		n := t.nodes[p]
		if n == nil {
			return
		}
		if len(n.children) == 0 {
			end := "/" + limitNodeName
			if strings.HasSuffix(p, end) {
				real := p[len(quotaPath):strings.Index(p, end)]
				t.updateQuotaForPath(real)
				t.quotas.add(real)
			}
			return
		}
		for _, c := range n.sortedChildren() {
			walk(p + "/" + c)
		}
	}
	walk(quotaPath)
}
