//go:build amd64 && !purego

package kernels

//go:noescape
func matVecF32AVX512(y, w, x *float32, rows, cols, n int)

//go:noescape
func matVecF16AVX512(y *float32, w *uint16, x *float32, rows, cols, n, stream int)

//go:noescape
func matVecBF16AVX512(y *float32, w *uint16, x *float32, rows, cols, n, stream int)

// halfStreamBytes is the least weight size the f16 and bf16 kernels read as
// one sequential stream, row after row (faster from DRAM), rather than
// four rows at a time (faster from cache; MatMul of a few rows hands them
// blocks of rowsBlockBytes).
const halfStreamBytes = 64 << 10

// halfStream returns the stream argument of the f16 and bf16 kernels for
// rows x cols weights.
func halfStream(rows, cols int) int {
	if 2*rows*cols >= halfStreamBytes {
		return 1
	}
	return 0
}

func matVecF32Z(y, w, x []float32) {
	rows, cols := len(y), len(x)
	if rows == 0 || cols == 0 {
		clear(y)
		return
	}
	_ = w[rows*cols-1]
	matVecF32AVX512(&y[0], &w[0], &x[0], rows, cols, cols)
}

func matVecF16Z(y []float32, w []uint16, x []float32) {
	rows, cols := len(y), len(x)
	if rows == 0 || cols == 0 {
		clear(y)
		return
	}
	_ = w[rows*cols-1]
	matVecF16AVX512(&y[0], &w[0], &x[0], rows, cols, cols, halfStream(rows, cols))
}

func matVecBF16Z(y []float32, w []uint16, x []float32) {
	rows, cols := len(y), len(x)
	if rows == 0 || cols == 0 {
		clear(y)
		return
	}
	_ = w[rows*cols-1]
	matVecBF16AVX512(&y[0], &w[0], &x[0], rows, cols, cols, halfStream(rows, cols))
}

//go:noescape
func matVecQ8AVX512(y *float32, w, q *int8, ls *float32, rows, cols, n int)

func matVecQ8Z(y []float32, w []int8, scale []float32, q *q8Vec) {
	matVecQ8SIMD(y, w, scale, q, q.bias, matVecQ8AVX512)
}

//go:noescape
func quantizeQ8AVX512(x *float32, q *int8, ls *float32, blocks int) (bias float32, ok bool)

func quantizeQ8Z(q *q8Vec, x []float32) {
	nq := q.reset(x)
	if nq == 0 {
		return
	}
	q.bias, q.ok = quantizeQ8AVX512(&x[0], &q.q[0], &q.ls[0], nq/q8Block)
}
