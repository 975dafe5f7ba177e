package testpeer

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// FormatterDump is what Apache's `SnapshotFormatter -d` prints about a
// snapshot: the tests compare zkd's reading of the same file with it.
type FormatterDump struct {
	Count    int // "ZNode Details (count=N)"
	Nodes    map[string]FormatterNode
	Sessions map[int64][2]int64 // session id -> timeout ms, ephemeral count
	LastZxid int64
}

// FormatterNode is one znode as SnapshotFormatter prints it: the stored
// stat (cversion as stored, not as clients see it) and the data.
type FormatterNode struct {
	Czxid, Mzxid, Pzxid, EphemeralOwner int64
	Ctime, Mtime                        string // java.util.Date.toString
	Cversion, Version, Aversion         int32
	Data                                []byte
}

// ParseSnapshotFormatter parses the text of `SnapshotFormatter -d`.
func ParseSnapshotFormatter(out string) (*FormatterDump, error) {
	f := &FormatterDump{Nodes: map[string]FormatterNode{}, Sessions: map[int64][2]int64{}}
	var perr error
	hex := func(v string) int64 {
		u, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
		if err != nil && perr == nil {
			perr = fmt.Errorf("SnapshotFormatter output: bad hex %q", v)
		}
		return int64(u)
	}
	num := func(v string) int64 {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil && perr == nil {
			perr = fmt.Errorf("SnapshotFormatter output: bad number %q", v)
		}
		return n
	}
	var path string
	var cur FormatterNode
	inSessions := false
	flush := func() {
		if path != "" {
			f.Nodes[path] = cur
		}
		path, cur = "", FormatterNode{}
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "ZNode Details (count="):
			f.Count = int(num(strings.TrimSuffix(strings.TrimPrefix(line, "ZNode Details (count="), "):")))
		case strings.HasPrefix(line, "Session Details"):
			flush()
			inSessions = true
		case strings.HasPrefix(line, "Last zxid: "):
			f.LastZxid = hex(strings.TrimPrefix(line, "Last zxid: "))
		case line == "----":
			flush()
		case inSessions && strings.HasPrefix(line, "0x"):
			parts := strings.Split(line, ", ")
			if len(parts) != 3 {
				return nil, fmt.Errorf("SnapshotFormatter output: bad session line %q", line)
			}
			f.Sessions[hex(parts[0])] = [2]int64{num(parts[1]), num(parts[2])}
		case !inSessions && strings.HasPrefix(line, "/"):
			flush()
			path = line
		case strings.HasPrefix(line, "  ") && path != "":
			k, v, _ := strings.Cut(strings.TrimSpace(line), " =")
			v = strings.TrimSpace(v)
			switch k {
			case "cZxid":
				cur.Czxid = hex(v)
			case "mZxid":
				cur.Mzxid = hex(v)
			case "pZxid":
				cur.Pzxid = hex(v)
			case "ctime":
				cur.Ctime = v
			case "mtime":
				cur.Mtime = v
			case "cversion":
				cur.Cversion = int32(num(v))
			case "dataVersion":
				cur.Version = int32(num(v))
			case "aclVersion":
				cur.Aversion = int32(num(v))
			case "ephemeralOwner":
				cur.EphemeralOwner = hex(v)
			case "data":
				d, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return nil, fmt.Errorf("SnapshotFormatter output: bad data %q", v)
				}
				cur.Data = d
			}
		}
		if perr != nil {
			return nil, perr
		}
	}
	flush()
	return f, nil
}
