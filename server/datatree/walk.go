package datatree

import "slices"

// NodeView is what Walk shows of a node. Data and ACL are shared with the
// tree: read only, and only while the caller holds the tree's lock.
type NodeView struct {
	NodeInfo
	Data  []byte
	ACLID int64 // the node's id in ACLs(); -1 means OPEN_ACL_UNSAFE
}

// Walk calls fn for every node reachable from the root, depth first, a
// parent before its children and siblings in byte order: the order
// snapshots need (ZooKeeper writes the root's path as "", Walk passes "/").
// The caller holds at least the read lock. Walk stops at and returns the
// first error fn returns.
func (t *Tree) Walk(fn func(path string, n NodeView) error) error {
	return t.walk(fn, 0)
}

// WalkFuzzy is Walk for a caller that does not hold the tree's lock and
// must not hold up writes for the whole walk, as a snapshot of a large
// tree would: it takes the read lock itself and releases it after every
// chunk nodes, so that writes are applied in between. fn runs under the
// read lock.
//
// What it sees is "fuzzy", as ZooKeeper's snapshot walk is: each node as
// it is when fn is called. A node created where the walk has already been
// is not seen, and one deleted before the walk reached it is skipped.
// Parents still come before their children, since a child is only looked
// up after its parent was seen.
func (t *Tree) WalkFuzzy(chunk int, fn func(path string, n NodeView) error) error {
	t.RLock()
	defer t.RUnlock()
	return t.walk(fn, max(chunk, 1))
}

// walk is Walk and, with chunk > 0, WalkFuzzy: the caller holds the read
// lock, and walk releases and retakes it after every chunk nodes.
func (t *Tree) walk(fn func(string, NodeView) error, chunk int) error {
	// One level per node whose children are being walked.
	type level struct {
		prefix   string
		children []string // sorted when the parent was seen
		next     int
	}
	var stack []level
	seen := 0
	visit := func(path string, n *node) error {
		if err := fn(path, NodeView{NodeInfo: t.info(n), Data: n.data, ACLID: n.acl}); err != nil {
			return err
		}
		if len(n.children) > 0 {
			prefix := path + "/"
			if path == rootPath {
				prefix = rootPath
			}
			names := n.childNames()
			if chunk > 0 && len(names) > chunk {
				// Sorting a directory of, say, a million children takes
				// longer than a chunk: not under the lock.
				t.RUnlock()
				slices.Sort(names)
				t.RLock()
				seen = 0
			} else {
				slices.Sort(names)
			}
			stack = append(stack, level{prefix: prefix, children: names})
		}
		return nil
	}
	if err := visit(rootPath, t.root); err != nil {
		return err
	}
	seen++
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next == len(top.children) {
			stack = stack[:len(stack)-1]
			continue
		}
		cp := top.prefix + top.children[top.next]
		top.next++
		if chunk > 0 && seen >= chunk {
			t.RUnlock()
			t.RLock()
			seen = 0
		}
		// Gone: deleted since its parent was seen (WalkFuzzy). In a
		// consistent tree it cannot happen; ZooKeeper's serializer skips
		// such a child the same way.
		n := t.nodes[cp]
		if n == nil {
			continue
		}
		seen++
		if err := visit(cp, n); err != nil {
			return err
		}
	}
	return nil
}

// ChildrenPage returns up to limit child names of path that sort after
// after, in byte order, and whether more follow; limit <= 0 means no limit.
// A missing node has no children. This is for consoles paging through
// directories too large to list at once.
func (t *Tree) ChildrenPage(path string, after string, limit int) ([]string, bool) {
	n := t.get(path)
	if n == nil {
		return nil, false
	}
	var names []string
	for c := range n.children {
		if c > after {
			names = append(names, c)
		}
	}
	slices.Sort(names)
	if limit > 0 && len(names) > limit {
		return names[:limit:limit], true
	}
	return names, false
}

// ReapCandidates returns the nodes the container manager should delete at
// nowMs (ContainerManager.getCandidates), sorted: containers without
// children that once had one (stored cversion > 0), and TTL nodes without
// children not modified for longer than their TTL.
func (t *Tree) ReapCandidates(nowMs int64) []string {
	return t.ReapCandidatesNeverUsed(nowMs, 0)
}

// ReapCandidatesNeverUsed is ReapCandidates with
// znode.container.maxNeverUsedIntervalMs: when it is non-zero, containers
// that never had a child are also candidates once their mtime is older than
// that.
func (t *Tree) ReapCandidatesNeverUsed(nowMs, maxNeverUsedMs int64) []string {
	var out []string
	for p := range t.containers {
		n := t.nodes[p]
		if n == nil || len(n.children) > 0 {
			continue
		}
		if n.stat.Cversion > 0 || (maxNeverUsedMs != 0 && nowMs-n.stat.Mtime > maxNeverUsedMs) {
			out = append(out, p)
		}
	}
	for p := range t.ttls {
		n := t.nodes[p]
		if n == nil || len(n.children) > 0 || t.EphemeralKindOf(n.stat.EphemeralOwner) != KindTTL {
			continue
		}
		if ttl := n.stat.EphemeralOwner & extendedValueMask; ttl != 0 && nowMs-n.stat.Mtime > ttl {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// InitConfig puts the ensemble's dynamic configuration in /zookeeper/config
// as ZKDatabase.initConfigInZKDatabase does when a quorum peer starts:
// recreate the node if it is missing, then set its data with data version
// -1, mzxid configVersion and mtime nowMs (NodeDataChanged fires). The
// caller holds the write lock.
func (t *Tree) InitConfig(data []byte, configVersion, nowMs int64) {
	if t.nodes[configPath] == nil {
		t.addConfigNode()
	}
	t.setData(configPath, data, -1, configVersion, nowMs)
	t.updateGauges()
}
