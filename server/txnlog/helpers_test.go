package txnlog

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

// rec is one txn to append.
type rec struct {
	hdr    proto.TxnHeader
	txn    proto.Txn
	digest *proto.TxnDigest
}

var worldACL = []proto.ACL{{Perms: 31, ID: proto.ID{Scheme: "world", ID: "anyone"}}}

// allTypes returns one txn of every type ZooKeeper logs, zxids from first
// on; every other one carries a digest.
func allTypes(first int64) []rec {
	txns := []proto.Txn{
		&proto.CreateSessionTxn{TimeOut: 30000},
		&proto.CreateTxn{Path: "/a", Data: []byte("hello"), ACL: worldACL, ParentCVersion: 1, Op: proto.OpCreate},
		&proto.CreateTxn{Path: "/a/e-0000000001", Data: []byte{}, ACL: worldACL, Ephemeral: true, ParentCVersion: 2, Op: proto.OpCreate2},
		&proto.CreateContainerTxn{Path: "/c", Data: []byte("x"), ACL: worldACL, ParentCVersion: 3},
		&proto.CreateTTLTxn{Path: "/t", Data: []byte("y"), ACL: worldACL, ParentCVersion: 4, TTL: 5000},
		&proto.SetDataTxn{Path: "/a", Data: []byte("world"), Version: 1, Op: proto.OpSetData},
		&proto.SetDataTxn{Path: "/zookeeper/config", Data: []byte("server.1=127.0.0.1:2888:3888"), Version: -1, Op: proto.OpReconfig},
		&proto.SetACLTxn{Path: "/a", ACL: []proto.ACL{{Perms: 1, ID: proto.ID{Scheme: "digest", ID: "alice:xyz="}}}, Version: 1},
		&proto.ErrorTxn{Err: -110},
		&proto.MultiTxn{Txns: []proto.Txn{
			&proto.CreateTxn{Path: "/m", Data: []byte("1"), ACL: worldACL, ParentCVersion: 5, Op: proto.OpCreate},
			&proto.CheckVersionTxn{Path: "/m", Version: 0},
			&proto.SetDataTxn{Path: "/m", Data: []byte("2"), Version: 1, Op: proto.OpSetData},
			&proto.DeleteTxn{Path: "/m", Op: proto.OpDelete},
		}},
		&proto.MultiTxn{Txns: []proto.Txn{
			&proto.CreateTxn{Path: "/n", Data: []byte("1"), ACL: worldACL, ParentCVersion: 6, Op: proto.OpCreate},
			&proto.ErrorTxn{Err: -101},
			&proto.ErrorTxn{Err: -2},
		}},
		&proto.DeleteTxn{Path: "/c", Op: proto.OpDeleteContainer},
		&proto.DeleteTxn{Path: "/a/e-0000000001", Op: proto.OpDelete},
		&proto.CloseSessionTxn{Paths2Delete: []string{"/a/e-0000000002"}},
	}
	out := make([]rec, len(txns))
	for i, txn := range txns {
		out[i] = rec{hdr: proto.TxnHeader{ClientID: 0x100000abc, Cxid: int32(i), Zxid: first + int64(i), Time: 1700000000000 + int64(i), Type: txn.TxnType()}, txn: txn}
		if i%2 == 0 {
			out[i].digest = &proto.TxnDigest{Version: 2, TreeDigest: 0x1234567 * int64(i+1)}
		}
	}
	return out
}

// dataTxns returns n setData txns with size-byte values.
func dataTxns(first int64, n, size int) []rec {
	out := make([]rec, n)
	for i := range out {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i + j)
		}
		out[i] = rec{hdr: proto.TxnHeader{ClientID: 7, Cxid: int32(i), Zxid: first + int64(i), Time: 1, Type: proto.OpSetData},
			txn: &proto.SetDataTxn{Path: "/d", Data: data, Version: int32(i), Op: proto.OpSetData}}
	}
	return out
}

func appendAll(t testing.TB, w *Writer, recs []rec) {
	t.Helper()
	for _, r := range recs {
		if err := w.Append(&r.hdr, r.txn, r.digest); err != nil {
			t.Fatalf("Append zxid 0x%x: %v", r.hdr.Zxid, err)
		}
	}
}

func openWriter(t testing.TB, opts Options) *Writer {
	t.Helper()
	w, err := OpenWriter(opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// readDir reads every record of dir and fails the test on any error.
func readDir(t testing.TB, dir string) ([]*Entry, []TornTail) {
	t.Helper()
	it, err := NewIterator(dir, 0, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []*Entry
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return out, it.TornTails()
		}
		if err != nil {
			t.Fatalf("reading %s: %v", dir, err)
		}
		out = append(out, e)
	}
}

func zxids(es []*Entry) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.Hdr.Zxid)
	}
	return out
}

func recZxids(rs []rec) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.hdr.Zxid)
	}
	return out
}

// faultFS is the OS file layer with injected faults: writes fail with
// ENOSPC once budget bytes have been written (the failing write still
// writes the part that fits, as a real short write does), and Sync fails
// while syncErr is set.
type faultFS struct {
	mu      sync.Mutex
	budget  int64 // < 0: unlimited
	syncErr error
	syncs   int
}

func (f *faultFS) Create(path string) (logFile, error) {
	lf, err := osFS{}.Create(path)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, f: lf}, nil
}
func (f *faultFS) Remove(path string) error { return os.Remove(path) }
func (f *faultFS) SyncDir(dir string) error { return nil }

func (f *faultFS) setBudget(n int64) { f.mu.Lock(); f.budget = n; f.mu.Unlock() }

type faultFile struct {
	fs *faultFS
	f  logFile
}

func (ff *faultFile) WriteAt(p []byte, off int64) (int, error) {
	ff.fs.mu.Lock()
	allowed := int64(len(p))
	if ff.fs.budget >= 0 && allowed > ff.fs.budget {
		allowed = ff.fs.budget
	}
	if ff.fs.budget >= 0 {
		ff.fs.budget -= allowed
	}
	ff.fs.mu.Unlock()
	n, err := ff.f.WriteAt(p[:allowed], off)
	if err == nil && int(allowed) < len(p) {
		err = &os.PathError{Op: "write", Path: "fault", Err: syscall.ENOSPC}
	}
	return n, err
}
func (ff *faultFile) Truncate(size int64) error { return ff.f.Truncate(size) }
func (ff *faultFile) Sync() error {
	ff.fs.mu.Lock()
	defer ff.fs.mu.Unlock()
	ff.fs.syncs++
	if ff.fs.syncErr != nil {
		return ff.fs.syncErr
	}
	return ff.f.Sync()
}
func (ff *faultFile) Close() error { return ff.f.Close() }
