package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/fourlw"
)

// fakeSrvr answers every connection's srvr with reply, as a server would.
func fakeSrvr(t *testing.T, reply string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err == nil && string(buf) == "srvr" {
				_, _ = io.WriteString(c, reply)
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

func TestHealthcheck(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	tests := []struct {
		name    string
		addr    string
		wantOut string // on success
		wantErr string // on failure
	}{
		{"standalone", fakeSrvr(t, "Zookeeper version: 3.8.4\nZxid: 0x0\nMode: standalone\nNode count: 5\n"), "serving, mode standalone", ""},
		{"follower", fakeSrvr(t, "Zookeeper version: 3.8.4\nMode: follower\n"), "serving, mode follower", ""},
		{"no quorum", fakeSrvr(t, fourlw.NotServingMessage+"\n"), "", "not serving"},
		{"not whitelisted", fakeSrvr(t, ""), "", "empty srvr reply"},
		{"no server", closedAddr, "", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run([]string{"healthcheck", "-timeout", "5s", tt.addr}, &out, &errOut)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("healthcheck %s: error %v, want one containing %q", tt.addr, err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("healthcheck %s: %v, output %q, want %q", tt.addr, err, out.String(), tt.wantOut)
			}
		})
	}
	if err := run([]string{"healthcheck", "a:1", "b:2"}, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck with two addresses: no error")
	}
}
