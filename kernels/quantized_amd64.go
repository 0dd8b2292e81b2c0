//go:build amd64 && !purego

package kernels

import "sync"

//go:noescape
func matVecQ4AVX2(y *float32, w *byte, act *q4Act, ws *float32, ch *q4Cols, rows, cols, groups int)

//go:noescape
func matVecQ4VNNI(y *float32, w *byte, act *q4Act, ws *float32, ch *q4Cols, rows, cols, groups int)

//go:noescape
func q4ActsAVX512(q *int8, ls *float32, dst *q4Act, chunks int)

//go:noescape
func matVecQ8GAVX2(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)

//go:noescape
func matVecQ8GVNNI(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)

// simdGrouped reports whether the SIMD grouped kernels apply: int8
// activations for every column, groups of whole q8Blocks.
func simdGrouped(rows, cols, group int, q *q8Vec) bool {
	return rows > 0 && cols > 0 && q.ok && group%q8Block == 0 && len(q.q) == cols && len(q.lsum) == cols/4
}

func matVecQ8GAsm(y []float32, w []int8, scale []float32, group int, q *q8Vec,
	kernel func(y *float32, w *int8, q *int8, ls *float32, lsum *int32, ws *float32, rows, cols, group int)) {
	rows, cols := len(y), len(q.x)
	if !simdGrouped(rows, cols, group, q) {
		matVecQ8GGeneric(y, w, scale, group, q)
		return
	}
	_ = w[rows*cols-1]
	_ = scale[rows*(cols/group)-1]
	kernel(&y[0], &w[0], &q.q[0], &q.ls[0], &q.lsum[0], &scale[0], rows, cols, group)
}

// matVecQ4Y and matVecQ4Z run the AVX2 and AVX-512 VNNI int4 kernels: 128
// columns (64 weight bytes, one q4Act) per step.
func matVecQ4Y(y []float32, w []byte, scale []float32, group int, q *q8Vec) {
	matVecQ4Chunks(y, w, scale, group, q, matVecQ4AVX2)
}

func matVecQ4Z(y []float32, w []byte, scale []float32, group int, q *q8Vec) {
	matVecQ4Chunks(y, w, scale, group, q, matVecQ4VNNI)
}

func matVecQ4Chunks(y []float32, w []byte, scale []float32, group int, q *q8Vec,
	kernel func(y *float32, w *byte, act *q4Act, ws *float32, ch *q4Cols, rows, cols, groups int)) {
	rows, cols := len(y), len(q.x)
	if rows == 0 || cols == 0 || !q.ok || group%q8Block != 0 || len(q.q) != cols || len(q.q4) != (cols+q4Chunk-1)/q4Chunk {
		matVecQ4Generic(y, w, scale, group, q)
		return
	}
	groups := cols / group
	lay := q4Layout(cols, group)
	w, scale = w[:rows*cols/2], scale[:rows*groups]
	// The kernel reads up to lay.wOver bytes past the last row's weights
	// and lay.sOver scales past its scales: if they are not there, the
	// last row runs on a padded copy.
	if cap(w)-len(w) >= lay.wOver && cap(scale)-len(scale) >= lay.sOver {
		kernel(&y[0], &w[0], &q.q4[0], &scale[0], &lay.ch[0], rows, cols, groups)
		return
	}
	if rows > 1 {
		kernel(&y[0], &w[0], &q.q4[0], &scale[0], &lay.ch[0], rows-1, cols, groups)
	}
	p := q4PadPool.Get().(*q4Pad)
	p.w = append(append(p.w[:0], w[(rows-1)*cols/2:]...), make([]byte, lay.wOver)...)
	p.s = append(append(p.s[:0], scale[(rows-1)*groups:]...), make([]float32, lay.sOver)...)
	kernel(&y[rows-1], &p.w[0], &q.q4[0], &p.s[0], &lay.ch[0], 1, cols, groups)
	q4PadPool.Put(p)
}

