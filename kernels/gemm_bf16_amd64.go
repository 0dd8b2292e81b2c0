//go:build amd64 && !purego

package kernels

//go:noescape
func gemmBF16x12x32(kp int, a, b *uint16, c *float32, ldc, load int)
