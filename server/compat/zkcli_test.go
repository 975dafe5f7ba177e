package compat_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/testpeer"
)

// zkCliScripts are the zkCli.sh sessions of TestDifferentialZkCli, run in
// order against each server, one JVM per script. They walk every command
// zkCli.sh offers for the data tree, ACLs and watches, including the
// failures, because zkCli.sh turns each server error code into its own
// message ("Node already exists", "version No is not valid", ...) and a
// wrong code on the wire shows up as a wrong line here.
var zkCliScripts = []struct {
	name     string
	commands []string
}{
	{"tree", []string{
		"create /a",
		"create /a again",
		"create /b bdata",
		"get /b",
		"get -s /b",
		"set /b v1",
		"set -s /b v2",
		"set -v 2 /b v3",
		"set -v 9 /b v4",
		"get -s /b",
		"create /empty ''",
		"get /empty",
		"create -s /a/seq- s0",
		"create -s /a/seq- s1",
		"create -e /eph e",
		"create -e -s /a/ephseq- e",
		"create -e /eph again",
		"create -c /box",
		"create /box/item i",
		"create -t 600000 /ttl t",
		"create -t 600000 -s /ttlseq- t",
		"create -t 0 /ttlzero t",
		"create /missing/child x",
		"create noslash x",
		"ls /",
		"ls /a",
		"ls -s /a",
		"ls -R /a",
		"ls /nope",
		"stat /b",
		"stat /a/seq-0000000000",
		"stat /eph",
		"stat /box",
		"stat /ttl",
		"stat /nope",
		"getAllChildrenNumber /",
		"getAllChildrenNumber /a",
		"getAllChildrenNumber /nope",
		"getEphemerals",
		"getEphemerals /a",
		"getEphemerals /nope",
		"sync /",
		"sync /a",
		"whoami",
		"config",
		"get /zookeeper/config",
		"delete /a",
		"delete -v 5 /a/seq-0000000000",
		"delete -v 0 /a/seq-0000000000",
		"delete /a/seq-0000000000",
		"delete /nope",
		"delete /",
		"deleteall /a",
		"deleteall /nope",
		"ls /",
		"get /zookeeper",
		"ls /zookeeper",
		"set /zookeeper/config x",
	}},
	{"acl", []string{
		"create /secret s digest:alice:" + aliceHash + ":cdrwa",
		"getAcl /secret",
		"getAcl -s /b",
		"get /secret",
		"set /secret x",
		"ls /secret",
		"create /secret/c x",
		"stat /secret",
		"addauth digest alice:wrong",
		"get /secret",
		"addauth digest alice:pw",
		"whoami",
		"get /secret",
		"create /secret/c c",
		"create /ro r world:anyone:r",
		"set /ro x",
		"getAcl /ro",
		"setAcl /ro world:anyone:cdrwa",
		"create /authacl x auth::cdrwa",
		"getAcl /authacl",
		"create /ipacl x ip:127.0.0.1:cdrwa",
		"getAcl /ipacl",
		"get /ipacl",
		"create /badacl x nope:x:cdrwa",
		"create /badip x ip:300.1.1.1:cdrwa",
		"create /tree t",
		"create /tree/x x",
		"create /tree/x/y y",
		"setAcl -R /tree digest:alice:" + aliceHash + ":rw",
		"getAcl /tree/x/y",
		"setAcl -s /b world:anyone:rw",
		"setAcl -v 0 /b world:anyone:r",
		"setAcl -v 7 /b world:anyone:r",
		"getAcl /b",
		"setAcl /nope world:anyone:r",
		"getAcl /nope",
		"create /tree/z z",
		"delete /tree/x/y",
	}},
	{"watches", []string{
		"get -w /b",
		"ls -w /box",
		"stat -w /gone",
		"ls -w /nope",
		"delete /b",
		"create /box/other o",
		"create /gone g",
		"addWatch /p",
		"addWatch -m PERSISTENT /q",
		"addWatch -m NOPE /q",
		"create /p",
		"create /p/c",
		"create /p/c/d",
		"set /p/c/d dd",
		"create /q",
		"create /q/c",
		"set /q qq",
		"removewatches /q",
		"set /q qqq",
		"removewatches /nope",
		"get -w /q",
		"removewatches /q -d",
		"set /q q4",
		"ls -w /q",
		"removewatches /q -c",
		"create /q/d d",
		"removewatches /p -a",
		"delete /p/c/d",
		"getEphemerals",
		"sync /",
		"ls /",
	}},
}

