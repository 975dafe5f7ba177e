package election

import (
	"slices"
	"strings"
	"testing"
)

// zxid builds a zxid from an epoch and a counter (ZxidUtils.makeZxid).
func zxid(epoch, counter int64) int64 { return epoch<<32 | counter }

func testConfig(id int64, voters ...int64) Config {
	return Config{ID: id, Voters: voters, FinalizeWaitTicks: 3, MinNotificationTicks: 4, MaxNotificationTicks: 20}
}

func looking(leader, zx, round, peerEpoch int64) Notification {
	return Notification{State: Looking, Leader: leader, Zxid: zx, ElectionEpoch: round, PeerEpoch: peerEpoch, Version: CurrentVersion}
}

func notice(st State, leader, zx, round, peerEpoch int64) Notification {
	n := looking(leader, zx, round, peerEpoch)
	n.State = st
	return n
}

func recipients(msgs []Message) []int64 {
	var ids []int64
	for _, m := range msgs {
		ids = append(ids, m.To)
	}
	slices.Sort(ids)
	return ids
}

// Ported from FLEPredicateTest, plus the zero-weight rule of FLEZeroWeightTest.
func TestTotalOrderPredicate(t *testing.T) {
	e := New(Config{ID: 0, Voters: []int64{0, 1, 2, 3, 4}, Weights: map[int64]int64{4: 0}}, 0, 0)
	tests := []struct {
		name                     string
		newID, newZxid, newEpoch int64
		curID, curZxid, curEpoch int64
		want                     bool
	}{
		{"lower epoch loses despite higher id", 3, 0, 0, 2, 0, 2, false},
		{"later epoch wins", 0, 0, 1, 1, 0, 0, true},
		{"higher zxid wins", 0, 1, 0, 1, 0, 0, true},
		{"higher id wins on tie", 1, 1, 0, 0, 1, 0, true},
		{"equal vote does not win", 1, 1, 0, 1, 1, 0, false},
		{"epoch beats zxid", 0, 0, 2, 1, 99, 1, true},
		{"zxid beats id", 0, 5, 1, 3, 4, 1, true},
		{"lower zxid loses", 3, 4, 1, 0, 5, 1, false},
		{"zero weight never wins", 4, 100, 100, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.totalOrderPredicate(tt.newID, tt.newZxid, tt.newEpoch, tt.curID, tt.curZxid, tt.curEpoch)
			if got != tt.want {
				t.Errorf("totalOrderPredicate = %v, want %v", got, tt.want)
			}
		})
	}
}

