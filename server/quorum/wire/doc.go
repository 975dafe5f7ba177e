// Package wire encodes and decodes the messages Apache ZooKeeper 3.8 peers
// exchange with each other, so that a zkd node can take part in leader
// election and ZAB replication with unmodified ZooKeeper servers.
//
// Two channels exist between peers and this package covers both:
//
//   - The election channel (QuorumCnxManager): a Handshake naming the
//     dialling server, then length-prefixed frames (Frame) each carrying one
//     FastLeaderElection Notification.
//   - The learner channel (Leader/Learner/LearnerHandler): QuorumPacket
//     records (Packet) written back to back with no outer length prefix,
//     whose Data field is interpreted per packet type (the payload helpers
//     in payload.go).
//
// The QuorumVerifier text carried by notifications, NEWLEADER packets and
// the /zookeeper/config znode is handled by QuorumConfig.
//
// Everything here is a pure codec: no sockets, goroutines or clocks. Byte
// layouts and acceptance rules follow the 3.8 Java sources, including their
// leniencies (short legacy notifications, trailing bytes that Java ignores),
// because a peer that is stricter than ZooKeeper would split an ensemble
// during a rolling upgrade. Anything Java would fail on with an exception is
// reported here as an error; no decoder panics or allocates more than its
// input justifies.
package wire
