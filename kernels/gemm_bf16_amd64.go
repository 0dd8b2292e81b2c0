//go:build amd64 && !purego

package kernels

import (
	"github.com/cellm-ai/cellm-go/internal/half"
	"golang.org/x/sys/cpu"
)

//go:noescape
func gemmBF16x12x32R(kp int, a *uint16, lda int, b *uint16, c *float32, ldc, load int, bias *float32)

// hasBF16Dot reports whether backend b may run the AVX512_BF16 kernels.
func hasBF16Dot(b *backend) bool {
	return b == avx512 && cpu.X86.HasAVX512BF16
}

// gemmBF16R runs the AVX512_BF16 micro-kernel on bf16 rows of A (see
// gemmBF16x12x32R); bias is nil or 32 floats added to every row.
func gemmBF16R(kp int, a *uint16, lda int, b *uint16, c *float32, ldc, load int, bias *float32) {
	gemmBF16x12x32R(kp, a, lda, b, c, ldc, load, bias)
}

//go:noescape
func packPairs16(dst *uint32, src *uint16, ld, blocks, f16 int)

// packRows16 packs rows r..r+15 of the bf16 or f16 matrix w into the pair
// panel dst (pair p of row r+i at dst[p*32+i], f16 rounded to bf16) for
// the largest multiple of 16 pairs within w.Cols, with AVX-512 where
// backend b has AVX512_BF16, and returns how many pairs it packed (0
// without the instructions).
func packRows16(b *backend, dst []uint32, w *Matrix, r int) int {
	pairs := w.Cols / 2 &^ 15
	if !hasBF16Dot(b) || pairs == 0 {
		return 0
	}
	_ = dst[(pairs-1)*bf16NR+15]
	_ = w.Half[(r+16)*w.Cols-1]
	f16 := 0
	if w.Type == F16 {
		f16 = 1
	}
	packPairs16(&dst[0], &w.Half[r*w.Cols], w.Cols, pairs/16, f16)
	return pairs
}

//go:noescape
func pairRowsBF16(dst *uint32, a, b *float32, n int)

// pairRows stores bf16(a[j]) | bf16(b[j])<<16 at dst[j] for j < len(a)
// with AVX-512 where backend b has AVX512_BF16 and len(a) is a multiple of
// 16, and reports whether it did.
func pairRows(be *backend, dst []uint32, a, b []float32) bool {
	n := len(a)
	if !hasBF16Dot(be) || n == 0 || n%16 != 0 {
		return false
	}
	_, _ = dst[n-1], b[n-1]
	pairRowsBF16(&dst[0], &a[0], &b[0], n)
	return true
}

//go:noescape
func cvtScaleBF16x32(dst *uint16, src *float32, n int, s float32)

// softmaxBF16 computes the soft-max of row in f32 (row is overwritten by
// the exponentials) and stores it rounded to bf16 at dst (same length, at
// least 1): the bits of Softmax then toBF16, the scaling and the rounding
// fused in one pass where backend b has AVX512_BF16.
func softmaxBF16(b *backend, dst []uint16, row []float32) {
	if !hasBF16Dot(b) {
		softmaxBF16Generic(b, dst, row)
		return
	}
	dst = dst[:len(row)]
	m := maxAVX512(&row[0], len(row))
	s := 1 / expSubSumAVX512(&row[0], len(row), m)
	n := len(row) &^ 31
	if n > 0 {
		cvtScaleBF16x32(&dst[0], &row[0], n, s)
	}
	for i := n; i < len(row); i++ {
		dst[i] = half.F32ToBF16(row[i] * s)
	}
}

//go:noescape
func cvtBF16x32(dst *uint16, src *float32, n int)

// toBF16 rounds src to bf16 into dst (same length), with VCVTNE2PS2BF16
// where backend b has AVX512_BF16 (denormals flush to zero there).
func toBF16(b *backend, dst []uint16, src []float32) {
	n := 0
	if hasBF16Dot(b) {
		n = len(src) &^ 31
		if n > 0 {
			cvtBF16x32(&dst[0], &src[0], n)
		}
	}
	toBF16Generic(dst[n:], src[n:])
}

//go:noescape
func cvtF16BF16x32(dst, src *uint16, n int)

// f16ToBF16 rounds the f16 values of src to bf16 into dst (same length),
// with VCVTPH2PS and VCVTNE2PS2BF16 where backend b has AVX512_BF16.
func f16ToBF16(b *backend, dst, src []uint16) {
	n := 0
	if hasBF16Dot(b) {
		n = len(src) &^ 31
		if n > 0 {
			cvtF16BF16x32(&dst[0], &src[0], n)
		}
	}
	f16ToBF16Generic(dst[n:], src[n:])
}
