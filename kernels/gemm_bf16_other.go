//go:build !amd64 || purego

package kernels

// hasBF16Dot reports whether backend b may run the AVX512_BF16 kernels:
// never without the amd64 assembly.
func hasBF16Dot(*backend) bool { return false }

// gemmBF16R is never called without the amd64 assembly.
func gemmBF16R(kp int, a *uint16, lda int, b *uint16, c *float32, ldc, load int, bias *float32) {
	panic("kernels: no bf16 micro-kernel in this build")
}

// packRows16 packs nothing without the amd64 assembly (see packWBF16).
func packRows16(*backend, []uint32, *Matrix, int) int { return 0 }

// pairRows does nothing without the amd64 assembly (see attnBF16PackJob).
func pairRows(*backend, []uint32, []float32, []float32) bool { return false }

// softmaxBF16 is softmaxBF16Generic.
func softmaxBF16(b *backend, dst []uint16, row []float32) { softmaxBF16Generic(b, dst, row) }

// toBF16 rounds src to bf16 into dst (same length).
func toBF16(_ *backend, dst []uint16, src []float32) { toBF16Generic(dst, src) }

// f16ToBF16 rounds the f16 values of src to bf16 into dst (same length).
func f16ToBF16(_ *backend, dst, src []uint16) { f16ToBF16Generic(dst, src) }
