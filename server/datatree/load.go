package datatree

import (
	"errors"
	"fmt"
	"slices"

	"github.com/zkd-io/zkd/server/proto"
)

// Loader rebuilds a tree from a snapshot (DataTree.deserialize): first the
// ACL cache entries, then the nodes in the snapshot's order, a parent always
// before its children, the root under the path "". The snapshot replaces
// everything, /zookeeper included. Loader is not safe for concurrent use.
type Loader struct {
	t        *Tree
	nodesIn  bool
	finished bool
}

// NewLoader returns a Loader for a tree with the given options.
func NewLoader(opts Options) *Loader {
	return &Loader{t: newEmpty(opts)}
}

var errLoaderDone = errors.New("datatree: loader already finished")

// ACL adds one entry of the snapshot's ACL cache. Entries start unused; the
// ones no node refers to are dropped at the end, as ZooKeeper does.
func (l *Loader) ACL(id int64, acl []proto.ACL) error {
	switch {
	case l.finished:
		return errLoaderDone
	case l.nodesIn:
		return fmt.Errorf("datatree: ACL %d after the first node", id)
	case id == openACLID:
		return fmt.Errorf("datatree: ACL id %d is reserved for OPEN_ACL_UNSAFE", id)
	}
	c := &l.t.acls
	if old := c.byID[id]; old != nil {
		delete(c.byKey, old.key)
	}
	if acl == nil {
		acl = []proto.ACL{}
	}
	key := aclKey(acl)
	c.byID[id] = &aclEntry{acl: slices.Clone(acl), key: key}
	c.byKey[key] = id
	c.last = max(c.last, id)
	return nil
}

// Node adds one node. path is "" for the root and a full path otherwise;
// the parent must already be loaded and aclID must be -1 or an id given to
// ACL. stat is the stored stat, as snapshots hold it.
func (l *Loader) Node(path string, data []byte, aclID int64, stat proto.StatPersisted) error {
	if l.finished {
		return errLoaderDone
	}
	l.nodesIn = true
	t := l.t
	if aclID != openACLID && t.acls.byID[aclID] == nil {
		return fmt.Errorf("datatree: node %q refers to ACL %d, which the snapshot does not define", path, aclID)
	}
	n := &node{data: data, acl: aclID, stat: stat}
	if path == "" {
		if t.root != nil {
			return errors.New("datatree: root node appears twice")
		}
		t.root = n
		t.nodes[rootPath] = n
		t.addDigest("", n)
		t.acls.addUsage(aclID)
		return nil
	}
	parentName, childName, ok := splitPath(path)
	switch {
	case !ok || path == rootPath || childName == "":
		return fmt.Errorf("datatree: invalid node path %q", path)
	case t.nodes[path] != nil:
		return fmt.Errorf("datatree: node %q appears twice", path)
	}
	parent := t.get(parentName)
	if parent == nil {
		return fmt.Errorf("datatree: unable to find parent %q of node %q", parentName, path)
	}
	parent.addChild(childName)
	t.nodes[path] = n
	t.addDigest(path, n)
	t.acls.addUsage(aclID)
	owner := stat.EphemeralOwner
	switch t.EphemeralKindOf(owner) {
	case KindContainer:
		t.containers[path] = struct{}{}
	case KindTTL:
		t.ttls[path] = struct{}{}
	case KindEphemeral:
		t.addEphemeral(owner, path)
	}
	return nil
}

// Finish completes the tree: it computes the approximate data size, sets up
// quota tracking from /zookeeper/quota, drops unused ACL entries and returns
// the tree. The caller then sets the snapshot's zxid with
// SetLastProcessedZxid. A snapshot without a root is an error.
func (l *Loader) Finish() (*Tree, error) {
	if l.finished {
		return nil, errLoaderDone
	}
	t := l.t
	if t.root == nil {
		return nil, errors.New("datatree: snapshot has no root node")
	}
	l.finished = true
	t.dataSize = t.approximateDataSize()
	t.setupQuota()
	t.acls.purgeUnused()
	t.updateGauges()
	return t, nil
}
