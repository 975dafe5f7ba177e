// Package loadgen drives a ZooKeeper ensemble (zkd or Apache ZooKeeper)
// with real go-zookeeper clients and measures throughput and latency, so
// that the two can be compared under the same load on the same machine.
//
// A run opens Config.Clients sessions, pre-creates the key space, runs a
// warm-up, then measures for a fixed duration (or a fixed number of
// operations) and deletes everything it created. Each session is driven
// by Config.Pipeline goroutines: go-zookeeper's calls are synchronous, and
// several callers on one session pipeline requests the way an asynchronous
// client does. Latencies go into HDR histograms (one per goroutine and
// operation, merged at the end), so percentiles cost nothing per request and
// keep three significant digits at any scale.
//
// By default every goroutine sends its next request as soon as the last
// one is answered (a closed loop): throughput is what the ensemble
// sustains, and latency is measured at that throughput. Config.Rate
// instead offers a fixed load, so that systems of different speeds can be
// compared at the same throughput: each goroutine sends its requests on a
// schedule, and a request sent late because the one before it was still
// outstanding counts its latency from when it was due (as wrk2 does), so
// a stalled server is not hidden by the requests it kept from being sent.
package loadgen

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// Config describes one measured run.
type Config struct {
	// Servers are the ensemble's client addresses, host:port.
	Servers []string
	// ConnectAll gives every client the whole server list, from which
	// go-zookeeper picks one at random; by default client i connects to
	// Servers[i mod len(Servers)] only, spreading the clients evenly.
	ConnectAll bool
	// Clients is the number of sessions; default 1.
	Clients int
	// Pipeline is the number of goroutines issuing requests on each
	// session, hence requests in flight per session; default 1.
	Pipeline int
	// Rate is the load offered, in requests per second across all
	// goroutines, each sending its share on an evenly spaced schedule;
	// 0 (the default) sends as fast as responses come back. A rate above
	// what the ensemble sustains shows as latency growing with the
	// backlog, and ops/s below the rate.
	Rate float64
	// Workload is what every goroutine does.
	Workload Workload
	// Duration is how long to measure. Ops, if set, ends the measurement
	// after that many operations instead (or earlier, if both are set).
	// At least one of them must be set.
	Duration time.Duration
	Ops      int64
	// Warmup runs the workload unmeasured before the measurement, so that
	// connections, server caches and the JIT of a JVM peer are warm.
	Warmup time.Duration
	// PayloadSize is the size in bytes of the data every create and set
	// writes (and, for the key space, every get reads).
	PayloadSize int
	// KeySpace is the number of znodes set, get and mixed workloads use,
	// created before the run with the payload; default 1000. Create
	// workloads do not use it.
	KeySpace int
	// Root is the znode the run creates everything under; default
	// /zkd-bench-<random>. It must not exist (a run deletes it at the end).
	Root string
	// ServerCPU, if set, returns the CPU time the servers have used so far
	// (ProcessCPU of their pids, say); the run samples it as the
	// measurement begins and ends and reports the difference in
	// Result.ServerCPU.
	ServerCPU func() (time.Duration, error)
	// SessionTimeout and ConnectTimeout default to 10 s each.
	SessionTimeout time.Duration
	ConnectTimeout time.Duration
}

// withDefaults fills in unset fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if len(c.Servers) == 0 {
		return c, errors.New("no servers given")
	}
	if c.Clients == 0 {
		c.Clients = 1
	}
	if c.Pipeline == 0 {
		c.Pipeline = 1
	}
	if c.KeySpace == 0 {
		c.KeySpace = 1000
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Root == "" {
		var b [6]byte
		_, _ = crand.Read(b[:])
		c.Root = "/zkd-bench-" + hex.EncodeToString(b[:])
	}
	switch {
	case c.Clients < 0:
		return c, fmt.Errorf("clients %d: must be at least 1", c.Clients)
	case c.Pipeline < 0:
		return c, fmt.Errorf("pipeline %d: must be at least 1", c.Pipeline)
	case c.KeySpace < 0:
		return c, fmt.Errorf("key space %d: must be at least 1", c.KeySpace)
	case c.PayloadSize < 0:
		return c, fmt.Errorf("payload size %d: must not be negative", c.PayloadSize)
	case c.Rate < 0:
		return c, fmt.Errorf("rate %g: must not be negative", c.Rate)
	case c.Duration < 0 || c.Ops < 0 || c.Warmup < 0:
		return c, errors.New("duration, ops and warm-up must not be negative")
	case c.Duration == 0 && c.Ops == 0:
		return c, errors.New("neither a duration nor an operation count given: the run would not end")
	}
	if err := c.Workload.validate(); err != nil {
		return c, err
	}
	return c, validateRoot(c.Root)
}

// Histogram bounds: latencies are recorded in microseconds from 1 µs to
// a minute, with 3 significant digits.
const (
	histMinMicros = 1
	histMaxMicros = int64(time.Minute / time.Microsecond)
	histSigFigs   = 3
)

