package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/logdump"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

// The explorer is `zkd logdump` over the node's own files: same engine
// (package logdump), same filters, read-only, with every answer bounded
// and paged.

func versionDir(dir string) string {
	if fi, err := os.Stat(filepath.Join(dir, "version-2")); err == nil && fi.IsDir() {
		return filepath.Join(dir, "version-2")
	}
	return dir
}

// input lists the node's txn logs (dataLogDir) and snapshots (dataDir).
func (c *Console) input() (*logdump.Input, error) {
	if c.opts.DataDir == "" {
		return nil, errors.New("the explorer is off: this node has no data directory")
	}
	logDir := versionDir(c.opts.DataLogDir)
	if c.opts.DataLogDir == "" {
		logDir = versionDir(c.opts.DataDir)
	}
	logs, err := txnlog.Files(logDir)
	if err != nil {
		return nil, fmt.Errorf("list txn logs: %w", err)
	}
	snaps, err := snapshot.List(versionDir(c.opts.DataDir))
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	return &logdump.Input{Dir: logDir, Logs: logs, Snapshots: snaps}, nil
}

var errPageFull = errors.New("page full")

// pageWriter keeps the first limit+1 JSON lines Dump writes and then stops
// the scan, so a page never reads further than it needs.
type pageWriter struct {
	limit int
	lines [][]byte
}

func (w *pageWriter) Write(p []byte) (int, error) {
	w.lines = append(w.lines, bytes.Clone(p))
	if len(w.lines) > w.limit {
		return 0, errPageFull
	}
	return len(p), nil
}

func (c *Console) filterFromQuery(ec echo.Context) (logdump.Filter, error) {
	var f logdump.Filter
	var err error
	q := ec.QueryParam
	if v := q("from"); v != "" {
		if f.FromZxid, err = logdump.ParseZxid(v); err != nil {
			return f, fmt.Errorf("from: %w", err)
		}
	}
	if v := q("to"); v != "" {
		if f.ToZxid, err = logdump.ParseZxid(v); err != nil {
			return f, fmt.Errorf("to: %w", err)
		}
	}
	f.PathPrefix = q("path")
	if v := q("session"); v != "" {
		s, err := logdump.ParseSession(v)
		if err != nil {
			return f, fmt.Errorf("session: %w", err)
		}
		f.Session = &s
	}
	if v := q("types"); v != "" {
		if f.Types, err = logdump.ParseTypes(v); err != nil {
			return f, fmt.Errorf("types: %w", err)
		}
	}
	if v := q("since"); v != "" {
		if f.Since, err = logdump.ParseTime(v); err != nil {
			return f, fmt.Errorf("since: %w", err)
		}
	}
	if v := q("until"); v != "" {
		if f.Until, err = logdump.ParseTime(v); err != nil {
			return f, fmt.Errorf("until: %w", err)
		}
	}
	return f, nil
}

type txnPage struct {
	Txns []json.RawMessage `json:"txns"` // logdump's --json objects
	// Next is the zxid to pass as from for the following page; empty at
	// the end.
	Next     string   `json:"next,omitempty"`
	Problems []string `json:"problems,omitempty"`
}

func (c *Console) getTxns(ec echo.Context) error {
	f, err := c.filterFromQuery(ec)
	if err != nil {
		return jsonError(ec, http.StatusBadRequest, "%v", err)
	}
	limit, err := intParam(ec, "limit", 100, 1, maxPage)
	if err != nil {
		return err
	}
	in, err := c.input()
	if err != nil {
		return jsonError(ec, http.StatusNotFound, "%v", err)
	}
	w := &pageWriter{limit: limit}
	res, err := logdump.Dump(w, in, logdump.Options{Filter: f, JSON: true})
	if err != nil && !errors.Is(err, errPageFull) {
		return jsonError(ec, http.StatusInternalServerError, "read txn log: %v", err)
	}
	page := txnPage{Txns: []json.RawMessage{}}
	mask := ident(ec).Role < RoleAdmin
	for i, l := range w.lines {
		if i == limit {
			var next struct {
				Zxid string `json:"zxid"`
			}
			_ = json.Unmarshal(l, &next)
			page.Next = next.Zxid
			break
		}
		if mask && bytes.Contains(l, []byte(`"scheme":"digest"`)) {
			l = maskTxnLine(l)
		}
		page.Txns = append(page.Txns, json.RawMessage(bytes.TrimSpace(l)))
	}
	for _, p := range res.Problems {
		page.Problems = append(page.Problems, p.String())
	}
	return ec.JSON(http.StatusOK, page)
}

type historyJSON struct {
	Path string `json:"path"`
	Base struct {
		Snapshot string    `json:"snapshot,omitempty"`
		Zxid     string    `json:"zxid"`
		Exists   bool      `json:"exists"`
		Stat     *statJSON `json:"stat,omitempty"`
		Data     []byte    `json:"data,omitempty"`
	} `json:"base"`
	Changes   []historyChange `json:"changes"`
	Truncated bool            `json:"truncated,omitempty"` // only the newest maxHistory changes are shown
	Problems  []string        `json:"problems,omitempty"`
}

type historyChange struct {
	Effect string      `json:"effect"`
	Txn    logdump.Txn `json:"txn"`
}

