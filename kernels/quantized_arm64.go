//go:build arm64 && !purego

package kernels

//go:noescape
func matVecQ8GDotNEON(y *float32, w *int8, q *int8, ls, ws *float32, rows, cols, group int)

//go:noescape
func matVecQ8GMulNEON(y *float32, w *int8, q *int8, ls, ws *float32, rows, cols, group int)

//go:noescape
func matVecQ4DotNEON(y *float32, w *byte, q *int8, ls, ws *float32, rows, cols, group int)

//go:noescape
func matVecQ4MulNEON(y *float32, w *byte, q *int8, ls, ws *float32, rows, cols, group int)

// layoutsN fills what the NEON int4 kernels read beyond q.q and q.ls: the
// nibble order q.nib.
func layoutsN(q *q8Vec, t DType) {
	if t == Q4 {
		q.nibbleOrder()
	}
}

// neonGrouped reports whether the NEON grouped kernels apply: int8
// activations for every column (in q8Vec.nib order too for int4), groups
// of whole q8Blocks.
func neonGrouped(rows, cols, group int, q *q8Vec, t DType) bool {
	if rows <= 0 || cols <= 0 || !q.ok || group <= 0 || group%q8Block != 0 || cols%group != 0 ||
		len(q.q) != cols || len(q.ls) != cols/4 {
		return false
	}
	return t != Q4 || len(q.nib) == cols
}

func matVecQ8GNEON(y []float32, w []int8, scale []float32, group int, q *q8Vec,
	kernel func(y *float32, w *int8, q *int8, ls, ws *float32, rows, cols, group int)) {
	rows, cols := len(y), len(q.x)
	if !neonGrouped(rows, cols, group, q, Q8) {
		matVecQ8GGeneric(y, w, scale, group, q)
		return
	}
	_ = w[rows*cols-1]
	_ = scale[rows*(cols/group)-1]
	kernel(&y[0], &w[0], &q.q[0], &q.ls[0], &scale[0], rows, cols, group)
}

func matVecQ4NEON(y []float32, w []byte, scale []float32, group int, q *q8Vec,
	kernel func(y *float32, w *byte, q *int8, ls, ws *float32, rows, cols, group int)) {
	rows, cols := len(y), len(q.x)
	if !neonGrouped(rows, cols, group, q, Q4) {
		matVecQ4Generic(y, w, scale, group, q)
		return
	}
	_ = w[rows*cols/2-1]
	_ = scale[rows*(cols/group)-1]
	kernel(&y[0], &w[0], &q.nib[0], &q.ls[0], &scale[0], rows, cols, group)
}

// matVecQ8GNDot and matVecQ4NDot use SDOT (ARMv8.2 dot product).
func matVecQ8GNDot(y []float32, w []int8, scale []float32, group int, q *q8Vec) {
	matVecQ8GNEON(y, w, scale, group, q, matVecQ8GDotNEON)
}

func matVecQ4NDot(y []float32, w []byte, scale []float32, group int, q *q8Vec) {
	matVecQ4NEON(y, w, scale, group, q, matVecQ4DotNEON)
}

// matVecQ8GNMul and matVecQ4NMul use SMULL/SADALP (any ARMv8 NEON).
func matVecQ8GNMul(y []float32, w []int8, scale []float32, group int, q *q8Vec) {
	matVecQ8GNEON(y, w, scale, group, q, matVecQ8GMulNEON)
}

func matVecQ4NMul(y []float32, w []byte, scale []float32, group int, q *q8Vec) {
	matVecQ4NEON(y, w, scale, group, q, matVecQ4MulNEON)
}
