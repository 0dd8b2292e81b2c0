package kernels

import "github.com/cellm-ai/cellm-go/internal/half"

func matVecF32Generic(y, w, x []float32) {
	cols := len(x)
	w = w[:len(y)*cols]
	for r := range y {
		y[r] = dotGeneric(w[r*cols:(r+1)*cols], x)
	}
}

func matVecF16Generic(y []float32, w []uint16, x []float32) {
	cols := len(x)
	w = w[:len(y)*cols]
	for r := range y {
		y[r] = dotF16(w[r*cols:(r+1)*cols], x)
	}
}

// dotF16 returns sum_d a[d]*b[d] for binary16 a (two interleaved partial
// sums), the dot product of matVecF16Generic and the generic group kernels.
func dotF16(a []uint16, b []float32) float32 {
	var s0, s1 float32
	d := 0
	for ; d+2 <= len(a); d += 2 {
		s0 += half.F16ToF32(a[d]) * b[d]
		s1 += half.F16ToF32(a[d+1]) * b[d+1]
	}
	if d < len(a) {
		s0 += half.F16ToF32(a[d]) * b[d]
	}
	return s0 + s1
}

func matVecBF16Generic(y []float32, w []uint16, x []float32) {
	cols := len(x)
	w = w[:len(y)*cols]
	for r := range y {
		row := w[r*cols : (r+1)*cols]
		var s0, s1 float32
		c := 0
		for ; c+2 <= cols; c += 2 {
			s0 += half.BF16ToF32(row[c]) * x[c]
			s1 += half.BF16ToF32(row[c+1]) * x[c+1]
		}
		if c < cols {
			s0 += half.BF16ToF32(row[c]) * x[c]
		}
		y[r] = s0 + s1
	}
}

// matVecQ8Generic multiplies in float: y[r] = Scale[r] * sum W[r,c]*x[c].
func matVecQ8Generic(y []float32, w []int8, scale []float32, q *q8Vec) {
	x := q.x
	cols := len(x)
	w = w[:len(y)*cols]
	scale = scale[:len(y)]
	for r := range y {
		row := w[r*cols : (r+1)*cols]
		var s0, s1 float32
		c := 0
		for ; c+2 <= cols; c += 2 {
			s0 += float32(row[c]) * x[c]
			s1 += float32(row[c+1]) * x[c+1]
		}
		if c < cols {
			s0 += float32(row[c]) * x[c]
		}
		y[r] = (s0 + s1) * scale[r]
	}
}
