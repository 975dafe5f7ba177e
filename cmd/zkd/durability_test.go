package main

// Process-level durability tests: the zkd binary is killed, starved of disk
// space, and made to exchange data directories with Apache ZooKeeper 3.8.
// They check what a client was promised, through the client protocol.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/adler32"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/testpeer"
)

// zkdProc is one running `zkd server zoo.cfg`.
type zkdProc struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	err    error // valid after exited is closed
	addr   string
}

// zkdConfig writes a zoo.cfg for a standalone zkd on 127.0.0.1 and returns
// its path and the client address. extra lines are appended verbatim.
func zkdConfig(t *testing.T, dataDir string, extra ...string) (cfgPath, addr string) {
	t.Helper()
	port := testpeer.FreePort(t, "127.0.0.1")
	conf := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"4lw.commands.whitelist=*\nmaxClientCnxns=0\nzkd.httpPort=0\n", dataDir, port)
	for _, l := range extra {
		conf += l + "\n"
	}
	cfgPath = filepath.Join(t.TempDir(), "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, fmt.Sprintf("127.0.0.1:%d", port)
}

// startZKD starts the binary and waits (at most 20 s) until it answers srvr.
// The process is killed when the test ends if it still runs.
func startZKD(t *testing.T, bin, cfgPath, addr string) *zkdProc {
	t.Helper()
	p := &zkdProc{logs: &syncBuffer{}, exited: make(chan struct{}), addr: addr}
	p.cmd = exec.Command(bin, "server", cfgPath)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("zkd pid %d not reaped", p.cmd.Process.Pid)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := testpeer.FourLetter(addr, "srvr", time.Second)
		if err == nil && strings.Contains(out, "Mode: standalone") {
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("zkd exited during start-up (%v); logs:\n%s", p.err, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("zkd not serving on %s after 20s; logs:\n%s", addr, p.logs.String())
	return nil
}

// kill9 kills the process as a crash would and waits for it.
func (p *zkdProc) kill9(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("zkd not dead 10s after SIGKILL")
	}
}

// stop shuts the process down with SIGTERM and requires a clean exit.
func (p *zkdProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("zkd exit after SIGTERM: %v; log tail:\n%s", p.err, tail(p.logs.String(), 20))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("zkd did not stop within 20s of SIGTERM")
	}
}

