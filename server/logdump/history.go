package logdump

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

// Change is one txn that affected the znode whose history is asked for.
type Change struct {
	Effect string // created, data changed, ACL changed, deleted, deleted (session closed), not applied (multi failed), checked
	Txn    Txn
}

// HistoryBase is the znode's state in the snapshot the history starts from.
type HistoryBase struct {
	Snapshot string // file; "" when there is none to start from
	Zxid     int64
	Exists   bool
	Node     datatree.NodeInfo
	Data     []byte
}

// History finds every change to path: its state in the newest snapshot at
// or before the first log (the base), then every txn after that snapshot's
// zxid that created, changed or deleted it, inside multis and through
// closeSession included.
func History(in *Input, path string, opts Options) (*HistoryBase, []Change, []Problem, error) {
	base := &HistoryBase{Zxid: -1}
	var snapFile *snapshot.File
	if len(in.Logs) > 0 {
		for i := range in.Snapshots { // newest first
			if in.Snapshots[i].Zxid <= in.Logs[0].StartZxid && in.Snapshots[i].Valid {
				snapFile = &in.Snapshots[i]
				break
			}
		}
	} else if len(in.Snapshots) > 0 {
		snapFile = &in.Snapshots[0]
	}
	if snapFile != nil {
		snap, err := snapshot.ReadFile(snapFile.Path, datatree.Options{})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("logdump: history base: %w", err)
		}
		base.Snapshot, base.Zxid = filepath.Base(snapFile.Path), snap.Tree.LastProcessedZxid()
		snap.Tree.RLock()
		base.Node, base.Exists = snap.Tree.Lookup(path)
		if base.Exists {
			base.Data, _, _ = snap.Tree.GetData(path, nil, nil)
		}
		snap.Tree.RUnlock()
	}
	var changes []Change
	var probs []Problem
	err := scanLogs(in, base.Zxid+1, func(e *txnlog.Entry) error {
		if e.Hdr.Zxid <= base.Zxid {
			return nil
		}
		t := NewTxn(e, opts.loc())
		if !opts.Filter.Match(&t, e.Hdr.Zxid, e.Hdr.ClientID) {
			return nil
		}
		effect := effectOn(&t.Op, path)
		for i := range t.Ops {
			if ef := effectOn(&t.Ops[i], path); ef != "" {
				if t.FailedOp > 0 {
					ef = "not applied (multi failed): " + ef
				}
				effect = ef
			}
		}
		if effect != "" {
			changes = append(changes, Change{Effect: effect, Txn: t})
		}
		return nil
	}, func(p Problem) { probs = append(probs, p) })
	return base, changes, probs, err
}

func effectOn(o *Op, path string) string {
	if o.Ephemerals != nil {
		for _, p := range *o.Ephemerals {
			if p == path {
				return "deleted (session closed)"
			}
		}
	}
	if o.Path != path {
		return ""
	}
	switch o.Type {
	case "create", "create2", "createContainer", "createTtl":
		return "created"
	case "delete", "deleteContainer":
		return "deleted"
	case "setData", "reconfig":
		return "data changed"
	case "setACL":
		return "ACL changed"
	case "check":
		return "version checked"
	}
	return ""
}

// WriteHistory prints a history found by History.
func WriteHistory(w io.Writer, path string, base *HistoryBase, changes []Change, opts Options) error {
	switch {
	case base.Snapshot == "":
		fmt.Fprintf(w, "no snapshot at or before the first log: %s starts unknown\n", path)
	case !base.Exists:
		fmt.Fprintf(w, "%s (zxid %s): %s does not exist\n", base.Snapshot, hex64(base.Zxid), path)
	default:
		s := base.Node.Stat
		fmt.Fprintf(w, "%s (zxid %s): %s exists czxid=%s mzxid=%s version=%d aversion=%d ephemeralOwner=%s %s acl=",
			base.Snapshot, hex64(base.Zxid), path, hex64(s.Czxid), hex64(s.Mzxid), s.Version, s.Aversion,
			hex64(s.EphemeralOwner), formatData(base.Data, opts.dataFormat(), opts.maxData()))
		fmt.Fprintln(w, aclList(aclView(base.Node.ACL)))
	}
	for _, c := range changes {
		fmt.Fprintf(w, "%s: %s\n", c.Effect, c.Txn.Human(opts.dataFormat(), opts.maxData(), opts.Verbose))
	}
	_, err := fmt.Fprintf(w, "%d changes\n", len(changes))
	return err
}
