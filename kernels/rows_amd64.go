//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func addAVX512(dst, a, b *float32, n int)

//go:noescape
func scaleMulAVX512(dst, x, w *float32, n int, s float32)

// rowsSIMD: the element-wise passes between a batched decode step's
// parallel calls (residual adds, RMSNorm's scaling) run in AVX-512.
var rowsSIMD = cpu.X86.HasAVX512F

// add sets dst = a + b (addGeneric, with AVX-512 when the CPU has it).
func add(dst, a, b []float32) {
	if !rowsSIMD || len(dst) == 0 {
		addGeneric(dst, a, b)
		return
	}
	_, _ = a[len(dst)-1], b[len(dst)-1]
	addAVX512(&dst[0], &a[0], &b[0], len(dst))
}

// scaleMul sets dst[i] = x[i] * s * w[i] (scaleMulGeneric, with AVX-512
// when the CPU has it).
func scaleMul(dst, x, w []float32, s float32) {
	if !rowsSIMD || len(dst) == 0 {
		scaleMulGeneric(dst, x, w, s)
		return
	}
	_, _ = x[len(dst)-1], w[len(dst)-1]
	scaleMulAVX512(&dst[0], &x[0], &w[0], len(dst), s)
}
