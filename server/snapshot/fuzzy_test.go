package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// fuzzyEncoders are the two fuzzy encodings: a snapshot file and a
// leader's SNAP sync stream, each with the consistent encoding it must
// equal when nothing is written during the walk, and its reader.
var fuzzyEncoders = []struct {
	name       string
	encode     func(tree *datatree.Tree, sessions []Session, zxid int64, chunk int) ([]byte, error)
	consistent func(tree *datatree.Tree, sessions []Session) ([]byte, error)
	read       func(stream []byte) (*Snapshot, error)
}{
	{
		name:       "file",
		encode:     EncodeFuzzy,
		consistent: Encode,
		read:       func(b []byte) (*Snapshot, error) { return Read(bytes.NewReader(b), datatree.Options{}) },
	},
	{
		name: "sync stream",
		encode: func(tree *datatree.Tree, sessions []Session, _ int64, chunk int) ([]byte, error) {
			return EncodeFuzzySyncStream(context.Background(), tree, sessions, chunk)
		},
		consistent: consistentSyncStream,
		read: func(b []byte) (*Snapshot, error) {
			return ReadSyncStream(bufio.NewReader(bytes.NewReader(b)), datatree.Options{})
		},
	},
}

// consistentSyncStream is the sync stream encoded under the caller's read
// lock, the reference EncodeFuzzySyncStream must equal when nothing is
// written during its walk.
func consistentSyncStream(tree *datatree.Tree, sessions []Session) ([]byte, error) {
	var out []byte
	e := jute.NewEncoder(make([]byte, 0, 256))
	emit := func() error {
		out = append(out, e.Bytes()...)
		e.Reset()
		return nil
	}
	if err := writeBody(tree, sessions, e, emit); err != nil {
		return nil, err
	}
	e.String(SyncSignature)
	_ = emit()
	return out, nil
}

// TestEncodeFuzzyWithoutWrites: with no write during the walk, a fuzzy
// stream is byte for byte the consistent one, whatever the chunk size.
func TestEncodeFuzzyWithoutWrites(t *testing.T) {
	tree := buildTree(t)
	sessions := []Session{{ID: sess1, TimeoutMs: 6000}}
	for _, enc := range fuzzyEncoders {
		tree.RLock()
		want, err := enc.consistent(tree, sessions)
		tree.RUnlock()
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{0, 1, 3, FuzzyChunk} {
			got, err := enc.encode(tree, sessions, tree.LastProcessedZxid(), chunk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s, chunk %d: fuzzy stream (%d bytes) differs from the consistent one (%d bytes)", enc.name, chunk, len(got), len(want))
			}
		}
	}
}

// TestEncodeFuzzyUnderWrites takes fuzzy snapshots (files and sync
// streams) while another goroutine applies random creates, deletes,
// setData and setACL txns (new ACL lists among them), then does what
// recovery, or a learner after SNAP, does: loads the snapshot and replays
// the txns after its zxid. The tree must come out exactly as the live one,
// and a file's digest must match its record at the record's zxid.
func TestEncodeFuzzyUnderWrites(t *testing.T) {
	for _, enc := range fuzzyEncoders {
		t.Run(enc.name, func(t *testing.T) {
			fuzzy := 0
			for round := range 20 {
				if encodeUnderWrites(t, round, enc.encode, enc.read) {
					fuzzy++
				}
			}
			// The walk takes the lock once per node, so writes land inside
			// it nearly every round; a few rounds without any are
			// scheduling luck.
			if fuzzy == 0 {
				t.Errorf("no round saw a write during the walk: nothing fuzzy was tested")
			}
			t.Logf("%d of 20 snapshots were fuzzy", fuzzy)
		})
	}
}

