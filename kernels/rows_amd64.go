//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func scaleMulAVX512(dst, x, w *float32, n int, s float32)

// hasAVX512F enables the AVX-512 forms of the small passes a batched decode
// step runs alone between its parallel calls (RMSNorm's scaling, RoPE).
var hasAVX512F = cpu.X86.HasAVX512F

// scaleMul sets dst[i] = x[i] * s * w[i] (scaleMulGeneric, with AVX-512
// when the CPU has it).
func scaleMul(dst, x, w []float32, s float32) {
	if !hasAVX512F || len(dst) == 0 {
		scaleMulGeneric(dst, x, w, s)
		return
	}
	_, _ = x[len(dst)-1], w[len(dst)-1]
	scaleMulAVX512(&dst[0], &x[0], &w[0], len(dst), s)
}
