package zab

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

func ent(epoch, counter int64) Entry {
	return Entry{Hdr: proto.TxnHeader{Zxid: makeZxid(epoch, counter), Cxid: int32(epoch*100 + counter)},
		Txn: &proto.SetDataTxn{Path: "/x"}}
}

func zxids(es []Entry) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.Zxid())
	}
	return out
}

func TestPlanSync(t *testing.T) {
	hist := []Entry{ent(1, 1), ent(1, 2), ent(1, 3), ent(2, 1), ent(2, 2)}
	z := makeZxid
	tests := []struct {
		name     string
		peerLast int64
		base     int64
		hist     []Entry
		kind     SyncKind
		zxid     int64
		send     []int64
	}{
		{"in sync", z(2, 2), 0, hist, SyncDiff, z(2, 2), nil},
		{"empty both", 0, 0, nil, SyncDiff, 0, nil},
		{"behind within window", z(1, 2), 0, hist, SyncDiff, z(2, 2), []int64{z(1, 3), z(2, 1), z(2, 2)}},
		{"at base", 0, 0, hist, SyncDiff, z(2, 2), zxids(hist)},
		{"ahead of leader", z(2, 5), 0, hist, SyncTrunc, z(2, 2), nil},
		{"ahead across epochs", z(3, 1), 0, hist, SyncTrunc, z(2, 2), nil},
		{"divergent same epoch", makeZxid(1, 3) + 0, 0, []Entry{ent(1, 1), ent(1, 2), ent(2, 1)}, SyncTrunc, z(1, 2), []int64{z(2, 1)}},
		{"divergent across epochs", z(1, 4), 0, hist[:2:2], SyncTrunc, z(1, 2), nil},
		{"divergent across epoch boundary", z(1, 5), 0, []Entry{ent(1, 1), ent(2, 1)}, SyncTrunc, z(1, 1), []int64{z(2, 1)}},
		{"below window", z(1, 1), z(1, 2), hist[2:], SyncSnap, 0, nil},
		{"unknown base, not found", z(1, 1), noBase, hist[2:], SyncSnap, 0, nil},
		{"unknown base, found", z(1, 3), noBase, hist[2:], SyncDiff, z(2, 2), []int64{z(2, 1), z(2, 2)}},
		{"unknown base, divergent first", z(1, 9), noBase, hist[2:], SyncTrunc, z(1, 3), []int64{z(2, 1), z(2, 2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := planSync(tc.peerLast, tc.base, tc.hist)
			if p.Kind != tc.kind {
				t.Fatalf("kind = %v, want %v", p.Kind, tc.kind)
			}
			if tc.kind != SyncSnap && p.Zxid != tc.zxid {
				t.Errorf("zxid = %#x, want %#x", p.Zxid, tc.zxid)
			}
			if got := zxids(p.Send); !equalInt64(got, tc.send) {
				t.Errorf("send = %x, want %x", got, tc.send)
			}
		})
	}
}

func equalInt64(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testCfg(id int64) Config {
	return Config{ID: id, Voters: []int64{1, 2, 3}, InitLimitTicks: 10, SyncLimitTicks: 5, PingTicks: 2}
}

func storeWith(accepted, current int64, log ...Entry) *memStorage {
	return &memStorage{accepted: accepted, current: current, log: log}
}

func types(ms []Message) []MsgType {
	var out []MsgType
	for _, m := range ms {
		out = append(out, m.Type)
	}
	return out
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no ticks", func(c *Config) { c.SyncLimitTicks = 0 }, "must be positive"},
		{"no voters", func(c *Config) { c.Voters = nil }, "no voters"},
		{"duplicate", func(c *Config) { c.Observers = []int64{3} }, "listed twice"},
		{"not a member", func(c *Config) { c.ID = 9 }, "not among voters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testCfg(1)
			tc.mod(&cfg)
			n := New(cfg, storeWith(0, 0), 1)
			rd := n.Ready()
			if rd.StepDown == nil || !strings.Contains(rd.StepDown.Error(), tc.want) {
				t.Fatalf("StepDown = %v, want it to mention %q", rd.StepDown, tc.want)
			}
			if err := n.Step(Message{Type: MsgPing, To: 1, From: 2}); err != ErrStopped {
				t.Errorf("Step on a stopped peer = %v, want ErrStopped", err)
			}
		})
	}
}

