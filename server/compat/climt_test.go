package compat_test

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/testpeer"
)

// cliMtScenario is a list of cli_mt sessions run one after another; setup
// (if any) runs first through the raw client, e.g. to create nodes with
// ACLs that cli_mt (which always creates world:anyone nodes) cannot.
type cliMtScenario struct {
	name     string
	setup    func(t *testing.T, addr string)
	sessions [][]string
	// unorderedLast reduces the last session's output to which of
	// cliMtAuthMarkers it contains: after an auth failure cli_mt's watcher
	// thread and main thread print concurrently, so line order (and even
	// line boundaries) vary from run to run.
	unorderedLast bool
}

var cliMtScenarios = []cliMtScenario{
	{name: "crud", sessions: [][]string{{
		"create /a", "create /a", "create /missing/x", "create2 /b", "create2 /b/c",
		"get /a", "set /a hello", "get /a", "get /nope", "set /nope x",
		"ls /", "ls2 /b", "ls /nope", "ls2 /nope",
		"exists /a", "exists /nope",
		"delete /b", "delete /b/c", "delete /b", "delete /nope",
		"sync /a", "sync /nope",
		"get a", "set /a", "create2 +s /s-", "create2 +s /s-",
		"aget /a", "config",
	}}},
	{name: "modes", sessions: [][]string{{
		"create +e /e", "create +s /seq-", "create +es /es-", "create2 +e /e2",
		"create +c /c", "create /c/child", "create +t=60000 /ttl", "create +t /ttl2", "create +x /bad",
		"create /e/child", "ls2 /", "get /e2", "get /ttl", "myid",
	}, {
		"ls /", "exists /e", "exists /es-0000000002", "get /c", "ls2 /c",
	}}},
	{name: "watches", sessions: [][]string{{
		"get /w", "wexists /w", "create /w", "ls /w", "create /w/x",
		"get /w", "set /w v1", "exists /w", "delete /w/x", "get /w", "delete /w", "ls /",
	}}},
	{name: "acl", setup: func(t *testing.T, addr string) {
		c := dialRaw(t, addr)
		c.connect(0, nil, 30000, true)
		rh, _ := c.call(proto.OpCreate, create("/secret", "s3cr3t", proto.FlagPersistent,
			[]proto.ACL{digest("alice", aliceHash, proto.PermAll)}))
		if rh.Err != 0 {
			t.Fatalf("setup: create /secret: %s", proto.CodeName(rh.Err))
		}
		c.call(proto.OpCloseSession, nil)
	}, sessions: [][]string{{
		"get /secret", "ls /secret", "set /secret x", "create /secret/c",
		"addauth digest alice:wrong", "get /secret",
		"addauth digest alice:pw", "get /secret", "set /secret y", "create /secret/c", "ls2 /secret",
	}, {
		"addauth digest super:secret", "get /secret", "delete /secret/c",
	}, {
		"addauth nosuchscheme x", "exists /",
	}}, unorderedLast: true},
}

// cliMtAuthMarkers are what cli_mt prints when the server rejects an auth
// packet (Apache: an AuthFailed reply, then the connection is closed) or
// when the connection just drops instead. "Error -115 for /" is not among
// them: cli_mt prints it only when its exists was still queued when the
// AuthFailed reply arrived, which depends on how fast the server answers.
var cliMtAuthMarkers = []string{
	"state = AUTH_FAILED_STATE", "Authentication failure. Shutting down...",
	"Authentication scheme nosuchscheme failed", "Error -4 for /",
	"state = CONNECTING_STATE",
}

var (
	cliMtLogPrefix = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+:\d+\(0x[0-9a-f]+\):`)
	cliMtAddr      = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	cliMtHex       = regexp.MustCompile(`0x[0-9a-f]{6,}`)
	cliMtRCLine    = regexp.MustCompile(`^\S+: rc = 0$`)
)

// normaliseCliMt turns cli_mt's output into comparable lines: session ids
// (hex, with or without 0x) become S1, S2..., dates become T (or 0 for the
// epoch), timings are dropped, log prefixes and ports are removed, and the
// child names of ls/ls2 are sorted (Apache returns them in hash order).
func normaliseCliMt(tr *transcript, out string) []string {
	sessionHex := func(h string) string {
		v, err := strconv.ParseUint(strings.TrimPrefix(h, "0x"), 16, 64)
		if err != nil {
			return "unparsable:" + h
		}
		return tr.session(int64(v))
	}
	var lines []string
	var children []string
	flush := func() {
		sort.Strings(children)
		lines = append(lines, children...)
		children = nil
	}
	inChildren := false
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if inChildren && strings.HasPrefix(l, "\t") && !strings.Contains(l, "=") {
			children = append(children, l)
			continue
		}
		flush()
		inChildren = cliMtRCLine.MatchString(l)
		switch {
		case strings.HasPrefix(l, "time = "):
			continue
		case strings.HasPrefix(l, "Got a new session id: "):
			l = "Got a new session id: " + sessionHex(strings.TrimPrefix(l, "Got a new session id: "))
		case strings.HasPrefix(l, "session Id = "):
			l = "session Id = " + sessionHex(strings.TrimPrefix(l, "session Id = "))
		case strings.HasPrefix(l, "\tephemeralOwner = "):
			l = "\tephemeralOwner = " + sessionHex(strings.TrimPrefix(l, "\tephemeralOwner = "))
		case strings.HasPrefix(l, "\tctime = "), strings.HasPrefix(l, "\tmtime="):
			key := l[:strings.IndexAny(l, " =")]
			if strings.Contains(l, " 1970") {
				l = key + "=0"
			} else {
				l = key + "=T"
			}
		case cliMtLogPrefix.MatchString(l):
			l = "LOG " + cliMtLogPrefix.ReplaceAllString(l, "")
			l = cliMtAddr.ReplaceAllString(l, "ADDR")
			l = cliMtHex.ReplaceAllStringFunc(l, sessionHex)
		}
		lines = append(lines, l)
	}
	flush()
	return lines
}

// TestCliMtDifferential drives the ZooKeeper C client's shell against zkd
// and Apache ZooKeeper 3.8 and compares its normalised output. Besides the
// commands themselves this proves zkd's handshake suits the C client, which
// sends the readOnly byte and insists on a 16-byte session password.
//
// One server pair serves all scenarios, in order, to keep JVM starts down;
// cli_mt prints absolute zxids, so a scenario that makes zkd diverge in its
// number of transactions also shows up as zxid differences in later ones.
func TestCliMtDifferential(t *testing.T) {
	targets := both(t)
	for _, sc := range cliMtScenarios {
		t.Run(sc.name, func(t *testing.T) {
			var trs []*transcript
			var names []string
			for _, tg := range targets {
				if sc.setup != nil {
					sc.setup(t, tg.addr)
				}
				tr := newTranscript()
				for i, cmds := range sc.sessions {
					tr.add("--- session %d", i+1)
					out, err := testpeer.RunCliMt(t, tg.addr, cmds...)
					if err != nil {
						t.Errorf("%s: %v", tg.name, err)
						tr.add("cli_mt failed")
					}
					lines := normaliseCliMt(tr, out)
					if sc.unorderedLast && i == len(sc.sessions)-1 {
						lines = nil
						for _, m := range cliMtAuthMarkers {
							lines = append(lines, fmt.Sprintf("contains %q: %v", m, strings.Contains(out, m)))
						}
					}
					for _, l := range lines {
						tr.add("%s", l)
					}
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
		})
	}
}
