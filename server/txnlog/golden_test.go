package txnlog

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/testpeer"

	"github.com/zkd-io/zkd/server/proto"
)

var (
	ensembleDir = testpeer.SharedPath("fixtures", "zk38-ensemble")
	apacheData  = testpeer.SharedPath("fixtures", "apache-zookeeper-testdata")
)

// extractEnsemble unpacks datadirs.tar.gz (real ZooKeeper 3.8.0 data
// directories) into a temporary directory.
func extractEnsemble(t *testing.T) string {
	t.Helper()
	return testpeer.ExtractEnsemble(t)
}

// toolkitLine matches one txn line of TxnLogToolkit's dump.
var toolkitLine = regexp.MustCompile(`session (0x[0-9a-f]+) cxid (0x[0-9a-f]+) zxid (0x[0-9a-f]+) (\w+)`)

type toolkitTxn struct {
	session, cxid, zxid int64
	op                  string
}

// parseToolkit reads TxnLogToolkit output: its txn lines and the count on
// its "EOF reached after N txns." line.
func parseToolkit(t *testing.T, r io.Reader) ([]toolkitTxn, int) {
	t.Helper()
	var out []toolkitTxn
	count := -1
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := toolkitLine.FindStringSubmatch(line); m != nil {
			var tx toolkitTxn
			for i, p := range []*int64{&tx.session, &tx.cxid, &tx.zxid} {
				v, err := strconv.ParseUint(m[i+1][2:], 16, 64)
				if err != nil {
					t.Fatalf("toolkit line %q: %v", line, err)
				}
				*p = int64(v)
			}
			tx.op = m[4]
			out = append(out, tx)
		}
		if _, err := fmt.Sscanf(line, "EOF reached after %d txns.", &count); err == nil {
			continue
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out, count
}

func TestEnsembleLogs(t *testing.T) {
	root := extractEnsemble(t)
	seenTypes := map[int32]int{}
	for _, node := range []string{"n1", "n2", "n3"} {
		dir := filepath.Join(root, node, "data", "version-2")
		files, err := Files(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("%s: no logs", node)
		}
		for _, f := range files {
			es, torn, err := readFile(t, f.Path, ReadOptions{})
			if err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			if len(es) == 0 || len(torn) != 0 {
				t.Errorf("%s: %d entries, torn %v", f.Path, len(es), torn)
				continue
			}
			if es[0].Hdr.Zxid != f.StartZxid {
				t.Errorf("%s: first zxid 0x%x, want the name's 0x%x", f.Path, es[0].Hdr.Zxid, f.StartZxid)
			}
			for i, e := range es {
				seenTypes[e.Hdr.Type]++
				if i > 0 && e.Hdr.Zxid <= es[i-1].Hdr.Zxid {
					t.Errorf("%s: zxid 0x%x after 0x%x", f.Path, e.Hdr.Zxid, es[i-1].Hdr.Zxid)
				}
				if e.Txn.TxnType() != e.Hdr.Type && e.Hdr.Type != proto.OpReconfig {
					t.Errorf("%s zxid 0x%x: header type %d, body %T", f.Path, e.Hdr.Zxid, e.Hdr.Type, e.Txn)
				}
				if e.Digest == nil && e.Hdr.Type != proto.OpError {
					t.Errorf("%s zxid 0x%x: 3.8 logs carry a digest on %s", f.Path, e.Hdr.Zxid, proto.OpName(e.Hdr.Type))
				}
			}
			if st, _ := os.Stat(f.Path); st.Size() != 1<<20+16 {
				t.Errorf("%s: size %d, want preAllocSize (1 MiB) + 16", f.Path, st.Size())
			}
		}
		// The whole directory through NewIterator, as a server would load it.
		all, _ := readDir(t, dir)
		if len(all) == 0 {
			t.Errorf("%s: directory read nothing", node)
		}
	}
	for _, typ := range []int32{proto.OpCreateSession, proto.OpCloseSession, proto.OpCreate, proto.OpCreateContainer,
		proto.OpCreateTTL, proto.OpSetData, proto.OpSetACL, proto.OpDelete, proto.OpDeleteContainer, proto.OpMulti, proto.OpError} {
		if seenTypes[typ] == 0 {
			t.Errorf("no %s txn in the ensemble logs (types seen: %v)", proto.OpName(typ), seenTypes)
		}
	}

	// n1's logs against Apache's own TxnLogToolkit output.
	outs, err := filepath.Glob(filepath.Join(ensembleDir, "apache-tool-output", "n1-log.*.txnlogtoolkit.txt.gz"))
	if err != nil || len(outs) == 0 {
		t.Fatalf("no toolkit output: %v", err)
	}
	for _, out := range outs {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(out), "n1-"), ".txnlogtoolkit.txt.gz")
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			gz, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			want, count := parseToolkit(t, gz)
			got, _, err := readFile(t, filepath.Join(root, "n1", "data", "version-2", name), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if count != len(want) || len(got) != count {
				t.Fatalf("toolkit reports %d txns (%d lines parsed), we read %d", count, len(want), len(got))
			}
			for i, w := range want {
				h := got[i].Hdr
				if h.ClientID != w.session || int64(h.Cxid) != w.cxid || h.Zxid != w.zxid || proto.OpName(h.Type) != w.op {
					t.Errorf("txn %d: session 0x%x cxid 0x%x zxid 0x%x %s; toolkit: session 0x%x cxid 0x%x zxid 0x%x %s",
						i, h.ClientID, h.Cxid, h.Zxid, proto.OpName(h.Type), w.session, w.cxid, w.zxid, w.op)
				}
			}
		})
	}
}