// TestDifferentialZkCli runs the same zkCli.sh scripts against zkd and
// Apache ZooKeeper 3.8 and compares what zkCli.sh printed, after
// normalising times, session ids and when watch notifications landed.
//
// A 3-node zkd ensemble, with zkCli.sh connected to a follower, runs the
// same scripts. Its zxids carry epoch 1 in their high 32 bits where a
// standalone server's carry 0, so stat zxids are compared by their counter.
func TestDifferentialZkCli(t *testing.T) {
	t.Parallel()
	targets := append(both(t), startZkdEnsemble(t))
	var trs []*transcript
	var names []string
	for _, tg := range targets {
		tr := newTranscript()
		ensembleConfigs := 0
		for _, sc := range zkCliScripts {
			out, err := testpeer.RunZkCliBatch(t, tg.addr, sc.commands...)
			if err != nil {
				t.Fatalf("%s: zkCli.sh script %s: %v", tg.name, sc.name, err)
			}
			tr.add("== script %s", sc.name)
			lines, configs := normaliseZkCli(tr, out)
			for _, l := range lines {
				tr.add("%s", l)
			}
			ensembleConfigs += configs
		}
		if want := tg.name == "zkd-ensemble"; want != (ensembleConfigs > 0) {
			t.Errorf("%s: zkCli.sh printed %d ensemble configs (config, get /zookeeper/config)", tg.name, ensembleConfigs)
		}
		trs = append(trs, tr)
		names = append(names, tg.name)
	}
	compare(t, names, trs)
	if t.Failed() || testing.Verbose() {
		for i, tr := range trs {
			t.Logf("%s transcript:\n%s", names[i], joinLines(tr.lines))
		}
	}
}

var (
	zkCliOwner   = regexp.MustCompile(`^ephemeralOwner = (0x[0-9a-f]+)$`)
	zkCliTime    = regexp.MustCompile(`^([cm]time) = (.+)$`)
	zkCliEvent   = regexp.MustCompile(`^WatchedEvent state:(\S+) type:(\S+) path:(\S+)$`)
	zkCliZxid    = regexp.MustCompile(`^([cmp]Zxid) = 0x([0-9a-f]+)$`)
	zkCliMember  = regexp.MustCompile(`^server\.[0-9]+=\S+:[0-9]+:[0-9]+:(participant|observer);\S+$`)
	zkCliVersion = regexp.MustCompile(`^version=[0-9a-f]+$`)
)

// normaliseZkCli turns zkCli.sh output into comparable lines. Times become
// T, session ids S1, S2... in order of appearance. Watch notifications are
// printed by zkCli.sh's event thread whenever it gets to them, so their
// place among the command output is timing; they are taken out and listed,
// in the order received (which is deterministic), after the output. Each
// notification also prints a blank line that may land anywhere (stdout and
// stderr share the pipe), so blank lines are only counted: empty data and
// an empty config still show up in the count. An ensemble's config (the
// config command, /zookeeper/config: server lines, then version=) counts
// as the empty one a standalone server prints; the second result is how
// many there were.
func normaliseZkCli(tr *transcript, out string) ([]string, int) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var kept, events []string
	blank, watchers, configs := 0, 0, 0
	inConfig := false
	for _, l := range lines {
		switch {
		case zkCliMember.MatchString(l):
			inConfig = true
			continue
		case inConfig && zkCliVersion.MatchString(l):
			inConfig = false
			configs++
			blank++
			continue
		case l == "":
			blank++
			continue
		case strings.HasPrefix(l, "WATCHER::"):
			watchers++
			if l = strings.TrimPrefix(l, "WATCHER::"); l == "" {
				continue
			}
		}
		switch {
		case zkCliEvent.MatchString(l):
			m := zkCliEvent.FindStringSubmatch(l)
			events = append(events, fmt.Sprintf("event state=%s type=%s path=%s", m[1], m[2], m[3]))
			continue
		case zkCliOwner.MatchString(l):
			// Container and TTL markers (top bit set) are kept as they are:
			// clients see them and they must match exactly.
			var id uint64
			if _, err := fmt.Sscanf(zkCliOwner.FindStringSubmatch(l)[1], "0x%x", &id); err == nil && id>>63 == 0 {
				l = "ephemeralOwner = " + tr.session(int64(id))
			}
		case zkCliTime.MatchString(l):
			l = zkCliTime.FindStringSubmatch(l)[1] + " = T"
		case zkCliZxid.MatchString(l):
			m := zkCliZxid.FindStringSubmatch(l)
			if z, err := strconv.ParseUint(m[2], 16, 64); err == nil {
				l = fmt.Sprintf("%s = counter 0x%x", m[1], z&0xffffffff)
			}
		case strings.HasPrefix(l, "[/") && strings.HasSuffix(l, "]"):
			// getEphemerals prints the server's order, which in Apache
			// ZooKeeper is that of a HashSet: not a contract.
			l = sorted(strings.Split(l[1:len(l)-1], ", "))
		}
		kept = append(kept, l)
	}
	kept = append(kept, fmt.Sprintf("blank lines not from notifications: %d", blank-watchers))
	return append(kept, events...), configs
}
