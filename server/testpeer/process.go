package testpeer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// invocation describes one bounded run of an external tool.
type invocation struct {
	path    string
	args    []string
	env     []string // added to the test process's environment
	stdin   io.Reader
	timeout time.Duration
	// combined sends stderr into the stdout buffer through one pipe, which
	// keeps the interleaving of the two streams as the tool wrote them.
	combined bool
}

// output is what a finished tool printed.
type output struct {
	stdout string
	stderr string // empty when combined
}

// run executes inv and waits for it. The tool runs in its own process group
// and the whole group is killed when the timeout expires, so a script that
// forks a JVM cannot leave the JVM behind. The error is non-nil when the tool
// could not start, timed out or exited with a non-zero status; it includes
// the tail of stderr so failures explain themselves.
func run(inv invocation) (output, error) {
	ctx, cancel := context.WithTimeout(context.Background(), inv.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, inv.path, inv.args...)
	cmd.Env = append(os.Environ(), inv.env...)
	cmd.Stdin = inv.stdin
	cmd.SysProcAttr = childAttr()
	cmd.Cancel = func() error { return killGroup(cmd.Process, syscall.SIGKILL) }
	// Grandchildren that inherited the pipes are killed with the group;
	// WaitDelay only guards against one that escaped it.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if inv.combined {
		cmd.Stderr = &stdout
	} else {
		cmd.Stderr = &stderr
	}
	err := cmd.Run()
	out := output{stdout: stdout.String(), stderr: stderr.String()}
	name := toolName(inv.path)
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("%s: timed out after %v%s", name, inv.timeout, tailNote(out))
	case err != nil:
		return out, fmt.Errorf("%s: %w%s", name, err, tailNote(out))
	}
	return out, nil
}

// killGroup signals the process group led by p.
func killGroup(p *os.Process, sig syscall.Signal) error {
	if p == nil {
		return nil
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process group %d: %w", p.Pid, err)
	}
	return nil
}

func toolName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// tailNote renders the end of a tool's diagnostics for an error message.
func tailNote(out output) string {
	diag := out.stderr
	if diag == "" {
		diag = out.stdout
	}
	diag = strings.TrimSpace(dropSLF4JNoise(diag))
	if diag == "" {
		return ""
	}
	return "; output:\n" + lastLines(diag, 30)
}

// lastLines returns at most n trailing lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dropSLF4JNoise removes the "SLF4J: ..." warnings that every Debian
// ZooKeeper client JVM prints because no logging binding is on its
// classpath; they say nothing about the command that ran.
func dropSLF4JNoise(s string) string {
	if !strings.Contains(s, "SLF4J: ") {
		return s
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(line, "SLF4J: ") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// lockedBuffer is a bytes.Buffer that a child's output copier can write
// while the test goroutine polls it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
