package kernels

import (
	"encoding/binary"
	"math"
	"sync/atomic"
	"unsafe"
)

// The quantized GEMM: MatMul of an int8 or int4 matrix (per row or grouped)
// with n >= 2 input rows, on backends with a qgemm micro-kernel (AVX-512
// VNNI). Every input row is quantized to int8 once per call, as MatVec
// quantizes it (q8Vec, blocks of q8Block), and the weights are multiplied
// with integer dot products, each loaded weight feeding 16 or 32 input rows.
//
// Layouts. Input rows are packed in tiles of qgTile rows (one int32 lane
// each). A tile holds, per block of 32 columns, qgBlockBytes bytes:
//
//	[0, 512)   8 groups of 4 columns: 16 rows x 4 int8 values each
//	[512, 576) the 16 rows' block scales (float32)
//	[576, 640) the 16 rows' -offset*sum(q over the block) (int32)
//
// Weight rows are prepared (typeTraits.qgemmPrep) as unsigned bytes w+offset
// (int8: +128, int4: the stored nibble, q+8), int4 columns in the order the
// activations are packed (q8Vec.nib: per block the even columns, then the
// odd ones). The int32 sum for a block then starts at -offset*sum(q), which
// makes it exactly sum(w*q).
//
// Arithmetic, per weight row r, input row i and block b of group g:
//
//	acc = fma(float32(dot) * xscale[i,b], wscale[r,g], acc)
//
// in block order. The 4-row kernels, for rows with one weight scale (one
// group: per-row int8), save a multiply per block instead (qgemmDotRow):
//
//	acc = fma(float32(dot), xscale[i,b], acc), then y = acc * wscale[r]
//
// Each output is thus a fixed sequence of float operations per kernel
// family (qgemm4Generic, qgemm8Generic, qgemm16Generic) that does not
// depend on threads; per-row weights give results that differ between the
// families (n <= 16 against larger n) by float32 rounding. Both differ from
// MatVec's summation order (lanes of 4 columns) by float32 rounding only:
// all multiply the same integers by the same scales.

const (
	qgTile       = 16          // input rows per tile: the int32 lanes of a zmm register
	qgBlockBytes = 8*64 + 2*64 // one block of one tile (see above)
	qgPanelBytes = 64 << 10    // prepared weight bytes per work item, kept in L2
	qgRows       = 4           // weight rows per micro-kernel call
	qgTileRows   = 2 * qgTile  // most input rows per micro-kernel call
	qgOutLen     = qgRows * qgTileRows

	// The 8-row kernel (qgemm8Kernel): for n <= qgSmall input rows, each
	// zmm multiply covers two weight rows of a mirrored tile.
	qgRows8 = 8 // weight rows per call
	qgSmall = 8 // most input rows

	// qgPrefetchAhead is how many micro-kernel calls ahead the weights
	// read once from memory are prefetched.
	qgPrefetchAhead = 2

	// qgOutMax bounds the float32 outputs of one work item computed into
	// scratch (see qgemmJob.yRows).
	qgOutMax = 1 << 15
)

// qgemmKernel computes qgRows weight rows (prepared, stride cols bytes, with
// scales ws at a stride of groups) times one activation tile a, or two (a
// and a2), over blocks >= 1 blocks of which gb share a weight scale: the
// result of weight row k and input row i (i < 16 in a, then a2) goes to
// y[i*ldy+k]. With raw, w holds int8 weights as stored (not w+128). pf
// (may be empty) is memory a later call reads, weights still in DRAM: the
// kernel prefetches it into cache, spread over its blocks.
type qgemmKernel func(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a, a2 []byte, blocks int, pf []byte)

// qgemm8Kernel computes qgRows8 weight rows times one mirrored tile a: a
// tile of at most qgSmall input rows whose lanes 8..15 repeat lanes 0..7
// (values, scales and corrections). The result of weight row k and input
// row i < 8 goes to y[i*ldy+k]; the other arguments are qgemmKernel's.
type qgemm8Kernel func(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a []byte, blocks int, pf []byte)

// qgemm16Kernel computes qgRows8 weight rows times one tile a of 16 input
// rows: the result of weight row k and input row i goes to y[i*ldy+k]; the
// arguments are qgemmKernel's. Each activation load feeds eight weight rows
// instead of four.
type qgemm16Kernel func(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a []byte, blocks int, pf []byte)

