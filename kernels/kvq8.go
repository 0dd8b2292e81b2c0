package kernels

import "math"

// QuantizeQ8Row stores src as int8 in dst (same length) with one scale,
// which it returns: dst[i] = round(src[i] / scale), scale = max|src| / 127,
// so that src[i] ≈ scale * dst[i] with an error of at most scale/2. A row of
// zeros has scale 0. This is the row format of a Q8 KV cache (see
// AttentionPagedQ8); a NaN or Inf in src gives a NaN or Inf scale, so that
// attention over it is not finite either, as with f32 storage.
func QuantizeQ8Row(dst []int8, src []float32) float32 {
	mustLen("QuantizeQ8Row", "dst", len(dst), len(src))
	var amax float32
	for _, x := range src {
		amax = max(amax, math.Float32frombits(math.Float32bits(x)&^(1<<31))) // max keeps a NaN
	}
	if amax == 0 || !(amax <= math.MaxFloat32) { // zeros, or a NaN or Inf
		clear(dst)
		return amax
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
