package ensembletest

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/go-zookeeper/zk"
)

// WorkloadOptions configures NewWorkload.
type WorkloadOptions struct {
	Clients int    // concurrent sessions; default 4
	Keys    int    // register znodes; default 3
	Root    string // parent of everything the workload creates; default /ensembletest
	// SessionTimeout asked for by each client; default 20 ticks (the
	// server's maximum), so that sessions survive an election.
	SessionTimeout time.Duration
	// ThinkTime is the longest random pause between a client's
	// operations; default 20ms. It keeps histories small enough to check.
	ThinkTime time.Duration
	// Seed makes the operation mix reproducible; 0 picks one (logged).
	Seed uint64
	// CheckTimeout bounds porcupine; default 60s.
	CheckTimeout time.Duration
}

// Workload is a set of recorded clients running a mix of writes, CASes,
// sync-reads, plain reads and sequential creates against a cluster until
// Stop; Check then verifies the history.
type Workload struct {
	H *History

	t      testing.TB
	c      *Cluster
	opts   WorkloadOptions
	keys   []string
	ackDir string

	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	clients []*Client
	okOps   atomic.Int64
	// okTxns counts acknowledged writes, CASes and creates: transactions.
	okTxns  atomic.Int64
	stopped bool
	// gate is read-held by a client around each operation; Hold takes
	// it to idle the load.
	gate sync.RWMutex
	held bool
}

// NewWorkload creates the workload's znodes (Root, Keys registers holding
// InitialValue, and Root/acked for the sequential creates) and returns a
// workload ready to Start. Root must not exist yet.
func NewWorkload(t testing.TB, c *Cluster, opts WorkloadOptions) *Workload {
	t.Helper()
	opts.Clients = cmp.Or(opts.Clients, 4)
	opts.Keys = cmp.Or(opts.Keys, 3)
	opts.Root = cmp.Or(opts.Root, "/ensembletest")
	opts.SessionTimeout = cmp.Or(opts.SessionTimeout, 20*c.Opts.TickTime)
	opts.ThinkTime = cmp.Or(opts.ThinkTime, 20*time.Millisecond)
	opts.CheckTimeout = cmp.Or(opts.CheckTimeout, 60*time.Second)
	if opts.Seed == 0 {
		opts.Seed = rand.Uint64()
	}
	t.Logf("ensembletest: workload of %d clients on %d keys, seed %d", opts.Clients, opts.Keys, opts.Seed)
	w := &Workload{H: NewHistory(), t: t, c: c, opts: opts, ackDir: opts.Root + "/acked", stop: make(chan struct{})}
	for i := range opts.Keys {
		w.keys = append(w.keys, fmt.Sprintf("%s/k%d", opts.Root, i))
	}
	conn, _, err := zk.Connect(c.Addrs(), opts.SessionTimeout, zk.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatalf("ensembletest: workload setup: %v", err)
	}
	defer conn.Close()
	for _, p := range append([]string{opts.Root, w.ackDir}, w.keys...) {
		err := retry(30*time.Second, func() error {
			_, err := conn.Create(p, []byte(InitialValue), 0, zk.WorldACL(zk.PermAll))
			if errors.Is(err, zk.ErrNodeExists) {
				// A retry after a lost reply; the register must still
				// hold InitialValue at version 0.
				_, st, gerr := conn.Get(p)
				if gerr == nil && st.Version != 0 {
					return fmt.Errorf("%s exists with version %d", p, st.Version)
				}
				return gerr
			}
			return err
		})
		if err != nil {
			t.Fatalf("ensembletest: workload setup: create %s: %v", p, err)
		}
	}
	return w
}

// Keys returns the register znodes.
func (w *Workload) Keys() []string { return w.keys }

// Start launches the clients.
func (w *Workload) Start() {
	w.t.Helper()
	for i := range w.opts.Clients {
		addrs := w.c.Addrs()
		cl, err := w.H.Connect(addrs, w.opts.SessionTimeout)
		if err != nil {
			w.t.Fatalf("ensembletest: workload: %v", err)
		}
		w.mu.Lock()
		w.clients = append(w.clients, cl)
		w.mu.Unlock()
		rng := rand.New(rand.NewPCG(w.opts.Seed, uint64(i)))
		w.wg.Go(func() { w.run(cl, i, rng) })
	}
}