// Ported from FLEOutOfElectionTest: which vote sets form a quorum.
func TestVoteTrackerQuorum(t *testing.T) {
	e := New(Config{ID: 3, Voters: []int64{0, 1, 2, 3, 4}}, 0, 0)
	v := func(version int32, leader, zx, round, peerEpoch int64, st State) Vote {
		return Vote{Leader: leader, Zxid: zx, ElectionEpoch: round, PeerEpoch: peerEpoch, State: st, Version: version}
	}
	tests := []struct {
		name   string
		votes  map[int64]Vote
		target Vote
		want   bool
	}{
		{
			name: "out of election ignores zxid and election epoch",
			votes: map[int64]Vote{
				0: v(1, 4, zxid(1, 1), 1, 2, Following),
				1: v(1, 4, zxid(1, 2), 1, 2, Following),
				3: v(1, 4, zxid(2, 1), 2, 2, Following),
				4: v(1, 4, zxid(2, 1), 2, 2, Leading),
			},
			target: v(0, 4, zxid(2, 1), 2, 2, Following),
			want:   true,
		},
		{
			name: "mixed format versions compare the leader only",
			votes: map[int64]Vote{
				0: v(1, 4, zxid(1, 1), 1, 1, Following),
				1: v(1, 4, zxid(1, 1), 1, 1, Following),
				3: v(0, 4, zxid(2, 1), 2, 2, Following),
				4: v(0, 4, zxid(2, 1), 2, 2, Leading),
			},
			target: v(0, 4, zxid(2, 1), 2, 2, Following),
			want:   true,
		},
		{
			name: "looking votes of one round",
			votes: map[int64]Vote{
				0: v(0, 4, zxid(2, 1), 1, 1, Looking),
				1: v(0, 4, zxid(2, 1), 1, 1, Looking),
				3: v(0, 4, zxid(2, 1), 1, 1, Looking),
				4: v(0, 4, zxid(2, 1), 1, 1, Leading),
			},
			target: v(0, 4, zxid(2, 1), 1, 1, Looking),
			want:   true,
		},
		{
			name: "looking votes of different rounds",
			votes: map[int64]Vote{
				0: v(0, 4, zxid(1, 1), 1, 1, Looking),
				1: v(0, 4, zxid(2, 1), 2, 2, Looking),
				3: v(0, 4, zxid(2, 1), 3, 2, Looking),
				4: v(0, 4, zxid(2, 1), 3, 2, Leading),
			},
			target: v(0, 4, zxid(2, 1), 2, 2, Looking),
			want:   false,
		},
		{
			name: "same format version compares peer epoch",
			votes: map[int64]Vote{
				1: v(0, 5, zxid(15, 0), 0xa, 0x17, Following),
				2: v(0, 5, zxid(15, 0), 0xa, 0x17, Following),
				4: v(1, 5, zxid(15, 0), 0xa, 0x18, Following),
				5: v(1, 5, zxid(15, 0), 0xa, 0x18, Leading), // not a voter: not counted
			},
			target: v(1, 5, zxid(15, 0), 0xa, 0x18, Leading),
			want:   true, // 1 and 2 match on leader only (version 0 vs 1), 4 fully
		},
		{
			name: "non-voters do not count",
			votes: map[int64]Vote{
				3:  v(2, 4, 0, 1, 1, Following),
				4:  v(2, 4, 0, 1, 1, Leading),
				9:  v(2, 4, 0, 1, 1, Following),
				10: v(2, 4, 0, 1, 1, Following),
			},
			target: v(2, 4, 0, 1, 1, Following),
			want:   false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.hasQuorum(e.ackers(tt.votes, tt.target)); got != tt.want {
				t.Errorf("quorum = %v (ackers %v), want %v", got, e.ackers(tt.votes, tt.target), tt.want)
			}
		})
	}
}

func TestCheckLeader(t *testing.T) {
	e := New(testConfig(3, 1, 2, 3), 0, 0)
	e.clock = 7
	votes := map[int64]Vote{
		1: {Leader: 2, State: Following},
		2: {Leader: 2, State: Leading},
		4: {Leader: 4, State: Following},
	}
	tests := []struct {
		name          string
		leader, round int64
		want          bool
	}{
		{"other leader that said LEADING", 2, 1, true},
		{"other leader only following", 4, 7, false},
		{"other leader never heard from", 5, 7, false},
		{"self in own round", 3, 7, true},
		{"self in an older round (ZOOKEEPER-1514)", 3, 6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.checkLeader(votes, tt.leader, tt.round); got != tt.want {
				t.Errorf("checkLeader(%d, %d) = %v, want %v", tt.leader, tt.round, got, tt.want)
			}
		})
	}
}

func TestStartBroadcastsOwnVote(t *testing.T) {
	e := New(testConfig(2, 1, 2, 3), zxid(3, 9), 3)
	msgs := e.Start()
	if got := recipients(msgs); !slices.Equal(got, []int64{1, 3}) {
		t.Fatalf("recipients = %v, want [1 3] (own copy is internal)", got)
	}
	want := looking(2, zxid(3, 9), 1, 3)
	for _, m := range msgs {
		if m.N != want {
			t.Errorf("to %d: %+v, want %+v", m.To, m.N, want)
		}
	}
	if e.Round() != 1 || e.VotesReceived() != 1 {
		t.Errorf("round %d votes %d, want 1 and 1 (own vote)", e.Round(), e.VotesReceived())
	}
	if _, st, ok := e.Result(); ok || st != Looking {
		t.Errorf("decided right after Start: %v %v", st, ok)
	}
	if again := e.Start(); e.Round() != 2 || len(again) != 2 {
		t.Errorf("second Start: round %d, %d messages; want round 2, 2 messages", e.Round(), len(again))
	}
}

