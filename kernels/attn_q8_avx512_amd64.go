//go:build amd64 && !purego

package kernels

import (
	"math"
	"sync"
)

//go:noescape
func scoresQ8BlocksAVX512(s *float32, ss int, k *[]int8, ks *[]float32, q *int8, qsc *float32, qc *int32, grp, hd, bt, off, so, blk0, o0, m, last int, v *[]int8, vs *[]float32, ahead int)

//go:noescape
func wsumQ8BlocksAVX512(out *float32, v *[]int8, w *int16, ws int, sc *float32, scs, grp, hd, bt, off, blk0, o0, m, last, ahead int)

//go:noescape
func gatherScalesAVX512(dst *float32, vs *[]float32, bt, so, blk0, o0, m int)

//go:noescape
func prefetchScalesAVX512(vs *[]float32, so, bt, blk0, blk1 int)

//go:noescape
func prefetchRowsAVX512(v *[]int8, off, nbytes, blk0, blk1 int)

//go:noescape
func wamaxHeadsAVX512(amax *float32, p *float32, ps int, vs *float32, n, nh int)

//go:noescape
func wquantHeadsAVX512(w *int16, ws int, p *float32, ps int, vs *float32, n, nh int, inv *float32)

// scoresQ8Z and wsumQ8Z are groupKernels.scoresQ8 and wsumQ8 with AVX-512:
// one assembly call per run of four query heads loops over all the blocks
// (reading each block's address from the slice headers, whose lengths are
// checked here first), prefetching the block decodeAhead(bt) later (the
// blocks are scattered in memory, so the hardware prefetcher does not run
// ahead). The generic twins serve the scores of blocks whose size is not a
// multiple of 16 (the kernel's tiles of 16 positions) or head sizes not a
// multiple of 16 (its steps of four quads of dimensions), and the weighted
// sums of head sizes not a multiple of 32.
func scoresQ8Z(s []float32, k [][]int8, ks [][]float32, v [][]int8, vs [][]float32, bt, from, n, off int, q []int8, qsc []float32, qc []int32, g, hd int) {
	if hd%16 != 0 || hd == 0 || bt%16 != 0 {
		scoresQ8Generic(s, k, ks, v, vs, bt, from, n, off, q, qsc, qc, g, hd)
		return
	}
	if n <= from || g <= 0 {
		return
	}
	m, so, last := n-from, off/hd, (n-1)/bt
	_, _, _, _ = q[g*hd-1], s[g*m-1], qsc[g-1], qc[g-1]
	if !blocksFit(k, from/bt, last, off+bt*hd) || !blocksFit(ks, from/bt, last, so+bt) || len(v) <= last || len(vs) <= last {
		scoresQ8Generic(s, k, ks, v, vs, bt, from, n, off, q, qsc, qc, g, hd) // panics on the short block
		return
	}
	for h := 0; h < g; h += 4 {
		scoresQ8BlocksAVX512(&s[h*m], m, &k[0], &ks[0], &q[h*hd], &qsc[h], &qc[h], min(4, g-h), hd, bt, off, so, from/bt, from%bt, m, last, &v[0], &vs[0], decodeAhead(bt))
	}
}

// wsumQ8Z (see scoresQ8Z) gathers the value scales and quantizes the
// weights up front (gatherScalesZ, quantizeW16Z), then makes one assembly
// call per run of four query heads over all the blocks, prefetching the
// block 2*decodeAhead(bt) later (the
// kernel now runs a block in well under a DRAM latency: measured 3-5%
// faster than decodeAhead(bt) at B=8 and 16 from DRAM, 4 times as far
// 0-5% slower; PREFETCHT1 no better). Head sizes not a multiple of 32
// and blocks of more than wsumQ8Span rows go to the generic twin.
func wsumQ8Z(out []float32, v [][]int8, vs [][]float32, bt, from, n, off int, p []float32, g, hd int) {
	if hd%32 != 0 || hd == 0 || bt > wsumQ8Span {
		wsumQ8Generic(out, v, vs, bt, from, n, off, p, g, hd)
		return
	}
	if n <= from || g <= 0 {
		return
	}
	m, so, last := n-from, off/hd, (n-1)/bt
	_, _ = out[g*hd-1], p[g*m-1]
	if !blocksFit(v, from/bt, last, off+bt*hd) || !blocksFit(vs, from/bt, last, so+bt) {
		wsumQ8Generic(out, v, vs, bt, from, n, off, p, g, hd) // panics on the short block
		return
	}
	b := wsumQ8Pool.Get().(*wsumQ8Buf)
	defer wsumQ8Pool.Put(b)
	w, sc := b.weights(vs, bt, from, n, so, p, g)
	for h := 0; h < g; h += 4 {
		wsumQ8BlocksAVX512(&out[h*hd], &v[0], &w[h*(m+1)], m+1, &sc[h], g, min(4, g-h), hd, bt, off, from/bt, from%bt, m, last, 2*decodeAhead(bt))
	}
}