// run is one client's loop.
func (w *Workload) run(cl *Client, worker int, rng *rand.Rand) {
	for n := 0; ; n++ {
		select {
		case <-w.stop:
			return
		default:
		}
		key := w.keys[rng.IntN(len(w.keys))]
		value := fmt.Sprintf("w%d-%d", worker, n)
		var out Output
		w.gate.RLock()
		r := rng.IntN(100)
		txn := r < 45 || r >= 85
		switch {
		case r < 30:
			out = cl.Write(key, value)
		case r < 45:
			out = cl.CASKnown(key, value)
		case r < 70:
			out = cl.SyncRead(key)
		case r < 85:
			out = cl.Read(key)
		default:
			out = cl.CreateSeq(w.ackDir, fmt.Sprintf("c%d-", worker), value)
		}
		w.gate.RUnlock()
		if out.Outcome == OK {
			w.okOps.Add(1)
			if txn {
				w.okTxns.Add(1)
			}
		} else {
			// Back off a little while the ensemble is unavailable, so a
			// fault does not fill the history with failed attempts.
			pause(w.stop, 50*time.Millisecond+time.Duration(rng.Int64N(int64(100*time.Millisecond))))
		}
		pause(w.stop, time.Duration(rng.Int64N(int64(w.opts.ThinkTime)+1)))
	}
}

func pause(stop <-chan struct{}, d time.Duration) {
	select {
	case <-stop:
	case <-time.After(d):
	}
}

