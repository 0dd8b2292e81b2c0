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

	prefetchQ8Values: prefetchValuesZ,

	scoresBlocksF32: scoresBlocksF32Z,
	scoresBlocksF16: scoresBlocksF16Z,
	wsumBlocksF32:   wsumBlocksF32Z,
	wsumBlocksF16:   wsumBlocksF16Z,
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

//go:noescape
func scoresF32BlocksAVX512(s *float32, ss int, k *[]float32, q *float32, grp, hd, bt, off, blk0, o0, m, last, ahead int, v *[]float32)

//go:noescape
func scoresF16BlocksAVX512(s *float32, ss int, k *[]uint16, q *float32, grp, hd, bt, off, blk0, o0, m, last, ahead int, v *[]uint16)

//go:noescape
func wsumF32BlocksAVX512(out *float32, v *[]float32, p *float32, ps, grp, hd, bt, off, blk0, o0, m, last, ahead int)

//go:noescape
func wsumF16BlocksAVX512(out *float32, v *[]uint16, p *float32, ps, grp, hd, bt, off, blk0, o0, m, last, ahead int)

// The block-loop kernels run the per-block assembly kernels over all of a
// KV head's blocks from one assembly call per four query heads (block
// addresses read from the slice headers, whose lengths are checked here
// first), with no Go between blocks (scoresBlocks* also prefetch the first
// decodeAhead(bt) blocks of keys and values on entry); the same results as blockScores and
// blockWsum over the per-block kernels. Head sizes that are not a multiple
// of 16 use the generic twins.

// blocksFit reports whether blocks lo..hi exist and hold at least nk
// values each: what the block-loop kernels, which read the blocks' slice
// headers, need of their arguments.
func blocksFit[T float32 | uint16 | int8](blocks [][]T, lo, hi, nk int) bool {
	if hi >= len(blocks) {
		return false
	}
	for _, b := range blocks[lo : hi+1] {
		if len(b) < nk {
			return false
		}
	}
	return true
}

func scoresBlocksF32Z(s []float32, k, v [][]float32, bt, from, n, off int, q []float32, g, hd int) {
	if hd%16 != 0 || hd == 0 || n <= from || g <= 0 || !blocksFit(k, from/bt, (n-1)/bt, off+bt*hd) || !blocksFit(v, from/bt, (n-1)/bt, off+bt*hd) {
		groupGeneric.scoresBlocksF32(s, k, v, bt, from, n, off, q, g, hd) // panics on a short block
		return
	}
	m, last := n-from, (n-1)/bt
	_, _ = q[g*hd-1], s[g*m-1]
	for h := 0; h < g; h += 4 {
		scoresF32BlocksAVX512(&s[h*m], m, &k[0], &q[h*hd], min(4, g-h), hd, bt, off, from/bt, from%bt, m, last, decodeAhead(bt), &v[0])
	}
}

func scoresBlocksF16Z(s []float32, k, v [][]uint16, bt, from, n, off int, q []float32, g, hd int) {
	if hd%16 != 0 || hd == 0 || n <= from || g <= 0 || !blocksFit(k, from/bt, (n-1)/bt, off+bt*hd) || !blocksFit(v, from/bt, (n-1)/bt, off+bt*hd) {
		groupGeneric.scoresBlocksF16(s, k, v, bt, from, n, off, q, g, hd)
		return
	}
	m, last := n-from, (n-1)/bt
	_, _ = q[g*hd-1], s[g*m-1]
	for h := 0; h < g; h += 4 {
		scoresF16BlocksAVX512(&s[h*m], m, &k[0], &q[h*hd], min(4, g-h), hd, bt, off, from/bt, from%bt, m, last, decodeAhead(bt), &v[0])
	}
}

func wsumBlocksF32Z(out []float32, v [][]float32, bt, from, n, off int, p []float32, g, hd int) {
	if hd%16 != 0 || hd == 0 || n <= from || g <= 0 || !blocksFit(v, from/bt, (n-1)/bt, off+bt*hd) {
		groupGeneric.wsumBlocksF32(out, v, bt, from, n, off, p, g, hd)
		return
	}
	m, last := n-from, (n-1)/bt
	_, _ = out[g*hd-1], p[g*m-1]
	for h := 0; h < g; h += 4 {
		wsumF32BlocksAVX512(&out[h*hd], &v[0], &p[h*m], m, min(4, g-h), hd, bt, off, from/bt, from%bt, m, last, decodeAhead(bt))
	}
}

func wsumBlocksF16Z(out []float32, v [][]uint16, bt, from, n, off int, p []float32, g, hd int) {
	if hd%16 != 0 || hd == 0 || n <= from || g <= 0 || !blocksFit(v, from/bt, (n-1)/bt, off+bt*hd) {
		groupGeneric.wsumBlocksF16(out, v, bt, from, n, off, p, g, hd)
		return
	}
	m, last := n-from, (n-1)/bt
	_, _ = out[g*hd-1], p[g*m-1]
	for h := 0; h < g; h += 4 {
		wsumF16BlocksAVX512(&out[h*hd], &v[0], &p[h*m], m, min(4, g-h), hd, bt, off, from/bt, from%bt, m, last, decodeAhead(bt))
	}
}
