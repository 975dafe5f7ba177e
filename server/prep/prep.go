// Package prep turns write requests into transactions, as ZooKeeper 3.8's
// PrepRequestProcessor does: it checks each request against the data tree
// plus the changes of txns already prepped but not yet applied, and emits
// either the txn that performs the write or an ErrorTxn carrying the error
// the client will get. The order of the checks is ZooKeeper's, so that when
// several problems apply the client sees the same error code as from a Java
// server; the package comments on each operation list that order.
//
// Prep never fails: a request that is invalid still becomes a txn (an
// ErrorTxn) that takes a zxid and goes through the log, exactly like in
// ZooKeeper, so replicas that replay the log reach the same state.
package prep

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/zkd-io/zkd/server/auth"
	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
)

// Sessions checks that a request's session may write (ZooKeeper's
// SessionTracker.checkSession): ErrOK, ErrSessionExpired for a closing
// session, ErrSessionMoved for a session owned by another connection, or
// ErrUnknownSession. Ephemeral creates turn ErrUnknownSession into
// ErrSessionExpired, as checkGlobalSession does.
type Sessions interface {
	Check(sessionID int64) proto.Code
}

// Options configure a Prepper.
type Options struct {
	// ExtendedTypes is zookeeper.extendedTypesEnabled: TTL nodes can be
	// created (createTTL answers UNIMPLEMENTED otherwise), and ephemeral
	// owners with the TTL marker byte mean TTL nodes, not sessions.
	ExtendedTypes bool
	// MaxDataBytes, when positive, is the largest data a create or setData
	// may carry (jute.maxbuffer). ZooKeeper fails larger buffers while
	// decoding the request, so such requests become MARSHALLINGERROR, the
	// whole multi for a multi.
	MaxDataBytes int
	// Sessions checks sessions; nil accepts every session.
	Sessions Sessions
	// Metrics receives the prep metrics; nil records nothing.
	Metrics *Metrics
}

// Request is a write request as the prep stage sees it.
type Request struct {
	SessionID int64
	Cxid      int32
	Op        int32
	// Body is the decoded request: *proto.CreateRequest (create, create2,
	// createContainer), *proto.CreateTTLRequest, *proto.DeleteRequest
	// (delete; Path only for deleteContainer), *proto.SetDataRequest,
	// *proto.SetACLRequest, *proto.CheckVersionRequest,
	// *proto.MultiRequest, *proto.CreateSessionTxn (createSession), nil
	// (closeSession). A body of the wrong type becomes MARSHALLINGERROR.
	Body proto.Record
	// Identity is the session's authentication state when the request
	// arrived; it is only read. nil has no identities.
	Identity *auth.Identity
	// TimeMs is the txn time (ms since the epoch): the ctime and mtime of
	// what the txn creates or changes.
	TimeMs int64
}

// Prepper is the prep stage. It is safe for concurrent use, but ZooKeeper
// preps from one thread and zkd should too: zxids must be handed out in
// the order requests are prepped.
//
// Locking: Prep takes the tree's read lock, then the Prepper's own lock.
// Applied and Reset take only the Prepper's lock, so they may be called
// with the tree's write lock held.
type Prepper struct {
	tree *datatree.Tree
	opts Options

	mu       sync.Mutex
	overlay  overlay
	digester datatree.Digester // under mu
}

// New returns a Prepper for tree.
func New(tree *datatree.Tree, opts Options) *Prepper {
	return &Prepper{tree: tree, opts: opts}
}

// Prep turns req into the txn that zxid will carry. The header holds the
// session, cxid, zxid, req.TimeMs and the request's op; a request that fails
// validation gets header type OpError and an ErrorTxn with the error code.
// A multi keeps type OpMulti: its MultiTxn holds the txns of the ops before
// the failing one, an ErrorTxn with the failure, and ErrorTxn
// RUNTIMEINCONSISTENCY for the ops after it (the tree turns the whole multi
// into errors when it applies it).
//
// What Prep validated against is recorded in the overlay until Applied(zxid)
// says the tree holds it.
func (p *Prepper) Prep(req *Request, zxid int64) (proto.TxnHeader, proto.Txn) {
	hdr, txn, _ := p.PrepTxn(req, zxid)
	return hdr, txn
}

