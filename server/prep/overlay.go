package prep

import (
	"slices"

	"github.com/zkd-io/zkd/server/proto"
)

// changeRecord is ZooKeeper's ChangeRecord: the state a node will have once
// every txn prepped so far is applied. Requests are validated against these
// records first and the tree second, so that a create prepped right after
// another create of the same path fails with NODEEXISTS even though neither
// has reached the tree yet.
type changeRecord struct {
	zxid       int64 // the txn that produces this state; -1 for a tree snapshot
	path       string
	stat       *proto.StatPersisted // nil: the node is (being) deleted
	childCount int32
	acl        []proto.ACL
	data       []byte // the node's data in this state (shared: read only)
	// nodeDigest is this state's contribution to the tree digest (0 when
	// deleted), and treeDigest the whole tree's digest once this record's
	// txn has changed it so far: ZooKeeper's PrecalculatedDigest.
	nodeDigest, treeDigest int64
}

// duplicate copies c for a txn that changes it (ChangeRecord.duplicate).
func (c *changeRecord) duplicate(zxid int64) *changeRecord {
	var stat proto.StatPersisted
	if c.stat != nil {
		stat = *c.stat
	}
	acl := slices.Clone(c.acl)
	if acl == nil {
		acl = []proto.ACL{}
	}
	return &changeRecord{zxid: zxid, path: c.path, stat: &stat, childCount: c.childCount, acl: acl, data: c.data,
		nodeDigest: c.nodeDigest}
}

// overlay is ZooKeeper's outstandingChanges list and outstandingChangesForPath
// map: the records of txns prepped but not applied, oldest first, and the
// newest record per path. Paths are keys exactly as ZooKeeper forms them, so
// the root is "" when it is a parent and "/" when it is the target, as in
// ZooKeeper.
type overlay struct {
	changes []*changeRecord
	byPath  map[string]*changeRecord
}

func (o *overlay) add(c *changeRecord) {
	if o.byPath == nil {
		o.byPath = make(map[string]*changeRecord)
	}
	o.changes = append(o.changes, c)
	o.byPath[c.path] = c
}

// applied drops the records of txns up to zxid, which the tree now holds
// (FinalRequestProcessor). A path keeps a newer record if it has one.
func (o *overlay) applied(zxid int64) {
	n := 0
	for n < len(o.changes) && o.changes[n].zxid <= zxid {
		c := o.changes[n]
		if o.byPath[c.path] == c {
			delete(o.byPath, c.path)
		}
		o.changes[n] = nil
		n++
	}
	o.changes = o.changes[n:]
}

func (o *overlay) reset() {
	clear(o.changes)
	o.changes = o.changes[:0]
	clear(o.byPath)
}

// pending returns the records a multi may have to restore if it fails: the
// current records of each op's path and of its parent
// (PrepRequestProcessor.getPendingChanges).
func (o *overlay) pending(paths []string) map[string]*changeRecord {
	out := make(map[string]*changeRecord)
	for _, path := range paths {
		if c, ok := o.byPath[path]; ok {
			out[path] = c
		}
		parent, ok := parentOf(path)
		if !ok {
			continue
		}
		if c, ok := o.byPath[parent]; ok {
			out[parent] = c
		}
	}
	return out
}

// rollback undoes a failed multi (rollbackPendingChanges): it drops the
// records the multi added, all of which carry its zxid and sit at the end,
// then restores the saved records that are still outstanding.
func (o *overlay) rollback(zxid int64, pending map[string]*changeRecord) {
	for len(o.changes) > 0 && o.changes[len(o.changes)-1].zxid == zxid {
		last := o.changes[len(o.changes)-1]
		o.changes[len(o.changes)-1] = nil
		o.changes = o.changes[:len(o.changes)-1]
		delete(o.byPath, last.path)
	}
	if len(o.changes) == 0 {
		return
	}
	first := o.changes[0].zxid
	for path, c := range pending {
		if c.zxid >= first {
			o.byPath[path] = c
		}
	}
}
