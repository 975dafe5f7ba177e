package snapshot

import (
	"fmt"
	"hash/adler32"
	"slices"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/jute"
	"github.com/zkd-io/zkd/server/proto"
)

// FuzzyChunk is how many nodes EncodeFuzzy encodes per hold of the tree's
// read lock: about a millisecond of encoding, so a write waits at most
// that long for a snapshot, however large the tree.
const FuzzyChunk = 4096

// EncodeFuzzy encodes a snapshot stream of tree the way ZooKeeper's
// snapshot thread takes one: while writes go on. Encode holds the read
// lock for the whole walk, which for a tree of millions of nodes stops
// writes for seconds; EncodeFuzzy holds it for chunk nodes at a time
// (datatree.WalkFuzzy). The caller must not hold the tree's lock.
//
// The snapshot is "fuzzy". It belongs to zxid, and sessions must be the
// sessions at zxid; every node already holds every txn up to zxid, some
// hold later ones. Its digest record is the tree's digest at the last
// zxid applied when the walk ended. Replaying the log from zxid+1 over it
// gives the tree again, as it does for ZooKeeper's snapshots, and recovery
// checks the digest when replay reaches the record's zxid (a record at
// zxid itself means no write came in between: the snapshot is exact).
//
// The ACL cache is written before the nodes but is only complete after
// the walk: a node may have taken an ACL list first used during it. The
// nodes are therefore encoded after room left for the sessions and the
// ACL cache, which are encoded into it at the end.
func EncodeFuzzy(tree *datatree.Tree, sessions []Session, zxid int64, chunk int) ([]byte, error) {
	tree.RLock()
	acls := tree.ACLs()
	hint := encodedSizeHint(tree, len(sessions))
	tree.RUnlock()

	head, err := encodeHead(sessions, acls)
	if err != nil {
		return nil, err
	}
	// Room for the head as it is now, and for ACL lists first used
	// during the walk; more than that costs one copy of the stream.
	room := len(head) + 64<<10
	e := jute.NewEncoder(make([]byte, room, room+hint))
	err = tree.WalkFuzzy(chunk, func(path string, n datatree.NodeView) error {
		if _, ok := acls[n.ACLID]; !ok && n.ACLID != openACL {
			if n.ACL == nil {
				return fmt.Errorf("snapshot: %s has ACL id %d, which the tree does not hold", path, n.ACLID)
			}
			acls[n.ACLID] = slices.Clone(n.ACL)
		}
		encodeNode(e, path, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	tree.RLock()
	digest := &ZxidDigest{Zxid: tree.LastProcessedZxid(), Version: DigestVersion, Digest: tree.Digest()}
	tree.RUnlock()
	if digest.Zxid < zxid {
		return nil, fmt.Errorf("snapshot: tree at zxid 0x%x after the walk, before the snapshot's 0x%x", digest.Zxid, zxid)
	}

	if head, err = encodeHead(sessions, acls); err != nil {
		return nil, err
	}
	e.String(sealPath)
	nodes := e.Bytes()[room:]
	var stream []byte
	if len(head) <= room {
		stream = e.Bytes()[room-len(head):]
		copy(stream, head)
	} else {
		stream = append(head, nodes...)
	}
	// The seals as writer.seal makes them: each over everything before it.
	sum := adler32.New()
	sum.Write(stream)
	seal := sealRecord(sum)
	sum.Write(seal)
	tail := jute.NewEncoder(seal) // appends after the seal
	encodeDigest(tail, digest)
	sum.Write(tail.Bytes()[len(seal):])
	stream = append(stream, tail.Bytes()...)
	return append(stream, sealRecord(sum)...), nil
}

// openACL is the ACL id of OPEN_ACL_UNSAFE, which the ACL cache does not
// hold.
const openACL = -1

// encodeHead encodes the file header, the sessions and the ACL cache.
func encodeHead(sessions []Session, acls map[int64][]proto.ACL) ([]byte, error) {
	e := jute.NewEncoder(make([]byte, 0, 64+12*len(sessions)+64*len(acls)))
	hdr := proto.FileHeader{Magic: Magic, Version: Version, Dbid: Dbid}
	hdr.Encode(e)
	if err := writeSessionsAndACLs(sessions, acls, e, func() error { return nil }); err != nil {
		return nil, err
	}
	return e.Bytes(), nil
}
