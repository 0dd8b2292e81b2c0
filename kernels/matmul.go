package kernels

// mmBlock is the number of weight rows MatMul converts to f32 and keeps hot
// in cache while sweeping over all input rows.
const mmBlock = 16

// MatMul computes Y = X·Wᵀ for n input rows: X is n x w.Cols row-major (len
// n*w.Cols), Y is n x w.Rows row-major (len n*w.Rows), so row i of Y is
// MatVec of row i of X. For int8 and int4 weights on AVX-512 VNNI (columns
// and groups multiples of 32), any n >= 2 runs the quantized GEMM
// (qgemm.go): each row of X is quantized to int8 once, as MatVec does, and
// row i of Y equals MatVec of row i up to float32 rounding (the same integer
// dot products and scales, summed in another order). Otherwise, up to 32
// rows (a batched decode step) it is exactly MatVec, row by row, with the
// weights read from memory once for all rows (see matRows). Larger n runs a
// cache-blocked GEMM: X is packed once, the weight rows are processed in
// panels spread over the worker pool, each panel widened to f32 (quantized
// values times their scales, exactly) once and reused for all n rows by a
// register-tiled micro-kernel.
func MatMul(y []float32, w *Matrix, x []float32, n int) {
	mustValid("MatMul", w)
	if n < 0 {
		panic("kernels.MatMul: negative n")
	}
	mustLen("MatMul", "x", len(x), n*w.Cols)
	mustLen("MatMul", "y", len(y), n*w.Rows)
	matMul(active, y, w, x, n)
}

// MatMulWidened is MatMul without the quantized GEMM: up to 32 rows MatVec
// row by row (exactly), beyond that int8 and int4 weights widened to f32 for
// the f32 GEMM, so that large products keep float32 activations. The int8
// vision tower uses it: int8 activations there cost too little precision in
// its features (cosine 0.99992 against 0.99995) but flip greedy tokens of
// the random-weight fixtures at steps whose margins are 0.06-0.2.
func MatMulWidened(y []float32, w *Matrix, x []float32, n int) {
	mustValid("MatMulWidened", w)
	if n < 0 {
		panic("kernels.MatMulWidened: negative n")
	}
	mustLen("MatMulWidened", "x", len(x), n*w.Cols)
	mustLen("MatMulWidened", "y", len(y), n*w.Rows)
	matMulWidened(active, y, w, x, n)
}

// MatMuls computes ys[i] = MatMul of x by ws[i] for 1 to 4 matrices with
// the same columns and the same n input rows x (the q/k/v or gate/up
// projections of a batch): the same results as MatMul of each, bit for bit.
// With the quantized GEMM (matrices of one quantized type), x is quantized
// and packed once and one parallel call computes all the products.
func MatMuls(ys [][]float32, ws []*Matrix, x []float32, n int) {
	if len(ys) != len(ws) || len(ws) == 0 || len(ws) > maxMatVecs {
		panic("kernels.MatMuls: need 1 to 4 matrices, one output each")
	}
	if n < 0 {
		panic("kernels.MatMuls: negative n")
	}
	same := true
	for i, w := range ws {
		mustValid("MatMuls", w)
		mustLen("MatMuls", "x", len(x), n*w.Cols)
		mustLen("MatMuls", "y", len(ys[i]), n*w.Rows)
		same = same && w.Type == ws[0].Type && w.Rows > 0 && qgemmApplies(active, w)
	}
	if n >= 2 && same {
		qgemmMatMuls(active, ys, nil, ws, x, n)
		return
	}
	for i, w := range ws {
		matMul(active, ys[i], w, x, n)
	}
}

// MatMulTo computes MatMul of the len(ys) rows of x (len(ys)*w.Cols values)
// by w, writing output row i to ys[i] (len w.Rows each; the rows must not
// overlap each other or x): MatMul's results bit for bit, without an output
// array holding every row, so a batch's last-position logits go straight
// to each sequence's buffer. With the quantized GEMM, each parallel work
// item copies its outputs from cache; otherwise the rows are computed into
// scratch and copied.
func MatMulTo(ys [][]float32, w *Matrix, x []float32) {
	mustValid("MatMulTo", w)
	n := len(ys)
	mustLen("MatMulTo", "x", len(x), n*w.Cols)
	for i := range ys {
		mustLen("MatMulTo", "ys[i]", len(ys[i]), w.Rows)
	}
	switch {
	case n == 0:
	case n == 1:
		matVec(active, ys[0], w, x)
	case w.Rows > 0 && qgemmApplies(active, w):
		qgemmMatMuls(active, nil, ys, []*Matrix{w}, x, n)
	default:
		buf := scratchPool.Get().(*[]float32)
		defer scratchPool.Put(buf)
		y := grow(buf, n*w.Rows)
		matMulWidened(active, y, w, x, n)
		for i, yi := range ys {
			copy(yi, y[i*w.Rows:])
		}
	}
}

func matMul(b *backend, y []float32, w *Matrix, x []float32, n int) {
	if n >= 2 && w.Rows > 0 && qgemmApplies(b, w) {
		qgemmMatMuls(b, [][]float32{y}, nil, []*Matrix{w}, x, n)
		return
	}
	matMulWidened(b, y, w, x, n)
}

func matMulWidened(b *backend, y []float32, w *Matrix, x []float32, n int) {
	if n == 1 {
		matVec(b, y, w, x)
		return
	}
	if n == 0 || w.Rows == 0 {
		return
	}
	if w.Cols == 0 {
		clear(y)
		return
	}
	if n <= maxRowsN {
		matRows(b, y, w, x, n)
		return
	}
	if b.gemm != nil && n >= b.gemm.mr {
		gemmMatMul(b, y, w, x, n)
		return
	}
	j := matMulJob{b: b, y: y, w: w, x: x, n: n}
	blocks := (w.Rows + mmBlock - 1) / mmBlock
	grain := matVecGrain/max(n*w.Cols*mmBlock, 1) + 1
	if blocks >= 2*grain {
		if t := workers.acquire(); t != nil {
			pj := &t.jobs.matMul
			*pj = j
			t.run(pj, blocks, grain)
			*pj = matMulJob{}
			workers.release(t)
			return
		}
	}
	j.run(0, blocks)
}

// matMulJob computes the output columns of weight-row blocks [lo, hi).
type matMulJob struct {
	b    *backend
	y, x []float32
	w    *Matrix
	n    int
}

func (j *matMulJob) run(lo, hi int) {
	w, cols, rows := j.w, j.w.Cols, j.w.Rows
	// The scratch holds a widened panel and one block of results.
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	s := grow(buf, mmBlock*cols+mmBlock)
	acc := s[mmBlock*cols:]
	for blk := lo; blk < hi; blk++ {
		r0 := blk * mmBlock
		r1 := min(r0+mmBlock, rows)
		var panel []float32
		if w.Type == F32 {
			panel = w.F32[r0*cols : r1*cols]
		} else {
			panel = s[:(r1-r0)*cols]
			widen := w.Type.traits().widen
			for r := r0; r < r1; r++ {
				widen(j.b, panel[(r-r0)*cols:(r-r0+1)*cols], w, r, 0)
			}
		}
		for i := 0; i < j.n; i++ {
			out := acc[:r1-r0]
			j.b.matVecF32(out, panel, j.x[i*cols:(i+1)*cols])
			copy(j.y[i*rows+r0:i*rows+r1], out)
		}
	}
}
