//go:build amd64 && !purego

package kernels

//go:noescape
func ropeAVX512(x *float32, heads, headDim int, cos, sin *float32)

// ropeHeads is ropeGeneric, with AVX-512 when the CPU has it and half a
// head is a multiple of 16 values: the scalar loop costs more than any
// other serial pass of a batched decode step (about 1 µs per row of
// SmolLM2-135M).
func ropeHeads(x []float32, nHeads, headDim int, cos, sin []float32) {
	half := headDim / 2
	if !hasAVX512F || nHeads == 0 || half == 0 || half%16 != 0 {
		ropeGeneric(x, nHeads, headDim, cos, sin)
		return
	}
	_ = x[nHeads*headDim-1]
	_, _ = cos[half-1], sin[half-1]
	ropeAVX512(&x[0], nHeads, headDim, &cos[0], &sin[0])
}
