//go:build amd64 && !purego

package kernels

//go:noescape
func scoresGroupQ8AVX512(s *float32, ss int, k *int8, q *float32, c, grp, hd int, next *int8)

//go:noescape
func wsumGroupQ8AVX512(out *float32, v *int8, p *float32, ps, c, grp, hd int, next *int8)

// scoresGroupQ8Z and wsumGroupQ8Z are the AVX-512 group kernels over int8
// rows (four query heads per call, head sizes a multiple of 16; the generic
// twins otherwise).
func scoresGroupQ8Z(s []float32, ss int, k, next []int8, q []float32, c, g, hd int) {
	if !groupZ(k, next, c, g, hd, func(h, n int, kp, nx *int8) {
		_, _ = q[(h+n)*hd-1], s[(h+n-1)*ss+c-1]
		scoresGroupQ8AVX512(&s[h*ss], ss, kp, &q[h*hd], c, n, hd, nx)
	}) {
		scoresGroupQ8Generic(s, ss, k, next, q, c, g, hd)
	}
}

func wsumGroupQ8Z(out []float32, v, next []int8, p []float32, ps, c, g, hd int) {
	if !groupZ(v, next, c, g, hd, func(h, n int, vp, nx *int8) {
		_, _ = out[(h+n)*hd-1], p[(h+n-1)*ps+c-1]
		wsumGroupQ8AVX512(&out[h*hd], vp, &p[h*ps], ps, c, n, hd, nx)
	}) {
		wsumGroupQ8Generic(out, v, next, p, ps, c, g, hd)
	}
}
