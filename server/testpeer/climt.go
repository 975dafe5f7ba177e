package testpeer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds for one cli_mt session.
const (
	cliMtConnectTimeout = 15 * time.Second // until the session is established
	cliMtReplyTimeout   = 10 * time.Second // per command awaiting a completion
	cliMtExitTimeout    = 10 * time.Second // after "quit"
	// cliMtSettle is how long output must stay unchanged after a completion
	// callback starts printing before the next command is sent: a callback
	// prints its result in several writes from the client's completion thread.
	cliMtSettle = 50 * time.Millisecond
	cliMtPoll   = 5 * time.Millisecond
)

// cliMtRC marks the line every cli_mt completion callback prints
// ("/a: rc = 0", "[/a]: rc = 0", "/a: rc = 0 Stat:").
const cliMtRC = ": rc = "

// cliMtSessionUp is printed by cli_mt's watcher once the session exists.
const cliMtSessionUp = "Got a new session id: "

// RunCliMt drives an interactive cli_mt session (the ZooKeeper C client's
// shell) against server (host:port) and returns its stdout and stderr
// interleaved.
//
// cli_mt reads commands from stdin but issues most of them asynchronously
// and prints results from a completion thread, mostly on stderr; at "quit"
// or end of input it closes the session at once and drops pending replies.
// So this helper waits for the session, then sends one command at a time
// and, for commands answered by a completion callback (get, set, ls, ls2,
// create, create2, delete, sync, config, reconfig, with or without the "a"
// prefix), waits for the callback's "rc = N" line (or the synchronous error
// cli_mt prints instead) before sending the next. Other commands (exists,
// wexists, myid, addauth, ...) complete synchronously and print little or
// nothing. A final "quit" is sent unless the script ends with one.
//
// Note that cli_mt's create always stores the data "new", that watches set
// by get/ls/exists print "Watcher ..." lines whenever they fire, and that
// "myid" prints on stdout, which cli_mt buffers until it exits.
func RunCliMt(t testing.TB, server string, commands ...string) (string, error) {
	t.Helper()
	for _, c := range commands {
		if strings.ContainsAny(c, "\r\n") {
			return "", fmt.Errorf("cli_mt: command %q contains a line break", c)
		}
	}
	cmd := exec.Command(CliMt(t), "-h", server)
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", fmt.Errorf("cli_mt: stdin pipe: %w", err)
	}
	var out lockedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("cli_mt: start: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	s := &cliMtSession{out: &out, exited: exited}
	if err := s.drive(stdin, commands); err != nil {
		_ = killGroup(cmd.Process, syscall.SIGKILL)
		<-exited
		return out.String(), fmt.Errorf("cli_mt against %s: %w; output:\n%s", server, err, lastLines(out.String(), 30))
	}
	select {
	case <-exited:
	default:
		// Only a CLI wedged in its own auth-failure shutdown gets here
		// (see drive): it has printed all it will print.
		_ = killGroup(cmd.Process, syscall.SIGKILL)
		<-exited
		return out.String(), nil
	}
	if waitErr != nil {
		return out.String(), fmt.Errorf("cli_mt against %s: %w; output:\n%s", server, waitErr, lastLines(out.String(), 30))
	}
	return out.String(), nil
}

// cliMtSession paces commands into a running cli_mt.
type cliMtSession struct {
	out    *lockedBuffer
	exited <-chan struct{}
}

var errCliMtExited = errors.New("cli_mt exited early")