// qgemmApplies reports whether MatMul of w runs the quantized GEMM on b.
func qgemmApplies(b *backend, w *Matrix) bool {
	tr := w.Type.traits()
	return b.qgemm != nil && tr.qgemmPrep != nil && w.Cols > 0 &&
		w.Cols%q8Block == 0 && w.group()%q8Block == 0
}

// qgemmMatMuls computes MatMul (n >= 2) of x by each of ws (at most
// maxMatVecs, one type and column count) into ys with the quantized GEMM:
// x is quantized and packed once, and one parallel call runs every
// matrix's panels. With to set (one matrix, ys nil), output row i goes to
// to[i] instead. Input rows holding Inf or NaN are computed by MatVec (in
// float32, as it does).
func qgemmMatMuls(b *backend, ys, to [][]float32, ws []*Matrix, x []float32, n int) {
	w0 := ws[0]
	cols := w0.Cols
	blocks := cols / q8Block
	tiles := (n + qgTile - 1) / qgTile
	tileBytes := blocks * qgBlockBytes
	mirror := n <= qgSmall && b.qgemm8 != nil
	packRows := tiles * qgTile
	if mirror {
		packRows = qgSmall
	}

	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	s := grow(buf, tiles*tileBytes/4+n)
	a := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), tiles*tileBytes)
	bad := s[tiles*tileBytes/4:]

	// The kernels write whole tiles of input rows (8 mirrored, else 16 or
	// 32); an item computes into a panel of scratch when the outputs are
	// not one array of n rows holding those (see qgemmJob.yRows).
	yRows := 0
	if to != nil || (mirror && n < qgSmall) || (!mirror && tiles == 1 && n < qgTile) {
		yRows = packRows
	}

	pack := qgemmPackJob{b: b, a: a, bad: bad, x: x, w: w0, n: n, mirror: mirror}
	j := qgemmMultiJob{n: len(ws)}
	items := 0
	for i, w := range ws {
		panel := qgPanelRows(w.Rows, cols)
		if yRows > 0 {
			// Bound the output scratch (many rows only with to set).
			panel = min(panel, max(qgRows8, qgOutMax/yRows/qgRows8*qgRows8))
		}
		var y []float32
		if to == nil {
			y = ys[i]
		}
		j.parts[i] = qgemmJob{b: b, y: y, to: to, yRows: yRows, w: w, a: a, n: n, panel: panel, mirror: mirror}
		j.start[i] = items
		items += (w.Rows + panel - 1) / panel
	}
	j.start[len(ws)] = items
	if t := workers.acquire(); t != nil {
		pp, pj := &t.jobs.qgemmPack, &t.jobs.qgemm
		*pp, *pj = pack, j
		t.run(pp, packRows, max(1, 1<<15/cols))
		switch {
		case n <= 2*qgSmall && items >= qgGuidedItems:
			// A decode step's rows times many panels (the LM head).
			g := &t.jobs.qgemmGuided
			g.mm, g.threads = j, workers.numThreads()
			g.next.Store(0)
			t.runDecode(g, g.threads, 1)
			g.mm = qgemmMultiJob{}
		case n <= 2*qgSmall: // a decode step's rows
			t.runDecode(pj, items, 1)
		default:
			t.run(pj, items, 1)
		}
		*pp, *pj = qgemmPackJob{}, qgemmMultiJob{}
		workers.release(t)
	} else {
		pack.run(0, packRows)
		j.run(0, items)
	}
	for i := range n {
		if bad[i] != 0 {
			for k, w := range ws {
				if to != nil {
					matVec(b, to[i], w, x[i*cols:(i+1)*cols])
					continue
				}
				matVec(b, ys[k][i*w.Rows:(i+1)*w.Rows], w, x[i*cols:(i+1)*cols])
			}
		}
	}
}

// qgemmMultiJob runs the panels of several matrices' quantized GEMMs,
// numbered one after the other.
type qgemmMultiJob struct {
	parts [maxMatVecs]qgemmJob
	start [maxMatVecs + 1]int // first item of each part, then the total
	n     int
}

func (j *qgemmMultiJob) run(lo, hi int) {
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	j.items(lo, hi, grow(buf, j.scratchLen()))
}

// scratchLen returns the float32 scratch the items of every part need.
func (j *qgemmMultiJob) scratchLen() int {
	n := 0
	for i := range j.n {
		n = max(n, j.parts[i].scratchLen())
	}
	return n
}

