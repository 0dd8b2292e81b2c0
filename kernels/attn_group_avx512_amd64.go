//go:build amd64 && !purego

package kernels

//go:noescape
func scoresGroupF32AVX512(s *float32, ss int, k *float32, q *float32, c, grp, hd int, next *float32)

//go:noescape
func scoresGroupF16AVX512(s *float32, ss int, k *uint16, q *float32, c, grp, hd int, next *uint16)

//go:noescape
func wsumGroupF32AVX512(out *float32, v *float32, p *float32, ps, c, grp, hd int, next *float32)

//go:noescape
func wsumGroupF16AVX512(out *float32, v *uint16, p *float32, ps, c, grp, hd int, next *uint16)

// groupAVX512 runs the group kernels four query heads per call for head
// sizes that are a multiple of 16, the generic twins otherwise. While a
// block is read, the same rows of next (if it holds them) are prefetched.
var groupAVX512 = &groupKernels{
	scoresF32: scoresGroupF32Z,
	scoresF16: scoresGroupF16Z,
	wsumF32:   wsumGroupF32Z,
	wsumF16:   wsumGroupF16Z,
	scoresQ8:  scoresQ8Z,
	wsumQ8:    wsumQ8Z,
}

// groupZ runs kern on each run of up to four of the g heads (first head h,
// n heads) with the block kv of c rows of hd values and the same rows of
// next to prefetch (if it holds them), and reports true; it reports false, doing nothing, when hd is
// not a non-zero multiple of 16 (the generic twins' case).
func groupZ[T float32 | uint16 | int8](kv, next []T, c, g, hd int, kern func(h, n int, kv, nx *T)) bool {
	if hd%16 != 0 || hd == 0 {
		return false
	}
	if c == 0 || g == 0 {
		return true
	}
	_ = kv[c*hd-1]
	nx := &kv[0] // prefetching kv again is harmless
	if len(next) >= c*hd {
		nx = &next[0]
	}
	for h := 0; h < g; h += 4 {
		kern(h, min(4, g-h), &kv[0], nx)
	}
	return true
}

func scoresGroupF32Z(s []float32, ss int, k, next, q []float32, c, g, hd int) {
	if !groupZ(k, next, c, g, hd, func(h, n int, kp, nx *float32) {
		_, _ = q[(h+n)*hd-1], s[(h+n-1)*ss+c-1]
		scoresGroupF32AVX512(&s[h*ss], ss, kp, &q[h*hd], c, n, hd, nx)
	}) {
		scoresGroupF32Generic(s, ss, k, next, q, c, g, hd)
	}
}

func scoresGroupF16Z(s []float32, ss int, k, next []uint16, q []float32, c, g, hd int) {
	if !groupZ(k, next, c, g, hd, func(h, n int, kp, nx *uint16) {
		_, _ = q[(h+n)*hd-1], s[(h+n-1)*ss+c-1]
		scoresGroupF16AVX512(&s[h*ss], ss, kp, &q[h*hd], c, n, hd, nx)
	}) {
		scoresGroupF16Generic(s, ss, k, next, q, c, g, hd)
	}
}

func wsumGroupF32Z(out, v, next, p []float32, ps, c, g, hd int) {
	if !groupZ(v, next, c, g, hd, func(h, n int, vp, nx *float32) {
		_, _ = out[(h+n)*hd-1], p[(h+n-1)*ps+c-1]
		wsumGroupF32AVX512(&out[h*hd], vp, &p[h*ps], ps, c, n, hd, nx)
	}) {
		wsumGroupF32Generic(out, v, next, p, ps, c, g, hd)
	}
}

func wsumGroupF16Z(out []float32, v, next []uint16, p []float32, ps, c, g, hd int) {
	if !groupZ(v, next, c, g, hd, func(h, n int, vp, nx *uint16) {
		_, _ = out[(h+n)*hd-1], p[(h+n-1)*ps+c-1]
		wsumGroupF16AVX512(&out[h*hd], vp, &p[h*ps], ps, c, n, hd, nx)
	}) {
		wsumGroupF16Generic(out, v, next, p, ps, c, g, hd)
	}
}
