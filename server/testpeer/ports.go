package testpeer

import (
	"fmt"
	"net"
	"strconv"
	"testing"
)

// FreePort returns a TCP port on host that was free a moment ago. It binds
// port 0, reads the port the kernel chose and releases it, so a parallel
// process could in principle grab it before the caller does; StartApacheZK
// retries when that happens to ports it picked itself.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("testpeer: find a free port on %q: %v", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LoopbackHost returns the n-th loopback address: 127.0.0.n for n in
// [1, 255], continuing into the higher octets of 127.0.0.0/8 beyond that.
// Linux answers on the whole 127/8 block without configuration, so distinct
// peers of a test ensemble can share port numbers yet stay distinguishable by
// address. n outside [1, 2^24-2] is a programming error and panics.
func LoopbackHost(n int) string {
	if n < 1 || n > 1<<24-2 {
		panic(fmt.Sprintf("testpeer.LoopbackHost(%d): n must be in [1, %d]", n, 1<<24-2))
	}
	return "127." + strconv.Itoa(n>>16&0xff) + "." + strconv.Itoa(n>>8&0xff) + "." + strconv.Itoa(n&0xff)
}
