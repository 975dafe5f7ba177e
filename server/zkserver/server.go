// Package zkserver is zkd's client-facing ZooKeeper server: it accepts
// client connections, runs the ZooKeeper 3.8 client protocol over them,
// manages sessions and answers reads from the in-memory data tree, and sends
// writes through an ordered write pipeline (prep, commit, apply).
//
// Ordering is the heart of it. Each connection's requests are handled in
// the order they arrive; writes from all connections are serialised by the
// pipeline; a read waits for the same connection's earlier writes; and
// replies and watch notifications are queued while the tree lock is held, so
// the guarantees ZooKeeper clients rely on (FIFO replies per client, watch
// event before the data that triggered it) follow from the structure.
package zkserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/zkd-io/zkd/server/auth"
	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/fourlw"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/prep"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/quorum/peer"
	"github.com/zkd-io/zkd/server/session"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/sockio"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/watch"
)

// ZooKeeperVersion is the Apache ZooKeeper release whose client protocol
// zkd implements. The version string srvr, stat and envi print starts with
// it, because clients parse it (kazoo's server_version, for one).
const ZooKeeperVersion = "3.8.4"

// Options configure a Server. Zero values take ZooKeeper's defaults where
// ZooKeeper has one.
type Options struct {
	// ListenAddr is the client address, e.g. "127.0.0.1:2181".
	ListenAddr string
	// ServerID is myid (0 in standalone mode); it forms the top byte of
	// session ids.
	ServerID int64
	// TickTime is ZooKeeper's tick; sessions expire in tick buckets.
	TickTime time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound negotiated timeouts
	// (defaults 2 and 20 ticks).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxClientCnxns limits connections per client IP (0: unlimited).
	MaxClientCnxns int
	// MaxBuffer is jute.maxbuffer: the largest frame accepted.
	MaxBuffer int
	// GlobalOutstandingLimit is ZooKeeper's globalOutstandingLimit: with
	// this many writes in the pipeline, clients' further writes wait
	// (default 1000).
	GlobalOutstandingLimit int
	// RequestThrottle is ZooKeeper's RequestThrottler
	// (request_throttle_max_requests and friends; zero: off).
	RequestThrottle RequestThrottleOptions
	// ConnectionThrottle is ZooKeeper's BlueThrottle
	// (connection_throttle_tokens and friends; zero: off).
	ConnectionThrottle ConnectionThrottleOptions
	// ExtendedTypes enables TTL nodes (zookeeper.extendedTypesEnabled).
	ExtendedTypes bool
	// SuperDigest is "super:<base64 sha1>" to enable the super user.
	SuperDigest string
	// FourLetterAllowed reports whether a four-letter word is whitelisted.
	FourLetterAllowed func(cmd string) bool
	// ContainerCheckInterval is how often empty containers and expired TTL
	// nodes are looked for (znode.container.checkIntervalMs, default 60 s).
	ContainerCheckInterval time.Duration
	// ContainerMaxPerMinute bounds reaping deletes (default 10000).
	ContainerMaxPerMinute int
	// Version is printed by srvr/stat.
	Version string
	// Logger receives structured logs; Registerer the metrics (nil: none).
	Logger     zerolog.Logger
	Registerer prometheus.Registerer
	// Conf renders the effective configuration for the conf command.
	Conf func() []string
	// Dirs reports data and log directory sizes for the dirs command.
	Dirs func() (dataBytes, logBytes int64)
	// Store makes the server durable: New restores the tree and sessions
	// from it, and every write is logged and fsynced before it is applied.
	// nil keeps everything in memory.
	Store *storage.Store
	// SnapRetainCount and PurgeInterval are autopurge: every interval keep
	// the newest SnapRetainCount snapshots and the logs they need (0: off).
	SnapRetainCount int
	PurgeInterval   time.Duration
	// Tracer receives one span per client request (see tracing.go);
	// nil turns tracing off at the cost of a nil check per request.
	Tracer trace.Tracer
	// Peer makes the server an ensemble member (see quorum.go): the tree
	// and sessions are the peer's, writes are replicated through it, and
	// clients are served only while it is in broadcast. Store must be nil
	// (the peer owns the data directory); New sets the peer's hooks, so
	// call the peer's Run after New.
	Peer *peer.Peer
}

