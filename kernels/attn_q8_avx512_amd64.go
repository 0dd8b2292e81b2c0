//go:build amd64 && !purego

package kernels

//go:noescape
func scoresQ8BlocksAVX512(s *float32, ss int, k *[]int8, ks *[]float32, q *int8, qsc *float32, qc *int32, grp, hd, bt, off, so, blk0, o0, m, last int, v *[]int8, vs *[]float32, ahead int)

//go:noescape
func wsumQ8BlocksAVX512(out *float32, v *[]int8, vs *[]float32, p *float32, ps, grp, hd, bt, off, so, blk0, o0, m, last, ahead int)

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

func wsumQ8Z(out []float32, v [][]int8, vs [][]float32, bt, from, n, off int, p []float32, g, hd int) {
	if hd%32 != 0 || hd == 0 {
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
	for h := 0; h < g; h += 4 {
		wsumQ8BlocksAVX512(&out[h*hd], &v[0], &vs[0], &p[h*m], m, min(4, g-h), hd, bt, off, so, from/bt, from%bt, m, last, decodeAhead(bt))
	}
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