// items runs items [lo, hi) with scratch s (scratchLen values).
func (j *qgemmMultiJob) items(lo, hi int, s []float32) {
	for i := 0; i < j.n && lo < hi; i++ {
		st, e := j.start[i], j.start[i+1]
		if lo >= e {
			continue
		}
		end := min(hi, e)
		j.parts[i].items(lo-st, end-st, s)
		lo = end
	}
}

// qgGuidedItems is the fewest panels for which a decode step's quantized
// GEMM lets threads claim panels themselves (qgemmGuidedJob) instead of
// the pool's fixed chunks: SmolLM2-135M's LM head (410 panels), not its
// layers' products (8-26 panels). On 2 threads the LM head at 8 and 16
// rows took 15-23% less time (hot and from DRAM, alternated in one
// process); the layer products ranged from 5% faster to 8% slower.
const qgGuidedItems = 64

// qgemmGuidedJob runs the panels of a decode step's long quantized GEMM
// (many panels: the LM head) in one chunk per thread, in which the thread
// claims panels, a share of those left at a time (1/(2*threads), at least
// one), so that a thread slowed down (the machine is shared) leaves fewer
// panels to the others than a fixed chunk would, and the threads finish
// together.
type qgemmGuidedJob struct {
	mm      qgemmMultiJob
	threads int
	_       [64]byte // next on its own cache line, apart from mm's fields every thread reads
	next    atomic.Int32
	_       [60]byte
}

func (j *qgemmGuidedJob) run(_, _ int) {
	total := j.mm.start[j.mm.n]
	var buf *[]float32
	var s []float32
	for {
		lo := int(j.next.Load())
		left := total - lo
		if left <= 0 {
			break
		}
		hi := lo + max(1, left/(2*j.threads))
		if !j.next.CompareAndSwap(int32(lo), int32(hi)) {
			continue
		}
		if buf == nil {
			buf = scratchPool.Get().(*[]float32)
			s = grow(buf, j.mm.scratchLen())
		}
		j.mm.items(lo, hi, s)
	}
	if buf != nil {
		scratchPool.Put(buf)
	}
}

// qgPanelRows returns the weight rows per work item: about qgPanelBytes of
// prepared weights, a multiple of qgRows8 (so of qgRows), and small enough
// to give every thread a few items.
func qgPanelRows(rows, cols int) int {
	p := max(qgPanelBytes/cols, qgRows8)
	p = min(p, (rows+4*workers.numThreads()-1)/(4*workers.numThreads()))
	return max(qgRows8, (p+qgRows8-1)/qgRows8*qgRows8)
}

// qgemmPackJob quantizes and packs input rows [lo, hi) (rows past n are
// zeros).
type qgemmPackJob struct {
	b      *backend
	a      []byte
	bad    []float32 // bad[i] = 1: row i holds Inf or NaN
	x      []float32
	w      *Matrix
	n      int
	mirror bool // one mirrored tile (qgemm8Kernel): row i in lanes i and 8+i
}

func (j *qgemmPackJob) run(lo, hi int) {
	cols := j.w.Cols
	blocks := cols / q8Block
	off := j.w.Type.traits().qgemmOffset
	quantize := j.b.quantizeQ8
	if quantize == nil {
		quantize = quantizeQ8Generic
	}
	for i := lo; i < hi; i++ {
		tile := j.a[i/qgTile*blocks*qgBlockBytes:]
		lane := 4 * (i % qgTile)
		var q *q8Vec
		if i < j.n {
			q = q8Pool.Get().(*q8Vec)
			quantize(q, j.x[i*cols:(i+1)*cols])
			j.bad[i] = 0
			if !q.ok {
				j.bad[i] = 1
			} else if j.w.Type == Q4 {
				q.nibbleOrder()
			}
		}
		copies := 1
		if j.mirror {
			copies = 2
		}
		for k := range copies {
			lane := lane + k*4*qgSmall
			if q == nil || !q.ok {
				for blk := range blocks {
					t := tile[blk*qgBlockBytes:]
					for g := range 10 {
						clear(t[g*64+lane : g*64+lane+4])
					}
				}
				continue
			}
			src := q.q
			if j.w.Type == Q4 {
				src = q.nib
			}
			packTileRow(tile, int8Bytes(src), q.ls, lane, off)
		}
		if q != nil {
			q.x = nil
			q8Pool.Put(q)
		}
	}
}