// encodeUnderWrites is one round of TestEncodeFuzzyUnderWrites; it reports
// whether a write was applied while the snapshot was encoded.
func encodeUnderWrites(t *testing.T, round int,
	encode func(*datatree.Tree, []Session, int64, int) ([]byte, error),
	read func([]byte) (*Snapshot, error),
) (fuzzy bool) {
	t.Helper()
	tree := buildTree(t)
	w := newRandomWriter(t, tree, uint64(round))
	zxid := tree.LastProcessedZxid()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { w.run(stop) })
	stream, err := encode(tree, nil, zxid, 1)
	fuzzy = w.applied.Load() > zxid
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	s, err := read(stream)
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	if s.Digest != nil && s.Digest.Zxid < zxid {
		t.Fatalf("round %d: digest record %+v, want one at 0x%x or later", round, s.Digest, zxid)
	}
	s.Tree.Lock()
	for _, e := range w.log {
		if e.hdr.Zxid <= zxid {
			continue
		}
		_ = s.Tree.ProcessTxn(&e.hdr, e.txn) // errors are the fuzzy state's
		if s.Digest != nil && e.hdr.Zxid == s.Digest.Zxid && s.Tree.Digest() != s.Digest.Digest {
			t.Errorf("round %d: digest after replaying to 0x%x is %#x, the record says %#x",
				round, e.hdr.Zxid, s.Tree.Digest(), s.Digest.Digest)
		}
	}
	s.Tree.Unlock()
	tree.RLock()
	defer tree.RUnlock()
	s.Tree.RLock()
	defer s.Tree.RUnlock()
	if got, want := dumpTree(t, s.Tree), dumpTree(t, tree); !reflect.DeepEqual(got, want) {
		for p, n := range want {
			if !reflect.DeepEqual(got[p], n) {
				t.Errorf("round %d: %s after replay %+v, live %+v", round, p, got[p], n)
			}
		}
		for p := range got {
			if _, ok := want[p]; !ok {
				t.Errorf("round %d: %s after replay, not in the live tree", round, p)
			}
		}
	}
	if s.Tree.Digest() != tree.Digest() {
		t.Errorf("round %d: digest %#x after replay, live %#x", round, s.Tree.Digest(), tree.Digest())
	}
	return fuzzy
}

// TestEncodeFuzzySyncStreamCancelled: a leader whose learner went away
// stops encoding its SNAP instead of walking the rest of the tree.
func TestEncodeFuzzySyncStreamCancelled(t *testing.T) {
	tree := buildTree(t)
	tree.Lock()
	for i := range 3 * cancelCheckEvery {
		tree.ProcessTxn(&proto.TxnHeader{Zxid: tree.LastProcessedZxid() + 1, Type: proto.OpCreate},
			&proto.CreateTxn{Path: fmt.Sprintf("/c%d", i), ACL: proto.OpenACLUnsafe, ParentCVersion: int32(i + 100)})
	}
	tree.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stream, err := EncodeFuzzySyncStream(ctx, tree, nil, FuzzyChunk)
	if !errors.Is(err, context.Canceled) || stream != nil {
		t.Fatalf("EncodeFuzzySyncStream with a cancelled context = %d bytes, %v; want context.Canceled", len(stream), err)
	}
}

type loggedTxn struct {
	hdr proto.TxnHeader
	txn proto.Txn
}

// randomWriter applies random txns to znodes below /fz, as a leader's
// prep would make them (explicit parent cversions and versions), and logs
// them.
type randomWriter struct {
	t    *testing.T
	tree *datatree.Tree
	rng  *rand.Rand
	zxid int64
	keys []string // existing children of /fz
	next int
	log  []loggedTxn
	// applied is the last zxid applied, for the encoding goroutine.
	applied atomic.Int64
}

func newRandomWriter(t *testing.T, tree *datatree.Tree, seed uint64) *randomWriter {
	w := &randomWriter{t: t, tree: tree, rng: rand.New(rand.NewPCG(seed, 1)), zxid: tree.LastProcessedZxid()}
	tree.Lock()
	defer tree.Unlock()
	w.apply(&proto.CreateTxn{Path: "/fz", ACL: proto.OpenACLUnsafe, ParentCVersion: w.cversion("/") + 1})
	for range 200 {
		w.create()
	}
	return w
}

// run applies txns until stop is closed, then 20 more.
func (w *randomWriter) run(stop <-chan struct{}) {
	for extra := 0; extra < 20; {
		select {
		case <-stop:
			extra++
		default:
		}
		w.tree.Lock()
		switch op := w.rng.IntN(10); {
		case op < 3 || len(w.keys) < 10:
			w.create()
		case op < 5:
			i := w.rng.IntN(len(w.keys))
			w.apply(&proto.DeleteTxn{Path: w.keys[i], Op: proto.OpDelete})
			w.keys = append(w.keys[:i], w.keys[i+1:]...)
		case op < 8:
			p := w.keys[w.rng.IntN(len(w.keys))]
			w.apply(&proto.SetDataTxn{Path: p, Data: fmt.Appendf(nil, "v%d", w.zxid), Version: w.stat(p).Version + 1})
		default:
			p := w.keys[w.rng.IntN(len(w.keys))]
			w.apply(&proto.SetACLTxn{Path: p, ACL: w.acl(), Version: w.stat(p).Aversion + 1})
		}
		w.tree.Unlock()
	}
}

