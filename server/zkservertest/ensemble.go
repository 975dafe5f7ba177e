package zkservertest

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/quorum/peer"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
)

// EnsembleOptions configure StartEnsemble.
type EnsembleOptions struct {
	// Size is the number of voting members (default 3); Observers are
	// added after them.
	Size, Observers int
	// TickTime defaults to 100 ms; initLimit is 20 and syncLimit 10 ticks.
	TickTime time.Duration
	// Change, if set, adjusts each member's server options (four-letter
	// whitelist, super digest, container check interval, ...). Peer,
	// ServerID, ListenAddr and Registerer are set by the harness.
	Change func(id int64, o *zkserver.Options)
}

// Ensemble is an in-process zkd ensemble for tests: per member one
// peer.Peer and one zkserver.Server on its own 127.0.0.x address, with
// its own data directory, so members can be stopped and restarted on the
// same state. It exercises the real election, ZAB and client code over
// TCP; process-level faults (kill -9, SIGSTOP, partitions) are
// server/ensembletest's.
type Ensemble struct {
	t    testing.TB
	opts EnsembleOptions
	qc   wire.QuorumConfig
	dirs map[int64]string
	addr map[int64]string

	mu      sync.Mutex
	members map[int64]*Member
}

// StartEnsemble starts every member and waits until one leads and all
// others serve. Members are stopped when the test ends.
func StartEnsemble(t testing.TB, opts EnsembleOptions) *Ensemble {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = 3
	}
	if opts.TickTime == 0 {
		opts.TickTime = 100 * time.Millisecond
	}
	e := &Ensemble{t: t, opts: opts, dirs: map[int64]string{}, addr: map[int64]string{}, members: map[int64]*Member{}}
	base := testpeer.LoopbackBlock() + 100
	for i := 1; i <= opts.Size+opts.Observers; i++ {
		host := testpeer.LoopbackHost(base + i)
		typ := wire.Participant
		if i > opts.Size {
			typ = wire.Observer
		}
		client := testpeer.FreePort(t, host)
		e.qc.Servers = append(e.qc.Servers, wire.QuorumServer{
			ID:         int64(i),
			Addrs:      []wire.ServerAddr{{Host: host, QuorumPort: testpeer.FreePort(t, host), ElectionPort: testpeer.FreePort(t, host)}},
			Type:       typ,
			ClientHost: host,
			ClientPort: client,
		})
		e.dirs[int64(i)] = t.TempDir()
		e.addr[int64(i)] = net.JoinHostPort(host, strconv.Itoa(client))
	}
	t.Cleanup(func() {
		for _, id := range e.Running() {
			e.Stop(id)
		}
	})
	for i := 1; i <= opts.Size+opts.Observers; i++ {
		e.Start(int64(i))
	}
	e.WaitServing()
	return e
}