// PrepTxn is Prep that also returns the TxnDigest ZooKeeper 3.8 (with its
// default zookeeper.digest.enabled=true) sends and logs with the txn: the
// digest the whole tree will have once the txn is applied, computed from
// the overlay before it is (PrepRequestProcessor.precalculateDigest).
// Followers and recovery compare it with their tree after applying the
// txn (datatree.Tree.CheckDigest). A request that fails as a whole (an
// error txn) carries none, as in ZooKeeper; a failed multi does, with the
// digest of the unchanged tree.
func (p *Prepper) PrepTxn(req *Request, zxid int64) (proto.TxnHeader, proto.Txn, *proto.TxnDigest) {
	if req == nil {
		return proto.TxnHeader{Zxid: zxid, Type: proto.OpError}, &proto.ErrorTxn{Err: proto.ErrMarshallingError}, nil
	}
	hdr := proto.TxnHeader{ClientID: req.SessionID, Cxid: req.Cxid, Zxid: zxid, Time: req.TimeMs, Type: req.Op}

	p.tree.RLock()
	defer p.tree.RUnlock()
	p.mu.Lock()
	defer p.mu.Unlock()

	c := &opContext{p: p, req: req, zxid: zxid, time: req.TimeMs}
	var (
		txn  proto.Txn
		code proto.Code
	)
	if req.Op == proto.OpMulti {
		txn, code = c.multi()
	} else {
		txn, code = c.op(req.Op, req.Body)
	}
	var digest *proto.TxnDigest
	if txn == nil { // the whole request failed
		hdr.Type = proto.OpError
		txn = &proto.ErrorTxn{Err: code}
	} else {
		digest = &proto.TxnDigest{Version: datatree.DigestVersion, TreeDigest: p.treeDigest()}
	}
	p.opts.Metrics.observe(req.Op, code, len(p.overlay.changes))
	return hdr, txn, digest
}

// treeDigest is the tree digest once every prepped txn is applied: the
// newest overlay record's, or the tree's own when nothing is outstanding
// (getCurrentTreeDigest). Callers hold the tree's read lock and p.mu.
func (p *Prepper) treeDigest() int64 {
	if n := len(p.overlay.changes); n > 0 {
		return p.overlay.changes[n-1].treeDigest
	}
	return p.tree.Digest()
}

// addChange records rec in the overlay with its precalculated digests
// (PrepRequestProcessor.precalculateDigest): the node's new contribution
// replaces that of the path's previous state. A record made by duplicate
// still carries that state's digest and a created node has none; a
// deletion takes the digest of the state it removes (getRecordForPath).
// Callers hold the tree's read lock and p.mu.
func (c *opContext) addChange(rec *changeRecord) {
	prev := rec.nodeDigest
	if rec.stat == nil {
		prev = 0
		if old, _ := c.record(rec.path); old != nil {
			prev = old.nodeDigest
		}
	}
	rec.nodeDigest = 0
	if rec.stat != nil {
		rec.nodeDigest = c.p.digester.NodeDigest(rec.path, rec.data, rec.stat)
	}
	rec.treeDigest = c.p.treeDigest() - prev + rec.nodeDigest
	c.p.overlay.add(rec)
}

// Applied drops the overlay records of txns with zxid <= zxid, which the
// tree has applied. Call it after tree.ProcessTxn.
func (p *Prepper) Applied(zxid int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.overlay.applied(zxid)
	p.opts.Metrics.setOutstanding(len(p.overlay.changes))
}

// Reset drops the whole overlay, for when prepped txns will never be
// applied (a failed pipeline, a new leader).
func (p *Prepper) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.overlay.reset()
	p.opts.Metrics.setOutstanding(0)
}

// Outstanding returns the number of overlay records (txns prepped and not
// yet applied, counted per changed node).
func (p *Prepper) Outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.overlay.changes)
}

