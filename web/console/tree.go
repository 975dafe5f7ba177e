package console

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/logdump"
	"github.com/zkd-io/zkd/server/proto"
)

const (
	defaultPage   = 200
	maxPage       = 1000
	maxSearchScan = 5_000_000 // nodes a search visits before giving up
)

type statJSON struct {
	Czxid          string `json:"czxid"` // hex
	Mzxid          string `json:"mzxid"`
	Pzxid          string `json:"pzxid"`
	Ctime          int64  `json:"ctime"` // ms since the epoch
	Mtime          int64  `json:"mtime"`
	Version        int32  `json:"version"`
	Cversion       int32  `json:"cversion"`
	Aversion       int32  `json:"aversion"`
	EphemeralOwner string `json:"ephemeralOwner"` // hex; 0x0 for containers and TTL nodes
	DataLength     int32  `json:"dataLength"`
	NumChildren    int32  `json:"numChildren"`
}

func hex64(v int64) string { return "0x" + strconv.FormatUint(uint64(v), 16) }

func statOf(s proto.Stat) statJSON {
	return statJSON{
		Czxid: hex64(s.Czxid), Mzxid: hex64(s.Mzxid), Pzxid: hex64(s.Pzxid),
		Ctime: s.Ctime, Mtime: s.Mtime, Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: hex64(s.EphemeralOwner), DataLength: s.DataLength, NumChildren: s.NumChildren,
	}
}

type aclJSON struct {
	Scheme string `json:"scheme"`
	ID     string `json:"id"`
	Perms  int32  `json:"perms"`
	// PermString is cdrwa in ZooKeeper's order, as zkCli shows it.
	PermString string `json:"permString,omitempty"`
}

// maskedDigest replaces a digest ACL's hash for callers who may not see it.
const maskedDigest = "********"

func aclsOf(acl []proto.ACL, mask bool) ([]aclJSON, bool) {
	out := make([]aclJSON, 0, len(acl))
	masked := false
	for _, a := range acl {
		id := a.ID.ID
		if mask && a.ID.Scheme == "digest" {
			if user, _, ok := strings.Cut(id, ":"); ok {
				id = user + ":" + maskedDigest
			} else {
				id = maskedDigest
			}
			masked = true
		}
		out = append(out, aclJSON{Scheme: a.ID.Scheme, ID: id, Perms: a.Perms, PermString: logdump.PermString(a.Perms)})
	}
	return out, masked
}

var kindNames = map[datatree.EphemeralKind]string{
	datatree.KindPersistent: "persistent", datatree.KindEphemeral: "ephemeral",
	datatree.KindContainer: "container", datatree.KindTTL: "ttl",
}

// nodeJSON is one znode with its data. Data is base64 so that every byte
// survives JSON; the browser decodes it for display only.
type nodeJSON struct {
	Path      string    `json:"path"`
	Stat      statJSON  `json:"stat"`
	Kind      string    `json:"kind"`
	TTLMs     int64     `json:"ttlMs,omitempty"`
	Data      []byte    `json:"data"`     // base64; null for null data
	DataNull  bool      `json:"dataNull"` // the node's data is null (length -1 on the wire)
	ACL       []aclJSON `json:"acl"`
	ACLMasked bool      `json:"aclMasked,omitempty"`
}

func validPath(p string) bool {
	if p == "/" {
		return true
	}
	return strings.HasPrefix(p, "/") && !strings.HasSuffix(p, "/") && !strings.Contains(p, "//") && !strings.ContainsRune(p, 0)
}

func (c *Console) pathParam(ec echo.Context) (string, error) {
	p := ec.QueryParam("path")
	if p == "" {
		p = "/"
	}
	if !validPath(p) {
		return "", jsonError(ec, http.StatusBadRequest, "%q is not a znode path", p)
	}
	return p, nil
}

func (c *Console) readNode(path string, mask bool) (nodeJSON, bool) {
	t := c.opts.Tree()
	t.RLock()
	defer t.RUnlock()
	info, ok := t.Lookup(path)
	if !ok {
		return nodeJSON{}, false
	}
	data, st, _ := t.GetData(path, nil, nil)
	n := nodeJSON{Path: path, Stat: statOf(st), Kind: kindNames[info.Kind], TTLMs: info.TTL(), DataNull: data == nil}
	if data != nil {
		n.Data = append([]byte{}, data...)
	}
	n.ACL, n.ACLMasked = aclsOf(info.ACL, mask)
	return n, true
}

