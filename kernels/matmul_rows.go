package kernels

// maxRowsN is the largest number of input rows MatMul serves with the
// matrix-vector kernels (matRowsJob) instead of a GEMM: few rows, as in a
// batched decode step, are bound by reading the weights, not by arithmetic.
const maxRowsN = 32

// rowsBlockBytes is the size of the block of weight rows kept in cache while
// it is multiplied with every input row.
const rowsBlockBytes = 32 << 10

// matRows computes MatMul for 2 <= n <= maxRowsN rows of x with the
// matrix-vector kernels: the weight rows are cut into blocks of about
// rowsBlockBytes spread over the worker pool, and each block is multiplied
// with the n input rows while it sits in cache, so the weights are read from
// memory once per call. Row i of y equals MatVec of row i of x exactly (for
// Q8, x rows are quantized as MatVec does).
func matRows(b *backend, y []float32, w *Matrix, x []float32, n int) {
	cols := w.Cols
	elem := 4
	switch w.Type {
	case F16, BF16:
		elem = 2
	case Q8:
		elem = 1
	}
	j := matRowsJob{b: b, y: y, w: w, x: x, n: n, block: max(1, rowsBlockBytes/max(cols*elem, 1))}
	if w.Type == Q8 {
		for i := range n {
			q := q8Pool.Get().(*q8Vec)
			xi := x[i*cols : (i+1)*cols]
			j.qb[i] = b
			if b.quantizeQ8 != nil {
				b.quantizeQ8(q, xi)
				if !q.ok {
					j.qb[i] = generic
				}
			} else {
				q.x = xi
			}
			j.q[i] = q
		}
		defer func() {
			for i := range n {
				j.q[i].x = nil
				q8Pool.Put(j.q[i])
			}
		}()
	}
	blocks := (w.Rows + j.block - 1) / j.block
	grain := matVecGrain/max(n*cols*j.block, 1) + 1
	if blocks >= 2*grain && workers.acquire() {
		pj := &workers.jobs.matRows
		*pj = j
		workers.run(pj, blocks, grain)
		*pj = matRowsJob{}
		workers.release()
		return
	}
	j.run(0, blocks)
}

// matRowsJob computes the outputs of weight-row blocks [lo, hi) for every
// input row.
type matRowsJob struct {
	b     *backend
	y, x  []float32
	w     *Matrix
	n     int
	block int // weight rows per item
	q     [maxRowsN]*q8Vec
	qb    [maxRowsN]*backend // the backend for q[i] (generic if x row i is not finite)
}

func (j *matRowsJob) run(lo, hi int) {
	w, cols, rows := j.w, j.w.Cols, j.w.Rows
	for blk := lo; blk < hi; blk++ {
		r0 := blk * j.block
		r1 := min(r0+j.block, rows)
		for i := range j.n {
			y := j.y[i*rows+r0 : i*rows+r1]
			x := j.x[i*cols : (i+1)*cols]
			switch w.Type {
			case F32:
				j.b.matVecF32(y, w.F32[r0*cols:r1*cols], x)
			case F16:
				j.b.matVecF16(y, w.Half[r0*cols:r1*cols], x)
			case BF16:
				j.b.matVecBF16(y, w.Half[r0*cols:r1*cols], x)
			case Q8:
				j.qb[i].matVecQ8(y, w.Q8[r0*cols:r1*cols], w.Scale[r0:r1], j.q[i])
			}
		}
	}
}
