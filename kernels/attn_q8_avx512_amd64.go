//go:build amd64 && !purego

package kernels

//go:noescape
func scoresGroupQ8AVX512(s *float32, ss int, k *int8, q *int16, c, grp, hd int, next *int8, ks, nks, qsc4, qsc1 *float32)

//go:noescape
func wsumGroupQ8AVX512(out *float32, v *int8, p *float32, ps, c, grp, hd int, next *int8, vs, nvs *float32)

// scoresGroupQ8Z and wsumGroupQ8Z are the AVX-512 group kernels over int8
// rows, four query heads per call; the generic twins for head sizes that
// are not a multiple of 32 (scores) or 16 (sums).
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
	if c > 0 {
		_ = vs[c-1]
		if len(nvs) == 0 {
			nvs = vs
		}
	}
	if !groupZ(v, next, c, g, hd, func(h, n int, vp, nx *int8) {
		_, _ = out[(h+n)*hd-1], p[(h+n-1)*ps+c-1]
		wsumGroupQ8AVX512(&out[h*hd], vp, &p[h*ps], ps, c, n, hd, nx, &vs[0], &nvs[0])
	}) {
		wsumGroupQ8Generic(out, v, next, vs, nvs, p, ps, c, g, hd)
	}
}