func (o *Options) setDefaults() {
	if o.TickTime <= 0 {
		o.TickTime = 3 * time.Second
	}
	if o.MinSessionTimeout <= 0 {
		o.MinSessionTimeout = 2 * o.TickTime
	}
	if o.MaxSessionTimeout <= 0 {
		o.MaxSessionTimeout = 20 * o.TickTime
	}
	if o.MaxBuffer <= 0 {
		o.MaxBuffer = jute.DefaultMaxBuffer
	}
	if o.GlobalOutstandingLimit <= 0 {
		o.GlobalOutstandingLimit = 1000
	}
	if o.FourLetterAllowed == nil {
		o.FourLetterAllowed = func(cmd string) bool { return cmd == "srvr" }
	}
	if o.ContainerCheckInterval <= 0 {
		o.ContainerCheckInterval = time.Minute
	}
	if o.ContainerMaxPerMinute <= 0 {
		o.ContainerMaxPerMinute = 10000
	}
	if o.Version == "" {
		o.Version = ZooKeeperVersion + "-zkd, built on unknown"
	}
}

// Server is a standalone ZooKeeper-compatible server.
type Server struct {
	services.Service

	opts    Options
	log     zerolog.Logger
	metrics *Metrics
	stats   serverStats

	tree        *datatree.Tree
	store       *storage.Store
	prepper     *prep.Prepper
	authMetrics *auth.Metrics

	sessions *session.Tracker

	reqThrottle    *requestThrottler
	connThrottle   *blueThrottle
	connRefusedLog *logLimiter // at most one line a second for refused connections

	writes     chan *writeReq
	inPipeline atomic.Int64 // requests submitted and not yet answered
	pipeDone   chan struct{}
	submitMu   sync.RWMutex
	pipeClosed bool

	ln     net.Listener
	connMu sync.Mutex
	conns  map[*conn]struct{}
	bySess map[int64]*conn
	// served holds the sessions that have had a connection to this
	// server since it started (a re-attach of any other moved here).
	served   map[int64]struct{}
	perIP    map[string]int
	nextConn atomic.Uint64

	frames framePool // reply and notification buffers

	started   time.Time
	traceMask *fourlw.TraceMask
	tracing   *tracing // nil: tracing off

	q *quorumState // nil: standalone
}

// TreeOptions are the options of a server's data tree, with its metrics
// and its watch managers' registered with reg, and slow applies logged to
// log. New makes them itself; an ensemble member's peer builds the tree,
// so cmd/zkd makes them for it.
func TreeOptions(reg prometheus.Registerer, extendedTypes bool, log zerolog.Logger) (datatree.Options, error) {
	treeMetrics, err := datatree.NewMetrics(reg)
	if err != nil {
		return datatree.Options{}, fmt.Errorf("tree metrics: %w", err)
	}
	if treeMetrics != nil {
		treeMetrics.SlowApply = func(zxid int64, typ int32, d time.Duration) {
			log.Warn().Str("zxid", hex(zxid)).Str("type", proto.OpName(typ)).Dur("took", d).
				Msg("slow txn apply: readers waited behind it")
		}
	}
	watchMetrics, err := watch.NewMetrics(reg)
	if err != nil {
		return datatree.Options{}, fmt.Errorf("watch metrics: %w", err)
	}
	return datatree.Options{
		DisableExtendedTypes: !extendedTypes,
		Metrics:              treeMetrics,
		WatchMetrics:         watchMetrics,
	}, nil
}

