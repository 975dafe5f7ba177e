package ensembletest

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// OpKind is what a recorded operation did.
type OpKind int

// The operations a Client records.
const (
	// OpWrite is setData with version -1: an unconditional register write.
	OpWrite OpKind = iota
	// OpCAS is setData with an expected version: a compare-and-set.
	OpCAS
	// OpSyncRead is sync followed by getData on the same session:
	// linearizable in ZooKeeper (the sync makes the server catch up with
	// the leader before the read).
	OpSyncRead
	// OpRead is a plain getData: sequentially consistent only (the
	// server a client is connected to may lag), so it is checked for
	// per-session monotonicity rather than linearizability.
	OpRead
	// OpCreateSeq creates a persistent sequential znode with a unique
	// value; the acknowledged ones must all exist at the end.
	OpCreateSeq
)

func (k OpKind) String() string {
	switch k {
	case OpWrite:
		return "write"
	case OpCAS:
		return "cas"
	case OpSyncRead:
		return "sync-read"
	case OpRead:
		return "read"
	case OpCreateSeq:
		return "create-seq"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Outcome is what a client learnt about an operation.
type Outcome int

// Outcomes.
const (
	// OK: the server acknowledged the operation.
	OK Outcome = iota
	// Failed: the operation certainly did not take effect (an error the
	// server returned, such as BADVERSION or NONODE, or a request the
	// client never sent).
	Failed
	// Unknown: the connection or session was lost while the request was
	// outstanding; a write may or may not have happened, now or later.
	Unknown
)

func (o Outcome) String() string {
	return [...]string{"ok", "failed", "unknown"}[o]
}

// Input is an operation's arguments.
type Input struct {
	Kind    OpKind
	Key     string // znode path
	Value   string // written value (write, cas, create-seq)
	Version int32  // expected version (cas)
}

// Output is an operation's result.
type Output struct {
	Outcome Outcome
	Err     string // the client error, for Failed and Unknown
	// BadVersion marks a CAS the server refused because the znode's
	// version differed: a definite answer that says something about the
	// state, unlike other failures.
	BadVersion bool
	Value      string // value read (sync-read, read)
	Version    int32  // znode version read, or after a write or cas
	Path       string // znode created (create-seq)
}

// Op is one recorded operation.
type Op struct {
	// Client numbers the sequential thread of operations this op belongs
	// to (porcupine's ClientId). A client gets a new number after an
	// operation with an Unknown outcome, which stays open forever.
	Client int
	// Worker is the Client object that ran the op.
	Worker int
	// SessionBefore and SessionAfter are the session ids before and after
	// the call; they differ when the session expired meanwhile.
	SessionBefore, SessionAfter int64
	Input                       Input
	Output                      Output
	// Call and Return are nanoseconds since the history began. An op
	// with an Unknown outcome returns at math.MaxInt64: it may take effect
	// at any point after its call, as if it were still running when the
	// history ended.
	Call, Return int64
}

// History collects the operations of several Clients.
type History struct {
	start time.Time

	mu          sync.Mutex
	ops         []Op
	nextClient  int
	nextWorker  int
	unknownErrs map[string]int
}

// NewHistory starts an empty history; times are measured from now.
func NewHistory() *History {
	return &History{start: time.Now(), unknownErrs: make(map[string]int)}
}

// Ops returns a copy of the operations recorded so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

func (h *History) now() int64 { return int64(time.Since(h.start)) }

func (h *History) add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	if op.Output.Outcome == Unknown {
		h.unknownErrs[op.Output.Err]++
	}
}

func (h *History) newClientID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextClient++
	return h.nextClient - 1
}

// Summary counts the recorded operations by kind and outcome.
func (h *History) Summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	counts := make(map[string]int)
	for _, op := range h.ops {
		counts[op.Input.Kind.String()+" "+op.Output.Outcome.String()]++
	}
	return fmt.Sprintf("%d ops: %v; unknown outcomes by error: %v", len(h.ops), counts, h.unknownErrs)
}

// Client is a go-zookeeper connection whose operations are recorded in a
// History. One Client runs one operation at a time (not safe for
// concurrent use), as a ZooKeeper session orders its requests.
type Client struct {
	Conn *zk.Conn
	h    *History
	// client is the current porcupine client id; worker is fixed.
	client, worker int
	// known is the last version this client saw per key, for CAS.
	known map[string]int32
}

