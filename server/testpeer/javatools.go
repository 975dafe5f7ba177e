package testpeer

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Main classes of the Apache ZooKeeper persistence tools, for RunApacheTool.
const (
	// TxnLogToolkit dumps (-d) a transaction log file, one line per txn,
	// and can recompute CRCs (-r) or chop a log at a zxid (-c -z).
	TxnLogToolkit = "org.apache.zookeeper.server.persistence.TxnLogToolkit"
	// SnapshotFormatter prints every znode of a snapshot file, with data
	// (-d) or as JSON (-json).
	SnapshotFormatter = "org.apache.zookeeper.server.SnapshotFormatter"
)

// apacheToolTimeout bounds one RunApacheTool JVM.
const apacheToolTimeout = 60 * time.Second

// RunApacheTool runs the main class of an Apache ZooKeeper tool, such as
// TxnLogToolkit or SnapshotFormatter, and returns its stdout. Their logging
// goes to stderr (warnings and above only), so stdout is the tool's report.
// The tools exit non-zero on unreadable input; the error then includes the
// tool's stderr.
func RunApacheTool(t testing.TB, class string, args ...string) (string, error) {
	t.Helper()
	inv := invocation{
		path: Java(t),
		args: slices.Concat(
			strings.Fields(clientJVMFlags),
			[]string{"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", ApacheClasspath(t), class},
			args),
		timeout: apacheToolTimeout,
	}
	out, err := run(inv)
	return out.stdout, err
}
