//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func gemmBF16x12x32(kp int, a, b *uint16, c *float32, ldc, load int)

// hasBF16Dot reports whether backend b may run the AVX512_BF16 kernels.
func hasBF16Dot(b *backend) bool {
	return b == avx512 && cpu.X86.HasAVX512BF16
}

// gemmBF16 runs the AVX512_BF16 micro-kernel (see gemmBF16x12x32).
func gemmBF16(kp int, a, b *uint16, c *float32, ldc, load int) {
	gemmBF16x12x32(kp, a, b, c, ldc, load)
}
