package kernels

import "math"

// RMSNorm computes dst = x / sqrt(mean(x²) + eps) * weight. All slices have
// the same length; dst may alias x.
func RMSNorm(dst, x, weight []float32, eps float32) {
	mustLen("RMSNorm", "x", len(x), len(dst))
	mustLen("RMSNorm", "weight", len(weight), len(dst))
	if len(x) == 0 {
		return
	}
	ss := float64(active.dot(x, x))
	inv := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	weight = weight[:len(x)]
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = v * inv * weight[i]
	}
}

// LayerNorm computes dst = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias
// with the population variance, as torch.nn.LayerNorm does. dst may alias x;
// bias may be nil (no bias). Statistics are accumulated in float64.
func LayerNorm(dst, x, weight, bias []float32, eps float32) {
	mustLen("LayerNorm", "x", len(x), len(dst))
	mustLen("LayerNorm", "weight", len(weight), len(dst))
	if bias != nil {
		mustLen("LayerNorm", "bias", len(bias), len(dst))
	}
	if len(x) == 0 {
		return
	}
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	var vs float64
	for _, v := range x {
		d := float64(v) - mean
		vs += d * d
	}
	inv := 1 / math.Sqrt(vs/float64(len(x))+float64(eps))
	m32, inv32 := float32(mean), float32(inv)
	weight = weight[:len(x)]
	dst = dst[:len(x)]
	if bias == nil {
		for i, v := range x {
			dst[i] = (v - m32) * inv32 * weight[i]
		}
		return
	}
	bias = bias[:len(x)]
	for i, v := range x {
		dst[i] = (v-m32)*inv32*weight[i] + bias[i]
	}
}
