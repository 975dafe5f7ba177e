package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/logdump"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

// TreeAt rebuilds the tree as it was right after zxid: the newest valid
// snapshot at or before zxid, then the logged txns up to zxid replayed on
// it (as recovery does). An empty tree is the start when no snapshot is
// old enough.
func (c *Console) TreeAt(zxid int64) (*datatree.Tree, error) {
	in, err := c.input()
	if err != nil {
		return nil, err
	}
	var tree *datatree.Tree
	for _, s := range in.Snapshots { // newest first
		if !s.Valid || s.Zxid > zxid {
			continue
		}
		snap, err := snapshot.ReadFile(s.Path, datatree.Options{})
		if err != nil {
			continue // damaged: try an older one, as recovery does
		}
		tree = snap.Tree
		break
	}
	if tree == nil {
		tree = datatree.New()
	}
	from := tree.LastProcessedZxid()
	it, err := txnlog.NewIterator(in.Dir, from+1, txnlog.ReadOptions{})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	tree.Lock()
	defer tree.Unlock()
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("replay to 0x%x: %w", zxid, err)
		}
		if e.Hdr.Zxid > zxid {
			break
		}
		if e.Hdr.Zxid <= from {
			continue
		}
		tree.ProcessTxn(&e.Hdr, e.Txn)
	}
	return tree, nil
}

type diffEntry struct {
	Path   string    `json:"path"`
	Before *statJSON `json:"before,omitempty"`
	After  *statJSON `json:"after,omitempty"`
	// DataChanged and ACLChanged say what changed for a node in both trees.
	DataChanged bool `json:"dataChanged,omitempty"`
	ACLChanged  bool `json:"aclChanged,omitempty"`
}

type diffResult struct {
	A         string      `json:"a"`
	B         string      `json:"b"`
	Added     []diffEntry `json:"added"`
	Removed   []diffEntry `json:"removed"`
	Changed   []diffEntry `json:"changed"`
	Counts    [3]int      `json:"counts"` // added, removed, changed (all, beyond the limit too)
	Truncated bool        `json:"truncated,omitempty"`
}

type nodeSnap struct {
	stat statJSON
	data []byte
	acl  string
}

func collect(t *datatree.Tree, root string) map[string]nodeSnap {
	out := map[string]nodeSnap{}
	t.RLock()
	defer t.RUnlock()
	_ = t.Walk(func(p string, n datatree.NodeView) error {
		if logdump.MatchPath(root, p) {
			out[p] = nodeSnap{stat: statOf(n.ClientStat()), data: n.Data, acl: fmt.Sprint(n.ACL)}
		}
		return nil
	})
	return out
}

func (c *Console) getDiff(ec echo.Context) error {
	root, err := c.pathParam(ec)
	if err != nil {
		return err
	}
	a, errA := logdump.ParseZxid(ec.QueryParam("a"))
	b, errB := logdump.ParseZxid(ec.QueryParam("b"))
	if errA != nil || errB != nil {
		return jsonError(ec, http.StatusBadRequest, "a and b must be zxids (hex with 0x, or decimal)")
	}
	limit, err := intParam(ec, "limit", 200, 1, maxPage)
	if err != nil {
		return err
	}
	ta, err := c.TreeAt(a)
	if err != nil {
		return jsonError(ec, http.StatusNotFound, "%v", err)
	}
	tb, err := c.TreeAt(b)
	if err != nil {
		return jsonError(ec, http.StatusNotFound, "%v", err)
	}
	na, nb := collect(ta, root), collect(tb, root)
	res := diffResult{A: hex64(a), B: hex64(b), Added: []diffEntry{}, Removed: []diffEntry{}, Changed: []diffEntry{}}
	add := func(list *[]diffEntry, i int, e diffEntry) {
		res.Counts[i]++
		if len(*list) < limit {
			*list = append(*list, e)
		} else {
			res.Truncated = true
		}
	}
	for _, p := range sortedKeys(nb) {
		y := nb[p]
		x, ok := na[p]
		switch {
		case !ok:
			add(&res.Added, 0, diffEntry{Path: p, After: &y.stat})
		case x.stat != y.stat || !bytes.Equal(x.data, y.data) || x.acl != y.acl:
			add(&res.Changed, 2, diffEntry{Path: p, Before: &x.stat, After: &y.stat, DataChanged: !bytes.Equal(x.data, y.data), ACLChanged: x.acl != y.acl})
		}
	}
	for _, p := range sortedKeys(na) {
		if _, ok := nb[p]; !ok {
			x := na[p]
			add(&res.Removed, 1, diffEntry{Path: p, Before: &x.stat})
		}
	}
	return ec.JSON(http.StatusOK, res)
}

func sortedKeys(m map[string]nodeSnap) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// byte order of paths, so a parent precedes its children
	slices.Sort(out)
	return out
}
