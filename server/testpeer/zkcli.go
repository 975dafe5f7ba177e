package testpeer

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// zkCliTimeout bounds one zkCli.sh run. zkCli.sh retries an unreachable
// server forever, so without a bound a dead peer would hang the test.
const zkCliTimeout = 60 * time.Second

// RunZkCli runs one zkCli.sh command against server (host:port), as in
// `zkCli.sh -server host:port get /a`, and returns what it printed on
// stdout minus the connection banner. Arguments are passed through
// unsplit, so data may contain spaces.
//
// zkCli.sh prints some results on stderr (for example "Created /a" and
// "Node does not exist: /a") and exits non-zero when the command fails; the
// error then carries that stderr text. Every call starts a JVM (about a
// second); use RunZkCliBatch for more than a couple of commands.
func RunZkCli(t testing.TB, server string, args ...string) (string, error) {
	t.Helper()
	inv := invocation{
		path:    ZkCli(t),
		args:    append([]string{"-server", server}, args...),
		env:     []string{"CLIENT_JVMFLAGS=" + clientJVMFlags},
		timeout: zkCliTimeout,
	}
	out, err := run(inv)
	return cleanZkCliOutput(out.stdout), err
}

// RunZkCliBatch feeds commands, one per line, to a single zkCli.sh session
// on server and returns its stdout and stderr interleaved as written, minus
// the connection banner. With stdin not a terminal (and, on Debian, JLine
// not installed) zkCli.sh reads plain lines, runs each to completion in
// order and exits at end of input, so this costs one JVM start for the whole
// script.
//
// The error reports only a failure to run (missing tool, timeout, a command
// containing a newline): zkCli.sh's exit status reflects just the last
// command, so per-command failures are to be read from the output.
func RunZkCliBatch(t testing.TB, server string, commands ...string) (string, error) {
	t.Helper()
	for _, c := range commands {
		if strings.ContainsAny(c, "\r\n") {
			return "", fmt.Errorf("zkCli.sh batch: command %q contains a line break", c)
		}
	}
	inv := invocation{
		path:     ZkCli(t),
		args:     []string{"-server", server},
		env:      []string{"CLIENT_JVMFLAGS=" + clientJVMFlags},
		stdin:    strings.NewReader(strings.Join(commands, "\n") + "\n"),
		timeout:  zkCliTimeout,
		combined: true,
	}
	out, err := run(inv)
	if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
		err = nil // the status of the last command only; see above
	}
	return cleanZkCliOutput(out.stdout), err
}

// zkCliBanner are lines zkCli.sh prints about itself rather than about the
// commands it runs; each is dropped once.
var zkCliBanner = []string{
	"Connecting to ",
	"Welcome to ZooKeeper!",
	"JLine support is disabled",
	"JLine support is enabled",
}

// cleanZkCliOutput removes zkCli.sh's connection chatter so tests can
// compare command output exactly. The SyncConnected notification is printed
// by the event thread and can land before or after the first command's
// output, so it is removed wherever it appears (once).
func cleanZkCliOutput(s string) string {
	s = strings.Replace(s, "\nWATCHER::\n", "", 1)
	s = strings.Replace(s, "\nWatchedEvent state:SyncConnected type:None path:null\n", "", 1)
	s = dropSLF4JNoise(s)
	dropped := make([]bool, len(zkCliBanner))
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		keep := true
		for i, prefix := range zkCliBanner {
			if !dropped[i] && strings.HasPrefix(line, prefix) {
				dropped[i], keep = true, false
				break
			}
		}
		if keep {
			b.WriteString(line)
		}
	}
	return b.String()
}
