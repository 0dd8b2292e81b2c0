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

// groupRowsZ reports whether the AVX-512 group kernels take rows of hd
// values (a non-zero multiple of 16; else the generic twins run), and
// returns the rows of next to prefetch while c rows of kv are read: next's
// if it holds them, else kv's own (prefetching them again is harmless).
func groupRowsZ[T float32 | uint16](kv, next []T, c, hd int) (ok bool, nx *T) {
	if hd%16 != 0 || hd == 0 {
		return false, nil
	}
	_ = kv[c*hd-1]
	if len(next) >= c*hd {
		return true, &next[0]
	}
	return true, &kv[0]
}

// The four group kernels run four query heads per assembly call.

func scoresGroupF32Z(s []float32, ss int, k, next, q []float32, c, g, hd int) {
	if c == 0 || g == 0 {
		return
	}
	ok, nx := groupRowsZ(k, next, c, hd)
	if !ok {
		scoresGroupF32Generic(s, ss, k, next, q, c, g, hd)
		return
	}
	_, _ = q[g*hd-1], s[(g-1)*ss+c-1]
	for h := 0; h < g; h += 4 {
		scoresGroupF32AVX512(&s[h*ss], ss, &k[0], &q[h*hd], c, min(4, g-h), hd, nx)
	}
}

func scoresGroupF16Z(s []float32, ss int, k, next []uint16, q []float32, c, g, hd int) {
	if c == 0 || g == 0 {
		return
	}
	ok, nx := groupRowsZ(k, next, c, hd)
	if !ok {
		scoresGroupF16Generic(s, ss, k, next, q, c, g, hd)
		return
	}
	_, _ = q[g*hd-1], s[(g-1)*ss+c-1]
	for h := 0; h < g; h += 4 {
		scoresGroupF16AVX512(&s[h*ss], ss, &k[0], &q[h*hd], c, min(4, g-h), hd, nx)
	}
}

func wsumGroupF32Z(out, v, next, p []float32, ps, c, g, hd int) {
	if c == 0 || g == 0 {
		return
	}
	ok, nx := groupRowsZ(v, next, c, hd)
	if !ok {
		wsumGroupF32Generic(out, v, next, p, ps, c, g, hd)
		return
	}
	_, _ = out[g*hd-1], p[(g-1)*ps+c-1]
	for h := 0; h < g; h += 4 {
		wsumGroupF32AVX512(&out[h*hd], &v[0], &p[h*ps], ps, c, min(4, g-h), hd, nx)
	}
}

func wsumGroupF16Z(out []float32, v, next []uint16, p []float32, ps, c, g, hd int) {
	if c == 0 || g == 0 {
		return
	}
	ok, nx := groupRowsZ(v, next, c, hd)
	if !ok {
		wsumGroupF16Generic(out, v, next, p, ps, c, g, hd)
		return
	}
	_, _ = out[g*hd-1], p[(g-1)*ps+c-1]
	for h := 0; h < g; h += 4 {
		wsumGroupF16AVX512(&out[h*hd], &v[0], &p[h*ps], ps, c, min(4, g-h), hd, nx)
	}
}
