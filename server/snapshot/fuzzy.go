package snapshot

import (
	"context"
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
func EncodeFuzzy(tree *datatree.Tree, sessions []Session, zxid int64, chunk int) ([]byte, error) {
	stream, digest, err := encodeFuzzyBody(context.Background(), tree, sessions, chunk, true)
	if err != nil {
		return nil, err
	}
	if digest.Zxid < zxid {
		return nil, fmt.Errorf("snapshot: tree at zxid 0x%x after the walk, before the snapshot's 0x%x", digest.Zxid, zxid)
	}
	// The seals as writer.seal makes them: each over everything before it.
	sum := adler32.New()
	sum.Write(stream)
	seal := sealRecord(sum)
	sum.Write(seal)
	tail := jute.NewEncoder(seal) // appends after the seal
	encodeDigest(tail, &digest)
	sum.Write(tail.Bytes()[len(seal):])
	stream = append(stream, tail.Bytes()...)
	return append(stream, sealRecord(sum)...), nil
}

// EncodeFuzzySyncStream returns what a ZooKeeper 3.8 leader streams to a
// learner after a SNAP packet (LearnerHandler): the database as
// SerializeUtils.serializeSnapshot writes it (no file header, seals or
// digest), then the "BenWasHere" signature. Like ZooKeeper's
// LearnerHandler it encodes while the leader goes on committing: holding
// the read lock for the whole walk would, for a large tree, stop every
// write of the ensemble while one learner syncs. The stream is fuzzy as EncodeFuzzy's snapshot is: sessions must be the
// sessions at the zxid the SNAP is sent at, every node holds every txn up
// to it and some hold later ones, which the learner then replays over it
// (ZooKeeper's learners, and zkd's, do). The caller must not hold the
// tree's lock. A cancelled ctx (the learner is gone) ends the walk early
// with ctx's error.
func EncodeFuzzySyncStream(ctx context.Context, tree *datatree.Tree, sessions []Session, chunk int) ([]byte, error) {
	stream, _, err := encodeFuzzyBody(ctx, tree, sessions, chunk, false)
	if err != nil {
		return nil, err
	}
	e := jute.NewEncoder(stream) // appends after the nodes
	e.String(SyncSignature)
	return e.Bytes(), nil
}

// encodeFuzzyBody walks tree with WalkFuzzy (chunk nodes per hold of the
// read lock) and returns the head (with fileHeader the file header, then
// the sessions and the ACL cache) followed by every node and the "/" path
// that ends them, and the digest record of the tree when the walk ended.
//
// The ACL cache is written before the nodes but is only complete after
// the walk: a node may have taken an ACL list first used during it. The
// nodes are therefore encoded after room left for the head, which is
// encoded into it at the end.
func encodeFuzzyBody(ctx context.Context, tree *datatree.Tree, sessions []Session, chunk int, fileHeader bool) ([]byte, ZxidDigest, error) {
	tree.RLock()
	acls := tree.ACLs()
	hint := encodedSizeHint(tree, len(sessions))
	tree.RUnlock()

	head, err := encodeHead(sessions, acls, fileHeader)
	if err != nil {
		return nil, ZxidDigest{}, err
	}
	// Room for the head as it is now, and for ACL lists first used
	// during the walk; more than that costs one copy of the stream.
	room := len(head) + 64<<10
	e := jute.NewEncoder(make([]byte, room, room+hint))
	visited := 0
	err = tree.WalkFuzzy(chunk, func(path string, n datatree.NodeView) error {
		if visited++; visited%cancelCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("snapshot: encode stopped after %d nodes: %w", visited, err)
			}
		}
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
		return nil, ZxidDigest{}, err
	}
	tree.RLock()
	digest := ZxidDigest{Zxid: tree.LastProcessedZxid(), Version: DigestVersion, Digest: tree.Digest()}
	tree.RUnlock()

	if head, err = encodeHead(sessions, acls, fileHeader); err != nil {
		return nil, ZxidDigest{}, err
	}
	e.String(sealPath)
	nodes := e.Bytes()[room:]
	if len(head) <= room {
		stream := e.Bytes()[room-len(head):]
		copy(stream, head)
		return stream, digest, nil
	}
	return append(head, nodes...), digest, nil
}

// cancelCheckEvery is how many nodes encodeFuzzyBody encodes between
// looks at its context.
const cancelCheckEvery = 1024

// openACL is the ACL id of OPEN_ACL_UNSAFE, which the ACL cache does not
// hold.
const openACL = -1

// encodeHead encodes the sessions and the ACL cache, after the file
// header if fileHeader is set.
func encodeHead(sessions []Session, acls map[int64][]proto.ACL, fileHeader bool) ([]byte, error) {
	e := jute.NewEncoder(make([]byte, 0, 64+12*len(sessions)+64*len(acls)))
	if fileHeader {
		hdr := proto.FileHeader{Magic: Magic, Version: Version, Dbid: Dbid}
		hdr.Encode(e)
	}
	if err := writeSessionsAndACLs(sessions, acls, e, func() error { return nil }); err != nil {
		return nil, err
	}
	return e.Bytes(), nil
}