// Connect opens a recorded client to the given servers (host:port).
func (h *History) Connect(servers []string, sessionTimeout time.Duration) (*Client, error) {
	conn, _, err := zk.Connect(servers, sessionTimeout, zk.WithLogger(quietLogger{}))
	if err != nil {
		return nil, fmt.Errorf("connect to %v: %w", servers, err)
	}
	h.mu.Lock()
	h.nextWorker++
	worker := h.nextWorker - 1
	h.mu.Unlock()
	return &Client{Conn: conn, h: h, client: h.newClientID(), worker: worker, known: make(map[string]int32)}, nil
}

// Close closes the connection; operations still running end Unknown.
func (c *Client) Close() { c.Conn.Close() }

// classify maps a client error to an outcome.
func classify(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, zk.ErrNoNode), errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNodeExists),
		errors.Is(err, zk.ErrNotEmpty), errors.Is(err, zk.ErrBadArguments), errors.Is(err, zk.ErrNoAuth),
		errors.Is(err, zk.ErrInvalidACL):
		return Failed
	case errors.Is(err, zk.ErrNoServer):
		// go-zookeeper fails queued, never-sent requests with ErrNoServer
		// when it has tried every server (flushUnsentRequests).
		return Failed
	default:
		// ErrConnectionClosed, ErrSessionExpired, ErrClosing and anything
		// unexpected: the request may have reached the leader.
		return Unknown
	}
}

// record runs f as one operation and adds it to the history.
func (c *Client) record(in Input, f func() (Output, error)) Output {
	op := Op{Client: c.client, Worker: c.worker, Input: in, SessionBefore: c.Conn.SessionID(), Call: c.h.now()}
	out, err := f()
	op.Return = c.h.now()
	op.SessionAfter = c.Conn.SessionID()
	out.Outcome = classify(err)
	if err != nil {
		out.Err = err.Error()
		out.BadVersion = errors.Is(err, zk.ErrBadVersion)
	}
	if out.Outcome == Unknown {
		op.Return = math.MaxInt64
		// The op stays open: later ops of this Client overlap it, so
		// they form a new sequential client for porcupine.
		c.client = c.h.newClientID()
	}
	if out.Outcome == OK && in.Kind != OpCreateSeq {
		c.known[in.Key] = out.Version
	}
	op.Output = out
	c.h.add(op)
	return out
}

// Write sets key to value unconditionally (setData, version -1).
func (c *Client) Write(key, value string) Output {
	return c.record(Input{Kind: OpWrite, Key: key, Value: value}, func() (Output, error) {
		st, err := c.Conn.Set(key, []byte(value), -1)
		if err != nil {
			return Output{}, err
		}
		return Output{Version: st.Version}, nil
	})
}

// CAS sets key to value if its version is version (setData with version).
func (c *Client) CAS(key string, version int32, value string) Output {
	return c.record(Input{Kind: OpCAS, Key: key, Value: value, Version: version}, func() (Output, error) {
		st, err := c.Conn.Set(key, []byte(value), version)
		if err != nil {
			return Output{}, err
		}
		return Output{Version: st.Version}, nil
	})
}

// CASKnown is CAS with the last version this client saw for key (0 if
// none).
func (c *Client) CASKnown(key, value string) Output {
	return c.CAS(key, c.known[key], value)
}

// SyncRead reads key after a sync: a linearizable read.
func (c *Client) SyncRead(key string) Output {
	return c.record(Input{Kind: OpSyncRead, Key: key}, func() (Output, error) {
		if _, err := c.Conn.Sync(key); err != nil {
			return Output{}, err
		}
		data, st, err := c.Conn.Get(key)
		if err != nil {
			return Output{}, err
		}
		return Output{Value: string(data), Version: st.Version}, nil
	})
}

// Read reads key without sync: it may be stale, but never older than
// what this session saw before.
func (c *Client) Read(key string) Output {
	return c.record(Input{Kind: OpRead, Key: key}, func() (Output, error) {
		data, st, err := c.Conn.Get(key)
		if err != nil {
			return Output{}, err
		}
		return Output{Value: string(data), Version: st.Version}, nil
	})
}

// CreateSeq creates a persistent sequential child of parent named
// prefix<seq> holding value.
func (c *Client) CreateSeq(parent, prefix, value string) Output {
	return c.record(Input{Kind: OpCreateSeq, Key: parent, Value: value}, func() (Output, error) {
		path, err := c.Conn.Create(parent+"/"+prefix, []byte(value), zk.FlagSequence, zk.WorldACL(zk.PermAll))
		if err != nil {
			return Output{}, err
		}
		return Output{Path: path}, nil
	})
}
