package loadgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Op is one kind of client request the load generator issues.
type Op int

// The operations, in the order results list them.
const (
	OpCreate Op = iota
	OpSet
	OpGet
	numOps
)

var opNames = [numOps]string{"create", "set", "get"}

func (o Op) String() string {
	if o < 0 || o >= numOps {
		return "op(" + strconv.Itoa(int(o)) + ")"
	}
	return opNames[o]
}

// Kind is the shape of a workload.
type Kind int

// Workload kinds. Create makes a new persistent znode per request (the
// write path with tree growth); Set overwrites znodes of the key space (the
// write path at a constant tree size); Get reads them; Mixed interleaves
// gets and sets at random in a fixed ratio, the usual coordination-service
// profile (mostly reads).
const (
	KindCreate Kind = iota
	KindSet
	KindGet
	KindMixed
)

// Workload is what each client does in its loop.
type Workload struct {
	Kind Kind
	// ReadPercent is the share of gets in a Mixed workload, 0 to 100; the
	// rest are sets. Ignored by the other kinds.
	ReadPercent int
}

// Workloads accepted by ParseWorkload besides mixed-<percent>.
var (
	Create = Workload{Kind: KindCreate}
	Set    = Workload{Kind: KindSet}
	Get    = Workload{Kind: KindGet}
)

// Mixed returns the workload with readPercent gets and the rest sets.
func Mixed(readPercent int) Workload { return Workload{Kind: KindMixed, ReadPercent: readPercent} }

// String is the workload's name as ParseWorkload reads it: create, set,
// get or mixed-<read percent>.
func (w Workload) String() string {
	switch w.Kind {
	case KindCreate:
		return "create"
	case KindSet:
		return "set"
	case KindGet:
		return "get"
	case KindMixed:
		return "mixed-" + strconv.Itoa(w.ReadPercent)
	}
	return "workload(" + strconv.Itoa(int(w.Kind)) + ")"
}

// ParseWorkload reads a workload name: create, set, get, or mixed-N with
// N the percentage of gets (mixed-90: 90% get, 10% set).
func ParseWorkload(s string) (Workload, error) {
	switch s {
	case "create":
		return Create, nil
	case "set":
		return Set, nil
	case "get":
		return Get, nil
	case "mixed":
		return Workload{}, fmt.Errorf("workload %q needs a read percentage, e.g. mixed-90 for 90%% gets", s)
	}
	if pct, ok := strings.CutPrefix(s, "mixed-"); ok {
		n, err := strconv.Atoi(pct)
		if err != nil || n < 0 || n > 100 {
			return Workload{}, fmt.Errorf("workload %q: the read percentage after mixed- must be a whole number from 0 to 100", s)
		}
		return Mixed(n), nil
	}
	return Workload{}, fmt.Errorf("unknown workload %q (want create, set, get or mixed-N, N the percentage of gets)", s)
}

// needsKeys reports whether the workload reads or writes the pre-created
// key space.
func (w Workload) needsKeys() bool { return w.Kind != KindCreate }

func (w Workload) validate() error {
	switch w.Kind {
	case KindCreate, KindSet, KindGet:
		return nil
	case KindMixed:
		if w.ReadPercent < 0 || w.ReadPercent > 100 {
			return fmt.Errorf("workload mixed: read percentage %d is not between 0 and 100", w.ReadPercent)
		}
		return nil
	}
	return fmt.Errorf("unknown workload kind %d", w.Kind)
}
