package txnlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/proto"
)

func TestRoundTripAllTypes(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 64 << 10, ForceSync: true})
	recs := allTypes(0x100000001)
	appendAll(t, w, recs)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(w.CurrentFile()), "log.100000001"; got != want {
		t.Errorf("file name %q, want %q", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, torn := readDir(t, dir)
	if len(torn) != 0 {
		t.Errorf("torn tails in a clean log: %v", torn)
	}
	if len(got) != len(recs) {
		t.Fatalf("read %d entries, wrote %d", len(got), len(recs))
	}
	off := int64(headerSize)
	for i, e := range got {
		r := recs[i]
		if e.Hdr != r.hdr {
			t.Errorf("entry %d header %+v, want %+v", i, e.Hdr, r.hdr)
		}
		if !reflect.DeepEqual(e.Txn, r.txn) {
			t.Errorf("entry %d (%s) txn %#v, want %#v", i, proto.OpName(r.hdr.Type), e.Txn, r.txn)
		}
		if !reflect.DeepEqual(e.Digest, r.digest) {
			t.Errorf("entry %d digest %+v, want %+v", i, e.Digest, r.digest)
		}
		if !e.ChecksumOK || e.Offset != off {
			t.Errorf("entry %d: ChecksumOK %v offset %d, want true %d", i, e.ChecksumOK, e.Offset, off)
		}
		off += e.Size
	}
}

func TestFileHeaderBytes(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096})
	r := allTypes(0x2a)[0]
	appendAll(t, w, []rec{r})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "log.2a"))
	if err != nil {
		t.Fatal(err)
	}
	wantHdr := []byte{'Z', 'K', 'L', 'G', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(b[:16], wantHdr) {
		t.Errorf("header % x, want % x", b[:16], wantHdr)
	}
	payload := proto.Marshal(&r.hdr)
	payload = append(payload, proto.Marshal(r.txn)...)
	payload = append(payload, proto.Marshal(r.digest)...)
	n := int(binary.BigEndian.Uint32(b[24:28]))
	if n != len(payload) || !bytes.Equal(b[28:28+n], payload) {
		t.Fatalf("payload % x, want % x", b[28:28+n], payload)
	}
	if crc := binary.BigEndian.Uint64(b[16:24]); crc>>32 != 0 || crc == 0 {
		t.Errorf("checksum 0x%x: want Adler32 in the low 32 bits", crc)
	}
	if b[28+n] != 0x42 {
		t.Errorf("end-of-record byte 0x%x", b[28+n])
	}
	if len(b) != 4096+16 {
		t.Errorf("file length %d, want %d", len(b), 4096+16)
	}
}

func TestLogName(t *testing.T) {
	for _, tc := range []struct {
		zxid int64
		want string
	}{{1, "log.1"}, {0x100000001, "log.100000001"}, {0x200000abc, "log.200000abc"}, {0, "log.0"}} {
		if got := LogName(tc.zxid); got != tc.want {
			t.Errorf("LogName(0x%x) = %q, want %q", tc.zxid, got, tc.want)
		}
	}
}

func TestPadSize(t *testing.T) {
	const pre = 65536
	for _, tc := range []struct {
		name           string
		pos, size, pre int64
		want           int64
	}{
		{"new file", 16, 16, pre, pre + 16},
		{"far from the end", 1000, pre + 16, pre, pre + 16},
		{"just outside the window", pre + 16 - 4097, pre + 16, pre, pre + 16},
		{"inside the window", pre + 16 - 4096, pre + 16, pre, 2*pre + 16},
		{"ZOOKEEPER-2249: past the end", 3*pre + 100, pre + 16, pre, 4 * pre},
		{"disabled", 1 << 20, 16, 0, 16},
	} {
		if got := padSize(tc.pos, tc.size, tc.pre); got != tc.want {
			t.Errorf("%s: padSize(%d, %d, %d) = %d, want %d", tc.name, tc.pos, tc.size, tc.pre, got, tc.want)
		}
	}
}

