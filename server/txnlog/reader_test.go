package txnlog

import (
	"encoding/binary"
	"errors"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

// writeSample writes recs to a fresh directory (one file, log.1) and
// returns the file's path and entries.
func writeSample(t *testing.T, recs []rec) (string, []*Entry) {
	t.Helper()
	dir := t.TempDir()
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096})
	appendAll(t, w, recs)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	es, _ := readDir(t, dir)
	return w.opts.Dir + "/" + LogName(recs[0].hdr.Zxid), es
}

func readFile(t *testing.T, path string, opts ReadOptions) ([]*Entry, []TornTail, error) {
	t.Helper()
	it, err := NewFileIterator(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var es []*Entry
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return es, it.TornTails(), nil
		}
		if err != nil {
			return es, it.TornTails(), err
		}
		es = append(es, e)
	}
}

func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestTornTail(t *testing.T) {
	path, es := writeSample(t, dataTxns(1, 3, 100))
	last := es[2]
	for _, cut := range []int64{1, 7, 8, 11, 12, 13, 50, last.Size - 1} {
		dir := t.TempDir()
		cp := filepath.Join(dir, "log.1")
		b, _ := os.ReadFile(path)
		if err := os.WriteFile(cp, b[:last.Offset+cut], 0o644); err != nil {
			t.Fatal(err)
		}
		got, torn, err := readFile(t, cp, ReadOptions{})
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if !reflect.DeepEqual(zxids(got), []int64{1, 2}) {
			t.Errorf("cut %d: read %v, want [1 2]", cut, zxids(got))
		}
		if len(torn) != 1 || torn[0].Offset != last.Offset || torn[0].File != cp {
			t.Fatalf("cut %d: torn tails %+v, want one at %d in %s", cut, torn, last.Offset, cp)
		}
		if err := TruncateAt(cp, torn[0].Offset); err != nil {
			t.Fatalf("cut %d: TruncateAt: %v", cut, err)
		}
		if _, torn, err := readFile(t, cp, ReadOptions{}); err != nil || len(torn) != 0 {
			t.Errorf("cut %d: after TruncateAt: torn %v, err %v", cut, torn, err)
		}
	}
	// A missing end-of-record byte inside a preallocated file.
	patch(t, path, last.Offset+last.Size-1, []byte{0})
	got, torn, err := readFile(t, path, ReadOptions{})
	if err != nil || len(got) != 2 || len(torn) != 1 || !strings.Contains(torn[0].Reason, "partial") {
		t.Errorf("missing 0x42: %d entries, torn %+v, err %v", len(got), torn, err)
	}
}