// prefetchValuesZ is groupKernels.prefetchQ8Values with AVX-512: the
// first and last scale of each block's run, and the rows of the blocks
// from decodeAhead(bt) to 2*decodeAhead(bt)-1 after the first (scoresQ8Z
// prefetches the first decodeAhead(bt), wsumQ8Z 2*decodeAhead(bt) ahead
// of the block it reads); nothing if a block is short.
func prefetchValuesZ(v [][]int8, vs [][]float32, bt, from, n, off, hd int) {
	if n <= from || bt <= 0 || hd <= 0 {
		return
	}
	so, blk0, last, ahead := off/hd, from/bt, (n-1)/bt, decodeAhead(bt)
	if !blocksFit(vs, blk0, last, so+bt) || !blocksFit(v, blk0, last, off+bt*hd) {
		return
	}
	prefetchScalesAVX512(&vs[0], so, bt, blk0, last)
	if lo, hi := blk0+ahead, min(blk0+2*ahead-1, last); lo <= hi {
		prefetchRowsAVX512(&v[0], off, bt*hd, lo, hi)
	}
}

// wsumQ8Buf holds the scratch of one wsumQ8Z call: the value rows' scales
// gathered from the blocks, the int16 weights and their scales, and per
// head the largest weight magnitude and its reciprocal of a span.
type wsumQ8Buf struct {
	vsc, sc, amax, inv []float32
	w                  []int16
}

var wsumQ8Pool = sync.Pool{New: func() any { return new(wsumQ8Buf) }}

// weights sets b.w[h*(m+1)+i] for the m = n-from positions of the g
// heads to the weights p[h*m+i]·vs[i] quantized to int16 per head and
// span (over the positions wsumQ8SpanEnd groups, as wsumQ8Generic does),
// with vs the scales gathered from the blocks (element so of each, in
// blocks of bt), and b.sc[k*g+h] to the scale of head h in span k: per
// span, the heads' largest magnitudes (NaN if a product is NaN or Inf) in
// one assembly call, the scaled and rounded weights of the heads with a
// finite reciprocal in a second, with quantizeW16's float32 operations.
// Each head's row of weights is followed by a 0: the kernel reads the
// weights two positions at a time. It returns the weights and their
// scales.
func (b *wsumQ8Buf) weights(vs [][]float32, bt, from, n, so int, p []float32, g int) ([]int16, []float32) {
	m := n - from
	// Grown with room: decoding adds a position per step.
	if cap(b.vsc) < m {
		b.vsc = make([]float32, 2*m+64)
	}
	if cap(b.w) < g*(m+1) {
		b.w = make([]int16, 2*g*(m+1)+64)
	}
	if cap(b.amax) < g {
		b.amax, b.inv = make([]float32, g), make([]float32, g)
	}
	vsc, w, sc, amax, inv := b.vsc[:m], b.w[:g*(m+1)], b.sc[:0], b.amax[:g], b.inv[:g]
	gatherScalesZ(vsc, vs, bt, from, n, so)
	for t0 := from; t0 < n; {
		t1 := wsumQ8SpanEnd(t0, n, bt)
		i0, i1 := t0-from, t1-from
		wamaxHeadsAVX512(&amax[0], &p[i0], m, &vsc[i0], i1-i0, g)
		for h, a := range amax {
			inv[h] = 32767 / a
			wh := w[h*(m+1)+i0 : h*(m+1)+i1]
			switch {
			case a != a || a == 0: // NaN or zero weights
				inv[h] = 0
				clear(wh)
			case inv[h] > math.MaxFloat32:
				inv[h] = 0
				for i, s := range vsc[i0:i1] {
					wh[i] = quantizeW16(p[h*m+i0+i]*s, a, 32767/a)
				}
			}
			sc = append(sc, a/32767)
		}
		wquantHeadsAVX512(&w[i0], m+1, &p[i0], m, &vsc[i0], i1-i0, g, &inv[0])
		t0 = t1
	}
	for h := range g {
		w[h*(m+1)+m] = 0
	}
	b.sc = sc
	return w, sc
}

// gatherScalesZ sets dst[t-from] to the scale of position t in [from, n),
// element so+t%bt of block vs[t/bt] (the blocks' lengths checked by the
// caller).
func gatherScalesZ(dst []float32, vs [][]float32, bt, from, n, so int) {
	_ = dst[n-from-1]
	gatherScalesAVX512(&dst[0], &vs[0], bt, so, from/bt, from%bt, n-from)
}

//go:noescape
func absMaxAVX512(src *float32, n int) float32

//go:noescape
func scaleToInt8AVX512(dst *int8, src *float32, n int, inv float32)

// quantizeQ8RowZ is QuantizeQ8Row with AVX-512: the largest magnitude (NaN
// if any value is NaN or Inf) in one pass, the scaled and rounded bytes in
// a second, with quantizeQ8RowGeneric's float32 operations.
func quantizeQ8RowZ(dst []int8, src []float32) float32 {
	if len(src) == 0 {
		return 0
	}
	_ = dst[len(src)-1]
	amax := absMaxAVX512(&src[0], len(src))
	if amax != amax || amax == 0 {
		clear(dst)
		return amax // NaN, or 0 for a row of zeros
	}
	scaleToInt8AVX512(&dst[0], &src[0], len(src), 127/amax)
	return amax / 127
}