func TestApacheTestdataLogs(t *testing.T) {
	t.Run("buffersize log.1", func(t *testing.T) {
		path := filepath.Join(apacheData, "data_buffersize_create_version-2_log.1")
		es, torn, err := readFile(t, path, ReadOptions{})
		if err != nil || len(torn) != 0 || len(es) == 0 {
			t.Fatalf("%d entries, torn %v, err %v", len(es), torn, err)
		}
		if es[0].Hdr.Zxid != 1 {
			t.Errorf("first zxid 0x%x, want 1", es[0].Hdr.Zxid)
		}
		for i := 1; i < len(es); i++ {
			if es[i].Hdr.Zxid != es[i-1].Hdr.Zxid+1 {
				t.Errorf("zxid 0x%x follows 0x%x", es[i].Hdr.Zxid, es[i-1].Hdr.Zxid)
			}
		}
		if st, _ := os.Stat(path); st.Size() != 51216 {
			t.Errorf("fixture size %d", st.Size())
		}
	})
	t.Run("invalidsnap log.42", func(t *testing.T) {
		path := filepath.Join(apacheData, "data_invalidsnap_version-2_log.42")
		es, _, err := readFile(t, path, ReadOptions{})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Kind != KindChecksum || ce.File != path {
			t.Fatalf("read %d entries then %v: want a checksum CorruptError", len(es), err)
		}
		if len(es) > 0 && ce.LastGoodZxid != es[len(es)-1].Hdr.Zxid {
			t.Errorf("LastGoodZxid 0x%x, last entry 0x%x", ce.LastGoodZxid, es[len(es)-1].Hdr.Zxid)
		}
		all, torn, err := readFile(t, path, ReadOptions{ContinueOnChecksumError: true})
		if err != nil || len(torn) != 0 {
			t.Fatalf("continuing: %v (torn %v)", err, torn)
		}
		bad, emptyClose := 0, 0
		for _, e := range all {
			if !e.ChecksumOK {
				bad++
				if e.Offset != ce.Offset {
					t.Errorf("bad record at %d, error said %d", e.Offset, ce.Offset)
				}
			}
			if c, ok := e.Txn.(*proto.CloseSessionTxn); ok && c.Empty {
				emptyClose++
			}
		}
		if bad != 1 || len(all) <= len(es)+1 {
			t.Errorf("continuing: %d entries (%d before the bad one), %d with bad checksums; want exactly 1 bad and more after it", len(all), len(es), bad)
		}
		if emptyClose != 1 {
			t.Errorf("%d old empty-body closeSession txns, want 1", emptyClose)
		}
		for i := 1; i < len(all); i++ {
			if all[i].Hdr.Zxid <= all[i-1].Hdr.Zxid {
				t.Errorf("zxid 0x%x after 0x%x", all[i].Hdr.Zxid, all[i-1].Hdr.Zxid)
			}
		}
	})
}
