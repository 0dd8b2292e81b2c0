//go:build amd64 && !purego

package kernels

import "math"

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