// layoutsY and layoutsZ fill what the AVX2 and AVX-512 kernels read beyond
// q.q and q.ls: the int4 chunks (q4Act) for int4 weights, the lane sums for
// grouped int8 ones.
func layoutsY(q *q8Vec, t DType) {
	if t == Q4 {
		q.chunkOrderQ4()
	} else {
		q.laneSums()
	}
}

func layoutsZ(q *q8Vec, t DType) {
	if t == Q4 {
		chunkOrderQ4Z(q)
	} else {
		q.laneSums()
	}
}

// chunkOrderQ4Z is chunkOrderQ4 in AVX-512 (a short last chunk through a
// zero-padded copy).
func chunkOrderQ4Z(q *q8Vec) {
	n := len(q.q)
	nch := (n + q4Chunk - 1) / q4Chunk
	if cap(q.q4) < nch {
		q.q4 = make([]q4Act, nch)
	}
	q.q4 = q.q4[:nch]
	full := n / q4Chunk
	if full > 0 {
		q4ActsAVX512(&q.q[0], &q.ls[0], &q.q4[0], full)
	}
	if full < nch {
		var tq [q4Chunk]int8
		var tl [q4Chunk / 4]float32
		copy(tq[:], q.q[full*q4Chunk:])
		copy(tl[:], q.ls[full*q4Chunk/4:])
		q4ActsAVX512(&tq[0], &tl[0], &q.q4[full], 1)
	}
}

// q4Pad holds a padded copy of a matrix's last int4 row and its scales.
type q4Pad struct {
	w []byte
	s []float32
}

var q4PadPool = sync.Pool{New: func() any { return new(q4Pad) }}

// q4Cols describes one 128-column chunk of a grouped int4 row for the
// int4 kernels: which weight scales its lanes (8 columns each) take, as
// indices (0-3) into the four scales read from byte offset wsOff of the
// row's scales, and the chunk's weight bytes (half its columns).
type q4Cols struct {
	idx         [q4Chunk / 8]int32
	wsOff, half int32
	_           [2]int32
}

// q4Row is the chunk layout of one shape of int4 row, and how far the
// kernel reads past a row: wOver weight bytes, sOver scales.
type q4Row struct {
	ch           []q4Cols
	wOver, sOver int
}

type q4RowKey struct{ cols, group int }

// q4Rows caches q4Layout by shape.
var q4Rows sync.Map // q4RowKey -> *q4Row

// q4Layout returns the chunk layout of a row of cols int4 weights with one
// scale per group columns (group a multiple of 32 dividing cols).
func q4Layout(cols, group int) *q4Row {
	key := q4RowKey{cols, group}
	if v, ok := q4Rows.Load(key); ok {
		return v.(*q4Row)
	}
	lay := &q4Row{ch: make([]q4Cols, (cols+q4Chunk-1)/q4Chunk)}
	groups := cols / group
	for k := range lay.ch {
		c0 := k * q4Chunk
		n := min(q4Chunk, cols-c0)
		// The four scales read start at the chunk's first group, or
		// earlier so as to end with the row's last one.
		g0 := c0 / group
		if groups >= 4 {
			g0 = min(g0, groups-4)
		}
		d := &lay.ch[k]
		for l := range n / 8 {
			d.idx[l] = int32((c0+8*l)/group - g0)
		}
		d.wsOff = int32(4 * g0)
		d.half = int32(n / 2)
		lay.wOver = max(lay.wOver, q4Chunk/2-n/2)
		lay.sOver = max(lay.sOver, g0+4-groups)
	}
	v, _ := q4Rows.LoadOrStore(key, lay)
	return v.(*q4Row)
}

func matVecQ8GY(y []float32, w []int8, scale []float32, group int, q *q8Vec) {
	matVecQ8GAsm(y, w, scale, group, q, matVecQ8GAVX2)
}

func matVecQ8GZ(y []float32, w []int8, scale []float32, group int, q *q8Vec) {
	matVecQ8GAsm(y, w, scale, group, q, matVecQ8GVNNI)
}
