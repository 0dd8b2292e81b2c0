package kernels

// matVecGrain is the least number of weights worth handing to another
// goroutine: below about this much work the wake-up costs more than it saves.
const matVecGrain = 1 << 15

// MatVec computes y = W·x: y[r] = sum_c W[r,c]*x[c], with len(x) == w.Cols
// and len(y) == w.Rows. Rows are split across the worker pool.
//
// For Q8 and Q4 weights the SIMD paths quantize x to int8 in blocks of 32
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
	if w.Type.traits().quantized {
		q := quantizeActivations(b, x, w.Type)
		if !q.ok {
			j.b = generic
		}
		j.q = q
		defer func() { q.x = nil; q8Pool.Put(q) }()
	}
	grain := matVecGrain/max(w.Cols, 1) + 1
	if w.Rows >= 2*grain {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.matVec
			*pj = j
			t.runDecode(pj, w.Rows, grain)
			*pj = matVecJob{}
			workers.release(t)
			return
		}
	}
	j.run(0, w.Rows)
}

// quantizeActivations returns x quantized to int8 blocks for a quantized
// matrix of type t (the generic quantizer on backends without their own),
// with the extra layouts t's kernels read; q.ok is false if x holds Inf or
// NaN. Return it to q8Pool after use.
func quantizeActivations(b *backend, x []float32, t DType) *q8Vec {
	q := q8Pool.Get().(*q8Vec)
	quantize := b.quantizeQ8
	if quantize == nil {
		quantize = quantizeQ8Generic
	}
	quantize(q, x)
	q.lsum, q.nib, q.q4 = q.lsum[:0], q.nib[:0], q.q4[:0]
	if q.ok && b.layouts != nil {
		b.layouts(q, t)
	}
	return q
}

// matVecJob computes rows [lo, hi) of a MatVec.
type matVecJob struct {
	b    *backend
	y, x []float32
	w    *Matrix
	q    *q8Vec
}

func (j *matVecJob) run(lo, hi int) {
	j.w.Type.traits().matVec(j.b, j.y[lo:hi], j.w, lo, j.x, j.q)
}

// maxMatVecs bounds how many matrices one MatVecs call takes.
const maxMatVecs = 4

// MatVecs computes ys[i] = ws[i]·x for up to 4 matrices that share the input
// x, such as the query, key and value projections, in one parallel call: one
// dispatch to the workers instead of one per matrix, and for Q8 weights one
// quantization of x. All matrices must have the same type and len(x)
// columns. The results equal those of separate MatVec calls.
func MatVecs(ys [][]float32, ws []*Matrix, x []float32) {
	if len(ys) != len(ws) || len(ws) == 0 || len(ws) > maxMatVecs {
		panic("kernels.MatVecs: need 1 to 4 matrices, one output each")
	}
	for i, w := range ws {
		mustValid("MatVecs", w)
		mustLen("MatVecs", "x", len(x), w.Cols)
		mustLen("MatVecs", "y", len(ys[i]), w.Rows)
		if w.Type != ws[0].Type {
			panic("kernels.MatVecs: matrices of different types")
		}
	}
	b := active
	j := matVecsJob{n: len(ws)}
	rows := 0
	for i, w := range ws {
		j.parts[i] = matVecJob{b: b, y: ys[i], w: w, x: x}
		j.start[i] = rows
		rows += w.Rows
	}
	j.start[len(ws)] = rows
	if ws[0].Type.traits().quantized {
		q := quantizeActivations(b, x, ws[0].Type)
		qb := b
		if !q.ok {
			qb = generic
		}
		for i := range j.n {
			j.parts[i].q, j.parts[i].b = q, qb
		}
		defer func() { q.x = nil; q8Pool.Put(q) }()
	}
	grain := matVecGrain/max(ws[0].Cols, 1) + 1
	if rows >= 2*grain {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.matVecs
			*pj = j
			t.runDecode(pj, rows, grain)
			*pj = matVecsJob{}
			workers.release(t)
			return
		}
	}
	j.run(0, rows)
}

// matVecsJob computes rows [lo, hi) of the stacked matrices of a MatVecs.
type matVecsJob struct {
	parts [maxMatVecs]matVecJob
	start [maxMatVecs + 1]int // first stacked row of each part, then the total
	n     int
}

func (j *matVecsJob) run(lo, hi int) {
	for i := 0; i < j.n && lo < hi; i++ {
		s, e := j.start[i], j.start[i+1]
		if lo >= e {
			continue
		}
		end := min(hi, e)
		j.parts[i].run(lo-s, end-s)
		lo = end
	}
}