// WaitTxns waits until n more writes, CASes and creates are acknowledged:
// n more transactions in the ensemble's log.
func (w *Workload) WaitTxns(n int64, timeout time.Duration) error {
	target := w.okTxns.Load() + n
	deadline := time.Now().Add(timeout)
	for w.okTxns.Load() < target {
		if time.Now().After(deadline) {
			return fmt.Errorf("workload: %d of %d transactions acknowledged in %v; %s", w.okTxns.Load()-target+n, n, timeout, w.H.Summary())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Hold idles the clients once their current operations finish, until
// Release: for faults that need a quiet ensemble (a follower only a few
// transactions behind). Operations the test runs itself through
// w.H.Connect clients are still recorded.
func (w *Workload) Hold() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.held {
		w.gate.Lock()
		w.held = true
	}
}

// Release lets the clients run again after Hold.
func (w *Workload) Release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.held {
		w.held = false
		w.gate.Unlock()
	}
}

// Acked returns how many operations have succeeded so far.
func (w *Workload) Acked() int64 { return w.okOps.Load() }

// WaitProgress waits until n more operations succeed, e.g. to show the
// ensemble serves again after a fault.
func (w *Workload) WaitProgress(n int64, timeout time.Duration) error {
	target := w.okOps.Load() + n
	deadline := time.Now().Add(timeout)
	for w.okOps.Load() < target {
		if time.Now().After(deadline) {
			return fmt.Errorf("workload: %d of %d operations succeeded in %v; %s", w.okOps.Load()-target+n, n, timeout, w.H.Summary())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Stop ends the clients: each finishes its current operation (closing the
// connections after 15 s, which ends what is left as Unknown).
func (w *Workload) Stop() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	w.mu.Unlock()
	close(w.stop)
	w.Release()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
	}
	w.mu.Lock()
	for _, cl := range w.clients {
		cl.Close()
	}
	w.mu.Unlock()
	<-done
}

// Check stops the workload if needed, reads the final state through a
// new client (sync-reads recorded in the history, and the children of the
// acked directory), and reports every violation as a test error:
// linearizability (porcupine, RegisterModel), CheckReads and
// CheckCreates. It fails the test if the final state cannot be read within
// a minute.
func (w *Workload) Check() {
	t := w.t
	t.Helper()
	begin := time.Now()
	w.Stop()
	stopped := time.Since(begin)
	final, err := w.H.Connect(w.c.Addrs(), w.opts.SessionTimeout)
	if err != nil {
		t.Fatalf("ensembletest: check: %v", err)
	}
	defer final.Close()
	for _, k := range w.keys {
		if err := retry(60*time.Second, func() error {
			if out := final.SyncRead(k); out.Outcome != OK {
				return errors.New(out.Err)
			}
			return nil
		}); err != nil {
			t.Fatalf("ensembletest: check: final read of %s: %v", k, err)
		}
	}
	children := make(map[string]string)
	if err := retry(60*time.Second, func() error {
		clear(children)
		if _, err := final.Conn.Sync(w.ackDir); err != nil {
			return err
		}
		names, _, err := final.Conn.Children(w.ackDir)
		if err != nil {
			return err
		}
		for _, name := range names {
			data, _, err := final.Conn.Get(w.ackDir + "/" + name)
			if err != nil {
				return err
			}
			children[name] = string(data)
		}
		return nil
	}); err != nil {
		t.Fatalf("ensembletest: check: list %s: %v", w.ackDir, err)
	}

	ops := w.H.Ops()
	t.Logf("ensembletest: history: %s; %d children in %s (clients stopped in %v, final state read in %v)",
		w.H.Summary(), len(children), w.ackDir, stopped.Round(time.Millisecond), (time.Since(begin) - stopped).Round(time.Millisecond))
	start := time.Now()
	viz := vizFile(t.Name())
	res, err := CheckLinearizable(ops, w.opts.CheckTimeout, viz)
	switch res {
	case porcupine.Ok:
		t.Logf("ensembletest: linearizable (checked in %v)", time.Since(start).Round(time.Millisecond))
	case porcupine.Unknown:
		t.Logf("ensembletest: linearizability check inconclusive: porcupine timed out after %v", w.opts.CheckTimeout)
	case porcupine.Illegal:
		t.Errorf("ensembletest: history is not linearizable; porcupine visualization: %s (%v)", viz, err)
	}
	if res != porcupine.Illegal && viz != "" {
		removeFile(viz)
	}
	for _, err := range CheckReads(ops) {
		t.Errorf("ensembletest: plain reads: %v", err)
	}
	for _, err := range CheckCreates(ops, children) {
		t.Errorf("ensembletest: acknowledged creates: %v", err)
	}
}

// CheckReplicas waits until every running node reports the same last
// zxid, then reads the registers and the acked directory from each node
// alone and reports any difference between nodes as a test error: a
// replica that kept a transaction the others dropped (a missed TRUNC) or
// missed one (a bad DIFF or SNAP). Call it after Check, with the load
// stopped.
func (w *Workload) CheckReplicas() {
	t := w.t
	t.Helper()
	var nodes []*Node
	for _, n := range w.c.Nodes {
		if n.Running() && !n.Paused() {
			nodes = append(nodes, n)
		}
	}
	var zxids []int64
	err := retry(30*time.Second, func() error {
		zxids = zxids[:0]
		for _, n := range nodes {
			z, err := n.LastZxid()
			if err != nil {
				return err
			}
			zxids = append(zxids, z)
		}
		for _, z := range zxids {
			if z != zxids[0] {
				return fmt.Errorf("nodes at different zxids: %x", zxids)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("ensembletest: replicas did not converge within 30s of the load stopping: %v", err)
		return
	}
	var first string
	for i, n := range nodes {
		var state string
		err := retry(30*time.Second, func() error {
			var err error
			state, err = w.replicaState(n)
			return err
		})
		if err != nil {
			t.Errorf("ensembletest: read replica %v: %v", n, err)
			continue
		}
		if i == 0 {
			first = state
		} else if state != first {
			t.Errorf("ensembletest: replica %v differs from %v at zxid 0x%x:\n%s\nvs\n%s", n, nodes[0], zxids[0], state, first)
		}
	}
}

// replicaState renders what node n alone holds of the workload's znodes.
func (w *Workload) replicaState(n *Node) (string, error) {
	conn, _, err := zk.Connect([]string{n.Addr()}, w.opts.SessionTimeout, zk.WithLogger(quietLogger{}))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	var b strings.Builder
	for _, k := range w.keys {
		data, st, err := conn.Get(k)
		if err != nil {
			return "", fmt.Errorf("get %s: %w", k, err)
		}
		fmt.Fprintf(&b, "%s=%q v%d\n", k, data, st.Version)
	}
	names, st, err := conn.Children(w.ackDir)
	if err != nil {
		return "", fmt.Errorf("children of %s: %w", w.ackDir, err)
	}
	slices.Sort(names)
	h := fnv.New64a()
	for _, name := range names {
		h.Write([]byte(name + "\n"))
	}
	fmt.Fprintf(&b, "%s: %d children (cversion %d, names hash %x)\n", w.ackDir, len(names), st.Cversion, h.Sum64())
	return b.String(), nil
}

// retry calls f until it succeeds or timeout passes, returning its last
// error.
func retry(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// quietLogger drops go-zookeeper's connection chatter.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

func removeFile(p string) { _ = os.Remove(p) }
