//go:build amd64 && !purego

package kernels

//go:noescape
func scoresGroupQ8AVX512(s *float32, ss int, k *int8, q *int16, c, grp, hd int, next *int8, ks, nks, qsc4, qsc1 *float32)

//go:noescape
func wsumGroupQ8AVX512(out *float32, v *int8, p *float32, ps, c, grp, hd int, next *int8, vs, nvs *float32)

// scoresGroupQ8Z and wsumGroupQ8Z are the AVX-512 group kernels over int8
// rows, four query heads (and, for the sums, up to wsumQ8Chunk positions)
// per call; the generic twins for head sizes that are not a multiple of 32.
func scoresGroupQ8Z(s []float32, ss int, k, next []int8, ks, nks []float32, q []int16, qsc []float32, c, g, hd int) {
	if hd%32 != 0 {
		scoresGroupQ8Generic(s, ss, k, next, ks, nks, q, qsc, c, g, hd)
		return
	}
	if c > 0 {
		_ = ks[c-1]
		if len(nks) == 0 {
			nks = ks // prefetching ks again is harmless
		}
	}
	groupZ(k, next, c, g, hd, func(h, n int, kp, nx *int8) {
		_, _, _ = q[(h+n)*hd-1], s[(h+n-1)*ss+c-1], qsc[h+n-1]
		var q4 [16]float32 // each head's scale four times (one 128-bit lane per head)
		var q1 [4]float32
		for i := range n {
			q1[i] = qsc[h+i]
			q4[4*i], q4[4*i+1], q4[4*i+2], q4[4*i+3] = q1[i], q1[i], q1[i], q1[i]
		}
		scoresGroupQ8AVX512(&s[h*ss], ss, kp, &q[h*hd], c, n, hd, nx, &ks[0], &nks[0], &q4[0], &q1[0])
	})
}

func wsumGroupQ8Z(out []float32, v, next []int8, vs, nvs []float32, p []float32, ps, c, g, hd int) {
	if hd%32 != 0 {
		wsumGroupQ8Generic(out, v, next, vs, nvs, p, ps, c, g, hd)
		return
	}
	if c > 0 {
		_ = vs[c-1]
		if len(nvs) == 0 {
			nvs = vs
		}
	}
	for t0 := 0; t0 < c; t0 += wsumQ8Chunk {
		n := min(wsumQ8Chunk, c-t0)
		groupZ(v[t0*hd:(t0+n)*hd], next, n, g, hd, func(h, k int, vp, nx *int8) {
			_, _ = out[(h+k)*hd-1], p[(h+k-1)*ps+t0+n-1]
			wsumGroupQ8AVX512(&out[h*hd], vp, &p[h*ps+t0], ps, n, k, hd, nx, &vs[t0], &nvs[0])
		})
	}
}

//go:noescape
func absMaxAVX512(src *float32, n int) float32

//go:noescape
func scaleToInt8AVX512(dst *int8, src *float32, n int, inv float32)

//go:noescape
func scaleToInt16AVX512(dst *int16, src *float32, n int, inv float32)

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

// quantizeI16RowZ is quantizeI16RowGeneric with AVX-512 (see
// quantizeQ8RowZ).
func quantizeI16RowZ(dst []int16, src []float32) float32 {
	if len(src) == 0 {
		return 0
	}
	_ = dst[len(src)-1]
	amax := absMaxAVX512(&src[0], len(src))
	if amax != amax || amax == 0 {
		clear(dst)
		return amax
	}
	scaleToInt16AVX512(&dst[0], &src[0], len(src), 32767/amax)
	return amax / 32767
}
