package kernels

// Softmax replaces x by exp(x - max(x)) / sum, in place. An empty slice is
// left alone; if max(x) is -Inf every entry becomes NaN, as in PyTorch.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	active.softmax(x)
}

func softmaxGeneric(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float64
	for i, v := range x {
		e := exp32(v - m)
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// SiLUMul computes dst = silu(gate) * up = gate / (1 + exp(-gate)) * up, the
// SwiGLU feed-forward activation. dst may alias gate or up.
func SiLUMul(dst, gate, up []float32) {
	mustLen("SiLUMul", "gate", len(gate), len(dst))
	mustLen("SiLUMul", "up", len(up), len(dst))
	if len(dst) < parallelMin {
		active.siluMul(dst, gate, up)
		return
	}
	elementwise(len(dst), func(lo, hi int) { active.siluMul(dst[lo:hi], gate[lo:hi], up[lo:hi]) })
}

func siluMulGeneric(dst, gate, up []float32) {
	gate, up = gate[:len(dst)], up[:len(dst)]
	for i := range dst {
		g := gate[i]
		dst[i] = g * up[i] / (1 + exp32(-g))
	}
}

// GELUTanh computes dst = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the
// "gelu_pytorch_tanh" activation. dst may alias x.
func GELUTanh(dst, x []float32) {
	mustLen("GELUTanh", "x", len(x), len(dst))
	active.geluTanh(dst, x)
}

// geluTanhGeneric uses 0.5·(1 + tanh(u)) = 1/(1 + exp(-2u)), as the SIMD
// paths do.
func geluTanhGeneric(dst, x []float32) {
	x = x[:len(dst)]
	const c2 = -2 * 0.7978845608028654 // -2·sqrt(2/pi)
	for i, v := range x {
		dst[i] = v / (1 + exp32(c2*(v+0.044715*v*v*v)))
	}
}
