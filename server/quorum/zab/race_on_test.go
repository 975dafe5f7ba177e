//go:build race

package zab

// raceEnabled shrinks the default simulator run: the race detector makes
// it about ten times slower and the core has no concurrency to check.
const raceEnabled = true
