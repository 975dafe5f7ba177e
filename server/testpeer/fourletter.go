package testpeer

import (
	"fmt"
	"io"
	"net"
	"time"
)

// FourLetter sends a ZooKeeper four-letter-word command (ruok, srvr, mntr,
// ...) to addr and returns the complete reply. The server closes the
// connection after answering, so the reply is everything read until EOF.
// timeout bounds the whole exchange, connecting included.
func FourLetter(addr, cmd string, timeout time.Duration) (string, error) {
	if len(cmd) != 4 {
		return "", fmt.Errorf("four-letter word %q: must be exactly 4 bytes long", cmd)
	}
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("four-letter word %s to %s: %w", cmd, addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return "", fmt.Errorf("four-letter word %s to %s: %w", cmd, addr, err)
	}
	if _, err := io.WriteString(conn, cmd); err != nil {
		return "", fmt.Errorf("four-letter word %s to %s: send: %w", cmd, addr, err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		return string(reply), fmt.Errorf("four-letter word %s to %s: read reply: %w", cmd, addr, err)
	}
	return string(reply), nil
}