// worker is one goroutine's state. Everything the request loop touches is
// allocated up front: counters are plain fields, histograms are
// preallocated, and the error map is only created on the first error.
type worker struct {
	id      int
	conn    *zk.Conn
	rng     *rand.Rand
	created int64 // create attempts (paths root/c<id>-0 .. -<created-1>)
	ops     [numOps]int64
	hist    [numOps]*histogram
	errs    map[string]int64
	lastEnd time.Time // completion of the last measured request
	// sched paces the worker's requests when Config.Rate is set.
	sched *schedule
}

// Run executes one workload against the ensemble and returns its
// measurements. It creates Config.Root, populates the key space, warms up,
// measures, and deletes everything it created even when ctx is cancelled
// (bounded by a clean-up timeout of its own); a clean-up failure is
// returned together with the otherwise valid Result. When ctx is
// cancelled mid-run the partial result comes back with ctx's error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	serversFor := roundRobin(cfg.Servers)
	if cfg.ConnectAll {
		serversFor = func(int) []string { return cfg.Servers }
	}
	conns, err := dialAll(ctx, cfg.Clients, serversFor, cfg.SessionTimeout, cfg.ConnectTimeout)
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	defer closeAll(conns)

	payload := make([]byte, cfg.PayloadSize)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	if _, err := conns[0].Create(cfg.Root, nil, 0, openACL); err != nil {
		return Result{}, fmt.Errorf("loadgen: create root %s: %w", cfg.Root, err)
	}
	var keys []string
	if cfg.Workload.needsKeys() {
		keys = make([]string, cfg.KeySpace)
		for i := range keys {
			keys[i] = keyPath(cfg.Root, i)
		}
	}

	workers := make([]*worker, cfg.Clients*cfg.Pipeline)
	for i := range workers {
		w := &worker{id: i, conn: conns[i%len(conns)], rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
		for op := range numOps {
			w.hist[op] = newHistogram()
		}
		workers[i] = w
	}

	res, runErr := func() (Result, error) {
		if len(keys) > 0 {
			if err := createKeys(ctx, conns, cfg.Root, len(keys), payload); err != nil {
				return Result{}, fmt.Errorf("loadgen: populate the key space: %w", err)
			}
		}
		return measure(ctx, cfg, workers, keys, payload)
	}()

	cleanCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	cleanErr := cleanup(cleanCtx, conns, cfg.Root, len(keys), workers)
	if cleanErr != nil {
		cleanErr = fmt.Errorf("loadgen: clean up %s: %w", cfg.Root, cleanErr)
	}
	return res, errors.Join(runErr, cleanErr)
}

// measure runs the workers through the warm-up and the measurement.
// Requests that start before the measurement begins or end after it ends
// are not counted: the window is exactly [start, end).
func measure(ctx context.Context, cfg Config, workers []*worker, keys []string, payload []byte) (Result, error) {
	var stop atomic.Bool
	ctxDone := context.AfterFunc(ctx, func() { stop.Store(true) })
	defer ctxDone()

	now := time.Now()
	if cfg.Rate > 0 {
		for i, w := range workers {
			w.sched = newSchedule(now, cfg.Rate, i, len(workers))
		}
	}
	start := now.Add(cfg.Warmup)
	end := start.Add(cfg.Duration)
	if cfg.Duration == 0 {
		end = start.Add(100 * 365 * 24 * time.Hour) // ended by the op count
	}
	// CPU use is sampled as the measurement begins and once the workers
	// have stopped, so it covers the measured window and the last
	// requests' answers.
	var (
		cpuStart   cpuSample
		cpuErr     error
		cpuSampled = make(chan struct{})
	)
	cpuTimer := time.AfterFunc(start.Sub(now), func() {
		cpuStart, cpuErr = sampleCPU(cfg.ServerCPU)
		close(cpuSampled)
	})
	var tickets atomic.Int64 // measured operations started, when Ops is set
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			w.loop(cfg, keys, payload, start, end, &tickets, &stop)
		})
	}
	wg.Wait()
	var cpu cpuSample
	if !cpuTimer.Stop() { // else cancelled before the measurement began
		<-cpuSampled
		cpuEnd, err := sampleCPU(cfg.ServerCPU)
		if err := errors.Join(cpuErr, err); err != nil {
			return Result{}, fmt.Errorf("loadgen: measure CPU use: %w", err)
		}
		cpu = cpuSample{client: cpuEnd.client - cpuStart.client, server: cpuEnd.server - cpuStart.server}
	}

	elapsed := cfg.Duration
	if cfg.Ops > 0 {
		// Ended by the count, or by the duration if that came first.
		var last time.Time
		for _, w := range workers {
			if w.lastEnd.After(last) {
				last = w.lastEnd
			}
		}
		if d := last.Sub(start); d > 0 && (cfg.Duration == 0 || d < cfg.Duration) {
			elapsed = d
		}
	}
	if stop.Load() {
		// Cancelled: only the time until now was measured.
		if d := time.Since(start); d < elapsed {
			elapsed = max(d, 0)
		}
	}
	res := collect(cfg, workers, elapsed)
	res.ClientCPU, res.ServerCPU = cpu.client, cpu.server
	return res, ctx.Err()
}

