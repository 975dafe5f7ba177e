package logdump

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/snapshot"
)

// Znode is one node of a snapshot as logdump shows it. Cversion is the
// stored one (child creations), as SnapshotFormatter shows it.
type Znode struct {
	Path           string  `json:"path"`
	DataLength     int     `json:"data_length"`
	Data           *[]byte `json:"data,omitempty"`
	NumChildren    int32   `json:"num_children"`
	EphemeralOwner string  `json:"ephemeral_owner"` // hex, raw (container and TTL markers included)
	Kind           string  `json:"kind"`            // persistent, ephemeral, container, ttl
	TTLMs          int64   `json:"ttl_ms,omitempty"`
	Czxid          string  `json:"czxid"`
	Mzxid          string  `json:"mzxid"`
	Pzxid          string  `json:"pzxid"`
	Ctime          int64   `json:"ctime"`
	Mtime          int64   `json:"mtime"`
	Version        int32   `json:"version"`
	Cversion       int32   `json:"cversion"`
	Aversion       int32   `json:"aversion"`
	ACLID          int64   `json:"acl_id"`
}

// SnapshotSession is one session of a snapshot with its ephemerals.
type SnapshotSession struct {
	ID         string   `json:"id"`
	TimeoutMs  int32    `json:"timeout_ms"`
	Ephemerals []string `json:"ephemerals"`
}

// SnapshotACL is one ACL cache entry.
type SnapshotACL struct {
	ID  int64 `json:"id"`
	ACL []ACL `json:"acl"`
}

// SnapshotView is everything logdump shows about a snapshot.
type SnapshotView struct {
	File string `json:"file"`
	Zxid string `json:"zxid"` // from the file name: where the snapshot started
	// MaxZxid is the newest zxid the tree holds (name zxid or any m/pzxid):
	// snapshots are fuzzy, so txns after Zxid may already be in it.
	// SnapshotFormatter prints this as "Last zxid".
	MaxZxid string  `json:"max_zxid"`
	Digest  *Digest `json:"digest,omitempty"`
	// DigestZxid is the zxid the digest record belongs to: the newest txn
	// applied when serialization ended. Above Zxid, the snapshot is fuzzy,
	// and recovery needs the log to reach it to verify the snapshot.
	DigestZxid string            `json:"digest_zxid,omitempty"`
	Znodes     []Znode           `json:"znodes"`
	ACLs       []SnapshotACL     `json:"acls"`
	Sessions   []SnapshotSession `json:"sessions"`
}

var kindNames = map[datatree.EphemeralKind]string{
	datatree.KindPersistent: "persistent", datatree.KindEphemeral: "ephemeral",
	datatree.KindContainer: "container", datatree.KindTTL: "ttl",
}

