//go:build amd64 && !purego

package kernels

//go:noescape
func scoresGroupF32AVX512(s *float32, ss int, k *float32, q *float32, c, grp, hd int)

//go:noescape
func scoresGroupF16AVX512(s *float32, ss int, k *uint16, q *float32, c, grp, hd int)

//go:noescape
func wsumGroupF32AVX512(out *float32, v *float32, p *float32, ps, c, grp, hd int)

//go:noescape
func wsumGroupF16AVX512(out *float32, v *uint16, p *float32, ps, c, grp, hd int)

// groupAVX512 runs the group kernels four query heads per call for head
// sizes that are a multiple of 16, the generic twins otherwise.
var groupAVX512 = &groupKernels{
	scoresF32: scoresGroupF32Z,
	scoresF16: scoresGroupF16Z,
	wsumF32:   wsumGroupF32Z,
	wsumF16:   wsumGroupF16Z,
}

func scoresGroupF32Z(s []float32, ss int, k, q []float32, c, g, hd int) {
	if hd%16 != 0 || hd == 0 {
		scoresGroupF32Generic(s, ss, k, q, c, g, hd)
		return
	}
	if c == 0 || g == 0 {
		return
	}
	_, _, _ = k[c*hd-1], q[g*hd-1], s[(g-1)*ss+c-1]
	for h := 0; h < g; h += 4 {
		scoresGroupF32AVX512(&s[h*ss], ss, &k[0], &q[h*hd], c, min(4, g-h), hd)
	}
}

func scoresGroupF16Z(s []float32, ss int, k []uint16, q []float32, c, g, hd int) {
	if hd%16 != 0 || hd == 0 {
		scoresGroupF16Generic(s, ss, k, q, c, g, hd)
		return
	}
	if c == 0 || g == 0 {
		return
	}
	_, _, _ = k[c*hd-1], q[g*hd-1], s[(g-1)*ss+c-1]
	for h := 0; h < g; h += 4 {
		scoresGroupF16AVX512(&s[h*ss], ss, &k[0], &q[h*hd], c, min(4, g-h), hd)
	}
}

func wsumGroupF32Z(out, v, p []float32, ps, c, g, hd int) {
	if hd%16 != 0 || hd == 0 {
		wsumGroupF32Generic(out, v, p, ps, c, g, hd)
		return
	}
	if c == 0 || g == 0 {
		return
	}
	_, _, _ = v[c*hd-1], out[g*hd-1], p[(g-1)*ps+c-1]
	for h := 0; h < g; h += 4 {
		wsumGroupF32AVX512(&out[h*hd], &v[0], &p[h*ps], ps, c, min(4, g-h), hd)
	}
}

func wsumGroupF16Z(out []float32, v []uint16, p []float32, ps, c, g, hd int) {
	if hd%16 != 0 || hd == 0 {
		wsumGroupF16Generic(out, v, p, ps, c, g, hd)
		return
	}
	if c == 0 || g == 0 {
		return
	}
	_, _, _ = v[c*hd-1], out[g*hd-1], p[(g-1)*ps+c-1]
	for h := 0; h < g; h += 4 {
		wsumGroupF16AVX512(&out[h*hd], &v[0], &p[h*ps], ps, c, min(4, g-h), hd)
	}
}
