package datatree

// ReplaceContents makes t hold src's znodes, ACLs, ephemerals, digest and
// last zxid, keeping t's own watch managers, metrics and options. A learner
// that receives the leader's snapshot (SNAP) installs it this way, so the
// server that reads t keeps one tree for its whole life. src must not be
// used afterwards. The caller holds t's write lock.
//
// Watches registered on t stay registered: ZooKeeper closes every client
// connection when a server leaves broadcast, and their watches go with
// them, so none are left when a sync replaces the data.
func (t *Tree) ReplaceContents(src *Tree) {
	t.nodes, t.root, t.acls = src.nodes, src.root, src.acls
	t.ephemerals, t.ephemeralCount = src.ephemerals, src.ephemeralCount
	t.containers, t.ttls, t.quotas = src.containers, src.ttls, src.quotas
	t.digest, t.dataSize, t.lastZxid = src.digest, src.dataSize, src.lastZxid
	*src = Tree{}
	t.updateGauges()
}

// SetConfigData sets the data of /zookeeper/config, where ZooKeeper
// publishes the ensemble's server lines (QuorumVerifier.toString) for
// clients such as Curator. Like ZooKeeper's initConfigInZKDatabase it is a
// local change made without a txn; the node is outside the digest. The
// caller holds t's write lock.
func (t *Tree) SetConfigData(data []byte) {
	n := t.nodes[configPath]
	if n == nil {
		t.addConfigNode()
		n = t.nodes[configPath]
	}
	t.dataSize += nodeSize(configPath, data) - nodeSize(configPath, n.data)
	n.data = append([]byte{}, data...)
	t.updateGauges()
}
