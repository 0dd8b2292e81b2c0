//go:build !amd64 || purego

package kernels

// streamRead reads every byte of p once, sequentially, and returns their
// bitwise OR folded to 64 bits (so the reads cannot be skipped). It is the
// memory roofline that the weight-streaming benchmarks are compared with.
func streamRead(p []byte) uint64 { return streamReadGeneric(p) }
