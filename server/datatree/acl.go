package datatree

import (
	"encoding/binary"
	"slices"

	"github.com/zkd-io/zkd/server/proto"
)

// openACLID is the ACL id that stands for OPEN_ACL_UNSAFE without an entry
// in the cache (ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID). Only a nil ACL
// list maps to it; an explicit world:anyone list gets a numbered entry, as in
// ZooKeeper, which matters for snapshot compatibility.
const openACLID int64 = -1

// aclCache interns ACL lists (ReferenceCountedACLCache): every node stores
// the id of its list, so a million nodes sharing one ACL share one slice.
// Ids count up from 1 and are never reused; an entry goes away when its last
// user does. Snapshots store the id -> list map and the ids.
//
// The proto package decodes an empty ACL vector as nil, so an empty list in
// a txn maps to OPEN_ACL_UNSAFE here, where ZooKeeper would intern an empty
// list (which also allows everything). Prep never lets an empty ACL through.
type aclCache struct {
	byID  map[int64]*aclEntry
	byKey map[string]int64
	last  int64 // highest id handed out (aclIndex)
}

type aclEntry struct {
	acl  []proto.ACL
	key  string
	refs int64
}

func newACLCache() aclCache {
	return aclCache{byID: make(map[int64]*aclEntry), byKey: make(map[string]int64)}
}

// aclKey encodes an ACL list as a map key: equal lists (same entries in the
// same order, as Java's List.equals) give equal keys.
func aclKey(acl []proto.ACL) string {
	n := 0
	for _, a := range acl {
		n += 12 + len(a.ID.Scheme) + len(a.ID.ID)
	}
	b := make([]byte, 0, n)
	for _, a := range acl {
		b = binary.BigEndian.AppendUint32(b, uint32(a.Perms))
		b = binary.BigEndian.AppendUint32(b, uint32(len(a.ID.Scheme)))
		b = append(b, a.ID.Scheme...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(a.ID.ID)))
		b = append(b, a.ID.ID...)
	}
	return string(b)
}

// intern returns the id for acl and counts one more use of it
// (convertAcls).
func (c *aclCache) intern(acl []proto.ACL) int64 {
	if acl == nil {
		return openACLID
	}
	key := aclKey(acl)
	id, ok := c.byKey[key]
	if !ok {
		c.last++
		id = c.last
		c.byID[id] = &aclEntry{acl: slices.Clone(acl), key: key}
		c.byKey[key] = id
	}
	c.addUsage(id)
	return id
}

// addUsage counts one more user of id; unknown ids are ignored, as in
// ZooKeeper.
func (c *aclCache) addUsage(id int64) {
	if e := c.byID[id]; e != nil {
		e.refs++
	}
}

// removeUsage counts one user fewer and drops the entry when none is left.
func (c *aclCache) removeUsage(id int64) {
	e := c.byID[id]
	if e == nil {
		return
	}
	e.refs--
	if e.refs <= 0 {
		c.drop(id, e)
	}
}

// drop removes an entry. Like ZooKeeper it removes the list's key even if
// the key has since been bound to another id holding an equal list (possible
// only in snapshots that list one ACL twice).
func (c *aclCache) drop(id int64, e *aclEntry) {
	delete(c.byID, id)
	delete(c.byKey, e.key)
}

// purgeUnused drops entries nobody uses (after loading a snapshot).
func (c *aclCache) purgeUnused() {
	for id, e := range c.byID {
		if e.refs <= 0 {
			c.drop(id, e)
		}
	}
}

// lookup returns the list for id (convertLong). The result is shared.
func (c *aclCache) lookup(id int64) []proto.ACL {
	if id == openACLID {
		return proto.OpenACLUnsafe
	}
	if e := c.byID[id]; e != nil {
		return e.acl
	}
	return nil
}

// ACLs returns a copy of the ACL cache as snapshots store it: id -> list,
// without the implicit OPEN_ACL_UNSAFE id -1. Node ids come from Walk.
func (t *Tree) ACLs() map[int64][]proto.ACL {
	out := make(map[int64][]proto.ACL, len(t.acls.byID))
	for id, e := range t.acls.byID {
		out[id] = slices.Clone(e.acl)
	}
	return out
}