// packTileRowGeneric stores one quantized input row (q, lane scales ls) at
// byte lane (< 64) of its tile's blocks, with the offset correction for
// weights stored as w+off. It is the pure-Go twin of packTileRow.
func packTileRowGeneric(tile, q []byte, ls []float32, lane int, off int32) {
	const (
		bias = 0x8080808080808080
		even = 0x00ff00ff00ff00ff
		ones = 0x0001000100010001
	)
	for blk := range len(q) / q8Block {
		t := tile[blk*qgBlockBytes : (blk+1)*qgBlockBytes]
		src := q[blk*q8Block : (blk+1)*q8Block]
		var usum uint64 // sum of the bytes as q+128, four 16-bit partial sums per word
		for g := 0; g < 8; g += 2 {
			v := binary.LittleEndian.Uint64(src[4*g:])
			binary.LittleEndian.PutUint32(t[g*64+lane:], uint32(v))
			binary.LittleEndian.PutUint32(t[g*64+64+lane:], uint32(v>>32))
			u := v ^ bias
			usum += u&even + u>>8&even
		}
		sum := int32(usum*ones>>48) - 128*q8Block
		binary.LittleEndian.PutUint32(t[512+lane:], math.Float32bits(ls[blk*q8Block/4]))
		binary.LittleEndian.PutUint32(t[576+lane:], uint32(-off*sum))
	}
}

// qgemmJob computes the outputs of weight-row panels (see items).
type qgemmJob struct {
	b  *backend
	y  []float32   // n output rows of w.Rows values, or nil with to
	to [][]float32 // or output row i in to[i]
	// yRows > 0: each item's kernels write yRows rows (whole tiles) of
	// panel values into scratch, copied to y or to per item; 0: the
	// kernels write whole tiles into y, partial ones through a small buffer.
	yRows  int
	w      *Matrix
	a      []byte // packed input tiles
	n      int
	panel  int  // weight rows per item, a multiple of qgRows8
	mirror bool // one mirrored tile: the 8-row kernel
}

// scratchLen returns the float32 scratch of an item: prepared weights and
// their scales, the kernels' partial output, the panel's outputs.
func (j *qgemmJob) scratchLen() int {
	return j.panel*j.w.Cols/4 + j.panel*j.w.groups() + qgOutLen + j.yRows*j.panel
}

