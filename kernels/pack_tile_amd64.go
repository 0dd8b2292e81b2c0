//go:build amd64 && !purego

package kernels

//go:noescape
func packTileRowAVX512(tile *byte, q *byte, ls *float32, blocks, lane int, off int32)

// packTileRow is packTileRowGeneric, with AVX-512 (VL, BW) when the CPU
// has it: the scalar Go version costs about a third of a batched decode
// step's serial work between two parallel calls.
func packTileRow(tile, q []byte, ls []float32, lane int, off int32) {
	blocks := len(q) / q8Block
	if !qgemmPrepSIMD || blocks == 0 {
		packTileRowGeneric(tile, q, ls, lane, off)
		return
	}
	_ = tile[(blocks-1)*qgBlockBytes+576+lane+3]
	_ = ls[(blocks-1)*q8Block/4]
	if lane < 0 || lane > qgBlockBytes/10-4 {
		panic("kernels: packTileRow lane out of range")
	}
	packTileRowAVX512(&tile[0], &q[0], &ls[0], blocks, lane, off)
}
