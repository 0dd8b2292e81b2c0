//go:build amd64 && !purego

package kernels

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
