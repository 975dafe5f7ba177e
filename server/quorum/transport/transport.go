// Package transport runs ZooKeeper's fast leader election over real TCP
// connections, the way Apache ZooKeeper 3.8's QuorumCnxManager does, so that
// zkd peers and unmodified ZooKeeper servers can elect a leader together.
//
// All protocol decisions stay in package election, a deterministic state
// machine; this package is only the edge around it:
//
//   - a listener on this server's election address and a dialler for every
//     other server, exchanging the election Handshake;
//   - the duplicate-connection rule of QuorumCnxManager: only a connection
//     initiated by the larger sid survives, so a smaller sid that dials just
//     announces itself and the receiver dials back;
//   - a per-peer send slot of capacity one in which the newest notification
//     replaces an unsent one (a stale vote is worthless once a newer exists),
//     and a re-send of the last notification whenever a new connection to the
//     peer comes up, because the previous one may have died with it in flight;
//   - one goroutine that owns the election.Election, feeding it received
//     notifications and ticks and sending what it returns.
//
// The owner goroutine lives as long as the Manager, not just for one
// RunElection call: once a peer has decided, ZooKeeper still answers LOOKING
// peers with the leader it follows, which is how a server started late
// learns the leader of an established ensemble.
package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/dskit/backoff"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/quorum/election"
	"github.com/zkd-io/zkd/server/quorum/wire"
)

// Defaults for Config.
const (
	// DefaultConnectTimeout is QuorumCnxManager's cnxTimeout (5 s): it
	// bounds a dial, a handshake, and one frame write.
	DefaultConnectTimeout = 5 * time.Second
	// inboxCapacity is QuorumCnxManager.RECV_CAPACITY: when the election
	// falls behind, the oldest received notifications are dropped.
	inboxCapacity = 100
	// dialBackWait is how long a smaller-sid peer that has announced itself
	// waits for the larger peer to dial back before announcing itself
	// again; without it every queued notification would tear down the
	// connection the larger peer is establishing.
	dialBackWait = time.Second
)

// DefaultDialBackoff bounds the attempts to reach one peer. After the last
// attempt the peer is left alone until there is something to send to it
// again; the election re-sends its vote periodically, so an unreachable peer
// is retried at the election's pace.
var DefaultDialBackoff = backoff.Config{
	MinBackoff: 50 * time.Millisecond,
	MaxBackoff: time.Second,
	MaxRetries: 8,
}

// ErrClosed is returned by RunElection once the Manager is closed.
var ErrClosed = errors.New("election transport closed")

// ErrElectionRunning is returned by RunElection when another call is
// already running an election on the same Manager.
var ErrElectionRunning = errors.New("an election is already running")

// Config configures a Manager.
type Config struct {
	// ID is this server's sid (myid); it must be a member of Quorum.
	ID int64
	// Quorum lists the ensemble. Every member's first address gives its
	// election address; this server listens on its own. Its text (String)
	// is carried in every notification, as ZooKeeper does.
	Quorum wire.QuorumConfig
	// Logger receives connection events; the zero value logs nothing.
	Logger zerolog.Logger
	// Registerer receives the metrics; nil means none are registered.
	Registerer prometheus.Registerer
	// ConnectTimeout bounds a dial, a handshake and a frame write; 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// DialBackoff paces and bounds dial attempts to one peer; the zero
	// value means DefaultDialBackoff. MaxRetries must be positive: an
	// unbounded dial loop would outlive its reason.
	DialBackoff backoff.Config
	// Tick is the election's unit of time; 0 means election.DefaultTick,
	// for which the election's default timeouts match ZooKeeper's.
	Tick time.Duration
}

// Manager connects this server to the other members of the ensemble and runs
// leader elections over those connections. It is safe for concurrent use.
type Manager struct {
	cfg        Config
	id         int64
	selfAddr   string   // election address sent in handshakes
	dialFrom   net.Addr // local address of outgoing connections; nil: any
	configText []byte   // Quorum.String(), sent in every notification
	log        zerolog.Logger
	metrics    *metrics

	peers map[int64]*peer // every other member; fixed after New
	ln    net.Listener

	ctx    context.Context // cancelled by Close: stops dials
	cancel context.CancelFunc

	// Owner goroutine (loop) inputs and its exit signal.
	el       *election.Election // touched only by loop
	inbox    chan inbound
	runs     chan *runRequest
	epochs   chan int64 // UpdateElectionVote to loop
	loopDone chan struct{}

	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
}

type inbound struct {
	from int64
	n    election.Notification
}

type runRequest struct {
	ctx             context.Context
	lastZxid, epoch int64
	result          chan runResult // capacity 1: loop never blocks on it
	startedAt       time.Time
}

type runResult struct {
	leader int64
	state  election.State
	err    error
}

