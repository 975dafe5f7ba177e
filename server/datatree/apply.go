package datatree

import (
	"slices"
	"strings"
	"time"

	"github.com/zkd-io/zkd/server/proto"
)

// Result is the outcome of applying one txn (DataTree.ProcessTxnResult).
//
// Err is the txn's error code: an ErrorTxn's code, or the code the tree met
// while applying (NONODE, NODEEXISTS ... when replaying txns that a fuzzy
// snapshot already contains). For a multi, Multi holds one Result per
// sub-txn and Err is the first non-zero sub-result code; the reply header of
// a multi still carries 0, which is the caller's business.
type Result struct {
	ClientID int64
	Cxid     int32
	Zxid     int64
	Type     int32 // header type; OpError for every sub-result of a failed multi
	Err      proto.Code
	Path     string      // create*, delete*, setData, setACL, check
	Stat     *proto.Stat // create2, createTTL, createContainer, setData, setACL on success
	Multi    []Result
}

// ProcessTxn applies a committed txn (DataTree.processTxn). The caller holds
// the write lock. Watches fire from inside ProcessTxn, in ZooKeeper's order.
//
// ProcessTxn never fails as a whole: what goes wrong is reported in
// Result.Err, and the tree is left as ZooKeeper would leave it. That
// includes replay fix-ups: a create that meets an existing node re-points
// the node's ACL and raises the parent's cversion and pzxid (ZOOKEEPER-3249
// and friends), and a delete of a missing node still raises the parent's
// pzxid. Inputs that would make ZooKeeper throw (a body that does not match
// the header type, a TTL out of range, a path without '/', deleting "/")
// change nothing and yield MARSHALLINGERROR or BADARGUMENTS.
//
// The tree keeps the Data and ACL slices of the txn: they must not be
// modified afterwards.
//
// lastProcessedZxid moves to the txn's zxid once the whole txn (a whole
// multi, ZOOKEEPER-3127) has been applied, whatever its type, and never
// moves backwards.
func (t *Tree) ProcessTxn(hdr *proto.TxnHeader, txn proto.Txn) Result {
	if hdr == nil {
		return Result{Err: proto.ErrMarshallingError}
	}
	var start time.Time
	if t.metrics != nil {
		start = time.Now()
	}
	r := t.apply(hdr, txn)
	if hdr.Zxid > t.lastZxid {
		t.lastZxid = hdr.Zxid
	}
	if t.metrics != nil {
		t.metrics.observeApply(hdr.Zxid, hdr.Type, time.Since(start))
		t.updateGauges()
	}
	return r
}