// New builds a server over a fresh data tree. Every component registers
// its metrics with opts.Registerer.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if opts.MinSessionTimeout > opts.MaxSessionTimeout {
		return nil, fmt.Errorf("minSessionTimeout %v is above maxSessionTimeout %v", opts.MinSessionTimeout, opts.MaxSessionTimeout)
	}
	if err := opts.RequestThrottle.validate(); err != nil {
		return nil, err
	}
	throttleWarnings, err := opts.ConnectionThrottle.normalize()
	if err != nil {
		return nil, err
	}
	for _, w := range throttleWarnings {
		opts.Logger.Warn().Msg("connection throttle: " + w)
	}
	reg := opts.Registerer
	sessionMetrics, err := session.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("session metrics: %w", err)
	}
	prepMetrics, err := prep.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("prep metrics: %w", err)
	}
	authMetrics, err := auth.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("auth metrics: %w", err)
	}
	var tree *datatree.Tree
	var restored *storage.Restored
	if opts.Peer != nil {
		if opts.Store != nil {
			return nil, errors.New("an ensemble member's storage is its peer's: Store must be nil")
		}
		if err := opts.Peer.Restore(); err != nil {
			return nil, err
		}
		tree = opts.Peer.Tree()
		restored = &storage.Restored{Tree: tree}
		for id, to := range opts.Peer.Sessions() {
			restored.Sessions = append(restored.Sessions, snapshot.Session{ID: id, TimeoutMs: to})
		}
		tree.Lock()
		tree.SetConfigData(opts.Peer.ConfigData())
		tree.Unlock()
	} else if opts.Store != nil {
		treeOpts, err := TreeOptions(reg, opts.ExtendedTypes, opts.Logger)
		if err != nil {
			return nil, err
		}
		if restored, err = opts.Store.Restore(treeOpts); err != nil {
			return nil, err
		}
		tree = restored.Tree
	} else {
		treeOpts, err := TreeOptions(reg, opts.ExtendedTypes, opts.Logger)
		if err != nil {
			return nil, err
		}
		tree = datatree.NewWithOptions(treeOpts)
	}
	now := time.Now()
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		metrics:     NewMetrics(reg),
		tree:        tree,
		store:       opts.Store,
		authMetrics: authMetrics,
		sessions: session.NewTracker(opts.ServerID, opts.TickTime, now,
			session.WithMetrics(sessionMetrics)),
		writes:    make(chan *writeReq, 4096),
		pipeDone:  make(chan struct{}),
		conns:     map[*conn]struct{}{},
		bySess:    map[int64]*conn{},
		served:    map[int64]struct{}{},
		perIP:     map[string]int{},
		started:   now,
		traceMask: fourlw.NewTraceMask(),
		tracing:   newTracing(opts.Tracer),
	}
	s.stats.reset()
	s.reqThrottle = newRequestThrottler(opts.RequestThrottle, systemClock{}, s.metrics, &s.stats, s.log)
	s.connThrottle = newBlueThrottle(opts.ConnectionThrottle)
	s.connRefusedLog = newLogLimiter(time.Second, opts.ConnectionThrottle.Now)
	if s.connThrottle.enabled() {
		s.metrics.ConnThrottleTokens.Set(float64(s.connThrottle.maxTokens))
		s.log.Info().Int64("tokens", s.connThrottle.maxTokens).Dur("fill_time", opts.ConnectionThrottle.FillTime).
			Int64("fill_count", s.connThrottle.fillCount).Bool("blue", s.connThrottle.blue).
			Bool("weighted", s.connThrottle.weighted).Msg("connection throttle on")
	}
	if opts.RequestThrottle.MaxRequests > 0 {
		s.log.Info().Int("max_requests", opts.RequestThrottle.MaxRequests).Dur("stall_time", opts.RequestThrottle.StallTime).
			Bool("drop_stale", !opts.RequestThrottle.KeepStale).Msg("request throttle on")
	}
	if restored != nil {
		// Restored sessions live on until their clients reconnect or they
		// expire, as after a ZooKeeper restart.
		for _, ss := range restored.Sessions {
			if _, err := s.sessions.Add(ss.ID, time.Duration(ss.TimeoutMs)*time.Millisecond, now); err != nil {
				s.log.Warn().Err(err).Str("session", hex(ss.ID)).Msg("cannot restore session")
			}
		}
		s.metrics.LastZxid.Set(float64(tree.LastProcessedZxid()))
	}
	if opts.Peer != nil {
		s.q = newQuorumState(opts.Peer, opts.ServerID)
		s.metrics.QuorumServing.Set(0)
		opts.Peer.SetHooks(s.peerHooks())
	}
	s.prepper = prep.New(tree, prep.Options{
		ExtendedTypes: opts.ExtendedTypes,
		MaxDataBytes:  opts.MaxBuffer,
		Sessions:      sessionChecker{s},
		Metrics:       prepMetrics,
	})
	s.Service = services.NewBasicService(s.starting, s.running, s.stopping)
	return s, nil
}

