package ensembletest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// built caches the zkd binary BuildZkd builds, once per test process.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// BuildZkd builds ./cmd/zkd of this module into a temporary directory, once
// per test process, and returns the binary's path. The directory outlives
// the test that built it (later tests reuse the binary); RemoveBuiltZkd
// deletes it, for a TestMain to call. Directories that test processes no
// longer running left behind (no TestMain, or killed) are removed here.
func BuildZkd(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..") // <root>/server/ensembletest
		removeStaleBuilds()
		built.dir, built.err = os.MkdirTemp("", fmt.Sprintf("%s%d-", buildDirPrefix, os.Getpid()))
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "zkd")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		cmd := exec.Command(gobin, "build", "-o", built.path, "./cmd/zkd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/zkd in %s: %w\n%s", root, err, out)
		}
	})
	if built.err != nil {
		t.Fatalf("ensembletest: %v", built.err)
	}
	return built.path
}

// RemoveBuiltZkd deletes the binary BuildZkd built, if any.
func RemoveBuiltZkd() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

// buildDirPrefix starts the name of BuildZkd's directories, followed by
// the building process's pid.
const buildDirPrefix = "zkd-ensembletest-"

// removeStaleBuilds deletes BuildZkd directories of processes that have
// exited.
func removeStaleBuilds() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), buildDirPrefix)
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}