func TestLookingSequences(t *testing.T) {
	type step struct {
		from  int64
		n     Notification
		ticks int // ticks to run after the notification
	}
	tests := []struct {
		name        string
		id          int64
		zxid, epoch int64
		steps       []step
		wantLeader  int64
		wantState   State
		wantRound   int64
		wantSent    []Message // messages of the last step (nil: don't care)
	}{
		{
			name: "better vote is adopted and rebroadcast",
			id:   1, zxid: zxid(1, 1), epoch: 1,
			steps:      []step{{from: 2, n: looking(2, zxid(1, 5), 1, 1)}},
			wantLeader: 2, wantState: Looking, wantRound: 1,
			wantSent: []Message{{To: 2, N: looking(2, zxid(1, 5), 1, 1)}, {To: 3, N: looking(2, zxid(1, 5), 1, 1)}},
		},
		{
			name: "worse vote in the same round changes nothing",
			id:   3, zxid: zxid(1, 1), epoch: 1,
			steps:      []step{{from: 2, n: looking(2, zxid(1, 1), 1, 1)}},
			wantLeader: 3, wantState: Looking, wantRound: 1,
			wantSent: []Message{},
		},
		{
			name: "quorum then finalize wait decides following",
			id:   1, zxid: zxid(1, 1), epoch: 1,
			steps:      []step{{from: 2, n: looking(2, zxid(1, 5), 1, 1), ticks: 3}},
			wantLeader: 2, wantState: Following, wantRound: 1,
		},
		{
			name: "quorum for self decides leading",
			id:   3, zxid: zxid(1, 1), epoch: 1,
			steps:      []step{{from: 2, n: looking(3, zxid(1, 1), 1, 1), ticks: 3}},
			wantLeader: 3, wantState: Leading, wantRound: 1,
		},
		{
			name: "higher round resets votes and compares with own initial vote",
			id:   3, zxid: zxid(1, 1), epoch: 1,
			steps: []step{
				{from: 1, n: looking(1, zxid(1, 1), 1, 1)},
				{from: 2, n: looking(1, zxid(1, 0), 5, 1)},
			},
			wantLeader: 3, wantState: Looking, wantRound: 5,
			wantSent: []Message{{To: 1, N: looking(3, zxid(1, 1), 5, 1)}, {To: 2, N: looking(3, zxid(1, 1), 5, 1)}},
		},
		{
			name: "lower round is ignored but answered",
			id:   1, zxid: zxid(1, 1), epoch: 1,
			steps: []step{
				{from: 2, n: looking(2, zxid(1, 1), 4, 1)}, // jump to round 4, adopt 2
				{from: 3, n: looking(3, zxid(9, 9), 2, 9)}, // better, but stale round
			},
			wantLeader: 2, wantState: Looking, wantRound: 4,
			wantSent: []Message{{To: 3, N: looking(2, zxid(1, 1), 4, 1)}},
		},
		{
			name: "peer with zxid -1 is ignored",
			id:   1, zxid: zxid(1, 1), epoch: 1,
			steps:      []step{{from: 2, n: looking(2, -1, 1, 9), ticks: 10}},
			wantLeader: 1, wantState: Looking, wantRound: 1,
		},
		{
			name: "vote for a non-member is ignored",
			id:   1, zxid: zxid(1, 1), epoch: 1,
			steps:      []step{{from: 2, n: looking(7, zxid(9, 9), 1, 9), ticks: 10}},
			wantLeader: 1, wantState: Looking, wantRound: 1,
		},
		{
			name: "unknown state is dropped",
			id:   1, zxid: zxid(1, 1), epoch: 1,
			steps:      []step{{from: 2, n: notice(State(9), 2, zxid(1, 5), 1, 1)}},
			wantLeader: 1, wantState: Looking, wantRound: 1,
			wantSent: []Message{},
		},
		{
			// FLELostMessageTest: a LOOKING then a FOLLOWING notice for us
			// in our round make us lead.
			name: "following notice in own round for self",
			id:   1, zxid: 0, epoch: 0,
			steps: []step{
				{from: 0, n: looking(0, 0, 1, 0)},
				{from: 0, n: notice(Following, 1, 0, 1, 0)},
			},
			wantLeader: 1, wantState: Leading, wantRound: 1,
		},
		{
			name: "joining an established ensemble needs the leader's own notice",
			id:   3, zxid: zxid(1, 1), epoch: 1,
			steps: []step{
				{from: 1, n: notice(Following, 2, zxid(2, 0), 9, 2)},
				{from: 4, n: notice(Following, 2, zxid(2, 0), 9, 2)},
				{from: 5, n: notice(Following, 2, zxid(2, 0), 9, 2), ticks: 50},
			},
			wantLeader: 3, wantState: Looking, wantRound: 1,
		},
		{
			name: "joining an established ensemble",
			id:   3, zxid: zxid(1, 1), epoch: 1,
			steps: []step{
				{from: 1, n: notice(Following, 2, zxid(2, 0), 9, 2)},
				{from: 2, n: notice(Leading, 2, zxid(2, 7), 8, 2)},
				{from: 4, n: notice(Following, 2, zxid(2, 0), 9, 2)},
			},
			wantLeader: 2, wantState: Following, wantRound: 9,
		},
		{
			name: "observer notices are ignored",
			id:   1, zxid: zxid(1, 1), epoch: 1,
			steps: []step{
				{from: 2, n: notice(Observing, 3, zxid(1, 1), 1, 1)},
				{from: 4, n: notice(Observing, 3, zxid(1, 1), 1, 1)},
				{from: 5, n: notice(Observing, 3, zxid(1, 1), 1, 1)},
			},
			wantLeader: 1, wantState: Looking, wantRound: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			voters := []int64{1, 2, 3}
			if tt.id == 1 && tt.zxid == 0 {
				voters = []int64{0, 1, 2}
			}
			if strings.Contains(tt.name, "ensemble") || strings.Contains(tt.name, "observer") {
				voters = []int64{1, 2, 3, 4, 5}
			}
			e := New(testConfig(tt.id, voters...), tt.zxid, tt.epoch)
			e.Start()
			var sent []Message
			for _, s := range tt.steps {
				sent = e.Step(s.from, s.n)
				for range s.ticks {
					sent = append(sent, e.Tick()...)
				}
			}
			leader, st, decided := e.Result()
			if leader != tt.wantLeader || st != tt.wantState || decided != (tt.wantState != Looking) {
				t.Errorf("Result = (%d, %v, %v), want (%d, %v)", leader, st, decided, tt.wantLeader, tt.wantState)
			}
			if e.Round() != tt.wantRound {
				t.Errorf("Round = %d, want %d", e.Round(), tt.wantRound)
			}
			if tt.wantSent != nil && !slices.Equal(sent, tt.wantSent) && !(len(sent) == 0 && len(tt.wantSent) == 0) {
				t.Errorf("sent %+v\nwant %+v", sent, tt.wantSent)
			}
		})
	}
}

