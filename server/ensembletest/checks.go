package ensembletest

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// CheckLinearizable checks the writes, CASes and sync-reads of ops against
// RegisterModel. It returns porcupine's verdict; on Illegal, vizPath (if
// not empty) receives porcupine's HTML visualization of the longest
// partial linearizations. A timeout gives porcupine.Unknown.
func CheckLinearizable(ops []Op, timeout time.Duration, vizPath string) (porcupine.CheckResult, error) {
	hist := LinearizabilityHistory(ops)
	res, info := porcupine.CheckOperationsVerbose(RegisterModel, hist, timeout)
	if res == porcupine.Illegal && vizPath != "" {
		if err := porcupine.VisualizePath(RegisterModel, info, vizPath); err != nil {
			return res, fmt.Errorf("write visualization: %w", err)
		}
	}
	return res, nil
}

// CheckReads checks what linearizability leaves out, plain reads, as far
// as ZooKeeper promises anything about them:
//
//   - within one session, the version a client sees of a znode never goes
//     back (ZooKeeper's client FIFO order and its refusal to reconnect a
//     session to a server behind the client's last zxid), counting the
//     versions its own acknowledged writes returned;
//   - every (znode, version) has one value, whoever read or wrote it;
//   - every value read was written by someone (or is InitialValue).
//
// A session change (expiry, a new session) restarts the first check.
func CheckReads(ops []Op) []error {
	var errs []error
	written := make(map[string]map[string]bool) // key -> values attempted
	type kv struct {
		key     string
		version int32
	}
	valueAt := make(map[kv]string)
	valueSrc := make(map[kv]string)
	note := func(op Op, key, value string, version int32) {
		k := kv{key, version}
		desc := fmt.Sprintf("worker %d %v at %v", op.Worker, op.Input.Kind, time.Duration(op.Call))
		if v, ok := valueAt[k]; ok && v != value {
			errs = append(errs, fmt.Errorf("%s version %d has two values: %q (%s) and %q (%s)", key, version, v, valueSrc[k], value, desc))
			return
		}
		valueAt[k], valueSrc[k] = value, desc
	}
	for _, op := range ops {
		if op.Input.Kind == OpWrite || op.Input.Kind == OpCAS {
			if written[op.Input.Key] == nil {
				written[op.Input.Key] = map[string]bool{InitialValue: true}
			}
			written[op.Input.Key][op.Input.Value] = true
		}
	}

	byWorker := make(map[int][]Op)
	for _, op := range ops {
		byWorker[op.Worker] = append(byWorker[op.Worker], op)
	}
	for _, worker := range slices.Sorted(maps.Keys(byWorker)) {
		wops := byWorker[worker]
		slices.SortFunc(wops, func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
		seen := make(map[string]int32)
		var session int64 = -1
		for _, op := range wops {
			if op.SessionBefore != session || op.SessionAfter != op.SessionBefore {
				seen = make(map[string]int32)
			}
			session = op.SessionAfter
			if op.Output.Outcome != OK || op.Input.Kind == OpCreateSeq {
				continue
			}
			key := op.Input.Key
			switch op.Input.Kind {
			case OpWrite, OpCAS:
				note(op, key, op.Input.Value, op.Output.Version)
			case OpRead, OpSyncRead:
				note(op, key, op.Output.Value, op.Output.Version)
				if !written[key][op.Output.Value] && op.Output.Value != InitialValue {
					errs = append(errs, fmt.Errorf("worker %d %v of %s at %v returned %q v%d, which nobody wrote",
						worker, op.Input.Kind, key, time.Duration(op.Call), op.Output.Value, op.Output.Version))
				}
			}
			if prev, ok := seen[key]; ok && op.Output.Version < prev {
				errs = append(errs, fmt.Errorf("worker %d session 0x%x: %v of %s at %v saw version %d after version %d",
					worker, op.SessionAfter, op.Input.Kind, key, time.Duration(op.Call), op.Output.Version, prev))
			}
			seen[key] = max(seen[key], op.Output.Version)
		}
	}
	return errs
}

// CheckCreates checks the create-sequential ops of ops against the
// children found under their parent at the end (name -> data):
//
//   - every acknowledged create exists, under the name it was given and
//     with its data: no acknowledged write went missing;
//   - every child was created by some create the history attempted
//     (acknowledged or of unknown outcome), and only once;
//   - sequence numbers respect real time: a create acknowledged before
//     another was called got the smaller number.
func CheckCreates(ops []Op, children map[string]string) []error {
	var errs []error
	attempted := make(map[string]Op) // value -> op
	var acked []Op
	for _, op := range ops {
		if op.Input.Kind != OpCreateSeq || op.Output.Outcome == Failed {
			continue
		}
		attempted[op.Input.Value] = op
		if op.Output.Outcome == OK {
			acked = append(acked, op)
		}
	}
	for _, op := range acked {
		name := path.Base(op.Output.Path)
		data, ok := children[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("acknowledged create %s (%q, worker %d, returned at %v) is missing",
				op.Output.Path, op.Input.Value, op.Worker, time.Duration(op.Return)))
		case data != op.Input.Value:
			errs = append(errs, fmt.Errorf("acknowledged create %s holds %q, want %q", op.Output.Path, data, op.Input.Value))
		}
	}
	seenData := make(map[string]string)
	for _, name := range slices.Sorted(maps.Keys(children)) {
		data := children[name]
		if _, ok := attempted[data]; !ok {
			errs = append(errs, fmt.Errorf("child %s holds %q, which no create attempted", name, data))
		}
		if other, ok := seenData[data]; ok {
			errs = append(errs, fmt.Errorf("children %s and %s both hold %q: a create applied twice", other, name, data))
		}
		seenData[data] = name
	}
	// Real-time order: sweep the acked creates by call time, keeping the
	// largest sequence number among those that returned before.
	byReturn := slices.Clone(acked)
	slices.SortFunc(byReturn, func(a, b Op) int { return cmp.Compare(a.Return, b.Return) })
	byCall := slices.Clone(acked)
	slices.SortFunc(byCall, func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
	maxSeq, maxOp, i := int64(-1), Op{}, 0
	for _, b := range byCall {
		for i < len(byReturn) && byReturn[i].Return < b.Call {
			if s := seqOf(byReturn[i].Output.Path); s > maxSeq {
				maxSeq, maxOp = s, byReturn[i]
			}
			i++
		}
		if s := seqOf(b.Output.Path); s <= maxSeq {
			errs = append(errs, fmt.Errorf("create %s (called at %v) got a smaller number than %s, acknowledged before it at %v",
				b.Output.Path, time.Duration(b.Call), maxOp.Output.Path, time.Duration(maxOp.Return)))
		}
	}
	return errs
}

// seqOf returns the sequence number ZooKeeper appended to a sequential
// znode's name (its last 10 digits), or -1.
func seqOf(p string) int64 {
	if len(p) < 10 {
		return -1
	}
	n, err := strconv.ParseInt(p[len(p)-10:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// vizFile returns a path for a porcupine visualization that outlives the
// test's temporary directories.
func vizFile(name string) string {
	name = strings.NewReplacer("/", "_", " ", "_").Replace(name)
	f, err := os.CreateTemp("", "ensembletest-"+name+"-*.html")
	if err != nil {
		return ""
	}
	f.Close()
	return f.Name()
}
