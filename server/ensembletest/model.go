package ensembletest

import (
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/anishathalye/porcupine"
)

// InitialValue is what every register (key znode) holds when a workload
// starts; its version is 0.
const InitialValue = "init"

// Register is the state of one key znode in RegisterModel: its data and
// its data version (stat.version), which every setData increments.
type Register struct {
	Value   string
	Version int32
}

// RegisterModel is a porcupine model of a set of znodes used as versioned
// registers, partitioned by znode (each is checked on its own, which keeps
// the search small). Checked operations:
//
//   - write (setData, version -1): acknowledged, it must return version
//     previous+1; with an Unknown outcome it may apply at any point after
//     its call or never (its return is at infinity: as porcupine's own
//     etcd/Jepsen test models timeouts, the op stays open until the end
//     and Step accepts it whenever it is linearized).
//   - cas (setData with version v): acknowledged, the version must have
//     been v and becomes v+1; refused with BADVERSION, the version must
//     not have been v (state unchanged); Unknown, it applies if the
//     version is v at its linearization point.
//   - sync-read (sync then getData): must return exactly the current value
//     and version. ZooKeeper promises linearizable reads only after sync.
//
// Plain reads (OpRead) are not in the model: ZooKeeper serves them from
// the server the client is connected to, which may lag the leader, so
// they are only sequentially consistent and would make a correct history
// look illegal. CheckReads checks them instead: per session, versions never
// go back, and every (znode, version) pair has one value across all
// clients. Create-sequential ops are checked by CheckCreates.
var RegisterModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make(map[string][]porcupine.Operation)
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		var parts [][]porcupine.Operation
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() any { return Register{Value: InitialValue} },
	Step: func(state, input, output any) (bool, any) {
		return registerStep(state.(Register), input.(Input), output.(Output))
	},
	Equal: func(a, b any) bool { return a.(Register) == b.(Register) },
	Hash: func(state any) uint64 {
		r := state.(Register)
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s", r.Version, r.Value)
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		switch in.Kind {
		case OpWrite:
			return fmt.Sprintf("write(%s, %q) -> %s v%d", in.Key, in.Value, out.Outcome, out.Version)
		case OpCAS:
			if out.BadVersion {
				return fmt.Sprintf("cas(%s, v%d, %q) -> badversion", in.Key, in.Version, in.Value)
			}
			return fmt.Sprintf("cas(%s, v%d, %q) -> %s v%d", in.Key, in.Version, in.Value, out.Outcome, out.Version)
		case OpSyncRead:
			return fmt.Sprintf("sync-read(%s) -> %q v%d", in.Key, out.Value, out.Version)
		}
		return fmt.Sprintf("%v(%s) -> %v", in.Kind, in.Key, out)
	},
	DescribeState: func(state any) string {
		r := state.(Register)
		return fmt.Sprintf("%q v%d", r.Value, r.Version)
	},
}

// registerStep is RegisterModel's transition function.
func registerStep(s Register, in Input, out Output) (bool, Register) {
	switch in.Kind {
	case OpWrite:
		next := Register{Value: in.Value, Version: s.Version + 1}
		switch out.Outcome {
		case OK:
			return out.Version == next.Version, next
		case Unknown:
			return true, next
		}
	case OpCAS:
		matches := s.Version == in.Version
		next := Register{Value: in.Value, Version: s.Version + 1}
		switch {
		case out.Outcome == OK:
			return matches && out.Version == next.Version, next
		case out.Outcome == Failed && out.BadVersion:
			return !matches, s
		case out.Outcome == Unknown:
			if matches {
				return true, next
			}
			return true, s
		}
	case OpSyncRead:
		if out.Outcome == OK {
			return out.Value == s.Value && out.Version == s.Version, s
		}
	}
	// Definite failures other than BADVERSION and failed reads say
	// nothing; LinearizabilityHistory leaves them out.
	return true, s
}

// LinearizabilityHistory converts the ops RegisterModel checks to
// porcupine operations: writes, CASes and sync-reads, except those that
// certainly had no effect and told nothing (failed reads, failures other
// than BADVERSION).
func LinearizabilityHistory(ops []Op) []porcupine.Operation {
	var hist []porcupine.Operation
	for _, op := range ops {
		switch op.Input.Kind {
		case OpWrite, OpCAS, OpSyncRead:
		default:
			continue
		}
		if op.Output.Outcome == Failed && !op.Output.BadVersion {
			continue
		}
		if op.Input.Kind == OpSyncRead && op.Output.Outcome != OK {
			continue
		}
		hist = append(hist, porcupine.Operation{
			ClientId: op.Client,
			Input:    op.Input,
			Call:     op.Call,
			Output:   op.Output,
			Return:   op.Return,
		})
	}
	return hist
}