func TestPreallocationSizes(t *testing.T) {
	const pre = 16 << 10
	for _, tc := range []struct {
		name      string
		txns      []rec
		wantSize  int64
		wantPads  float64
		batchSize int
	}{
		// 1 small txn: one pad to pre+16.
		{"one txn", dataTxns(1, 1, 10), pre + 16, 1, 1},
		// 200 x 1055-byte records committed one by one = 211016 bytes:
		// the file grows by pre whenever the end is within 4 KiB, so the
		// last append (at 210K) already extends it to 14*pre+16.
		{"many txns", dataTxns(1, 200, 1000), 14*pre + 16, 14, 1},
		// Batches of ten flush 8 KiB at a time, so the position can pass the
		// preallocated end, as in ZooKeeper: the ZOOKEEPER-2249 branch then
		// rounds to a multiple of pre (no +16).
		{"many txns in batches", dataTxns(1, 200, 1000), 13 * pre, 13, 10},
		// Txns larger than pre are written past the end every time
		// (ZOOKEEPER-2249 branch); the file ends at the last record:
		// sizes 16400, 49152, 98304, then data up to 123073.
		{"huge txns", dataTxns(1, 3, 40<<10), 123073, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			w := openWriter(t, Options{Dir: dir, PreAllocSize: pre, Metrics: m})
			for i, r := range tc.txns {
				appendAll(t, w, []rec{r})
				if (i+1)%tc.batchSize == 0 {
					if err := w.Commit(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(filepath.Join(dir, "log.1"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantSize != 0 && st.Size() != tc.wantSize {
				t.Errorf("file size %d, want %d", st.Size(), tc.wantSize)
			}
			if tc.wantPads != 0 {
				if got := testutil.ToFloat64(m.preallocations); got != tc.wantPads {
					t.Errorf("preallocations %v, want %v", got, tc.wantPads)
				}
			}
			if got, want := testutil.ToFloat64(m.writtenRecords), float64(len(tc.txns)); got != want {
				t.Errorf("written records %v, want %v", got, want)
			}
			got, _ := readDir(t, dir)
			if !reflect.DeepEqual(zxids(got), recZxids(tc.txns)) {
				t.Errorf("read zxids %v, want %v", zxids(got), recZxids(tc.txns))
			}
		})
	}
}

func TestRollAndFileSelection(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096})
	all := dataTxns(1, 30, 10)
	for i, r := range all {
		if i == 10 || i == 20 {
			if err := w.Roll(); err != nil {
				t.Fatal(err)
			}
			if w.CurrentFile() != "" {
				t.Errorf("CurrentFile after Roll = %q, want empty", w.CurrentFile())
			}
		}
		appendAll(t, w, []rec{r})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	var starts []int64
	for _, f := range files {
		starts = append(starts, f.StartZxid)
	}
	if want := []int64{1, 11, 21}; !reflect.DeepEqual(starts, want) {
		t.Fatalf("files start at %v, want %v", starts, want)
	}
	for _, tc := range []struct {
		from      int64
		wantFirst int64
		wantFiles int
	}{{0, 1, 3}, {1, 1, 3}, {5, 5, 3}, {11, 11, 3}, {12, 12, 2}, {25, 25, 1}, {40, 0, 1}} {
		sel := selectFiles(files, tc.from)
		if len(sel) != tc.wantFiles {
			t.Errorf("from %d: %d files selected, want %d", tc.from, len(sel), tc.wantFiles)
		}
		it, err := NewIterator(dir, tc.from, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := it.Next()
		if tc.wantFirst == 0 {
			if err == nil {
				t.Errorf("from %d: got zxid %d, want EOF", tc.from, e.Hdr.Zxid)
			}
		} else if err != nil || e.Hdr.Zxid != tc.wantFirst {
			t.Errorf("from %d: first entry %v, %v; want zxid %d", tc.from, e, err, tc.wantFirst)
		}
		it.Close()
	}
}

func TestFilesIgnoresOtherNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"log.a", "log.2", "log.10.fixed", "log.", "log.xyz", "snapshot.5", "logfile.3", "log.-4", "acceptedEpoch"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Path))
	}
	if want := []string{"log.2", "log.a", "log.10.fixed"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Files = %v, want %v", names, want)
	}
}

