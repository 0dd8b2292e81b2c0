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
	scaleMul(dst, x, weight, inv)
}

// scaleMulGeneric sets dst[i] = x[i] * s * w[i] (len(x) and len(w) at
// least len(dst)); the pure-Go twin of scaleMul.
func scaleMulGeneric(dst, x, w []float32, s float32) {
	x, w = x[:len(dst)], w[:len(dst)]
	for i, v := range x {
		dst[i] = v * s * w[i]
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
	mean := sum64(x) / float64(len(x))
	inv := 1 / math.Sqrt(sqDev64(x, mean)/float64(len(x))+float64(eps))
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

// sum64 returns the sum of x accumulated in float64, in four independent
// chains for speed.
func sum64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := (*[4]float32)(x[i : i+4])
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sqDev64 returns sum (x[i]-m)² accumulated in float64.
func sqDev64(x []float32, m float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := (*[4]float32)(x[i : i+4])
		d0, d1, d2, d3 := float64(v[0])-m, float64(v[1])-m, float64(v[2])-m, float64(v[3])-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - m
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// LayerNormRows is LayerNorm on each of the n rows of x (len n*d, d =
// len(weight)) into dst, rows spread over the pool's threads; dst may
// alias x, bias may be nil. Each row is exactly LayerNorm's result.
func LayerNormRows(dst, x, weight, bias []float32, n int, eps float32) {
	if n < 0 {
		panic("kernels.LayerNormRows: negative n")
	}
	d := len(weight)
	mustLen("LayerNormRows", "x", len(x), n*d)
	mustLen("LayerNormRows", "dst", len(dst), n*d)
	if bias != nil {
		mustLen("LayerNormRows", "bias", len(bias), d)
	}
	j := layerNormJob{dst: dst, x: x, w: weight, b: bias, eps: eps}
	// About 64 KB of rows per item: the call overhead stays small.
	grain := max(1, (16<<10)/max(d, 1))
	if n >= 2*grain {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.layerNorm
			*pj = j
			t.run(pj, n, grain)
			*pj = layerNormJob{}
			workers.release(t)
			return
		}
	}
	j.run(0, n)
}

// layerNormJob normalizes rows [lo, hi) (see LayerNormRows).
type layerNormJob struct {
	dst, x, w, b []float32
	eps          float32
}

func (j *layerNormJob) run(lo, hi int) {
	d := len(j.w)
	for i := lo; i < hi; i++ {
		LayerNorm(j.dst[i*d:(i+1)*d], j.x[i*d:(i+1)*d], j.w, j.b, j.eps)
	}
}
