//go:build amd64 && !purego

package kernels

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

//go:noescape
func addAVX512(dst, a, b *float32, n int)

// addZ sets dst = a + b (a and b at least len(dst) long).
func addZ(dst, a, b []float32) {
	if len(dst) > 0 {
		_, _ = a[len(dst)-1], b[len(dst)-1]
		addAVX512(&dst[0], &a[0], &b[0], len(dst))
	}
}

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
