// Package snapshot reads and writes zkd's snapshots in Apache ZooKeeper
// 3.8's on-disk format (FileSnap, SnapStream, SerializeUtils and
// DataTree.serialize), so that a dataDir can move between zkd and ZooKeeper
// in either direction.
//
// The uncompressed stream is:
//
//	FileHeader        int magic "ZKSN" | int version 2 | long dbid -1
//	sessions          int count, count × {long id, int timeoutMs}
//	ACL cache         int count, count × {long id, vector<ACL>}
//	nodes             {ustring path, buffer data, long aclID, StatPersisted}…, the root as ""
//	terminator        ustring "/"
//	seal #1           long Adler32(everything so far) | ustring "/"
//	digest            long zxid | int version | long digest  (3.6+, digest enabled)
//	seal #2           long Adler32(everything so far, seal #1 included) | ustring "/"
//
// Files may be compressed as a whole ("gz", or "snappy" in snappy-java's
// stream format); the checksums are over the uncompressed stream.
package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/adler32"
	"io"
	"slices"
	"strconv"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// Format constants (FileSnap, DigestCalculator).
const (
	// Magic is "ZKSN", FileSnap.SNAP_MAGIC.
	Magic int32 = 0x5A4B534E
	// Version is the only snapshot format version ZooKeeper writes.
	Version int32 = 2
	// Dbid is the database id every snapshot carries.
	Dbid int64 = -1
	// DigestVersion is DigestCalculator.DIGEST_VERSION: digests of this
	// version or later are stored as a long, earlier ones as a hex string.
	DigestVersion int32 = 2
	// MaxLength bounds every string and buffer length read, as jute does:
	// jute.maxbuffer plus zookeeper.jute.maxbuffer.extrasize, both
	// 0xfffff by default. A corrupt length fails here instead of allocating.
	MaxLength = 2 * jute.DefaultMaxBuffer
)

// sealPath is the string that ends the node list and follows each seal.
const sealPath = "/"

// Session is one entry of the snapshot's session table.
type Session struct {
	ID        int64
	TimeoutMs int32
}

// ZxidDigest is the tree digest recorded at a zxid (DataTree.ZxidDigest):
// the digest the tree must have once that zxid has been replayed. Zxid 0
// means none was recorded; ZooKeeper ignores such a record.
type ZxidDigest struct {
	Zxid    int64
	Version int32
	Digest  int64
}

// Snapshot is a loaded snapshot.
type Snapshot struct {
	Tree     *datatree.Tree
	Sessions []Session
	// Zxid is the zxid in the file name, which is also the tree's last
	// processed zxid; -1 when the snapshot was read from a stream (Read),
	// which does not carry it.
	Zxid int64
	// Digest is the digest record, nil for snapshots written without one
	// (before 3.6, or with zookeeper.digest.enabled=false).
	Digest *ZxidDigest
}

// FuzzyDigest returns the digest record of a fuzzy snapshot, one taken
// while txns went on being applied (ZooKeeper's, and EncodeFuzzy's): the
// file is named after the zxid applied when the walk started, but nodes
// may already hold later txns, up to the record's zxid. Until replay of
// the log reaches that zxid the tree is a mix of states that no logged
// digest describes (ZooKeeper's DataTree.digestFromLoadedSnapshot). nil
// when the snapshot is exact or has no record; a record older than the
// file's zxid (a new leader's snapshot at epoch<<32) says nothing about it.
func (s *Snapshot) FuzzyDigest() *ZxidDigest {
	if s.Digest == nil || s.Digest.Zxid <= s.Zxid {
		return nil
	}
	return s.Digest
}

// Visitor receives what Scan decodes, in stream order: sessions, then ACL
// cache entries, then nodes (a parent before its children, the root with
// the path ""), then the digest record if there is one. An error returned
// by a method stops the scan and is returned, wrapped, by Scan.
type Visitor interface {
	Session(s Session) error
	ACL(id int64, acl []proto.ACL) error
	Node(path string, data []byte, aclID int64, stat proto.StatPersisted) error
	Digest(d ZxidDigest) error
}

