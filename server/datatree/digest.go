package datatree

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"unsafe"

	"github.com/zkd-io/zkd/server/proto"
)

// DigestVersion is the version of the digest algorithm (DigestCalculator's
// DIGEST_VERSION), written in TxnDigest and snapshot digest records.
const DigestVersion = 2

// digestExcluded reports whether a path is left out of the tree digest:
// ZooKeeper skips everything below /zookeeper/ because quota nodes change
// locally, but keeps /zookeeper itself.
func digestExcluded(path string) bool { return strings.HasPrefix(path, procSubtree) }

// Digester computes node digests without allocating. The CRC-32 routines
// take their input through a function value, so whatever is passed to them
// escapes: a stack buffer for the stat fields would be allocated on every
// call, and a path converted to bytes copied. A Digester keeps the buffer
// in itself and hands the path over in place. The zero value is ready;
// it is not safe for concurrent use (the tree's lives under its write
// lock, prep's under its own).
type Digester struct {
	buf [60]byte
}

// NodeDigest returns one node's contribution to the tree digest
// (DigestCalculator.calculateDigest): the CRC-32 of the path's bytes, the
// data, and czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion,
// ephemeralOwner in that order, big-endian. "/" hashes as "", and paths
// below /zookeeper/ contribute 0. Exported so that prep can precompute the
// digest a txn will produce.
func (d *Digester) NodeDigest(path string, data []byte, stat *proto.StatPersisted) int64 {
	if digestExcluded(path) {
		return 0
	}
	return int64(d.crc(path, data, stat))
}

func (d *Digester) crc(path string, data []byte, stat *proto.StatPersisted) uint32 {
	if path == rootPath {
		path = ""
	}
	b := &d.buf
	binary.BigEndian.PutUint64(b[0:], uint64(stat.Czxid))
	binary.BigEndian.PutUint64(b[8:], uint64(stat.Mzxid))
	binary.BigEndian.PutUint64(b[16:], uint64(stat.Pzxid))
	binary.BigEndian.PutUint64(b[24:], uint64(stat.Ctime))
	binary.BigEndian.PutUint64(b[32:], uint64(stat.Mtime))
	binary.BigEndian.PutUint32(b[40:], uint32(stat.Version))
	binary.BigEndian.PutUint32(b[44:], uint32(stat.Cversion))
	binary.BigEndian.PutUint32(b[48:], uint32(stat.Aversion))
	binary.BigEndian.PutUint64(b[52:], uint64(stat.EphemeralOwner))
	// The CRC only reads the path's bytes, so they need no copy.
	crc := crc32.Update(0, crc32.IEEETable, unsafe.Slice(unsafe.StringData(path), len(path)))
	crc = crc32.Update(crc, crc32.IEEETable, data)
	return crc32.Update(crc, crc32.IEEETable, b[:])
}

// addDigest computes n's digest, caches it in n and adds it to the tree
// digest (NodeHashMapImpl.addDigest / postChange).
func (t *Tree) addDigest(path string, n *node) {
	if digestExcluded(path) {
		n.digest = 0
		return
	}
	n.digest = t.digester.crc(path, n.data, &n.stat)
	t.digest += uint64(n.digest)
}

// removeDigest takes n's cached digest out of the tree digest
// (NodeHashMapImpl.removeDigest / preChange).
func (t *Tree) removeDigest(path string, n *node) {
	if digestExcluded(path) {
		return
	}
	t.digest -= uint64(n.digest)
}

// CheckDigest compares the tree digest with a TxnDigest read from a log
// after applying its txn (DataTree.compareDigest). A nil digest or one of
// another digest version cannot be compared and counts as a match. A
// mismatch is counted in zkd_tree_digest_mismatches_total; like ZooKeeper,
// the caller should only log it.
func (t *Tree) CheckDigest(d *proto.TxnDigest) bool {
	if d == nil || d.Version != DigestVersion {
		return true
	}
	if d.TreeDigest == t.Digest() {
		return true
	}
	t.metrics.digestMismatch()
	return false
}