func TestLearnerEpochHandling(t *testing.T) {
	tests := []struct {
		name         string
		accepted     int64
		leaderEpoch  int64
		wantAccepted *int64
		wantAck      int64 // ACKEPOCH's epoch
		wantStep     string
	}{
		{"newer epoch is accepted", 2, 3, ptr(int64(3)), 1, ""},
		{"same epoch is re-acked as already accepted", 3, 3, nil, EpochAlreadyAccepted, ""},
		{"older epoch is refused", 4, 3, nil, 0, "less than our accepted epoch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := New(testCfg(2), storeWith(tc.accepted, 1, ent(1, 1)), 1)
			rd := n.Ready()
			if got := types(rd.Messages); len(got) != 1 || got[0] != MsgFollowerInfo || rd.Messages[0].Zxid != makeZxid(tc.accepted, 0) {
				t.Fatalf("first Ready = %v, want FOLLOWERINFO with acceptedEpoch", rd.Messages)
			}
			n.Advance(rd)
			if err := n.Step(Message{Type: MsgLeaderInfo, From: 1, To: 2, Zxid: makeZxid(tc.leaderEpoch, 0)}); err != nil {
				t.Fatal(err)
			}
			rd = n.Ready()
			if tc.wantStep != "" {
				if rd.StepDown == nil || !strings.Contains(rd.StepDown.Error(), tc.wantStep) {
					t.Fatalf("StepDown = %v, want %q", rd.StepDown, tc.wantStep)
				}
				return
			}
			if (rd.SetAcceptedEpoch == nil) != (tc.wantAccepted == nil) || (tc.wantAccepted != nil && *rd.SetAcceptedEpoch != *tc.wantAccepted) {
				t.Errorf("SetAcceptedEpoch = %v, want %v", rd.SetAcceptedEpoch, tc.wantAccepted)
			}
			if len(rd.Messages) != 1 || rd.Messages[0].Type != MsgAckEpoch || rd.Messages[0].Zxid != makeZxid(1, 1) || rd.Messages[0].Epoch != tc.wantAck {
				t.Errorf("messages = %v, want ACKEPOCH(last=%#x, epoch %d)", rd.Messages, makeZxid(1, 1), tc.wantAck)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestLearnerSyncOrder checks the NEWLEADER Ready (ZOOKEEPER-3911, 4643,
// 4646, 4685): truncate and log first, then currentEpoch, then the ACK;
// nothing is applied until UPTODATE; and a proposal ack follows the
// NEWLEADER ack.
func TestLearnerSyncOrder(t *testing.T) {
	st := storeWith(1, 1, ent(1, 1), ent(1, 2), ent(1, 3))
	n := New(testCfg(2), st, 1)
	n.Advance(n.Ready())
	steps := []Message{
		{Type: MsgLeaderInfo, Zxid: makeZxid(2, 0)},
		{Type: MsgTrunc, Zxid: makeZxid(1, 2)},
		{Type: MsgProposal, Zxid: makeZxid(2, 1), Entry: ptr(ent(2, 1))},
		{Type: MsgCommit, Zxid: makeZxid(2, 1)},
		{Type: MsgProposal, Zxid: makeZxid(2, 2), Entry: ptr(ent(2, 2))}, // outstanding
	}
	for _, m := range steps {
		m.From, m.To = 1, 2
		if err := n.Step(m); err != nil {
			t.Fatalf("%v: %v", m, err)
		}
	}
	rd := n.Ready()
	if rd.Truncate != nil || len(rd.Append) != 0 || rd.SetCurrentEpoch != nil {
		t.Fatalf("learner touched the disk before NEWLEADER: %+v", rd)
	}
	n.Advance(rd)
	if err := n.Step(Message{Type: MsgNewLeader, From: 1, To: 2, Zxid: makeZxid(2, 0)}); err != nil {
		t.Fatal(err)
	}
	rd = n.Ready()
	if rd.Truncate == nil || *rd.Truncate != makeZxid(1, 2) {
		t.Errorf("Truncate = %v, want %#x", rd.Truncate, makeZxid(1, 2))
	}
	if got := zxids(rd.Append); !equalInt64(got, []int64{makeZxid(2, 1), makeZxid(2, 2)}) {
		t.Errorf("Append = %x", got)
	}
	if rd.SetCurrentEpoch == nil || *rd.SetCurrentEpoch != 2 {
		t.Errorf("SetCurrentEpoch = %v, want 2", rd.SetCurrentEpoch)
	}
	if len(rd.Commit) != 0 {
		t.Errorf("applied %x before UPTODATE", zxids(rd.Commit))
	}
	if len(rd.Messages) != 2 || rd.Messages[0].Zxid != makeZxid(2, 0) || rd.Messages[1].Zxid != makeZxid(2, 2) {
		t.Errorf("messages = %v, want ACK(NEWLEADER) then ACK(0x200000002)", rd.Messages)
	}
	n.Advance(rd)
	if err := n.Step(Message{Type: MsgUpToDate, From: 1, To: 2, Zxid: -1}); err != nil {
		t.Fatal(err)
	}
	rd = n.Ready()
	if got := zxids(rd.Commit); !equalInt64(got, []int64{makeZxid(1, 1), makeZxid(1, 2), makeZxid(2, 1)}) {
		t.Errorf("Commit at UPTODATE = %x, want the committed history without the outstanding proposal", got)
	}
	if !rd.Established || n.Status().Phase != Broadcast {
		t.Errorf("not in broadcast after UPTODATE")
	}
	// A gap in broadcast makes the learner drop out instead of logging it.
	if err := n.Step(Message{Type: MsgProposal, From: 1, To: 2, Zxid: makeZxid(2, 4), Entry: ptr(ent(2, 4))}); err != nil {
		t.Fatal(err)
	}
	if rd := n.Ready(); rd.StepDown == nil || len(rd.Append) != 0 {
		t.Errorf("gap accepted: %+v", rd)
	}
}

// TestLearnerRefusesGappedSync: the txns of a leader's sync must directly
// follow the learner's log, the TRUNC point or the SNAP; a sync that skips
// txns (a leader reading its log across a gap) is refused as unsafe
// rather than logged, for each kind of sync and for an observer's INFORM.
func TestLearnerRefusesGappedSync(t *testing.T) {
	z := makeZxid
	snap := &SnapshotReq{Zxid: z(1, 5)}
	tests := []struct {
		name string
		cfg  Config
		sync Message
		next Message
		ok   bool
	}{
		{"diff, next txn", testCfg(2), Message{Type: MsgDiff, Zxid: z(1, 4)}, Message{Type: MsgProposal, Zxid: z(1, 4), Entry: ptr(ent(1, 4))}, true},
		{"diff, next epoch", testCfg(2), Message{Type: MsgDiff, Zxid: z(2, 1)}, Message{Type: MsgProposal, Zxid: z(2, 1), Entry: ptr(ent(2, 1))}, true},
		{"diff skipping 1:4", testCfg(2), Message{Type: MsgDiff, Zxid: z(1, 5)}, Message{Type: MsgProposal, Zxid: z(1, 5), Entry: ptr(ent(1, 5))}, false},
		{"diff into an epoch's middle", testCfg(2), Message{Type: MsgDiff, Zxid: z(2, 2)}, Message{Type: MsgProposal, Zxid: z(2, 2), Entry: ptr(ent(2, 2))}, false},
		{"trunc, then a gap", testCfg(2), Message{Type: MsgTrunc, Zxid: z(1, 2)}, Message{Type: MsgProposal, Zxid: z(1, 4), Entry: ptr(ent(1, 4))}, false},
		{"snap, next txn", testCfg(2), Message{Type: MsgSnap, Zxid: z(1, 5), Snapshot: snap}, Message{Type: MsgProposal, Zxid: z(1, 6), Entry: ptr(ent(1, 6))}, true},
		{"snap, then a gap", testCfg(2), Message{Type: MsgSnap, Zxid: z(1, 5), Snapshot: snap}, Message{Type: MsgProposal, Zxid: z(1, 7), Entry: ptr(ent(1, 7))}, false},
		{"observer, inform with a gap",
			Config{ID: 4, Voters: []int64{1, 2, 3}, Observers: []int64{4}, InitLimitTicks: 10, SyncLimitTicks: 5, PingTicks: 1},
			Message{Type: MsgDiff, Zxid: z(1, 5)}, Message{Type: MsgInform, Zxid: z(1, 5), Entry: ptr(ent(1, 5))}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := New(tc.cfg, storeWith(1, 1, ent(1, 1), ent(1, 2), ent(1, 3)), 1)
			n.Advance(n.Ready())
			for _, m := range []Message{{Type: MsgLeaderInfo, Zxid: z(2, 0)}, tc.sync, tc.next} {
				m.From, m.To = 1, tc.cfg.ID
				if err := n.Step(m); err != nil {
					t.Fatalf("%v: %v", m, err)
				}
				if m.Type == MsgLeaderInfo {
					n.Advance(n.Ready())
				}
			}
			rd := n.Ready()
			if tc.ok && rd.StepDown != nil {
				t.Errorf("refused a sync without a gap: %v", rd.StepDown)
			}
			if !tc.ok && (rd.StepDown == nil || !errors.Is(rd.StepDown, ErrUnsafe)) {
				t.Errorf("StepDown = %v, want an unsafe sync refused", rd.StepDown)
			}
		})
	}
}

// TestLearnerKeepsResentProposals: a follower that rejoins within its
// epoch, having logged proposals that are still outstanding, gets a TRUNC
// to the leader's last committed txn and those proposals again. It must
// keep what it logged rather than cut it and log it again: one of them
// may have been committed with its own ack, and between the cut and the
// new write its disk would not hold it.
func TestLearnerKeepsResentProposals(t *testing.T) {
	cfg := testCfg(2)
	cfg.Applied = makeZxid(2, 1)
	n := New(cfg, storeWith(2, 2, ent(1, 1), ent(2, 1), ent(2, 2), ent(2, 3)), 1)
	n.Advance(n.Ready())
	for _, m := range []Message{
		{Type: MsgLeaderInfo, Zxid: makeZxid(2, 0)},
		{Type: MsgTrunc, Zxid: makeZxid(2, 1)},
		{Type: MsgProposal, Zxid: makeZxid(2, 2), Entry: ptr(ent(2, 2))},
		{Type: MsgProposal, Zxid: makeZxid(2, 3), Entry: ptr(ent(2, 3))},
		{Type: MsgProposal, Zxid: makeZxid(2, 4), Entry: ptr(ent(2, 4))},
		{Type: MsgNewLeader, Zxid: makeZxid(2, 0)},
	} {
		m.From, m.To = 1, 2
		if err := n.Step(m); err != nil {
			t.Fatalf("%v: %v", m, err)
		}
	}
	rd := n.Ready()
	if rd.Truncate != nil {
		t.Errorf("Truncate = %#x, want none: the resent proposals are the logged ones", *rd.Truncate)
	}
	if got := zxids(rd.Append); !equalInt64(got, []int64{makeZxid(2, 4)}) {
		t.Errorf("Append = %x, want only the proposal it did not have", got)
	}
	if got := types(rd.Messages); !equalTypes(got, []MsgType{MsgAckEpoch, MsgAck, MsgAck}) || rd.Messages[2].Zxid != makeZxid(2, 4) {
		t.Errorf("messages = %v, want ACKEPOCH, ACK(NEWLEADER), ACK(0x200000004)", rd.Messages)
	}
}

// leaderHarness drives a 3-voter leader through the phases.
func TestLeaderPhases(t *testing.T) {
	st := storeWith(1, 1, ent(1, 1), ent(1, 2))
	n := New(testCfg(1), st, 1)
	step := func(m Message) {
		t.Helper()
		m.To = 1
		if err := n.Step(m); err != nil {
			t.Fatalf("%v: %v", m, err)
		}
	}
	if rd := n.Ready(); !rd.Empty() {
		t.Fatalf("leader acted before any FOLLOWERINFO: %+v", rd)
	}
	step(Message{Type: MsgFollowerInfo, From: 2, Zxid: makeZxid(3, 0)})
	rd := n.Ready()
	if rd.SetAcceptedEpoch == nil || *rd.SetAcceptedEpoch != 4 {
		t.Fatalf("newEpoch = %v, want max(1, 3)+1 = 4", rd.SetAcceptedEpoch)
	}
	if got := types(rd.Messages); len(got) != 1 || got[0] != MsgLeaderInfo || rd.Messages[0].Zxid != makeZxid(4, 0) {
		t.Fatalf("messages = %v, want LEADERINFO(4)", rd.Messages)
	}
	n.Advance(rd)
	step(Message{Type: MsgAckEpoch, From: 2, Zxid: makeZxid(1, 1), Epoch: 1})
	rd = n.Ready()
	if rd.SetCurrentEpoch == nil || *rd.SetCurrentEpoch != 4 {
		t.Fatalf("SetCurrentEpoch = %v, want 4", rd.SetCurrentEpoch)
	}
	if got := types(rd.Messages); !equalTypes(got, []MsgType{MsgDiff, MsgProposal, MsgCommit, MsgNewLeader}) {
		t.Fatalf("sync = %v", got)
	}
	if len(rd.Commit) != 0 {
		t.Fatalf("leader applied its initial history before establishment")
	}
	n.Advance(rd)
	step(Message{Type: MsgAck, From: 2, Zxid: makeZxid(4, 1)}) // early proposal ack: ignored (ZOOKEEPER-4685)
	step(Message{Type: MsgAck, From: 2, Zxid: makeZxid(4, 0)})
	rd = n.Ready()
	if !rd.Established || rd.StepDown != nil {
		t.Fatalf("not established after a quorum of NEWLEADER acks: %+v", rd)
	}
	if got := zxids(rd.Commit); !equalInt64(got, []int64{makeZxid(1, 1), makeZxid(1, 2)}) {
		t.Errorf("Commit at establishment = %x", got)
	}
	if got := types(rd.Messages); !equalTypes(got, []MsgType{MsgUpToDate}) {
		t.Errorf("messages = %v, want UPTODATE", got)
	}
	n.Advance(rd)

	z, err := n.Propose(proto.TxnHeader{Cxid: 7}, &proto.SetDataTxn{Path: "/a"})
	if err != nil || z != makeZxid(4, 1) {
		t.Fatalf("Propose = %#x, %v", z, err)
	}
	step(Message{Type: MsgAck, From: 2, Zxid: z})
	rd = n.Ready()
	if len(rd.Commit) != 0 {
		t.Fatalf("committed before the leader's own log write was durable")
	}
	n.Advance(rd)
	rd = n.Ready()
	if got := zxids(rd.Commit); !equalInt64(got, []int64{z}) {
		t.Fatalf("Commit after own write = %x", got)
	}
	if got := types(rd.Messages); !equalTypes(got, []MsgType{MsgCommit}) {
		t.Errorf("messages = %v, want COMMIT", got)
	}
	n.Advance(rd)

	// Follower 2 reconnects, as after a restart: it was synced in this
	// epoch, so its currentEpoch (4) and last zxid are newer than the
	// leader's were at New. That is not "ahead": once discovery is over the
	// check does not apply (ZooKeeper's waitForEpochAck returns at once
	// when electionFinished). The leader syncs it again.
	rejoin := func(last int64) Ready {
		t.Helper()
		step(Message{Type: MsgFollowerInfo, From: 2, Zxid: makeZxid(4, 0)})
		rd := n.Ready()
		if got := types(rd.Messages); !equalTypes(got, []MsgType{MsgLeaderInfo}) {
			t.Fatalf("messages after a reconnect = %v, want LEADERINFO", got)
		}
		n.Advance(rd)
		step(Message{Type: MsgAckEpoch, From: 2, Zxid: last, Epoch: 4})
		rd = n.Ready()
		if rd.StepDown != nil {
			t.Fatalf("leader stepped down when a follower of its epoch reconnected: %v", rd.StepDown)
		}
		return rd
	}
	rd = rejoin(z)
	if got := types(rd.Messages); !equalTypes(got, []MsgType{MsgDiff, MsgNewLeader}) {
		t.Fatalf("resync = %v, want an empty DIFF and NEWLEADER", got)
	}
	n.Advance(rd)
	step(Message{Type: MsgAck, From: 2, Zxid: makeZxid(4, 0)})
	rd = n.Ready()
	if got := types(rd.Messages); !equalTypes(got, []MsgType{MsgUpToDate}) {
		t.Fatalf("messages = %v, want UPTODATE", got)
	}
	n.Advance(rd)

	// It reconnects again having logged a proposal that is not committed
	// yet. As ZooKeeper's LearnerHandler does (its learners expect it), the
	// leader plans from its committed history: TRUNC to the last committed
	// txn, then every outstanding proposal. The learner keeps the ones it
	// has (TestLearnerKeepsResentProposals).
	z2, err := n.Propose(proto.TxnHeader{Cxid: 8}, &proto.SetDataTxn{Path: "/a"})
	if err != nil {
		t.Fatal(err)
	}
	z3, err := n.Propose(proto.TxnHeader{Cxid: 9}, &proto.SetDataTxn{Path: "/a"})
	if err != nil {
		t.Fatal(err)
	}
	n.Advance(n.Ready())
	rd = rejoin(z2)
	if got := types(rd.Messages); !equalTypes(got, []MsgType{MsgTrunc, MsgProposal, MsgProposal, MsgNewLeader}) ||
		rd.Messages[0].Zxid != z || rd.Messages[1].Zxid != z2 || rd.Messages[2].Zxid != z3 {
		t.Fatalf("resync with outstanding proposals = %v, want TRUNC %#x, PROPOSAL %#x and %#x, NEWLEADER", rd.Messages, z, z2, z3)
	}
	n.Advance(rd)
	step(Message{Type: MsgAck, From: 2, Zxid: makeZxid(4, 0)})
	step(Message{Type: MsgAck, From: 2, Zxid: z3})
	rd = n.Ready()
	if got := zxids(rd.Commit); !equalInt64(got, []int64{z2, z3}) {
		t.Fatalf("Commit after the resynced follower's ack = %x, want %x %x", got, z2, z3)
	}
	n.Advance(rd)

	// Follower 2 goes silent: the leader keeps pinging, then drops it and
	// steps down for lack of a quorum.
	var stepDown error
	for i := 0; i < 20 && stepDown == nil; i++ {
		n.Tick()
		rd := n.Ready()
		stepDown = rd.StepDown
		n.Advance(rd)
	}
	if stepDown == nil || !strings.Contains(stepDown.Error(), "lost its quorum") {
		t.Fatalf("StepDown = %v, want lost quorum", stepDown)
	}
}

// TestLeaderSkipsAlreadyAcceptedEpochAcks: an ACKEPOCH from a learner
// that had accepted the epoch before does not complete discovery (it
// could have helped another leader to the same epoch), is not checked for
// being ahead, and its learner is synced once others complete the quorum.
func TestLeaderSkipsAlreadyAcceptedEpochAcks(t *testing.T) {
	cfg := testCfg(1)
	cfg.Voters = []int64{1, 2, 3, 4, 5}
	n := New(cfg, storeWith(2, 2, ent(2, 1)), 1)
	step := func(m Message) {
		t.Helper()
		m.To = 1
		if err := n.Step(m); err != nil {
			t.Fatalf("%v: %v", m, err)
		}
	}
	step(Message{Type: MsgFollowerInfo, From: 2, Zxid: makeZxid(2, 0)})
	step(Message{Type: MsgFollowerInfo, From: 3, Zxid: makeZxid(2, 0)})
	n.Advance(n.Ready()) // epoch 3 chosen, LEADERINFO sent to 2 and 3
	// 2 had accepted epoch 3 elsewhere; its log (which would be "ahead")
	// is not held against the leader.
	step(Message{Type: MsgAckEpoch, From: 2, Zxid: makeZxid(2, 9), Epoch: EpochAlreadyAccepted})
	rd := n.Ready()
	if rd.StepDown != nil || rd.SetCurrentEpoch != nil || len(rd.Messages) != 0 {
		t.Fatalf("after an already-accepted ack only (leader + 0 of 4 counted): %+v", rd)
	}
	n.Advance(rd)
	step(Message{Type: MsgFollowerInfo, From: 4, Zxid: makeZxid(2, 0)})
	n.Advance(n.Ready())
	step(Message{Type: MsgAckEpoch, From: 3, Zxid: makeZxid(2, 1), Epoch: 2})
	rd = n.Ready()
	if rd.SetCurrentEpoch != nil {
		t.Fatalf("discovery ended with leader, 3 and an already-accepted ack (2 of 5 counted)")
	}
	n.Advance(rd)
	step(Message{Type: MsgAckEpoch, From: 4, Zxid: makeZxid(2, 1), Epoch: 2})
	rd = n.Ready()
	if rd.SetCurrentEpoch == nil || *rd.SetCurrentEpoch != 3 {
		t.Fatalf("SetCurrentEpoch = %v, want 3 once leader, 3 and 4 acked", rd.SetCurrentEpoch)
	}
	synced := map[int64]MsgType{}
	for _, m := range rd.Messages {
		if _, ok := synced[m.To]; !ok {
			synced[m.To] = m.Type
		}
	}
	// 2's log runs past the leader's: it is truncated; 3 and 4 get a DIFF.
	if want := map[int64]MsgType{2: MsgTrunc, 3: MsgDiff, 4: MsgDiff}; fmt.Sprint(synced) != fmt.Sprint(want) {
		t.Errorf("first sync message per learner %v, want %v", synced, want)
	}
}

// TestLeaderSnapsOverLogGap: a leader that syncs a learner from its txn
// log sends a SNAP where the log skips txns that a DIFF would read or a
// TRUNC would cut at, and reports the gap. The leader's tree (Applied) is
// at the end of its log, so every learner below it is synced from the log.
func TestLeaderSnapsOverLogGap(t *testing.T) {
	z := makeZxid
	gapped := []Entry{ent(1, 1), ent(1, 2), ent(1, 3), ent(1, 7), ent(1, 8)} // 1:4..1:6 under a snapshot at 1:6
	tests := []struct {
		name     string
		log      []Entry
		snaps    []int64
		peerLast int64
		kind     MsgType
		gap      []LogGap
	}{
		{"behind the gap", gapped, nil, z(1, 2), MsgSnap, []LogGap{{Learner: 2, After: z(1, 3), Next: z(1, 7)}}},
		// It holds 1:4 and 1:5, committed: a TRUNC to 1:3 would cut them.
		{"inside the gap", gapped, nil, z(1, 5), MsgSnap, []LogGap{{Learner: 2, After: z(1, 3), Next: z(1, 7)}}},
		{"past the gap", gapped, nil, z(1, 7), MsgDiff, nil},
		{"new epoch not from counter 1", []Entry{ent(1, 1), ent(1, 2), ent(2, 4), ent(2, 5)}, nil, z(1, 1), MsgSnap,
			[]LogGap{{Learner: 2, After: z(1, 2), Next: z(2, 4)}}},
		{"no gap across epochs", []Entry{ent(1, 1), ent(1, 2), ent(2, 1), ent(2, 2)}, []int64{0, z(1, 2)}, z(1, 1), MsgDiff, nil},
		// The counters cannot tell that epoch 1 went on past 1:2; the
		// snapshot at 1:5, taken ahead of the log before a crash, can.
		{"end of an epoch under a snapshot", []Entry{ent(1, 1), ent(1, 2), ent(2, 1), ent(2, 2)}, []int64{0, z(1, 5)}, z(1, 1), MsgSnap,
			[]LogGap{{Learner: 2, After: z(1, 2), Next: z(2, 1)}}},
		{"divergent, no gap", []Entry{ent(1, 1), ent(1, 2), ent(2, 1), ent(2, 2)}, nil, z(1, 5), MsgTrunc, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := storeWith(2, 2, tc.log...)
			cfg := testCfg(1)
			cfg.Applied = tc.log[len(tc.log)-1].Zxid()
			st.snapZxid, st.snaps = cfg.Applied, tc.snaps
			n := New(cfg, st, 1)
			if err := n.Step(Message{Type: MsgFollowerInfo, From: 2, To: 1, Zxid: z(2, 0)}); err != nil {
				t.Fatal(err)
			}
			n.Advance(n.Ready())
			if err := n.Step(Message{Type: MsgAckEpoch, From: 2, To: 1, Zxid: tc.peerLast, Epoch: 2}); err != nil {
				t.Fatal(err)
			}
			rd := n.Ready()
			if rd.StepDown != nil || len(rd.Messages) == 0 {
				t.Fatalf("no sync: %+v", rd)
			}
			if got := rd.Messages[0].Type; got != tc.kind {
				t.Errorf("sync = %v, want %v", got, tc.kind)
			}
			if fmt.Sprint(rd.LogGaps) != fmt.Sprint(tc.gap) {
				t.Errorf("LogGaps = %x, want %x", rd.LogGaps, tc.gap)
			}
		})
	}
}

func TestLeaderAbortsWhenFollowerAhead(t *testing.T) {
	n := New(testCfg(1), storeWith(2, 2, ent(2, 1)), 1)
	n.Step(Message{Type: MsgFollowerInfo, From: 2, To: 1, Zxid: makeZxid(2, 0)})
	n.Advance(n.Ready())
	n.Step(Message{Type: MsgAckEpoch, From: 2, To: 1, Zxid: makeZxid(2, 5), Epoch: 2})
	rd := n.Ready()
	if rd.StepDown == nil || !strings.Contains(rd.StepDown.Error(), "ahead of the leader") {
		t.Fatalf("StepDown = %v, want follower ahead", rd.StepDown)
	}
}

func TestStepRejectsMalformed(t *testing.T) {
	n := New(testCfg(1), storeWith(0, 0), 1)
	tests := []Message{
		{Type: MsgProposal, From: 2, To: 1},
		{Type: MsgType(99), From: 2, To: 1},
		{Type: MsgPing, From: 2, To: 3},
		{Type: MsgPing, From: 9, To: 1},
		{Type: MsgObserverInfo, From: 2, To: 1},
	}
	for _, m := range tests {
		if err := n.Step(m); err == nil {
			t.Errorf("Step(%v) accepted", m)
		}
	}
}

func equalTypes(a, b []MsgType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestObserverSyncWithHistory: a DIFF to an observer carries the committed
// history as PROPOSAL+COMMIT, as ZooKeeper's leader sends it to every
// learner; the observer logs it at NEWLEADER and applies it at UPTODATE.
// After that, a PROPOSAL (meant for followers) is a protocol error.
func TestObserverSyncWithHistory(t *testing.T) {
	cfg := Config{ID: 4, Voters: []int64{1, 2, 3}, Observers: []int64{4}, InitLimitTicks: 10, SyncLimitTicks: 5, PingTicks: 1}
	n := New(cfg, storeWith(1, 1, ent(1, 1)), 1)
	n.Advance(n.Ready())
	steps := []Message{
		{Type: MsgLeaderInfo, Zxid: makeZxid(2, 0)},
		{Type: MsgDiff, Zxid: makeZxid(1, 3)},
		{Type: MsgProposal, Zxid: makeZxid(1, 2), Entry: ptr(ent(1, 2))},
		{Type: MsgCommit, Zxid: makeZxid(1, 2)},
		{Type: MsgProposal, Zxid: makeZxid(1, 3), Entry: ptr(ent(1, 3))},
		{Type: MsgCommit, Zxid: makeZxid(1, 3)},
		{Type: MsgNewLeader, Zxid: makeZxid(2, 0)},
	}
	for _, m := range steps {
		m.From, m.To = 1, 4
		if err := n.Step(m); err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if rd := n.Ready(); rd.StepDown != nil {
			t.Fatalf("observer stepped down at %v: %v", m, rd.StepDown)
		} else {
			n.Advance(rd)
		}
	}
	if err := n.Step(Message{Type: MsgUpToDate, From: 1, To: 4, Zxid: -1}); err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	if got := zxids(rd.Commit); !equalInt64(got, []int64{makeZxid(1, 1), makeZxid(1, 2), makeZxid(1, 3)}) {
		t.Errorf("Commit at UPTODATE = %x", got)
	}
	n.Advance(rd)
	if err := n.Step(Message{Type: MsgProposal, From: 1, To: 4, Zxid: makeZxid(2, 1), Entry: ptr(ent(2, 1))}); err != nil {
		t.Fatal(err)
	}
	if rd := n.Ready(); rd.StepDown == nil {
		t.Errorf("observer accepted a PROPOSAL in broadcast")
	}
}

// TestOneDiscoveryPerLearnerAndEpoch replays, message by message, how two
// leaders of five voters could both complete discovery of the same epoch
// if a learner's second ack of an epoch counted: C (3) sends FOLLOWERINFO
// to A (1), which picks epoch 2 with B (2) and C, but C's connection drops
// before the LEADERINFO; C follows D (4), which also picks epoch 2 (with C
// and E (5), none of which had accepted it) and completes discovery; then
// C returns to A, still in discovery, and acks epoch 2 again. Counting
// that ack would give A the quorum {A, B, C} while D holds {D, C, E}: two
// leaders of one epoch, whose histories diverge (and D would TRUNC what A
// committed through C). C's second ack says the epoch was already
// accepted, and A must wait for another learner.
func TestOneDiscoveryPerLearnerAndEpoch(t *testing.T) {
	cfg := func(id int64) Config {
		c := testCfg(id)
		c.Voters = []int64{1, 2, 3, 4, 5}
		return c
	}
	stores := map[int64]*memStorage{}
	for id := int64(1); id <= 5; id++ {
		stores[id] = storeWith(1, 1, ent(1, 1))
	}
	nodes := map[int64]*Node{}
	var inflight []Message
	// flush takes a node's Ready: its epochs are made durable, its
	// messages put in flight; it returns the Ready.
	flush := func(id int64) Ready {
		t.Helper()
		rd := nodes[id].Ready()
		if rd.StepDown != nil {
			t.Fatalf("peer %d steps down: %v", id, rd.StepDown)
		}
		if rd.SetAcceptedEpoch != nil {
			stores[id].accepted = *rd.SetAcceptedEpoch
		}
		if rd.SetCurrentEpoch != nil {
			stores[id].current = *rd.SetCurrentEpoch
		}
		for _, m := range rd.Messages {
			m.From = id
			inflight = append(inflight, m)
		}
		nodes[id].Advance(rd)
		return rd
	}
	start := func(id, leader int64) {
		nodes[id] = New(cfg(id), stores[id], leader)
		flush(id)
	}
	// take removes the message of type typ from `from` to `to` from the
	// network; deliver also steps it into `to` and returns to's Ready.
	take := func(typ MsgType, from, to int64) Message {
		t.Helper()
		for i, m := range inflight {
			if m.Type == typ && m.From == from && m.To == to {
				inflight = slices.Delete(inflight, i, i+1)
				return m
			}
		}
		t.Fatalf("no %v from %d to %d in flight: %v", typ, from, to, inflight)
		return Message{}
	}
	deliver := func(typ MsgType, from, to int64) Ready {
		t.Helper()
		if err := nodes[to].Step(take(typ, from, to)); err != nil {
			t.Fatal(err)
		}
		return flush(to)
	}

	// proposeEpoch2 starts leader and learners a and b under it and
	// delivers their FOLLOWERINFOs: the leader proposes epoch 2.
	proposeEpoch2 := func(leader, a, b int64) {
		t.Helper()
		for _, id := range []int64{leader, a, b} {
			start(id, leader)
		}
		deliver(MsgFollowerInfo, a, leader)
		if rd := deliver(MsgFollowerInfo, b, leader); rd.SetAcceptedEpoch == nil || *rd.SetAcceptedEpoch != 2 {
			t.Fatalf("leader %d proposes epoch %v, want 2", leader, rd.SetAcceptedEpoch)
		}
	}

	// A leads B and C; it picks epoch 2 and B acks it.
	proposeEpoch2(1, 2, 3)
	deliver(MsgLeaderInfo, 1, 2)
	deliver(MsgAckEpoch, 2, 1)
	take(MsgLeaderInfo, 1, 3) // lost with C's connection

	// C follows D instead, with E: D picks epoch 2 too and completes
	// discovery.
	proposeEpoch2(4, 3, 5)
	deliver(MsgLeaderInfo, 4, 3)
	deliver(MsgLeaderInfo, 4, 5)
	deliver(MsgAckEpoch, 3, 4)
	if rd := deliver(MsgAckEpoch, 5, 4); rd.SetCurrentEpoch == nil || *rd.SetCurrentEpoch != 2 {
		t.Fatalf("D did not complete discovery of epoch 2 with C and E: %v", rd.SetCurrentEpoch)
	}

	// C goes back to A, which is still in discovery of epoch 2.
	start(3, 1)
	deliver(MsgFollowerInfo, 3, 1)
	deliver(MsgLeaderInfo, 1, 3)
	ack := take(MsgAckEpoch, 3, 1)
	if ack.Epoch != EpochAlreadyAccepted {
		t.Errorf("C's second ack of epoch 2 carries epoch %d, want EpochAlreadyAccepted", ack.Epoch)
	}
	if err := nodes[1].Step(ack); err != nil {
		t.Fatal(err)
	}
	if rd := flush(1); rd.SetCurrentEpoch != nil {
		t.Fatalf("A completed discovery of epoch %d with C's second ack: D completed it with C too", *rd.SetCurrentEpoch)
	}
}

// broadcastLeader returns leader 1 of voters 1-3 in broadcast, with
// followers 2 and 3 synced.
func broadcastLeader(t *testing.T) *Node {
	t.Helper()
	n := New(testCfg(1), storeWith(1, 1), 1)
	for _, f := range []int64{2, 3} {
		for _, m := range []Message{
			{Type: MsgFollowerInfo, From: f, Zxid: makeZxid(1, 0)},
			{Type: MsgAckEpoch, From: f, Zxid: 0, Epoch: 1},
			{Type: MsgAck, From: f, Zxid: makeZxid(2, 0)},
		} {
			m.To = 1
			if err := n.Step(m); err != nil {
				t.Fatalf("%v: %v", m, err)
			}
			n.Advance(n.Ready())
		}
	}
	if st := n.Status(); st.Phase != Broadcast {
		t.Fatalf("leader in %v, want broadcast", st.Phase)
	}
	return n
}

// TestLeaderCommitQuorum: the leader's own vote counts once its append
// is durable (Advance), and any quorum commits, as ZooKeeper's
// Leader.processAck: one follower's ack does not commit a txn the leader
// has not logged yet, the second's does, and with the leader's append
// durable one follower's ack is enough.
func TestLeaderCommitQuorum(t *testing.T) {
	n := broadcastLeader(t)
	txn := &proto.SetDataTxn{Path: "/a"}
	ack := func(from, z int64) []int64 {
		t.Helper()
		if err := n.Step(Message{Type: MsgAck, From: from, To: 1, Zxid: z}); err != nil {
			t.Fatal(err)
		}
		if !n.HasReady() {
			return nil
		}
		rd := n.Ready()
		defer n.Advance(rd)
		return zxids(rd.Commit)
	}

	z1, err := n.Propose(proto.TxnHeader{}, txn)
	if err != nil {
		t.Fatal(err)
	}
	logging := n.Ready() // handed to the log writer: not durable yet
	if got := ack(2, z1); len(got) != 0 {
		t.Fatalf("one follower's ack committed %x before the leader logged it", got)
	}
	if got := ack(3, z1); !equalInt64(got, []int64{z1}) {
		t.Fatalf("two followers' acks committed %x, want %x", got, z1)
	}
	n.Advance(logging)
	if n.HasReady() {
		if rd := n.Ready(); len(rd.Commit) != 0 {
			t.Fatalf("the leader's append committed %x again", zxids(rd.Commit))
		}
	}

	z2, err := n.Propose(proto.TxnHeader{}, txn)
	if err != nil {
		t.Fatal(err)
	}
	n.Advance(n.Ready()) // logged: the leader's vote counts
	if got := ack(3, z2); !equalInt64(got, []int64{z2}) {
		t.Fatalf("leader's durable vote and one follower's ack committed %x, want %x", got, z2)
	}
}

// TestLeaderBroadcastAllocations holds the core's garbage per write on a
// leader with two followers, in batches of 8 proposals: one allocation
// per proposal (its entry, which its PROPOSALs point to, and its acks in
// one), and per batch a slice each for the Ready's appends and commits
// and the committed history's growth; message arrays are recycled. With
// a map of acks per proposal and every Ready slice grown from nil, it was
// 7.75 per write.
func TestLeaderBroadcastAllocations(t *testing.T) {
	n := broadcastLeader(t)
	const batch = 8
	txn := &proto.SetDataTxn{Path: "/a"}
	round := func() {
		var last int64
		for range batch {
			z, err := n.Propose(proto.TxnHeader{}, txn)
			if err != nil {
				t.Fatal(err)
			}
			last = z
		}
		n.Advance(n.Ready()) // logged: proposals out, own vote durable
		for _, f := range []int64{2, 3} {
			if err := n.Step(Message{Type: MsgAck, From: f, To: 1, Zxid: last}); err != nil {
				t.Fatal(err)
			}
		}
		rd := n.Ready()
		if len(rd.Commit) != batch {
			t.Fatalf("committed %d of a batch of %d", len(rd.Commit), batch)
		}
		n.Advance(rd)
	}
	round()
	perWrite := testing.AllocsPerRun(200, round) / batch
	t.Logf("%.2f allocations per write", perWrite)
	if perWrite > 1.25 {
		t.Errorf("%.2f allocations per write in the leader's core, want at most 1.25", perWrite)
	}
}