// items computes panels [lo, hi) with scratch s (scratchLen values).
func (j *qgemmJob) items(lo, hi int, s []float32) {
	w := j.w
	cols, rows := w.Cols, w.Rows
	groups, blocks := w.groups(), cols/q8Block
	gb := w.group() / q8Block
	tileBytes := blocks * qgBlockBytes
	tiles := (j.n + qgTile - 1) / qgTile
	tr := w.Type.traits()

	wp := unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), j.panel*cols)
	ws := s[j.panel*cols/4 : j.panel*cols/4+j.panel*groups]
	out := s[j.panel*cols/4+j.panel*groups:][:qgOutLen]
	yp := s[j.panel*cols/4+j.panel*groups+qgOutLen:]

	for item := lo; item < hi; item++ {
		r0 := item * j.panel
		nr := min(j.panel, rows-r0)
		pr := (nr + qgRows - 1) / qgRows * qgRows // rows padded to whole kernel calls
		// The outputs of weight row r0+r and input row i go to
		// d.y[i*d.ld+d.c0+r].
		d := qgDest{y: j.y, ld: rows, c0: r0}
		if j.yRows > 0 {
			d = qgDest{y: yp, ld: j.panel, whole: true}
		}
		if j.mirror {
			j.runMirrored(item, wp, ws, out, d)
			j.flush(d, r0, nr)
			continue
		}
		// The first sweep over the panel reads the rows from memory,
		// prefetching those of a later call so that reading overlaps the
		// arithmetic: int8 rows as stored (the kernel flips their sign
		// bits; later sweeps find them in cache), other types (and a
		// partial group of int8 rows) prepared into wp right before their
		// call, for the later sweeps too.
		sweeps := (tiles + 1) / 2
		clear(wp[nr*cols : pr*cols])
		copy(ws, w.Scale[r0*groups:(r0+nr)*groups])
		clear(ws[nr*groups : pr*groups])
		for t := 0; t < tiles; t += 2 {
			a := j.a[t*tileBytes : (t+1)*tileBytes]
			var a2 []byte
			nt := 1
			if t+1 < tiles {
				a2, nt = j.a[(t+1)*tileBytes:(t+2)*tileBytes], 2
			}
			in := min(nt*qgTile, j.n-t*qgTile)
			for r := 0; r < nr; r += qgRows {
				if sweeps == 1 && a2 == nil && j.b.qgemm16 != nil && r+qgRows8 <= nr {
					// Rows read once, one tile: eight rows per call.
					j.run16(t*qgTile, in, r0, r, a, wp[r*cols:(r+qgRows8)*cols], out, d)
					r += qgRows8 - qgRows
					continue
				}
				a, a2, ws := a, a2, ws[r*groups:(r+qgRows)*groups]
				wr, raw := wp[r*cols:(r+qgRows)*cols], false
				var pf []byte
				if t == 0 {
					// Rows read from memory: prefetch those of a later
					// call while this one computes.
					pf = qgemmStored(w, r0+r+qgPrefetchAhead*qgRows, qgRows)
				}
				switch {
				case w.Type == Q8 && r+qgRows <= nr:
					wr, raw = int8Bytes(w.Q8[(r0+r)*cols:(r0+r+qgRows)*cols]), true
				case t == 0:
					tr.qgemmPrep(wr, w, r0+r, min(qgRows, nr-r))
				}
				if d.whole || in == nt*qgTile && r+qgRows <= nr {
					j.b.qgemm(d.y[t*qgTile*d.ld+d.c0+r:], d.ld, wr, raw, cols, ws, groups, gb, a, a2, blocks, pf)
					continue
				}
				// A partial tile or group of rows: through out.
				j.b.qgemm(out, qgRows, wr, raw, cols, ws, groups, gb, a, a2, blocks, pf)
				for i := range in {
					copy(d.y[(t*qgTile+i)*d.ld+d.c0+r:][:min(qgRows, nr-r)], out[i*qgRows:])
				}
			}
		}
		j.flush(d, r0, nr)
	}
}

// qgDest is where a qgemmJob item's kernels write: the output of weight row
// r0+r (r0 the item's first row) and input row i goes to y[i*ld+c0+r].
type qgDest struct {
	y      []float32
	ld, c0 int
	whole  bool // y holds whole tiles of input rows and padded kernel calls (scratch)
}

// flush copies the outputs of weight rows [r0, r0+nr) from the item's
// scratch d to j.y or j.to (nothing when the kernels wrote j.y directly).
func (j *qgemmJob) flush(d qgDest, r0, nr int) {
	if !d.whole {
		return
	}
	for i := range j.n {
		src := d.y[i*d.ld : i*d.ld+nr]
		if j.to != nil {
			copy(j.to[i][r0:r0+nr], src)
		} else {
			copy(j.y[i*j.w.Rows+r0:][:nr], src)
		}
	}
}

// run16 computes weight rows r0+r .. r0+r+7 (read once) times tile a,
// input rows i0 .. i0+in-1, with the qgemm16 kernel into d: int8 rows as
// stored, others prepared into wp (wp and out are run's scratch).
func (j *qgemmJob) run16(i0, in, r0, r int, a, wp []byte, out []float32, d qgDest) {
	w := j.w
	cols := w.Cols
	groups, blocks := w.groups(), cols/q8Block
	gb := w.group() / q8Block
	ws := w.Scale[(r0+r)*groups : (r0+r+qgRows8)*groups]
	pf := qgemmStored(w, r0+r+qgPrefetchAhead*qgRows8, qgRows8)
	wr, raw := wp, false
	if w.Type == Q8 {
		wr, raw = int8Bytes(w.Q8[(r0+r)*cols:(r0+r+qgRows8)*cols]), true
	} else {
		w.Type.traits().qgemmPrep(wr, w, r0+r, qgRows8)
	}
	if d.whole || in == qgTile {
		j.b.qgemm16(d.y[i0*d.ld+d.c0+r:], d.ld, wr, raw, cols, ws, groups, gb, a, blocks, pf)
		return
	}
	j.b.qgemm16(out, qgRows8, wr, raw, cols, ws, groups, gb, a, blocks, pf)
	for i := range in {
		copy(d.y[(i0+i)*d.ld+d.c0+r:][:qgRows8], out[i*qgRows8:])
	}
}

