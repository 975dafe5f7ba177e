package datatree

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/proto"
)

func TestReplaceContents(t *testing.T) {
	dst := New()
	src := New()
	src.Lock()
	hdr := proto.TxnHeader{Zxid: 7, Type: proto.OpCreate}
	res := src.ProcessTxn(&hdr, &proto.CreateTxn{Path: "/a", Data: []byte("x"), ACL: proto.OpenACLUnsafe})
	src.Unlock()
	if res.Err != proto.ErrOK {
		t.Fatalf("create: %v", res.Err)
	}
	wantDigest, wantCount := src.Digest(), src.NodeCount()
	dst.Lock()
	dst.ReplaceContents(src)
	dst.Unlock()
	if dst.LastProcessedZxid() != 7 || dst.Digest() != wantDigest || dst.NodeCount() != wantCount {
		t.Fatalf("after replace: zxid %d digest %d count %d; want 7 %d %d",
			dst.LastProcessedZxid(), dst.Digest(), dst.NodeCount(), wantDigest, wantCount)
	}
	data, _, err := dst.GetData("/a", nil, nil)
	if err != proto.ErrOK || string(data) != "x" {
		t.Fatalf("GetData(/a) = %q, %v", data, err)
	}
}

func TestSetConfigData(t *testing.T) {
	tr := New()
	before := tr.Digest()
	cfg := []byte("server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\nversion=0")
	tr.Lock()
	tr.SetConfigData(cfg)
	tr.Unlock()
	data, _, err := tr.GetData("/zookeeper/config", nil, nil)
	if err != proto.ErrOK || !bytes.Equal(data, cfg) {
		t.Fatalf("GetData(/zookeeper/config) = %q, %v", data, err)
	}
	if tr.Digest() != before {
		t.Fatalf("digest changed: /zookeeper/config is outside the digest")
	}
}

func TestSlowApplyCounted(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	m.SlowApply = func(zxid int64, _ int32, d time.Duration) { got = append(got, zxid) }
	m.observeApply(5, proto.OpCreate, time.Millisecond)
	m.observeApply(6, proto.OpMulti, SlowApplyThreshold+time.Millisecond)
	if n := testutil.ToFloat64(m.slow); n != 1 || len(got) != 1 || got[0] != 6 {
		t.Fatalf("slow applies = %v, reported %v; want 1, [6]", n, got)
	}
}
