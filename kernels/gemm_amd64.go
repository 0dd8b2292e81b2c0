//go:build amd64 && !purego

package kernels

//go:noescape
func gemm12x32AVX512(k int, a, b, c *float32, ldb, ldc, load int)

//go:noescape
func gemm6x16AVX2(k int, a, b, c *float32, ldb, ldc, load int)
