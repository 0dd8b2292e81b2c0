//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func streamReadAVX2(p *byte, n int) uint64

// streamRead reads every byte of p once, sequentially, as fast as the CPU
// allows, and returns their bitwise OR folded to 64 bits (so the reads
// cannot be skipped). It is the memory roofline that the weight-streaming
// benchmarks are compared with.
func streamRead(p []byte) uint64 {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasOSXSAVE {
		return streamReadGeneric(p)
	}
	n := len(p) &^ 255
	var acc uint64
	if n > 0 {
		acc = streamReadAVX2(&p[0], n)
	}
	return acc | streamReadGeneric(p[n:])
}
