package kernels

// matVecGrain is the least number of weights worth handing to another
// goroutine: below about this much work the wake-up costs more than it saves.
const matVecGrain = 1 << 15

// MatVec computes y = W·x: y[r] = sum_c W[r,c]*x[c], with len(x) == w.Cols
// and len(y) == w.Rows. Rows are split across the worker pool.
//
// For Q8 weights the amd64 SIMD paths quantize x to int8 in blocks of 32
// (scale max|x|/127 per block, as llama.cpp's Q8_0) and use integer dot
// products (VNNI or VPMADDUBSW). Each x[c] then moves by at most half its
// block's step, so |error| <= sum_c |W[r,c]| * max|x over c's block| / 254;
// for typical activations that is about 0.5% of |y| (1% with outliers). If x
// holds Inf or NaN, or on other paths, Q8 is computed in float32.
func MatVec(y []float32, w *Matrix, x []float32) {
	mustValid("MatVec", w)
	mustLen("MatVec", "x", len(x), w.Cols)
	mustLen("MatVec", "y", len(y), w.Rows)
	matVec(active, y, w, x)
}

func matVec(b *backend, y []float32, w *Matrix, x []float32) {
	j := matVecJob{b: b, y: y, w: w, x: x}
	if w.Type == Q8 {
		q := q8Pool.Get().(*q8Vec)
		if b.quantizeQ8 != nil {
			b.quantizeQ8(q, x)
			if !q.ok {
				j.b = generic
			}
		} else {
			q.x = x
		}
		j.q = q
		defer func() { q.x = nil; q8Pool.Put(q) }()
	}
	grain := matVecGrain/max(w.Cols, 1) + 1
	if w.Rows >= 2*grain && workers.acquire() {
		pj := &workers.jobs.matVec
		*pj = j
		workers.run(pj, w.Rows, grain)
		*pj = matVecJob{}
		workers.release()
		return
	}
	j.run(0, w.Rows)
}

// matVecJob computes rows [lo, hi) of a MatVec.
type matVecJob struct {
	b    *backend
	y, x []float32
	w    *Matrix
	q    *q8Vec
}

func (j *matVecJob) run(lo, hi int) {
	c := j.w.Cols
	y := j.y[lo:hi]
	switch j.w.Type {
	case F32:
		j.b.matVecF32(y, j.w.F32[lo*c:hi*c], j.x)
	case F16:
		j.b.matVecF16(y, j.w.Half[lo*c:hi*c], j.x)
	case BF16:
		j.b.matVecBF16(y, j.w.Half[lo*c:hi*c], j.x)
	case Q8:
		j.b.matVecQ8(y, j.w.Q8[lo*c:hi*c], j.w.Scale[lo:hi], j.q)
	}
}
