package kernels

import "math"

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
		e := float32(math.Exp(float64(v - m)))
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
	active.siluMul(dst, gate, up)
}

func siluMulGeneric(dst, gate, up []float32) {
	gate, up = gate[:len(dst)], up[:len(dst)]
	for i := range dst {
		g := gate[i]
		dst[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
	}
}

// GELUTanh computes dst = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the
// "gelu_pytorch_tanh" activation. dst may alias x.
func GELUTanh(dst, x []float32) {
	mustLen("GELUTanh", "x", len(x), len(dst))
	active.geluTanh(dst, x)
}

func geluTanhGeneric(dst, x []float32) {
	x = x[:len(dst)]
	const c = 0.7978845608028654 // sqrt(2/pi)
	for i, v := range x {
		u := float64(v)
		dst[i] = float32(0.5 * u * (1 + math.Tanh(c*(u+0.044715*u*u*u))))
	}
}

// RoPE applies rotary position embeddings in place to x, which holds nHeads
// heads of headDim values, in the Hugging Face "rotate half" layout: for each
// head and i < headDim/2, the pair (x[i], x[i+headDim/2]) is rotated by the
// angle whose cosine and sine are cos[i] and sin[i] (the values for this
// token's position). headDim must be even.
func RoPE(x []float32, nHeads, headDim int, cos, sin []float32) {
	if headDim%2 != 0 || nHeads < 0 {
		panic("kernels.RoPE: headDim must be even and nHeads non-negative")
	}
	half := headDim / 2
	mustLen("RoPE", "x", len(x), nHeads*headDim)
	mustLen("RoPE", "cos", len(cos), half)
	mustLen("RoPE", "sin", len(sin), half)
	for h := 0; h < nHeads; h++ {
		a := x[h*headDim : h*headDim+half]
		b := x[h*headDim+half : (h+1)*headDim]
		for i := range a {
			x1, x2 := a[i], b[i]
			a[i] = x1*cos[i] - x2*sin[i]
			b[i] = x2*cos[i] + x1*sin[i]
		}
	}
}
