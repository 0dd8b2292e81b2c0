//go:build arm64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// registerArch adds the NEON backend (every arm64 CPU has NEON) and, if the
// CPU has the ARMv8.2 dot product instructions (SDOT), neondot: the same
// with SDOT kernels for grouped int8 and int4 weights.
func registerArch() {
	backends = append(backends, neon)
	if cpu.ARM64.HasASIMDDP {
		backends = append(backends, neonDot)
	}
}

// neonDot is neon with the SDOT kernels.
var neonDot = func() *backend {
	b := *neon
	b.name = "neondot"
	b.matVecQ8G = matVecQ8GNDot
	b.matVecQ4 = matVecQ4NDot
	return &b
}()

var neon = &backend{
	name:       "neon",
	dot:        dotN,
	axpy:       axpyN,
	matVecF32:  matVecF32N,
	matVecF16:  matVecF16N,
	matVecBF16: matVecBF16N,
	matVecQ8:   matVecQ8N,
	matVecQ8G:  matVecQ8GNMul,
	matVecQ4:   matVecQ4NMul,
	layouts:    layoutsN,
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
