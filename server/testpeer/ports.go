package testpeer

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
)

// FreePort returns a TCP port on host that was free a moment ago. It binds
// port 0, reads the port the kernel chose and releases it, so a parallel
// process could in principle grab it before the caller does; StartApacheZK
// retries when that happens to ports it picked itself. Within one test
// process it never returns a port twice for a host: the kernel may hand a
// just-released port out again at once, and a member's client, quorum and
// election ports would then be one port (Apache refuses such a config).
func FreePort(t testing.TB, host string) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("testpeer: find a free port on %q: %v", host, err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		key := net.JoinHostPort(host, strconv.Itoa(port))
		if !handedOut.ports[key] {
			handedOut.ports[key] = true
			return port
		}
	}
	t.Fatalf("testpeer: no port on %q that was not handed out already, in 100 tries", host)
	return 0
}

// handedOut is the ports FreePort returned in this process, by address.
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

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

// LoopbackBlock returns n for LoopbackHost(n+1) .. LoopbackHost(n+254):
// a /24 of loopback addresses, 127.<process>.<random>.0, for the peers of
// one test. go test runs the packages' test binaries in parallel, and a
// port FreePort saw free on an address another binary also uses can be
// taken before the server binds it; with a block of its own per process
// and test, no other binary listens on those addresses. 127.0.0.x, where
// fixed-address tests and unbound client sockets live, is never returned.
func LoopbackBlock() int {
	a := os.Getpid()%250 + 1
	b := rand.IntN(250) + 1
	return a<<16 | b<<8
}