func TestTornTailContinuesWithNextFile(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096})
	appendAll(t, w, dataTxns(1, 3, 10))
	if err := w.Roll(); err != nil {
		t.Fatal(err)
	}
	appendAll(t, w, dataTxns(4, 2, 10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	es, _ := readDir(t, dir)
	patch(t, es[2].File, es[2].Offset+es[2].Size-1, []byte{'X'})
	got, torn := readDir(t, dir)
	if !reflect.DeepEqual(zxids(got), []int64{1, 2, 4, 5}) || len(torn) != 1 {
		t.Errorf("read %v torn %v: want [1 2 4 5] and one torn tail", zxids(got), torn)
	}
}

func TestCorruption(t *testing.T) {
	recs := dataTxns(0x500000001, 4, 40)
	for _, tc := range []struct {
		name     string
		mutate   func(t *testing.T, path string, es []*Entry)
		kind     string
		offset   func(es []*Entry) int64
		lastGood int64
		// with ContinueOnChecksumError: entries read (-1: same error)
		continued int
	}{
		{"flipped payload byte", func(t *testing.T, p string, es []*Entry) {
			b, _ := os.ReadFile(p)
			off := es[2].Offset + 12 + 20
			patch(t, p, off, []byte{b[off] ^ 0x10})
		}, KindChecksum, func(es []*Entry) int64 { return es[2].Offset }, 0x500000002, 4},
		{"unreasonable length", func(t *testing.T, p string, es []*Entry) {
			patch(t, p, es[1].Offset+8, []byte{0x7f, 0xff, 0xff, 0xff})
		}, KindLength, func(es []*Entry) int64 { return es[1].Offset }, 0x500000001, -1},
		{"negative length", func(t *testing.T, p string, es []*Entry) {
			patch(t, p, es[1].Offset+8, []byte{0xff, 0xff, 0xff, 0xfe})
		}, KindLength, func(es []*Entry) int64 { return es[1].Offset }, 0x500000001, -1},
		{"bad magic", func(t *testing.T, p string, es []*Entry) {
			patch(t, p, 0, []byte("ZKSN"))
		}, KindMagic, func([]*Entry) int64 { return 0 }, 0, -1},
		{"short header", func(t *testing.T, p string, es []*Entry) {
			if err := os.Truncate(p, 10); err != nil {
				t.Fatal(err)
			}
		}, KindMagic, func([]*Entry) int64 { return 0 }, 0, -1},
		{"undecodable payload", func(t *testing.T, p string, es []*Entry) {
			// A valid record whose header names an unknown txn type.
			payload := proto.Marshal(&proto.TxnHeader{Zxid: 0x500000004, Type: 999})
			rec := binary.BigEndian.AppendUint64(nil, uint64(adler32.Checksum(payload)))
			rec = binary.BigEndian.AppendUint32(rec, uint32(len(payload)))
			rec = append(append(rec, payload...), 0x42)
			patch(t, p, es[3].Offset, rec)
		}, KindDecode, func(es []*Entry) int64 { return es[3].Offset }, 0x500000003, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, es := writeSample(t, recs)
			tc.mutate(t, path, es)
			_, _, err := readFile(t, path, ReadOptions{})
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want *CorruptError", err)
			}
			if ce.Kind != tc.kind || ce.File != path || ce.Offset != tc.offset(es) || ce.LastGoodZxid != tc.lastGood {
				t.Errorf("got %+v, want kind %s file %s offset %d last good 0x%x", ce, tc.kind, path, tc.offset(es), tc.lastGood)
			}
			for _, want := range []string{path, tc.kind, "offset"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			got, _, err := readFile(t, path, ReadOptions{ContinueOnChecksumError: true})
			if tc.continued < 0 {
				if !errors.As(err, &ce) {
					t.Errorf("continuing: error %v, want the same CorruptError", err)
				}
				return
			}
			if err != nil || len(got) != tc.continued {
				t.Fatalf("continuing: %d entries, %v; want %d", len(got), err, tc.continued)
			}
			bad := 0
			for _, e := range got {
				if !e.ChecksumOK {
					bad++
				}
			}
			if bad != 1 {
				t.Errorf("continuing: %d entries with a bad checksum, want 1", bad)
			}
		})
	}
}

func TestReaderAllocationIsBoundedByFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.1")
	b := []byte("ZKLG\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00")
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x1f, 0xff, 0xf0) // claims a 2 MiB record
	b = append(b, make([]byte, 20)...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, torn, err := readFile(t, path, ReadOptions{})
	runtime.ReadMemStats(&after)
	if err != nil || len(torn) != 1 {
		t.Errorf("err %v torn %v: want one torn tail", err, torn)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("reading a %d-byte file allocated %d bytes", len(b), d)
	}
}

func TestIteratorOnEmptyDir(t *testing.T) {
	it, err := NewIterator(t.TempDir(), 0, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Next on an empty dir: %v, want EOF", err)
	}
	if _, err := NewIterator(filepath.Join(t.TempDir(), "missing"), 0, ReadOptions{}); err == nil {
		t.Error("NewIterator on a missing dir succeeded")
	}
}

