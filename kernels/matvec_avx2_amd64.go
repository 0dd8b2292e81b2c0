//go:build amd64 && !purego

package kernels

import "github.com/cellm-ai/cellm-go/internal/half"

// matVecQ8SIMD runs an integer q8 kernel over the quantized blocks of x and
// finishes each row in Go: it removes the kernel's bias, adds the columns
// past the last full block in float, then applies the row scale.
func matVecQ8SIMD(y []float32, w []int8, scale []float32, q *q8Vec, bias float32,
	kernel func(y *float32, w, q *int8, ls *float32, rows, cols, n int)) {
	rows, cols, n := len(y), len(q.x), len(q.q)
	if rows == 0 {
		return
	}
	w = w[:rows*cols]
	scale = scale[:rows]
	if n > 0 {
		kernel(&y[0], &w[0], &q.q[0], &q.ls[0], rows, cols, n)
	} else {
		clear(y)
	}
	tail := q.x[n:]
	for r := range y {
		s := y[r] - bias
		if len(tail) > 0 {
			row := w[r*cols+n : (r+1)*cols]
			for c, v := range tail {
				s += float32(row[c]) * v
			}
		}
		y[r] = s * scale[r]
	}
}

//go:noescape
func matVecF32AVX2(y, w, x *float32, rows, cols, n int)

//go:noescape
func matVecF16AVX2(y *float32, w *uint16, x *float32, rows, cols, n int)

//go:noescape
func matVecBF16AVX2(y *float32, w *uint16, x *float32, rows, cols, n int)

//go:noescape
func matVecQ8AVX2(y *float32, w, q *int8, ls *float32, rows, cols, n int)

// The AVX2 kernels cover a multiple of 8 columns; these wrappers finish the
// rest with the generic code.

func matVecF32Y(y, w, x []float32) {
	rows, cols := len(y), len(x)
	n := cols &^ 7
	if rows == 0 || n == 0 {
		matVecF32Generic(y, w, x)
		return
	}
	w = w[:rows*cols]
	matVecF32AVX2(&y[0], &w[0], &x[0], rows, cols, n)
	if n < cols {
		for r := range y {
			y[r] += dotGeneric(w[r*cols+n:(r+1)*cols], x[n:])
		}
	}
}

func matVecF16Y(y []float32, w []uint16, x []float32) {
	rows, cols := len(y), len(x)
	n := cols &^ 7
	if rows == 0 || n == 0 {
		matVecF16Generic(y, w, x)
		return
	}
	w = w[:rows*cols]
	matVecF16AVX2(&y[0], &w[0], &x[0], rows, cols, n)
	if n < cols {
		for r := range y {
			for c := n; c < cols; c++ {
				y[r] += half.F16ToF32(w[r*cols+c]) * x[c]
			}
		}
	}
}

func matVecBF16Y(y []float32, w []uint16, x []float32) {
	rows, cols := len(y), len(x)
	n := cols &^ 7
	if rows == 0 || n == 0 {
		matVecBF16Generic(y, w, x)
		return
	}
	w = w[:rows*cols]
	matVecBF16AVX2(&y[0], &w[0], &x[0], rows, cols, n)
	if n < cols {
		for r := range y {
			for c := n; c < cols; c++ {
				y[r] += half.BF16ToF32(w[r*cols+c]) * x[c]
			}
		}
	}
}

func matVecQ8Y(y []float32, w []int8, scale []float32, q *q8Vec) {
	matVecQ8SIMD(y, w, scale, q, 0, matVecQ8AVX2)
}