// FLEBackwardElectionRoundTest (ZOOKEEPER-1514): FOLLOWING notices for us from
// an old round must not make us leader in a later round.
func TestBackwardElectionRound(t *testing.T) {
	e := New(testConfig(0, 0, 1, 2), 0, 0)
	msg := notice(Following, 0, 0, 1, 0)
	e.Start()
	e.Step(1, msg)
	e.Step(2, msg)
	if leader, st, ok := e.Result(); !ok || st != Leading || leader != 0 {
		t.Fatalf("round 1: Result = (%d, %v, %v), want leading", leader, st, ok)
	}
	e.Start() // round 2
	e.Step(1, msg)
	e.Step(2, msg)
	for range 100 {
		e.Tick()
	}
	if _, st, ok := e.Result(); ok {
		t.Fatalf("round 2: decided %v on round-1 notices", st)
	}
}

func TestFinalizeWait(t *testing.T) {
	tests := []struct {
		name       string
		during     []inbound // delivered one per tick after the quorum forms
		wantLeader int64
		wantTicks  int // ticks after the quorum until decided
	}{
		{name: "no traffic", wantLeader: 2, wantTicks: 3},
		{
			name:       "worse vote restarts the wait",
			during:     []inbound{{1, looking(1, zxid(1, 1), 1, 1)}},
			wantLeader: 2, wantTicks: 4,
		},
		{
			name:       "better vote breaks the wait",
			during:     []inbound{{3, looking(3, zxid(1, 9), 1, 1)}},
			wantLeader: 3, wantTicks: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(testConfig(1, 1, 2, 3), zxid(1, 1), 1)
			e.Start()
			e.Step(2, looking(2, zxid(1, 5), 1, 1)) // quorum {1,2} for 2
			ticks := 0
			for _, in := range tt.during {
				e.Tick()
				ticks++
				e.Step(in.from, in.n)
			}
			if tt.wantLeader == 3 {
				e.Step(2, looking(3, zxid(1, 9), 1, 1)) // 2 agrees with 3
			}
			for ; ticks < 100; ticks++ {
				if _, _, ok := e.Result(); ok {
					break
				}
				e.Tick()
			}
			leader, _, ok := e.Result()
			if !ok || leader != tt.wantLeader || ticks != tt.wantTicks {
				t.Errorf("decided=%v leader %d after %d ticks, want leader %d after %d", ok, leader, ticks, tt.wantLeader, tt.wantTicks)
			}
		})
	}
}

