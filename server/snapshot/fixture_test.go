package snapshot

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/testpeer"

	"github.com/zkd-io/zkd/server/datatree"
)

var (
	ensembleFixture = testpeer.SharedPath("fixtures", "zk38-ensemble")
	apacheTestdata  = testpeer.SharedPath("fixtures", "apache-zookeeper-testdata")
)

// extractEnsemble unpacks datadirs.tar.gz into a temporary directory.
func extractEnsemble(t *testing.T) string {
	t.Helper()
	return testpeer.ExtractEnsemble(t)
}

// parseFormatter parses `SnapshotFormatter -d` output.
func parseFormatter(t *testing.T, out string) *testpeer.FormatterDump {
	t.Helper()
	f, err := testpeer.ParseSnapshotFormatter(out)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// javaDate formats epoch milliseconds as java.util.Date.toString does in
// the UTC zone the fixture was produced in.
func javaDate(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("Mon Jan 02 15:04:05 MST 2006")
}

// compareFormatter checks a loaded snapshot against SnapshotFormatter's
// view of the same file: node count, every node's stat and data, the
// sessions with their ephemeral counts, and the last zxid.
func compareFormatter(t *testing.T, s *Snapshot, f *testpeer.FormatterDump) {
	t.Helper()
	tree := s.Tree
	if f.Count != tree.NodeCount() {
		t.Errorf("node count: formatter %d, read %d", f.Count, tree.NodeCount())
	}
	seen := 0
	last := max(s.Zxid, 0)
	err := tree.Walk(func(path string, n datatree.NodeView) error {
		seen++
		last = max(last, n.Stat.Mzxid, n.Stat.Pzxid)
		fn, ok := f.Nodes[path]
		if !ok {
			return fmt.Errorf("%s: not in formatter output", path)
		}
		st := n.Stat
		got := testpeer.FormatterNode{
			Czxid: st.Czxid, Mzxid: st.Mzxid, Pzxid: st.Pzxid, EphemeralOwner: st.EphemeralOwner,
			Ctime: javaDate(st.Ctime), Mtime: javaDate(st.Mtime),
			Cversion: st.Cversion, Version: st.Version, Aversion: st.Aversion,
		}
		want := fn
		want.Data = nil
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("%s: stat\n read      %+v\n formatter %+v", path, got, want)
		}
		if string(n.Data) != string(fn.Data) {
			return fmt.Errorf("%s: data %q, formatter %q", path, n.Data, fn.Data)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if seen != len(f.Nodes) {
		t.Errorf("read %d nodes, formatter printed %d", seen, len(f.Nodes))
	}
	if len(s.Sessions) != len(f.Sessions) {
		t.Errorf("read %d sessions, formatter %d", len(s.Sessions), len(f.Sessions))
	}
	for _, sess := range s.Sessions {
		want, ok := f.Sessions[sess.ID]
		got := [2]int64{int64(sess.TimeoutMs), int64(len(tree.SessionEphemerals(sess.ID)))}
		if !ok || got != want {
			t.Errorf("session %#x: read (timeout, ephemerals) %v, formatter %v (present %v)", sess.ID, got, want, ok)
		}
	}
	if last != f.LastZxid {
		t.Errorf("last zxid: read %#x, formatter %#x", last, f.LastZxid)
	}
}

// jsonSizes parses `SnapshotFormatter -json` (ncdu export) into
// path -> data size.
func jsonSizes(t *testing.T, b []byte) map[string]int64 {
	t.Helper()
	var top []json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || len(top) != 4 {
		t.Fatalf("formatter json: %v (%d elements)", err, len(top))
	}
	out := map[string]int64{}
	type entry struct {
		Name  string `json:"name"`
		Asize int64  `json:"asize"`
	}
	var walk func(parent string, raw json.RawMessage)
	walk = func(parent string, raw json.RawMessage) {
		var self entry
		var kids []json.RawMessage
		if err := json.Unmarshal(raw, &self); err != nil {
			var dir []json.RawMessage
			if err := json.Unmarshal(raw, &dir); err != nil || len(dir) == 0 {
				t.Fatalf("formatter json: bad entry %s", raw)
			}
			if err := json.Unmarshal(dir[0], &self); err != nil {
				t.Fatalf("formatter json: bad entry %s", dir[0])
			}
			kids = dir[1:]
		}
		path := self.Name
		if parent == "/" {
			path = "/" + self.Name
		} else if parent != "" {
			path = parent + "/" + self.Name
		}
		out[path] = self.Asize
		for _, k := range kids {
			walk(path, k)
		}
	}
	walk("", top[3])
	return out
}

func treeSizes(t *testing.T, tree *datatree.Tree) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	if err := tree.Walk(func(path string, n datatree.NodeView) error {
		out[path] = int64(len(n.Data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func gunzipFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFixtureServer1 reads every snapshot server 1 of a real 3.8 ensemble
// wrote and compares the result with Apache's SnapshotFormatter output
// for the same files.
func TestFixtureServer1(t *testing.T) {
	dir := extractEnsemble(t)
	files, err := List(filepath.Join(dir, "n1/data/version-2"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Fatalf("List found %d snapshots, want 5: %+v", len(files), files)
	}
	for _, file := range files {
		name := filepath.Base(file.Path)
		t.Run(name, func(t *testing.T) {
			if !file.Valid {
				t.Errorf("pre-check rejects %s", name)
			}
			s, err := ReadFile(file.Path, datatree.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Zxid != file.Zxid || s.Tree.LastProcessedZxid() != file.Zxid {
				t.Errorf("zxid %#x, tree %#x, want %#x", s.Zxid, s.Tree.LastProcessedZxid(), file.Zxid)
			}
			// 3.8 with digest enabled always writes the record; its zxid
			// is the last txn applied when the snapshot ended (fuzzy).
			if s.Digest == nil || s.Digest.Version != DigestVersion {
				t.Errorf("digest record %+v, want version %d", s.Digest, DigestVersion)
			} else if s.Digest.Zxid != 0 && s.Digest.Zxid < file.Zxid {
				t.Errorf("digest zxid %#x below the file's %#x", s.Digest.Zxid, file.Zxid)
			}
			out := gunzipFile(t, filepath.Join(ensembleFixture, "apache-tool-output", "n1-"+name+".snapshotformatter.txt.gz"))
			compareFormatter(t, s, parseFormatter(t, out))
			js, err := os.ReadFile(filepath.Join(ensembleFixture, "apache-tool-output", "n1-"+name+".snapshotformatter.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := treeSizes(t, s.Tree), jsonSizes(t, js); !mapsEqual(got, want) {
				t.Errorf("data sizes differ from formatter -json:\n read %v\n json %v", got, want)
			}
		})
	}
}

// TestFixtureAllServers reads every snapshot of the three servers and checks
// the digest record against the loaded tree when the snapshot was taken at
// the digest's zxid (not fuzzy).
func TestFixtureAllServers(t *testing.T) {
	dir := extractEnsemble(t)
	compared := 0
	for _, srv := range []string{"n1", "n2", "n3"} {
		files, err := List(filepath.Join(dir, srv, "data/version-2"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			s, err := ReadFile(f.Path, datatree.Options{})
			if err != nil {
				t.Errorf("%s: %v", f.Path, err)
				continue
			}
			// A zxid of 0 is the empty record ZooKeeper writes before any
			// txn; it carries no digest.
			if d := s.Digest; d != nil && d.Zxid > 0 && d.Zxid == f.Zxid {
				compared++
				if d.Digest != s.Tree.Digest() {
					t.Errorf("%s: digest record %#x at %#x, tree digest %#x", f.Path, d.Digest, d.Zxid, s.Tree.Digest())
				}
			}
		}
	}
	if compared == 0 {
		t.Error("no snapshot had a digest record at its own zxid to compare")
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestApacheTestdata reads the snapshots from ZooKeeper's own test
// resources.
func TestApacheTestdata(t *testing.T) {
	if _, err := os.Stat(apacheTestdata); err != nil {
		t.Skipf("fixture not available: %v", err)
	}
	tests := []struct {
		file      string
		wantErr   string // substring; "" means it must load
		nodes     int    // NodeCount, when it loads
		sessions  int
		hasDigest bool
	}{
		// 3.4-era: no digest record, one seal.
		{file: "snapshot.639", nodes: 1596, sessions: 1},
		{file: "data_invalidsnap_version-2_snapshot.83f", wantErr: "corrupt at offset"},
		{file: "data_buffersize_create_version-2_snapshot.0", nodes: 4},
		{file: "data_upgrade_snapshot.100000000", wantErr: "corrupt at offset"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(apacheTestdata, tt.file)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := Read(f, datatree.Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Errorf("error %T is not a *CorruptError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Tree.NodeCount(); got != tt.nodes {
				t.Errorf("NodeCount %d, want %d", got, tt.nodes)
			}
			if len(s.Sessions) != tt.sessions {
				t.Errorf("%d sessions, want %d", len(s.Sessions), tt.sessions)
			}
			if (s.Digest != nil) != tt.hasDigest {
				t.Errorf("digest %+v, want present=%v", s.Digest, tt.hasDigest)
			}
		})
	}
}
