//go:build amd64 && !purego

package kernels

//go:noescape
func transpose8F32(dst *float32, ldd int, src *float32, lds, n int)

//go:noescape
func transpose8F16(dst *float32, ldd int, src *uint16, lds, n int)

//go:noescape
func transpose8BF16(dst *float32, ldd int, src *uint16, lds, n int)

// packW8AVX2 packs 8 float weight rows starting at row r, columns
// k0..k0+n-1 (n a multiple of 8), into wp[c*nr + i] (wp already offset to
// the rows' first column slot).
func packW8AVX2(w *Matrix, wp []float32, nr, r, k0, n int, _ []float32) {
	k := w.Cols
	off := r*k + k0
	_ = wp[(n-1)*nr+7]
	switch w.Type {
	case F32:
		_ = w.F32[off+7*k+n-1]
		transpose8F32(&wp[0], nr, &w.F32[off], k, n)
	case F16:
		_ = w.Half[off+7*k+n-1]
		transpose8F16(&wp[0], nr, &w.Half[off], k, n)
	case BF16:
		_ = w.Half[off+7*k+n-1]
		transpose8BF16(&wp[0], nr, &w.Half[off], k, n)
	default:
		panic("kernels: packW8AVX2 of " + w.Type.String())
	}
}

// transpose8AVX2 stores 8 rows of n floats (src[i*lds+c], n a multiple of
// 8) as wp[c*nr + i].
func transpose8AVX2(wp []float32, nr int, src []float32, lds, n int) {
	_ = wp[(n-1)*nr+7]
	_ = src[7*lds+n-1]
	transpose8F32(&wp[0], nr, &src[0], lds, n)
}
