package fourlw

import (
	"fmt"
	"strconv"
	"time"
)

// The helpers in this file print numbers and dates the way Java's
// String.valueOf, Long.toHexString and Date.toString do, because that is
// what ZooKeeper's output is made of and what its parsers were written
// against.

// javaHex formats v as Long.toHexString: lower case, no prefix, and a
// negative value as its 64-bit two's complement (-1 is ffffffffffffffff).
func javaHex(v int64) string {
	return strconv.FormatUint(uint64(v), 16)
}

// javaDate formats t as java.util.Date.toString, e.g.
// "Sun Nov 22 10:09:08 UTC 2026", in t's location.
func javaDate(t time.Time) string {
	zone, offset := t.Zone()
	if zone == "" || zone[0] == '+' || zone[0] == '-' {
		// Java names a zone without an abbreviation by its offset.
		sign := '+'
		if offset < 0 {
			sign, offset = '-', -offset
		}
		zone = fmt.Sprintf("GMT%c%02d:%02d", sign, offset/3600, offset/60%60)
	}
	return t.Format("Mon Jan 02 15:04:05 ") + zone + t.Format(" 2006")
}

// unixMillis is Date.getTime for t, with the zero time printed as 0 (a
// connection or response that has not happened yet).
func unixMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
