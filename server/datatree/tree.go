// Package datatree is zkd's in-memory znode tree: the equivalent of
// ZooKeeper 3.8's DataTree, DataNode, ReferenceCountedACLCache,
// DigestCalculator/NodeHashMapImpl and the apply side of ZKDatabase.
//
// The tree applies committed transactions (ProcessTxn), answers reads, fires
// watches as transactions are applied, and keeps ZooKeeper's incremental tree
// digest so that logs and snapshots written by zkd carry the same TxnDigest
// values a real ZooKeeper server would compute, and logs written by
// ZooKeeper can be checked on replay.
//
// Tree embeds a sync.RWMutex but does no locking of its own for tree state:
// callers hold RLock for reads and Lock for ProcessTxn. The server needs this
// because a reply must be queued while the lock that applied its txn is still
// held, so that watch events always reach a client before any reply that
// reflects the change.
package datatree

import (
	"slices"
	"strings"
	"sync"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/watch"
)

// Well-known paths, as in ZooKeeper's Quotas and ZooDefs.
const (
	rootPath      = "/"
	procPath      = "/zookeeper"
	quotaPath     = "/zookeeper/quota"
	configPath    = "/zookeeper/config"
	procSubtree   = "/zookeeper/" // digest excludes everything below /zookeeper
	limitNodeName = "zookeeper_limits"
	statNodeName  = "zookeeper_stats"
)

// Checker decides whether the caller may read a node with the given ACL:
// it returns proto.ErrOK or proto.ErrNoAuth. A nil Checker allows everything.
type Checker func(acl []proto.ACL) proto.Code

// node is one znode. It is kept small because a tree may hold millions.
// Children are stored by name; the names are substrings of the children's
// path keys in Tree.nodes, so they cost no extra string storage.
type node struct {
	data     []byte // nil and empty are different: nil is sent as length -1
	children map[string]struct{}
	acl      int64 // id in the ACL cache, openACLID for OPEN_ACL_UNSAFE
	stat     proto.StatPersisted
	// digest is this node's contribution to the tree digest, cached so that
	// removing or changing a node with a large payload does not re-hash it.
	// Zero for nodes below /zookeeper/, which the digest leaves out.
	digest uint32
}

// Options configure a Tree. The zero value is ZooKeeper's behaviour with
// zookeeper.extendedTypesEnabled=true and no metrics.
type Options struct {
	// DisableExtendedTypes mirrors zookeeper.extendedTypesEnabled=false,
	// ZooKeeper's default: ephemeral owners with the TTL marker are then
	// treated as plain session ids (shown to clients, owned by a "session").
	// TTL nodes can only be created with extended types enabled, so this
	// matters only for data written by an earlier configuration, and for
	// servers with myid 255, whose session ids carry the TTL marker byte.
	DisableExtendedTypes bool
	// Metrics receives the tree's metrics; nil records nothing.
	Metrics *Metrics
	// WatchMetrics is passed to the tree's two watch managers; nil records
	// nothing.
	WatchMetrics *watch.Metrics
}

// Tree is the znode tree. See the package documentation for the locking
// rules; the watch managers have their own locks.
type Tree struct {
	sync.RWMutex

	// nodes maps full paths to nodes. The root is stored as "/"; ZooKeeper
	// also keeps it under "", and get resolves that alias.
	nodes map[string]*node
	root  *node
	acls  aclCache

	ephemerals     map[int64]map[string]struct{} // session -> paths
	ephemeralCount int
	containers     map[string]struct{}
	ttls           map[string]struct{}
	quotas         quotaSet

	dataWatches  *watch.Manager
	childWatches *watch.Manager

	digest   uint64 // wrapping sum of node digests (AdHash)
	digester Digester
	dataSize int64 // DataTree.nodeDataSize
	lastZxid int64

	extendedTypes bool
	metrics       *Metrics
}

// New returns a tree holding what a fresh ZooKeeper 3.8 DataTree holds: "/",
// "/zookeeper", "/zookeeper/quota" and "/zookeeper/config" (READ_ACL_UNSAFE,
// empty data), all with zero stats. The children of / and /zookeeper are
// added without bumping cversion, so clients see cversion -1 on / and -2 on
// /zookeeper.
func New() *Tree { return NewWithOptions(Options{}) }

