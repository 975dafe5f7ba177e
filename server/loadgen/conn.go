package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// Defaults for the connection settings of Config.
const (
	DefaultSessionTimeout = 10 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	// cleanupTimeout bounds deleting what a run created, which happens even
	// after the run's context was cancelled (an interrupted benchmark should
	// not leave 100 000 znodes behind).
	cleanupTimeout = 5 * time.Minute
	// populateParallel is how many create or delete requests Populate and
	// the clean-up keep in flight: enough to fill group commits on both
	// servers, few enough not to swamp a 2-core machine with goroutines.
	populateParallel = 64
)

var openACL = zk.WorldACL(zk.PermAll)

// nopLogger silences go-zookeeper, which otherwise logs every connection
// attempt to the standard logger; connection failures are reported as
// errors instead.
type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// dial opens a session to servers (go-zookeeper picks one of them at
// random and moves on to the next on failure) and waits until the session
// is established. go-zookeeper itself retries forever, so without the
// bound an unreachable server would hang the benchmark; the last dial error
// is kept to say why.
func dial(ctx context.Context, servers []string, sessionTimeout, connectTimeout time.Duration) (*zk.Conn, error) {
	var (
		mu      sync.Mutex
		lastErr error
	)
	dialer := func(network, address string, timeout time.Duration) (net.Conn, error) {
		c, err := net.DialTimeout(network, address, timeout)
		if err != nil {
			mu.Lock()
			lastErr = err
			mu.Unlock()
		}
		return c, err
	}
	ready := make(chan struct{})
	var once sync.Once
	onEvent := func(ev zk.Event) {
		if ev.Type == zk.EventSession && ev.State == zk.StateHasSession {
			once.Do(func() { close(ready) })
		}
	}
	where := strings.Join(servers, ",")
	conn, _, err := zk.Connect(servers, sessionTimeout,
		zk.WithDialer(dialer), zk.WithLogger(nopLogger{}), zk.WithLogInfo(false), zk.WithEventCallback(onEvent))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	timer := time.NewTimer(connectTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return conn, nil
	case <-timer.C:
		conn.Close()
		mu.Lock()
		why := lastErr
		mu.Unlock()
		if why != nil {
			return nil, fmt.Errorf("connect to %s: no session within %v: %w", where, connectTimeout, why)
		}
		return nil, fmt.Errorf("connect to %s: no session within %v (the server accepted the connection but did not answer the handshake)", where, connectTimeout)
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w", where, ctx.Err())
	}
}

// dialAll opens n sessions in parallel; session i gets serversFor(i). On
// any failure it closes what it opened and returns the first error.
func dialAll(ctx context.Context, n int, serversFor func(i int) []string, sessionTimeout, connectTimeout time.Duration) ([]*zk.Conn, error) {
	conns := make([]*zk.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			conns[i], errs[i] = dial(ctx, serversFor(i), sessionTimeout, connectTimeout)
		})
	}
	wg.Wait()
	if err := errors.Join(dedupErrors(errs)...); err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

// dedupErrors drops nil and repeated errors: sixteen clients failing to
// reach the same server should say so once.
func dedupErrors(errs []error) []error {
	seen := map[string]bool{}
	var out []error
	for _, err := range errs {
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			out = append(out, err)
		}
	}
	return out
}

