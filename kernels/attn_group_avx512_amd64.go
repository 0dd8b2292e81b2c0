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
}

// nextRows returns next if it holds n values, else k (prefetching k again
// is harmless).
func nextRows[T float32 | uint16](next, k []T, n int) *T {
	if len(next) >= n {
		return &next[0]
	}
	return &k[0]
}

func scoresGroupF32Z(s []float32, ss int, k, next, q []float32, c, g, hd int) {
	if hd%16 != 0 || hd == 0 {
		scoresGroupF32Generic(s, ss, k, next, q, c, g, hd)
		return
	}
	if c == 0 || g == 0 {
		return
	}
	_, _, _ = k[c*hd-1], q[g*hd-1], s[(g-1)*ss+c-1]
	nx := nextRows(next, k, c*hd)
	for h := 0; h < g; h += 4 {
		scoresGroupF32AVX512(&s[h*ss], ss, &k[0], &q[h*hd], c, min(4, g-h), hd, nx)
	}
}

func scoresGroupF16Z(s []float32, ss int, k, next []uint16, q []float32, c, g, hd int) {
	if hd%16 != 0 || hd == 0 {
		scoresGroupF16Generic(s, ss, k, next, q, c, g, hd)
		return
	}
	if c == 0 || g == 0 {
		return
	}
	_, _, _ = k[c*hd-1], q[g*hd-1], s[(g-1)*ss+c-1]
	nx := nextRows(next, k, c*hd)
	for h := 0; h < g; h += 4 {
		scoresGroupF16AVX512(&s[h*ss], ss, &k[0], &q[h*hd], c, min(4, g-h), hd, nx)
	}
}

func wsumGroupF32Z(out, v, next, p []float32, ps, c, g, hd int) {
	if hd%16 != 0 || hd == 0 {
		wsumGroupF32Generic(out, v, next, p, ps, c, g, hd)
		return
	}
	if c == 0 || g == 0 {
		return
	}
	_, _, _ = v[c*hd-1], out[g*hd-1], p[(g-1)*ps+c-1]
	nx := nextRows(next, v, c*hd)
	for h := 0; h < g; h += 4 {
		wsumGroupF32AVX512(&out[h*hd], &v[0], &p[h*ps], ps, c, min(4, g-h), hd, nx)
	}
}

func wsumGroupF16Z(out []float32, v, next []uint16, p []float32, ps, c, g, hd int) {
	if hd%16 != 0 || hd == 0 {
		wsumGroupF16Generic(out, v, next, p, ps, c, g, hd)
		return
	}
	if c == 0 || g == 0 {
		return
	}
	_, _, _ = v[c*hd-1], out[g*hd-1], p[(g-1)*ps+c-1]
	nx := nextRows(next, v, c*hd)
	for h := 0; h < g; h += 4 {
		wsumGroupF16AVX512(&out[h*hd], &v[0], &p[h*ps], ps, c, min(4, g-h), hd, nx)
	}
}