// LoadSnapshot reads a snapshot file (checking its seals) into a view, the
// znodes in path order. withData keeps each node's data.
func LoadSnapshot(path string, withData bool) (*SnapshotView, *snapshot.Snapshot, error) {
	snap, err := snapshot.ReadFile(path, datatree.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("logdump: %w", err)
	}
	v := &SnapshotView{File: filepath.Base(path), Zxid: hex64(snap.Tree.LastProcessedZxid())}
	if snap.Digest != nil {
		v.Digest = &Digest{Version: snap.Digest.Version, Tree: hex64(snap.Digest.Digest)}
		v.DigestZxid = hex64(snap.Digest.Zxid)
	}
	t := snap.Tree
	maxZxid := t.LastProcessedZxid()
	t.RLock()
	defer t.RUnlock()
	err = t.Walk(func(p string, n datatree.NodeView) error {
		z := Znode{
			Path: p, DataLength: len(n.Data), NumChildren: n.NumChildren,
			EphemeralOwner: hex64(n.Stat.EphemeralOwner), Kind: kindNames[n.Kind], TTLMs: n.TTL(),
			Czxid: hex64(n.Stat.Czxid), Mzxid: hex64(n.Stat.Mzxid), Pzxid: hex64(n.Stat.Pzxid),
			Ctime: n.Stat.Ctime, Mtime: n.Stat.Mtime, Version: n.Stat.Version,
			Cversion: n.Stat.Cversion, Aversion: n.Stat.Aversion, ACLID: n.ACLID,
		}
		maxZxid = max(maxZxid, n.Stat.Mzxid, n.Stat.Pzxid)
		if withData {
			z.Data = ptr(append([]byte{}, n.Data...))
		}
		v.Znodes = append(v.Znodes, z)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("logdump: walk %s: %w", path, err)
	}
	v.MaxZxid = hex64(maxZxid)
	acls := t.ACLs()
	for id, a := range acls {
		v.ACLs = append(v.ACLs, SnapshotACL{ID: id, ACL: aclView(a)})
	}
	sort.Slice(v.ACLs, func(i, j int) bool { return v.ACLs[i].ID < v.ACLs[j].ID })
	eph := t.EphemeralsBySession()
	for _, s := range snap.Sessions {
		e := eph[s.ID]
		if e == nil {
			e = []string{}
		}
		v.Sessions = append(v.Sessions, SnapshotSession{ID: hex64(s.ID), TimeoutMs: s.TimeoutMs, Ephemerals: e})
	}
	return v, snap, nil
}

// SnapshotOptions control WriteSnapshot.
type SnapshotOptions struct {
	JSON     bool
	Biggest  int // > 0: only the N largest znodes by data size
	Filter   Filter
	Data     DataFormat
	MaxData  int
	Location *time.Location
}

// WriteSnapshot prints a snapshot view: the tree (or the biggest znodes),
// the ACL cache and the sessions with their ephemerals. Filter.PathPrefix
// limits the znodes shown.
func WriteSnapshot(w io.Writer, v *SnapshotView, opts SnapshotOptions) error {
	nodes := v.Znodes
	if opts.Filter.PathPrefix != "" {
		var sel []Znode
		for _, z := range nodes {
			if MatchPath(opts.Filter.PathPrefix, z.Path) {
				sel = append(sel, z)
			}
		}
		nodes = sel
	}
	if opts.Biggest > 0 {
		nodes = append([]Znode{}, nodes...)
		sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].DataLength > nodes[j].DataLength })
		if len(nodes) > opts.Biggest {
			nodes = nodes[:opts.Biggest]
		}
	}
	if opts.JSON {
		out := *v
		out.Znodes = nodes
		if opts.Data == DataNone {
			out.Znodes = append([]Znode{}, nodes...)
			for i := range out.Znodes {
				out.Znodes[i].Data = nil
			}
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(&out)
	}
	fmt.Fprintf(w, "%s: zxid %s (newest in tree %s), %d znodes, %d sessions, %d ACLs", v.File, v.Zxid, v.MaxZxid, len(v.Znodes), len(v.Sessions), len(v.ACLs))
	if v.Digest != nil {
		fmt.Fprintf(w, ", digest v%d:%s at zxid %s", v.Digest.Version, v.Digest.Tree, v.DigestZxid)
	}
	fmt.Fprintln(w)
	if opts.Biggest > 0 {
		fmt.Fprintf(w, "\nbiggest %d znodes by data size:\n", opts.Biggest)
	} else {
		fmt.Fprintln(w, "\nznodes:")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tDATA\tCHILDREN\tEPHEMERAL OWNER\tMZXID\tMTIME")
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	for _, z := range nodes {
		owner := "-"
		switch z.Kind {
		case "ephemeral":
			owner = z.EphemeralOwner
		case "container":
			owner = "container"
		case "ttl":
			owner = fmt.Sprintf("ttl=%dms", z.TTLMs)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", z.Path, z.DataLength, z.NumChildren, owner, z.Mzxid,
			time.UnixMilli(z.Mtime).In(loc).Format(timeFormat))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nACLs:")
	for _, a := range v.ACLs {
		fmt.Fprintf(w, "  %d: %s\n", a.ID, aclList(a.ACL))
	}
	fmt.Fprintln(w, "\nsessions:")
	for _, s := range v.Sessions {
		fmt.Fprintf(w, "  %s timeout=%dms ephemerals=%d", s.ID, s.TimeoutMs, len(s.Ephemerals))
		for _, e := range s.Ephemerals {
			fmt.Fprintf(w, " %s", e)
		}
		fmt.Fprintln(w)
	}
	return nil
}
