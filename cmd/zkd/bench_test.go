package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/loadgen"
	"github.com/zkd-io/zkd/server/testpeer"
	"github.com/zkd-io/zkd/server/zkserver"
	"github.com/zkd-io/zkd/server/zkservertest"
)

func TestBenchArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		err  string // substring of the error; "" for success
		// check inspects a successful parse.
		check func(t *testing.T, o benchOptions)
	}{
		{"defaults", []string{"-servers", "127.0.0.1:2181"}, "", func(t *testing.T, o benchOptions) {
			c := o.cfg
			if len(c.Servers) != 1 || c.Clients != 16 || c.Pipeline != 1 || c.Duration != 20*time.Second ||
				c.PayloadSize != 128 || c.KeySpace != 1000 || c.Warmup != 2*time.Second || c.ConnectAll || o.json || c.Rate != 0 {
				t.Errorf("defaults: %+v", o)
			}
			if len(o.workloads) != 1 || o.workloads[0] != loadgen.Mixed(90) {
				t.Errorf("default workload %v", o.workloads)
			}
		}},
		{"everything", []string{"-servers", "a:1, b:2,127.0.0.3:2181", "-clients", "4", "-pipeline", "8", "-workload", "create,set, get,mixed-50",
			"-duration", "3s", "-ops", "1000", "-warmup", "0s", "-payload", "0", "-keys", "10", "-connect-all", "-json", "-name", "zkd 3-node",
			"-root", "/b", "-connect-timeout", "2s", "-rate", "2500"}, "", func(t *testing.T, o benchOptions) {
			c := o.cfg
			if strings.Join(c.Servers, " ") != "a:1 b:2 127.0.0.3:2181" || c.Clients != 4 || c.Pipeline != 8 || c.Duration != 3*time.Second ||
				c.Ops != 1000 || c.Warmup != 0 || c.PayloadSize != 0 || c.KeySpace != 10 || !c.ConnectAll || !o.json ||
				o.target != "zkd 3-node" || c.Root != "/b" || c.ConnectTimeout != 2*time.Second || c.Rate != 2500 {
				t.Errorf("parsed %+v", o)
			}
			want := []loadgen.Workload{loadgen.Create, loadgen.Set, loadgen.Get, loadgen.Mixed(50)}
			if fmt.Sprint(o.workloads) != fmt.Sprint(want) {
				t.Errorf("workloads %v, want %v", o.workloads, want)
			}
		}},
		{"ops only", []string{"-servers", "h:1", "-duration", "0", "-ops", "5"}, "", nil},
		{"no servers", nil, "-servers is required", nil},
		{"server without port", []string{"-servers", "localhost"}, `"localhost" is not host:port`, nil},
		{"bad port", []string{"-servers", "h:99999"}, "port from 1 to 65535", nil},
		{"empty entry", []string{"-servers", "h:1,"}, `"" is not host:port`, nil},
		{"positional", []string{"-servers", "h:1", "h:2"}, `unexpected argument "h:2"`, nil},
		{"unknown workload", []string{"-servers", "h:1", "-workload", "delete"}, "unknown workload", nil},
		{"mixed without ratio", []string{"-servers", "h:1", "-workload", "mixed"}, "read percentage", nil},
		{"zero clients", []string{"-servers", "h:1", "-clients", "0"}, "-clients 0", nil},
		{"zero pipeline", []string{"-servers", "h:1", "-pipeline", "0"}, "-pipeline 0", nil},
		{"zero keys", []string{"-servers", "h:1", "-keys", "0"}, "-keys 0", nil},
		{"negative rate", []string{"-servers", "h:1", "-rate", "-5"}, "-rate -5", nil},
		{"negative payload", []string{"-servers", "h:1", "-payload", "-1"}, "-payload -1", nil},
		{"huge payload", []string{"-servers", "h:1", "-payload", "2000000"}, "jute.maxbuffer", nil},
		{"never ends", []string{"-servers", "h:1", "-duration", "0"}, "never ends", nil},
		{"negative warmup", []string{"-servers", "h:1", "-warmup", "-1s"}, "must not be negative", nil},
		{"bad duration", []string{"-servers", "h:1", "-duration", "soon"}, "invalid value", nil},
		{"unknown flag", []string{"-servers", "h:1", "-threads", "4"}, "not defined", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseBenchArgs(tc.args, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				var coded interface{ ExitCode() int }
				if !errors.As(err, &coded) || coded.ExitCode() != 2 {
					t.Errorf("usage error %v: want exit status 2", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

func TestBenchHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"bench", "-h"}, &out, &errOut); err != nil {
		t.Fatalf("bench -h: %v", err)
	}
	if !strings.Contains(errOut.String(), "usage: zkd bench") || !strings.Contains(errOut.String(), "-workload") {
		t.Errorf("bench -h printed %q", errOut.String())
	}
}

func TestBenchRun(t *testing.T) {
	addr := zkservertest.Start(t, zkserver.Options{}).Addr().String()
	base := []string{"bench", "-servers", addr, "-clients", "2", "-duration", "500ms", "-warmup", "100ms", "-keys", "20", "-payload", "16"}

	var out, errOut bytes.Buffer
	if err := run(append(base, "-workload", "create,mixed-80"), &out, &errOut); err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "workload") || !strings.HasPrefix(lines[1], "create ") ||
		!strings.HasPrefix(lines[2], "mixed-80 ") || !strings.HasPrefix(lines[3], "  set ") || !strings.HasPrefix(lines[4], "  get ") {
		t.Errorf("table:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "zkd bench: create on "+addr) {
		t.Errorf("progress on stderr: %q", errOut.String())
	}

	out.Reset()
	if err := run(append(base, "-workload", "get", "-json", "-name", "zkd 1-node"), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var results []loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatalf("JSON output: %v\n%s", err, out.String())
	}
	if len(results) != 1 || results[0].Workload != "get" || results[0].Target != "zkd 1-node" || results[0].Ops == 0 ||
		results[0].Latency.P99 == 0 || results[0].PerOp["get"].Ops != results[0].Ops {
		t.Errorf("JSON results %+v", results)
	}
}

func TestBenchUnreachable(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t, "127.0.0.1"))
	var out bytes.Buffer
	err := run([]string{"bench", "-servers", addr, "-duration", "1s", "-connect-timeout", "300ms"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "connect to "+addr) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err %v, want connection refused to %s", err, addr)
	}
	if out.Len() != 0 {
		t.Errorf("results printed for a failed run: %q", out.String())
	}
}