// Tree returns the server's data tree.
func (s *Server) Tree() *datatree.Tree { return s.tree }

// Addr returns the client listener's address once the server is running.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) starting(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.ListenAddr)
	if err != nil {
		return fmt.Errorf("client port: %w", err)
	}
	s.ln = ln
	s.log.Info().Str("addr", ln.Addr().String()).Msg("serving ZooKeeper clients")
	if s.q != nil {
		go s.quorumPipeline()
	} else {
		go s.pipeline()
	}
	return nil
}

func (s *Server) running(ctx context.Context) error {
	go s.tickLoop(ctx)
	errc := make(chan error, 1)
	go func() { errc <- s.acceptLoop() }()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

func (s *Server) stopping(_ error) error {
	if s.ln != nil {
		s.ln.Close()
	}
	s.connMu.Lock()
	for c := range s.conns {
		c.close("shutdown")
	}
	s.connMu.Unlock()
	s.submitMu.Lock()
	s.pipeClosed = true
	close(s.writes)
	s.submitMu.Unlock()
	<-s.pipeDone
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			return fmt.Errorf("close txn log: %w", err)
		}
	}
	return nil
}

func (s *Server) acceptLoop() error {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.metrics.ConnsAccepted.Inc()
		c := newConn(s, nc, s.nextConn.Add(1))
		if !s.register(c) {
			s.metrics.ConnsRejected.WithLabelValues("max_client_cnxns").Inc()
			s.stats.connectionRejected.Add(1)
			s.log.Warn().Str("remote", c.remote).Int("max", s.opts.MaxClientCnxns).
				Msg("too many connections from this address; closing")
			nc.Close()
			continue
		}
		go c.writeLoop()
		go s.serveConn(c)
	}
}

func (s *Server) register(c *conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.opts.MaxClientCnxns > 0 && s.perIP[c.remoteIP] >= s.opts.MaxClientCnxns {
		return false
	}
	s.perIP[c.remoteIP]++
	s.conns[c] = struct{}{}
	s.metrics.Connections.Inc()
	return true
}

func (s *Server) unregister(c *conn) {
	s.connMu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.perIP[c.remoteIP]--
		if s.perIP[c.remoteIP] <= 0 {
			delete(s.perIP, c.remoteIP)
		}
		s.metrics.Connections.Dec()
	}
	if sid := c.sessionID.Load(); sid != 0 && s.bySess[sid] == c {
		delete(s.bySess, sid)
	}
	s.connMu.Unlock()
	s.tree.RemoveWatcher(c)
}