// New validates cfg, starts listening on this server's election address and
// starts connecting to the other members. Call Close to stop it.
func New(cfg Config) (*Manager, error) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.DialBackoff == (backoff.Config{}) {
		cfg.DialBackoff = DefaultDialBackoff
	}
	if cfg.Tick == 0 {
		cfg.Tick = election.DefaultTick
	}
	elCfg, self, err := electionConfig(cfg)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:        cfg,
		id:         cfg.ID,
		selfAddr:   electionAddr(self),
		dialFrom:   self.DialSource(),
		configText: []byte(cfg.Quorum.String()),
		log:        cfg.Logger.With().Int64("sid", cfg.ID).Logger(),
		peers:      make(map[int64]*peer, len(cfg.Quorum.Servers)-1),
		el:         election.New(elCfg, 0, 0),
		inbox:      make(chan inbound, inboxCapacity),
		runs:       make(chan *runRequest),
		epochs:     make(chan int64, 1),
		loopDone:   make(chan struct{}),
	}
	for _, s := range cfg.Quorum.Servers {
		if s.ID != cfg.ID {
			m.peers[s.ID] = &peer{sid: s.ID, addr: electionAddr(s)}
		}
	}
	m.metrics, err = newMetrics(cfg.Registerer, m.connectedCount)
	if err != nil {
		return nil, err
	}
	m.ln, err = net.Listen("tcp", m.selfAddr)
	if err != nil {
		m.metrics.unregister()
		return nil, fmt.Errorf("listen on election address %s: %w", m.selfAddr, err)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.log.Info().Str("addr", m.ln.Addr().String()).Msg("election transport listening")

	m.wg.Add(2)
	go m.acceptLoop()
	go m.loop()
	for _, p := range m.peers {
		m.connect(p)
	}
	return m, nil
}

// electionConfig checks cfg and derives the election's configuration and
// this server's own quorum entry.
func electionConfig(cfg Config) (election.Config, wire.QuorumServer, error) {
	var (
		ec   = election.Config{ID: cfg.ID, ConfigVersion: cfg.Quorum.Version}
		self wire.QuorumServer
		seen bool
	)
	if cfg.ConnectTimeout < 0 {
		return ec, self, fmt.Errorf("connect timeout %v: must not be negative", cfg.ConnectTimeout)
	}
	if cfg.Tick < 0 {
		return ec, self, fmt.Errorf("tick %v: must not be negative", cfg.Tick)
	}
	if b := cfg.DialBackoff; b.MaxRetries <= 0 || b.MinBackoff <= 0 || b.MaxBackoff < b.MinBackoff {
		return ec, self, fmt.Errorf("dial backoff %+v: need MaxRetries > 0 and 0 < MinBackoff <= MaxBackoff", b)
	}
	for _, s := range cfg.Quorum.Servers {
		if len(s.Addrs) == 0 || s.Addrs[0].ElectionPort <= 0 || s.Addrs[0].ElectionPort > 65535 {
			return ec, self, fmt.Errorf("server.%d: no valid election address", s.ID)
		}
		switch s.Type {
		case wire.Participant:
			ec.Voters = append(ec.Voters, s.ID)
		case wire.Observer:
			ec.Observers = append(ec.Observers, s.ID)
		default:
			return ec, self, fmt.Errorf("server.%d: unknown learner type %v", s.ID, s.Type)
		}
		if s.ID == cfg.ID {
			self, seen = s, true
		}
	}
	if !seen {
		return ec, self, fmt.Errorf("server id %d is not a member of the quorum config", cfg.ID)
	}
	if err := ec.Validate(); err != nil {
		return ec, self, err
	}
	return ec, self, nil
}

func electionAddr(s wire.QuorumServer) string {
	return net.JoinHostPort(s.Addrs[0].Host, strconv.Itoa(s.Addrs[0].ElectionPort))
}

// Addr returns the address the election listener is bound to.
func (m *Manager) Addr() net.Addr { return m.ln.Addr() }

// Close stops listening, closes every connection, ends a running election
// with ErrClosed and waits for all of the Manager's goroutines to exit.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()

	m.cancel()
	err := m.ln.Close()
	for _, p := range m.peers {
		p.mu.Lock()
		c := p.conn
		p.conn = nil
		p.mu.Unlock()
		if c != nil {
			c.close()
		}
	}
	m.wg.Wait()
	m.metrics.unregister()
	m.log.Info().Msg("election transport closed")
	if err != nil {
		return fmt.Errorf("close election listener: %w", err)
	}
	return nil
}

