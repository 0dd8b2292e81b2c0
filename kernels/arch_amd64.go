//go:build amd64 && !purego

package kernels

import (
	"math"

	"github.com/cellm-ai/cellm-go/internal/half"
	"golang.org/x/sys/cpu"
)

// registerArch adds the amd64 SIMD backends the CPU supports: avx2 (AVX2,
// FMA, F16C) and avx512 (F, BW, VL, and VNNI for int8).
func registerArch() {
	x := cpu.X86
	if !x.HasAVX2 || !x.HasFMA || !x.HasOSXSAVE {
		return
	}
	backends = append(backends, avx2)
	if x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI {
		backends = append(backends, avx512)
	}
}

var avx2 = &backend{
	name:       "avx2",
	dot:        dotY,
	axpy:       axpyY,
	matVecF32:  matVecF32Y,
	matVecF16:  matVecF16Y,
	matVecBF16: matVecBF16Y,
	matVecQ8:   matVecQ8Y,
	quantizeX:  true,
	f16ToF32:   f16ToF32Y,
	bf16ToF32:  bf16ToF32Y,
	f32ToF16:   f32ToF16Y,
	gemm:       &gemmKernel{mr: 6, nr: 16, fn: gemm6x16AVX2},
	wsumF32:    wsumF32Y,
	wsumF16:    wsumF16Y,
	scale:      scaleGeneric,
	softmax:    softmaxY,
	siluMul:    siluMulY,
	geluTanh:   geluTanhY,
}

var avx512 = &backend{
	name:       "avx512",
	dot:        dotZ,
	axpy:       axpyZ,
	matVecF32:  matVecF32Z,
	matVecF16:  matVecF16Z,
	matVecBF16: matVecBF16Z,
	matVecQ8:   matVecQ8Z,
	quantizeX:  true,
	f16ToF32:   f16ToF32Z,
	bf16ToF32:  bf16ToF32Z,
	f32ToF16:   f32ToF16Z,
	gemm:       &gemmKernel{mr: 12, nr: 32, fn: gemm12x32AVX512},
	wsumF32:    wsumF32Z,
	wsumF16:    wsumF16Z,
	scale:      scaleZ,
	softmax:    softmaxZ,
	siluMul:    siluMulZ,
	geluTanh:   geluTanhZ,
}

//go:noescape
func matVecF32AVX512(y, w, x *float32, rows, cols, n int)

//go:noescape
func matVecF16AVX512(y *float32, w *uint16, x *float32, rows, cols, n int)

//go:noescape
func matVecBF16AVX512(y *float32, w *uint16, x *float32, rows, cols, n int)

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
	matVecF16AVX512(&y[0], &w[0], &x[0], rows, cols, cols)
}

func matVecBF16Z(y []float32, w []uint16, x []float32) {
	rows, cols := len(y), len(x)
	if rows == 0 || cols == 0 {
		clear(y)
		return
	}
	_ = w[rows*cols-1]
	matVecBF16AVX512(&y[0], &w[0], &x[0], rows, cols, cols)
}

//go:noescape
func matVecQ8AVX512(y *float32, w, q *int8, ls *float32, rows, cols, n int)

func matVecQ8Z(y []float32, w []int8, scale []float32, q *q8Vec) {
	matVecQ8SIMD(y, w, scale, q, matVecQ8AVX512)
}

// matVecQ8SIMD runs an integer q8 kernel over the quantized blocks of x and
// finishes each row in Go: the columns past the last full block in float,
// then the row scale.
func matVecQ8SIMD(y []float32, w []int8, scale []float32, q *q8Vec,
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
		s := y[r]
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
func dotAVX512(a, b *float32, n int) float32

//go:noescape
func axpyAVX512(alpha float32, x, y *float32, n int)

//go:noescape
func f16ToF32AVX512(dst *float32, src *uint16, n int)

//go:noescape
func bf16ToF32AVX512(dst *float32, src *uint16, n int)

//go:noescape
func f32ToF16AVX512(dst *uint16, src *float32, n int)

func dotZ(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return dotAVX512(&a[0], &b[0], len(a))
}

func axpyZ(alpha float32, x, y []float32) {
	if len(x) == 0 {
		return
	}
	_ = y[len(x)-1]
	axpyAVX512(alpha, &x[0], &y[0], len(x))
}

func f16ToF32Z(dst []float32, src []uint16) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	f16ToF32AVX512(&dst[0], &src[0], len(src))
}

func bf16ToF32Z(dst []float32, src []uint16) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	bf16ToF32AVX512(&dst[0], &src[0], len(src))
}

func f32ToF16Z(dst []uint16, src []float32) {
	if len(src) == 0 {
		return
	}
	_ = dst[len(src)-1]
	f32ToF16AVX512(&dst[0], &src[0], len(src))
}

//go:noescape
func matVecF32AVX2(y, w, x *float32, rows, cols, n int)

//go:noescape
func matVecF16AVX2(y *float32, w *uint16, x *float32, rows, cols, n int)

//go:noescape
func matVecBF16AVX2(y *float32, w *uint16, x *float32, rows, cols, n int)

//go:noescape
func matVecQ8AVX2(y *float32, w, q *int8, ls *float32, rows, cols, n int)

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

//go:noescape
func f16ToF32AVX2(dst *float32, src *uint16, n int)

//go:noescape
func bf16ToF32AVX2(dst *float32, src *uint16, n int)

//go:noescape
func f32ToF16AVX2(dst *uint16, src *float32, n int)

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
	matVecQ8SIMD(y, w, scale, q, matVecQ8AVX2)
}

