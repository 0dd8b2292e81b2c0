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
	tr := w.Type.traits()
	rowBytes := max(cols*tr.blockBytes/tr.blockSize, 1)
	j := matRowsJob{b: b, y: y, w: w, x: x, n: n, block: max(1, rowsBlockBytes/rowBytes)}
	for i := range n {
		j.qb[i] = b
	}
	if tr.quantized {
		for i := range n {
			q := quantizeActivations(b, x[i*cols:(i+1)*cols], w.Type)
			if !q.ok {
				j.qb[i] = generic
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
	if blocks >= 2*grain {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.matRows
			*pj = j
			t.run(pj, blocks, grain)
			*pj = matRowsJob{}
			workers.release(t)
			return
		}
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
	block int                // weight rows per item
	q     [maxRowsN]*q8Vec   // quantized x rows, for quantized weights
	qb    [maxRowsN]*backend // the backend for row i (generic if x row i is not finite)
}

func (j *matRowsJob) run(lo, hi int) {
	w, cols, rows := j.w, j.w.Cols, j.w.Rows
	matVec := w.Type.traits().matVec
	for blk := lo; blk < hi; blk++ {
		r0 := blk * j.block
		r1 := min(r0+j.block, rows)
		for i := range j.n {
			matVec(j.qb[i], j.y[i*rows+r0:i*rows+r1], w, r0, j.x[i*cols:(i+1)*cols], j.q[i])
		}
	}
}
