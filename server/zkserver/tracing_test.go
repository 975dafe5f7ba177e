package zkserver_test

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// tracedServer starts a durable zkd (so writes have a txn log commit)
// whose spans go to an in-memory exporter.
func tracedServer(t *testing.T) (*zk.Conn, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	store, err := storage.Open(storage.Options{DataDir: t.TempDir(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := zkservertest.Start(t, zkserver.Options{Store: store, Tracer: tp.Tracer("test")})
	conn, _, err := zk.Connect([]string{srv.Addr().String()}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	for conn.State() != zk.StateHasSession {
		time.Sleep(5 * time.Millisecond)
	}
	return conn, exp
}

// waitSpan waits for an ended span with the given name: the request span
// ends after the reply is on its way, so a client can get ahead of it.
// waitSpan waits (bounded) for the span called name about path. Spans end
// after their reply is queued, so a span of an earlier request can still
// arrive after the exporter was reset: matching the path keeps it out.
func waitSpan(t *testing.T, exp *tracetest.InMemoryExporter, name, path string) tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range exp.GetSpans() {
			if s.Name == name && attrs(s)["zk.path"].AsString() == path {
				return s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no span %q for %s; have %v", name, path, spanNames(exp.GetSpans()))
	return tracetest.SpanStub{}
}

// waitChildren waits (bounded) until n spans under parent were exported.
func waitChildren(t *testing.T, exp *tracetest.InMemoryExporter, parent trace.SpanContext, n int) tracetest.SpanStubs {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans := exp.GetSpans()
		if len(childrenOf(spans, parent)) >= n || time.Now().After(deadline) {
			return spans
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func childrenOf(spans tracetest.SpanStubs, parent trace.SpanContext) map[string]tracetest.SpanStub {
	out := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if s.Parent.SpanID() == parent.SpanID() && s.Parent.TraceID() == parent.TraceID() {
			out[s.Name] = s
		}
	}
	return out
}

func TestTracingRequestSpans(t *testing.T) {
	conn, exp := tracedServer(t)
	secret := []byte("never-in-a-span")
	if _, err := conn.Create("/exists", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		do       func() error
		span     string
		path     string
		result   string
		children []string // phase spans under the request span
	}{
		{"create", func() error {
			_, err := conn.Create("/traced", secret, 0, zk.WorldACL(zk.PermAll))
			return err
		}, "zk.create", "/traced", "OK", []string{"zk.apply", "zk.fsync", "zk.prep"}},
		{"getData is one span", func() error {
			_, _, err := conn.Get("/traced")
			return err
		}, "zk.getData", "/traced", "OK", nil},
		{"exists of a missing node", func() error {
			_, _, err := conn.Exists("/missing")
			return err
		}, "zk.exists", "/missing", "NONODE", nil},
		{"create that fails", func() error {
			if _, err := conn.Create("/exists", nil, 0, zk.WorldACL(zk.PermAll)); err != zk.ErrNodeExists {
				return fmt.Errorf("got %v, want node exists", err)
			}
			return nil
		}, "zk.create", "/exists", "NODEEXISTS", []string{"zk.apply", "zk.fsync", "zk.prep"}},
		{"setData with a bad version", func() error {
			if _, err := conn.Set("/traced", secret, 42); err != zk.ErrBadVersion {
				return fmt.Errorf("got %v, want bad version", err)
			}
			return nil
		}, "zk.setData", "/traced", "BADVERSION", []string{"zk.apply", "zk.fsync", "zk.prep"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
			root := waitSpan(t, exp, tc.span, tc.path)
			spans := waitChildren(t, exp, root.SpanContext, len(tc.children))
			// A later write's zxid bounds the zxid of this reply.
			marker := "/marker-" + strings.ReplaceAll(tc.name, " ", "-")
			if _, err := conn.Create(marker, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
			_, later, err := conn.Exists(marker)
			if err != nil {
				t.Fatal(err)
			}

			if root.Parent.IsValid() || root.SpanKind != trace.SpanKindServer {
				t.Errorf("request span: parent %v kind %v, want a server root span", root.Parent, root.SpanKind)
			}
			a := attrs(root)
			want := map[attribute.Key]string{
				"zk.session_id": fmt.Sprintf("0x%x", conn.SessionID()),
				"zk.op":         strings.TrimPrefix(tc.span, "zk."),
				"zk.path":       tc.path,
				"zk.result":     tc.result,
			}
			for k, v := range want {
				if got := a[k].AsString(); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if xid := a["zk.xid"].AsInt64(); xid <= 0 {
				t.Errorf("zk.xid = %d, want the client's xid", xid)
			}
			zxid, err := strconv.ParseInt(a["zk.zxid"].AsString(), 0, 64)
			if err != nil || zxid <= 0 || zxid >= later.Czxid {
				t.Errorf("zk.zxid = %q, want a zxid below the next write's 0x%x", a["zk.zxid"].AsString(), later.Czxid)
			}
			if tc.name == "create" {
				_, st, err := conn.Exists(tc.path)
				if err != nil || zxid != st.Czxid {
					t.Errorf("create's zk.zxid = 0x%x, want the node's czxid 0x%x (%v)", zxid, st.Czxid, err)
				}
			}
			wantStatus := codes.Unset
			if tc.result != "OK" {
				wantStatus = codes.Error
			}
			if root.Status.Code != wantStatus || (wantStatus == codes.Error && root.Status.Description != tc.result) {
				t.Errorf("status %v %q, want %v %q", root.Status.Code, root.Status.Description, wantStatus, tc.result)
			}
			if len(root.Events) != 1 || root.Events[0].Name != "reply queued" || !root.Events[0].Time.Equal(root.EndTime) {
				t.Errorf("events %+v, want one 'reply queued' at the span's end", root.Events)
			}

			kids := childrenOf(spans, root.SpanContext)
			var names []string
			for n := range kids {
				names = append(names, n)
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.children) {
				t.Fatalf("children %v, want %v", names, tc.children)
			}
			if tc.children != nil {
				// The phases follow each other inside the request span.
				steps := []tracetest.SpanStub{kids["zk.prep"], kids["zk.fsync"], kids["zk.apply"]}
				prev := root.StartTime
				for _, s := range steps {
					if s.StartTime.Before(prev) || s.EndTime.Before(s.StartTime) {
						t.Errorf("%s [%v, %v] starts before the previous step ended (%v)", s.Name, s.StartTime, s.EndTime, prev)
					}
					prev = s.EndTime
				}
				if root.EndTime.Before(prev) {
					t.Errorf("request span ends at %v, before its last phase (%v)", root.EndTime, prev)
				}
				commit := childrenOf(spans, kids["zk.fsync"].SpanContext)["txnlog.commit"]
				if !slices.ContainsFunc(commit.Links, func(l sdktrace.Link) bool { return l.SpanContext.Equal(root.SpanContext) }) {
					t.Errorf("txnlog.commit %+v does not link to the request span", commit)
				}
				if n := attrs(commit)["zk.batch.txns"].AsInt64(); n < 1 {
					t.Errorf("txnlog.commit zk.batch.txns = %d", n)
				}
			}
			for _, s := range spans {
				for _, kv := range s.Attributes {
					if bytes.Contains([]byte(kv.Value.Emit()), secret) {
						t.Errorf("span %s carries the znode data in %s", s.Name, kv.Key)
					}
				}
			}
		})
	}
}

// TestTracingBatchSharesOneCommit writes from many clients at once over a
// fsynced log, so that writes queue behind each fsync and share a commit,
// and checks the links between each batch's commit and its requests.
func TestTracingBatchSharesOneCommit(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	store, err := storage.Open(storage.Options{DataDir: t.TempDir(), ForceSync: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := zkservertest.Start(t, zkserver.Options{Store: store, Tracer: tp.Tracer("test")})
	const clients, perClient = 8, 20
	var wg sync.WaitGroup
	var next atomic.Int64
	for range clients {
		conn, _, err := zk.Connect([]string{srv.Addr().String()}, 10*time.Second, zk.WithLogInfo(false))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wg.Go(func() {
			for range perClient {
				if _, err := conn.Create(fmt.Sprintf("/n%d", next.Add(1)), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Wait until every create's span has ended.
	deadline := time.Now().Add(5 * time.Second)
	var spans tracetest.SpanStubs
	for {
		spans = exp.GetSpans()
		n := 0
		for _, s := range spans {
			if s.Name == "zk.create" {
				n++
			}
		}
		if n == clients*perClient {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d create spans, want %d", n, clients*perClient)
		}
		time.Sleep(10 * time.Millisecond)
	}

	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	commitOf := map[trace.SpanID]trace.SpanID{} // create span -> its batch's commit span
	shared := 0
	for _, c := range spans {
		if c.Name != "txnlog.commit" {
			continue
		}
		if got := attrs(c)["zk.batch.txns"].AsInt64(); got != int64(len(c.Links)) {
			t.Errorf("commit links %d requests, zk.batch.txns = %d", len(c.Links), got)
		}
		if len(c.Links) > 1 {
			shared++
		}
		for _, l := range c.Links {
			req, ok := byID[l.SpanContext.SpanID()]
			if !ok || !strings.HasPrefix(req.Name, "zk.") {
				t.Fatalf("commit links to %v, not a request span", l.SpanContext)
			}
			if prev, dup := commitOf[req.SpanContext.SpanID()]; dup {
				t.Fatalf("request %s is linked from commits %v and %v", req.Name, prev, c.SpanContext.SpanID())
			}
			commitOf[req.SpanContext.SpanID()] = c.SpanContext.SpanID()
		}
	}
	if shared == 0 {
		t.Fatal("no commit span was shared by several requests; the test did not exercise group commit")
	}
	// Each create's fsync span is the commit's parent or links to it.
	for _, s := range spans {
		if s.Name != "zk.fsync" {
			continue
		}
		commit, ok := commitOf[s.Parent.SpanID()]
		if !ok {
			if byID[s.Parent.SpanID()].Name == "zk.createSession" {
				continue
			}
			t.Fatalf("fsync span under %v belongs to no commit", s.Parent)
		}
		isParent := byID[commit].Parent.SpanID() == s.SpanContext.SpanID()
		linked := len(s.Links) == 1 && s.Links[0].SpanContext.SpanID() == commit
		if isParent == linked {
			t.Errorf("fsync span %v: parent of commit %v, links %v; want exactly one of the two", s.SpanContext.SpanID(), isParent, s.Links)
		}
	}
}

// TestTracingOffLogsRequests checks the debug line every request writes:
// session id, xid and zxid, and no trace id when tracing is off.
func TestTracingOffLogsRequests(t *testing.T) {
	var buf syncBuffer
	srv, err := zkserver.New(zkserver.Options{
		ListenAddr: fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t, "127.0.0.1")),
		Logger:     zerolog.New(&buf).Level(zerolog.DebugLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.StartAsync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := srv.AwaitRunning(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.StopAsync(); _ = srv.AwaitTerminated(t.Context()) })
	conn, _, err := zk.Connect([]string{srv.Addr().String()}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Create("/logged", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.Get("/logged"); err != nil {
		t.Fatal(err)
	}
	sid := fmt.Sprintf(`"session":"0x%x"`, conn.SessionID())
	for _, op := range []string{"create", "getData"} {
		var line string
		deadline := time.Now().Add(5 * time.Second)
		for line == "" && time.Now().Before(deadline) {
			for _, l := range strings.Split(buf.String(), "\n") {
				if strings.Contains(l, `"message":"request"`) && strings.Contains(l, `"op":"`+op+`"`) {
					line = l
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		for _, want := range []string{sid, `"xid":`, `"zxid":"0x`, `"result":"OK"`, `"level":"debug"`} {
			if !strings.Contains(line, want) {
				t.Errorf("%s log line %q lacks %s", op, line, want)
			}
		}
		if strings.Contains(line, "trace_id") {
			t.Errorf("untraced request logged a trace id: %s", line)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTracingAcrossEnsemble: a write through a follower is one trace: the
// follower's request span with a "zk.forward" child, and the leader's span
// of the same request as its child (the span context travels with the
// forwarded REQUEST) with "zk.prep" and "zk.quorum" children, the latter
// holding an "ack" event per follower ACK and the leader's "zk.fsync"
// unless the followers' ACKs alone made the quorum.
func TestTracingAcrossEnsemble(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{
		Change: func(id int64, o *zkserver.Options) { o.Tracer = tp.Tracer(fmt.Sprintf("member-%d", id)) },
	})
	leader := e.WaitServing()
	follower := e.Followers(leader)[0]
	c := connectEnsemble(t, e, follower)
	exp.Reset()
	if _, err := c.Create("/traced", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	var onFollower, onLeader tracetest.SpanStub
	deadline := time.Now().Add(5 * time.Second)
	for (onFollower.Name == "" || onLeader.Name == "") && time.Now().Before(deadline) {
		for _, s := range exp.GetSpans() {
			if s.Name != "zk.create" || attrs(s)["zk.path"].AsString() != "/traced" {
				continue
			}
			if _, fwd := attrs(s)["zk.forwarded_from"]; fwd {
				onLeader = s
			} else {
				onFollower = s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if onFollower.Name == "" || onLeader.Name == "" {
		t.Fatalf("want the create's span on the follower and on the leader; have %v", spanNames(exp.GetSpans()))
	}
	if onLeader.Parent.SpanID() != onFollower.SpanContext.SpanID() || onLeader.SpanContext.TraceID() != onFollower.SpanContext.TraceID() {
		t.Errorf("leader's span is not a child of the follower's: parent %v, follower span %v", onLeader.Parent, onFollower.SpanContext)
	}
	if got := attrs(onLeader)["zk.forwarded_from"].AsInt64(); got != follower {
		t.Errorf("zk.forwarded_from = %d, want %d", got, follower)
	}
	spans := waitChildren(t, exp, onFollower.SpanContext, 2) // zk.forward and the leader's span
	if _, ok := childrenOf(spans, onFollower.SpanContext)["zk.forward"]; !ok {
		t.Errorf("follower span children %v, want zk.forward", childrenOf(spans, onFollower.SpanContext))
	}
	spans = waitChildren(t, exp, onLeader.SpanContext, 2)
	kids := childrenOf(spans, onLeader.SpanContext)
	for _, want := range []string{"zk.prep", "zk.quorum"} {
		if _, ok := kids[want]; !ok {
			t.Errorf("leader span children %v, want %s", kids, want)
		}
	}
	// zk.quorum splits into the leader's own fsync and the followers'
	// ACKs. A commit needs a quorum of durable copies: the leader's and at
	// least one follower's, or two followers' alone when their ACKs beat the
	// leader's own disk. Then the write did not wait for the leader's fsync,
	// and zk.quorum has no zk.fsync child.
	if quorum, ok := kids["zk.quorum"]; ok {
		followers := e.Followers(leader)
		acks := 0
		for _, ev := range quorum.Events {
			if ev.Name != "ack" {
				continue
			}
			acks++
			var from int64
			for _, kv := range ev.Attributes {
				if kv.Key == "zk.ack.server_id" {
					from = kv.Value.AsInt64()
				}
			}
			if !slices.Contains(followers, from) {
				t.Errorf("ack event from server %d, want one of the followers %v", from, followers)
			}
			if ev.Time.Before(quorum.StartTime) || ev.Time.After(quorum.EndTime) {
				t.Errorf("ack event at %v outside zk.quorum [%v, %v]", ev.Time, quorum.StartTime, quorum.EndTime)
			}
		}
		if acks == 0 {
			t.Errorf("zk.quorum has no ack event; events %v", quorum.Events)
		}
		// zk.fsync, when there is one, ended before zk.quorum did, so it
		// is exported already.
		kids := childrenOf(exp.GetSpans(), quorum.SpanContext)
		fsync, ok := kids["zk.fsync"]
		switch {
		case !ok && acks < (len(followers)+1)/2+1:
			t.Errorf("zk.quorum children %v with %d ack event(s): want zk.fsync, or ACKs from a quorum of followers", kids, acks)
		case ok && (fsync.StartTime.Before(quorum.StartTime) || fsync.EndTime.After(quorum.EndTime)):
			t.Errorf("zk.fsync [%v, %v] is not inside zk.quorum [%v, %v]", fsync.StartTime, fsync.EndTime, quorum.StartTime, quorum.EndTime)
		}
	}
	if onFollower.Status.Code == codes.Error || onLeader.Status.Code == codes.Error {
		t.Errorf("span status: follower %v, leader %v", onFollower.Status, onLeader.Status)
	}
}
