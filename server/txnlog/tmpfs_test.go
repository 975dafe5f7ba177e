//go:build linux

package txnlog

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// TestFullDisk fills a real 1 MiB tmpfs: the failing Append or Commit
// reports ENOSPC with the file name, Rollback leaves exactly the committed
// records, and once space is freed the writer goes on.
func TestFullDisk(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	// A filler to free later, so the writer can continue after the failure.
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "version-2")
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 64 << 10, ForceSync: true})
	var committed []int64
	var failure error
	zxid := int64(1)
	for failure == nil && zxid < 1000 {
		batch := dataTxns(zxid, 3, 4000)
		for _, r := range batch {
			if failure = w.Append(&r.hdr, r.txn, r.digest); failure != nil {
				break
			}
		}
		if failure == nil {
			failure = w.Commit()
		}
		if failure == nil {
			committed = append(committed, recZxids(batch)...)
		}
		zxid += 3
	}
	if !errors.Is(failure, syscall.ENOSPC) || !strings.Contains(failure.Error(), "log.1") {
		t.Fatalf("after %d committed txns: error %v, want ENOSPC naming log.1", len(committed), failure)
	}
	if err := w.Rollback(); err != nil {
		t.Fatalf("Rollback on a full disk: %v", err)
	}
	got, torn := readDir(t, dir)
	if !reflect.DeepEqual(zxids(got), committed) || len(torn) != 0 {
		t.Fatalf("after rollback: read %d txns (torn %v), want the %d committed", len(got), torn, len(committed))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	more := dataTxns(committed[len(committed)-1]+1, 5, 4000)
	appendAll(t, w, more)
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit after freeing space: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, torn = readDir(t, dir)
	if want := append(committed, recZxids(more)...); !reflect.DeepEqual(zxids(got), want) || len(torn) != 0 {
		t.Errorf("final log: %d txns (torn %v), want %d", len(got), torn, len(want))
	}
}