// opContext carries one request through prep.
type opContext struct {
	p    *Prepper
	req  *Request
	zxid int64
	time int64
}

// fail is the result of a check that failed.
func fail(code proto.Code) (proto.Txn, proto.Code) { return nil, code }

// op preps one operation, on its own or inside a multi. It returns the txn,
// or nil and the error code. Records are added to the overlay only once
// every check passed.
func (c *opContext) op(op int32, body proto.Record) (proto.Txn, proto.Code) {
	switch op {
	case proto.OpCreate, proto.OpCreate2, proto.OpCreateContainer:
		r, ok := body.(*proto.CreateRequest)
		if !ok {
			return fail(proto.ErrMarshallingError)
		}
		return c.create(op, r.Path, r.Data, r.ACL, r.Flags, -1)
	case proto.OpCreateTTL:
		r, ok := body.(*proto.CreateTTLRequest)
		if !ok {
			return fail(proto.ErrMarshallingError)
		}
		return c.create(op, r.Path, r.Data, r.ACL, r.Flags, r.TTL)
	case proto.OpDelete:
		r, ok := body.(*proto.DeleteRequest)
		if !ok {
			return fail(proto.ErrMarshallingError)
		}
		return c.delete(r.Path, r.Version)
	case proto.OpDeleteContainer:
		r, ok := body.(*proto.DeleteRequest)
		if !ok {
			return fail(proto.ErrMarshallingError)
		}
		return c.deleteContainer(r.Path)
	case proto.OpSetData:
		r, ok := body.(*proto.SetDataRequest)
		if !ok {
			return fail(proto.ErrMarshallingError)
		}
		return c.setData(r)
	case proto.OpSetACL:
		r, ok := body.(*proto.SetACLRequest)
		if !ok {
			return fail(proto.ErrMarshallingError)
		}
		return c.setACL(r)
	case proto.OpCheck:
		r, ok := body.(*proto.CheckVersionRequest)
		if !ok {
			return fail(proto.ErrMarshallingError)
		}
		return c.check(r)
	case proto.OpCreateSession:
		r, ok := body.(*proto.CreateSessionTxn)
		if !ok {
			return fail(proto.ErrMarshallingError)
		}
		return &proto.CreateSessionTxn{TimeOut: r.TimeOut}, proto.ErrOK
	case proto.OpCloseSession:
		return c.closeSession()
	case proto.OpReconfig:
		// reconfigEnabled is false by default, and zkd has no reconfig.
		return fail(proto.ErrReconfigDisabled)
	}
	return fail(proto.ErrUnimplemented)
}

// checkSession is SessionTracker.checkSession.
func (c *opContext) checkSession() proto.Code {
	if c.p.opts.Sessions == nil {
		return proto.ErrOK
	}
	return c.p.opts.Sessions.Check(c.req.SessionID)
}

// tooBig reports whether data exceeds MaxDataBytes.
func (c *opContext) tooBig(data []byte) bool {
	return c.p.opts.MaxDataBytes > 0 && len(data) > c.p.opts.MaxDataBytes
}

// record returns the state of path: its newest overlay record, else the
// tree's node (getRecordForPath). ok is false if the node does not exist or
// is being deleted.
func (c *opContext) record(path string) (rec *changeRecord, ok bool) {
	if r, found := c.p.overlay.byPath[path]; found {
		return r, r.stat != nil
	}
	lookup := path
	if lookup == "" {
		lookup = "/" // ZooKeeper's node map also holds the root under ""
	}
	info, found := c.p.tree.Lookup(lookup)
	if !found {
		return nil, false
	}
	stat := info.Stat
	return &changeRecord{zxid: -1, path: path, stat: &stat, childCount: info.NumChildren, acl: info.ACL,
		data: info.Data, nodeDigest: info.Digest}, true
}

func (c *opContext) allowed(acl []proto.ACL, perm int32) bool {
	return auth.CheckACL(acl, perm, c.req.Identity)
}