// runMirrored computes the outputs of panel item with the 8-row kernel
// into d (wp, ws and out are run's scratch).
func (j *qgemmJob) runMirrored(item int, wp []byte, ws, out []float32, d qgDest) {
	w := j.w
	cols, rows := w.Cols, w.Rows
	groups, blocks := w.groups(), cols/q8Block
	gb := w.group() / q8Block
	tr := w.Type.traits()
	r0 := item * j.panel
	nr := min(j.panel, rows-r0)
	pr := (nr + qgRows8 - 1) / qgRows8 * qgRows8
	clear(wp[nr*cols : pr*cols])
	copy(ws, w.Scale[r0*groups:(r0+nr)*groups])
	clear(ws[nr*groups : pr*groups])
	for r := 0; r < nr; r += qgRows8 {
		ws := ws[r*groups : (r+qgRows8)*groups]
		wr, raw := wp[r*cols:(r+qgRows8)*cols], false
		// Rows read once, from memory: prefetch those of a later call.
		pf := qgemmStored(w, r0+r+qgPrefetchAhead*qgRows8, qgRows8)
		if w.Type == Q8 && r+qgRows8 <= nr {
			wr, raw = int8Bytes(w.Q8[(r0+r)*cols:(r0+r+qgRows8)*cols]), true
		} else {
			tr.qgemmPrep(wr, w, r0+r, min(qgRows8, nr-r))
		}
		if d.whole || j.n == qgSmall && r+qgRows8 <= nr {
			j.b.qgemm8(d.y[d.c0+r:], d.ld, wr, raw, cols, ws, groups, gb, j.a, blocks, pf)
			continue
		}
		j.b.qgemm8(out, qgRows8, wr, raw, cols, ws, groups, gb, j.a, blocks, pf)
		for i := range j.n {
			copy(d.y[i*d.ld+d.c0+r:][:min(qgRows8, nr-r)], out[i*qgRows8:])
		}
	}
}

// qgemmStored returns the stored weights of rows [r0, r0+nr) of m (int8 or
// int4), clipped to the matrix (empty past its end).
func qgemmStored(m *Matrix, r0, nr int) []byte {
	r1 := min(r0+nr, m.Rows)
	if r0 >= r1 {
		return nil
	}
	if m.Type == Q4 {
		return m.Q4[r0*m.Cols/2 : r1*m.Cols/2]
	}
	return int8Bytes(m.Q8[r0*m.Cols : r1*m.Cols])
}

// int8Bytes views s as bytes.
func int8Bytes(s []int8) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s))
}

// qgemmPrepQ8 stores rows r0..r0+nr-1 of an int8 matrix as w+128.
func qgemmPrepQ8(dst []byte, m *Matrix, r0, nr int) {
	xor80(dst, int8Bytes(m.Q8[r0*m.Cols:(r0+nr)*m.Cols]))
}

// qgemmPrepQ4 stores rows r0..r0+nr-1 of an int4 matrix as one byte per
// nibble (q+8), per block of 32 columns the 16 even columns then the 16 odd
// ones.
func qgemmPrepQ4(dst []byte, m *Matrix, r0, nr int) {
	nibbles(dst, m.Q4[r0*m.Cols/2:(r0+nr)*m.Cols/2])
}

// xor80Generic sets dst[i] = src[i] ^ 0x80 (len(src) a multiple of 8).
func xor80Generic(dst, src []byte) {
	dst = dst[:len(src)]
	for i := 0; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^0x8080808080808080)
	}
}

// nibblesGeneric stores each 16 bytes of src as 32 bytes of dst: the low
// nibbles, then the high ones.
func nibblesGeneric(dst, src []byte) {
	dst = dst[:2*len(src)]
	const lo = 0x0f0f0f0f0f0f0f0f
	for i := 0; i+16 <= len(src); i += 16 {
		v0 := binary.LittleEndian.Uint64(src[i:])
		v1 := binary.LittleEndian.Uint64(src[i+8:])
		d := dst[2*i : 2*i+32]
		binary.LittleEndian.PutUint64(d[0:], v0&lo)
		binary.LittleEndian.PutUint64(d[8:], v1&lo)
		binary.LittleEndian.PutUint64(d[16:], v0>>4&lo)
		binary.LittleEndian.PutUint64(d[24:], v1>>4&lo)
	}
}

