package logdump

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

// Report is the outcome of Verify.
type Report struct {
	LogFiles  int
	Txns      int
	FirstZxid int64
	LastZxid  int64
	Epochs    []int64
	Snapshots int
	Problems  []Problem
}

// OK reports whether no damage was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks everything logdump can check without a server: every log
// record's checksum (continuing past bad ones), each file's header, torn
// tails, that each file starts at the zxid its name promises, zxid continuity
// (a gap inside an epoch, or a zxid that does not increase, within and across
// files), and every snapshot's seals. It prints one line per file, one per
// problem, and a summary that starts with "OK" when nothing was found.
func Verify(w io.Writer, in *Input) (*Report, error) {
	r := &Report{}
	var prev int64 = -1
	var prevFile string
	for _, f := range in.Logs {
		r.LogFiles++
		base := filepath.Base(f.Path)
		first, last, n := int64(-1), int64(-1), 0
		var probs []Problem
		err := scanFile(f.Path, func(e *txnlog.Entry) error {
			z := e.Hdr.Zxid
			n++
			if first < 0 {
				first = z
				if f.StartZxid >= 0 && z != f.StartZxid {
					probs = append(probs, Problem{File: base, Offset: e.Offset, Kind: "name",
						Detail: fmt.Sprintf("first zxid %#x but the name says %#x", z, f.StartZxid)})
				}
			}
			if prev >= 0 {
				where := "after"
				if first == z && prevFile != base {
					where = "after " + prevFile + " ended at"
				}
				switch {
				case z <= prev:
					probs = append(probs, Problem{File: base, Offset: e.Offset, Kind: "overlap",
						Detail: fmt.Sprintf("zxid %#x %s %#x: zxids must increase", z, where, prev)})
				case z>>32 == prev>>32 && z != prev+1:
					probs = append(probs, Problem{File: base, Offset: e.Offset, Kind: "gap",
						Detail: fmt.Sprintf("zxid %#x %s %#x: %d txns of epoch %d missing", z, where, prev, z-prev-1, z>>32)})
				}
			}
			if len(r.Epochs) == 0 || r.Epochs[len(r.Epochs)-1] != z>>32 {
				r.Epochs = append(r.Epochs, z>>32)
			}
			if r.Txns == 0 {
				r.FirstZxid = z
			}
			r.Txns++
			r.LastZxid = z
			prev, last = z, z
			prevFile = base
			return nil
		}, func(p Problem) { probs = append(probs, p) })
		if err != nil {
			return r, err
		}
		if n == 0 {
			fmt.Fprintf(w, "%s: no txns\n", base)
		} else {
			fmt.Fprintf(w, "%s: %d txns %#x..%#x\n", base, n, first, last)
		}
		for _, p := range probs {
			fmt.Fprintf(w, "  PROBLEM %s\n", p)
		}
		r.Problems = append(r.Problems, probs...)
	}
	for i := len(in.Snapshots) - 1; i >= 0; i-- { // oldest first, like the logs
		s := in.Snapshots[i]
		r.Snapshots++
		base := filepath.Base(s.Path)
		if !s.Valid {
			p := Problem{File: base, Kind: "snapshot", Detail: "fails ZooKeeper's pre-check (isValidSnapshot): too short, or no seal at the end, or bad compression magic; ZooKeeper will skip it"}
			fmt.Fprintf(w, "%s: invalid\n  PROBLEM %s\n", base, p)
			r.Problems = append(r.Problems, p)
			continue
		}
		snap, err := snapshot.ReadFile(s.Path, datatree.Options{})
		if err != nil {
			p := Problem{File: base, Kind: "snapshot", Detail: err.Error()}
			var ce *snapshot.CorruptError
			if errors.As(err, &ce) {
				p.Offset = ce.Offset
				if errors.Is(err, snapshot.ErrChecksum) {
					p.Kind = "seal"
				}
			}
			fmt.Fprintf(w, "%s: damaged\n  PROBLEM %s\n", base, p)
			r.Problems = append(r.Problems, p)
			continue
		}
		fmt.Fprintf(w, "%s: seals OK, %d znodes, %d sessions\n", base, snap.Tree.NodeCount()-1, len(snap.Sessions))
	}
	if r.OK() {
		fmt.Fprintf(w, "OK: %d log files, %d txns, %s; %d snapshots\n", r.LogFiles, r.Txns, r.zxidRange(), r.Snapshots)
	} else {
		fmt.Fprintf(w, "DAMAGED: %d problems; %d log files, %d txns, %s; %d snapshots\n", len(r.Problems), r.LogFiles, r.Txns, r.zxidRange(), r.Snapshots)
	}
	return r, nil
}

func (r *Report) zxidRange() string {
	if r.Txns == 0 {
		return "no zxids"
	}
	return fmt.Sprintf("zxid %#x..%#x (epochs %s)", r.FirstZxid, r.LastZxid, joinInts(r.Epochs))
}

func joinInts(v []int64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(x)
	}
	return s
}
