package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/zkd-io/zkd/server/fourlw"
)

// runHealthcheck is `zkd healthcheck [-timeout d] [host:port]`: it asks the
// server at host:port (default 127.0.0.1:2181) for `srvr` and succeeds only
// when the server answers with a mode, that is when it serves clients
// (standalone, or leader/follower/observer of an ensemble with a quorum).
// It exists for container healthchecks: the zkd image is FROM scratch, with
// no shell, nc or curl, so the binary probes itself. srvr is used because it
// is the one four-letter word ZooKeeper's default 4lw.commands.whitelist
// allows.
func runHealthcheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "bound on the whole probe, connecting included")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addr := "127.0.0.1:2181"
	switch fs.NArg() {
	case 0:
	case 1:
		addr = fs.Arg(0)
	default:
		return errors.New("healthcheck takes at most one argument, the client address host:port")
	}
	mode, err := probeMode(addr, *timeout)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", addr, err)
	}
	fmt.Fprintf(stdout, "%s: serving, mode %s\n", addr, mode)
	return nil
}

// probeMode sends srvr to addr and returns the Mode line's value.
func probeMode(addr string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	conn, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, "srvr"); err != nil {
		return "", fmt.Errorf("send srvr: %w", err)
	}
	reply, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read the srvr reply: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(reply)))
	for sc.Scan() {
		if mode, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok {
			return mode, nil
		}
	}
	text := strings.TrimSpace(string(reply))
	if strings.Contains(text, fourlw.NotServingMessage) {
		return "", errors.New("not serving (no quorum yet, or still starting)")
	}
	if text == "" {
		return "", errors.New("empty srvr reply (is srvr in 4lw.commands.whitelist?)")
	}
	return "", fmt.Errorf("srvr reply has no Mode line: %q", text)
}
