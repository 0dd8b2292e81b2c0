//go:build race

package engine_test

// raceEnabled reports a -race build, where sync.Pool drops items on purpose
// (so pooled scratch is allocated again).
const raceEnabled = true
