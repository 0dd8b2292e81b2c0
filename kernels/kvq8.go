package kernels

import "math"

// QuantizeQ8Row stores src as int8 in dst (same length) with one scale,
// which it returns: dst[i] = round(src[i] / scale), scale = max|src| / 127,
// so that src[i] ≈ scale * dst[i] with an error of at most scale/2. A row of
// zeros has scale 0. This is the row format of a Q8 KV cache (see
// AttentionPagedQ8); a NaN or Inf in src gives a NaN scale, so that
// attention over it is not finite either, as with f32 storage.
func QuantizeQ8Row(dst []int8, src []float32) float32 {
	mustLen("QuantizeQ8Row", "dst", len(dst), len(src))
	if f := active.quantizeQ8Row; f != nil {
		return f(dst, src)
	}
	return quantizeQ8RowGeneric(dst, src)
}

// quantizeQ8RowGeneric is QuantizeQ8Row in Go, the twin of the SIMD
// forms (backend.quantizeQ8Row), which must give the same bytes and scale.
func quantizeQ8RowGeneric(dst []int8, src []float32) float32 {
	var amax float32
	finite := true
	for _, x := range src {
		a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
		finite = finite && a <= math.MaxFloat32 // false for NaN and Inf
		if a > amax {
			amax = a
		}
	}
	if !finite {
		clear(dst)
		return float32(math.NaN())
	}
	if amax == 0 {
		clear(dst)
		return 0
	}
	inv := 127 / amax
	for i, x := range src {
		// Adding and subtracting 1.5*2^23 rounds |y| <= 2^22 to the nearest
		// integer, ties to even (float32 arithmetic, not reassociated).
		y := x * inv
		dst[i] = int8(int32((y + 0x1.8p23) - 0x1.8p23))
	}
	return amax / 127
}