const maxHistory = 1000

func (c *Console) getHistory(ec echo.Context) error {
	path, err := c.pathParam(ec)
	if err != nil {
		return err
	}
	in, err := c.input()
	if err != nil {
		return jsonError(ec, http.StatusNotFound, "%v", err)
	}
	base, changes, probs, err := logdump.History(in, path, logdump.Options{})
	if err != nil {
		return jsonError(ec, http.StatusInternalServerError, "%v", err)
	}
	out := historyJSON{Path: path, Changes: []historyChange{}}
	out.Base.Snapshot, out.Base.Zxid, out.Base.Exists = base.Snapshot, hex64(base.Zxid), base.Exists
	if base.Exists {
		st := statOf(base.Node.ClientStat())
		out.Base.Stat, out.Base.Data = &st, base.Data
	}
	if len(changes) > maxHistory {
		changes, out.Truncated = changes[len(changes)-maxHistory:], true
	}
	for _, ch := range changes {
		if ident(ec).Role < RoleAdmin {
			maskTxn(&ch.Txn)
		}
		out.Changes = append(out.Changes, historyChange{Effect: ch.Effect, Txn: ch.Txn})
	}
	for _, p := range probs {
		out.Problems = append(out.Problems, p.String())
	}
	return ec.JSON(http.StatusOK, out)
}

type snapshotFile struct {
	File  string `json:"file"`
	Zxid  string `json:"zxid"`
	Size  int64  `json:"size"`
	Valid bool   `json:"valid"`
}

func (c *Console) getSnapshots(ec echo.Context) error {
	in, err := c.input()
	if err != nil {
		return jsonError(ec, http.StatusNotFound, "%v", err)
	}
	out := []snapshotFile{}
	for _, s := range in.Snapshots {
		var size int64
		if fi, err := os.Stat(s.Path); err == nil {
			size = fi.Size()
		}
		out = append(out, snapshotFile{File: filepath.Base(s.Path), Zxid: hex64(s.Zxid), Size: size, Valid: s.Valid})
	}
	logs := []string{}
	for _, l := range in.Logs {
		logs = append(logs, filepath.Base(l.Path))
	}
	return ec.JSON(http.StatusOK, map[string]any{"snapshots": out, "logs": logs})
}

// snapCache keeps the last snapshot the explorer loaded, so paging through
// it does not re-read the file.
type snapCache struct {
	mu   sync.Mutex
	file string
	tree *datatree.Tree
}

func (c *Console) loadSnapshot(name string) (*datatree.Tree, error) {
	in, err := c.input()
	if err != nil {
		return nil, err
	}
	for _, s := range in.Snapshots {
		if filepath.Base(s.Path) != name {
			continue
		}
		c.snaps.mu.Lock()
		defer c.snaps.mu.Unlock()
		if c.snaps.file == s.Path {
			return c.snaps.tree, nil
		}
		snap, err := snapshot.ReadFile(s.Path, datatree.Options{})
		if err != nil {
			return nil, err
		}
		c.snaps.file, c.snaps.tree = s.Path, snap.Tree
		return snap.Tree, nil
	}
	return nil, fmt.Errorf("no snapshot %q in the data directory", name)
}

// getSnapshot shows one node of a snapshot's tree and a page of its
// children: the same browser as the live tree, over the file.
func (c *Console) getSnapshot(ec echo.Context) error {
	path, err := c.pathParam(ec)
	if err != nil {
		return err
	}
	limit, err := intParam(ec, "limit", defaultPage, 1, maxPage)
	if err != nil {
		return err
	}
	tree, err := c.loadSnapshot(ec.QueryParam("file"))
	if err != nil {
		return jsonError(ec, http.StatusNotFound, "%v", err)
	}
	view := &Console{opts: Options{Tree: func() *datatree.Tree { return tree }}}
	n, ok := view.readNode(path, ident(ec).Role < RoleAdmin)
	if !ok {
		return jsonError(ec, http.StatusNotFound, "%s is not in %s", path, ec.QueryParam("file"))
	}
	page, _ := view.ChildrenPage(path, ec.QueryParam("after"), limit)
	return ec.JSON(http.StatusOK, map[string]any{"file": ec.QueryParam("file"), "zxid": hex64(tree.LastProcessedZxid()), "node": n, "children": page})
}

// maskTxn hides digest ACL hashes in a txn (setACL and create records
// carry them) from callers who may not see them.
func maskTxn(t *logdump.Txn) {
	maskOp := func(o *logdump.Op) {
		for i := range o.ACL {
			if o.ACL[i].Scheme == "digest" {
				user, _, _ := strings.Cut(o.ACL[i].ID, ":")
				o.ACL[i].ID = user + ":" + maskedDigest
			}
		}
	}
	maskOp(&t.Op)
	for i := range t.Ops {
		maskOp(&t.Ops[i])
	}
}

// maskTxnLine is maskTxn on one `logdump --json` line, re-encoded the way
// logdump encodes it.
func maskTxnLine(line []byte) []byte {
	var t logdump.Txn
	if err := json.Unmarshal(line, &t); err != nil {
		return []byte(`{"error":"undecodable txn hidden"}`)
	}
	maskTxn(&t)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(&t)
	return b.Bytes()
}