// apply applies one txn or sub-txn.
func (t *Tree) apply(hdr *proto.TxnHeader, txn proto.Txn) Result {
	r := Result{ClientID: hdr.ClientID, Cxid: hdr.Cxid, Zxid: hdr.Zxid, Type: hdr.Type}
	zxid, now := hdr.Zxid, hdr.Time
	switch hdr.Type {
	case proto.OpCreate, proto.OpCreate2:
		c, ok := txn.(*proto.CreateTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		r.Path = c.Path
		var owner int64
		if c.Ephemeral {
			owner = hdr.ClientID
		}
		st, code := t.createNode(c.Path, c.Data, c.ACL, owner, c.ParentCVersion, zxid, now)
		r.Err = code
		if code == proto.ErrOK && hdr.Type == proto.OpCreate2 {
			r.Stat = &st
		}
		if code == proto.ErrNodeExists && hdr.Type == proto.OpCreate {
			// Replay of a fuzzy snapshot: the node was deleted and created
			// again by another session after its parent was serialized, so
			// the parent's cversion and pzxid must still move forward.
			// ZooKeeper does this for plain creates only.
			parent, _, _ := splitPath(c.Path)
			r.Err = t.setCversionPzxid(parent, c.ParentCVersion, zxid)
			if r.Err == proto.ErrOK {
				r.Err = proto.ErrNodeExists
			}
		}
	case proto.OpCreateTTL:
		c, ok := txn.(*proto.CreateTTLTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		r.Path = c.Path
		owner, ok := ttlOwner(c.TTL)
		if !ok {
			r.Err = proto.ErrBadArguments
			break
		}
		st, code := t.createNode(c.Path, c.Data, c.ACL, owner, c.ParentCVersion, zxid, now)
		r.Err = code
		if code == proto.ErrOK {
			r.Stat = &st
		}
	case proto.OpCreateContainer:
		c, ok := txn.(*proto.CreateContainerTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		r.Path = c.Path
		st, code := t.createNode(c.Path, c.Data, c.ACL, proto.ContainerEphemeralOwner, c.ParentCVersion, zxid, now)
		r.Err = code
		if code == proto.ErrOK {
			r.Stat = &st
		}
	case proto.OpDelete, proto.OpDeleteContainer:
		d, ok := txn.(*proto.DeleteTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		r.Path = d.Path
		r.Err = t.deleteNode(d.Path, zxid)
	case proto.OpSetData, proto.OpReconfig:
		s, ok := txn.(*proto.SetDataTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		r.Path = s.Path
		st, code := t.setData(s.Path, s.Data, s.Version, zxid, now)
		r.Err = code
		if code == proto.ErrOK {
			r.Stat = &st
		}
	case proto.OpSetACL:
		s, ok := txn.(*proto.SetACLTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		r.Path = s.Path
		st, code := t.setACL(s.Path, s.ACL, s.Version)
		r.Err = code
		if code == proto.ErrOK {
			r.Stat = &st
		}
	case proto.OpCloseSession:
		var listed []string
		switch c := txn.(type) {
		case nil:
		case *proto.CloseSessionTxn:
			if !c.Empty {
				listed = c.Paths2Delete
			}
		default:
			r.Err = proto.ErrMarshallingError
			return r
		}
		t.killSession(hdr.ClientID, zxid, listed)
	case proto.OpError:
		e, ok := txn.(*proto.ErrorTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		r.Err = e.Err
	case proto.OpCheck:
		c, ok := txn.(*proto.CheckVersionTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		r.Path = c.Path
	case proto.OpMulti:
		m, ok := txn.(*proto.MultiTxn)
		if !ok {
			r.Err = proto.ErrMarshallingError
			break
		}
		t.applyMulti(hdr, m, &r)
	}
	// createSession and any other type change nothing.
	return r
}

// applyMulti is DataTree.processTxn's multi branch. If any sub-txn is an
// ErrorTxn the multi failed in prep and nothing may be applied: sub-txns
// before the first error report OK, the error sub-txns their own codes and
// the ones after RUNTIMEINCONSISTENCY, all as OpError results. A sub-txn of
// a type a multi cannot hold (setACL, reconfig ...) stops the loop where it
// is, as ZooKeeper's IOException does, keeping what was already applied.
func (t *Tree) applyMulti(hdr *proto.TxnHeader, m *proto.MultiTxn, r *Result) {
	failed := slices.ContainsFunc(m.Txns, func(sub proto.Txn) bool {
		return sub != nil && sub.TxnType() == proto.OpError
	})
	r.Multi = make([]Result, 0, len(m.Txns))
	postFailed := false
	for _, sub := range m.Txns {
		if sub == nil {
			return
		}
		typ := sub.TxnType()
		switch typ {
		case proto.OpCreate, proto.OpCreate2, proto.OpCreateTTL, proto.OpCreateContainer,
			proto.OpDelete, proto.OpDeleteContainer, proto.OpSetData, proto.OpCheck:
		case proto.OpError:
			postFailed = true
		default:
			return
		}
		if failed && typ != proto.OpError {
			code := proto.ErrOK
			if postFailed {
				code = proto.ErrRuntimeInconsistency
			}
			typ, sub = proto.OpError, &proto.ErrorTxn{Err: code}
		}
		subHdr := *hdr
		subHdr.Type = typ
		sr := t.apply(&subHdr, sub)
		r.Multi = append(r.Multi, sr)
		if sr.Err != proto.ErrOK && r.Err == proto.ErrOK {
			r.Err = sr.Err
		}
	}
}

// createNode is DataTree.createNode. It returns the new node's client stat.
func (t *Tree) createNode(path string, data []byte, acl []proto.ACL, owner int64, parentCVersion int32, zxid, now int64) (proto.Stat, proto.Code) {
	parentName, childName, ok := splitPath(path)
	if !ok {
		return proto.Stat{}, proto.ErrBadArguments
	}
	parent := t.get(parentName)
	if parent == nil {
		return proto.Stat{}, proto.ErrNoNode
	}
	parentACL := t.acls.lookup(parent.acl)
	// ZooKeeper interns the ACL before the existence check and, on replay,
	// points an existing node at the txn's ACL (the old id's count is not
	// released: ZooKeeper leaks it too).
	aclID := t.acls.intern(acl)
	if existing := t.get(path); existing != nil {
		existing.acl = aclID
		return proto.Stat{}, proto.ErrNodeExists
	}

	t.removeDigest(parentName, parent)
	if parentCVersion == -1 {
		parentCVersion = parent.stat.Cversion + 1
	}
	// A replayed create of a node that a fuzzy snapshot saw created and
	// deleted must not move cversion and pzxid backwards.
	if parentCVersion > parent.stat.Cversion {
		parent.stat.Cversion = parentCVersion
		parent.stat.Pzxid = zxid
	}
	child := &node{
		data: data,
		acl:  aclID,
		stat: proto.StatPersisted{
			Czxid: zxid, Mzxid: zxid, Pzxid: zxid,
			Ctime: now, Mtime: now,
			EphemeralOwner: owner,
		},
	}
	parent.addChild(childName)
	t.addDigest(parentName, parent)
	t.dataSize += nodeSize(path, data)
	t.nodes[path] = child
	t.addDigest(path, child)

	switch t.EphemeralKindOf(owner) {
	case KindContainer:
		t.containers[path] = struct{}{}
	case KindTTL:
		t.ttls[path] = struct{}{}
	case KindEphemeral:
		t.addEphemeral(owner, path)
	}
	st := t.clientStat(child)

	if strings.HasPrefix(parentName, quotaPath) {
		switch childName {
		case limitNodeName:
			t.quotas.add(parentName[len(quotaPath):])
		case statNodeName:
			t.updateQuotaForPath(parentName[len(quotaPath):])
		}
	}
	if prefix := t.quotas.maxPrefix(path); prefix != "" {
		t.updateQuotaStat(prefix, int64(len(data)), 1)
	}

	t.dataWatches.Trigger(path, proto.EventNodeCreated, zxid, t.acls.lookup(aclID), nil)
	t.childWatches.Trigger(watchPath(parentName), proto.EventNodeChildrenChanged, zxid, parentACL, nil)
	return st, proto.ErrOK
}

// deleteNode is DataTree.deleteNode. It does not check for children: prep
// does, and on replay ZooKeeper deletes regardless.
func (t *Tree) deleteNode(path string, zxid int64) proto.Code {
	parentName, childName, ok := splitPath(path)
	if !ok || path == rootPath {
		return proto.ErrBadArguments
	}
	parent := t.get(parentName)
	if parent == nil {
		return proto.ErrNoNode
	}
	// The parent's pzxid moves even if the child is already gone (fuzzy
	// snapshot replay), but never backwards, where a later create set it.
	t.removeDigest(parentName, parent)
	parent.removeChild(childName)
	if zxid > parent.stat.Pzxid {
		parent.stat.Pzxid = zxid
	}
	t.addDigest(parentName, parent)

	n := t.nodes[path]
	if n == nil {
		return proto.ErrNoNode
	}
	delete(t.nodes, path)
	t.removeDigest(path, n)
	acl := t.acls.lookup(n.acl)
	t.acls.removeUsage(n.acl)
	t.dataSize -= nodeSize(path, n.data)
	parentACL := t.acls.lookup(parent.acl)

	owner := n.stat.EphemeralOwner
	switch t.EphemeralKindOf(owner) {
	case KindContainer:
		delete(t.containers, path)
	case KindTTL:
		delete(t.ttls, path)
	case KindEphemeral:
		t.removeEphemeral(owner, path)
	}

	if strings.HasPrefix(parentName, procPath) && childName == limitNodeName && len(parentName) >= len(quotaPath) {
		t.quotas.remove(parentName[len(quotaPath):])
	}
	if prefix := t.quotas.maxPrefix(path); prefix != "" {
		t.updateQuotaStat(prefix, -int64(len(n.data)), -1)
	}

	// Data watchers get NodeDeleted; child watchers of the node get it too,
	// unless they just got it as data watchers.
	processed := t.dataWatches.Trigger(path, proto.EventNodeDeleted, zxid, acl, nil)
	t.childWatches.Trigger(path, proto.EventNodeDeleted, zxid, acl, processed)
	t.childWatches.Trigger(watchPath(parentName), proto.EventNodeChildrenChanged, zxid, parentACL, nil)
	return proto.ErrOK
}

// setData is DataTree.setData: version is the new data version.
func (t *Tree) setData(path string, data []byte, version int32, zxid, now int64) (proto.Stat, proto.Code) {
	n := t.get(path)
	if n == nil {
		return proto.Stat{}, proto.ErrNoNode
	}
	last := n.data
	t.removeDigest(path, n)
	n.data = data
	n.stat.Mtime = now
	n.stat.Mzxid = zxid
	n.stat.Version = version
	t.addDigest(path, n)
	st := t.clientStat(n)

	if prefix := t.quotas.maxPrefix(path); prefix != "" {
		t.updateQuotaStat(prefix, int64(len(data))-int64(len(last)), 0)
	}
	t.dataSize += nodeSize(path, data) - nodeSize(path, last)
	t.dataWatches.Trigger(path, proto.EventNodeDataChanged, zxid, t.acls.lookup(n.acl), nil)
	return st, proto.ErrOK
}

// setACL is DataTree.setACL: version is the new aversion. No watch fires.
func (t *Tree) setACL(path string, acl []proto.ACL, version int32) (proto.Stat, proto.Code) {
	n := t.get(path)
	if n == nil {
		return proto.Stat{}, proto.ErrNoNode
	}
	// Released before interning the new list, as ZooKeeper does: setting
	// the same list again on its only user gives it a new id.
	t.acls.removeUsage(n.acl)
	t.removeDigest(path, n)
	n.stat.Aversion = version
	n.acl = t.acls.intern(acl)
	t.addDigest(path, n)
	return t.clientStat(n), proto.ErrOK
}

// setCversionPzxid is DataTree.setCversionPzxid: raise a node's stored
// cversion (-1 meaning "one more") and set its pzxid, never lowering it.
func (t *Tree) setCversionPzxid(path string, cversion int32, zxid int64) proto.Code {
	path = strings.TrimSuffix(path, "/")
	n := t.get(path)
	if n == nil {
		return proto.ErrNoNode
	}
	if cversion == -1 {
		cversion = n.stat.Cversion + 1
	}
	if cversion > n.stat.Cversion {
		t.removeDigest(path, n)
		n.stat.Cversion = cversion
		n.stat.Pzxid = zxid
		t.addDigest(path, n)
	}
	return proto.ErrOK
}

// killSession deletes a closed session's ephemerals (DataTree.killSession):
// first the paths the txn lists, whoever owns them, then any other node the
// session still owns. Missing nodes are skipped.
func (t *Tree) killSession(session, zxid int64, listed []string) {
	owned := t.ephemerals[session]
	if owned != nil {
		delete(t.ephemerals, session)
		t.ephemeralCount -= len(owned)
	}
	for _, p := range listed {
		t.deleteNode(p, zxid)
		delete(owned, p)
	}
	rest := make([]string, 0, len(owned))
	for p := range owned {
		rest = append(rest, p)
	}
	slices.Sort(rest)
	for _, p := range rest {
		t.deleteNode(p, zxid)
	}
}

func (t *Tree) addEphemeral(session int64, path string) {
	set := t.ephemerals[session]
	if set == nil {
		set = make(map[string]struct{})
		t.ephemerals[session] = set
	}
	if _, dup := set[path]; !dup {
		set[path] = struct{}{}
		t.ephemeralCount++
	}
}

func (t *Tree) removeEphemeral(session int64, path string) {
	set := t.ephemerals[session]
	if _, ok := set[path]; !ok {
		return
	}
	delete(set, path)
	t.ephemeralCount--
	// Like ZooKeeper, the session keeps its (possibly empty) set until it
	// closes; the dump four-letter word lists such sessions.
}