// NewWithOptions is New with options.
func NewWithOptions(opts Options) *Tree {
	t := newEmpty(opts)
	t.root = &node{data: []byte{}, acl: openACLID}
	t.nodes[rootPath] = t.root
	t.addDigest("", t.root)
	proc := &node{data: []byte{}, acl: openACLID}
	t.root.addChild(procPath[1:])
	t.nodes[procPath] = proc
	t.addDigest(procPath, proc)
	quota := &node{data: []byte{}, acl: openACLID}
	proc.addChild(quotaPath[len(procPath)+1:])
	t.nodes[quotaPath] = quota
	t.addConfigNode()
	t.dataSize = t.approximateDataSize()
	t.updateGauges()
	return t
}

func newEmpty(opts Options) *Tree {
	return &Tree{
		nodes:         make(map[string]*node),
		acls:          newACLCache(),
		ephemerals:    make(map[int64]map[string]struct{}),
		containers:    make(map[string]struct{}),
		ttls:          make(map[string]struct{}),
		dataWatches:   watch.NewManagerWithMetrics(watch.KindData, opts.WatchMetrics),
		childWatches:  watch.NewManagerWithMetrics(watch.KindChild, opts.WatchMetrics),
		extendedTypes: !opts.DisableExtendedTypes,
		metrics:       opts.Metrics,
	}
}

// addConfigNode creates /zookeeper/config as DataTree.addConfigNode does:
// empty data, zero stat, ACL READ_ACL_UNSAFE set through setACL, which
// leaves its aversion at -1.
func (t *Tree) addConfigNode() {
	proc := t.nodes[procPath]
	if proc == nil {
		return
	}
	proc.addChild(configPath[len(procPath)+1:])
	t.nodes[configPath] = &node{data: []byte{}, acl: openACLID}
	t.setACL(configPath, proto.ReadACLUnsafe, -1)
}

// get returns the node at path; "" is ZooKeeper's alias for the root.
func (t *Tree) get(path string) *node {
	if path == "" {
		return t.root
	}
	return t.nodes[path]
}

func (n *node) addChild(name string) {
	if n.children == nil {
		n.children = make(map[string]struct{}, 1)
	}
	n.children[name] = struct{}{}
}

func (n *node) removeChild(name string) {
	delete(n.children, name)
	if len(n.children) == 0 {
		// A drained map keeps its buckets; dropping it returns the memory
		// of large directories once they are emptied.
		n.children = nil
	}
}

func (n *node) sortedChildren() []string {
	out := n.childNames()
	slices.Sort(out)
	return out
}

// childNames returns the names of n's children, in no particular order.
func (n *node) childNames() []string {
	out := make([]string, 0, len(n.children))
	for c := range n.children {
		out = append(out, c)
	}
	return out
}

// splitPath splits a node path into its parent path and its last component,
// as DataTree does with lastIndexOf('/'): the parent of "/a" is "" (the root
// alias).
func splitPath(path string) (parent, child string, ok bool) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return "", "", false
	}
	return path[:i], path[i+1:], true
}

// watchPath is the path a child watch on parent is registered under:
// DataTree maps the root alias "" back to "/".
func watchPath(parent string) string {
	if parent == "" {
		return rootPath
	}
	return parent
}

// EphemeralKind classifies a node's ephemeralOwner (ZooKeeper's EphemeralType).
type EphemeralKind uint8

// Ephemeral kinds.
const (
	KindPersistent EphemeralKind = iota // owner 0 (VOID)
	KindEphemeral                       // owner is a session id (NORMAL)
	KindContainer                       // owner is proto.ContainerEphemeralOwner
	KindTTL                             // owner is the TTL marker | ttl ms
)

const (
	extendedMask      = int64(-0x0100000000000000) // 0xff00000000000000
	reservedBitsMask  = int64(0x00ffff0000000000)
	extendedValueMask = int64(0x000000ffffffffff)
)

// EphemeralKindOf classifies an ephemeralOwner value as EphemeralType.get
// does under the tree's extended-types setting. ZooKeeper throws for an
// owner with the extended marker and an unknown feature bit; such owners
// count as plain sessions here.
func (t *Tree) EphemeralKindOf(owner int64) EphemeralKind {
	if t.extendedTypes && owner&extendedMask == extendedMask {
		if owner&reservedBitsMask == 0 {
			return KindTTL
		}
		return KindEphemeral
	}
	switch owner {
	case proto.ContainerEphemeralOwner:
		return KindContainer
	case 0:
		return KindPersistent
	}
	return KindEphemeral
}

// ttlOwner is EphemeralType.TTL.toEphemeralOwner: false for a TTL outside
// 1..proto.MaxTTL, for which ZooKeeper throws.
func ttlOwner(ttl int64) (int64, bool) {
	if ttl <= 0 || ttl > extendedValueMask {
		return 0, false
	}
	return extendedMask | ttl, true
}