func (c *Console) getNode(ec echo.Context) error {
	path, err := c.pathParam(ec)
	if err != nil {
		return err
	}
	n, ok := c.readNode(path, ident(ec).Role < RoleAdmin)
	if !ok {
		return jsonError(ec, http.StatusNotFound, "%s does not exist", path)
	}
	return ec.JSON(http.StatusOK, n)
}

type childJSON struct {
	Name        string `json:"name"`
	NumChildren int32  `json:"numChildren"`
	DataLength  int32  `json:"dataLength"`
	Kind        string `json:"kind"`
}

type childrenPage struct {
	Path     string      `json:"path"`
	Total    int32       `json:"total"` // children of path
	Children []childJSON `json:"children"`
	// Next is the cursor for the following page (pass it as after); empty
	// when this page is the last.
	Next string `json:"next,omitempty"`
}

func intParam(ec echo.Context, name string, def, lo, hi int) (int, error) {
	v := ec.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, jsonError(ec, http.StatusBadRequest, "%s=%q: want a number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// ChildrenPage returns one page of path's children, sorted by name, after
// the cursor after. Exported for the benchmark and for callers that want
// the console's paging without HTTP.
func (c *Console) ChildrenPage(path, after string, limit int) (childrenPage, bool) {
	t := c.opts.Tree()
	t.RLock()
	defer t.RUnlock()
	info, ok := t.Lookup(path)
	if !ok {
		return childrenPage{}, false
	}
	names, more := c.kids.page(t, path, info, after, limit)
	page := childrenPage{Path: path, Total: info.NumChildren, Children: make([]childJSON, 0, len(names))}
	prefix := path + "/"
	if path == "/" {
		prefix = "/"
	}
	for _, name := range names {
		ci, _ := t.Lookup(prefix + name)
		page.Children = append(page.Children, childJSON{Name: name, NumChildren: ci.NumChildren, DataLength: ci.DataLength, Kind: kindNames[ci.Kind]})
	}
	if more && len(names) > 0 {
		page.Next = names[len(names)-1]
	}
	return page, true
}

func (c *Console) getChildren(ec echo.Context) error {
	path, err := c.pathParam(ec)
	if err != nil {
		return err
	}
	limit, err := intParam(ec, "limit", defaultPage, 1, maxPage)
	if err != nil {
		return err
	}
	page, ok := c.ChildrenPage(path, ec.QueryParam("after"), limit)
	if !ok {
		return jsonError(ec, http.StatusNotFound, "%s does not exist", path)
	}
	return ec.JSON(http.StatusOK, page)
}

// SearchQuery selects nodes below Root; every set field must match.
type SearchQuery struct {
	Root      string
	Name      string // matched against the last path component
	Substring bool   // Name anywhere in the component, else as a prefix
	MinSize   int    // data length, inclusive
	MaxSize   int    // inclusive; < 0 means unbounded
	Owner     *int64 // ephemeral owner session
	Offset    int
	Limit     int
}

type searchHit struct {
	Path           string `json:"path"`
	DataLength     int32  `json:"dataLength"`
	NumChildren    int32  `json:"numChildren"`
	Kind           string `json:"kind"`
	EphemeralOwner string `json:"ephemeralOwner,omitempty"`
}

type searchResult struct {
	Results []searchHit `json:"results"`
	More    bool        `json:"more"`    // more matches after this page (next offset = offset + len(results))
	Scanned int         `json:"scanned"` // nodes visited
	// Truncated is set when the search stopped at its scan bound.
	Truncated bool `json:"truncated,omitempty"`
}

// Search walks the subtree depth first, siblings in byte order, under the
// tree's read lock, and stops as soon as it has one page (plus one match
// to know whether more follow).
func (c *Console) Search(q SearchQuery) searchResult {
	t := c.opts.Tree()
	t.RLock()
	defer t.RUnlock()
	res := searchResult{Results: []searchHit{}}
	matched := 0
	stack := []string{q.Root}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		info, ok := t.Lookup(p)
		if !ok {
			continue
		}
		res.Scanned++
		if res.Scanned > maxSearchScan {
			res.Truncated = true
			break
		}
		if p != q.Root && matches(&q, p, info) {
			if matched >= q.Offset {
				if len(res.Results) == q.Limit {
					res.More = true
					break
				}
				h := searchHit{Path: p, DataLength: info.DataLength, NumChildren: info.NumChildren, Kind: kindNames[info.Kind]}
				if info.Kind == datatree.KindEphemeral {
					h.EphemeralOwner = hex64(info.Stat.EphemeralOwner)
				}
				res.Results = append(res.Results, h)
			}
			matched++
		}
		if info.NumChildren > 0 {
			names, _, _ := t.GetChildren(p, nil, nil)
			prefix := p + "/"
			if p == "/" {
				prefix = "/"
			}
			for i := len(names) - 1; i >= 0; i-- {
				stack = append(stack, prefix+names[i])
			}
		}
	}
	return res
}

func matches(q *SearchQuery, path string, info datatree.NodeInfo) bool {
	if q.Name != "" {
		name := path[strings.LastIndexByte(path, '/')+1:]
		if q.Substring {
			if !strings.Contains(name, q.Name) {
				return false
			}
		} else if !strings.HasPrefix(name, q.Name) {
			return false
		}
	}
	if int(info.DataLength) < q.MinSize || (q.MaxSize >= 0 && int(info.DataLength) > q.MaxSize) {
		return false
	}
	if q.Owner != nil && (info.Kind != datatree.KindEphemeral || info.Stat.EphemeralOwner != *q.Owner) {
		return false
	}
	return true
}

func (c *Console) getSearch(ec echo.Context) error {
	root, err := c.pathParam(ec)
	if err != nil {
		return err
	}
	q := SearchQuery{Root: root, Name: ec.QueryParam("q"), MaxSize: -1}
	switch ec.QueryParam("mode") {
	case "", "prefix":
	case "substring":
		q.Substring = true
	default:
		return jsonError(ec, http.StatusBadRequest, "mode=%q: want prefix or substring", ec.QueryParam("mode"))
	}
	if q.MinSize, err = intParam(ec, "minSize", 0, 0, 1<<31-1); err != nil {
		return err
	}
	if q.MaxSize, err = intParam(ec, "maxSize", -1, -1, 1<<31-1); err != nil {
		return err
	}
	if q.Offset, err = intParam(ec, "offset", 0, 0, 1<<31-1); err != nil {
		return err
	}
	if q.Limit, err = intParam(ec, "limit", 100, 1, maxPage); err != nil {
		return err
	}
	if o := ec.QueryParam("owner"); o != "" {
		v, err := logdump.ParseSession(o)
		if err != nil {
			return jsonError(ec, http.StatusBadRequest, "owner=%q: %v", o, err)
		}
		q.Owner = &v
	}
	return ec.JSON(http.StatusOK, c.Search(q))
}

// childCache keeps the sorted child names of a few large parents, so that
// paging through 50 000 children sorts them once, not once per page. An
// entry is valid while the parent's pzxid (changed by every child create
// and delete) and the tree itself are unchanged.
type childCache struct {
	mu      sync.Mutex
	entries []childCacheEntry // most recently used last
}

type childCacheEntry struct {
	tree  *datatree.Tree
	path  string
	pzxid int64
	names []string
}

const (
	childCacheMin  = 2000 // parents with fewer children are sorted per request
	childCacheSize = 8
)

// page returns up to limit names after the cursor; the caller holds the
// tree's read lock.
func (cc *childCache) page(t *datatree.Tree, path string, info datatree.NodeInfo, after string, limit int) ([]string, bool) {
	if info.NumChildren < childCacheMin {
		return t.ChildrenPage(path, after, limit)
	}
	cc.mu.Lock()
	var names []string
	for i, e := range cc.entries {
		if e.tree == t && e.path == path && e.pzxid == info.Stat.Pzxid && len(e.names) == int(info.NumChildren) {
			names = e.names
			cc.entries = append(append(cc.entries[:i:i], cc.entries[i+1:]...), e)
			break
		}
	}
	cc.mu.Unlock()
	if names == nil {
		names, _, _ = t.GetChildren(path, nil, nil) // sorted
		cc.mu.Lock()
		cc.entries = append(cc.entries, childCacheEntry{tree: t, path: path, pzxid: info.Stat.Pzxid, names: names})
		if len(cc.entries) > childCacheSize {
			cc.entries = cc.entries[1:]
		}
		cc.mu.Unlock()
	}
	i, found := slices.BinarySearch(names, after)
	if found {
		i++
	}
	end := min(i+limit, len(names))
	return names[i:end:end], end < len(names)
}