// checkVersion is checkAndIncVersion: -1 matches any version; the result
// is the version after the write (int32 wrap-around included).
func checkVersion(current, expected int32) (int32, bool) {
	if expected != -1 && expected != current {
		return 0, false
	}
	return current + 1, true
}

// createMode is CreateMode.
type createMode struct {
	ephemeral, sequential, container, ttl bool
}

// createModeOf is CreateMode.fromFlag; ok is false for an unknown flag.
func createModeOf(flags int32) (m createMode, ok bool) {
	switch flags {
	case proto.FlagPersistent:
	case proto.FlagEphemeral:
		m.ephemeral = true
	case proto.FlagPersistentSequential:
		m.sequential = true
	case proto.FlagEphemeralSequential:
		m.ephemeral, m.sequential = true, true
	case proto.FlagContainer:
		m.container = true
	case proto.FlagPersistentWithTTL:
		m.ttl = true
	case proto.FlagPersistentSequentialWithTTL:
		m.sequential, m.ttl = true, true
	default:
		return m, false
	}
	return m, true
}

// ephemeralKind is EphemeralType.get for an ephemeralOwner.
type ephemeralKind int

const (
	kindVoid ephemeralKind = iota
	kindNormal
	kindContainer
	kindTTL
)

// reservedBitsMask holds an extended ephemeral owner's feature bits; TTL is
// feature 0.
const reservedBitsMask = int64(0x00ffff0000000000)

// kindOf is EphemeralType.get under Options.ExtendedTypes.
func (c *opContext) kindOf(owner int64) ephemeralKind {
	if c.p.opts.ExtendedTypes && owner&proto.TTLEphemeralOwnerMask == proto.TTLEphemeralOwnerMask {
		if owner&reservedBitsMask == 0 {
			return kindTTL
		}
		// ZooKeeper throws for an unknown extended feature; no server
		// it would talk to creates such owners.
		return kindNormal
	}
	switch owner {
	case 0:
		return kindVoid
	case proto.ContainerEphemeralOwner:
		return kindContainer
	}
	return kindNormal
}

