package zab

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/proto"
)

var (
	simSeed  = flag.Int64("seed", -1, "run only this simulator seed, with a trace")
	simSeeds = flag.Int("seeds", 0, "number of simulator seeds (default 4000, or $ZAB_SIM_SEEDS)")
)

// memStorage is a peer's durable state in the simulator. The simulator
// changes it only while carrying out a Ready, in Ready's documented order,
// and a crash keeps whatever steps were done.
type memStorage struct {
	accepted, current int64
	snapZxid          int64
	snap              []Entry // the history the snapshot holds, for the checks
	snaps             []int64 // every snapshot taken or installed (none is purged)
	log               []Entry
}

func (s *memStorage) LastZxid() int64 {
	if len(s.log) > 0 {
		return max(s.log[len(s.log)-1].Zxid(), s.snapZxid)
	}
	return s.snapZxid
}
func (s *memStorage) AcceptedEpoch() int64 { return s.accepted }
func (s *memStorage) CurrentEpoch() int64  { return s.current }
func (s *memStorage) FirstZxid() int64 {
	if len(s.log) > 0 {
		return s.log[0].Zxid()
	}
	return 0
}
func (s *memStorage) SnapshotZxid() int64 { return s.snapZxid }
func (s *memStorage) Snapshots() ([]int64, error) {
	return slices.Clone(s.snaps), nil
}
func (s *memStorage) Entries(from, to int64) ([]Entry, error) {
	var out []Entry
	for _, e := range s.log {
		if e.Zxid() >= from && e.Zxid() <= to {
			out = append(out, e)
		}
	}
	return out, nil
}