func TestRetransmissionBackoff(t *testing.T) {
	e := New(testConfig(1, 1, 2, 3), 0, 0)
	e.Start()
	var at []int
	for tick := 1; tick <= 100; tick++ {
		if msgs := e.Tick(); len(msgs) > 0 {
			if got := recipients(msgs); !slices.Equal(got, []int64{2, 3}) {
				t.Fatalf("tick %d: resent to %v", tick, got)
			}
			at = append(at, tick)
		}
	}
	// min 4, doubling, capped at 20: 4, +8, +16, +20, +20, +20, ...
	want := []int{4, 12, 28, 48, 68, 88}
	if !slices.Equal(at, want) {
		t.Errorf("resent at ticks %v, want %v", at, want)
	}
	// A received notification restarts the idle timer but keeps the timeout.
	e.Step(2, looking(1, 0, 1, 0))
	for range 19 {
		if msgs := e.Tick(); len(msgs) > 0 {
			t.Fatalf("resent before the timeout elapsed")
		}
	}
	if e.NotificationTimeout() != 20 {
		t.Errorf("timeout %d, want 20", e.NotificationTimeout())
	}
}

func TestRepliesWhenDecided(t *testing.T) {
	e := New(testConfig(1, 1, 2, 3), zxid(1, 1), 1)
	e.Start()
	e.Step(2, looking(2, zxid(1, 5), 1, 1))
	for range 3 {
		e.Tick()
	}
	if _, st, _ := e.Result(); st != Following {
		t.Fatalf("state %v, want FOLLOWING", st)
	}
	// A LOOKING peer in any round learns whom we follow and our round.
	got := e.Step(3, looking(3, zxid(1, 1), 7, 1))
	want := []Message{{To: 3, N: notice(Following, 2, zxid(1, 5), 1, 1)}}
	if !slices.Equal(got, want) {
		t.Errorf("reply %+v, want %+v", got, want)
	}
	// Non-LOOKING peers get nothing.
	if got := e.Step(3, notice(Following, 2, zxid(1, 5), 1, 1)); len(got) != 0 {
		t.Errorf("replied %+v to a FOLLOWING peer", got)
	}
	d, ok := e.Decision()
	if !ok || !slices.Equal(d.Quorum, []int64{1, 2}) || d.Joined {
		t.Errorf("Decision = %+v, want quorum [1 2] not joined", d)
	}
}