func TestTruncate(t *testing.T) {
	build := func(t *testing.T) string {
		dir := t.TempDir()
		w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096})
		appendAll(t, w, dataTxns(1, 10, 10))
		if err := w.Roll(); err != nil {
			t.Fatal(err)
		}
		appendAll(t, w, dataTxns(11, 10, 10))
		if err := w.Roll(); err != nil {
			t.Fatal(err)
		}
		appendAll(t, w, dataTxns(21, 5, 10))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		zxid      int64
		wantLast  int64
		wantFiles []string
	}{
		{5, 5, []string{"log.1"}},
		{10, 10, []string{"log.1"}},
		{11, 11, []string{"log.1", "log.b"}},
		{15, 15, []string{"log.1", "log.b"}},
		{25, 25, []string{"log.1", "log.b", "log.15"}},
		{99, 25, []string{"log.1", "log.b", "log.15"}},
		{0, 0, nil},
	} {
		dir := build(t)
		if err := Truncate(dir, tc.zxid); err != nil {
			t.Fatalf("Truncate(%d): %v", tc.zxid, err)
		}
		files, _ := Files(dir)
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f.Path))
		}
		if !reflect.DeepEqual(names, tc.wantFiles) {
			t.Errorf("Truncate(%d): files %v, want %v", tc.zxid, names, tc.wantFiles)
		}
		es, torn := readDir(t, dir)
		var last int64
		if len(es) > 0 {
			last = es[len(es)-1].Hdr.Zxid
			// The cut file ends right after its last record (no padding).
			e := es[len(es)-1]
			if st, _ := os.Stat(e.File); tc.zxid < 25 && st.Size() != e.Offset+e.Size {
				t.Errorf("Truncate(%d): %s is %d bytes, want %d", tc.zxid, e.File, st.Size(), e.Offset+e.Size)
			}
		}
		if last != tc.wantLast || len(es) != int(tc.wantLast) || len(torn) != 0 {
			t.Errorf("Truncate(%d): %d entries up to %d (torn %v), want up to %d", tc.zxid, len(es), last, torn, tc.wantLast)
		}
	}
	if err := Truncate(t.TempDir(), 5); err == nil {
		t.Error("Truncate of an empty dir succeeded")
	}
}

func TestTruncateAtRejectsNonBoundary(t *testing.T) {
	path, es := writeSample(t, dataTxns(1, 3, 10))
	for _, off := range []int64{0, 15, es[1].Offset + 1, es[2].Offset + es[2].Size + 1} {
		if err := TruncateAt(path, off); err == nil || !strings.Contains(err.Error(), "boundary") {
			t.Errorf("TruncateAt(%d): %v, want a not-a-record-boundary error", off, err)
		}
	}
	if err := TruncateAt(path, es[1].Offset); err != nil {
		t.Fatal(err)
	}
	got, _, err := readFile(t, path, ReadOptions{})
	if err != nil || !reflect.DeepEqual(zxids(got), []int64{1}) {
		t.Errorf("after TruncateAt: %v %v", zxids(got), err)
	}
}

// TestNegativeZxidIsDamage: a record whose zxid is negative cannot come
// from a real log; it is reported, never silently dropped by the range
// filter (which would hide it from logdump --verify).
func TestNegativeZxidIsDamage(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWriter(Options{Dir: dir, PreAllocSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range []int64{1, -5} {
		hdr := proto.TxnHeader{ClientID: 1, Zxid: z, Time: 1, Type: proto.OpCreateSession}
		if err := w.Append(&hdr, &proto.CreateSessionTxn{TimeOut: 4000}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	it, err := NewIterator(dir, 0, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if e, err := it.Next(); err != nil || e.Hdr.Zxid != 1 {
		t.Fatalf("first record: %v %v", e, err)
	}
	_, err = it.Next()
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Kind != KindDecode || ce.LastGoodZxid != 1 {
		t.Fatalf("negative zxid: err %v, want a decode CorruptError after zxid 1", err)
	}
}