func dotY(a, b []float32) float32 {
	n := len(a) &^ 7
	var s float32
	if n > 0 {
		s = dotAVX2(&a[0], &b[0], n)
	}
	return s + dotGeneric(a[n:], b[n:len(a)])
}

func axpyY(alpha float32, x, y []float32) {
	n := len(x) &^ 7
	if n > 0 {
		_ = y[len(x)-1]
		axpyAVX2(alpha, &x[0], &y[0], n)
	}
	axpyGeneric(alpha, x[n:], y[n:])
}

func f16ToF32Y(dst []float32, src []uint16) {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[len(src)-1]
		f16ToF32AVX2(&dst[0], &src[0], n)
	}
	f16ToF32Generic(dst[n:], src[n:])
}

func bf16ToF32Y(dst []float32, src []uint16) {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[len(src)-1]
		bf16ToF32AVX2(&dst[0], &src[0], n)
	}
	bf16ToF32Generic(dst[n:], src[n:])
}

func f32ToF16Y(dst []uint16, src []float32) {
	n := len(src) &^ 7
	if n > 0 {
		_ = dst[len(src)-1]
		f32ToF16AVX2(&dst[0], &src[0], n)
	}
	f32ToF16Generic(dst[n:], src[n:])
}

//go:noescape
func gemm12x32AVX512(k int, a, b, c *float32, ldb, ldc, load int)

//go:noescape
func gemm6x16AVX2(k int, a, b, c *float32, ldb, ldc, load int)

//go:noescape
func expAVX512(dst, x *float32, n int)

//go:noescape
func siluMulAVX512(dst, gate, up *float32, n int)

//go:noescape
func geluTanhAVX512(dst, x *float32, n int)

//go:noescape
func expSubSumAVX512(x *float32, n int, m float32) float32

//go:noescape
func maxAVX512(x *float32, n int) float32

//go:noescape
func scaleAVX512(x *float32, n int, s float32)

func scaleZ(x []float32, s float32) {
	if len(x) > 0 {
		scaleAVX512(&x[0], len(x), s)
	}
}

func softmaxZ(x []float32) {
	m := maxAVX512(&x[0], len(x))
	sum := expSubSumAVX512(&x[0], len(x), m)
	scaleAVX512(&x[0], len(x), 1/sum)
}

func siluMulZ(dst, gate, up []float32) {
	if len(dst) > 0 {
		_, _ = gate[len(dst)-1], up[len(dst)-1]
		siluMulAVX512(&dst[0], &gate[0], &up[0], len(dst))
	}
}

func geluTanhZ(dst, x []float32) {
	if len(dst) > 0 {
		_ = x[len(dst)-1]
		geluTanhAVX512(&dst[0], &x[0], len(dst))
	}
}

//go:noescape
func wsumF32AVX512(out, v, p *float32, n, hd int)

//go:noescape
func wsumF16AVX512(out *float32, v *uint16, p *float32, n, hd int)

func wsumF32Z(out, v, p []float32) {
	hd, n := len(out), len(p)
	if hd == 0 {
		return
	}
	if n == 0 {
		clear(out)
		return
	}
	_ = v[n*hd-1]
	wsumF32AVX512(&out[0], &v[0], &p[0], n, hd)
}

func wsumF16Z(out []float32, v []uint16, p []float32) {
	hd, n := len(out), len(p)
	if hd == 0 {
		return
	}
	if n == 0 {
		clear(out)
		return
	}
	_ = v[n*hd-1]
	wsumF16AVX512(&out[0], &v[0], &p[0], n, hd)
}

//go:noescape
func expAVX2(dst, x *float32, n int)

//go:noescape
func siluMulAVX2(dst, gate, up *float32, n int)

//go:noescape
func geluTanhAVX2(dst, x *float32, n int)

//go:noescape
func expSubSumAVX2(x *float32, n int, m float32) float32

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func wsumF32AVX2(out, v, p *float32, n, hd int)

func siluMulY(dst, gate, up []float32) {
	n := len(dst) &^ 7
	if n > 0 {
		_, _ = gate[len(dst)-1], up[len(dst)-1]
		siluMulAVX2(&dst[0], &gate[0], &up[0], n)
	}
	siluMulGeneric(dst[n:], gate[n:], up[n:])
}

func geluTanhY(dst, x []float32) {
	n := len(dst) &^ 7
	if n > 0 {
		_ = x[len(dst)-1]
		geluTanhAVX2(&dst[0], &x[0], n)
	}
	geluTanhGeneric(dst[n:], x[n:])
}

func softmaxY(x []float32) {
	n := len(x) &^ 7
	if n == 0 {
		softmaxGeneric(x)
		return
	}
	m := maxAVX2(&x[0], n)
	for _, v := range x[n:] {
		m = max(m, v)
	}
	sum := expSubSumAVX2(&x[0], n, m)
	for i, v := range x[n:] {
		e := float32(math.Exp(float64(v - m)))
		x[n+i] = e
		sum += e
	}
	scaleGeneric(x, 1/sum)
}

func wsumF32Y(out, v, p []float32) {
	hd, n := len(out), len(p)
	if hd&7 != 0 || n == 0 {
		wsumF32Generic(out, v, p)
		return
	}
	_ = v[n*hd-1]
	wsumF32AVX2(&out[0], &v[0], &p[0], n, hd)
}

//go:noescape
func wsumF16AVX2(out *float32, v *uint16, p *float32, n, hd int)

func wsumF16Y(out []float32, v []uint16, p []float32) {
	hd, n := len(out), len(p)
	if hd&7 != 0 || n == 0 {
		wsumF16Generic(out, v, p)
		return
	}
	_ = v[n*hd-1]
	wsumF16AVX2(&out[0], &v[0], &p[0], n, hd)
}