// CorruptError reports a snapshot stream that cannot be decoded or whose
// checksum does not match. Offset is in the uncompressed stream.
type CorruptError struct {
	Offset int64
	What   string // what was being read, e.g. "seal #1", "node data"
	Err    error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("snapshot: corrupt at offset %d (%s): %v", e.Offset, e.What, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrChecksum is wrapped by a CorruptError for a seal that does not match.
var ErrChecksum = errors.New("checksum mismatch")

// Write writes the uncompressed snapshot stream of tree and sessions with
// both seals, and digest as the digest record; a nil digest writes the
// empty record (zxid 0) that ZooKeeper writes when it has none. The caller
// holds at least the tree's read lock. ACL entries are written in id order
// and children in byte order, so equal trees give equal bytes.
func Write(w io.Writer, tree *datatree.Tree, sessions []Session, digest *ZxidDigest) error {
	sw := &writer{w: bufio.NewWriterSize(w, 64<<10), sum: adler32.New()}
	e := jute.NewEncoder(make([]byte, 0, 256))
	emit := func() error {
		err := sw.write(e.Bytes())
		e.Reset()
		return err
	}

	hdr := proto.FileHeader{Magic: Magic, Version: Version, Dbid: Dbid}
	hdr.Encode(e)
	if err := emit(); err != nil {
		return err
	}
	if err := writeBody(tree, sessions, e, emit); err != nil {
		return err
	}
	if err := sw.seal(); err != nil {
		return err
	}

	encodeDigest(e, digest)
	if err := emit(); err != nil {
		return err
	}
	if err := sw.seal(); err != nil {
		return err
	}
	if err := sw.w.Flush(); err != nil {
		return fmt.Errorf("snapshot: write: %w", err)
	}
	return nil
}

// encodeDigest encodes the digest record; nil is the empty record (zxid
// 0) that ZooKeeper writes when it has none.
func encodeDigest(e *jute.Encoder, digest *ZxidDigest) {
	d := ZxidDigest{Version: DigestVersion}
	if digest != nil {
		d = *digest
	}
	e.Long(d.Zxid)
	e.Int(d.Version)
	if d.Version < DigestVersion {
		e.String(strconv.FormatInt(d.Digest, 16))
	} else {
		e.Long(d.Digest)
	}
}

// writeBody encodes what ZooKeeper's SerializeUtils.serializeSnapshot
// writes: the sessions, the ACL cache and every node, ending with the "/"
// path; emit writes out what e holds.
func writeBody(tree *datatree.Tree, sessions []Session, e *jute.Encoder, emit func() error) error {
	if err := writeSessionsAndACLs(sessions, tree.ACLs(), e, emit); err != nil {
		return err
	}
	err := tree.Walk(func(path string, n datatree.NodeView) error {
		encodeNode(e, path, n)
		return emit()
	})
	if err != nil {
		return err
	}
	e.String(sealPath)
	return emit()
}

// writeSessionsAndACLs encodes the sessions and the ACL cache, the ACL
// entries in id order.
func writeSessionsAndACLs(sessions []Session, acls map[int64][]proto.ACL, e *jute.Encoder, emit func() error) error {
	e.Int(int32(len(sessions)))
	if err := emit(); err != nil {
		return err
	}
	for _, s := range sessions {
		e.Long(s.ID)
		e.Int(s.TimeoutMs)
		if err := emit(); err != nil {
			return err
		}
	}
	ids := make([]int64, 0, len(acls))
	for id := range acls {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	e.Int(int32(len(ids)))
	for _, id := range ids {
		e.Long(id)
		proto.EncodeACLs(e, acls[id])
		if err := emit(); err != nil {
			return err
		}
	}
	return nil
}

// encodeNode encodes one node record.
func encodeNode(e *jute.Encoder, path string, n datatree.NodeView) {
	if path == "/" {
		path = "" // DataTree stores the root as ""
	}
	e.String(path)
	e.Buffer(n.Data)
	e.Long(n.ACLID)
	n.Stat.Encode(e)
}

// SyncSignature ends a SNAP sync stream.
const SyncSignature = "BenWasHere"

// ReadSyncStream reads a SNAP sync stream (see EncodeFuzzySyncStream) from r,
// which must be the connection's reader: it consumes exactly the stream,
// so the packets after it can be read from r.
func ReadSyncStream(r *bufio.Reader, opts datatree.Options) (*Snapshot, error) {
	l := &loader{l: datatree.NewLoader(opts)}
	sr := &reader{r: r, sum: adler32.New()}
	scanBody(sr, l)
	sig, _ := sr.string("signature")
	if sr.err != nil {
		return nil, sr.err
	}
	if sig != SyncSignature {
		return nil, &CorruptError{Offset: sr.off, What: "signature", Err: fmt.Errorf("%q, want %q", sig, SyncSignature)}
	}
	tree, err := l.l.Finish()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &Snapshot{Tree: tree, Sessions: l.sessions, Zxid: -1}, nil
}

// writer writes bytes and keeps their Adler32 (CheckedOutputStream).
type writer struct {
	w   *bufio.Writer
	sum hash.Hash32
}

func (w *writer) write(b []byte) error {
	w.sum.Write(b)
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("snapshot: write: %w", err)
	}
	return nil
}

// seal writes the checksum of everything so far and "/" (sealStream).
func (w *writer) seal() error {
	return w.write(sealRecord(w.sum))
}

// sealRecord is a seal: the checksum sum holds so far, and "/".
func sealRecord(sum hash.Hash32) []byte {
	e := jute.NewEncoder(make([]byte, 0, 13))
	e.Long(int64(sum.Sum32()))
	e.String(sealPath)
	return e.Bytes()
}

// Read decodes an uncompressed snapshot stream into a tree built with opts,
// verifying the seals as FileSnap.deserialize does: seal #1 always, seal #2
// when the digest record is present. A stream that ends where the digest
// record would start, or inside it, is an older snapshot without one.
// Bytes after seal #2 (ZooKeeper 3.9 appends the last zxid and a third
// seal) are ignored. Errors are *CorruptError naming the offset.
func Read(r io.Reader, opts datatree.Options) (*Snapshot, error) {
	l := &loader{l: datatree.NewLoader(opts)}
	digest, err := scan(r, l)
	if err != nil {
		return nil, err
	}
	tree, err := l.l.Finish()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &Snapshot{Tree: tree, Sessions: l.sessions, Zxid: -1, Digest: digest}, nil
}

// loader feeds a datatree.Loader.
type loader struct {
	l        *datatree.Loader
	sessions []Session
}

func (l *loader) Session(s Session) error {
	l.sessions = append(l.sessions, s)
	return nil
}

func (l *loader) ACL(id int64, acl []proto.ACL) error { return l.l.ACL(id, acl) }

func (l *loader) Node(path string, data []byte, aclID int64, stat proto.StatPersisted) error {
	return l.l.Node(path, data, aclID, stat)
}

func (l *loader) Digest(ZxidDigest) error { return nil }

// Scan decodes an uncompressed snapshot stream for tools, passing each
// record to v without building a tree; it checks the header and the seals
// as Read does.
func Scan(r io.Reader, v Visitor) error {
	_, err := scan(r, v)
	return err
}

func scan(r io.Reader, v Visitor) (*ZxidDigest, error) {
	sr := &reader{r: bufio.NewReaderSize(r, 64<<10), sum: adler32.New()}

	magic, version := sr.int("file header"), sr.int("file header")
	sr.long("file header")
	if sr.err != nil {
		return nil, sr.err
	}
	if magic != Magic {
		return nil, &CorruptError{Offset: 0, What: "file header", Err: fmt.Errorf("magic %#x, want %#x (ZKSN)", uint32(magic), uint32(Magic))}
	}
	// FileSnap does not check the version either; only 2 was ever written.
	_ = version

	scanBody(sr, v)
	if sr.err != nil {
		return nil, sr.err
	}
	if err := sr.checkSeal("seal #1"); err != nil {
		return nil, err
	}

	// The digest record is optional: EOF anywhere in it means an older
	// snapshot (DataTree.deserializeZxidDigest catches EOFException).
	at := sr.off
	d := ZxidDigest{Zxid: sr.long("digest"), Version: sr.int("digest")}
	if d.Version < DigestVersion && sr.err == nil {
		s, null := sr.string("digest")
		if !null && sr.err == nil {
			n, err := strconv.ParseUint(s, 16, 64)
			if err != nil {
				sr.fail(at, "digest", fmt.Errorf("digest %q is not hex", s))
			}
			d.Digest = int64(n)
		}
	} else {
		d.Digest = sr.long("digest")
	}
	if sr.err != nil {
		if sr.eof {
			return nil, nil
		}
		return nil, sr.err
	}
	if err := sr.checkSeal("seal #2"); err != nil {
		return nil, err
	}
	if err := v.Digest(d); err != nil {
		return nil, &CorruptError{Offset: at, What: "digest", Err: err}
	}
	return &d, nil
}

// scanBody reads sessions, ACL cache and nodes up to the "/" path,
// handing each to v; errors end up in sr.err.
func scanBody(sr *reader, v Visitor) {
	count := sr.int("session count")
	if sr.err == nil && count < 0 {
		sr.fail(sr.off-4, "session count", fmt.Errorf("negative count %d", count))
	}
	for i := int32(0); i < count && sr.err == nil; i++ {
		at := sr.off
		s := Session{ID: sr.long("session"), TimeoutMs: sr.int("session")}
		if sr.err == nil {
			sr.visit(at, "session", v.Session(s))
		}
	}

	count = sr.int("ACL count")
	if sr.err == nil && count < 0 {
		sr.fail(sr.off-4, "ACL count", fmt.Errorf("negative count %d", count))
	}
	for i := int32(0); i < count && sr.err == nil; i++ {
		at := sr.off
		id := sr.long("ACL id")
		acl := sr.acls()
		if sr.err == nil {
			sr.visit(at, "ACL entry", v.ACL(id, acl))
		}
	}

	for sr.err == nil {
		at := sr.off
		path, null := sr.string("node path")
		if sr.err != nil {
			break
		}
		if null {
			sr.fail(at, "node path", errors.New("null path"))
			break
		}
		if path == sealPath {
			break
		}
		data := sr.buffer("node data")
		aclID := sr.long("node ACL id")
		var st proto.StatPersisted
		st.Czxid = sr.long("node stat")
		st.Mzxid = sr.long("node stat")
		st.Ctime = sr.long("node stat")
		st.Mtime = sr.long("node stat")
		st.Version = sr.int("node stat")
		st.Cversion = sr.int("node stat")
		st.Aversion = sr.int("node stat")
		st.EphemeralOwner = sr.long("node stat")
		st.Pzxid = sr.long("node stat")
		if sr.err == nil {
			sr.visit(at, "node "+strconv.Quote(path), v.Node(path, data, aclID, st))
		}
	}
}

// reader decodes jute fields from the stream and keeps the Adler32 of the
// bytes consumed (CheckedInputStream). After the first error every read
// returns zero values; err holds a *CorruptError.
type reader struct {
	r   *bufio.Reader
	sum hash.Hash32
	off int64
	err error
	eof bool // err is an end of input (clean or inside a field)
	buf [8]byte
}

func (r *reader) fail(at int64, what string, err error) {
	if r.err == nil {
		r.err = &CorruptError{Offset: at, What: what, Err: err}
	}
}

// visit records a visitor's error for the record that started at at.
func (r *reader) visit(at int64, what string, err error) {
	if err != nil {
		r.fail(at, what, err)
	}
}

// read fills b from the stream.
func (r *reader) read(b []byte, what string) bool {
	if r.err != nil {
		return false
	}
	n, err := io.ReadFull(r.r, b)
	r.sum.Write(b[:n])
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			r.eof = true
			err = fmt.Errorf("%w: needs %d bytes, %d left", io.ErrUnexpectedEOF, len(b), n)
		}
		r.fail(r.off, what, err)
		r.off += int64(n)
		return false
	}
	r.off += int64(n)
	return true
}

