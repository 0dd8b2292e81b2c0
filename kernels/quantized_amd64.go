//go:build amd64 && !purego

package kernels

//go:noescape
func matVecQ4AVX2(y *float32, w *byte, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)

//go:noescape
func matVecQ4VNNI(y *float32, w *byte, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)

//go:noescape
func matVecQ8GAVX2(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)

//go:noescape
func matVecQ8GVNNI(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)

// simdGrouped reports whether the SIMD grouped kernels apply: int8
// activations for every column, groups of whole q8Blocks.
func simdGrouped(rows, cols, group int, q *q8Vec) bool {
	return rows > 0 && cols > 0 && q.ok && group%q8Block == 0 && len(q.q) == cols && len(q.lsum) == cols/4
}

func matVecQ4Asm(y []float32, w []byte, scale []float32, group int, q *q8Vec,
	kernel func(y *float32, w *byte, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)) {
	rows, cols := len(y), len(q.x)
	if !simdGrouped(rows, cols, group, q) {
		matVecQ4Generic(y, w, scale, group, q)
		return
	}
	if len(q.nib) != cols || len(q.nibSum) != cols/4 {
		matVecQ4Generic(y, w, scale, group, q)
		return
	}
	_ = w[rows*cols/2-1]
	_ = scale[rows*(cols/group)-1]
	kernel(&y[0], &w[0], &q.nib[0], &q.ls[0], &q.nibSum[0], &scale[0], rows, cols, group)
}

func matVecQ8GAsm(y []float32, w []int8, scale []float32, group int, q *q8Vec,
	kernel func(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)) {
	rows, cols := len(y), len(q.x)
	if !simdGrouped(rows, cols, group, q) {
		matVecQ8GGeneric(y, w, scale, group, q)
		return
	}
	_ = w[rows*cols-1]
	_ = scale[rows*(cols/group)-1]
	kernel(&y[0], &w[0], &q.q[0], &q.ls[0], &q.lsum[0], &scale[0], rows, cols, group)
}

func matVecQ4Y(y []float32, w []byte, scale []float32, group int, q *q8Vec) {
	matVecQ4Asm(y, w, scale, group, q, matVecQ4AVX2)
}

func matVecQ4Z(y []float32, w []byte, scale []float32, group int, q *q8Vec) {
	matVecQ4Asm(y, w, scale, group, q, matVecQ4VNNI)
}

func matVecQ8GY(y []float32, w []int8, scale []float32, group int, q *q8Vec) {
	matVecQ8GAsm(y, w, scale, group, q, matVecQ8GAVX2)
}

func matVecQ8GZ(y []float32, w []int8, scale []float32, group int, q *q8Vec) {
	matVecQ8GAsm(y, w, scale, group, q, matVecQ8GVNNI)
}