func (s *cliMtSession) drive(stdin io.WriteCloser, commands []string) error {
	if err := s.waitFor(func(o string) bool { return strings.Contains(o, cliMtSessionUp) }, cliMtConnectTimeout); err != nil {
		return fmt.Errorf("waiting for a session: %w", err)
	}
	quit := false
	for _, c := range commands {
		before := s.out.String()
		if _, err := io.WriteString(stdin, c+"\n"); err != nil {
			return fmt.Errorf("send %q: %w", c, err)
		}
		if cliMtIsQuit(c) {
			quit = true
			break
		}
		if !cliMtAwaitsCompletion(c) {
			continue
		}
		rcBefore := strings.Count(before, cliMtRC)
		answered := func(o string) bool {
			return strings.Count(o, cliMtRC) > rcBefore || cliMtRejected(o[len(before):])
		}
		if err := s.waitFor(answered, cliMtReplyTimeout); err != nil {
			return fmt.Errorf("command %q: %w", c, err)
		}
		s.settle()
	}
	// After an auth failure cli_mt's own watcher calls zookeeper_close
	// from the completion thread. A "quit" racing with it makes the main
	// thread close the handle too, and the sample CLI can deadlock in that
	// double close whatever the server did. So in that state send no
	// quit, and a CLI that then hangs has still done all it will do.
	authShutdown := func() bool { return strings.Contains(s.out.String(), cliMtAuthShutdown) }
	s.settle()
	if !quit && !authShutdown() {
		if _, err := io.WriteString(stdin, "quit\n"); err != nil {
			return fmt.Errorf("send quit: %w", err)
		}
	}
	// cmd.Wait closes stdin once cli_mt has exited on its own.
	if err := stdin.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close stdin: %w", err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(cliMtExitTimeout):
		if authShutdown() {
			return nil // the caller's cleanup kills the process
		}
		return fmt.Errorf("did not exit within %v of quit", cliMtExitTimeout)
	}
}

// cliMtAuthShutdown is what cli_mt prints when its watcher sees
// AUTH_FAILED_STATE and closes the handle itself.
const cliMtAuthShutdown = "Authentication failure. Shutting down..."

// waitFor polls the output until cond holds, cli_mt exits or timeout passes.
func (s *cliMtSession) waitFor(cond func(string) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond(s.out.String()) {
			return nil
		}
		select {
		case <-s.exited:
			if cond(s.out.String()) {
				return nil
			}
			return errCliMtExited
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no reply within %v", timeout)
		}
		time.Sleep(cliMtPoll)
	}
}

// settle waits until the output has stopped growing for cliMtSettle
// (bounded), so a callback's multi-line result is complete.
func (s *cliMtSession) settle() {
	last, since := s.out.String(), time.Now()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		time.Sleep(cliMtPoll)
		if o := s.out.String(); o != last {
			last, since = o, time.Now()
		} else if time.Since(since) >= cliMtSettle {
			return
		}
	}
}

// cliMtIsQuit reports whether cli_mt stops at command c.
func cliMtIsQuit(c string) bool { return strings.HasPrefix(c, "quit") }

// cliMtAwaitsCompletion reports whether cli_mt answers c from a completion
// callback (which prints an "rc = N" line) rather than synchronously. A
// leading "a" only asks for the asynchronous API and is stripped, as cli_mt
// itself does, except in "addauth".
func cliMtAwaitsCompletion(c string) bool {
	if strings.HasPrefix(c, "a") && !strings.HasPrefix(c, "addauth ") {
		c = c[1:]
	}
	if c == "config" {
		return true
	}
	for _, p := range []string{"get ", "set ", "ls ", "ls2 ", "create ", "create2 ", "delete ", "sync ", "reconfig "} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

// cliMtRejected reports whether out contains one of the messages cli_mt
// prints when it rejects a command before sending it, in which case no
// completion will follow.
func cliMtRejected(out string) bool {
	for _, line := range strings.Split(out, "\n") {
		for _, p := range []string{
			"Path must start with /",
			"No data found after path",
			"Error ", // "Error <rc> for <path>": the client library refused the call
			"Invalid mode.",
			"Unknown option: ",
			"Missing ttl value",
			"ttl value must be",
		} {
			if strings.HasPrefix(line, p) {
				return true
			}
		}
	}
	return false
}
