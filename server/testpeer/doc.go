// Package testpeer runs real Apache ZooKeeper 3.8 servers and real ZooKeeper
// clients (zkCli.sh, the C client cli_mt, Python kazoo, the Apache
// persistence tools) from Go tests.
//
// zkd claims to be a drop-in replacement for Apache ZooKeeper, and the only
// convincing evidence of that is running the same scenario against both and
// comparing what real clients see. This package owns the mechanics of doing
// so: picking free ports, writing zoo.cfg, starting and reaping JVMs, feeding
// interactive command-line clients, and bounding every step with a timeout so
// a wedged peer fails a test instead of hanging it.
//
// Everything here is meant to be called from _test.go files only. Helpers
// that take a testing.TB fail the test (t.Fatal) when a tool is missing and
// must therefore be called from the test's own goroutine. The tools come from
// Debian bookworm packages (see README.md and `make deps`).
package testpeer