// serveConn is a connection's reader: handshake, then requests in order.
func (s *Server) serveConn(c *conn) {
	r := bufio.NewReaderSize(sockio.New(c.nc), 64<<10)
	defer func() {
		// A connection closing after a last reply (UNIMPLEMENTED, auth
		// failure, closeSession) is closed by its writer once that reply
		// is flushed. Stop acting on input but keep reading it until the
		// client closes or a deadline passes, so the close sends no reset.
		c.outMu.Lock()
		flushing := c.outClosing
		c.outMu.Unlock()
		if flushing {
			_ = c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, _ = io.Copy(io.Discard, r)
		}
		close(c.readerDone)
		// Unregister before the socket closes: a client that saw EOF and
		// asks again (cons, mntr) must not still count this connection.
		s.unregister(c)
		c.close("client")
		c.outMu.Lock()
		why := c.closeWhy
		c.outMu.Unlock()
		s.metrics.ConnsClosed.WithLabelValues(why).Inc()
		s.log.Debug().Str("remote", c.remote).Str("session", hex(c.sessionID.Load())).Str("reason", why).Msg("connection closed")
	}()

	// The first four bytes are either a frame length or a four-letter word.
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return
	}
	n := int32(binary.BigEndian.Uint32(lb[:]))
	if cmd := string(lb[:]); isFourLetterWord(cmd) {
		s.fourLetter(c, r, cmd)
		return
	}
	buf, err := c.readBody(r, n, nil)
	if err != nil {
		reason := "len_error"
		if isTruncated(err) {
			reason = "truncated"
		}
		s.badInput(c, reason, err)
		return
	}
	if !s.handshake(c, r, buf) {
		return
	}
	for {
		buf, err = c.readFrame(r, buf)
		if err != nil {
			if errors.Is(err, errFrameLength) {
				s.badInput(c, "len_error", err)
			} else if isTruncated(err) {
				s.badInput(c, "truncated", err)
			}
			return
		}
		if !s.serveRequest(c, r, buf) {
			return
		}
	}
}

func (s *Server) badInput(c *conn, reason string, err error) {
	s.metrics.BadInput.WithLabelValues(reason).Inc()
	s.log.Warn().Str("remote", c.remote).Str("session", hex(c.sessionID.Load())).Str("reason", reason).Err(err).
		Msg("bad client input; closing connection")
	c.outMu.Lock()
	if c.closeWhy == "" {
		c.closeWhy = "bad_input"
	}
	c.outMu.Unlock()
}

