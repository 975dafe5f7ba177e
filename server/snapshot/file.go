package snapshot

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zkd-io/zkd/server/datatree"
)

// filePrefix is FileSnap.SNAPSHOT_FILE_PREFIX.
const filePrefix = "snapshot"

// FileName returns the name ZooKeeper gives the snapshot of zxid written
// with method: snapshot.<lowercase hex zxid>[.gz|.snappy].
func FileName(zxid int64, method string) string {
	name := filePrefix + "." + strconv.FormatUint(uint64(zxid), 16)
	if method != MethodNone {
		name += "." + method
	}
	return name
}

// ZxidFromName returns the zxid in a snapshot file name, or -1 when the
// name is not one (Util.getZxidFromName): the part after the first dot,
// parsed as hex, when the part before it is "snapshot".
func ZxidFromName(name string) int64 {
	parts := strings.Split(name, ".")
	if len(parts) < 2 || parts[0] != filePrefix {
		return -1
	}
	z, err := strconv.ParseInt(parts[1], 16, 64)
	if err != nil {
		return -1
	}
	return z
}

// Encode serialises tree and sessions into an uncompressed snapshot stream
// (both seals and the digest record of the tree's last zxid). The caller
// holds tree.RLock(); encoding to memory keeps that lock short, so the
// slow part (compression, disk, fsync) runs without blocking writers.
func Encode(tree *datatree.Tree, sessions []Session) ([]byte, error) {
	var digest *ZxidDigest
	if z := tree.LastProcessedZxid(); z > 0 {
		digest = &ZxidDigest{Zxid: z, Version: DigestVersion, Digest: tree.Digest()}
	}
	// Sized up front: growing a buffer of tens of megabytes by doubling
	// clears and copies each step while the caller holds the tree lock.
	buf := bytes.NewBuffer(make([]byte, 0, encodedSizeHint(tree, len(sessions))))
	if err := Write(buf, tree, sessions, digest); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return buf.Bytes(), nil
}

// encodedSizeHint estimates a snapshot stream's size: per node its path
// and data (ApproximateDataSize) plus the record around them (two lengths,
// the ACL id and StatPersisted: 84 bytes, rounded up), per session 12
// bytes, and room for the header, ACL map and seals.
func encodedSizeHint(tree *datatree.Tree, sessions int) int {
	return int(tree.ApproximateDataSize()) + 96*tree.NodeCount() + 12*sessions + 64<<10
}

// WriteFile writes a snapshot of tree as snapshot.<hex zxid>[.gz|.snappy]
// in dir. The caller holds tree.RLock().
func WriteFile(dir string, zxid int64, tree *datatree.Tree, sessions []Session, method string, m *Metrics) (string, error) {
	stream, err := Encode(tree, sessions)
	if err != nil {
		m.writeError()
		return "", err
	}
	return WriteEncoded(dir, zxid, stream, method, m)
}

// WriteEncoded writes an encoded snapshot stream (from Encode) as
// snapshot.<hex zxid>[.gz|.snappy]: compressed with method, written under a
// temporary name that neither zkd nor ZooKeeper takes for a snapshot,
// fsynced, renamed, and the directory fsynced, so a crash never leaves a
// partial snapshot under a real name.
func WriteEncoded(dir string, zxid int64, stream []byte, method string, m *Metrics) (path string, err error) {
	start := time.Now()
	defer func() {
		if err != nil {
			m.writeError()
		}
	}()
	if zxid < 0 {
		return "", fmt.Errorf("snapshot: invalid zxid %d", zxid)
	}
	if _, err := newCompressor(io.Discard, method); err != nil {
		return "", err
	}
	name := FileName(zxid, method)
	path = filepath.Join(dir, name)

	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()

	bw := bufio.NewWriterSize(f, 64<<10)
	cw, _ := newCompressor(bw, method)
	if _, err := cw.Write(stream); err != nil {
		return "", fmt.Errorf("snapshot: %s: %w", tmp, err)
	}
	if err := cw.Close(); err != nil {
		return "", fmt.Errorf("snapshot: %s: %w", tmp, err)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("snapshot: %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("snapshot: fsync %s: %w", tmp, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("snapshot: %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	if err := syncDir(dir); err != nil {
		// The snapshot is complete under its name; only its durability
		// across a power loss is in doubt. Report it but keep the file.
		return path, err
	}
	m.written(time.Since(start), fi.Size())
	return path, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot: fsync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: fsync dir %s: %w", dir, err)
	}
	return nil
}

// ReadFile reads a snapshot file, decompressing it according to its name,
// and sets the tree's last processed zxid to the zxid in the name
// (FileSnap.deserialize). A name without a zxid leaves it 0 and Zxid -1.
func ReadFile(path string, opts datatree.Options) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	r, err := newDecompressor(bufio.NewReaderSize(f, 64<<10), methodOf(filepath.Base(path)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, err := Read(r, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.Zxid = ZxidFromName(filepath.Base(path))
	if s.Zxid >= 0 {
		s.Tree.SetLastProcessedZxid(s.Zxid)
	}
	return s, nil
}

// File is a snapshot file found by List.
type File struct {
	Path   string
	Zxid   int64
	Method string // compression, from the name
	// Valid reports whether the file passes ZooKeeper's cheap pre-check
	// (SnapStream.isValidSnapshot): the gzip or snappy-java magic for
	// compressed files, and for plain ones a length of at least 10 bytes
	// ending in the seal's "/" (00 00 00 01 2f). ZooKeeper only tries to
	// load files that pass; passing says nothing about the checksums.
	Valid bool
}

// List returns the snapshot files in dir, newest (highest zxid) first,
// names that do not parse being ignored as ZooKeeper does. The pre-check
// reads a few bytes of each file.
func List(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: list: %w", err)
	}
	var out []File
	for _, e := range entries {
		z := ZxidFromName(e.Name())
		if z < 0 || e.IsDir() {
			continue
		}
		f := File{Path: filepath.Join(dir, e.Name()), Zxid: z, Method: methodOf(e.Name())}
		f.Valid, err = precheck(f.Path, f.Method)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b File) int {
		return cmp.Or(cmp.Compare(b.Zxid, a.Zxid), strings.Compare(b.Path, a.Path))
	})
	return out, nil
}

// precheck is SnapStream.isValidSnapshot for one file. A file that
// vanished meanwhile is invalid, not an error.
func precheck(path, method string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	switch method {
	case MethodGzip:
		var b [2]byte
		if _, err := io.ReadFull(f, b[:]); err != nil {
			return false, nil
		}
		return b == [2]byte{0x1f, 0x8b}, nil
	case MethodSnappy:
		var b [8]byte
		if _, err := io.ReadFull(f, b[:]); err != nil {
			return false, nil
		}
		return b == snappyMagic, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("snapshot: %w", err)
	}
	if fi.Size() < 10 {
		return false, nil
	}
	var b [5]byte
	if _, err := f.ReadAt(b[:], fi.Size()-5); err != nil {
		return false, nil
	}
	return bytes.Equal(b[:], []byte{0, 0, 0, 1, '/'}), nil
}
