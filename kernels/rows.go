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
