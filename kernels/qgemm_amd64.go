//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

//go:noescape
func qgemm4x16VNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)

//go:noescape
func qgemm4x32VNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)

//go:noescape
func qgemm4x16RawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)

//go:noescape
func qgemm4x32RawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)

//go:noescape
func qgemm4x16RowVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)

//go:noescape
func qgemm4x32RowVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)

//go:noescape
func qgemm4x16RowRawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)

//go:noescape
func qgemm4x32RowRawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a, a2 *byte, blocks int, pf *byte, pfstep int)

// qgemm4Z is the qgemmKernel of the avx512 backend (see qgemm_amd64.s).
func qgemm4Z(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a, a2 []byte, blocks int, pf []byte) {
	_ = w[(qgRows-1)*cols+blocks*q8Block-1]
	// The kernels prefetch 128 bytes per block, advancing pfs: pf spread
	// over the blocks (or w's first lines again, already in cache). The
	// next four rows take 128 (int8) or 64 (int4) bytes per block.
	pfp, pfs := &w[0], 0
	if len(pf) > 0 {
		pfp, pfs = &pf[0], (len(pf)+blocks-1)/blocks
	}
	_ = ws[(qgRows-1)*groups+(blocks-1)/gb]
	_ = a[blocks*qgBlockBytes-1]
	var a2p *byte // the second tile, if any
	if a2 == nil {
		_ = y[(qgTile-1)*ldy+qgRows-1]
	} else {
		_ = a2[blocks*qgBlockBytes-1]
		_ = y[(2*qgTile-1)*ldy+qgRows-1]
		a2p = &a2[0]
	}
	yp, wp, wsp, ap := &y[0], &w[0], &ws[0], &a[0]
	// Rows with one weight scale each (gb >= blocks) take the Row kernels.
	row, two := gb >= blocks, a2 != nil
	switch {
	case row && raw && two:
		qgemm4x32RowRawVNNI(yp, ldy, wp, cols, wsp, groups, gb, ap, a2p, blocks, pfp, pfs)
	case row && raw:
		qgemm4x16RowRawVNNI(yp, ldy, wp, cols, wsp, groups, gb, ap, nil, blocks, pfp, pfs)
	case row && two:
		qgemm4x32RowVNNI(yp, ldy, wp, cols, wsp, groups, gb, ap, a2p, blocks, pfp, pfs)
	case row:
		qgemm4x16RowVNNI(yp, ldy, wp, cols, wsp, groups, gb, ap, nil, blocks, pfp, pfs)
	case raw && two:
		qgemm4x32RawVNNI(yp, ldy, wp, cols, wsp, groups, gb, ap, a2p, blocks, pfp, pfs)
	case raw:
		qgemm4x16RawVNNI(yp, ldy, wp, cols, wsp, groups, gb, ap, nil, blocks, pfp, pfs)
	case two:
		qgemm4x32VNNI(yp, ldy, wp, cols, wsp, groups, gb, ap, a2p, blocks, pfp, pfs)
	default:
		qgemm4x16VNNI(yp, ldy, wp, cols, wsp, groups, gb, ap, nil, blocks, pfp, pfs)
	}
}

//go:noescape
func qgemmXor80AVX512(dst, src *byte, n int)

//go:noescape
func qgemmNibblesAVX512(dst, src *byte, n int, idx *uint64)

// qgemmNibbleIdx are the VPERMT2Q indices of qgemmNibblesAVX512: 16-byte
// chunk c of the low nibbles (qwords 2c, 2c+1 of the first table), then of
// the high ones (8+2c, 8+2c+1).
var qgemmNibbleIdx = [16]uint64{0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15}

var qgemmPrepSIMD = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL

// xor80 sets dst[i] = src[i] ^ 0x80; len(src) is a multiple of 32.
func xor80(dst, src []byte) {
	if !qgemmPrepSIMD || len(src) == 0 {
		xor80Generic(dst, src)
		return
	}
	_ = dst[len(src)-1]
	qgemmXor80AVX512(&dst[0], &src[0], len(src))
}

// nibbles unpacks int4 blocks (see qgemmPrepQ4); len(src) is a multiple of
// 16.
func nibbles(dst, src []byte) {
	if !qgemmPrepSIMD || len(src) == 0 {
		nibblesGeneric(dst, src)
		return
	}
	_ = dst[2*len(src)-1]
	qgemmNibblesAVX512(&dst[0], &src[0], len(src), &qgemmNibbleIdx[0])
}

//go:noescape
func qgemm8x8VNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a *byte, blocks int, pf *byte, pfstep int, idx *uint32)

//go:noescape
func qgemm8x8RawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a *byte, blocks int, pf *byte, pfstep int, idx *uint32)

// qgemm8Idx are the VPERMT2PS indices of the 8-row kernels' store: for
// input rows 0..3, then 4..7, each one's results of weight rows 0..3 from
// the accumulators of pairs 0 and 1 (row 2p in lane i, 2p+1 in lane 8+i).
var qgemm8Idx = func() (idx [32]uint32) {
	for j := range 16 {
		for h := range 2 {
			i := uint32(4*h + j/4)
			idx[16*h+j] = [4]uint32{i, i + 8, 16 + i, 24 + i}[j%4]
		}
	}
	return idx
}()

// qgemm8Z is the qgemm8Kernel of the avx512 backend (see qgemm_amd64.s).
func qgemm8Z(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a []byte, blocks int, pf []byte) {
	_ = w[(qgRows8-1)*cols+blocks*q8Block-1]
	_ = ws[(qgRows8-1)*groups+(blocks-1)/gb]
	_ = a[blocks*qgBlockBytes-1]
	_ = y[(qgRows8-1)*ldy+qgRows8-1]
	// As qgemm4Z's, 256 bytes per block: the next eight rows.
	pfp, pfs := &w[0], 0
	if len(pf) > 0 {
		pfp, pfs = &pf[0], (len(pf)+blocks-1)/blocks
	}
	if raw {
		qgemm8x8RawVNNI(&y[0], ldy, &w[0], cols, &ws[0], groups, gb, &a[0], blocks, pfp, pfs, &qgemm8Idx[0])
		return
	}
	qgemm8x8VNNI(&y[0], ldy, &w[0], cols, &ws[0], groups, gb, &a[0], blocks, pfp, pfs, &qgemm8Idx[0])
}

//go:noescape
func qgemm8x16VNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a *byte, blocks int, pf *byte, pfstep int)

//go:noescape
func qgemm8x16RawVNNI(y *float32, ldy int, w *byte, cols int, ws *float32, groups, gb int, a *byte, blocks int, pf *byte, pfstep int)

// qgemm16Z is the qgemm16Kernel of the avx512 backend (see qgemm_amd64.s).
func qgemm16Z(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a []byte, blocks int, pf []byte) {
	_ = w[(qgRows8-1)*cols+blocks*q8Block-1]
	_ = ws[(qgRows8-1)*groups+(blocks-1)/gb]
	_ = a[blocks*qgBlockBytes-1]
	_ = y[(qgTile-1)*ldy+qgRows8-1]
	// As qgemm8Z's: 256 bytes per block, the next eight rows.
	pfp, pfs := &w[0], 0
	if len(pf) > 0 {
		pfp, pfs = &pf[0], (len(pf)+blocks-1)/blocks
	}
	if raw {
		qgemm8x16RawVNNI(&y[0], ldy, &w[0], cols, &ws[0], groups, gb, &a[0], blocks, pfp, pfs)
		return
	}
	qgemm8x16VNNI(&y[0], ldy, &w[0], cols, &ws[0], groups, gb, &a[0], blocks, pfp, pfs)
}