// handshake processes the ConnectRequest (ZooKeeperServer.processConnectRequest).
func (s *Server) handshake(c *conn, r *bufio.Reader, buf []byte) bool {
	var req proto.ConnectRequest
	if err := proto.UnmarshalPrefix(buf, s.opts.MaxBuffer, &req); err != nil {
		s.badInput(c, "bad_connect", fmt.Errorf("connect request: %w", err))
		return false
	}
	c.hasReadOnly = req.HasReadOnly
	if !s.serving() {
		// ZooKeeper closes a connection whose server is not running
		// (an ensemble member between leaders); the client tries the next.
		s.metrics.ConnsRejected.WithLabelValues("not_serving").Inc()
		s.log.Debug().Str("remote", c.remote).Msg("refusing session: this member is not serving (no established leader)")
		return false
	}
	if !s.throttleConnect(c, req.SessionID) {
		return false
	}
	last := s.lastZxid()
	if req.LastZxidSeen > last {
		s.metrics.ConnsRejected.WithLabelValues("zxid_ahead").Inc()
		s.log.Info().Str("remote", c.remote).Str("session", hex(req.SessionID)).
			Str("client_zxid", hex(req.LastZxidSeen)).Str("our_zxid", hex(last)).
			Msg("refusing session: client has seen a zxid this server does not have; it must try another server")
		return false
	}
	timeout := s.negotiate(time.Duration(req.TimeOut) * time.Millisecond)
	c.timeoutMs.Store(int32(timeout / time.Millisecond))
	if req.SessionID == 0 {
		// createSession is a request like any other to the request
		// throttler; its slot goes to the pipeline with it (submit).
		if adm := s.admitRequest(c, r, proto.OpCreateSession, time.Now()); adm.dropped {
			s.dropStale(c)
			return false
		}
		c.slot = true
		id := s.sessions.NextID()
		if err := s.sessions.Create(id, timeout, time.Now()); err != nil {
			s.releaseSlot(c)
			s.log.Error().Err(err).Str("session", hex(id)).Msg("cannot create session")
			return false
		}
		c.sessionID.Store(id)
		s.bindSession(c, id)
		s.submit(&writeReq{
			conn: c, start: time.Now(),
			xid: 0, req: prep.Request{SessionID: id, Op: proto.OpCreateSession,
				Body: &proto.CreateSessionTxn{TimeOut: int32(timeout / time.Millisecond)}},
		})
		return true
	}
	// Re-attach. ZooKeeper 3.8 closes the session's current connection
	// before it checks the password (processConnectRequest calls
	// closeSession(CLIENT_RECONNECT) first); clients depend only on the
	// outcome for themselves, and matching it keeps behaviour identical.
	s.connMu.Lock()
	prev := s.bySess[req.SessionID]
	s.connMu.Unlock()
	if prev != nil {
		prev.close("reconnect")
	}
	// The password must be the one this session was given.
	if !session.CheckPassword(req.SessionID, req.Passwd) {
		s.metrics.ConnsRejected.WithLabelValues("bad_password").Inc()
		s.log.Info().Str("remote", c.remote).Str("session", hex(req.SessionID)).
			Msg("refusing session re-attach: wrong password")
		s.invalidSession(c)
		return false
	}
	ok := s.sessions.Touch(req.SessionID, time.Now())
	if s.q != nil && !s.leading() {
		// Sessions are global and the leader owns them: like ZooKeeper's
		// learners (Learner.validateSession), ask it (REVALIDATE). Its
		// answer also covers a session this server still holds but the
		// leader already expired.
		valid, err := s.revalidate(req.SessionID, timeout)
		if err != nil {
			s.metrics.ConnsRejected.WithLabelValues("revalidation_failed").Inc()
			s.log.Warn().Err(err).Str("remote", c.remote).Str("session", hex(req.SessionID)).
				Msg("refusing session re-attach: the leader did not answer REVALIDATE")
			c.close("revalidation_failed")
			return false
		}
		if valid && !ok {
			// Created through another server, its createSession commit
			// still on its way here: wait for it (bounded), so this
			// server knows the session it serves.
			s.awaitSession(req.SessionID, 2*s.opts.TickTime)
		}
		ok = valid
	}
	if !ok {
		s.metrics.ConnsRejected.WithLabelValues("session_expired").Inc()
		s.log.Info().Str("remote", c.remote).Str("session", hex(req.SessionID)).
			Msg("refusing session re-attach: session expired")
		s.invalidSession(c)
		return false
	}
	s.connMu.Lock()
	_, here := s.served[req.SessionID]
	s.connMu.Unlock()
	where := "moved"
	if here {
		where = "same_server"
	}
	s.metrics.SessionsReattached.WithLabelValues(where).Inc()
	c.sessionID.Store(req.SessionID)
	s.bindSession(c, req.SessionID)
	c.established.Store(true)
	s.sendConnectResponse(c, req.SessionID, int32(timeout/time.Millisecond))
	s.log.Info().Str("remote", c.remote).Str("session", hex(req.SessionID)).
		Dur("timeout", timeout).Msg("session re-attached")
	return true
}

// revalidate asks the leader whether a session is valid (a learner's
// REVALIDATE), bounded by a few ticks: a leader that cannot answer that
// fast is about to lose its followers anyway.
func (s *Server) revalidate(id int64, timeout time.Duration) (bool, error) {
	q := s.q
	q.mu.Lock()
	term := q.term()
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), max(3*s.opts.TickTime, time.Second))
	defer cancel()
	return q.peer.Revalidate(ctx, term, id, timeout)
}

// awaitSession polls (bounded by d) for a session to appear and touches it.
func (s *Server) awaitSession(id int64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		if s.sessions.Touch(id, time.Now()) {
			return true
		}
	}
	return false
}

// bindSession makes c the connection of session id, closing any earlier
// connection of the same session (the client moved to a new socket).
func (s *Server) bindSession(c *conn, id int64) {
	s.connMu.Lock()
	prev := s.bySess[id]
	s.bySess[id] = c
	s.served[id] = struct{}{}
	s.connMu.Unlock()
	if prev != nil && prev != c {
		prev.close("reconnect")
	}
}

