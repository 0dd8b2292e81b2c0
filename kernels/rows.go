package kernels

// Row-wise and element-wise kernels over many rows (a prefill step's
// activations) split their work over the worker pool, so that they do not
// leave the other threads idle between two parallel matrix products.

// parallelMin is the number of float32 values below which an element-wise
// kernel runs on its caller alone: a parallel call costs a few
// microseconds, the time of about that many values.
const parallelMin = 1 << 15

// funcJob runs a function over a range of items.
type funcJob struct{ fn func(lo, hi int) }

func (j *funcJob) run(lo, hi int) { j.fn(lo, hi) }

// parallelFor runs fn over [0, n) in chunks of at least grain items on the
// caller and idle workers (on the caller alone with one thread).
func parallelFor(n, grain int, fn func(lo, hi int)) {
	if n >= 2*grain {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.fn
			pj.fn = fn
			t.run(pj, n, grain)
			pj.fn = nil
			workers.release(t)
			return
		}
	}
	fn(0, n)
}

// RMSNormRows applies RMSNorm with weight w to each of the n rows of x
// (len n*len(w)) into dst (same length; may alias x), in parallel for
// many rows.
func RMSNormRows(dst, x, w []float32, n int, eps float32) {
	d := len(w)
	mustLen("RMSNormRows", "x", len(x), n*d)
	mustLen("RMSNormRows", "dst", len(dst), n*d)
	if n*d < parallelMin {
		rmsNormRows(dst, x, w, 0, n, eps)
		return
	}
	parallelFor(n, max(1, parallelMin/4/max(d, 1)), func(lo, hi int) { rmsNormRows(dst, x, w, lo, hi, eps) })
}

func rmsNormRows(dst, x, w []float32, lo, hi int, eps float32) {
	d := len(w)
	for i := lo; i < hi; i++ {
		RMSNorm(dst[i*d:(i+1)*d], x[i*d:(i+1)*d], w, eps)
	}
}

// elementwise runs op over [0, n) values in parallel chunks (multiples of
// 64 values); callers run small n themselves, without making a closure.
func elementwise(n int, op func(lo, hi int)) {
	const block = 64
	parallelFor((n+block-1)/block, parallelMin/4/block, func(lo, hi int) {
		op(lo*block, min(hi*block, n))
	})
}

// RoPERows applies RoPE to the len(pos) rows of q (qHeads heads each) and
// of k (kHeads heads each, nil for none), row i at position pos[i]: its
// cosines and sines are cos[pos[i]*headDim/2:] and sin[...] (tables of
// positions x headDim/2). Many rows run in parallel.
func RoPERows(q, k []float32, pos []int, qHeads, kHeads, headDim int, cos, sin []float32) {
	n, half := len(pos), headDim/2
	mustLen("RoPERows", "q", len(q), n*qHeads*headDim)
	if k != nil {
		mustLen("RoPERows", "k", len(k), n*kHeads*headDim)
	}
	for _, p := range pos {
		if p < 0 || (p+1)*half > min(len(cos), len(sin)) {
			panic("kernels.RoPERows: position past the cos/sin tables")
		}
	}
	if len(q)+len(k) < parallelMin {
		ropeRows(q, k, pos, qHeads, kHeads, headDim, cos, sin, 0, n)
		return
	}
	parallelFor(n, max(1, parallelMin/4/((qHeads+kHeads)*max(headDim, 1))), func(lo, hi int) {
		ropeRows(q, k, pos, qHeads, kHeads, headDim, cos, sin, lo, hi)
	})
}

func ropeRows(q, k []float32, pos []int, qHeads, kHeads, headDim int, cos, sin []float32, lo, hi int) {
	half, qd, kd := headDim/2, qHeads*headDim, kHeads*headDim
	for i := lo; i < hi; i++ {
		p := pos[i]
		cs, sn := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
		RoPE(q[i*qd:(i+1)*qd], qHeads, headDim, cs, sn)
		if k != nil {
			RoPE(k[i*kd:(i+1)*kd], kHeads, headDim, cs, sn)
		}
	}
}
