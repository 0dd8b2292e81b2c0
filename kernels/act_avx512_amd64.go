//go:build amd64 && !purego

package kernels

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