func memberLogger(id int64) zerolog.Logger {
	if os.Getenv("ZKD_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Int64("member", id).Logger()
}

// MemberOptions configure StartMember.
type MemberOptions struct {
	ID      int64
	Quorum  wire.QuorumConfig
	DataDir string
	// ListenAddr is the client address.
	ListenAddr string
	// TickTime, InitLimit and SyncLimit as in zoo.cfg; SnapCount 0 is
	// storage's default.
	TickTime             time.Duration
	InitLimit, SyncLimit int
	SnapCount            int
	Logger               zerolog.Logger
	// Change, if set, adjusts the server options (see EnsembleOptions).
	Change func(id int64, o *zkserver.Options)
}

// Member is one running in-process ensemble member: a peer and the client
// server attached to it.
type Member struct {
	Server   *zkserver.Server
	Peer     *peer.Peer
	Registry *prometheus.Registry
	cancel   context.CancelFunc
	done     chan error
}

// StartMember starts one ensemble member on its data directory: the peer
// runs until Stop. Ensemble uses it; tests of mixed ensembles, whose
// quorum config also lists servers of another kind, use it directly.
func StartMember(t testing.TB, o MemberOptions) *Member {
	t.Helper()
	reg := prometheus.NewRegistry()
	treeOpts, err := zkserver.TreeOptions(reg, true, o.Logger)
	if err != nil {
		t.Fatal(err)
	}
	p, err := peer.New(peer.Config{ID: o.ID, Quorum: o.Quorum, DataDir: o.DataDir, TreeOptions: treeOpts,
		TickTime: o.TickTime, InitLimit: o.InitLimit, SyncLimit: o.SyncLimit, SnapCount: o.SnapCount,
		PreAllocSize: 1 << 20, Logger: o.Logger, Registerer: reg})
	if err != nil {
		t.Fatalf("peer %d: %v", o.ID, err)
	}
	so := zkserver.Options{TickTime: o.TickTime, ExtendedTypes: true, FourLetterAllowed: func(string) bool { return true }}
	if o.Change != nil {
		o.Change(o.ID, &so)
	}
	so.ListenAddr, so.ServerID, so.Logger, so.Registerer, so.Peer = o.ListenAddr, o.ID, o.Logger, reg, p
	srv, err := zkserver.New(so)
	if err != nil {
		t.Fatalf("server %d: %v", o.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.StartAsync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.AwaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	m := &Member{Server: srv, Peer: p, Registry: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- p.Run(ctx) }()
	return m
}

// Stop stops the member's client server and peer, as a clean shutdown
// would, and reports a peer that ended with an error or did not end.
func (m *Member) Stop(t testing.TB) {
	t.Helper()
	m.cancel()
	m.Server.StopAsync()
	_ = m.Server.AwaitTerminated(context.Background())
	select {
	case err := <-m.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("member: Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("member: Run did not return")
	}
}

// Start (re)starts member id on its data directory.
func (e *Ensemble) Start(id int64) {
	e.t.Helper()
	m := StartMember(e.t, MemberOptions{ID: id, Quorum: e.qc, DataDir: e.dirs[id], ListenAddr: e.addr[id],
		TickTime: e.opts.TickTime, InitLimit: 20, SyncLimit: 10, Logger: memberLogger(id), Change: e.opts.Change})
	e.mu.Lock()
	e.members[id] = m
	e.mu.Unlock()
}

// Stop stops member id (its client server and its peer), as a clean
// shutdown would.
func (e *Ensemble) Stop(id int64) {
	e.t.Helper()
	e.mu.Lock()
	m := e.members[id]
	delete(e.members, id)
	e.mu.Unlock()
	if m != nil {
		m.Stop(e.t)
	}
}

// Running returns the ids of the running members, sorted.
func (e *Ensemble) Running() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []int64
	for id := range e.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Addr is member id's client address.
func (e *Ensemble) Addr(id int64) string { return e.addr[id] }

// Addrs are the client addresses of every member, running or not.
func (e *Ensemble) Addrs() []string {
	var out []string
	for i := 1; i <= len(e.addr); i++ {
		out = append(out, e.addr[int64(i)])
	}
	return out
}

// Server is member id's client server, nil when stopped.
func (e *Ensemble) Server(id int64) *zkserver.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m := e.members[id]; m != nil {
		return m.Server
	}
	return nil
}

// Registry is member id's metrics registry (what its /metrics would
// serve), nil when stopped.
func (e *Ensemble) Registry(id int64) *prometheus.Registry {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m := e.members[id]; m != nil {
		return m.Registry
	}
	return nil
}

// DataDir is member id's data directory (snapshots, txn log, epochs).
func (e *Ensemble) DataDir(id int64) string { return e.dirs[id] }

// Modes returns srvr's Mode per running member; a member that does not
// serve is absent.
func (e *Ensemble) Modes() map[int64]string {
	out := map[int64]string{}
	for _, id := range e.Running() {
		s, err := testpeer.FourLetter(e.addr[id], "srvr", time.Second)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(s, "\n") {
			if m, ok := strings.CutPrefix(l, "Mode: "); ok {
				out[id] = m
			}
		}
	}
	return out
}

// WaitServing waits (up to 30 s) until one running member leads and every
// other running member follows or observes; it returns the leader.
func (e *Ensemble) WaitServing() int64 {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		modes := e.Modes()
		var leaders []int64
		others := 0
		for id, m := range modes {
			switch m {
			case "leader":
				leaders = append(leaders, id)
			case "follower", "observer":
				others++
			}
		}
		if len(leaders) == 1 && others == len(e.Running())-1 {
			return leaders[0]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("ensemble not serving after 30s: modes %v", modes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Followers returns the running members that are not the leader.
func (e *Ensemble) Followers(leader int64) []int64 {
	return slices.DeleteFunc(e.Running(), func(id int64) bool { return id == leader })
}
