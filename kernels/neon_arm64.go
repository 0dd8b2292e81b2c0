//go:build arm64 && !purego

package kernels

import (
	"unsafe"

	"github.com/cellm-ai/cellm-go/internal/half"
)

//go:noescape
func matVec4F32NEON(part *float32, w *float32, stride int, x *float32, n int)

//go:noescape
func matVec1F32NEON(part *float32, w *float32, x *float32, n int)

//go:noescape
func matVec4F16NEON(part *float32, w *uint16, stride int, x *float32, n int)

//go:noescape
func matVec1F16NEON(part *float32, w *uint16, x *float32, n int)

//go:noescape
func matVec4BF16NEON(part *float32, w *uint16, stride int, x *float32, n int)

//go:noescape
func matVec1BF16NEON(part *float32, w *uint16, x *float32, n int)

//go:noescape
func axpyNEON(alpha float32, x, y *float32, n int)

//go:noescape
func f16ToF32NEON(dst *float32, src *uint16, n int)

//go:noescape
func bf16ToF32NEON(dst *float32, src *uint16, n int)

func sum8(p *[8]float32) float32 {
	return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]))
}

// Kernel selectors for matVecNEON.
const (
	kindF32 = iota
	kindF16
	kindBF16
)

// matVecNEON runs the 4-row and 1-row kernels of the given kind over the
// first n = cols&^7 columns, then adds each row's remaining columns in Go.
// The kernels are called directly (not through function values) so that
// part stays on the stack.
func matVecNEON[T float32 | uint16](kind int, y []float32, w []T, x []float32) {
	rows, cols := len(y), len(x)
	n := cols &^ 7
	w = w[:rows*cols]
	var part [32]float32
	k4 := func(r int) {
		p := unsafe.Pointer(&w[r*cols])
		switch kind {
		case kindF32:
			matVec4F32NEON(&part[0], (*float32)(p), cols, &x[0], n)
		case kindF16:
			matVec4F16NEON(&part[0], (*uint16)(p), cols, &x[0], n)
		default:
			matVec4BF16NEON(&part[0], (*uint16)(p), cols, &x[0], n)
		}
	}
	k1 := func(r int) {
		p := unsafe.Pointer(&w[r*cols])
		switch kind {
		case kindF32:
			matVec1F32NEON(&part[0], (*float32)(p), &x[0], n)
		case kindF16:
			matVec1F16NEON(&part[0], (*uint16)(p), &x[0], n)
		default:
			matVec1BF16NEON(&part[0], (*uint16)(p), &x[0], n)
		}
	}
	r := 0
	if n > 0 {
		for ; r+4 <= rows; r += 4 {
			k4(r)
			for i := 0; i < 4; i++ {
				y[r+i] = sum8((*[8]float32)(part[8*i:]))
			}
		}
		for ; r < rows; r++ {
			k1(r)
			y[r] = sum8((*[8]float32)(part[:8]))
		}
	} else {
		clear(y)
	}
	if n == cols {
		return
	}
	for r := range y {
		row := w[r*cols+n : (r+1)*cols]
		var s float32
		for i, v := range row {
			var f float32
			switch kind {
			case kindF32:
				f = float32(v)
			case kindF16:
				f = half.F16ToF32(uint16(v))
			default:
				f = half.BF16ToF32(uint16(v))
			}
			s += f * x[n+i]
		}
		y[r] += s
	}
}

func matVecF32N(y, w, x []float32)                     { matVecNEON(kindF32, y, w, x) }
func matVecF16N(y []float32, w []uint16, x []float32)  { matVecNEON(kindF16, y, w, x) }
func matVecBF16N(y []float32, w []uint16, x []float32) { matVecNEON(kindBF16, y, w, x) }

func dotN(a, b []float32) float32 {
	n := len(a) &^ 7
	var s float32
	if n > 0 {
		var part [8]float32
		matVec1F32NEON(&part[0], &a[0], &b[0], n)
		s = sum8(&part)
	}
	return s + dotGeneric(a[n:], b[n:len(a)])
}

func axpyN(alpha float32, x, y []float32) {
	n := len(x) &^ 7
	if n > 0 {
		_ = y[len(x)-1]
		axpyNEON(alpha, &x[0], &y[0], n)
	}
	axpyGeneric(alpha, x[n:], y[n:len(x)])
}

func f16ToF32N(dst []float32, src []uint16) {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[len(src)-1]
		f16ToF32NEON(&dst[0], &src[0], n)
	}
	f16ToF32Generic(dst[n:], src[n:])
}

func bf16ToF32N(dst []float32, src []uint16) {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[len(src)-1]
		bf16ToF32NEON(&dst[0], &src[0], n)
	}
	bf16ToF32Generic(dst[n:], src[n:])
}

func wsumF32N(out, v, p []float32) {
	hd := len(out)
	clear(out)
	for t, pt := range p {
		axpyN(pt, v[t*hd:(t+1)*hd], out)
	}
}

//go:noescape
func gemm6x16NEON(k int, a, b, c *float32, ldb, ldc, load int)

//go:noescape
func matVec4Q8NEON(part *float32, w *int8, stride int, x *float32, n int)

//go:noescape
func matVec1Q8NEON(part *float32, w *int8, x *float32, n int)

// matVecQ8N widens the int8 weights to f32 exactly (no activation
// quantization), so it agrees with the generic code up to rounding.
func matVecQ8N(y []float32, w []int8, scale []float32, q *q8Vec) {
	x := q.x
	rows, cols := len(y), len(x)
	n := cols &^ 15
	w = w[:rows*cols]
	scale = scale[:rows]
	var part [32]float32
	r := 0
	if n > 0 {
		for ; r+4 <= rows; r += 4 {
			matVec4Q8NEON(&part[0], &w[r*cols], cols, &x[0], n)
			for i := 0; i < 4; i++ {
				y[r+i] = sum8((*[8]float32)(part[8*i:]))
			}
		}
		for ; r < rows; r++ {
			matVec1Q8NEON(&part[0], &w[r*cols], &x[0], n)
			y[r] = sum8((*[8]float32)(part[:8]))
		}
	} else {
		clear(y)
	}
	for r := range y {
		s := y[r]
		for c := n; c < cols; c++ {
			s += float32(w[r*cols+c]) * x[c]
		}
		y[r] = s * scale[r]
	}
}