func closeAll(conns []*zk.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// roundRobin gives session i the i-th server (modulo), as clients of a
// real deployment spread over the ensemble.
func roundRobin(servers []string) func(int) []string {
	return func(i int) []string { return servers[i%len(servers) : i%len(servers)+1] }
}

// keyPath is the path of key i under root: root/k<i>.
func keyPath(root string, i int) string {
	return root + "/k" + strconv.Itoa(i)
}

// KeyPath is the path Populate gives the i-th znode under root, and the
// znodes set and get workloads address.
func KeyPath(root string, i int) string { return keyPath(root, i) }

// forEachParallel runs fn(conn, i) for i in [0, n) with parallel
// goroutines spread over conns, stopping at the first error fn returns.
func forEachParallel(ctx context.Context, conns []*zk.Conn, n, parallel int, fn func(c *zk.Conn, i int) error) error {
	if parallel > n {
		parallel = n
	}
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		failed   atomic.Bool
		wg       sync.WaitGroup
	)
	for g := range parallel {
		c := conns[g%len(conns)]
		wg.Go(func() {
			for !failed.Load() && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(c, i); err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// ensureRoot creates root (a persistent znode with an empty payload) if it
// does not exist yet. Its parent must exist.
func ensureRoot(c *zk.Conn, root string) error {
	if _, err := c.Create(root, nil, 0, openACL); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("create %s: %w", root, err)
	}
	return nil
}

// createKeys creates root/k0 .. root/k<n-1>, tolerating ones that exist.
func createKeys(ctx context.Context, conns []*zk.Conn, root string, n int, payload []byte) error {
	return forEachParallel(ctx, conns, n, populateParallel, func(c *zk.Conn, i int) error {
		p := keyPath(root, i)
		if _, err := c.Create(p, payload, 0, openACL); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create %s: %w", p, err)
		}
		return nil
	})
}

// deletePaths deletes path(i) for i in [0, n), tolerating ones that do
// not exist (a create that failed, or a delete that succeeded just before
// a connection loss and was retried).
func deletePaths(ctx context.Context, conns []*zk.Conn, n int, path func(i int) string) error {
	return forEachParallel(ctx, conns, n, populateParallel, func(c *zk.Conn, i int) error {
		p := path(i)
		if err := c.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("delete %s: %w", p, err)
		}
		return nil
	})
}

// deleteRoot deletes root, tolerating a root that is already gone.
func deleteRoot(c *zk.Conn, root string) error {
	if err := c.Delete(root, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("delete %s: %w", root, err)
	}
	return nil
}

// populateSessions is how many sessions Populate and Cleanup open: two per
// server, so that each server's request pipeline is kept busy.
func populateSessions(ctx context.Context, servers []string) ([]*zk.Conn, error) {
	if len(servers) == 0 {
		return nil, errors.New("no servers given")
	}
	return dialAll(ctx, 2*len(servers), roundRobin(servers), DefaultSessionTimeout, DefaultConnectTimeout)
}

// Populate creates root (if missing) and n znodes under it, root/k0 to
// root/k<n-1>, each holding payload. go-zookeeper has no asynchronous
// API, so the creates are issued from many goroutines over a few sessions
// on every server, which pipelines them as an asynchronous client would.
// Znodes that already exist are left as they are, so Populate can be
// re-run. Root's parent must exist.
func Populate(ctx context.Context, servers []string, root string, n int, payload []byte) error {
	if err := validateRoot(root); err != nil {
		return err
	}
	conns, err := populateSessions(ctx, servers)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	if err := ensureRoot(conns[0], root); err != nil {
		return err
	}
	if err := createKeys(ctx, conns, root, n, payload); err != nil {
		return fmt.Errorf("populate %s: %w", root, err)
	}
	return nil
}

// Cleanup deletes what Populate(servers, root, n, ...) created: the n
// keys and root itself. Root must have no other children.
func Cleanup(ctx context.Context, servers []string, root string, n int) error {
	if err := validateRoot(root); err != nil {
		return err
	}
	conns, err := populateSessions(ctx, servers)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	if err := deletePaths(ctx, conns, n, func(i int) string { return keyPath(root, i) }); err != nil {
		return fmt.Errorf("clean up %s: %w", root, err)
	}
	return deleteRoot(conns[0], root)
}

// validateRoot checks that root is a znode path the benchmark may own: not
// "/" itself, absolute, without a trailing slash or empty components.
func validateRoot(root string) error {
	if root == "" || root == "/" || !strings.HasPrefix(root, "/") || strings.HasSuffix(root, "/") || strings.Contains(root, "//") {
		return fmt.Errorf("root %q is not a znode path below / (e.g. /zkd-bench)", root)
	}
	return nil
}
