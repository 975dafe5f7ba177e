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
	// Covered are gaps inside an epoch that a snapshot fills: the log
	// goes on right after a valid snapshot that lies past its last txn.
	// ZooKeeper's learners leave these when they install a SNAP and keep
	// their old log files, and a member killed while its snapshot was ahead
	// of its log leaves one too. Recovery from that snapshot or a newer one
	// works; an older snapshot cannot be replayed past the gap.
	Covered []Problem
}

// OK reports whether no damage was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks everything logdump can check without a server: every log
// record's checksum (continuing past bad ones), each file's header, torn
// tails, that each file starts at the zxid its name promises, zxid continuity
// (a gap inside an epoch, or a zxid that does not increase, within and across
// files), and every snapshot's seals. A gap that a valid snapshot fills is
// noted (Report.Covered), not counted as damage. It prints one line per
// file, one per problem or note, and a summary that starts with "OK" when
// nothing was found.
func Verify(w io.Writer, in *Input) (*Report, error) {
	r := &Report{}
	valid := map[int64]string{} // zxid to file name of the valid snapshots
	for _, s := range in.Snapshots {
		if s.Valid {
			valid[s.Zxid] = filepath.Base(s.Path)
		}
	}
	var prev int64 = -1
	var prevFile string
	for _, f := range in.Logs {
		r.LogFiles++
		base := filepath.Base(f.Path)
		first, last, n := int64(-1), int64(-1), 0
		var probs, covered []Problem
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
					if snap, ok := valid[z-1]; ok {
						covered = append(covered, Problem{File: base, Offset: e.Offset, Kind: "covered-gap",
							Detail: fmt.Sprintf("zxid %#x %s %#x: the %d txns between are only in %s", z, where, prev, z-prev-1, snap)})
						break
					}
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
		for _, p := range covered {
			fmt.Fprintf(w, "  NOTE %s\n", p)
		}
		r.Problems = append(r.Problems, probs...)
		r.Covered = append(r.Covered, covered...)
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
	covered := ""
	if len(r.Covered) > 0 {
		covered = fmt.Sprintf("; %d log gaps covered by snapshots", len(r.Covered))
	}
	if r.OK() {
		fmt.Fprintf(w, "OK: %d log files, %d txns, %s; %d snapshots%s\n", r.LogFiles, r.Txns, r.zxidRange(), r.Snapshots, covered)
	} else {
		fmt.Fprintf(w, "DAMAGED: %d problems; %d log files, %d txns, %s; %d snapshots%s\n", len(r.Problems), r.LogFiles, r.Txns, r.zxidRange(), r.Snapshots, covered)
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
