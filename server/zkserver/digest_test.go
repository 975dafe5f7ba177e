package zkserver_test

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/metrics/metricvalue"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/txnlog"
	"github.com/zkd-io/zkd/server/zkservertest"
)

// TestEnsembleTxnDigests: the leader's prep computes each txn's TxnDigest
// (the tree digest once it is applied) and sends it in the PROPOSAL, as
// ZooKeeper 3.8 does with digests enabled. Every member logs it with the
// txn, exactly as ZooKeeper's own logs hold it (error txns carry none,
// everything else one), and every member's tree matches it after applying
// the txn: no digest mismatch is counted anywhere.
func TestEnsembleTxnDigests(t *testing.T) {
	e := zkservertest.StartEnsemble(t, zkservertest.EnsembleOptions{})
	leader := e.WaitServing()
	follower := e.Followers(leader)[0]
	open := zk.WorldACL(zk.PermAll)
	for _, id := range []int64{leader, follower} {
		c := connectEnsemble(t, e, id)
		p := fmt.Sprintf("/d%d", id)
		if _, err := c.Create(p, []byte("x"), 0, open); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(p, nil, 0, open); !errors.Is(err, zk.ErrNodeExists) { // an error txn
			t.Fatalf("second create of %s: %v, want NODEEXISTS", p, err)
		}
		if _, err := c.Create(p+"/seq-", []byte("s"), zk.FlagSequence, open); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Create(p+"/eph", []byte("e"), zk.FlagEphemeral, open); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateContainer(p+"/box", nil, zk.FlagContainer, open); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Set(p, []byte("changed"), -1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SetACL(p, zk.WorldACL(zk.PermRead|zk.PermWrite|zk.PermCreate|zk.PermDelete), -1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Multi(&zk.CreateRequest{Path: p + "/m1", Data: []byte("m"), Acl: open},
			&zk.SetDataRequest{Path: p + "/m1", Data: []byte("mm"), Version: -1}); err != nil {
			t.Fatal(err)
		}
		// A failed multi is still a multi txn, with the unchanged digest.
		if _, err := c.Multi(&zk.CreateRequest{Path: p + "/m2", Acl: open},
			&zk.DeleteRequest{Path: p + "/missing", Version: -1}); !errors.Is(err, zk.ErrNoNode) {
			t.Fatalf("failing multi: %v, want NONODE", err)
		}
		if err := c.Delete(p+"/m1", -1); err != nil {
			t.Fatal(err)
		}
		c.Close() // closeSession removes the ephemeral
	}
	c := connectEnsemble(t, e, leader)
	if _, err := c.Sync("/"); err != nil {
		t.Fatal(err)
	}
	last, err := lastZxid(e.DataDir(leader))
	if err != nil {
		t.Fatal(err)
	}

	var want []*proto.TxnDigest
	for _, id := range e.Running() {
		// Every member logs the txns up to the leader's last (bounded wait:
		// followers log as they ACK).
		var got []logged
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err = readLog(e.DataDir(id))
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) > 0 && got[len(got)-1].zxid >= last) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		types := map[bool]int{}
		for _, g := range got {
			isError := g.typ == proto.OpError
			if (g.digest == nil) != isError {
				t.Errorf("member %d zxid %#x %s: digest %v; want one exactly when not an error txn", id, g.zxid, proto.OpName(g.typ), g.digest)
			}
			types[isError]++
			if id == e.Running()[0] {
				want = append(want, g.digest)
			}
		}
		if types[true] < 2 || types[false] < 20 {
			t.Errorf("member %d logged %d error txns and %d others; the scenario should give at least 2 and 20", id, types[true], types[false])
		}
		if id != e.Running()[0] {
			if len(got) != len(want) {
				t.Errorf("member %d logged %d txns, member %d %d", id, len(got), e.Running()[0], len(want))
				continue
			}
			for i := range got {
				if (got[i].digest == nil) != (want[i] == nil) || (got[i].digest != nil && *got[i].digest != *want[i]) {
					t.Errorf("member %d zxid %#x: digest %v, member %d logged %v", id, got[i].zxid, got[i].digest, e.Running()[0], want[i])
				}
			}
		}
		if n := metricvalue.Of(t, e.Registry(id), "zkd_tree_digest_mismatches_total"); n != 0 {
			t.Errorf("member %d counted %v digest mismatches", id, n)
		}
	}
}

type logged struct {
	zxid   int64
	typ    int32
	digest *proto.TxnDigest
}

func readLog(dataDir string) ([]logged, error) {
	it, err := txnlog.NewIterator(filepath.Join(dataDir, "version-2"), 0, txnlog.ReadOptions{})
	if err != nil {
		return nil, err
	}
	var out []logged
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, logged{zxid: e.Hdr.Zxid, typ: e.Hdr.Type, digest: e.Digest})
	}
}

func lastZxid(dataDir string) (int64, error) {
	got, err := readLog(dataDir)
	if err != nil || len(got) == 0 {
		return 0, err
	}
	return got[len(got)-1].zxid, nil
}
