//go:build !amd64 || purego

package kernels

// hasBF16Dot reports whether backend b may run the AVX512_BF16 kernels:
// never without the amd64 assembly.
func hasBF16Dot(*backend) bool { return false }

// gemmBF16 is never called without the amd64 assembly.
func gemmBF16(kp int, a, b *uint16, c *float32, ldc, load int) {
	panic("kernels: no bf16 micro-kernel in this build")
}

// toBF16 rounds src to bf16 into dst (same length).
func toBF16(_ *backend, dst []uint16, src []float32) { toBF16Generic(dst, src) }

// f16ToBF16 rounds the f16 values of src to bf16 into dst (same length).
func f16ToBF16(_ *backend, dst, src []uint16) { f16ToBF16Generic(dst, src) }

// transposeWords8 is never called without the amd64 assembly (the bf16
// packers run only beside the bf16 micro-kernel).
func transposeWords8(dst []uint32, ldd int, src []uint32, lds, n int) {
	panic("kernels: no word transpose in this build")
}
