package datatree

import (
	"strconv"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

// BenchmarkCreateDelete measures applying a create and a delete of a node
// with 100 bytes of data under a directory of 10k children.
func BenchmarkCreateDelete(b *testing.B) {
	tree := New()
	zxid := int64(1)
	apply := func(txn proto.Txn) {
		tree.ProcessTxn(&proto.TxnHeader{Zxid: zxid, Type: txn.TxnType()}, txn)
		zxid++
	}
	apply(mkCreate("/dir", ""))
	for i := 0; i < 10000; i++ {
		apply(mkCreate("/dir/n"+strconv.Itoa(i), "x"))
	}
	data := make([]byte, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := "/dir/bench" + strconv.Itoa(i)
		apply(&proto.CreateTxn{Path: p, Data: data, ACL: proto.OpenACLUnsafe, ParentCVersion: -1})
		apply(mkDelete(p))
	}
}