func TestNonVoterGetsImmediateReply(t *testing.T) {
	cfg := testConfig(1, 1, 2, 3)
	cfg.Observers = []int64{4}
	e := New(cfg, zxid(2, 2), 2)
	e.Start()
	e.Step(2, looking(3, zxid(2, 9), 1, 2)) // proposal now 3
	got := e.Step(4, looking(minInt64, minInt64, 1, minInt64))
	// The reply carries the current vote (not the proposal) while LOOKING.
	want := []Message{{To: 4, N: looking(1, zxid(2, 2), 1, 2)}}
	if !slices.Equal(got, want) {
		t.Errorf("reply %+v, want %+v", got, want)
	}
	if e.VotesReceived() != 2 {
		t.Errorf("votes %d, want 2: an observer's notification must not be counted", e.VotesReceived())
	}
}

func TestObserverLearnsLeader(t *testing.T) {
	cfg := testConfig(4, 1, 2, 3)
	cfg.Observers = []int64{4}
	o := New(cfg, zxid(5, 5), 5) // an observer's own log never makes it a candidate
	msgs := o.Start()
	if got := recipients(msgs); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("observer sent to %v, want the voters", got)
	}
	if msgs[0].N.Leader != minInt64 {
		t.Errorf("observer proposes %d, want nobody", msgs[0].N.Leader)
	}
	o.Step(1, looking(3, zxid(1, 1), 2, 1))
	o.Step(2, looking(3, zxid(1, 1), 2, 1))
	for range 3 {
		o.Tick()
	}
	leader, st, ok := o.Result()
	if !ok || leader != 3 || st != Observing {
		t.Fatalf("Result = (%d, %v, %v), want (3, OBSERVING, true)", leader, st, ok)
	}
	if d, _ := o.Decision(); !slices.Equal(d.Quorum, []int64{1, 2}) {
		t.Errorf("quorum %v, want [1 2] (the observer is not counted)", d.Quorum)
	}
}

func TestNotificationsBeforeStartAreQueued(t *testing.T) {
	e := New(testConfig(1, 1, 2, 3), zxid(1, 1), 1)
	if got := e.Step(2, looking(2, zxid(1, 5), 1, 1)); len(got) != 0 {
		t.Errorf("replied %+v before Start", got)
	}
	if got := e.Tick(); len(got) != 0 {
		t.Errorf("tick before Start sent %+v", got)
	}
	e.Start()
	if p := e.Proposal(); p.Leader != 2 || e.VotesReceived() != 2 {
		t.Errorf("after Start: proposal %+v, votes %d; want leader 2 and 2 votes", p, e.VotesReceived())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{ID: 1, Voters: []int64{1, 2, 3}, Observers: []int64{4}}, ""},
		{"observer ok", Config{ID: 4, Voters: []int64{1}, Observers: []int64{4}}, ""},
		{"no voters", Config{ID: 1}, "no voters"},
		{"duplicate voter", Config{ID: 1, Voters: []int64{1, 1}}, "voter 1 listed twice"},
		{"observer is voter", Config{ID: 1, Voters: []int64{1, 2}, Observers: []int64{2}}, "observer 2 is already a voter"},
		{"unknown self", Config{ID: 9, Voters: []int64{1}}, "own id 9"},
		{"negative weight", Config{ID: 1, Voters: []int64{1}, Weights: map[int64]int64{1: -1}}, "negative weight"},
		{"negative ticks", Config{ID: 1, Voters: []int64{1}, FinalizeWaitTicks: -1}, "negative tick"},
		{"min above max", Config{ID: 1, Voters: []int64{1}, MinNotificationTicks: 9, MaxNotificationTicks: 3}, "exceeds max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSingleVoterElectsItself(t *testing.T) {
	e := New(testConfig(1, 1), 0, 0)
	if msgs := e.Start(); len(msgs) != 0 {
		t.Errorf("sent %+v with no peers", msgs)
	}
	for range 3 {
		e.Tick()
	}
	if leader, st, ok := e.Result(); !ok || leader != 1 || st != Leading {
		t.Errorf("Result = (%d, %v, %v), want (1, LEADING, true)", leader, st, ok)
	}
}
