package zkserver

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/zkd-io/zkd/server/prep"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/txnlog"
)

// TestTracingFailedCommit drives one batch through the pipeline by hand
// over a txn log that cannot be written: the commit span and every
// request's fsync span record the error, and the requests end in
// SYSTEMERROR, the reply their clients get.
func TestTracingFailedCommit(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	store, err := storage.Open(storage.Options{DataDir: t.TempDir(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	s, err := New(Options{Store: store, Tracer: tp.Tracer("test"), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	defer client.Close()
	c := newConn(s, server, 1)
	defer c.close("test")
	sid := s.sessions.NextID()
	if err := s.sessions.Create(sid, 10*time.Second, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.sessionID.Store(sid)
	// The first txn's log file cannot be created: a non-empty directory
	// holds its name, so the batch's append fails.
	if err := os.MkdirAll(filepath.Join(store.LogDir(), txnlog.LogName(1), "x"), 0o755); err != nil {
		t.Fatal(err)
	}

	// Queued before the pipeline runs, the writes form one batch.
	const writes = 3
	for i := range writes {
		xid := int32(i + 1)
		s.submit(&writeReq{conn: c, xid: xid, start: time.Now(), req: prep.Request{SessionID: sid, Cxid: xid,
			Op: proto.OpCreate, Body: &proto.CreateRequest{Path: "/n" + string(rune('a'+i)), ACL: proto.OpenACLUnsafe}}})
	}
	close(s.writes)
	s.pipeline()

	spans := exp.GetSpans()
	count := map[string]int{}
	for _, sp := range spans {
		count[sp.Name]++
		switch sp.Name {
		case "zk.create":
			res := ""
			for _, kv := range sp.Attributes {
				if kv.Key == attrResult {
					res = kv.Value.AsString()
				}
			}
			if sp.Status.Code != codes.Error || res != "SYSTEMERROR" {
				t.Errorf("request span: status %v, result %q; want Error, SYSTEMERROR", sp.Status, res)
			}
		case spanCommit:
			if len(sp.Links) != writes || sp.Status.Code != codes.Error {
				t.Errorf("commit span: %d links, status %v; want %d links and Error", len(sp.Links), sp.Status, writes)
			}
			fallthrough
		case "zk.fsync":
			if sp.Status.Code != codes.Error || len(sp.Events) != 1 || sp.Events[0].Name != "exception" {
				t.Errorf("%s: status %v events %v; want the write error recorded", sp.Name, sp.Status, sp.Events)
			}
		default:
			if sp.Name != "zk.prep" {
				t.Errorf("unexpected span %s", sp.Name)
			}
		}
	}
	want := map[string]int{"zk.create": writes, "zk.prep": writes, "zk.fsync": writes, spanCommit: 1}
	for name, n := range want {
		if count[name] != n {
			t.Errorf("%d %s spans, want %d (all: %v)", count[name], name, n, count)
		}
	}
}