func (r *reader) int(what string) int32 {
	if !r.read(r.buf[:4], what) {
		return 0
	}
	return int32(binary.BigEndian.Uint32(r.buf[:4]))
}

func (r *reader) long(what string) int64 {
	if !r.read(r.buf[:8], what) {
		return 0
	}
	return int64(binary.BigEndian.Uint64(r.buf[:8]))
}

// bytes reads a length-prefixed field; null is (nil, true).
func (r *reader) bytes(what string) ([]byte, bool) {
	at := r.off
	n := r.int(what)
	if r.err != nil {
		return nil, false
	}
	if n == -1 {
		return nil, true
	}
	if n < 0 || n > MaxLength {
		r.fail(at, what, fmt.Errorf("%w: %d (limit %d)", jute.ErrLength, n, MaxLength))
		return nil, false
	}
	b := make([]byte, n)
	if !r.read(b, what) {
		return nil, false
	}
	return b, false
}

func (r *reader) string(what string) (string, bool) {
	b, null := r.bytes(what)
	return string(b), null
}

// buffer reads a buffer, keeping null (nil) apart from empty.
func (r *reader) buffer(what string) []byte {
	b, _ := r.bytes(what)
	return b
}

// acls reads a vector<ACL>; ZooKeeper rejects a null one.
func (r *reader) acls() []proto.ACL {
	at := r.off
	n := r.int("ACL list")
	if r.err != nil {
		return nil
	}
	if n < 0 {
		r.fail(at, "ACL list", fmt.Errorf("invalid ACL count %d", n))
		return nil
	}
	var out []proto.ACL
	for i := int32(0); i < n && r.err == nil; i++ {
		var a proto.ACL
		a.Perms = r.int("ACL")
		a.ID.Scheme, _ = r.string("ACL scheme")
		a.ID.ID, _ = r.string("ACL id")
		out = append(out, a)
	}
	if out == nil {
		out = []proto.ACL{}
	}
	return out
}

// checkSeal reads a seal and compares it with the checksum of the bytes
// before it (checkSealIntegrity). The "/" after the value is read but, as
// in ZooKeeper, not checked.
func (r *reader) checkSeal(what string) error {
	want := int64(r.sum.Sum32())
	at := r.off
	got := r.long(what)
	r.string(what)
	if r.err != nil {
		return r.err
	}
	if got != want {
		return &CorruptError{Offset: at, What: what, Err: fmt.Errorf("%w: stored %#x, computed %#x", ErrChecksum, got, want)}
	}
	return nil
}