// goTracked starts f on a goroutine that Close waits for, unless the
// Manager is already closed.
func (m *Manager) goTracked(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

// RunElection runs one round of leader election with this server's last
// logged zxid and current epoch, and returns the elected leader and this
// server's resulting state (LEADING, FOLLOWING or OBSERVING) once the election
// has decided. If ctx ends first it returns the current proposal, LOOKING
// and ctx's error; the election then stays LOOKING until the next call.
// Only one call may run at a time.
func (m *Manager) RunElection(ctx context.Context, lastZxid, currentEpoch int64) (leader int64, state election.State, err error) {
	req := &runRequest{ctx: ctx, lastZxid: lastZxid, epoch: currentEpoch, result: make(chan runResult, 1)}
	select {
	case m.runs <- req:
	case <-ctx.Done():
		return -1, election.Looking, fmt.Errorf("start election: %w", ctx.Err())
	case <-m.loopDone:
		return -1, election.Looking, ErrClosed
	}
	var res runResult
	select {
	case res = <-req.result:
	case <-m.loopDone:
		// The loop answers a running election before it exits.
		select {
		case res = <-req.result:
		default:
			res = runResult{leader: -1, state: election.Looking, err: ErrClosed}
		}
	}
	return res.leader, res.state, res.err
}

// loop is the only goroutine that touches m.el. Between elections it keeps
// handling notifications, so a decided server answers LOOKING peers with
// the leader it follows, as ZooKeeper's WorkerReceiver does.
func (m *Manager) loop() {
	defer m.wg.Done()
	defer close(m.loopDone)
	var (
		run     *runRequest
		ticker  *time.Ticker
		tickC   <-chan time.Time
		cancelC <-chan struct{}
	)
	finish := func(res runResult) {
		run.result <- res
		run, tickC, cancelC = nil, nil, nil
		ticker.Stop()
	}
	for {
		select {
		case <-m.ctx.Done():
			if run != nil {
				finish(runResult{leader: -1, state: election.Looking, err: ErrClosed})
			}
			return
		case req := <-m.runs:
			if run != nil {
				req.result <- runResult{leader: -1, state: election.Looking, err: ErrElectionRunning}
				continue
			}
			run = req
			run.startedAt = time.Now()
			ticker = time.NewTicker(m.cfg.Tick)
			tickC, cancelC = ticker.C, req.ctx.Done()
			m.metrics.rounds.Inc()
			m.metrics.state.Set(float64(election.Looking))
			m.el.SetLastLogged(req.lastZxid, req.epoch)
			m.send(m.el.Start())
			m.log.Info().Int64("round", m.el.Round()).Str("last_zxid", fmt.Sprintf("0x%x", req.lastZxid)).
				Int64("epoch", req.epoch).Msg("election started")
		case in := <-m.inbox:
			m.send(m.el.Step(in.from, in.n))
		case ep := <-m.epochs:
			m.el.UpdateEpoch(ep)
		case <-tickC:
			m.send(m.el.Tick())
		case <-cancelC:
			leader, _, _ := m.el.Result()
			finish(runResult{leader: leader, state: election.Looking, err: fmt.Errorf("election round %d: %w", m.el.Round(), run.ctx.Err())})
		}
		if run == nil {
			continue
		}
		if leader, st, ok := m.el.Result(); ok {
			took := time.Since(run.startedAt)
			m.metrics.duration.Observe(took.Seconds())
			m.metrics.state.Set(float64(st))
			m.metrics.last.SetToCurrentTime()
			m.log.Info().Int64("leader", leader).Stringer("state", st).Int64("round", m.el.Round()).
				Dur("took", took).Msg("election decided")
			finish(runResult{leader: leader, state: st})
		}
	}
}

// deliver queues a received notification for the owner loop. Like
// QuorumCnxManager.addToRecvQueue it never blocks: when the queue is full the
// oldest notification is dropped, since a newer one from the same peer
// supersedes it anyway.
func (m *Manager) deliver(in inbound) {
	for {
		select {
		case m.inbox <- in:
			return
		default:
		}
		select {
		case <-m.inbox:
			m.log.Warn().Int64("peer", in.from).Msg("election receive queue full; dropped the oldest notification")
		default:
		}
	}
}

// send hands the election's messages to the peers' send slots.
func (m *Manager) send(msgs []election.Message) {
	for _, msg := range msgs {
		p := m.peers[msg.To]
		if p == nil {
			m.log.Debug().Int64("peer", msg.To).Msg("no such member; notification dropped")
			continue
		}
		wn := toWire(msg.N, m.configText)
		m.enqueue(p, wn.Encode())
	}
}

// UpdateElectionVote makes the decided vote this server answers LOOKING
// peers with carry epoch, the epoch its role established (see
// election.Election.UpdateEpoch). Call it once the epoch is established;
// it does not block.
func (m *Manager) UpdateElectionVote(epoch int64) {
	for {
		select {
		case m.epochs <- epoch:
			return
		default:
		}
		select { // replace a pending older epoch
		case <-m.epochs:
		default:
		}
	}
}

// ConnectedPeers returns the sids of the peers this server currently has an
// election connection to, in ascending order.
func (m *Manager) ConnectedPeers() []int64 {
	var ids []int64
	for sid, p := range m.peers {
		p.mu.Lock()
		if p.conn != nil {
			ids = append(ids, sid)
		}
		p.mu.Unlock()
	}
	slices.Sort(ids)
	return ids
}

func (m *Manager) connectedCount() float64 { return float64(len(m.ConnectedPeers())) }
