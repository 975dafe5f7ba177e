package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/labstack/echo/v4"
)

// Writes go through the ZooKeeper protocol on the console's own session
// (to the node's client port), so they take the normal write path: ACL
// checks against the console's ZooKeeper identity (zkd.console.zkAuth),
// forwarding to the leader in an ensemble, the txn log. The zxid recorded
// in the audit is:
//   - set data: the reply's mzxid (exact);
//   - create: the czxid of the created node, read from the local tree
//     right after the reply (exact: the node is applied locally before the
//     server replies, and its czxid never changes);
//   - delete: the parent's pzxid read right after the reply (exact unless
//     another child of the same parent changed in between);
//   - set ACL: the node's last processed zxid read right after the reply
//     (an upper bound: the ACL change's zxid or a later one).

const zkWait = 10 * time.Second

type zkLogger struct{ c *Console }

func (l zkLogger) Printf(format string, args ...any) {
	l.c.log.Debug().Msgf("zk client: "+format, args...)
}

// conn returns the console's ZooKeeper session, connecting on first use
// and waiting (bounded) until it has a session.
func (c *Console) conn() (*zk.Conn, error) {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return nil, errors.New("console is shut down")
	}
	if c.zkConn == nil {
		if c.opts.ZKAddr == "" {
			c.closeMu.Unlock()
			return nil, errors.New("no ZooKeeper client address configured for console writes")
		}
		conn, _, err := zk.Connect([]string{c.opts.ZKAddr}, 30*time.Second, zk.WithLogger(zkLogger{c}))
		if err != nil {
			c.closeMu.Unlock()
			return nil, fmt.Errorf("connect to %s: %w", c.opts.ZKAddr, err)
		}
		c.zkConn = conn
		if st := c.opts.Settings; st.ZKAuthScheme != "" {
			// AddAuth waits for the session; the client re-sends the auth
			// on every reconnect.
			go func() {
				if err := conn.AddAuth(st.ZKAuthScheme, st.ZKAuth); err != nil {
					c.log.Error().Err(err).Str("scheme", st.ZKAuthScheme).Msg("console: ZooKeeper auth of the console session failed")
				}
			}()
		}
	}
	conn := c.zkConn
	c.closeMu.Unlock()
	deadline := time.Now().Add(zkWait)
	for conn.State() != zk.StateHasSession {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no ZooKeeper session with %s after %s (state %s)", c.opts.ZKAddr, zkWait, conn.State())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.opts.Settings.ZKAuthScheme != "" {
		// Let the auth packet go out first; AddAuth is sent in order on
		// the same connection, so a short wait suffices.
		time.Sleep(0)
	}
	return conn, nil
}

// zkStatus maps a ZooKeeper error to an HTTP status.
func zkStatus(err error) int {
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return http.StatusNotFound
	case errors.Is(err, zk.ErrNodeExists), errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNotEmpty):
		return http.StatusConflict
	case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrAuthFailed):
		return http.StatusForbidden
	case errors.Is(err, zk.ErrBadArguments), errors.Is(err, zk.ErrInvalidACL), errors.Is(err, zk.ErrInvalidPath),
		errors.Is(err, zk.ErrInvalidFlags), errors.Is(err, zk.ErrNoChildrenForEphemerals):
		return http.StatusBadRequest
	}
	return http.StatusBadGateway
}

func (c *Console) writeFailed(ec echo.Context, op, path string, err error) error {
	code := zkStatus(err)
	result := "error"
	if code == http.StatusConflict {
		result = "conflict"
	}
	c.m.writes.WithLabelValues(op, result).Inc()
	c.record(ec, op, path, result+": "+err.Error(), 0, "")
	if code == http.StatusBadGateway {
		c.log.Error().Err(err).Str("op", op).Str("path", path).Msg("console: write failed")
	}
	return jsonError(ec, code, "%s %s: %v", op, path, err)
}

func (c *Console) writeOK(ec echo.Context, op, path string, zxid int64, detail string) {
	c.m.writes.WithLabelValues(op, "ok").Inc()
	c.record(ec, op, path, "ok", zxid, detail)
}

