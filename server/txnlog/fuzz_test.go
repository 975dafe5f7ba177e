package txnlog

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func FuzzIterator(f *testing.F) {
	dir := f.TempDir()
	w, err := OpenWriter(Options{Dir: dir, PreAllocSize: 512})
	if err != nil {
		f.Fatal(err)
	}
	appendAll(f, w, allTypes(1))
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(filepath.Join(dir, "log.1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/3])
	f.Add([]byte("ZKLG"))
	if b, err := os.ReadFile(filepath.Join(apacheData, "data_invalidsnap_version-2_log.42")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// In memory: deleting a file per input is slow on a disk mounted
		// with discard.
		for _, cont := range []bool{false, true} {
			it := newIterator(nil, 0, ReadOptions{ContinueOnChecksumError: cont})
			if err := it.start("log.1", io.NopCloser(bytes.NewReader(data)), int64(len(data))); err != nil {
				continue // a bad header: nothing more to read
			}
			var end int64 = headerSize
			for n := 0; ; n++ {
				e, err := it.Next()
				if err != nil {
					break
				}
				if e.Offset != end || e.Size < recordOverhead || e.Offset+e.Size > int64(len(data)) {
					t.Fatalf("entry %d at %d size %d in %d bytes (expected at %d)", n, e.Offset, e.Size, len(data), end)
				}
				end = e.Offset + e.Size
			}
			for _, tt := range it.TornTails() {
				if tt.Offset < headerSize || tt.Offset > int64(len(data)) {
					t.Fatalf("torn tail at %d in %d bytes", tt.Offset, len(data))
				}
			}
			it.Close()
		}
	})
}
