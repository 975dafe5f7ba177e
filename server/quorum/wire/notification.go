package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Server states as FastLeaderElection sends them (ServerState ordinals).
const (
	StateLooking   int32 = 0
	StateFollowing int32 = 1
	StateLeading   int32 = 2
	StateObserving int32 = 3
)

// NotificationVersion is the notification format 3.8 sends
// (Notification.CURRENTVERSION): version 2 added the config text.
const NotificationVersion int32 = 2

// Notification sizes of the formats receivers must accept.
const (
	// MinNotificationLen is the pre-ZK-107 form without peerEpoch;
	// anything shorter is dropped by ZooKeeper.
	MinNotificationLen = 28
	// notificationLen40 is the form with peerEpoch and a version field
	// that 3.8 ignores (it reads the version as 0).
	notificationLen40 = 40
	// notificationHeaderLen is the current form before the config bytes.
	notificationHeaderLen = 44
)

// ErrNotification is wrapped by every notification decoding error.
var ErrNotification = errors.New("invalid election notification")

// Notification is one FastLeaderElection message: the sender's state and
// the vote it currently proposes.
type Notification struct {
	State         int32
	Leader        int64 // proposed leader's sid
	Zxid          int64 // proposed leader's last logged zxid
	ElectionEpoch int64 // sender's logical clock (election round)
	PeerEpoch     int64 // proposed leader's epoch
	// Version is the format version the sender wrote; 0 for the 28- and
	// 40-byte forms, which carry none that 3.8 reads.
	Version int32
	// Config is the sender's QuorumVerifier text (see QuorumConfig), nil
	// when the format has none.
	Config []byte
}

// StateName returns the Java name of a server state, or "UNKNOWN(n)".
func StateName(s int32) string {
	switch s {
	case StateLooking:
		return "LOOKING"
	case StateFollowing:
		return "FOLLOWING"
	case StateLeading:
		return "LEADING"
	case StateObserving:
		return "OBSERVING"
	}
	return fmt.Sprintf("UNKNOWN(%d)", s)
}

// KnownState reports whether s is one of the four states. ZooKeeper drops
// a notification with another state from a voter, but still answers a
// non-voter whatever state it claims, so DecodeNotification leaves that
// decision to the caller.
func KnownState(s int32) bool { return s >= StateLooking && s <= StateObserving }

// Encode returns the notification in 3.8's current form
// (FastLeaderElection.buildMsg): state, leader, zxid, electionEpoch,
// peerEpoch, version 2, config length, config. The Version field is not
// consulted: 3.8 always sends NotificationVersion.
func (n *Notification) Encode() []byte {
	b := make([]byte, 0, notificationHeaderLen+len(n.Config))
	b = binary.BigEndian.AppendUint32(b, uint32(n.State))
	b = binary.BigEndian.AppendUint64(b, uint64(n.Leader))
	b = binary.BigEndian.AppendUint64(b, uint64(n.Zxid))
	b = binary.BigEndian.AppendUint64(b, uint64(n.ElectionEpoch))
	b = binary.BigEndian.AppendUint64(b, uint64(n.PeerEpoch))
	b = binary.BigEndian.AppendUint32(b, uint32(NotificationVersion))
	b = binary.BigEndian.AppendUint32(b, uint32(len(n.Config)))
	return append(b, n.Config...)
}

// DecodeNotification decodes one election frame payload the way 3.8's
// FastLeaderElection.WorkerReceiver does:
//
//   - fewer than 28 bytes: rejected;
//   - exactly 28 bytes: no peerEpoch (it is taken from the zxid's epoch,
//     zxid>>32) and version 0;
//   - exactly 40 bytes: peerEpoch present, version read as 0 whatever the
//     bytes say, no config;
//   - otherwise peerEpoch and version are read (a message too short for
//     them is rejected), and only if version > 1 an int config length in
//     0..len(b) and that many config bytes follow.
//
// Bytes after what the format needs are ignored, as in Java.
func DecodeNotification(b []byte) (Notification, error) {
	if len(b) < MinNotificationLen {
		return Notification{}, fmt.Errorf("%w: %d bytes, need at least %d", ErrNotification, len(b), MinNotificationLen)
	}
	n := Notification{
		State:         int32(binary.BigEndian.Uint32(b[0:])),
		Leader:        int64(binary.BigEndian.Uint64(b[4:])),
		Zxid:          int64(binary.BigEndian.Uint64(b[12:])),
		ElectionEpoch: int64(binary.BigEndian.Uint64(b[20:])),
	}
	switch {
	case len(b) == MinNotificationLen:
		n.PeerEpoch = n.Zxid >> 32
		return n, nil
	case len(b) < 36:
		return Notification{}, fmt.Errorf("%w: %d bytes ends inside peerEpoch", ErrNotification, len(b))
	}
	n.PeerEpoch = int64(binary.BigEndian.Uint64(b[28:]))
	if len(b) == notificationLen40 {
		return n, nil
	}
	if len(b) < notificationLen40 {
		return Notification{}, fmt.Errorf("%w: %d bytes ends inside version", ErrNotification, len(b))
	}
	n.Version = int32(binary.BigEndian.Uint32(b[36:]))
	if n.Version <= 1 {
		return n, nil
	}
	if len(b) < notificationHeaderLen {
		return Notification{}, fmt.Errorf("%w: version %d message of %d bytes ends inside config length", ErrNotification, n.Version, len(b))
	}
	cl := int32(binary.BigEndian.Uint32(b[40:]))
	if cl < 0 || int64(cl) > int64(len(b)) {
		return Notification{}, fmt.Errorf("%w: config length %d in a %d-byte message", ErrNotification, cl, len(b))
	}
	if int(cl) > len(b)-notificationHeaderLen {
		return Notification{}, fmt.Errorf("%w: config length %d but only %d bytes follow", ErrNotification, cl, len(b)-notificationHeaderLen)
	}
	n.Config = append([]byte{}, b[notificationHeaderLen:notificationHeaderLen+int(cl)]...)
	return n, nil
}