func toZKACL(in []aclJSON) ([]zk.ACL, error) {
	if len(in) == 0 {
		return zk.WorldACL(zk.PermAll), nil
	}
	out := make([]zk.ACL, 0, len(in))
	for _, a := range in {
		if a.Scheme == "" {
			return nil, errors.New("an ACL entry has no scheme")
		}
		if a.ID == "" || (a.Scheme == "digest" && containsMask(a.ID)) {
			return nil, fmt.Errorf("ACL entry %s:%q: give the full id (a masked digest cannot be written back)", a.Scheme, a.ID)
		}
		if a.Perms < 0 || a.Perms > zk.PermAll {
			return nil, fmt.Errorf("ACL entry %s:%s: perms %d out of range 0-31", a.Scheme, a.ID, a.Perms)
		}
		out = append(out, zk.ACL{Perms: a.Perms, Scheme: a.Scheme, ID: a.ID})
	}
	return out, nil
}

func containsMask(id string) bool {
	return len(id) >= len(maskedDigest) && id[len(id)-len(maskedDigest):] == maskedDigest
}

type createRequest struct {
	Path  string    `json:"path"`
	Data  []byte    `json:"data"` // base64
	Mode  string    `json:"mode"`
	TTLMs int64     `json:"ttlMs"`
	ACL   []aclJSON `json:"acl"`
}

type writeResult struct {
	Path    string    `json:"path"`
	Zxid    string    `json:"zxid"` // hex
	Stat    *statJSON `json:"stat,omitempty"`
	Deleted int       `json:"deleted,omitempty"`
}

func (c *Console) postNode(ec echo.Context) error {
	var req createRequest
	if err := ec.Bind(&req); err != nil {
		return jsonError(ec, http.StatusBadRequest, "bad create request: %v", err)
	}
	if !validPath(req.Path) || req.Path == "/" {
		return jsonError(ec, http.StatusBadRequest, "%q is not a znode path to create", req.Path)
	}
	acl, err := toZKACL(req.ACL)
	if err != nil {
		return jsonError(ec, http.StatusBadRequest, "%v", err)
	}
	conn, err := c.conn()
	if err != nil {
		return jsonError(ec, http.StatusServiceUnavailable, "%v", err)
	}
	data := req.Data
	if data == nil {
		data = []byte{}
	}
	var created string
	switch req.Mode {
	case "", "persistent":
		created, err = conn.Create(req.Path, data, zk.FlagPersistent, acl)
	case "persistent_sequential":
		created, err = conn.Create(req.Path, data, zk.FlagSequence, acl)
	case "container":
		created, err = conn.CreateContainer(req.Path, data, zk.FlagContainer, acl)
	case "ttl", "persistent_sequential_ttl":
		if req.TTLMs <= 0 {
			return jsonError(ec, http.StatusBadRequest, "a TTL node needs ttlMs > 0")
		}
		flag := int32(zk.FlagTTL)
		if req.Mode != "ttl" {
			flag = zk.FlagPersistentSequentialWithTTL
		}
		created, err = conn.CreateTTL(req.Path, data, flag, acl, time.Duration(req.TTLMs)*time.Millisecond)
	case "ephemeral", "ephemeral_sequential":
		return jsonError(ec, http.StatusBadRequest,
			"ephemeral nodes are not offered: the node would belong to the console's own ZooKeeper session and die with it; create ephemerals from the application that owns them")
	default:
		return jsonError(ec, http.StatusBadRequest, "mode %q: want persistent, persistent_sequential, container, ttl or persistent_sequential_ttl", req.Mode)
	}
	op := "create"
	if err != nil {
		return c.writeFailed(ec, op, req.Path, err)
	}
	res := writeResult{Path: created}
	var zxid int64
	if n, ok := c.readNode(created, true); ok {
		res.Stat = &n.Stat
		zxid, _ = strconv.ParseInt(n.Stat.Czxid[2:], 16, 64)
	}
	res.Zxid = hex64(zxid)
	c.writeOK(ec, op, created, zxid, fmt.Sprintf("mode=%s bytes=%d", modeOr(req.Mode), len(data)))
	return ec.JSON(http.StatusCreated, res)
}

func modeOr(m string) string {
	if m == "" {
		return "persistent"
	}
	return m
}

type setDataRequest struct {
	Path    string `json:"path"`
	Data    []byte `json:"data"` // base64
	Version int32  `json:"version"`
}

// conflict is the 409 body of a set with a stale version: both versions,
// so the user can compare and retry.
type conflict struct {
	Error   string   `json:"error"`
	Current nodeJSON `json:"current"`
	Yours   struct {
		Data    []byte `json:"data"`
		Version int32  `json:"version"`
	} `json:"yours"`
}