// TestRollbackAtEveryByte fails the disk at every byte of a batch, then
// checks what a crash would leave, rolls back, writes more and checks the
// log holds exactly the committed records.
func TestRollbackAtEveryByte(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch []rec // appended after the committed ones, fails part way
	}{
		{"small record", dataTxns(11, 1, 20)},
		{"two records", dataTxns(11, 2, 30)},
		{"record larger than the buffer", dataTxns(11, 1, 9000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			committed := dataTxns(1, 10, 50)
			more := dataTxns(11, 3, 40)
			batchBytes := 0
			for _, r := range tc.batch {
				batchBytes += recordOverhead + len(proto.Marshal(&r.hdr)) + len(proto.Marshal(r.txn))
			}
			step := 1
			if batchBytes > 2000 {
				step = 97 // keep the test fast; still hits every part of the record
			}
			for budget := 0; budget < batchBytes; budget += step {
				dir := t.TempDir()
				ffs := &faultFS{budget: -1}
				w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096, ForceSync: true, fs: ffs})
				appendAll(t, w, committed)
				if err := w.Commit(); err != nil {
					t.Fatal(err)
				}
				ffs.setBudget(int64(budget))
				var failed error
				for _, r := range tc.batch {
					if failed = w.Append(&r.hdr, r.txn, r.digest); failed != nil {
						break
					}
				}
				if failed == nil {
					failed = w.Commit()
				}
				if failed == nil {
					t.Fatalf("budget %d: the batch of %d bytes (plus padding) committed", budget, batchBytes)
				}
				if !errors.Is(failed, syscall.ENOSPC) || !strings.Contains(failed.Error(), "log.1") {
					t.Fatalf("budget %d: error %q should wrap ENOSPC and name the file", budget, failed)
				}
				if err := w.Append(&more[0].hdr, more[0].txn, nil); err == nil {
					t.Fatalf("budget %d: Append after a failure succeeded without Rollback", budget)
				}
				// A crash now: the reader sees the committed records, maybe
				// complete records of the failed batch (never acknowledged,
				// so replaying them is allowed), and at most a torn tail:
				// never an error or garbage taken for a record.
				got, _ := readDir(t, dir)
				if want := append(recZxids(committed), recZxids(tc.batch)...); len(got) < len(committed) || len(got) >= len(want) ||
					!reflect.DeepEqual(zxids(got), want[:len(got)]) {
					t.Fatalf("budget %d: before rollback the log reads %v, want a proper prefix of %v holding %v", budget, zxids(got), want, recZxids(committed))
				}
				ffs.setBudget(-1)
				if err := w.Rollback(); err != nil {
					t.Fatalf("budget %d: Rollback: %v", budget, err)
				}
				appendAll(t, w, more)
				if err := w.Commit(); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				got, torn := readDir(t, dir)
				want := append(recZxids(committed), recZxids(more)...)
				if !reflect.DeepEqual(zxids(got), want) || len(torn) != 0 {
					t.Fatalf("budget %d: after rollback the log reads %v (torn %v), want %v", budget, zxids(got), torn, want)
				}
				st, _ := os.Stat(filepath.Join(dir, "log.1"))
				if (st.Size()-16)%4096 != 0 {
					t.Errorf("budget %d: file size %d is not k*4096+16", budget, st.Size())
				}
			}
		})
	}
}