// create preps create, create2, createContainer and createTTL
// (pRequest2TxnCreate). ttl is -1 for the ops without one. Checks, in order:
//
//  0. the data size (MARSHALLINGERROR, see Options.MaxDataBytes)
//  1. flags name a create mode (BADARGUMENTS)
//  2. a TTL mode needs extended types (UNIMPLEMENTED)
//  3. the TTL is 1..MaxTTL for a TTL mode and absent otherwise (BADARGUMENTS)
//  4. the session (for ephemerals, unknown sessions are SESSIONEXPIRED)
//  5. the path has a '/' and no NUL (BADARGUMENTS)
//  6. the ACL (INVALIDACL)
//  7. the parent exists (NONODE), then CREATE on it (NOAUTH)
//  8. the path with any sequence suffix is valid (BADARGUMENTS)
//  9. the node does not exist (NODEEXISTS)
//  10. the parent is not an ephemeral (NOCHILDRENFOREPHEMERALS)
//
// The op decides the txn type, the flags the overlay's ephemeral owner,
// as in ZooKeeper (which does not insist that createContainer comes with
// the container flag, or the reverse).
func (c *opContext) create(op int32, path string, data []byte, acl []proto.ACL, flags int32, ttl int64) (proto.Txn, proto.Code) {
	if c.tooBig(data) {
		return fail(proto.ErrMarshallingError)
	}
	mode, ok := createModeOf(flags)
	if !ok {
		return fail(proto.ErrBadArguments)
	}
	if mode.ttl && !c.p.opts.ExtendedTypes {
		return fail(proto.ErrUnimplemented)
	}
	if mode.ttl {
		if ttl <= 0 || ttl > proto.MaxTTL {
			return fail(proto.ErrBadArguments)
		}
	} else if ttl >= 0 || op == proto.OpCreateTTL {
		// ZooKeeper accepts createTTL with a non-TTL mode and a
		// negative TTL here, then throws while applying the txn; refuse
		// it up front instead.
		return fail(proto.ErrBadArguments)
	}
	if mode.ephemeral {
		// checkGlobalSession
		if code := c.checkSession(); code == proto.ErrUnknownSession {
			return fail(proto.ErrSessionExpired)
		} else if code != proto.ErrOK {
			return fail(code)
		}
	} else if code := c.checkSession(); code != proto.ErrOK {
		return fail(code)
	}
	parentPath, ok := parentOf(path)
	if !ok {
		return fail(proto.ErrBadArguments)
	}
	fixed, err := auth.FixupACL(acl, c.req.Identity)
	if err != nil {
		return fail(proto.ErrInvalidACL)
	}
	parent, ok := c.record(parentPath)
	if !ok {
		return fail(proto.ErrNoNode)
	}
	if !c.allowed(parent.acl, proto.PermCreate) {
		return fail(proto.ErrNoAuth)
	}
	parentCVersion := parent.stat.Cversion
	if mode.sequential {
		path += fmt.Sprintf("%010d", parentCVersion)
	}
	if ValidatePath(path) != nil {
		return fail(proto.ErrBadArguments)
	}
	if _, exists := c.record(path); exists {
		return fail(proto.ErrNodeExists)
	}
	if c.kindOf(parent.stat.EphemeralOwner) == kindNormal {
		return fail(proto.ErrNoChildrenForEphemerals)
	}
	newCVersion := parentCVersion + 1

	var txn proto.Txn
	switch op {
	case proto.OpCreateContainer:
		txn = &proto.CreateContainerTxn{Path: path, Data: data, ACL: fixed, ParentCVersion: newCVersion}
	case proto.OpCreateTTL:
		txn = &proto.CreateTTLTxn{Path: path, Data: data, ACL: fixed, ParentCVersion: newCVersion, TTL: ttl}
	default:
		txn = &proto.CreateTxn{Path: path, Data: data, ACL: fixed, Ephemeral: mode.ephemeral, ParentCVersion: newCVersion, Op: op}
	}

	var owner int64
	switch {
	case mode.container:
		owner = proto.ContainerEphemeralOwner
	case mode.ttl:
		owner = proto.TTLEphemeralOwnerMask | ttl
	case mode.ephemeral:
		owner = c.req.SessionID
	}
	p := parent.duplicate(c.zxid)
	p.childCount++
	p.stat.Cversion = newCVersion
	p.stat.Pzxid = c.zxid
	c.addChange(p)
	c.addChange(&changeRecord{
		zxid: c.zxid,
		path: path,
		data: data,
		stat: &proto.StatPersisted{
			Czxid: c.zxid, Mzxid: c.zxid, Pzxid: c.zxid,
			Ctime: c.time, Mtime: c.time,
			EphemeralOwner: owner,
		},
		acl: fixed,
	})
	return txn, proto.ErrOK
}

// specialPath reports the nodes ZooKeeper refuses to delete
// (DataTree.isSpecialPath).
func specialPath(path string) bool {
	switch path {
	case "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config":
		return true
	}
	return false
}

// deletableParent is getParentPathAndValidate.
func deletableParent(path string) (string, bool) {
	parent, ok := parentOf(path)
	if !ok || specialPath(path) {
		return "", false
	}
	return parent, true
}

// delete preps a delete. Checks, in order: the session; the path has a
// '/', no NUL and is not one of / /zookeeper /zookeeper/quota
// /zookeeper/config (BADARGUMENTS); the parent exists (NONODE); DELETE on
// the parent (NOAUTH); the node exists (NONODE); the version (BADVERSION);
// no children (NOTEMPTY). The path is not otherwise validated: a malformed
// one simply does not exist.
func (c *opContext) delete(path string, version int32) (proto.Txn, proto.Code) {
	if code := c.checkSession(); code != proto.ErrOK {
		return fail(code)
	}
	parentPath, ok := deletableParent(path)
	if !ok {
		return fail(proto.ErrBadArguments)
	}
	parent, ok := c.record(parentPath)
	if !ok {
		return fail(proto.ErrNoNode)
	}
	if !c.allowed(parent.acl, proto.PermDelete) {
		return fail(proto.ErrNoAuth)
	}
	node, ok := c.record(path)
	if !ok {
		return fail(proto.ErrNoNode)
	}
	if _, ok := checkVersion(node.stat.Version, version); !ok {
		return fail(proto.ErrBadVersion)
	}
	if node.childCount > 0 {
		return fail(proto.ErrNotEmpty)
	}
	c.removeNode(parent, path)
	return &proto.DeleteTxn{Path: path, Op: proto.OpDelete}, proto.ErrOK
}

