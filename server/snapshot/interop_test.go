package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/testpeer"
)

// TestApacheSnapshotFormatterReadsOurs runs Apache's SnapshotFormatter on
// snapshots zkd wrote in each compression and compares its report with the
// tree written.
func TestApacheSnapshotFormatterReadsOurs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a JVM")
	}
	tree := buildTree(t)
	sessions := []Session{{ID: sess1, TimeoutMs: 6000}}
	for _, method := range []string{MethodNone, MethodGzip, MethodSnappy} {
		t.Run("method="+method, func(t *testing.T) {
			t.Parallel()
			path, err := WriteFile(t.TempDir(), tree.LastProcessedZxid(), tree, sessions, method, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := testpeer.RunApacheTool(t, testpeer.SnapshotFormatter, "-d", path)
			if err != nil {
				t.Fatalf("SnapshotFormatter: %v\n%s", err, out)
			}
			s := &Snapshot{Tree: tree, Sessions: sessions, Zxid: tree.LastProcessedZxid()}
			compareFormatter(t, s, parseFormatter(t, out))
		})
	}
}

// TestApacheZooKeeperLoadsOurs starts a real Apache ZooKeeper 3.8 on a
// dataDir holding only a snapshot zkd wrote and reads znodes back.
func TestApacheZooKeeperLoadsOurs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a JVM")
	}
	tree := buildTree(t)
	dataDir := t.TempDir()
	snapDir := filepath.Join(dataDir, "version-2")
	if err := os.Mkdir(snapDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Snappy exercises the least common path; the formatter test covers
	// the other two against Apache's reader.
	// The ephemeral /app/eph survives only if its session is in the
	// snapshot: ZooKeeper kills owners without a session entry on load.
	// 40 s is the longest timeout the server allows (20 ticks).
	sessions := []Session{{ID: sess1, TimeoutMs: 40000}}
	if _, err := WriteFile(snapDir, tree.LastProcessedZxid(), tree, sessions, MethodSnappy, nil); err != nil {
		t.Fatal(err)
	}
	z := testpeer.StartApacheZK(t, testpeer.ApacheOptions{
		DataDir:            dataDir,
		DisableAdminServer: true,
		SystemProps:        map[string]string{"zookeeper.snapshot.compression.method": "snappy"},
	})
	conn, _, err := zk.Connect([]string{z.Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, path := range []string{"/app", "/app/bin", "/app/empty", "/app/null", "/big", "/many/n042", "/box", "/ttl", "/app/eph", "/"} {
		info, ok := tree.Lookup(path)
		if !ok {
			t.Fatalf("%s missing from the source tree", path)
		}
		data, stat, err := getWithAuth(conn, path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		want := info.ClientStat()
		got := stat2proto(stat)
		if got != want {
			t.Errorf("%s: stat\n apache %+v\n wrote  %+v", path, got, want)
		}
		src, _, _ := tree.GetData(path, nil, nil)
		if string(data) != string(src) {
			t.Errorf("%s: data %d bytes, wrote %d", path, len(data), len(src))
		}
	}
	// ZooKeeper compares the loaded tree with the snapshot's digest record
	// (the snapshot is not fuzzy) and logs a mismatch; it must not.
	if log, err := os.ReadFile(z.LogFile); err != nil {
		t.Error(err)
	} else if strings.Contains(string(log), "Digests are not matching") {
		t.Errorf("Apache ZooKeeper reports a digest mismatch:\n%s", z.LogTail(30))
	}
	acl, _, err := conn.GetACL("/app/secret")
	if err != nil || len(acl) != 1 || acl[0].Scheme != "digest" || acl[0].ID != digestACL[0].ID.ID {
		t.Errorf("/app/secret ACL %+v, %v; want %+v", acl, err, digestACL)
	}
}

// getWithAuth reads a node; /app/bin has a digest ACL, so authenticate
// as its owner first.
func getWithAuth(conn *zk.Conn, path string) ([]byte, *zk.Stat, error) {
	data, stat, err := conn.Get(path)
	if err == zk.ErrNoAuth {
		if err := conn.AddAuth("digest", []byte("alice:pw")); err != nil {
			return nil, nil, err
		}
		return conn.Get(path)
	}
	return data, stat, err
}

func stat2proto(s *zk.Stat) proto.Stat {
	return proto.Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: s.EphemeralOwner, DataLength: s.DataLength,
		NumChildren: s.NumChildren, Pzxid: s.Pzxid,
	}
}
