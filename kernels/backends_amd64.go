//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// registerArch adds the amd64 SIMD backends the CPU supports: avx2 (AVX2,
// FMA, F16C) and avx512 (F, BW, VL, DQ, and VNNI for int8).
func registerArch() {
	x := cpu.X86
	if !x.HasAVX2 || !x.HasFMA || !x.HasF16C || !x.HasOSXSAVE {
		return
	}
	backends = append(backends, avx2)
	if x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512DQ && x.HasAVX512VNNI {
		backends = append(backends, avx512)
	}
}

var avx2 = &backend{
	name:       "avx2",
	dot:        dotY,
	axpy:       axpyY,
	matVecF32:  matVecF32Y,
	matVecF16:  matVecF16Y,
	matVecBF16: matVecBF16Y,
	matVecQ8:   matVecQ8Y,
	quantizeQ8: quantizeQ8Generic,
	matVecQ8G:  matVecQ8GY,
	matVecQ4:   matVecQ4Y,
	layouts:    layoutsY,
	f16ToF32:   f16ToF32Y,
	bf16ToF32:  bf16ToF32Y,
	f32ToF16:   f32ToF16Y,
	gemm:       &gemmKernel{mr: 6, nr: 16, fn: gemm6x16AVX2},
	packW8:     packW8AVX2,
	transpose8: transpose8AVX2,
	wsumF32:    wsumF32Y,
	wsumF16:    wsumF16Y,
	scale:      scaleGeneric,
	softmax:    softmaxY,
	siluMul:    siluMulY,
	geluTanh:   geluTanhY,
}

var avx512 = &backend{
	name:       "avx512",
	dot:        dotZ,
	axpy:       axpyZ,
	matVecF32:  matVecF32Z,
	matVecF16:  matVecF16Z,
	matVecBF16: matVecBF16Z,
	matVecQ8:   matVecQ8Z,
	quantizeQ8: quantizeQ8Z,
	matVecQ8G:  matVecQ8GZ,
	matVecQ4:   matVecQ4Z,
	layouts:    layoutsZ,
	f16ToF32:   f16ToF32Z,
	bf16ToF32:  bf16ToF32Z,
	f32ToF16:   f32ToF16Z,
	gemm:       &gemmKernel{mr: 12, nr: 32, fn: gemm12x32AVX512},
	qgemm:      qgemm4Z,
	qgemm8:     qgemm8Z,
	qgemm16:    qgemm16Z,
	packW8:     packW8AVX2,
	transpose8: transpose8AVX2,
	wsumF32:    wsumF32Z,
	wsumF16:    wsumF16Z,
	group:      groupAVX512,

	quantizeQ8Row: quantizeQ8RowZ,
	add:           addZ,
	scale:         scaleZ,
	softmax:       softmaxZ,
	siluMul:       siluMulZ,
	geluTanh:      geluTanhZ,
}