// loop issues requests until the measurement window closes, the op count
// is used up, or the run is cancelled.
func (w *worker) loop(cfg Config, keys []string, payload []byte, start, end time.Time, tickets *atomic.Int64, stop *atomic.Bool) {
	createPrefix := cfg.Root + "/c" + strconv.Itoa(w.id) + "-"
	pathBuf := make([]byte, 0, len(createPrefix)+20)
	var prevEnd time.Time // completion of the previous request, measured or not
	for !stop.Load() {
		var t0 time.Time // what the request's latency counts from
		if w.sched != nil {
			due, sent := w.sched.wait()
			t0 = latencyStart(due, sent, prevEnd)
		} else {
			t0 = time.Now()
		}
		measured := !t0.Before(start)
		if measured && cfg.Ops > 0 && tickets.Add(1) > cfg.Ops {
			return
		}
		op := w.pick(cfg.Workload)
		var err error
		switch op {
		case OpCreate:
			pathBuf = strconv.AppendInt(append(pathBuf[:0], createPrefix...), w.created, 10)
			w.created++
			_, err = w.conn.Create(string(pathBuf), payload, 0, openACL)
		case OpSet:
			_, err = w.conn.Set(keys[w.rng.IntN(len(keys))], payload, -1)
		case OpGet:
			_, _, err = w.conn.Get(keys[w.rng.IntN(len(keys))])
		}
		t1 := time.Now()
		prevEnd = t1
		if !t1.Before(end) {
			return
		}
		if !measured {
			continue
		}
		w.lastEnd = t1
		if err != nil {
			if w.errs == nil {
				w.errs = make(map[string]int64)
			}
			w.errs[ErrorCode(err)]++
			continue
		}
		w.ops[op]++
		w.hist[op].record(t1.Sub(t0))
	}
}

// pick chooses the next operation.
func (w *worker) pick(wl Workload) Op {
	switch wl.Kind {
	case KindCreate:
		return OpCreate
	case KindSet:
		return OpSet
	case KindGet:
		return OpGet
	}
	if w.rng.IntN(100) < wl.ReadPercent {
		return OpGet
	}
	return OpSet
}

// cleanup deletes the znodes of the create workload, the key space and
// the root.
func cleanup(ctx context.Context, conns []*zk.Conn, root string, keys int, workers []*worker) error {
	// One flat index over every worker's creates: worker w's j-th create
	// is index offsets[w]+j.
	offsets := make([]int64, len(workers)+1)
	for i, w := range workers {
		offsets[i+1] = offsets[i] + w.created
	}
	created := int(offsets[len(workers)])
	err := deletePaths(ctx, conns, created+keys, func(i int) string {
		if i >= created {
			return keyPath(root, i-created)
		}
		w, _ := slices.BinarySearch(offsets, int64(i)+1)
		w-- // offsets[w] <= i < offsets[w+1]
		return root + "/c" + strconv.Itoa(w) + "-" + strconv.FormatInt(int64(i)-offsets[w], 10)
	})
	if err != nil {
		return err
	}
	return deleteRoot(conns[0], root)
}

// ErrorCode names a request error the way ZooKeeper's error codes are
// named (NONODE, CONNECTIONLOSS, ...), for counting errors by kind.
func ErrorCode(err error) string {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return "OTHER"
}

var errorCodes = []struct {
	err  error
	code string
}{
	{zk.ErrNoNode, "NONODE"},
	{zk.ErrNodeExists, "NODEEXISTS"},
	{zk.ErrBadVersion, "BADVERSION"},
	{zk.ErrNotEmpty, "NOTEMPTY"},
	{zk.ErrNoAuth, "NOAUTH"},
	{zk.ErrConnectionClosed, "CONNECTIONLOSS"},
	{zk.ErrNoServer, "CONNECTIONLOSS"},
	{zk.ErrSessionExpired, "SESSIONEXPIRED"},
	{zk.ErrSessionMoved, "SESSIONMOVED"},
	{zk.ErrClosing, "CLOSING"},
	{zk.ErrAPIError, "APIERROR"},
	{zk.ErrInvalidACL, "INVALIDACL"},
	{zk.ErrUnknown, "SYSTEMERROR"},
}

// RunWorkloads runs base once per workload, in order, naming each result
// target, and calls report (if set) after each run. It is what a
// side-by-side comparison does for every system it measures.
func RunWorkloads(ctx context.Context, base Config, workloads []Workload, target string, report func(Result)) ([]Result, error) {
	var out []Result
	for _, w := range workloads {
		c := base
		c.Workload = w
		res, err := Run(ctx, c)
		if err != nil {
			return out, fmt.Errorf("%s %s: %w", target, w, err)
		}
		res.Target = target
		if report != nil {
			report(res)
		}
		out = append(out, res)
	}
	return out, nil
}

// DurationFromEnv returns the duration in environment variable name, or
// def when it is unset (for opt-in comparison runs).
func DurationFromEnv(name string, def time.Duration) (time.Duration, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}
