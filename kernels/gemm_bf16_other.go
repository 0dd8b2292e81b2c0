//go:build !amd64 || purego

package kernels

// hasBF16Dot reports whether backend b may run the AVX512_BF16 kernels:
// never without the amd64 assembly.
func hasBF16Dot(*backend) bool { return false }

// gemmBF16 is never called without the amd64 assembly.
func gemmBF16(kp int, a, b *uint16, c *float32, ldc, load int) {
	panic("kernels: no bf16 micro-kernel in this build")
}