// NodeInfo describes a node without its data.
type NodeInfo struct {
	// Stat is the stored stat: cversion counts child creations only and
	// ephemeralOwner is raw (container and TTL markers included).
	Stat        proto.StatPersisted
	ACL         []proto.ACL // shared with the tree: read only
	NumChildren int32
	DataLength  int32 // 0 for null data, as in Stat
	Kind        EphemeralKind
	// Data is the node's data, shared with the tree: read only (the tree
	// never changes data in place).
	Data []byte
	// Digest is the node's contribution to the tree digest (NodeDigest).
	Digest int64
}

// ClientStat returns the Stat clients see (DataNode.copyStat): cversion is
// 2*stored - numChildren, and ephemeralOwner is 0 for containers and TTL
// nodes.
func (n NodeInfo) ClientStat() proto.Stat {
	owner := n.Stat.EphemeralOwner
	if n.Kind != KindEphemeral {
		owner = 0
	}
	return proto.Stat{
		Czxid:          n.Stat.Czxid,
		Mzxid:          n.Stat.Mzxid,
		Ctime:          n.Stat.Ctime,
		Mtime:          n.Stat.Mtime,
		Version:        n.Stat.Version,
		Cversion:       n.Stat.Cversion*2 - n.NumChildren,
		Aversion:       n.Stat.Aversion,
		EphemeralOwner: owner,
		DataLength:     n.DataLength,
		NumChildren:    n.NumChildren,
		Pzxid:          n.Stat.Pzxid,
	}
}

// TTL returns the time to live of a TTL node in milliseconds, 0 otherwise.
func (n NodeInfo) TTL() int64 {
	if n.Kind != KindTTL {
		return 0
	}
	return n.Stat.EphemeralOwner & extendedValueMask
}

func (t *Tree) info(n *node) NodeInfo {
	return NodeInfo{
		Stat:        n.stat,
		ACL:         t.acls.lookup(n.acl),
		NumChildren: int32(len(n.children)),
		DataLength:  int32(len(n.data)),
		Kind:        t.EphemeralKindOf(n.stat.EphemeralOwner),
		Data:        n.data,
		Digest:      int64(n.digest),
	}
}

func (t *Tree) clientStat(n *node) proto.Stat {
	return t.info(n).ClientStat()
}

// Lookup returns a node's metadata.
func (t *Tree) Lookup(path string) (NodeInfo, bool) {
	n := t.get(path)
	if n == nil {
		return NodeInfo{}, false
	}
	return t.info(n), true
}

// GetData returns a node's data and stat and, when w is non-nil, sets a data
// watch. As FinalRequestProcessor does, a missing node is NONODE and a
// failed check is returned before any watch is set. The returned slice is
// nil for null data. It is shared with the tree and must not be modified;
// the tree never changes data in place, so it stays valid after the lock is
// released.
func (t *Tree) GetData(path string, w watch.Watcher, check Checker) ([]byte, proto.Stat, proto.Code) {
	n := t.get(path)
	if n == nil {
		return nil, proto.Stat{}, proto.ErrNoNode
	}
	if check != nil {
		if code := check(t.acls.lookup(n.acl)); code != proto.ErrOK {
			return nil, proto.Stat{}, code
		}
	}
	if w != nil {
		t.dataWatches.Add(path, w, watch.Standard)
	}
	return n.data, t.clientStat(n), proto.ErrOK
}

// Exists returns a node's stat. With w non-nil it sets a data watch even
// when the node does not exist, so the client learns of its creation
// (DataTree.statNode). Checking READ permission on an existing node, which
// ZooKeeper 3.8.4+ does first, is the caller's job (use Lookup).
func (t *Tree) Exists(path string, w watch.Watcher) (proto.Stat, proto.Code) {
	if w != nil {
		t.dataWatches.Add(path, w, watch.Standard)
	}
	n := t.get(path)
	if n == nil {
		return proto.Stat{}, proto.ErrNoNode
	}
	return t.clientStat(n), proto.ErrOK
}

// GetChildren returns a node's child names, sorted, and its stat, and sets a
// child watch when w is non-nil (after a successful check).
func (t *Tree) GetChildren(path string, w watch.Watcher, check Checker) ([]string, proto.Stat, proto.Code) {
	n := t.get(path)
	if n == nil {
		return nil, proto.Stat{}, proto.ErrNoNode
	}
	if check != nil {
		if code := check(t.acls.lookup(n.acl)); code != proto.ErrOK {
			return nil, proto.Stat{}, code
		}
	}
	if w != nil {
		t.childWatches.Add(path, w, watch.Standard)
	}
	return n.sortedChildren(), t.clientStat(n), proto.ErrOK
}

