package session

import (
	"math"
	"strconv"
	"time"
)

// containerEphemeralOwner is EphemeralType.CONTAINER_EPHEMERAL_OWNER: the
// ephemeralOwner value that marks a container znode. No session may have it.
const containerEphemeralOwner = math.MinInt64

// InitialSessionID returns the first session id a server hands out, exactly as
// SessionTrackerImpl.initializeNextSessionId computes it: the server id in the
// top byte, the low 40 bits of the time in milliseconds in the next five bytes
// and zero in the low two bytes, which the server then increments per session.
// The shift back is unsigned (ZOOKEEPER-1622), so the time can never spill into
// the server id byte. Ids from servers with different ids therefore never
// collide, and a restarted server cannot reuse an id from its previous run
// unless that run averaged more than 65536 sessions per millisecond.
//
// ZooKeeper 3.8 reads a monotonic clock here; zkd takes the wall clock from the
// caller instead, as ZooKeeper before 3.5 did, because a monotonic origin can
// repeat across reboots.
func InitialSessionID(serverID int64, now time.Time) int64 {
	id := int64(uint64(now.UnixMilli())<<24>>8) | serverID<<56
	if id == containerEphemeralOwner {
		id++ // as ZooKeeper does: that value already means "container"
	}
	return id
}

// hexID formats a session id the way ZooKeeper logs it (Long.toHexString:
// unsigned, no padding), so log lines can be grepped across both.
func hexID(id int64) string {
	return "0x" + strconv.FormatUint(uint64(id), 16)
}