func TestRollbackOfUncommittedNewFile(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{budget: 20} // header fits, the pad byte fits, the record does not
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096, fs: ffs})
	recs := dataTxns(5, 1, 9000)
	if err := w.Append(&recs[0].hdr, recs[0].txn, nil); err == nil {
		t.Fatal("Append succeeded past the budget")
	}
	ffs.setBudget(-1)
	if err := w.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "log.5")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("uncommitted log.5 still exists after Rollback: %v", err)
	}
	appendAll(t, w, recs)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readDir(t, dir); !reflect.DeepEqual(zxids(got), []int64{5}) {
		t.Errorf("read %v, want [5]", zxids(got))
	}
}

func TestFsyncFailure(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{budget: -1}
	m, _ := NewMetrics(prometheus.NewRegistry())
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096, ForceSync: true, fs: ffs, Metrics: m})
	appendAll(t, w, dataTxns(1, 3, 10))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	ffs.syncErr = syscall.EIO
	appendAll(t, w, dataTxns(4, 3, 10))
	err := w.Commit()
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "log.1") {
		t.Fatalf("Commit error %v: want EIO naming log.1", err)
	}
	if got := testutil.ToFloat64(m.writeErrors.WithLabelValues(opFsync)); got != 1 {
		t.Errorf("fsync errors %v, want 1", got)
	}
	ffs.syncErr = nil
	if err := w.Rollback(); err != nil {
		t.Fatal(err)
	}
	appendAll(t, w, dataTxns(4, 1, 10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readDir(t, dir); !reflect.DeepEqual(zxids(got), []int64{1, 2, 3, 4}) {
		t.Errorf("read %v, want [1 2 3 4]", zxids(got))
	}
}

func TestGroupCommitMetricsAndSlowFsync(t *testing.T) {
	for _, tc := range []struct {
		name      string
		forceSync bool
		fsyncTook time.Duration
		wantSyncs int
		wantSlow  float64
	}{
		{"fast fsync", true, time.Millisecond, 2, 0},
		{"slow fsync", true, 2 * time.Second, 2, 2},
		{"forceSync off", false, time.Hour, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			reg := prometheus.NewRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			var logBuf bytes.Buffer
			clock := time.Unix(0, 0)
			ffs := &faultFS{budget: -1}
			w := openWriter(t, Options{Dir: dir, PreAllocSize: 4096, ForceSync: tc.forceSync, Metrics: m,
				FsyncWarningThreshold: time.Second, Logger: zerolog.New(&logBuf), fs: ffs,
				now: func() time.Time { clock = clock.Add(tc.fsyncTook); return clock }})
			appendAll(t, w, dataTxns(1, 5, 10))
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			appendAll(t, w, dataTxns(6, 3, 10))
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			if ffs.syncs != tc.wantSyncs {
				t.Errorf("%d fsyncs, want %d", ffs.syncs, tc.wantSyncs)
			}
			if got := testutil.ToFloat64(m.slowFsyncs); got != tc.wantSlow {
				t.Errorf("slow fsyncs %v, want %v", got, tc.wantSlow)
			}
			if tc.wantSlow > 0 && (!strings.Contains(logBuf.String(), "log.1") || !strings.Contains(logBuf.String(), "File size is 8208 bytes")) {
				t.Errorf("slow fsync warning does not name the file and its size: %s", logBuf.String())
			}
			if n := testutil.CollectAndCount(m.txnsPerFsync); n != 1 {
				t.Errorf("txns-per-fsync collected %d series", n)
			}
			if tc.forceSync {
				const name = "zkd_txnlog_txns_per_fsync"
				if n, sum := metricvalue.Of(t, reg, name), metricvalue.Sum(t, reg, name); n != 2 || sum != 8 {
					t.Errorf("txns per fsync: %v samples summing to %v, want 2 summing to 8", n, sum)
				}
			}
			if got := testutil.ToFloat64(m.files); got != 1 {
				t.Errorf("files gauge %v, want 1", got)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAppendRejectsOversizedRecord(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, Options{Dir: dir, MaxRecord: 1000})
	big := dataTxns(1, 1, 2000)[0]
	err := w.Append(&big.hdr, big.txn, nil)
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("Append of an oversized record: %v", err)
	}
	ok := dataTxns(1, 1, 10)
	appendAll(t, w, ok) // the writer is still usable: nothing was written
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReplacesExistingEmptyFile(t *testing.T) {
	dir := t.TempDir()
	// A crash between creating log.5 and its first commit.
	if err := os.WriteFile(filepath.Join(dir, "log.5"), []byte("ZKLG\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := openWriter(t, Options{Dir: dir})
	appendAll(t, w, dataTxns(5, 2, 10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readDir(t, dir); !reflect.DeepEqual(zxids(got), []int64{5, 6}) {
		t.Errorf("read %v", zxids(got))
	}
	// A file with committed records is never overwritten.
	w = openWriter(t, Options{Dir: dir})
	err := w.Append(&dataTxns(5, 1, 1)[0].hdr, dataTxns(5, 1, 1)[0].txn, nil)
	if err == nil || !errors.Is(err, os.ErrExist) {
		t.Errorf("Append over a log with records: %v, want ErrExist", err)
	}
}

// TestZeroFillAhead checks that with fsync on, Commit leaves the
// preallocated range after the last record written (no hole) for at
// least half of zeroFillChunk, so the next Commits do not allocate
// blocks, and that the file's bytes are exactly those of ZooKeeper's
// sparse padding.
func TestZeroFillAhead(t *testing.T) {
	const pre = 4 << 20
	for _, tc := range []struct {
		name      string
		opts      Options
		wantZeros bool
	}{
		{"fsync on", Options{PreAllocSize: pre, ForceSync: true}, true},
		{"fsync off: nothing waits on allocation", Options{PreAllocSize: pre}, false},
		{"preallocation off: every write extends the file", Options{PreAllocSize: -1, ForceSync: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, sparseDir := t.TempDir(), t.TempDir()
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			opts := tc.opts
			opts.Dir, opts.Metrics = dir, m
			w := openWriter(t, opts)
			sparse := openWriter(t, Options{Dir: sparseDir, PreAllocSize: tc.opts.PreAllocSize})
			// 3000 records of ~1 KiB in batches of 30 pass two refills.
			txns := dataTxns(1, 3000, 1000)
			for i := 0; i < len(txns); i += 30 {
				for _, w := range []*Writer{w, sparse} {
					appendAll(t, w, txns[i:i+30])
					if err := w.Commit(); err != nil {
						t.Fatal(err)
					}
				}
				end := w.cur.committedEnd
				hole := firstHole(t, filepath.Join(dir, "log.1"), end)
				if tc.wantZeros {
					if want := min(w.cur.size, end+zeroFillChunk/2) &^ 4095; hole < want {
						t.Fatalf("after commit %d (end %d): hole at %d, want none before %d", i/30, end, hole, want)
					}
				} else if hole > end+4096 {
					t.Fatalf("after commit %d (end %d): written up to %d, want a hole from the next block on", i/30, end, hole)
				}
			}
			zeroed := testutil.ToFloat64(m.zeroFilledBytes)
			if tc.wantZeros != (zeroed > 0) {
				t.Errorf("zkd_txnlog_zero_filled_bytes_total %v, want zeros written: %v", zeroed, tc.wantZeros)
			}
			for _, w := range []*Writer{w, sparse} {
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(filepath.Join(dir, "log.1"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(sparseDir, "log.1"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("file of %d bytes differs from the sparse-padded one of %d bytes", len(got), len(want))
			}
		})
	}
}

// firstHole returns the offset of the first hole at or after off
// (lseek SEEK_HOLE; the file's end counts as a hole, and lseek fails with
// ENXIO when off is that end).
func firstHole(t *testing.T, path string, off int64) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const seekHole = 4 // SEEK_HOLE on Linux
	hole, err := f.Seek(off, seekHole)
	if errors.Is(err, syscall.ENXIO) {
		return off
	}
	if err != nil {
		t.Fatalf("lseek SEEK_HOLE: %v", err)
	}
	return hole
}
