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
		amax = max(amax, float32(math.Abs(float64(x))))
	}
	if amax == 0 || !(amax <= math.MaxFloat32) { // zeros, or a NaN or Inf (max keeps a NaN)
		clear(dst)
		return amax
	}
	scale := amax / 127
	inv := 127 / amax
	for i, x := range src {
		dst[i] = int8(math.RoundToEven(float64(x * inv)))
	}
	return scale
}
