//go:build arm64 && !purego

package kernels

// registerArch adds the NEON backend (every arm64 CPU has NEON).
func registerArch() {
	backends = append(backends, neon)
}

var neon = &backend{
	name:       "neon",
	dot:        dotN,
	axpy:       axpyN,
	matVecF32:  matVecF32N,
	matVecF16:  matVecF16N,
	matVecBF16: matVecBF16N,
	matVecQ8:   matVecQ8N,
	matVecQ8G:  matVecQ8GGeneric,
	matVecQ4:   matVecQ4Generic,
	f16ToF32:   f16ToF32N,
	bf16ToF32:  bf16ToF32N,
	f32ToF16:   f32ToF16Generic,
	wsumF32:    wsumF32N,
	wsumF16:    wsumF16Generic,
	scale:      scaleGeneric,
	softmax:    softmaxGeneric,
	siluMul:    siluMulGeneric,
	geluTanh:   geluTanhGeneric,
	gemm:       &gemmKernel{mr: 6, nr: 16, fn: gemm6x16NEON},
}