func (w *randomWriter) create() {
	p := fmt.Sprintf("/fz/k%d", w.next)
	w.next++
	w.apply(&proto.CreateTxn{Path: p, Data: []byte("c"), ACL: w.acl(), ParentCVersion: w.cversion("/fz") + 1, Op: proto.OpCreate})
	w.keys = append(w.keys, p)
}

// acl is an open ACL, a known one, or a list no node used before.
func (w *randomWriter) acl() []proto.ACL {
	switch w.rng.IntN(3) {
	case 0:
		return proto.OpenACLUnsafe
	case 1:
		return digestACL
	}
	return []proto.ACL{{Perms: proto.PermAll, ID: proto.ID{Scheme: "digest", ID: fmt.Sprintf("u%d:x", w.zxid)}}}
}

func (w *randomWriter) stat(path string) proto.Stat {
	_, st, code := w.tree.GetData(path, nil, nil)
	if code != proto.ErrOK {
		w.t.Fatalf("%s: %s", path, proto.CodeName(code))
	}
	return st
}

func (w *randomWriter) cversion(path string) int32 { return w.stat(path).Cversion }

func (w *randomWriter) apply(txn proto.Txn) {
	w.zxid++
	h := proto.TxnHeader{ClientID: sess1, Cxid: int32(w.zxid), Zxid: w.zxid, Time: 1_700_000_000_000 + w.zxid, Type: txn.TxnType()}
	if r := w.tree.ProcessTxn(&h, txn); r.Err != proto.ErrOK {
		w.t.Errorf("%s %+v: %s", proto.OpName(txn.TxnType()), txn, proto.CodeName(r.Err))
	}
	w.log = append(w.log, loggedTxn{h, txn})
	w.applied.Store(w.zxid)
}

// BenchmarkSnapshotWriteStall measures how long a write waits for the
// tree's lock while a snapshot of 100 000 znodes is encoded: the whole
// encode with Encode (which holds the read lock throughout), about one
// chunk with EncodeFuzzy. Reported as the longest wait per snapshot.
func BenchmarkSnapshotWriteStall(b *testing.B) {
	tree := datatree.New()
	tree.Lock()
	zxid := int64(0x100000000)
	apply := func(txn proto.Txn) {
		zxid++
		h := proto.TxnHeader{ClientID: sess1, Cxid: int32(zxid), Zxid: zxid, Time: zxid, Type: txn.TxnType()}
		if r := tree.ProcessTxn(&h, txn); r.Err != proto.ErrOK {
			b.Fatalf("%+v: %s", txn, proto.CodeName(r.Err))
		}
	}
	apply(&proto.CreateTxn{Path: "/b", ACL: proto.OpenACLUnsafe, ParentCVersion: 1, Op: proto.OpCreate})
	payload := bytes.Repeat([]byte("x"), 128)
	for i := range 100_000 {
		apply(&proto.CreateTxn{Path: fmt.Sprintf("/b/n%06d", i), Data: payload, ACL: proto.OpenACLUnsafe, ParentCVersion: int32(i + 1), Op: proto.OpCreate})
	}
	tree.Unlock()
	encoders := map[string]func() error{
		"consistent": func() error {
			tree.RLock()
			defer tree.RUnlock()
			_, err := Encode(tree, nil)
			return err
		},
		"fuzzy": func() error {
			_, err := EncodeFuzzy(tree, nil, tree.LastProcessedZxid(), FuzzyChunk)
			return err
		},
	}
	for _, name := range []string{"consistent", "fuzzy"} {
		b.Run(name, func(b *testing.B) {
			var worst time.Duration
			for b.Loop() {
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					for version := int32(1); ; version++ {
						select {
						case <-stop:
							return
						default:
						}
						start := time.Now()
						tree.Lock()
						worst = max(worst, time.Since(start))
						apply(&proto.SetDataTxn{Path: "/b/n000000", Data: payload, Version: version + int32(zxid)})
						tree.Unlock()
						time.Sleep(100 * time.Microsecond)
					}
				})
				if err := encoders[name](); err != nil {
					b.Fatal(err)
				}
				close(stop)
				wg.Wait()
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-write-wait-ms")
		})
	}
}
