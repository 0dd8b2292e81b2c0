//go:build amd64 && !purego

package kernels

//go:noescape
func transpose8F32(dst *float32, ldd int, src *float32, lds, n int)

//go:noescape
func transpose8F16(dst *float32, ldd int, src *uint16, lds, n int)

//go:noescape
func transpose8BF16(dst *float32, ldd int, src *uint16, lds, n int)

// packW8AVX2 packs 8 weight rows starting at row r, columns k0..k0+n-1 (n a
// multiple of 8), into wp[c*nr + i] (wp already offset to the rows' first
// column slot). q8 rows are first widened into rowBuf (8*n floats).
func packW8AVX2(w *Matrix, wp []float32, nr, r, k0, n int, rowBuf []float32) {
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
	case Q8:
		for i := 0; i < 8; i++ {
			dequantRow(rowBuf[i*n:(i+1)*n], w.Q8[off+i*k:off+i*k+n], w.Scale[r+i])
		}
		transpose8F32(&wp[0], nr, &rowBuf[0], n, n)
	}
}
