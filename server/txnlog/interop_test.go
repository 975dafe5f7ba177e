package txnlog

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/testpeer"
)

// TestApacheToolkitReadsOurLog runs Apache ZooKeeper's TxnLogToolkit on a
// log this package wrote.
func TestApacheToolkitReadsOurLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM")
	}
	dir := t.TempDir()
	w := openWriter(t, Options{Dir: dir, PreAllocSize: 64 << 10, ForceSync: true})
	recs := allTypes(0x300000001)
	appendAll(t, w, recs)
	path := w.CurrentFile()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := testpeer.RunApacheTool(t, testpeer.TxnLogToolkit, path)
	if err != nil {
		t.Fatalf("TxnLogToolkit: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ZooKeeper Transactional Log File with dbid 0 txnlog format version 2",
		fmt.Sprintf("EOF reached after %d txns.", len(recs)),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("toolkit output lacks %q:\n%s", want, out)
		}
	}
	got, count := parseToolkit(t, strings.NewReader(out))
	if count != len(recs) || len(got) != len(recs) {
		t.Fatalf("toolkit listed %d txns (count line %d), want %d:\n%s", len(got), count, len(recs), out)
	}
	for i, r := range recs {
		g := got[i]
		if g.zxid != r.hdr.Zxid || g.session != r.hdr.ClientID || g.cxid != int64(r.hdr.Cxid) || g.op != proto.OpName(r.hdr.Type) {
			t.Errorf("txn %d: toolkit shows %+v, wrote %+v", i, g, r.hdr)
		}
	}
	for _, want := range []string{"/a/e-0000000001", "/zookeeper/config", "'digest,'alice:xyz="} {
		if !strings.Contains(out, want) {
			t.Errorf("toolkit output lacks %q", want)
		}
	}
}