// holds reports whether the durable history holds e.
func (s *memStorage) holds(e Entry) bool {
	if i, ok := slices.BinarySearchFunc(s.log, e.Zxid(), func(x Entry, z int64) int { return cmpInt(x.Zxid(), z) }); ok {
		return s.log[i].Hdr == e.Hdr
	}
	if i, ok := slices.BinarySearchFunc(s.snap, e.Zxid(), func(x Entry, z int64) int { return cmpInt(x.Zxid(), z) }); ok {
		return s.snap[i].Hdr == e.Hdr
	}
	return false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type simPeer struct {
	id   int64
	up   bool
	st   *memStorage
	node *Node   // nil while down or looking
	tree []Entry // applied txns: volatile, rebuilt from the snapshot on restart
	// writer and inflight model the edge's log writer (peer.role's
	// writeAsync): once a role is established, a Ready whose only durable
	// work is an append is carried out at once except for that append,
	// which completes in a later step (completeWrite), in order; only then
	// is the Ready advanced and a learner's ACKs in it sent. Meanwhile
	// the core hands out further Readies.
	writer   bool
	inflight []Ready
}

func (p *simPeer) appliedZxid() int64 {
	if len(p.tree) == 0 {
		return 0
	}
	return p.tree[len(p.tree)-1].Zxid()
}

type sim struct {
	t      testing.TB
	rng    *rand.Rand
	trace  bool
	peers  []*simPeer
	voters []int64
	obs    []int64
	links  [][][]Message // links[from][to], FIFO like a TCP connection
	broken [][]bool      // a lost message breaks its connection until a peer restarts its Node
	group  []int         // partition group per peer
	global []Entry       // the committed sequence, as applied anywhere
	// committedIn is, per zxid in global, the epoch in which it was first
	// applied: that of the leader that committed it.
	committedIn map[int64]int64
	leaders     map[int64]int64
	cxid        int32
	step        int
	failure     string
	commits     int
	elected     int
	// pipelined counts Readies handed to a log writer while an earlier
	// one was still being written, and aheadLearner and aheadLeader the
	// txns a learner or a leader applied before its own log held them
	// (a leader commits on its followers' acks alone): the edge's
	// pipelining, which the seeds must exercise.
	pipelined, aheadLearner, aheadLeader int
	// unguarded counts snapshots taken ahead of the durable log,
	// gapsLogged the appends that left a log skipping txns, and gapSyncs
	// the learner syncs a leader switched to SNAP over such a gap.
	unguarded, gapsLogged, gapSyncs int
	faults                          bool
	maxSteps                        int
}

func newSim(t testing.TB, seed int64, trace bool) *sim {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	nv := 3
	if rng.IntN(2) == 1 {
		nv = 5
	}
	no := 0
	if rng.IntN(3) == 0 {
		no = 1
	}
	s := &sim{t: t, rng: rng, trace: trace, leaders: map[int64]int64{}, committedIn: map[int64]int64{}, faults: true, maxSteps: 2500}
	for i := 1; i <= nv+no; i++ {
		s.peers = append(s.peers, &simPeer{id: int64(i), up: true, st: &memStorage{}})
		if i <= nv {
			s.voters = append(s.voters, int64(i))
		} else {
			s.obs = append(s.obs, int64(i))
		}
	}
	n := len(s.peers)
	s.links = make([][][]Message, n)
	s.broken = make([][]bool, n)
	for i := range s.links {
		s.links[i] = make([][]Message, n)
		s.broken[i] = make([]bool, n)
	}
	s.group = make([]int, n)
	return s
}

func (s *sim) logf(format string, args ...any) {
	if s.trace {
		s.t.Logf("%5d "+format, append([]any{s.step}, args...)...)
	}
}

func (s *sim) fail(format string, args ...any) {
	if s.failure == "" {
		s.failure = fmt.Sprintf("step %d: ", s.step) + fmt.Sprintf(format, args...)
	}
}

func (s *sim) peer(id int64) *simPeer { return s.peers[id-1] }

func (s *sim) cfg(id int64) Config {
	return Config{ID: id, Voters: s.voters, Observers: s.obs, InitLimitTicks: 10, SyncLimitTicks: 5,
		PingTicks: 2, CommitLogCount: 8, Applied: s.peer(id).appliedZxid()}
}

func (s *sim) reachable(a, b int64) bool {
	return s.peer(a).up && s.peer(b).up && s.group[a-1] == s.group[b-1]
}

// disconnect drops the connections of a peer that crashed or stepped down.
func (s *sim) disconnect(id int64) {
	for i := range s.peers {
		s.links[id-1][i] = nil
		s.links[i][id-1] = nil
		s.broken[id-1][i] = false
		s.broken[i][id-1] = false
	}
}

func (s *sim) run() {
	for s.step = 0; s.step < s.maxSteps && s.failure == ""; s.step++ {
		if s.faults && s.step > s.maxSteps*3/4 {
			s.heal()
		}
		s.event()
	}
	if s.failure == "" {
		s.finalChecks()
	}
}

// heal ends the fault phase: everybody up and connected, so the cluster
// must make progress again.
func (s *sim) heal() {
	s.faults = false
	for i, p := range s.peers {
		s.group[i] = 0
		if !p.up {
			s.restart(p)
		}
	}
	s.logf("heal")
}

func (s *sim) event() {
	r := s.rng.IntN(1000)
	f := 1
	if !s.faults {
		f = 0
	}
	switch {
	case r < 420:
		s.deliver()
	case r < 620:
		s.processReady()
	case r < 700:
		s.completeWrite()
	case r < 740:
		s.tick()
	case r < 800:
		s.propose()
	case r < 880:
		s.elect()
	case r < 880+6*f:
		s.crash()
	case r < 900:
		s.restartSome()
	case r < 900+8*f:
		s.partition()
	case r < 920:
		s.takeSnapshot()
	case r < 920+6*f:
		s.hop()
	default:
		s.deliver()
	}
}

func (s *sim) deliver() {
	type lk struct{ from, to int }
	var ls []lk
	for f := range s.links {
		for t := range s.links[f] {
			if len(s.links[f][t]) > 0 {
				ls = append(ls, lk{f, t})
			}
		}
	}
	if len(ls) == 0 {
		return
	}
	l := ls[s.rng.IntN(len(ls))]
	q := s.links[l.from][l.to]
	m := q[0]
	dup := s.faults && s.rng.IntN(200) == 0
	if !dup {
		s.links[l.from][l.to] = q[1:]
	}
	if s.broken[l.from][l.to] || !s.reachable(m.From, m.To) || (s.faults && s.rng.IntN(300) == 0) {
		// Like TCP: once a message is lost, so is the rest of the stream.
		s.broken[l.from][l.to] = true
		s.logf("drop %v", m)
		return
	}
	p := s.peer(m.To)
	if p.node == nil {
		return
	}
	if m.Type == MsgSnap {
		m.Snapshot = &SnapshotReq{Zxid: m.Snapshot.Zxid, Payload: m.Snapshot.Payload}
	}
	s.logf("deliver %v", m)
	if err := p.node.Step(m); err != nil {
		s.logf("  step error: %v", err)
	}
}

func (s *sim) tick() {
	for _, p := range s.peers {
		if p.node != nil {
			p.node.Tick()
		}
	}
}

func (s *sim) propose() {
	for _, p := range s.peers {
		if p.node == nil {
			continue
		}
		st := p.node.Status()
		if st.Role != Leader || st.Phase != Broadcast || st.Stopped {
			continue
		}
		s.cxid++
		hdr := proto.TxnHeader{ClientID: 1, Cxid: s.cxid, Type: int32(proto.OpSetData)}
		z, err := p.node.Propose(hdr, &proto.SetDataTxn{Path: "/k", Data: []byte(strconv.Itoa(int(s.cxid)))})
		s.logf("propose at %d: %#x %v", p.id, z, err)
	}
}

// elect stands in for FastLeaderElection: a looking peer joins a leader it
// can reach, or a connected quorum of looking voters elects the one with
// the newest (currentEpoch, lastZxid, id).
func (s *sim) elect() {
	var looking []*simPeer
	for _, p := range s.peers {
		if p.up && p.node == nil {
			looking = append(looking, p)
		}
	}
	if len(looking) == 0 {
		return
	}
	p := looking[s.rng.IntN(len(looking))]
	for _, q := range s.peers {
		if q.node != nil && s.reachable(p.id, q.id) {
			if st := q.node.Status(); st.Role == Leader && !st.Stopped {
				s.start(p, q.id)
				return
			}
		}
	}
	var cands []*simPeer
	for _, q := range looking {
		if s.reachable(p.id, q.id) && slices.Contains(s.voters, q.id) {
			cands = append(cands, q)
		}
	}
	if 2*len(cands) <= len(s.voters) {
		return
	}
	best := cands[0]
	for _, q := range cands[1:] {
		a, b := q.st, best.st
		if a.current > b.current || (a.current == b.current && (a.LastZxid() > b.LastZxid() ||
			(a.LastZxid() == b.LastZxid() && q.id > best.id))) {
			best = q
		}
	}
	s.elected++
	s.start(best, best.id)
	for _, q := range looking {
		if q != best && s.reachable(p.id, q.id) {
			s.start(q, best.id)
		}
	}
}

func (s *sim) start(p *simPeer, leader int64) {
	s.logf("peer %d starts under leader %d (epochs %d/%d, last %#x, applied %#x)",
		p.id, leader, p.st.accepted, p.st.current, p.st.LastZxid(), p.appliedZxid())
	s.disconnect(p.id)
	p.writer = false
	p.node = New(s.cfg(p.id), p.st, leader)
}

// endRole ends p's role without a crash: as the edge's closeWriter does,
// the log writer first writes what it holds (durable, but neither
// advanced nor acked: the core is discarded).
func (s *sim) endRole(p *simPeer) {
	for _, rd := range p.inflight {
		s.logAppend(p, rd.Append, -1)
	}
	p.node, p.writer, p.inflight = nil, false, nil
	s.disconnect(p.id)
}

// completeWrite has one peer's log writer make its oldest queued append
// durable, then advances that Ready and sends a learner's ACKs in it, as
// the edge's advanceWritten does.
func (s *sim) completeWrite() {
	var ps []*simPeer
	for _, p := range s.peers {
		if len(p.inflight) > 0 {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		s.processReady()
		return
	}
	s.writeOne(ps[s.rng.IntN(len(ps))])
}

// writeOne completes p's oldest queued append (see completeWrite); a crash
// may cut it short. It reports whether p is still up.
func (s *sim) writeOne(p *simPeer) bool {
	rd := p.inflight[0]
	crashAt := -1
	if s.faults && s.rng.IntN(60) == 0 {
		crashAt = len(rd.Append) / 2
	}
	if !s.logAppend(p, rd.Append, crashAt) {
		return false
	}
	p.inflight = p.inflight[1:]
	if p.node.Status().Role != Leader {
		for _, m := range rd.Messages {
			if m.Type == MsgAck {
				s.send(p, m)
			}
		}
	}
	p.node.Advance(rd)
	return true
}

// logAppend appends entries to p's durable log, crashing p before the
// one at index crashAt (-1: no crash). It reports whether p is still up.
func (s *sim) logAppend(p *simPeer, entries []Entry, crashAt int) bool {
	st := p.st
	for i, e := range entries {
		if i == crashAt {
			s.crashPeer(p)
			return false
		}
		if last := st.LastZxid(); e.Zxid() <= last {
			s.fail("peer %d appends %#x after %#x", p.id, e.Zxid(), last)
		}
		if n := len(st.log); n > 0 {
			// The core never makes a log skip txns; an unguarded
			// snapshot (takeSnapshot) can, with the snapshot inside the gap.
			prev := st.log[n-1].Zxid()
			covered := slices.ContainsFunc(st.snaps, func(z int64) bool { return z > prev && z < e.Zxid() })
			if !covered && !follows(prev, e.Zxid()) {
				s.fail("peer %d logs %#x after %#x: its log skips txns", p.id, e.Zxid(), prev)
			}
			if covered {
				s.gapsLogged++
			}
		}
		st.log = append(st.log, e)
	}
	return true
}

// appendAsync carries out a Ready the edge hands to its log writer
// (peer.role's writeAsync): commits are applied and messages sent now,
// but a learner's ACKs, which vouch for the append, wait for the write.
// A learner may so apply a committed txn it has not logged yet: a COMMIT
// means a quorum already has it durably.
func (s *sim) appendAsync(p *simPeer, rd Ready) {
	learner := p.node.Status().Role != Leader
	if len(p.inflight) > 0 {
		s.pipelined++
	}
	for _, e := range rd.Commit {
		s.apply(p, e)
	}
	for _, m := range rd.Messages {
		if !learner || m.Type != MsgAck {
			s.send(p, m)
		}
	}
	p.inflight = append(p.inflight, rd)
}

func (s *sim) crash() {
	p := s.peers[s.rng.IntN(len(s.peers))]
	if p.up {
		s.crashPeer(p)
	}
}

func (s *sim) crashPeer(p *simPeer) {
	s.logf("crash %d", p.id)
	p.up, p.node, p.tree = false, nil, nil
	p.writer, p.inflight = false, nil // what the writer held is lost
	s.disconnect(p.id)
}

// hop ends a learner's role as a lost connection to its leader does
// (ZooKeeper's learner goes back to LOOKING), so that it may follow
// another leader it can reach: one still in discovery, say, that picked
// the same epoch as the leader it left.
func (s *sim) hop() {
	p := s.peers[s.rng.IntN(len(s.peers))]
	if p.node == nil || p.node.Status().Role == Leader {
		return
	}
	s.logf("peer %d leaves leader %d", p.id, p.node.Status().Leader)
	s.endRole(p)
}

func (s *sim) restartSome() {
	p := s.peers[s.rng.IntN(len(s.peers))]
	if !p.up {
		s.restart(p)
	}
}

func (s *sim) restart(p *simPeer) {
	s.logf("restart %d", p.id)
	p.up = true
	p.tree = slices.Clone(p.st.snap)
}

func (s *sim) partition() {
	if s.rng.IntN(2) == 0 {
		clear(s.group)
		s.logf("partition healed")
		return
	}
	for i := range s.group {
		s.group[i] = s.rng.IntN(2)
	}
	s.logf("partition %v", s.group)
}

func (s *sim) takeSnapshot() {
	p := s.peers[s.rng.IntN(len(s.peers))]
	if !p.up || len(p.tree) == 0 || p.appliedZxid() <= p.st.snapZxid {
		return
	}
	// As the edge does (peer.role's snapshotIfDue), no snapshot while the
	// tree is ahead of the durable log (a learner applies COMMITs of txns
	// its log writer still holds; a leader commits on its followers' acks
	// before its own append is durable): a crash before the writer catches up
	// would leave the log with a gap under a snapshot past it, which a
	// later DIFF from that log would pass on.
	// ZooKeeper's followers have no such guard, and zkd reads their data
	// directories: sometimes the snapshot is taken anyway and the peer
	// crashes before its writer catches up, leaving its log with a gap
	// that the leader's syncs must not read across.
	crash := false
	if p.appliedZxid() > p.st.LastZxid() {
		if !s.faults {
			return
		}
		s.unguarded++
		crash = true
	}
	p.st.snap = slices.Clone(p.tree)
	p.st.snapZxid = p.appliedZxid()
	p.st.snaps = append(p.st.snaps, p.st.snapZxid)
	if s.rng.IntN(2) == 0 {
		i := 0
		for i < len(p.st.log) && p.st.log[i].Zxid() <= p.st.snapZxid {
			i++
		}
		p.st.log = slices.Clone(p.st.log[i:])
	}
	s.logf("snapshot at %d: %#x, log from %#x", p.id, p.st.snapZxid, p.st.FirstZxid())
	if crash {
		s.crashPeer(p)
	}
}

// send queues one message of p's Ready on its link.
func (s *sim) send(p *simPeer, m Message) {
	if m.From != p.id {
		s.fail("peer %d sends %v with wrong From", p.id, m)
	}
	if m.Type == MsgSnap {
		if p.appliedZxid() != m.Snapshot.Zxid {
			s.fail("leader %d sends SNAP at %#x but its tree is at %#x", p.id, m.Snapshot.Zxid, p.appliedZxid())
		}
		m.Snapshot = &SnapshotReq{Zxid: m.Snapshot.Zxid, Payload: slices.Clone(p.tree)}
	}
	s.links[m.From-1][m.To-1] = append(s.links[m.From-1][m.To-1], m)
}

// processReady carries out one peer's Ready; a crash may cut it short
// between (or inside) its durable steps.
func (s *sim) processReady() {
	var ps []*simPeer
	for _, p := range s.peers {
		if p.node != nil && p.node.HasReady() {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return
	}
	p := ps[s.rng.IntN(len(ps))]
	rd := p.node.Ready()
	s.gapSyncs += len(rd.LogGaps)
	// The edge's choices (peer.role's writeAsync and handleReady): an
	// established role pipelines a Ready that only appends; one with
	// other durable work waits until the writer holds nothing.
	if p.writer && rd.OnlyAppends() && !rd.Established {
		if s.faults && s.rng.IntN(60) == 0 {
			s.crashPeer(p)
			return
		}
		s.appendAsync(p, rd)
		return
	}
	if rd.HasDurableWork() {
		for len(p.inflight) > 0 {
			if !s.writeOne(p) {
				return
			}
		}
	}
	crashAt := -1
	// Crashes inside the sync step (the Ready that sets currentEpoch) are
	// where ZooKeeper lost data, so they are much more likely here.
	odds := 60
	if rd.SetCurrentEpoch != nil || rd.Snapshot != nil || rd.Truncate != nil {
		odds = 5
	}
	if s.faults && s.rng.IntN(odds) == 0 {
		crashAt = s.rng.IntN(6)
	}
	st := p.st
	if rd.Snapshot != nil {
		if crashAt == 0 {
			s.crashPeer(p)
			return
		}
		snap, _ := rd.Snapshot.Payload.([]Entry)
		s.checkPrefix(p, snap)
		for _, e := range st.log {
			if e.Zxid() > rd.Snapshot.Zxid && s.mustKeep(p, e) {
				s.fail("SNAP install at %d drops committed txn %#x", p.id, e.Zxid())
			}
		}
		st.snap, st.snapZxid, st.log = slices.Clone(snap), rd.Snapshot.Zxid, nil
		st.snaps = append(st.snaps, st.snapZxid)
		p.tree = slices.Clone(snap)
	}
	if rd.Truncate != nil {
		if crashAt == 1 {
			s.crashPeer(p)
			return
		}
		t := *rd.Truncate
		if t < p.appliedZxid() {
			s.fail("peer %d asked to truncate to %#x below applied %#x", p.id, t, p.appliedZxid())
		}
		i := 0
		for i < len(st.log) && st.log[i].Zxid() <= t {
			i++
		}
		for _, e := range st.log[i:] {
			if s.mustKeep(p, e) {
				s.fail("peer %d truncates committed txn %#x (TRUNC %#x)", p.id, e.Zxid(), t)
			}
		}
		st.log = st.log[:i]
	}
	// The edge may send a leader's proposals before logging them
	// (Ready.EarlyMessages); a crash below then leaves followers holding
	// txns the leader never logged.
	sentEarly := map[int]bool{}
	for _, i := range rd.EarlyMessages() {
		sentEarly[i] = true
		s.send(p, rd.Messages[i])
	}
	appendCrash := -1
	if crashAt == 2 {
		appendCrash = len(rd.Append) / 2
	}
	if !s.logAppend(p, rd.Append, appendCrash) {
		return
	}
	if crashAt == 3 {
		s.crashPeer(p)
		return
	}
	if rd.SetAcceptedEpoch != nil {
		st.accepted = *rd.SetAcceptedEpoch
	}
	if crashAt == 4 {
		s.crashPeer(p)
		return
	}
	if rd.SetCurrentEpoch != nil {
		st.current = *rd.SetCurrentEpoch
	}
	if crashAt == 5 {
		s.crashPeer(p)
		return
	}
	for _, e := range rd.Commit {
		s.apply(p, e)
	}
	if rd.Established {
		s.established(p)
		p.writer = true
	}
	for i, m := range rd.Messages {
		if !sentEarly[i] {
			s.send(p, m)
		}
	}
	if rd.StepDown != nil {
		s.logf("peer %d steps down: %v", p.id, rd.StepDown)
		if strings.Contains(rd.StepDown.Error(), ErrUnsafe.Error()) {
			s.fail("peer %d: %v", p.id, rd.StepDown)
		}
		s.endRole(p)
		return
	}
	p.node.Advance(rd)
}

// mustKeep reports whether peer p, syncing with the leader of its current
// epoch, must keep e: a txn committed in that epoch or an earlier one is
// in that leader's history (primary integrity). A leader of an older epoch
// that has not established can still be syncing a peer when a later
// epoch commits; it may cut such a txn from that peer, whose copy the
// later epoch's quorum does not need (and it can establish nothing new,
// as the established leader below explains).
func (s *sim) mustKeep(p *simPeer, e Entry) bool {
	return s.isCommitted(e) && s.committedIn[e.Zxid()] <= p.node.Status().Epoch
}

func (s *sim) isCommitted(e Entry) bool {
	i, ok := slices.BinarySearchFunc(s.global, e.Zxid(), func(x Entry, z int64) int { return cmpInt(x.Zxid(), z) })
	return ok && s.global[i].Hdr == e.Hdr
}

// apply checks total order, prefix agreement and that the txn is durable
// on a quorum of voters (it is committed), then applies it.
func (s *sim) apply(p *simPeer, e Entry) {
	if !p.st.holds(e) {
		if p.node.Status().Role == Leader {
			s.aheadLeader++
		} else {
			s.aheadLearner++
		}
	}
	if e.Zxid() <= p.appliedZxid() {
		s.fail("peer %d applies %#x after %#x", p.id, e.Zxid(), p.appliedZxid())
		return
	}
	if !s.isCommitted(e) {
		c := 0
		for _, v := range s.voters {
			if s.peer(v).st.holds(e) {
				c++
			}
		}
		if 2*c <= len(s.voters) {
			s.fail("peer %d applies %#x held durably by only %d of %d voters", p.id, e.Zxid(), c, len(s.voters))
		}
	}
	i := len(p.tree)
	switch {
	case i < len(s.global):
		if s.global[i].Hdr != e.Hdr {
			s.fail("peer %d applies %#x (cxid %d) at position %d, where others applied %#x (cxid %d)",
				p.id, e.Zxid(), e.Hdr.Cxid, i, s.global[i].Zxid(), s.global[i].Hdr.Cxid)
		}
	case i == len(s.global):
		s.global = append(s.global, e)
		s.committedIn[e.Zxid()] = p.node.Status().Epoch
		s.commits++
	}
	p.tree = append(p.tree, e)
}

func (s *sim) checkPrefix(p *simPeer, h []Entry) {
	for i, e := range h {
		if i >= len(s.global) || s.global[i].Hdr != e.Hdr {
			s.fail("peer %d installs a snapshot that is not a prefix of the committed sequence at %d", p.id, i)
			return
		}
	}
}

func (s *sim) established(p *simPeer) {
	st := p.node.Status()
	if st.Role != Leader {
		return
	}
	if other, ok := s.leaders[st.Epoch]; ok && other != p.id {
		s.fail("two leaders established in epoch %d: %d and %d", st.Epoch, other, p.id)
	}
	s.leaders[st.Epoch] = p.id
	// Primary integrity: the new leader holds every txn committed in an
	// earlier epoch. Not those committed in a later one: a leader whose
	// quorum acked NEWLEADER can complete its establishment after one of
	// those voters went on to help a later epoch commit (ZooKeeper keeps
	// such acks too); it can then commit nothing new, since every voter
	// of the later epoch refuses its older one.
	for _, e := range s.global {
		if s.committedIn[e.Zxid()] < st.Epoch && !p.st.holds(e) {
			s.fail("leader %d of epoch %d lacks committed txn %#x", p.id, st.Epoch, e.Zxid())
			return
		}
	}
	s.logf("leader %d established epoch %d", p.id, st.Epoch)
}

func (s *sim) finalChecks() {
	for _, p := range s.peers {
		s.checkPrefix(p, p.tree)
	}
}

func simSeedCount() int {
	if *simSeeds > 0 {
		return *simSeeds
	}
	if v, err := strconv.Atoi(os.Getenv("ZAB_SIM_SEEDS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() || raceEnabled {
		return 300
	}
	return 4000
}

func runSeed(t testing.TB, seed int64, trace bool) *sim {
	s := newSim(t, seed, trace)
	s.run()
	return s
}

// TestSimulation runs the seeded simulator and checks ZAB's properties
// after every step. Reproduce a failure with -run TestSimulation -seed=N.
func TestSimulation(t *testing.T) {
	if *simSeed >= 0 {
		s := runSeed(t, *simSeed, true)
		t.Logf("seed %d: %d commits, %d elections, epochs %v", *simSeed, s.commits, s.elected, s.leaders)
		if s.failure != "" {
			t.Fatalf("seed %d: %s", *simSeed, s.failure)
		}
		return
	}
	start := time.Now()
	n := simSeedCount()
	var commits, noProgress, pipelined, aheadLearner, aheadLeader, unguarded, gapsLogged, gapSyncs int
	for seed := int64(0); seed < int64(n); seed++ {
		s := runSeed(t, seed, false)
		if s.failure != "" {
			t.Fatalf("seed %d: %s\nreproduce: go test ./server/quorum/zab -run TestSimulation -seed=%d", seed, s.failure, seed)
		}
		commits += s.commits
		if s.commits == 0 {
			noProgress++
		}
		pipelined += s.pipelined
		aheadLearner += s.aheadLearner
		aheadLeader += s.aheadLeader
		unguarded += s.unguarded
		gapsLogged += s.gapsLogged
		gapSyncs += s.gapSyncs
	}
	t.Logf("%d seeds in %v: %d commits, %d seeds without any commit; %d pipelined log writes; txns applied before logged: %d by learners, %d by leaders; "+
		"%d snapshots ahead of the log, %d appends after a gap, %d syncs switched to SNAP over one",
		n, time.Since(start), commits, noProgress, pipelined, aheadLearner, aheadLeader, unguarded, gapsLogged, gapSyncs)
	if commits == 0 {
		t.Fatalf("no seed committed anything: the simulator is not exercising broadcast")
	}
	if pipelined == 0 || aheadLearner == 0 || aheadLeader == 0 {
		t.Fatalf("no pipelined log write or early apply: the simulator is not exercising the edge's log writer")
	}
	if gapsLogged == 0 || gapSyncs == 0 {
		t.Fatalf("no log with a gap, or no sync over one: the simulator is not exercising gapped logs")
	}
}