// qgemm4Generic is the pure-Go twin of the qgemm micro-kernels: the same
// float operations in the same order (see the top of this file).
func qgemm4Generic(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a, a2 []byte, blocks int, _ []byte) {
	var flip byte
	if raw {
		flip = 0x80
	}
	tiles := [2][]byte{a, a2}
	nt := 1
	if a2 != nil {
		nt = 2
	}
	for k := range nt {
		for r := range qgRows {
			for l := range qgTile {
				row := w[r*cols : r*cols+blocks*q8Block]
				if gb >= blocks {
					y[(k*qgTile+l)*ldy+r] = qgemmDotRow(row, flip, ws[r*groups], tiles[k], l)
					continue
				}
				y[(k*qgTile+l)*ldy+r] = qgemmDot(row, flip, ws[r*groups:], gb, tiles[k], l)
			}
		}
	}
}

// qgemm16Generic is the pure-Go twin of the qgemm16 micro-kernels: each
// output is qgemm4Generic's.
func qgemm16Generic(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a []byte, blocks int, _ []byte) {
	var flip byte
	if raw {
		flip = 0x80
	}
	for r := range qgRows8 {
		for l := range qgTile {
			y[l*ldy+r] = qgemmDot(w[r*cols:r*cols+blocks*q8Block], flip, ws[r*groups:], gb, a, l)
		}
	}
}

// qgemm8Generic is the pure-Go twin of the 8-row micro-kernels: each output
// is qgemm4Generic's.
func qgemm8Generic(y []float32, ldy int, w []byte, raw bool, cols int, ws []float32, groups, gb int, a []byte, blocks int, _ []byte) {
	var flip byte
	if raw {
		flip = 0x80
	}
	for r := range qgRows8 {
		for l := range qgSmall {
			y[l*ldy+r] = qgemmDot(w[r*cols:r*cols+blocks*q8Block], flip, ws[r*groups:], gb, a, l)
		}
	}
}

// qgemmDot returns one output of the quantized GEMM: weight row (bytes
// ^flip give w+offset; scales ws, one per gb blocks) times lane l of tile
// at, in block order (see the top of this file).
func qgemmDot(row []byte, flip byte, ws []float32, gb int, at []byte, l int) float32 {
	var acc float32
	for blk := range len(row) / q8Block {
		t := at[blk*qgBlockBytes : (blk+1)*qgBlockBytes]
		d := int32(binary.LittleEndian.Uint32(t[576+4*l:]))
		for c, v := range row[blk*q8Block : (blk+1)*q8Block] {
			d += int32(v^flip) * int32(int8(t[c/4*64+4*l+c%4]))
		}
		ls := math.Float32frombits(binary.LittleEndian.Uint32(t[512+4*l:]))
		p := float32(float32(d) * ls)
		acc = fma32(p, ws[blk/gb], acc)
	}
	return acc
}

// qgemmDotRow is qgemmDot for a row with one weight scale ws (the 4-row
// kernels' arithmetic then): the blocks' products with the activation
// scales summed by fused multiply-adds, in block order, times ws once.
func qgemmDotRow(row []byte, flip byte, ws float32, at []byte, l int) float32 {
	var acc float32
	for blk := range len(row) / q8Block {
		t := at[blk*qgBlockBytes : (blk+1)*qgBlockBytes]
		d := int32(binary.LittleEndian.Uint32(t[576+4*l:]))
		for c, v := range row[blk*q8Block : (blk+1)*q8Block] {
			d += int32(v^flip) * int32(int8(t[c/4*64+4*l+c%4]))
		}
		ls := math.Float32frombits(binary.LittleEndian.Uint32(t[512+4*l:]))
		acc = fma32(float32(d), ls, acc)
	}
	return float32(acc * ws)
}

// fma32 returns a*b+c rounded once to float32, as VFMADD231PS does: the
// product is exact in float64, the sum is rounded to odd in float64 (which
// then rounds to float32 correctly, 53 >= 24+2 bits).
func fma32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b))
	s := float64(p + float64(c))
	bv := float64(s - p)
	e := (p - (s - bv)) + (float64(c) - bv) // the rounding error of s
	if bits := math.Float64bits(s); e != 0 && bits&1 == 0 {
		if (e > 0) == (s > 0) {
			bits++
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}
