package kernels

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
	ropeHeads(x, nHeads, headDim, cos, sin)
}

// ropeGeneric is RoPE after its checks, in Go: the pure-Go twin of
// ropeHeads.
func ropeGeneric(x []float32, nHeads, headDim int, cos, sin []float32) {
	half := headDim / 2
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