// deleteContainer preps the reaper's deletion of an empty container or
// expired TTL node. No session or ACL applies. Checks, in order: the path
// as for delete (BADARGUMENTS); the node exists (NONODE); no children
// (NOTEMPTY); the node is not a session's ephemeral (BADVERSION); the
// parent exists (NONODE).
func (c *opContext) deleteContainer(path string) (proto.Txn, proto.Code) {
	parentPath, ok := deletableParent(path)
	if !ok {
		return fail(proto.ErrBadArguments)
	}
	node, ok := c.record(path)
	if !ok {
		return fail(proto.ErrNoNode)
	}
	if node.childCount > 0 {
		return fail(proto.ErrNotEmpty)
	}
	if c.kindOf(node.stat.EphemeralOwner) == kindNormal {
		return fail(proto.ErrBadVersion)
	}
	parent, ok := c.record(parentPath)
	if !ok {
		return fail(proto.ErrNoNode)
	}
	c.removeNode(parent, path)
	return &proto.DeleteTxn{Path: path, Op: proto.OpDeleteContainer}, proto.ErrOK
}

// removeNode records a deletion of path under parent.
func (c *opContext) removeNode(parent *changeRecord, path string) {
	p := parent.duplicate(c.zxid)
	p.childCount--
	p.stat.Pzxid = c.zxid
	c.addChange(p)
	c.addChange(&changeRecord{zxid: c.zxid, path: path, childCount: -1})
}

// setData preps a setData. Checks, in order: the session; the data size
// (MARSHALLINGERROR, see Options.MaxDataBytes); the path (BADARGUMENTS);
// the node exists (NONODE); WRITE (NOAUTH); the version (BADVERSION). The
// txn carries the new version.
func (c *opContext) setData(r *proto.SetDataRequest) (proto.Txn, proto.Code) {
	if code := c.checkSession(); code != proto.ErrOK {
		return fail(code)
	}
	if c.tooBig(r.Data) {
		return fail(proto.ErrMarshallingError)
	}
	if ValidatePath(r.Path) != nil {
		return fail(proto.ErrBadArguments)
	}
	node, ok := c.record(r.Path)
	if !ok {
		return fail(proto.ErrNoNode)
	}
	if !c.allowed(node.acl, proto.PermWrite) {
		return fail(proto.ErrNoAuth)
	}
	newVersion, ok := checkVersion(node.stat.Version, r.Version)
	if !ok {
		return fail(proto.ErrBadVersion)
	}
	n := node.duplicate(c.zxid)
	n.stat.Version = newVersion
	n.stat.Mtime = c.time
	n.stat.Mzxid = c.zxid
	n.data = r.Data
	c.addChange(n)
	return &proto.SetDataTxn{Path: r.Path, Data: r.Data, Version: newVersion, Op: proto.OpSetData}, proto.ErrOK
}

