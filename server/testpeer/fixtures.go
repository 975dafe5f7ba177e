package testpeer

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// SharedPath joins elem to the project's shared material directory:
// ../shared from the repository root, wherever the repository is cloned (CI
// clones it afresh with shared/ beside it), so no test hard-codes where the
// checkout lives.
func SharedPath(elem ...string) string {
	_, file, _, _ := runtime.Caller(0)
	// file is <root>/server/testpeer/fixtures.go.
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	return filepath.Join(append([]string{dir}, elem...)...)
}

// SharedDir is SharedPath(), failing the test when the directory is missing.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := SharedPath()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("testpeer: shared material not found at %s (it lives at ../shared from the repository root)", dir)
	}
	return filepath.Clean(dir)
}

// EnsembleFixture is the directory of the real Apache ZooKeeper 3.8
// ensemble's data (datadirs.tar.gz, its tools' output, expected-tree.jsonl).
func EnsembleFixture(t testing.TB) string {
	t.Helper()
	return filepath.Join(SharedDir(t), "fixtures", "zk38-ensemble")
}

// ApacheTestdata is the directory of data files from Apache ZooKeeper's
// own test resources.
func ApacheTestdata(t testing.TB) string {
	t.Helper()
	return filepath.Join(SharedDir(t), "fixtures", "apache-zookeeper-testdata")
}

// ExtractEnsemble unpacks the ensemble's datadirs.tar.gz into a fresh
// temporary directory (tests may change what they get) and returns it: it
// holds n1/data, n2/data and n3/data.
func ExtractEnsemble(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := ExtractEnsembleTo(SharedPath("fixtures", "zk38-ensemble", "datadirs.tar.gz"), dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ExtractEnsembleTo unpacks a datadirs.tar.gz archive into dir, for tests
// that share one copy (and clean it up themselves).
func ExtractEnsembleTo(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", archive, err)
	}
	tr := tar.NewReader(zr)
	for i := 0; i < 10000; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return fmt.Errorf("%s: %w", archive, err)
			}
			if err := os.WriteFile(target, b, 0o644); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("%s has too many entries", archive)
}