func (s *Server) invalidSession(c *conn) {
	resp := proto.ConnectResponse{Passwd: make([]byte, 16), HasReadOnly: c.hasReadOnly}
	e := s.frames.get()
	resp.Encode(e)
	c.send(e)
	c.closeAfterFlush("session_expired")
}

func (s *Server) sendConnectResponse(c *conn, id int64, timeoutMs int32) {
	resp := proto.ConnectResponse{
		TimeOut:     timeoutMs,
		SessionID:   id,
		Passwd:      session.Password(id),
		HasReadOnly: c.hasReadOnly,
	}
	e := s.frames.get()
	resp.Encode(e)
	c.send(e)
}

func (s *Server) negotiate(requested time.Duration) time.Duration {
	return session.NegotiateTimeout(requested, s.opts.MinSessionTimeout, s.opts.MaxSessionTimeout)
}

func (s *Server) lastZxid() int64 {
	s.tree.RLock()
	defer s.tree.RUnlock()
	return s.tree.LastProcessedZxid()
}

// tickLoop expires sessions and reaps containers and TTL nodes.
func (s *Server) tickLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.TickTime / 2)
	defer t.Stop()
	nextReap := time.Now().Add(s.opts.ContainerCheckInterval)
	purging := s.store != nil && s.opts.PurgeInterval > 0
	nextPurge := time.Now() // ZooKeeper's first purge runs at start-up
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if !s.leading() {
				// Learners neither expire sessions nor reap nodes: the
				// leader does, through txns.
				nextReap = now.Add(s.opts.ContainerCheckInterval)
				continue
			}
			s.expireSessions(now)
			if !now.Before(nextReap) {
				s.reap(now)
				nextReap = now.Add(s.opts.ContainerCheckInterval)
			}
			if purging && !now.Before(nextPurge) {
				_, _ = s.store.Purge(max(s.opts.SnapRetainCount, 3))
				nextPurge = now.Add(s.opts.PurgeInterval)
			}
		}
	}
}

func (s *Server) expireSessions(now time.Time) {
	expired := s.sessions.Expired(now)
	for _, id := range expired {
		s.log.Info().Str("session", hex(id)).Msg("session expired")
		s.submit(&writeReq{start: now, req: prep.Request{SessionID: id, Op: proto.OpCloseSession}, expired: true})
	}
}

// reap submits deleteContainer for empty containers and expired TTL nodes,
// at most ContainerMaxPerMinute per interval (ContainerManager).
func (s *Server) reap(now time.Time) {
	s.tree.RLock()
	cands := s.tree.ReapCandidates(now.UnixMilli())
	s.tree.RUnlock()
	limit := int(float64(s.opts.ContainerMaxPerMinute) * s.opts.ContainerCheckInterval.Minutes())
	if limit < 1 {
		limit = 1
	}
	sort.Strings(cands)
	for i, p := range cands {
		if i >= limit {
			break
		}
		s.metrics.ReapedNodes.Inc()
		s.submit(&writeReq{start: now, req: prep.Request{Op: proto.OpDeleteContainer,
			Body: &proto.DeleteRequest{Path: p, Version: -1}}})
	}
}

// sessionChecker lets the preparer ask whether a session may still write.
type sessionChecker struct{ s *Server }

func (sc sessionChecker) Check(id int64) proto.Code {
	if id == 0 {
		return proto.ErrOK // the server's own requests (container reaping)
	}
	if _, ok := sc.s.sessions.Get(id); !ok {
		return proto.ErrSessionExpired
	}
	return proto.ErrOK
}

// touch records activity on a session; false means it is gone or closing.
func (s *Server) touch(id int64) bool {
	if s.q != nil {
		s.noteTouch(id)
	}
	return s.sessions.Touch(id, time.Now())
}

// identityOf returns the identity a request of c runs with.
func identityOf(c *conn) *auth.Identity {
	if c == nil {
		return &auth.Identity{Super: true}
	}
	return c.identity.Load()
}