func (p *zkdProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// logLines returns the JSON log records whose msg contains substr.
func (p *zkdProc) logLines(substr string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if msg, _ := rec["message"].(string); strings.Contains(msg, substr) {
			out = append(out, rec)
		}
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// connect opens a session (waiting at most 10 s for it), authenticated with
// the given digest credentials unless empty. Closed when the test ends.
func connect(t *testing.T, addr, digest string) *zk.Conn {
	t.Helper()
	conn, events, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	timeout := time.After(10 * time.Second)
	for conn.State() != zk.StateHasSession {
		select {
		case <-events:
		case <-timeout:
			conn.Close()
			t.Fatalf("no session with %s within 10s", addr)
		}
	}
	if digest != "" {
		if err := conn.AddAuth("digest", []byte(digest)); err != nil {
			t.Fatalf("addAuth: %v", err)
		}
	}
	return conn
}

// quietLogger drops go-zookeeper's reconnect chatter, expected here after
// every kill.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// znode is what a client sees of one node.
type znode struct {
	Data []byte
	Stat zk.Stat
	ACL  []zk.ACL
}

// readTree reads every znode below (and including) root, skipping the
// /zookeeper subtree. Bounded to maxNodes.
func readTree(t *testing.T, conn *zk.Conn, root string, maxNodes int) map[string]znode {
	t.Helper()
	out := map[string]znode{}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == "/zookeeper" {
			continue
		}
		if len(out) >= maxNodes {
			t.Fatalf("more than %d znodes under %s", maxNodes, root)
		}
		data, stat, err := conn.Get(p)
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		acl, _, err := conn.GetACL(p)
		if err != nil {
			t.Fatalf("getACL %s: %v", p, err)
		}
		children, _, err := conn.Children(p)
		if err != nil {
			t.Fatalf("children %s: %v", p, err)
		}
		out[p] = znode{Data: data, Stat: *stat, ACL: acl}
		slices.Sort(children)
		for _, c := range children {
			queue = append(queue, path.Join(p, c))
		}
	}
	return out
}

// compareTrees reports every difference between want and got.
func compareTrees(t *testing.T, what string, want, got map[string]znode) {
	t.Helper()
	diffs := 0
	report := func(format string, args ...any) {
		diffs++
		if diffs <= 30 {
			t.Errorf(what+": "+format, args...)
		}
	}
	for _, p := range slices.Sorted(mapKeys(want)) {
		w := want[p]
		g, ok := got[p]
		if !ok {
			report("%s missing", p)
			continue
		}
		if !bytes.Equal(w.Data, g.Data) {
			report("%s data: want %d bytes %q, got %d bytes %q", p, len(w.Data), clip(w.Data), len(g.Data), clip(g.Data))
		}
		if w.Stat != g.Stat {
			report("%s stat:\nwant %+v\ngot  %+v", p, w.Stat, g.Stat)
		}
		if !reflect.DeepEqual(w.ACL, g.ACL) {
			report("%s ACL: want %v, got %v", p, w.ACL, g.ACL)
		}
	}
	for _, p := range slices.Sorted(mapKeys(got)) {
		if _, ok := want[p]; !ok {
			report("%s should not exist", p)
		}
	}
	if diffs > 30 {
		t.Errorf("%s: %d differences in all", what, diffs)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// ---------------------------------------------------------------------------
// 1. kill -9 under load

// crashPayload is the data a worker writes; hash identifies it.
func crashPayload(rng *rand.Rand, tag string) []byte {
	n := 16 + rng.IntN(3000)
	if rng.IntN(20) == 0 {
		n = 9000 + rng.IntN(12000) // larger than the 8 KiB write buffer
	}
	b := make([]byte, n)
	copy(b, tag+"|")
	for i := len(tag) + 1; i < n; i++ {
		b[i] = byte('a' + rng.IntN(26))
	}
	return b
}

func hashOf(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// workerModel is what one worker was promised. Each worker has at most one
// request outstanding, so at most one write is in doubt after a crash.
type workerModel struct {
	children   map[string]uint64 // acknowledged sequential creates: name -> data hash
	version    int32             // acknowledged version of the worker node
	dataHash   uint64            // and its data
	maxZxid    int64             // largest acknowledged mzxid seen
	pendCreate *uint64           // in-doubt create's data hash
	pendSet    *uint64           // in-doubt setData's data hash (to version+1)
}

const (
	crashWorkers    = 6
	crashIterations = 9
	crashMaxOps     = 400 // per worker per iteration
)

func TestCrashRecovery(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	models := make([]*workerModel, crashWorkers)
	for i := range models {
		models[i] = &workerModel{children: map[string]uint64{}}
	}
	tornSeen, injected := 0, false

	for iter := 0; iter < crashIterations; iter++ {
		// What the crash left behind, judged by an independent reader,
		// before zkd gets to repair it.
		torn := map[string]int64{}
		crashed := logFiles(t, dataDir)
		for _, f := range crashed {
			off, garbage, err := scanLogFile(f)
			if err != nil {
				t.Errorf("iteration %d: %v", iter, err)
			}
			if garbage {
				torn[f] = off
			}
		}
		if iter == crashIterations/2 && len(torn) == 0 {
			// kill -9 rarely lands between the write calls of one
			// record; make sure the torn-tail path runs at least once
			// by leaving what such a kill leaves.
			f, off := injectTornRecord(t, dataDir)
			torn[f] = off
			injected = true
			t.Logf("iteration %d: injected a partial record into %s at %d", iter, f, off)
		}

		cfg, addr := zkdConfig(t, dataDir, "snapCount=50", "preAllocSize=64", "forceSync=yes")
		p := startZKD(t, bin, cfg, addr)

		if iter > 0 {
			restored := p.logLines("data restored from disk")
			if len(restored) != 1 {
				t.Errorf("iteration %d: want one 'data restored from disk' log line, got %d; logs:\n%s", iter, len(restored), tail(p.logs.String(), 30))
			}
			warned := p.logLines("partial record")
			switch {
			case len(torn) > 0 && len(warned) == 0:
				t.Errorf("iteration %d: the kill left a partial record (%v) but the restart logged no torn-tail warning; logs:\n%s", iter, torn, tail(p.logs.String(), 30))
			case len(torn) == 0 && len(warned) > 0:
				t.Errorf("iteration %d: torn-tail warning %v but the independent scan found no partial record", iter, warned)
			}
			if len(torn) > 0 {
				tornSeen++
				t.Logf("iteration %d: torn tail %v; zkd logged %v", iter, torn, warned)
			}
			var maxAcked int64
			for _, m := range models {
				maxAcked = max(maxAcked, m.maxZxid)
			}
			if len(restored) == 1 {
				last, err := strconv.ParseUint(strings.TrimPrefix(fmt.Sprint(restored[0]["last_zxid"]), "0x"), 16, 64)
				if err != nil || int64(last) < maxAcked {
					t.Errorf("iteration %d: restored last_zxid %v, but zxid 0x%x was acknowledged", iter, restored[0]["last_zxid"], maxAcked)
				}
			}
			// The files the crashed process left are whole now.
			for _, f := range crashed {
				if _, err := os.Stat(f); err != nil {
					continue
				}
				if off, garbage, err := scanLogFile(f); err != nil || garbage {
					t.Errorf("iteration %d: after recovery %s still has bytes past its last record at %d (err %v)", iter, f, off, err)
				}
			}
		}

		conn := connect(t, addr, "")
		if iter == 0 {
			for _, p := range []string{"/crash"} {
				if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
					t.Fatal(err)
				}
			}
			for w := range models {
				if _, err := conn.Create(fmt.Sprintf("/crash/w%d", w), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			verifyCrashModel(t, iter, conn, models)
		}
		conn.Close()
		if t.Failed() {
			t.Fatalf("stopping after iteration %d; zkd log tail:\n%s", iter, tail(p.logs.String(), 40))
		}
		if iter == crashIterations-1 {
			p.stop(t)
			break
		}

		// The load, then the crash.
		var killed atomic.Bool
		var wg sync.WaitGroup
		conns := make([]*zk.Conn, crashWorkers)
		for w := range models {
			conns[w] = connect(t, addr, "")
		}
		for w, m := range models {
			wrng := rand.New(rand.NewPCG(seed, uint64(iter*100+w+2)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				crashWorker(t, conns[w], w, iter, m, wrng, &killed)
			}()
		}
		delay := time.Duration(100+rng.IntN(701)) * time.Millisecond
		time.Sleep(delay)
		killed.Store(true)
		p.kill9(t)
		for _, c := range conns {
			c.Close()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("workers did not stop within 30s of the kill")
		}
		acked := 0
		for _, m := range models {
			acked += len(m.children) + int(m.version)
		}
		t.Logf("iteration %d: killed after %v; %d writes acknowledged so far", iter, delay, acked)
	}

	snaps, _ := filepath.Glob(filepath.Join(dataDir, "version-2", "snapshot.*"))
	logs := logFiles(t, dataDir)
	if len(snaps) < 2 || len(logs) < 2 {
		t.Errorf("the load should have taken snapshots and rolled the log: %d snapshots, %d logs", len(snaps), len(logs))
	}
	t.Logf("%d snapshots, %d log files, %d restarts met a partial record (one injected: %v)", len(snaps), len(logs), tornSeen, injected)
}

// crashWorker writes until its connection fails (the kill) or it reaches
// crashMaxOps, recording what was acknowledged and what is in doubt.
func crashWorker(t *testing.T, conn *zk.Conn, w, iter int, m *workerModel, rng *rand.Rand, killed *atomic.Bool) {
	parent := fmt.Sprintf("/crash/w%d", w)
	for i := 0; i < crashMaxOps; i++ {
		data := crashPayload(rng, fmt.Sprintf("w%d/r%d/i%d", w, iter, i))
		h := hashOf(data)
		if rng.IntN(2) == 0 {
			m.pendCreate = &h
			name, err := conn.Create(parent+"/n-", data, zk.FlagSequence, zk.WorldACL(zk.PermAll))
			if err != nil {
				if !killed.Load() {
					t.Errorf("worker %d: create before the kill: %v", w, err)
				}
				return
			}
			m.pendCreate = nil
			m.children[path.Base(name)] = h
		} else {
			m.pendSet = &h
			st, err := conn.Set(parent, data, m.version)
			if err != nil {
				if !killed.Load() {
					t.Errorf("worker %d: setData before the kill: %v", w, err)
				}
				return
			}
			m.pendSet = nil
			if st.Version != m.version+1 {
				t.Errorf("worker %d: setData acknowledged version %d, want %d", w, st.Version, m.version+1)
			}
			m.version, m.dataHash = st.Version, h
			m.maxZxid = max(m.maxZxid, st.Mzxid)
		}
	}
}

// verifyCrashModel checks the restarted server against every worker's
// acknowledged writes and folds in-doubt writes that survived into the model.
func verifyCrashModel(t *testing.T, iter int, conn *zk.Conn, models []*workerModel) {
	t.Helper()
	top, _, err := conn.Children("/crash")
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != len(models) {
		t.Errorf("iteration %d: /crash has children %v, want %d workers", iter, top, len(models))
	}
	for w, m := range models {
		parent := fmt.Sprintf("/crash/w%d", w)
		data, st, err := conn.Get(parent)
		if err != nil {
			t.Fatalf("get %s: %v", parent, err)
		}
		h := hashOf(data)
		switch {
		case st.Version == m.version && (m.version == 0 || h == m.dataHash):
		case st.Version == m.version+1 && m.pendSet != nil && h == *m.pendSet:
			m.version, m.dataHash = st.Version, h // the in-doubt write survived
		default:
			t.Errorf("iteration %d: %s is version %d (hash %x), acknowledged version %d (hash %x), in doubt %v",
				iter, parent, st.Version, h, m.version, m.dataHash, m.pendSet)
		}
		m.pendSet = nil

		children, _, err := conn.Children(parent)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, c := range children {
			have[c] = true
			d, _, err := conn.Get(parent + "/" + c)
			if err != nil {
				t.Fatalf("get %s/%s: %v", parent, c, err)
			}
			ch := hashOf(d)
			if want, ok := m.children[c]; ok {
				if ch != want {
					t.Errorf("iteration %d: %s/%s has data %q..., not the acknowledged data", iter, parent, c, clip(d))
				}
				continue
			}
			if m.pendCreate != nil && ch == *m.pendCreate {
				m.children[c] = ch // the in-doubt create survived
				m.pendCreate = nil
				continue
			}
			t.Errorf("iteration %d: %s/%s (data %q...) was never written by a client", iter, parent, c, clip(d))
		}
		m.pendCreate = nil
		for c := range m.children {
			if !have[c] {
				t.Errorf("iteration %d: acknowledged create %s/%s is lost", iter, parent, c)
			}
		}
	}
}

// logFiles lists the txn logs in dataDir ordered by start zxid.
func logFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	return filesByZxid(t, filepath.Join(dataDir, "version-2", "log.*"))
}

// filesByZxid globs log.<hex> or snapshot.<hex> files and orders them by
// the zxid in their names.
func filesByZxid(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	zxid := func(f string) uint64 {
		z, _ := strconv.ParseUint(strings.TrimPrefix(filepath.Ext(f), "."), 16, 64)
		return z
	}
	slices.SortFunc(files, func(a, b string) int { return cmpUint(zxid(a), zxid(b)) })
	return files
}

// scanLogFile reads a txn log the way ZooKeeper's FileTxnIterator does,
// independently of zkd's reader: it returns the end of the last whole
// record, whether any non-zero byte follows it (a record cut short), and an
// error for damage before the tail (a bad checksum followed by more data).
func scanLogFile(path string) (end int64, garbage bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false, err
	}
	if len(b) < 16 {
		return 0, !allZero(b), nil
	}
	if binary.BigEndian.Uint32(b) != 0x5A4B4C47 {
		return 0, false, fmt.Errorf("%s: bad magic", path)
	}
	pos := 16
	for {
		if pos+12 > len(b) {
			break
		}
		crc := binary.BigEndian.Uint64(b[pos:])
		n := int(int32(binary.BigEndian.Uint32(b[pos+8:])))
		if n <= 0 || pos+12+n+1 > len(b) || b[pos+12+n] != 'B' {
			break
		}
		if uint64(adler32.Checksum(b[pos+12:pos+12+n])) != crc {
			if allZero(b[pos+13+n:]) {
				break // the last record is damaged: a tail
			}
			return int64(pos), false, fmt.Errorf("%s: checksum mismatch at offset %d with records after it", path, pos)
		}
		pos += 13 + n
	}
	return int64(pos), !allZero(b[pos:]), nil
}

// injectTornRecord writes the first bytes of a record (checksum, length,
// part of the payload) after the last whole record of the newest log file
// that has one.
func injectTornRecord(t *testing.T, dataDir string) (string, int64) {
	t.Helper()
	files := logFiles(t, dataDir)
	slices.Reverse(files)
	for _, f := range files {
		end, _, err := scanLogFile(f)
		if err != nil || end <= 16 {
			continue
		}
		partial := make([]byte, 12+50)
		binary.BigEndian.PutUint64(partial, 0x12345678)
		binary.BigEndian.PutUint32(partial[8:], 200)
		copy(partial[12:], bytes.Repeat([]byte("x"), 50))
		fh, err := os.OpenFile(f, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteAt(partial, end); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
		return f, end
	}
	t.Fatal("no log file with a record to tear")
	return "", 0
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// 2. full disk

func TestFullDisk(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	bin := buildBinary(t)
	dataDir := filepath.Join(mnt, "data")
	httpPort := testpeer.FreePort(t, "127.0.0.1")
	cfg, addr := zkdConfig(t, dataDir, "preAllocSize=16", "forceSync=yes",
		"zkd.httpAddress=127.0.0.1", fmt.Sprintf("zkd.httpPort=%d", httpPort))
	p := startZKD(t, bin, cfg, addr)
	conn := connect(t, addr, "")

	payload := func(i int) []byte {
		return []byte(strings.Repeat(fmt.Sprintf("node-%04d;", i), 400)) // 4000 bytes
	}
	acked := map[string][]byte{}
	var failed []string
	create := func(i int) error {
		name := fmt.Sprintf("/full-%04d", i)
		_, err := conn.Create(name, payload(i), 0, zk.WorldACL(zk.PermAll))
		if err == nil {
			acked[name] = payload(i)
		} else {
			failed = append(failed, name)
		}
		return err
	}
	for i := 0; i < 20; i++ {
		if err := create(i); err != nil {
			t.Fatalf("create before the disk is full: %v", err)
		}
	}

	// Fill the disk, then free a little so a few more writes fit.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	var size int64
	for i := 0; i < 200; i++ {
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size - 48<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()

	i := 20
	var firstErr error
	for ; i < 500; i++ {
		if firstErr = create(i); firstErr != nil {
			break
		}
	}
	if firstErr == nil {
		t.Fatalf("500 writes of 4 KB fit on a full 4 MiB tmpfs")
	}
	t.Logf("first write failure after %d acknowledged creates: %v", len(acked), firstErr)
	// go-zookeeper has no error value for SYSTEMERROR (-1): it reports the
	// bare code.
	const systemError = "unknown error: -1"
	if firstErr.Error() != systemError {
		t.Errorf("failed write returned %v, want SYSTEMERROR (%q)", firstErr, systemError)
	}
	for j := 0; j < 3; j++ {
		i++
		if err := create(i); err == nil || err.Error() != systemError {
			t.Errorf("write on a still full disk: %v, want SYSTEMERROR", err)
		}
	}
	// Larger than a page, so it cannot fit in the partly used last page.
	if _, err := conn.Set("/full-0000", bytes.Repeat([]byte("x"), 8000), -1); err == nil || err.Error() != systemError {
		t.Errorf("setData of 8000 bytes on a full disk: %v, want SYSTEMERROR", err)
		if err == nil {
			acked["/full-0000"] = bytes.Repeat([]byte("x"), 8000)
		}
	}

	// Reads still work and the server stays up.
	for name, want := range acked {
		got, _, err := conn.Get(name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("read %s on a full disk: %v (data equal: %v)", name, err, bytes.Equal(got, want))
		}
	}
	for _, name := range failed {
		if ok, _, err := conn.Exists(name); err != nil || ok {
			t.Errorf("failed create %s: exists=%v err=%v", name, ok, err)
		}
	}
	if out, err := testpeer.FourLetter(addr, "ruok", time.Second); err != nil || out != "imok" {
		t.Errorf("ruok on a full disk: %q %v", out, err)
	}
	if !p.running() {
		t.Fatalf("zkd exited on a full disk: %v\n%s", p.err, tail(p.logs.String(), 30))
	}
	if v := scrapeMetric(t, httpPort, "zkd_server_write_failures_total"); v <= 0 {
		t.Errorf("zkd_server_write_failures_total = %v, want > 0", v)
	}

	// Room again: writes resume by themselves.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 5; j++ {
		i++
		if err := create(i); err != nil {
			t.Errorf("create after space was freed: %v", err)
		}
	}
	if _, err := conn.Set("/full-0000", []byte("after"), -1); err != nil {
		t.Errorf("setData after space was freed: %v", err)
	} else {
		acked["/full-0000"] = []byte("after")
	}
	conn.Close()
	p.stop(t)

	cfg, addr = zkdConfig(t, dataDir, "preAllocSize=16")
	p = startZKD(t, bin, cfg, addr)
	conn = connect(t, addr, "")
	children, _, err := conn.Children("/")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, c := range children {
		have["/"+c] = true
	}
	for name, want := range acked {
		got, _, err := conn.Get(name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("after restart: acknowledged %s: %v (data equal: %v)", name, err, bytes.Equal(got, want))
		}
		delete(have, name)
	}
	delete(have, "/zookeeper")
	for _, name := range failed {
		if have[name] {
			t.Errorf("after restart: failed create %s exists", name)
		}
		delete(have, name)
	}
	if len(have) > 0 {
		t.Errorf("after restart: unexpected nodes %v", have)
	}
	t.Logf("%d acknowledged, %d failed writes", len(acked), len(failed))
}

// scrapeMetric returns the value of an unlabelled metric from /metrics.
func scrapeMetric(t *testing.T, port int, name string) float64 {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// ---------------------------------------------------------------------------
// 3. zkd's data directory read by Apache ZooKeeper

func TestApacheReadsZKDDataDir(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	cfg, addr := zkdConfig(t, dataDir, "snapCount=20", "preAllocSize=16", "extendedTypesEnabled=true")
	p := startZKD(t, bin, cfg, addr)
	conn := connect(t, addr, "alice:pw")

	world := zk.WorldACL(zk.PermAll)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	binData := make([]byte, 256)
	for i := range binData {
		binData[i] = byte(i)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16)
	created := []string{"/interop", "/interop/empty", "/interop/bin", "/interop/big", "/interop/readonly",
		"/interop/secure", "/interop/auth", "/interop/ip", "/interop/mixed", "/interop/container",
		"/interop/container/c1", "/interop/ttl", "/interop/counter", "/interop/acl", "/interop/gone",
		"/interop/m1", "/interop/m2"}
	must(conn.Create("/interop", []byte("root"), 0, world))
	must(conn.Create("/interop/empty", nil, 0, world))
	must(conn.Create("/interop/bin", binData, 0, world))
	must(conn.Create("/interop/big", big, 0, world))
	must(conn.Create("/interop/readonly", []byte("ro"), 0, zk.WorldACL(zk.PermRead)))
	must(conn.Create("/interop/secure", []byte("secret"), 0, zk.DigestACL(zk.PermAll, "alice", "pw")))
	must(conn.Create("/interop/auth", []byte("mine"), 0, zk.AuthACL(zk.PermAll)))
	must(conn.Create("/interop/ip", []byte("ip"), 0, []zk.ACL{{Perms: zk.PermAll, Scheme: "ip", ID: "127.0.0.1"}}))
	must(conn.Create("/interop/mixed", []byte("mixed"), 0,
		append(zk.WorldACL(zk.PermRead), zk.DigestACL(zk.PermAll, "alice", "pw")...)))
	must(conn.CreateContainer("/interop/container", []byte("c"), zk.FlagContainer, world))
	must(conn.Create("/interop/container/c1", nil, 0, world))
	must(conn.CreateTTL("/interop/ttl", []byte("ttl"), zk.FlagTTL, world, time.Hour))
	for i := 0; i < 5; i++ {
		name, err := conn.Create("/interop/seq-", []byte{byte(i)}, zk.FlagSequence, world)
		must(name, err)
		created = append(created, name)
	}
	must(conn.Create("/interop/counter", []byte("0"), 0, world))
	for i := 1; i <= 40; i++ {
		must(conn.Set("/interop/counter", []byte(strconv.Itoa(i)), int32(i-1)))
	}
	must(conn.Create("/interop/acl", []byte("a"), 0, world))
	must(conn.SetACL("/interop/acl", zk.WorldACL(zk.PermRead|zk.PermWrite|zk.PermAdmin), 0))
	must(conn.SetACL("/interop/acl", zk.DigestACL(zk.PermRead|zk.PermAdmin, "alice", "pw"), 1))
	must(conn.Create("/interop/gone", []byte("x"), 0, world))
	if err := conn.Delete("/interop/gone", 0); err != nil {
		t.Fatal(err)
	}
	must(conn.Multi(
		&zk.CreateRequest{Path: "/interop/m1", Data: []byte("m1"), Acl: world},
		&zk.CreateRequest{Path: "/interop/m2", Data: []byte("m2"), Acl: world},
		&zk.SetDataRequest{Path: "/interop/counter", Data: []byte("multi"), Version: 40},
	))
	if _, err := conn.Multi(
		&zk.CreateRequest{Path: "/interop/m3", Data: []byte("m3"), Acl: world},
		&zk.CreateRequest{Path: "/interop/m1", Data: []byte("dup"), Acl: world},
	); err == nil {
		t.Fatal("a multi creating an existing node succeeded")
	}
	if _, err := conn.Create("/interop", nil, 0, world); !errors.Is(err, zk.ErrNodeExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	// A session with ephemerals that closes: its closeSession txn deletes them.
	other := connect(t, addr, "")
	must(other.Create("/interop/eph", []byte("e"), zk.FlagEphemeral, world))
	must(other.Create("/interop/eph-seq-", nil, zk.FlagEphemeralSequential, world))
	other.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, _, err := conn.Exists("/interop/eph")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ephemeral still there 10s after its session closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// More txns, so the log rolls again after the last snapshot.
	for i := 41; i <= 60; i++ {
		must(conn.Set("/interop/counter", []byte(strconv.Itoa(i)), -1))
	}

	served := readTree(t, conn, "/", 1000)
	for _, name := range created {
		if _, ok := served[name]; !ok && name != "/interop/gone" {
			t.Fatalf("zkd does not serve %s", name)
		}
	}
	if got := string(served["/interop/secure"].Data); got != "secret" {
		t.Fatalf("/interop/secure read with alice's credentials: %q", got)
	}
	conn.Close()
	p.stop(t)

	logs := logFiles(t, dataDir)
	snaps := filesByZxid(t, filepath.Join(dataDir, "version-2", "snapshot.*"))
	if len(logs) < 2 || len(snaps) < 2 {
		t.Fatalf("want at least two logs and two snapshots, got %v and %v", logs, snaps)
	}

	t.Run("TxnLogToolkit", func(t *testing.T) {
		var all strings.Builder
		var zxids []int64
		zxidRE := regexp.MustCompile(` zxid 0x([0-9a-f]+) `)
		for _, f := range logs {
			out, err := testpeer.RunApacheTool(t, testpeer.TxnLogToolkit, f)
			if err != nil {
				t.Errorf("TxnLogToolkit %s: %v", f, err)
				continue
			}
			if !strings.HasPrefix(out, "ZooKeeper Transactional Log File with dbid 0 txnlog format version 2") {
				t.Errorf("TxnLogToolkit %s: unexpected header: %q", f, tail(out, 3))
			}
			for _, bad := range []string{"Exception", "CRC", "partial", "rror reading"} {
				if strings.Contains(out, bad) {
					t.Errorf("TxnLogToolkit %s complains (%q):\n%s", f, bad, tail(out, 10))
				}
			}
			for _, m := range zxidRE.FindAllStringSubmatch(out, -1) {
				z, _ := strconv.ParseInt(m[1], 16, 64)
				zxids = append(zxids, z)
			}
			all.WriteString(out)
		}
		// Every txn once, in order, without gaps.
		for i := 1; i < len(zxids); i++ {
			if zxids[i] != zxids[i-1]+1 {
				t.Errorf("zxids listed by TxnLogToolkit jump from 0x%x to 0x%x", zxids[i-1], zxids[i])
			}
		}
		// The last txn is the closeSession of the client that read the tree.
		if n := len(zxids); n == 0 || zxids[0] != 1 || zxids[n-1] != served["/interop/counter"].Stat.Mzxid+1 {
			t.Errorf("TxnLogToolkit lists %d txns; the last write had zxid 0x%x, then the session closed", n, served["/interop/counter"].Stat.Mzxid)
		}
		last := ""
		for _, l := range strings.Split(all.String(), "\n") {
			if zxidRE.MatchString(l) {
				last = l
			}
		}
		if !strings.Contains(last, " closeSession ") {
			t.Errorf("the last txn listed is not a closeSession: %q", last)
		}
		for _, name := range append(created, "/interop/eph", "/interop/m3") {
			if !strings.Contains(all.String(), name) {
				t.Errorf("TxnLogToolkit output does not mention %s", name)
			}
		}
		for _, kind := range []string{" createSession ", " closeSession ", " create ", " setData ", " setACL ", " delete ",
			" multi ", " error ", " createContainer ", " createTtl "} {
			if !strings.Contains(all.String(), kind) {
				t.Errorf("TxnLogToolkit output has no %s txn", strings.TrimSpace(kind))
			}
		}
	})

	t.Run("SnapshotFormatter", func(t *testing.T) {
		for _, f := range snaps {
			if strings.HasSuffix(f, ".tmp") {
				t.Errorf("leftover temporary snapshot %s", f)
				continue
			}
			out, err := testpeer.RunApacheTool(t, testpeer.SnapshotFormatter, "-d", f)
			if err != nil {
				t.Errorf("SnapshotFormatter %s: %v", f, err)
				continue
			}
			if strings.Contains(out, "Exception") {
				t.Errorf("SnapshotFormatter %s complains:\n%s", f, tail(out, 10))
			}
			apache, err := parseSnapshotFormatter(out)
			if err != nil {
				t.Errorf("SnapshotFormatter %s: %v", f, err)
				continue
			}
			snap, err := snapshot.ReadFile(f, datatree.Options{})
			if err != nil {
				t.Fatalf("zkd cannot read its own snapshot %s: %v", f, err)
			}
			ours := map[string]formattedNode{}
			err = snap.Tree.Walk(func(p string, n datatree.NodeView) error {
				if p == "" {
					p = "/"
				}
				s := n.Stat
				ours[p] = formattedNode{s.Czxid, s.Mzxid, s.Pzxid, s.Cversion, s.Version, s.Aversion, s.EphemeralOwner,
					base64.StdEncoding.EncodeToString(n.Data)}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(apache, ours) {
				for p, a := range apache {
					if ours[p] != a {
						t.Errorf("%s: %s: Apache reads %+v, zkd wrote %+v", filepath.Base(f), p, a, ours[p])
					}
				}
				for p := range ours {
					if _, ok := apache[p]; !ok {
						t.Errorf("%s: %s missing from SnapshotFormatter's listing", filepath.Base(f), p)
					}
				}
			}
		}
	})

	t.Run("ApacheServes", func(t *testing.T) {
		copyDir := t.TempDir()
		if err := os.CopyFS(copyDir, os.DirFS(dataDir)); err != nil {
			t.Fatal(err)
		}
		z := testpeer.StartApacheZK(t, testpeer.ApacheOptions{DataDir: copyDir, DisableAdminServer: true})
		aconn := connect(t, z.Addr, "alice:pw")
		got := readTree(t, aconn, "/", 1000)
		compareTrees(t, "Apache ZooKeeper on zkd's dataDir", served, got)
		// Replaying zkd's log, Apache compares its tree with the digest
		// zkd logged with each txn (DataTree.compareDigest).
		if log, err := os.ReadFile(z.LogFile); err != nil {
			t.Error(err)
		} else if strings.Contains(string(log), "Digests are not matching") {
			t.Errorf("Apache found its tree differing from a txn digest zkd logged")
		}
		if t.Failed() {
			t.Logf("Apache log tail:\n%s", z.LogTail(30))
		}
	})
}

// formattedNode is what SnapshotFormatter -d prints of a node.
type formattedNode struct {
	Czxid, Mzxid, Pzxid         int64
	Cversion, Version, Aversion int32
	EphemeralOwner              int64
	DataB64                     string
}

// parseSnapshotFormatter reads SnapshotFormatter -d output into nodes.
func parseSnapshotFormatter(out string) (map[string]formattedNode, error) {
	nodes := map[string]formattedNode{}
	m := regexp.MustCompile(`ZNode Details \(count=(\d+)\):`).FindStringSubmatch(out)
	if m == nil {
		return nil, errors.New("no 'ZNode Details' line")
	}
	count, _ := strconv.Atoi(m[1])
	blocks := strings.Split(out, "----\n")
	for _, b := range blocks[1:] {
		lines := strings.Split(strings.TrimRight(b, "\n"), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "/") {
			continue
		}
		var n formattedNode
		fields := map[string]string{}
		for _, l := range lines[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(l), " = ")
			if !ok {
				k, v, _ = strings.Cut(strings.TrimSpace(l), " =")
			}
			fields[k] = strings.TrimSpace(v)
		}
		hexInt := func(k string) int64 {
			v, _ := strconv.ParseUint(strings.TrimPrefix(fields[k], "0x"), 16, 64)
			return int64(v)
		}
		decInt := func(k string) int32 {
			v, _ := strconv.Atoi(fields[k])
			return int32(v)
		}
		n.Czxid, n.Mzxid, n.Pzxid = hexInt("cZxid"), hexInt("mZxid"), hexInt("pZxid")
		n.Cversion, n.Version, n.Aversion = decInt("cversion"), decInt("dataVersion"), decInt("aclVersion")
		n.EphemeralOwner = hexInt("ephemeralOwner")
		n.DataB64 = fields["data"]
		nodes[lines[0]] = n
	}
	// Apache's count includes the root twice: DataTree maps both "" and
	// "/" to it (real 3.8 snapshots print count=N+1 too).
	if len(nodes)+1 != count {
		return nodes, fmt.Errorf("parsed %d nodes, the header says %d (one more than the nodes listed is expected)", len(nodes), count)
	}
	if !strings.Contains(out, "Session Details") {
		return nodes, errors.New("no 'Session Details' section")
	}
	return nodes, nil
}

// ---------------------------------------------------------------------------
// 4. zkd serves Apache ZooKeeper's data directory

var fixtureDir = testpeer.SharedPath("fixtures", "zk38-ensemble")

func TestZKDServesApacheDataDir(t *testing.T) {
	root := testpeer.ExtractEnsemble(t)
	expected := readExpectedTree(t, filepath.Join(fixtureDir, "expected-tree.jsonl"))

	bin := buildBinary(t)
	cfg, addr := zkdConfig(t, filepath.Join(root, "n1", "data"), "extendedTypesEnabled=true")
	p := startZKD(t, bin, cfg, addr)
	conn := connect(t, addr, "alice:pw")
	got := readTree(t, conn, "/", 1000)
	// The harness recorded the tree without /zookeeper; the root's
	// counters include it, as they do here.
	compareTrees(t, "zkd on Apache's dataDir", expected, got)
	if len(p.logLines("data restored from disk")) != 1 {
		t.Errorf("no recovery log line; logs:\n%s", tail(p.logs.String(), 20))
	}
	conn.Close()
	p.stop(t)
}

func readExpectedTree(t *testing.T, file string) map[string]znode {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]znode{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var line struct {
			Path    string   `json:"path"`
			DataB64 string   `json:"data_b64"`
			Stat    zk.Stat  `json:"stat"`
			ACL     []zk.ACL `json:"acl"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		data, err := base64.StdEncoding.DecodeString(line.DataB64)
		if err != nil {
			t.Fatalf("%s: %s: %v", file, line.Path, err)
		}
		if len(data) == 0 {
			data = []byte{}
		}
		out[line.Path] = znode{Data: data, Stat: line.Stat, ACL: line.ACL}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s is empty", file)
	}
	return out
}

// ---------------------------------------------------------------------------
// preAllocSize=0

// TestPreAllocSizeZero: ZooKeeper pads only when preAllocSize > 0
// (FilePadding), and zkd's config documents "<= 0 turns preallocation off",
// so a log written with preAllocSize=0 holds just its records.
func TestPreAllocSizeZero(t *testing.T) {
	bin := buildBinary(t)
	dataDir := t.TempDir()
	cfg, addr := zkdConfig(t, dataDir, "preAllocSize=0")
	p := startZKD(t, bin, cfg, addr)
	conn := connect(t, addr, "")
	if _, err := conn.Create("/small", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	p.stop(t)
	for _, f := range logFiles(t, dataDir) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 4096 {
			t.Errorf("%s is %d bytes after three small txns with preAllocSize=0: it was preallocated", f, st.Size())
		}
	}
}
