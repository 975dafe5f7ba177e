package ensembletest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// op builds a history entry for the checker tests; ret < 0 means an
// Unknown outcome (open forever).
func op(client int, call, ret int64, in Input, out Output) Op {
	if ret < 0 {
		ret = math.MaxInt64
		out.Outcome = Unknown
	}
	return Op{Client: client, Worker: client, SessionBefore: 1, SessionAfter: 1, Input: in, Output: out, Call: call, Return: ret}
}

func write(key, v string) Input { return Input{Kind: OpWrite, Key: key, Value: v} }
func cas(key string, ver int32, v string) Input {
	return Input{Kind: OpCAS, Key: key, Value: v, Version: ver}
}
func syncRead(key string) Input { return Input{Kind: OpSyncRead, Key: key} }
func read(key string) Input     { return Input{Kind: OpRead, Key: key} }
func ok(v string, ver int32) Output {
	return Output{Outcome: OK, Value: v, Version: ver}
}
func okVer(ver int32) Output { return Output{Outcome: OK, Version: ver} }

func TestRegisterModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want porcupine.CheckResult
	}{
		{"sequential", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(0, 20, 30, syncRead("/a"), ok("x", 1)),
			op(1, 40, 50, cas("/a", 1, "y"), okVer(2)),
			op(1, 60, 70, syncRead("/a"), ok("y", 2)),
		}, porcupine.Ok},
		{"concurrent writes either order", []Op{
			op(0, 0, 100, write("/a", "x"), okVer(2)),
			op(1, 0, 100, write("/a", "y"), okVer(1)),
			op(2, 110, 120, syncRead("/a"), ok("x", 2)),
		}, porcupine.Ok},
		{"stale sync-read", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(1, 20, 30, syncRead("/a"), ok(InitialValue, 0)),
		}, porcupine.Illegal},
		{"lost acknowledged write: version reused", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(1, 20, 30, write("/a", "y"), okVer(1)),
		}, porcupine.Illegal},
		{"unknown write may apply late", []Op{
			op(0, 0, -1, write("/a", "x"), Output{}),
			op(1, 20, 30, syncRead("/a"), ok(InitialValue, 0)),
			op(1, 40, 50, syncRead("/a"), ok("x", 1)),
		}, porcupine.Ok},
		{"unknown write may never apply", []Op{
			op(0, 0, -1, write("/a", "x"), Output{}),
			op(1, 20, 30, write("/a", "y"), okVer(1)),
			op(1, 40, 50, syncRead("/a"), ok("y", 1)),
		}, porcupine.Ok},
		{"unknown write cannot apply before its call", []Op{
			op(1, 0, 10, syncRead("/a"), ok("x", 1)),
			op(0, 20, -1, write("/a", "x"), Output{}),
		}, porcupine.Illegal},
		{"badversion means the version differed", []Op{
			op(0, 0, 10, cas("/a", 0, "x"), Output{Outcome: Failed, BadVersion: true}),
		}, porcupine.Illegal},
		{"badversion after a write", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(0, 20, 30, cas("/a", 0, "y"), Output{Outcome: Failed, BadVersion: true}),
			op(0, 40, 50, syncRead("/a"), ok("x", 1)),
		}, porcupine.Ok},
		{"keys are independent", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(1, 0, 10, write("/b", "x"), okVer(1)),
			op(1, 20, 30, syncRead("/b"), ok("x", 1)),
		}, porcupine.Ok},
		{"plain reads are not checked for linearizability", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(1, 20, 30, read("/a"), ok(InitialValue, 0)),
		}, porcupine.Ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckLinearizable(tc.ops, 10*time.Second, "")
			if err != nil || got != tc.want {
				t.Errorf("CheckLinearizable = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCheckReads(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want string // substring of the first error; "" for none
	}{
		{"monotonic", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(1, 20, 30, read("/a"), ok("x", 1)),
			op(1, 40, 50, read("/a"), ok("x", 1)),
		}, ""},
		{"stale but monotonic is fine", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(1, 20, 30, read("/a"), ok(InitialValue, 0)),
		}, ""},
		{"goes back", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(1, 20, 30, read("/a"), ok("x", 1)),
			op(1, 40, 50, read("/a"), ok(InitialValue, 0)),
		}, "saw version 0 after version 1"},
		{"own write then older read", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(0, 20, 30, read("/a"), ok(InitialValue, 0)),
		}, "saw version 0 after version 1"},
		{"new session may go back", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			{Client: 0, Worker: 0, SessionBefore: 2, SessionAfter: 2, Input: read("/a"), Output: ok(InitialValue, 0), Call: 20, Return: 30},
		}, ""},
		{"two values at one version", []Op{
			op(0, 0, 10, write("/a", "x"), okVer(1)),
			op(1, 20, 30, read("/a"), ok("y", 1)),
			op(2, 0, -1, write("/a", "y"), Output{}),
		}, "has two values"},
		{"value nobody wrote", []Op{
			op(1, 20, 30, read("/a"), ok("z", 1)),
		}, "nobody wrote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := CheckReads(tc.ops)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("CheckReads: %v", errs)
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want)):
				t.Errorf("CheckReads = %v; want an error with %q", errs, tc.want)
			}
		})
	}
}

func TestCheckCreates(t *testing.T) {
	create := func(client int, call, ret int64, value, path string) Op {
		return op(client, call, ret, Input{Kind: OpCreateSeq, Key: "/acked", Value: value}, Output{Outcome: OK, Path: path})
	}
	for _, tc := range []struct {
		name     string
		ops      []Op
		children map[string]string
		want     string
	}{
		{"all there", []Op{
			create(0, 0, 10, "a", "/acked/c0-0000000000"),
			create(1, 20, 30, "b", "/acked/c1-0000000001"),
			create(1, 40, -1, "c", ""),
		}, map[string]string{"c0-0000000000": "a", "c1-0000000001": "b", "c1-0000000002": "c"}, ""},
		{"unknown may be missing", []Op{
			create(0, 0, 10, "a", "/acked/c0-0000000000"),
			create(1, 40, -1, "c", ""),
		}, map[string]string{"c0-0000000000": "a"}, ""},
		{"acknowledged missing", []Op{
			create(0, 0, 10, "a", "/acked/c0-0000000000"),
			create(1, 20, 30, "b", "/acked/c1-0000000001"),
		}, map[string]string{"c0-0000000000": "a"}, "is missing"},
		{"phantom", []Op{
			create(0, 0, 10, "a", "/acked/c0-0000000000"),
		}, map[string]string{"c0-0000000000": "a", "c0-0000000001": "zz"}, "no create attempted"},
		{"applied twice", []Op{
			create(0, 0, 10, "a", "/acked/c0-0000000000"),
		}, map[string]string{"c0-0000000000": "a", "c0-0000000001": "a"}, "applied twice"},
		{"sequence against real time", []Op{
			create(0, 0, 10, "a", "/acked/c0-0000000005"),
			create(1, 20, 30, "b", "/acked/c1-0000000004"),
		}, map[string]string{"c0-0000000005": "a", "c1-0000000004": "b"}, "smaller number"},
		{"concurrent creates in any order", []Op{
			create(0, 0, 30, "a", "/acked/c0-0000000005"),
			create(1, 10, 40, "b", "/acked/c1-0000000004"),
		}, map[string]string{"c0-0000000005": "a", "c1-0000000004": "b"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := CheckCreates(tc.ops, tc.children)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("CheckCreates: %v", errs)
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want)):
				t.Errorf("CheckCreates = %v; want an error with %q", errs, tc.want)
			}
		})
	}
}
