package logdump

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

func TestFilters(t *testing.T) {
	_, logPath := writeSample(t, t.TempDir())
	in, err := Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	mustTypes := func(s string) map[string]bool {
		m, err := ParseTypes(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	s2 := sess2
	tests := []struct {
		name   string
		filter Filter
		want   []string // zxids, as hex
	}{
		{"all", Filter{}, nil},
		{"from-to", Filter{FromZxid: 0x10000000f, ToZxid: 0x100000010}, []string{"0x10000000f", "0x100000010"}},
		{"path includes multi sub-ops and failed multis", Filter{PathPrefix: "/m"}, []string{"0x100000009"}},
		{"path is component-aware", Filter{PathPrefix: "/b"}, []string{}},
		{"path with * is a string prefix", Filter{PathPrefix: "/b*"}, []string{"0x10000000b"}},
		{"path below", Filter{PathPrefix: "/c"}, []string{"0x100000004", "0x10000000c", "0x10000000d", "0x10000000e"}},
		{"path matches closeSession ephemerals", Filter{PathPrefix: "/a/e2"}, []string{"0x100000010", "0x100000011"}},
		{"session", Filter{Session: &s2}, []string{"0x10000000f", "0x100000010", "0x100000011"}},
		{"type", Filter{Types: mustTypes("createTtl,DELETECONTAINER")}, []string{"0x100000005", "0x10000000e"}},
		{"type matches sub-ops", Filter{Types: mustTypes("check")}, []string{"0x100000009"}},
		{"since until", Filter{Since: time.UnixMilli(baseTime + 1500), Until: time.UnixMilli(baseTime + 3000)}, []string{"0x100000002", "0x100000003"}},
		{"combined", Filter{PathPrefix: "/a", Types: mustTypes("create,create2"), Session: ptr(sess1)}, []string{"0x100000002", "0x100000003"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			res, err := Dump(&buf, in, Options{JSON: true, Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			dec := json.NewDecoder(&buf)
			for dec.More() {
				var x Txn
				if err := dec.Decode(&x); err != nil {
					t.Fatal(err)
				}
				got = append(got, x.Zxid)
			}
			if tt.want == nil {
				if len(got) != len(sampleTxns()) || res.Txns != len(got) {
					t.Fatalf("got %d txns, want all %d", len(got), len(sampleTxns()))
				}
				return
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") || res.Shown != len(tt.want) {
				t.Errorf("got %v (shown %d), want %v", got, res.Shown, tt.want)
			}
		})
	}
}

func TestParsers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{{"0x100000001", 0x100000001, true}, {"4294967297", 0x100000001, true}, {"0XFF", 255, true}, {"zz", 0, false}, {"0x", 0, false}} {
		got, err := ParseZxid(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseZxid(%q) = %#x, %v", tt.in, got, err)
		}
	}
	if ts, err := ParseTime("2023-11-14T22:13:20Z"); err != nil || ts.UnixMilli() != baseTime {
		t.Errorf("ParseTime RFC3339 = %v, %v", ts, err)
	}
	if ts, err := ParseTime("1700000000000"); err != nil || ts.UnixMilli() != baseTime {
		t.Errorf("ParseTime ms = %v, %v", ts, err)
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime accepted junk")
	}
	if _, err := ParseTypes("create,bogus"); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("ParseTypes error %v", err)
	}
	if _, err := ParseDataFormat("rot13"); err == nil {
		t.Error("ParseDataFormat accepted rot13")
	}
	for _, tt := range []struct {
		perms int32
		want  string
	}{{31, "cdrwa"}, {1, "r"}, {0, ""}, {15, "cdrw"}, {17, "ra"}} {
		if got := PermString(tt.perms); got != tt.want {
			t.Errorf("PermString(%d) = %q, want %q", tt.perms, got, tt.want)
		}
	}
	for _, tt := range []struct {
		data []byte
		f    DataFormat
		max  int
		want string
	}{
		{[]byte("héllo"), DataUTF8, 64, `data(6)="héllo"`},
		{[]byte("héllo"), DataUTF8, 2, `data(6)="h"…(+5 bytes)`},
		{[]byte{0, 1}, DataUTF8, 64, `data(2)=0x0001`},
		{[]byte("ab"), DataBase64, 64, `data(2)=b64:YWI=`},
		{[]byte("ab"), DataNone, 64, `data(2)`},
		{[]byte("abc"), DataHex, -1, `data(3)=0x616263`},
	} {
		if got := formatData(tt.data, tt.f, tt.max); got != tt.want {
			t.Errorf("formatData(%q, %s, %d) = %s, want %s", tt.data, tt.f, tt.max, got, tt.want)
		}
	}
}

// TestVerifyDamage flips a payload byte (checksum mismatch, reading goes on)
// and tears the last record; both are reported with file and offset.
func TestVerifyDamage(t *testing.T) {
	v2, logPath := writeSample(t, t.TempDir())
	in, err := Open(v2)
	if err != nil {
		t.Fatal(err)
	}
	var entries []Txn
	var buf bytes.Buffer
	if _, err := Dump(&buf, in, Options{JSON: true}); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var x Txn
		if err := dec.Decode(&x); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, x)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	flipped := entries[3]
	b[flipped.Offset+12+37] ^= 0x01 // a path byte: after checksum+length (12), TxnHeader (32) and the path length (4)
	last := entries[len(entries)-1]
	b = b[:last.Offset+last.Size-3]
	if err := os.WriteFile(logPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	r, err := Verify(&buf, in)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if r.OK() || !strings.Contains(out, "DAMAGED: 2 problems") {
		t.Fatalf("verify found %v:\n%s", r.Problems, out)
	}
	want := []Problem{
		{File: "log.100000001", Offset: flipped.Offset, Kind: "checksum"},
		{File: "log.100000001", Offset: last.Offset, Kind: "torn-tail"},
	}
	for i, w := range want {
		p := r.Problems[i]
		if p.File != w.File || p.Offset != w.Offset || p.Kind != w.Kind {
			t.Errorf("problem %d = %+v, want %+v", i, p, w)
		}
		if line := w.File + " offset " + itoa(w.Offset) + ": " + w.Kind; !strings.Contains(out, line) {
			t.Errorf("report lacks %q:\n%s", line, out)
		}
	}
	// The records after the bad checksum are still read: 16 of 17 (the last is torn).
	if r.Txns != len(entries)-1 {
		t.Errorf("verify read %d txns, want %d", r.Txns, len(entries)-1)
	}
}

func TestVerifyContinuity(t *testing.T) {
	v2, logPath := writeSample(t, t.TempDir())
	// A second copy of the log, renamed to start later: the zxids go back
	// (one overlap reported where they do) and the name does not match.
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v2+"/log.100000020", b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, out := verifyDir(t, v2)
	kinds := map[string]int{}
	for _, p := range r.Problems {
		kinds[p.Kind]++
	}
	if kinds["name"] != 1 || kinds["overlap"] != 1 {
		t.Errorf("problems %v:\n%s", kinds, out)
	}
}

// verifyDir runs Verify on a version-2 directory and returns its report
// and what it printed.
func verifyDir(t *testing.T, v2 string) (*Report, string) {
	t.Helper()
	in, err := Open(v2)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	r, err := Verify(&buf, in)
	if err != nil {
		t.Fatal(err)
	}
	return r, buf.String()
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestVerifyCoveredGap: a log that skips txns inside an epoch and goes on
// right after a valid snapshot, as an Apache ZooKeeper learner leaves it
// after a SNAP, is noted but not damaged; the same gap with the snapshot
// one txn short is damage.
func TestVerifyCoveredGap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		snap    int64
		damaged bool
	}{
		{"snapshot right before the log goes on", 0x100000008, false},
		{"snapshot one txn short", 0x100000007, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v2 := filepath.Join(t.TempDir(), "version-2")
			if err := os.MkdirAll(v2, 0o755); err != nil {
				t.Fatal(err)
			}
			w, err := txnlog.OpenWriter(txnlog.Options{Dir: v2, PreAllocSize: 0})
			if err != nil {
				t.Fatal(err)
			}
			for _, z := range []int64{0x100000001, 0x100000002, 0x100000003, 0x100000004, 0x100000009, 0x10000000a} {
				hdr := proto.TxnHeader{ClientID: sess1, Zxid: z, Time: baseTime, Type: proto.OpSetData}
				if err := w.Append(&hdr, &proto.SetDataTxn{Path: "/a", Data: []byte("x"), Version: 1}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			tree := datatree.New()
			tree.RLock()
			_, err = snapshot.WriteFile(v2, tc.snap, tree, nil, "", nil)
			tree.RUnlock()
			if err != nil {
				t.Fatal(err)
			}
			r, out := verifyDir(t, v2)
			if r.OK() == tc.damaged {
				t.Errorf("OK() = %v, want %v:\n%s", r.OK(), !tc.damaged, out)
			}
			if tc.damaged {
				if len(r.Problems) != 1 || r.Problems[0].Kind != "gap" || len(r.Covered) != 0 {
					t.Errorf("problems %v, covered %v, want one gap:\n%s", r.Problems, r.Covered, out)
				}
				return
			}
			want := "NOTE log.100000001 offset " + itoa(r.Covered[0].Offset) + ": covered-gap: zxid 0x100000009 after 0x100000004: the 4 txns between are only in snapshot.100000008"
			if len(r.Covered) != 1 || !strings.Contains(out, want) || !strings.Contains(out, "; 1 log gaps covered by snapshots") {
				t.Errorf("covered %v, want one note %q:\n%s", r.Covered, want, out)
			}
		})
	}
}