func (c *Console) putData(ec echo.Context) error {
	var req setDataRequest
	if err := ec.Bind(&req); err != nil {
		return jsonError(ec, http.StatusBadRequest, "bad set request: %v", err)
	}
	if !validPath(req.Path) {
		return jsonError(ec, http.StatusBadRequest, "%q is not a znode path", req.Path)
	}
	if req.Version < 0 {
		// The console always sets against the version the user saw; an
		// unconditional overwrite (-1) is what the issue asks to avoid.
		return jsonError(ec, http.StatusBadRequest, "version must be the node's data version (>= 0); unconditional set is not offered")
	}
	conn, err := c.conn()
	if err != nil {
		return jsonError(ec, http.StatusServiceUnavailable, "%v", err)
	}
	data := req.Data
	if data == nil {
		data = []byte{}
	}
	st, err := conn.Set(req.Path, data, req.Version)
	if errors.Is(err, zk.ErrBadVersion) {
		c.m.writes.WithLabelValues("setData", "conflict").Inc()
		c.record(ec, "setData", req.Path, fmt.Sprintf("conflict: expected version %d", req.Version), 0, "")
		body := conflict{Error: fmt.Sprintf("version conflict: you edited version %d, the node has changed since", req.Version)}
		body.Current, _ = c.readNode(req.Path, ident(ec).Role < RoleAdmin)
		body.Yours.Data, body.Yours.Version = data, req.Version
		return ec.JSON(http.StatusConflict, body)
	}
	if err != nil {
		return c.writeFailed(ec, "setData", req.Path, err)
	}
	sj := statFromZK(st)
	c.writeOK(ec, "setData", req.Path, st.Mzxid, fmt.Sprintf("version %d -> %d, bytes=%d", req.Version, st.Version, len(data)))
	return ec.JSON(http.StatusOK, writeResult{Path: req.Path, Zxid: hex64(st.Mzxid), Stat: &sj})
}

func statFromZK(s *zk.Stat) statJSON {
	return statJSON{
		Czxid: hex64(s.Czxid), Mzxid: hex64(s.Mzxid), Pzxid: hex64(s.Pzxid),
		Ctime: s.Ctime, Mtime: s.Mtime, Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: hex64(s.EphemeralOwner), DataLength: s.DataLength, NumChildren: s.NumChildren,
	}
}

func parentOf(p string) string {
	i := len(p) - 1
	for i > 0 && p[i] != '/' {
		i--
	}
	if i == 0 {
		return "/"
	}
	return p[:i]
}

func (c *Console) pzxidOf(path string) int64 {
	t := c.opts.Tree()
	t.RLock()
	defer t.RUnlock()
	if info, ok := t.Lookup(path); ok {
		return info.Stat.Pzxid
	}
	return t.LastProcessedZxid()
}

const (
	deleteBatch      = 1000
	maxRecursiveSize = 2_000_000
)

func (c *Console) deleteNode(ec echo.Context) error {
	path, err := c.pathParam(ec)
	if err != nil {
		return err
	}
	if path == "/" || path == "/zookeeper" || len(path) > len("/zookeeper/") && path[:len("/zookeeper/")] == "/zookeeper/" {
		return jsonError(ec, http.StatusBadRequest, "%s cannot be deleted", path)
	}
	if ec.QueryParam("confirm") != path {
		return jsonError(ec, http.StatusBadRequest, "type the node's path in confirm to delete it (confirm=%s)", path)
	}
	version := -1
	if v := ec.QueryParam("version"); v != "" {
		if version, err = strconv.Atoi(v); err != nil || version < -1 {
			return jsonError(ec, http.StatusBadRequest, "version=%q is not a version", v)
		}
	}
	recursive := ec.QueryParam("recursive") == "true"
	conn, err := c.conn()
	if err != nil {
		return jsonError(ec, http.StatusServiceUnavailable, "%v", err)
	}
	op := "delete"
	if !recursive {
		if err := conn.Delete(path, int32(version)); err != nil {
			return c.writeFailed(ec, op, path, err)
		}
		zxid := c.pzxidOf(parentOf(path))
		c.writeOK(ec, op, path, zxid, fmt.Sprintf("version %d", version))
		return ec.JSON(http.StatusOK, writeResult{Path: path, Zxid: hex64(zxid), Deleted: 1})
	}
	op = "deleteRecursive"
	deleted := 0
	for attempt := 0; attempt < 3; attempt++ {
		paths, ok := c.subtreeBottomUp(path)
		if !ok {
			if attempt == 0 {
				return c.writeFailed(ec, op, path, zk.ErrNoNode)
			}
			break // gone: someone else finished the job
		}
		if len(paths) > maxRecursiveSize {
			return jsonError(ec, http.StatusBadRequest, "%s has %d nodes below it; the console deletes at most %d at once", path, len(paths), maxRecursiveSize)
		}
		n, err := c.deleteAll(conn, paths, int32(version))
		deleted += n
		if err == nil {
			zxid := c.pzxidOf(parentOf(path))
			c.writeOK(ec, op, path, zxid, fmt.Sprintf("%d nodes", deleted))
			return ec.JSON(http.StatusOK, writeResult{Path: path, Zxid: hex64(zxid), Deleted: deleted})
		}
		if !errors.Is(err, zk.ErrNotEmpty) {
			return c.writeFailed(ec, op, path, err)
		}
		// A child appeared while deleting: collect again.
	}
	return c.writeFailed(ec, op, path, fmt.Errorf("children keep appearing below it: %w", zk.ErrNotEmpty))
}

