//go:build amd64 && !purego

package kernels

//go:noescape
func qgemm4x16VNNI(out *float32, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int)

//go:noescape
func qgemm4x32VNNI(out *float32, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int)

// qgemm4Z is the qgemmKernel of the avx512 backend (see qgemm_amd64.s).
func qgemm4Z(out []float32, w []byte, cols int, ws []float32, groups, gb int, a, a2 []byte, blocks int) {
	if blocks <= 0 || gb <= 0 {
		clear(out[:qgRows*qgTile])
		return
	}
	_ = w[(qgRows-1)*cols+blocks*q8Block-1]
	_ = ws[(qgRows-1)*groups+(blocks-1)/gb]
	_ = a[blocks*qgBlockBytes-1]
	if a2 == nil {
		_ = out[qgRows*qgTile-1]
		qgemm4x16VNNI(&out[0], &w[0], cols, &ws[0], groups, gb, &a[0], nil, blocks)
		return
	}
	_ = a2[blocks*qgBlockBytes-1]
	_ = out[qgRows*2*qgTile-1]
	qgemm4x32VNNI(&out[0], &w[0], cols, &ws[0], groups, gb, &a[0], &a2[0], blocks)
}
