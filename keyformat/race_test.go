//go:build race

package keyformat

// raceEnabled is set under the race detector, which makes sync.Pool drop
// items at random, so pooled paths allocate.
const raceEnabled = true