// subtreeBottomUp lists path and every node below it, children before
// their parents.
func (c *Console) subtreeBottomUp(root string) ([]string, bool) {
	t := c.opts.Tree()
	t.RLock()
	defer t.RUnlock()
	if _, ok := t.Lookup(root); !ok {
		return nil, false
	}
	var pre []string
	stack := []string{root}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		pre = append(pre, p)
		names, _, _ := t.GetChildren(p, nil, nil)
		for _, n := range names {
			stack = append(stack, p+"/"+n)
		}
	}
	slices.Reverse(pre) // pre-order reversed: every child before its parent
	return pre, true
}

// deleteAll deletes paths in order, in multis of deleteBatch; the last
// path (the root) is deleted with version. A batch that fails because a
// node is already gone is retried one node at a time, skipping the gone.
func (c *Console) deleteAll(conn *zk.Conn, paths []string, version int32) (int, error) {
	deleted := 0
	for start := 0; start < len(paths); start += deleteBatch {
		batch := paths[start:min(start+deleteBatch, len(paths))]
		ops := make([]any, len(batch))
		for i, p := range batch {
			v := int32(-1)
			if start+i == len(paths)-1 {
				v = version
			}
			ops[i] = &zk.DeleteRequest{Path: p, Version: v}
		}
		_, err := conn.Multi(ops...)
		if err == nil {
			deleted += len(batch)
			continue
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return deleted, err
		}
		for _, o := range ops {
			d := o.(*zk.DeleteRequest)
			if err := conn.Delete(d.Path, d.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return deleted, err
			} else if err == nil {
				deleted++
			}
		}
	}
	return deleted, nil
}

type setACLRequest struct {
	Path    string    `json:"path"`
	ACL     []aclJSON `json:"acl"`
	Version int32     `json:"version"` // the ACL version (aversion) the user saw; -1 for any
}

func (c *Console) putACL(ec echo.Context) error {
	var req setACLRequest
	if err := ec.Bind(&req); err != nil {
		return jsonError(ec, http.StatusBadRequest, "bad setACL request: %v", err)
	}
	if !validPath(req.Path) {
		return jsonError(ec, http.StatusBadRequest, "%q is not a znode path", req.Path)
	}
	if len(req.ACL) == 0 {
		return jsonError(ec, http.StatusBadRequest, "an ACL needs at least one entry")
	}
	acl, err := toZKACL(req.ACL)
	if err != nil {
		return jsonError(ec, http.StatusBadRequest, "%v", err)
	}
	conn, err := c.conn()
	if err != nil {
		return jsonError(ec, http.StatusServiceUnavailable, "%v", err)
	}
	st, err := conn.SetACL(req.Path, acl, req.Version)
	if err != nil {
		return c.writeFailed(ec, "setACL", req.Path, err)
	}
	t := c.opts.Tree()
	t.RLock()
	zxid := t.LastProcessedZxid()
	t.RUnlock()
	sj := statFromZK(st)
	c.writeOK(ec, "setACL", req.Path, zxid, fmt.Sprintf("%d entries, aversion %d", len(acl), st.Aversion))
	return ec.JSON(http.StatusOK, writeResult{Path: req.Path, Zxid: hex64(zxid), Stat: &sj})
}