// GetACL returns a copy of a node's ACL and its stat. Permission checks are
// the caller's job.
func (t *Tree) GetACL(path string) ([]proto.ACL, proto.Stat, proto.Code) {
	n := t.get(path)
	if n == nil {
		return nil, proto.Stat{}, proto.ErrNoNode
	}
	return slices.Clone(t.acls.lookup(n.acl)), t.clientStat(n), proto.ErrOK
}

// AllChildrenNumber returns the number of descendants of path
// (getAllChildrenNumber). For "/" ZooKeeper counts every node but the root,
// /zookeeper and its children included.
func (t *Tree) AllChildrenNumber(path string) (int32, proto.Code) {
	n := t.get(path)
	if n == nil {
		return 0, proto.ErrNoNode
	}
	switch path {
	case rootPath:
		return int32(len(t.nodes) - 1), proto.ErrOK
	case "":
		// Every key but "" starts with "/" in ZooKeeper's map.
		return int32(len(t.nodes)), proto.ErrOK
	}
	var count int32
	var walk func(p string, n *node)
	walk = func(p string, n *node) {
		for c := range n.children {
			cp := p + "/" + c
			count++
			if cn := t.nodes[cp]; cn != nil && len(cn.children) > 0 {
				walk(cp, cn)
			}
		}
	}
	walk(path, n)
	return count, proto.ErrOK
}

// Ephemerals returns the session's ephemeral paths that start with prefix,
// sorted (getEphemerals). An empty or blank prefix, or "/", selects all.
func (t *Tree) Ephemerals(session int64, prefix string) []string {
	trimmed := strings.TrimFunc(prefix, func(r rune) bool { return r <= ' ' })
	all := trimmed == "" || trimmed == rootPath
	out := []string{}
	for p := range t.ephemerals[session] {
		if all || strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// SessionEphemerals returns all of the session's ephemeral paths, sorted.
func (t *Tree) SessionEphemerals(session int64) []string {
	return t.Ephemerals(session, "")
}

// EphemeralsBySession returns a copy of the session -> ephemeral paths map,
// each list sorted (for the dump four-letter word).
func (t *Tree) EphemeralsBySession() map[int64][]string {
	out := make(map[int64][]string, len(t.ephemerals))
	for s, paths := range t.ephemerals {
		list := make([]string, 0, len(paths))
		for p := range paths {
			list = append(list, p)
		}
		slices.Sort(list)
		out[s] = list
	}
	return out
}

// NodeCount returns ZooKeeper's znode count (DataTree.getNodeCount, mntr's
// zk_znode_count). ZooKeeper's node map holds the root twice, as "" and as
// "/", so this is one more than the number of distinct znodes: a fresh tree
// reports 5.
func (t *Tree) NodeCount() int { return len(t.nodes) + 1 }

// ApproximateDataSize returns the sum of path lengths (in UTF-16 units, as
// Java counts them) and data lengths over all nodes, maintained the way
// DataTree.cachedApproximateDataSize is (mntr's zk_approximate_data_size).
func (t *Tree) ApproximateDataSize() int64 { return t.dataSize }

// EphemeralCount returns the number of ephemeral nodes owned by sessions.
func (t *Tree) EphemeralCount() int { return t.ephemeralCount }

// LastProcessedZxid returns the zxid of the last transaction applied.
func (t *Tree) LastProcessedZxid() int64 { return t.lastZxid }

// SetLastProcessedZxid sets the last processed zxid, e.g. to a snapshot's
// zxid after loading it.
func (t *Tree) SetLastProcessedZxid(z int64) { t.lastZxid = z }

// Digest returns the tree digest (DataTree.getTreeDigest, digest version 2).
func (t *Tree) Digest() int64 { return int64(t.digest) }

// javaLength returns the length of s as a Java String: UTF-16 code units.
func javaLength(s string) int64 {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			var n int64
			for _, r := range s {
				n++
				if r >= 0x10000 {
					n++
				}
			}
			return n
		}
	}
	return int64(len(s))
}

// nodeSize is DataTree.getNodeSize.
func nodeSize(path string, data []byte) int64 {
	return javaLength(path) + int64(len(data))
}

// approximateDataSize is DataTree.approximateDataSize: a pass over the node
// map, in which ZooKeeper finds the root under both "" and "/".
func (t *Tree) approximateDataSize() int64 {
	size := nodeSize("", t.root.data)
	for p, n := range t.nodes {
		size += nodeSize(p, n.data)
	}
	return size
}
