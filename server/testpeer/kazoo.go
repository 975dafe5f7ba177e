package testpeer

import (
	"strings"
	"testing"
	"time"
)

// kazooTimeout bounds one RunKazoo script, connection included.
const kazooTimeout = 60 * time.Second

// kazooPrelude connects a KazooClient named zk to argv[1], runs the body
// passed as argv[2] with zk in scope and closes the session however the body
// ends, so a failing script does not leave a session for the server to
// expire.
const kazooPrelude = `import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=10.0)
zk.start(timeout=15)
try:
    exec(compile(sys.argv[2], "<kazoo script>", "exec"))
finally:
    zk.stop()
    zk.close()
`

// RunKazoo runs a Python snippet with a started kazoo client bound to the
// name zk, connected to server (host:port), and returns its stdout. The
// error (non-zero exit, e.g. an uncaught kazoo exception, or the timeout)
// carries the traceback from stderr. Example body:
//
//	data, stat = zk.get("/a")
//	print(data.decode(), stat.version)
func RunKazoo(t testing.TB, server, body string) (string, error) {
	t.Helper()
	// Not PythonWithKazoo: its import probe would cost an interpreter start
	// per call; a missing kazoo is recognised from the failure instead.
	inv := invocation{
		path:    executable(t, "ZKD_PYTHON", pythonPath, "python3"),
		args:    []string{"-c", kazooPrelude, server, body},
		timeout: kazooTimeout,
	}
	out, err := run(inv)
	if err != nil && strings.Contains(out.stderr, "No module named 'kazoo'") {
		t.Fatalf("testpeer: %s cannot import kazoo; %s", inv.path, depsHint)
	}
	return out.stdout, err
}
