package prep

import "github.com/zkd-io/zkd/server/javalang"

// javaStringSet reproduces the iteration order of a java.util.HashSet of
// strings, which decides the order of the paths in a closeSession txn and
// therefore the order in which every server deletes a session's ephemeral
// nodes and fires their watches. Strings land in bins by their spread
// String.hashCode, each bin keeps insertion order, and a resize splits bins
// in order, as java.util.HashMap (JDK 8-18) does. Bins that Java would turn
// into trees (8 or more colliding strings in a table of 64 or more) keep
// list order here.
type javaStringSet struct {
	bins      [][]hashedString
	size      int
	threshold int
}

type hashedString struct {
	hash int32
	s    string
}

const (
	defaultCapacity  = 16
	treeifyThreshold = 8
	minTreeCapacity  = 64
)

// cloneJavaStringSet returns the copy HashSet.clone makes of a set holding
// elems in iteration order: a table pre-sized for the element count
// (HashMap.putMapEntries), filled in that order.
func cloneJavaStringSet(elems []string) *javaStringSet {
	s := &javaStringSet{}
	if len(elems) > 0 {
		t := int(float32(len(elems))/0.75 + 1)
		s.threshold = tableSizeFor(t)
	}
	for _, e := range elems {
		s.add(e)
	}
	return s
}

// tableSizeFor is HashMap.tableSizeFor: the smallest power of two >= c.
func tableSizeFor(c int) int {
	n := 1
	for n < c {
		n <<= 1
	}
	return n
}

// hashString is HashMap.hash of a String: its hashCode over UTF-16 code
// units, with the high half folded into the low half.
func hashString(s string) int32 {
	h := javalang.StringHashCode(s)
	return h ^ int32(uint32(h)>>16)
}

func (s *javaStringSet) add(e string) {
	if s.bins == nil {
		s.resize()
	}
	h := hashString(e)
	i := int(h) & (len(s.bins) - 1)
	for _, x := range s.bins[i] {
		if x.s == e {
			return
		}
	}
	before := len(s.bins[i])
	s.bins[i] = append(s.bins[i], hashedString{hash: h, s: e})
	if before >= treeifyThreshold && len(s.bins) < minTreeCapacity {
		s.resize() // HashMap.treeifyBin grows small tables instead
	}
	s.size++
	if s.size > s.threshold {
		s.resize()
	}
}

func (s *javaStringSet) remove(e string) {
	if s.bins == nil {
		return
	}
	i := int(hashString(e)) & (len(s.bins) - 1)
	for j, x := range s.bins[i] {
		if x.s == e {
			s.bins[i] = append(s.bins[i][:j:j], s.bins[i][j+1:]...)
			s.size--
			return
		}
	}
}

// resize is HashMap.resize: the first call allocates the table (sized by
// threshold when a clone pre-sized it), later calls double it and split
// every bin into its low and high half, keeping order.
func (s *javaStringSet) resize() {
	oldCap := len(s.bins)
	var newCap, newThr int
	switch {
	case oldCap > 0:
		newCap = oldCap * 2
		if oldCap >= defaultCapacity {
			newThr = s.threshold * 2
		}
	case s.threshold > 0:
		newCap = s.threshold
	default:
		newCap, newThr = defaultCapacity, defaultCapacity*3/4
	}
	if newThr == 0 {
		newThr = int(float32(newCap) * 0.75)
	}
	s.threshold = newThr
	bins := make([][]hashedString, newCap)
	for i, bin := range s.bins {
		for _, x := range bin {
			j := i
			if int(x.hash)&oldCap != 0 {
				j += oldCap
			}
			bins[j] = append(bins[j], x)
		}
	}
	s.bins = bins
}

// list returns the elements in iteration order.
func (s *javaStringSet) list() []string {
	out := make([]string, 0, s.size)
	for _, bin := range s.bins {
		for _, x := range bin {
			out = append(out, x.s)
		}
	}
	return out
}