// setACL preps a setACL. Checks, in order: the session; the path
// (BADARGUMENTS); the ACL (INVALIDACL); the node exists (NONODE); ADMIN
// (NOAUTH); the ACL version (BADVERSION). The txn carries the new aversion.
//
// Unlike ZooKeeper 3.8 (fixed later upstream), the overlay takes the new
// ACL at once, so a request prepped before the setACL is applied is
// checked against the ACL it will meet, not the one being revoked.
func (c *opContext) setACL(r *proto.SetACLRequest) (proto.Txn, proto.Code) {
	if code := c.checkSession(); code != proto.ErrOK {
		return fail(code)
	}
	if ValidatePath(r.Path) != nil {
		return fail(proto.ErrBadArguments)
	}
	fixed, err := auth.FixupACL(r.ACL, c.req.Identity)
	if err != nil {
		return fail(proto.ErrInvalidACL)
	}
	node, ok := c.record(r.Path)
	if !ok {
		return fail(proto.ErrNoNode)
	}
	if !c.allowed(node.acl, proto.PermAdmin) {
		return fail(proto.ErrNoAuth)
	}
	newVersion, ok := checkVersion(node.stat.Aversion, r.Version)
	if !ok {
		return fail(proto.ErrBadVersion)
	}
	n := node.duplicate(c.zxid)
	n.stat.Aversion = newVersion
	n.acl = fixed
	c.addChange(n)
	return &proto.SetACLTxn{Path: r.Path, ACL: fixed, Version: newVersion}, proto.ErrOK
}

// check preps a version check (in a multi, or on its own). Checks, in
// order: the session; the path (BADARGUMENTS); the node exists (NONODE);
// READ (NOAUTH); the version (BADVERSION). As in ZooKeeper the txn carries
// the version plus one.
func (c *opContext) check(r *proto.CheckVersionRequest) (proto.Txn, proto.Code) {
	if code := c.checkSession(); code != proto.ErrOK {
		return fail(code)
	}
	if ValidatePath(r.Path) != nil {
		return fail(proto.ErrBadArguments)
	}
	node, ok := c.record(r.Path)
	if !ok {
		return fail(proto.ErrNoNode)
	}
	if !c.allowed(node.acl, proto.PermRead) {
		return fail(proto.ErrNoAuth)
	}
	next, ok := checkVersion(node.stat.Version, r.Version)
	if !ok {
		return fail(proto.ErrBadVersion)
	}
	return &proto.CheckVersionTxn{Path: r.Path, Version: next}, proto.ErrOK
}

// closeSession lists the session's ephemerals for the CloseSessionTxn: the
// tree's, minus those an unapplied txn deletes, plus those an unapplied txn
// creates, in the order ZooKeeper's HashSet would list them. The overlay
// marks them deleted. There is no session check: the session may already
// be expiring.
func (c *opContext) closeSession() (proto.Txn, proto.Code) {
	sid := c.req.SessionID
	// DataTree keeps each session's ephemerals in a HashSet filled in
	// creation order; getEphemerals hands out a clone of it.
	inTree := c.p.tree.SessionEphemerals(sid)
	czxid := make(map[string]int64, len(inTree))
	for _, path := range inTree {
		if info, ok := c.p.tree.Lookup(path); ok {
			czxid[path] = info.Stat.Czxid
		}
	}
	slices.SortStableFunc(inTree, func(a, b string) int {
		switch {
		case czxid[a] < czxid[b]:
			return -1
		case czxid[a] > czxid[b]:
			return 1
		}
		return strings.Compare(a, b)
	})
	src := &javaStringSet{}
	for _, path := range inTree {
		src.add(path)
	}
	es := cloneJavaStringSet(src.list())
	for _, ch := range c.p.overlay.changes {
		switch {
		case ch.stat == nil:
			es.remove(ch.path)
		case ch.stat.EphemeralOwner == sid:
			es.add(ch.path)
		}
	}
	paths := es.list()
	for _, path := range paths {
		// With digests enabled (the 3.8 default) ZooKeeper also records
		// each parent's new pzxid, leaving its child count alone.
		parentPath, ok := deletableParent(path)
		if !ok {
			return fail(proto.ErrBadArguments)
		}
		parent, ok := c.record(parentPath)
		if !ok {
			return fail(proto.ErrNoNode)
		}
		p := parent.duplicate(c.zxid)
		p.stat.Pzxid = c.zxid
		c.addChange(p)
		c.addChange(&changeRecord{zxid: c.zxid, path: path})
	}
	return &proto.CloseSessionTxn{Paths2Delete: paths}, proto.ErrOK
}
