package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/zkd-io/zkd/server/testpeer"
)

// otlpSink is a minimal OTLP/HTTP trace receiver: it decodes each export
// request and keeps the spans' names, attributes and resources.
type otlpSink struct {
	mu       sync.Mutex
	spans    map[string]map[string]string // span name -> attribute -> value
	resource map[string]string
	bad      []string
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	var req collectortrace.ExportTraceServiceRequest
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/v1/traces":
		s.bad = append(s.bad, r.Method+" "+r.URL.Path)
	case r.Header.Get("Content-Type") != "application/x-protobuf":
		s.bad = append(s.bad, "content type "+r.Header.Get("Content-Type"))
	case err != nil:
		s.bad = append(s.bad, err.Error())
	default:
		if err := proto.Unmarshal(body, &req); err != nil {
			s.bad = append(s.bad, "decode: "+err.Error())
		}
	}
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			s.resource[kv.Key] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				attrs := map[string]string{}
				for _, kv := range sp.Attributes {
					attrs[kv.Key] = kv.GetValue().GetStringValue()
				}
				s.spans[sp.Name] = attrs
			}
		}
	}
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// TestServerTracingOTLP runs `zkd server -tracing.otlp-endpoint` against
// an in-test collector and checks that a client request's spans arrive,
// flushed by the clean shutdown on SIGTERM.
func TestServerTracingOTLP(t *testing.T) {
	bin := buildBinary(t)
	sink := &otlpSink{spans: map[string]map[string]string{}, resource: map[string]string{}}
	collector := httptest.NewServer(sink)
	defer collector.Close()

	dir := t.TempDir()
	clientPort := testpeer.FreePort(t, "127.0.0.1")
	httpPort := testpeer.FreePort(t, "127.0.0.1")
	cfg := filepath.Join(dir, "zoo.cfg")
	conf := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"zkd.httpAddress=127.0.0.1\nzkd.httpPort=%d\n", dir, clientPort, httpPort)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cmd := exec.Command(bin, "server",
		"-tracing.otlp-endpoint", strings.TrimPrefix(collector.URL, "http://"), "-tracing.insecure", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	addr := fmt.Sprintf("127.0.0.1:%d", clientPort)
	var conn *zk.Conn
	for i := 0; i < 100 && conn == nil; i++ {
		if _, err := testpeer.FourLetter(addr, "srvr", time.Second); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	}
	if conn == nil {
		t.Fatalf("server did not start; logs:\n%s", logs.String())
	}
	if _, err := conn.Create("/traced", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// Spans are exported in batches in the background; SIGTERM must flush
	// what is still queued before zkd exits.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("zkd exited with %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("zkd did not exit on SIGTERM; logs:\n%s", logs.String())
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.bad) > 0 {
		t.Errorf("malformed export requests: %v", sink.bad)
	}
	create, ok := sink.spans["zk.create"]
	if !ok {
		t.Fatalf("no zk.create span arrived; spans %v; logs:\n%s", sink.spans, logs.String())
	}
	if create["zk.path"] != "/traced" || create["zk.result"] != "OK" {
		t.Errorf("zk.create attributes %v", create)
	}
	for _, name := range []string{"zk.createSession", "zk.prep", "zk.fsync", "zk.apply", "txnlog.commit"} {
		if _, ok := sink.spans[name]; !ok {
			t.Errorf("no %s span arrived", name)
		}
	}
	for k, v := range map[string]string{"service.name": "zkd", "service.instance.id": "0", "service.version": version} {
		if sink.resource[k] != v {
			t.Errorf("resource %s = %q, want %q", k, sink.resource[k], v)
		}
	}
}

func TestTracingFlags(t *testing.T) {
	cases := []struct {
		name string
		cfg  tracingConfig
		want string // error substring; "" means accepted
	}{
		{"off", tracingConfig{ratio: 7}, ""},
		{"host:port", tracingConfig{endpoint: "127.0.0.1:4318", ratio: 1, insecure: true}, ""},
		{"base URL", tracingConfig{endpoint: "http://collector:4318", ratio: 0.5}, ""},
		{"ratio above 1", tracingConfig{endpoint: "127.0.0.1:4318", ratio: 1.5}, "-tracing.sample-ratio"},
		{"negative ratio", tracingConfig{endpoint: "127.0.0.1:4318", ratio: -0.1}, "-tracing.sample-ratio"},
		{"no port", tracingConfig{endpoint: "collector", ratio: 1}, "neither host:port nor a URL"},
		{"not http", tracingConfig{endpoint: "grpc://collector:4317", ratio: 1}, "not an http(s) URL"},
		{"insecure https", tracingConfig{endpoint: "https://collector:4318", ratio: 1, insecure: true}, "contradicts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := newTracerProvider(tc.cfg, 0, zerolog.Nop())
			if tp != nil {
				defer tp.Shutdown(t.Context())
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case tc.want == "" && (tp == nil) != (tc.cfg.endpoint == ""):
				t.Fatalf("provider %v for endpoint %q", tp, tc.cfg.endpoint)
			}
		})
	}
}
