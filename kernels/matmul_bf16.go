package kernels

import "sync"

// MatMulBF16 is MatMul for a bf16 or f16 weight matrix with the
// activations rounded to bf16, on the CPU's bf16 dot-product instructions
// (AVX512_BF16 VDPBF16PS: products of bf16 pairs summed in f32), about
// three times the f32-FMA path's speed at vision shapes. Rounding x to
// bf16 costs about 3 significant digits per input value (relative error
// up to 2^-9), so results differ from MatMul's by about that much relative
// to the sum of |products|; f16 weights are rounded to bf16 too (while
// packed), costing as much again. Without the instructions (or for fewer
// than 12 rows, or other weight types) it is MatMul.
func MatMulBF16(y []float32, w *Matrix, x []float32, n int) {
	MatMulBF16Fused(y, w, x, n, Epilogue{})
}

// Epilogue is what MatMulBF16Fused does with each output row r of W·x
// while it is in cache: add Bias (len w.Rows, nil: none), then either add
// the row to y (Accumulate: y[r] += W·x[r] + Bias) or apply GELUTanh (GELU:
// y[r] = GELUTanh(W·x[r] + Bias)); not both.
type Epilogue struct {
	Bias       []float32
	Accumulate bool
	GELU       bool
}

// MatMulBF16Fused is MatMulBF16 followed by ep, each step rounded as the
// separate calls would (MatMulBF16, Add of the bias, then Add into y or
// GELUTanh), so the result is bit for bit the same (on the bf16
// micro-kernel, depths above 4096 sum in another order, within the same
// rounding error). The bias and the accumulation happen in the
// micro-kernel's registers; GELU runs as a parallel pass over y after the
// products (a call per tile row cost more than the function itself).
func MatMulBF16Fused(y []float32, w *Matrix, x []float32, n int, ep Epilogue) {
	mustValid("MatMulBF16", w)
	if n < 0 {
		panic("kernels.MatMulBF16: negative n")
	}
	mustLen("MatMulBF16", "x", len(x), n*w.Cols)
	mustLen("MatMulBF16", "y", len(y), n*w.Rows)
	if ep.Bias != nil {
		mustLen("MatMulBF16", "bias", len(ep.Bias), w.Rows)
	}
	if ep.Accumulate && ep.GELU {
		panic("kernels.MatMulBF16Fused: Accumulate and GELU together")
	}
	if (w.Type != BF16 && w.Type != F16) || n < bf16MR || w.Rows == 0 || w.Cols == 0 || !hasBF16Dot(active) {
		out := y
		if ep.Accumulate {
			buf := scratchPool.Get().(*[]float32)
			defer scratchPool.Put(buf)
			out = grow(buf, len(y))
		}
		matMul(active, out, w, x, n)
		if ep.Bias != nil || ep.Accumulate || ep.GELU {
			for i := range n {
				epilogueRow(y[i*w.Rows:(i+1)*w.Rows], out[i*w.Rows:(i+1)*w.Rows], ep.Bias, ep)
			}
		}
		return
	}
	bf16MatMul(y, w, x, n, ep)
}

// HasBF16Dot reports whether MatMulBF16 runs on the CPU's bf16 dot-product
// instructions with the active kernels (otherwise it is MatMul).
func HasBF16Dot() bool { return hasBF16Dot(active) }

// epilogueRow finishes one output row segment: src holds W·x (it may be
// dst unless ep.Accumulate), bias the matching bias values or nil.
func epilogueRow(dst, src, bias []float32, ep Epilogue) {
	if bias != nil {
		Add(src, src, bias)
	}
	switch {
	case ep.Accumulate:
		Add(dst, dst, src)
	case ep.GELU:
		active.geluTanh(dst, src)
	default:
		copy(dst, src)
	}
}

// Tile of the bf16 micro-kernel (gemmBF16x12x32R) and its blocking:
//   - bf16KB: the most pairs of k per kernel call; a packed weight panel of
//     2048 pairs x 32 columns (256 KB) stays in L2 while it meets every X
//     panel of a row block, and any depth up to 4096 runs in one call (C is
//     written once, never read back);
//   - bf16RB: X panels per row block (96 rows; at most 8 x 12 x 2048 pairs
//     x 4 B = 768 KB of X, in L2 while it meets every weight panel);
const (
	bf16MR = 12
	bf16NR = 32
	bf16KB = 2048
	bf16RB = 8
)

// bf16WMax is the bf16 values of packed weights per pass (a variable so
// that tests can force several passes).
var bf16WMax = 8 << 20

// halfPool holds uint16 scratch buffers (packed bf16 activations).
var halfPool = sync.Pool{New: func() any { return new([]uint16) }}

func growHalf(p *[]uint16, n int) []uint16 {
	if cap(*p) < n {
		*p = make([]uint16, n)
	}
	return (*p)[:n]
}

// bf16MatMul rounds X to bf16 rows (12-row panels, zero rows past n) and
// packs the weights into pair panels of 32 rows (one parallel job, all of
// W or passes of at most bf16WMax values), then runs the micro-kernel over
// items (row block of 8 X panels, weight panel): consecutive items share a
// row block, so its X stays in L2 while the weight panels stream past it,
// each weight panel meeting the block's 8 X panels from L1/L2.
func bf16MatMul(y []float32, w *Matrix, x []float32, n int, ep Epilogue) {
	k := w.Cols
	kp := (k + 1) / 2
	panels := (n + bf16MR - 1) / bf16MR
	wpanels := (w.Rows + bf16NR - 1) / bf16NR
	per := max(1, min(wpanels, bf16WMax/(kp*bf16NR*2))) // weight panels per pass
	xbuf, wbuf := halfPool.Get().(*[]uint16), halfPool.Get().(*[]uint16)
	defer halfPool.Put(xbuf)
	defer halfPool.Put(wbuf)
	lda := rowStrideBF16(k)
	xh := growHalf(xbuf, panels*bf16MR*lda)
	wp := growHalf(wbuf, per*kp*bf16NR*2)
	pack := packBF16Job{xh: xh, x: x, n: n, k: k, lda: lda, wp: wp, w: w}
	gelu := ep.GELU
	ep.GELU = false // a pass of its own over y, after the products
	j := gemmBF16Job{y: y, w: w, xh: xh, lda: lda, wp: wp, n: n, ep: ep}
	t := workers.acquire()
	for q0 := 0; q0 < wpanels; q0 += per {
		pack.q0, pack.nq = q0, min(per, wpanels-q0)
		j.q0, j.nq = pack.q0, pack.nq
		pack.xPanels = 0
		if q0 == 0 {
			pack.xPanels = panels
		}
		items := (panels + bf16RB - 1) / bf16RB * j.nq
		if t == nil {
			pack.run(0, pack.xPanels+pack.nq)
			j.run(0, items)
			continue
		}
		pp, pj := &t.jobs.packBF16, &t.jobs.gemmBF16
		*pp, *pj = pack, j
		t.run(pp, pack.xPanels+pack.nq, 1)
		t.run(pj, items, 1)
	}
	if gelu {
		g := geluRowsJob{y: y, cols: w.Rows}
		// About 64 KB of rows per chunk.
		grain := max(1, (16<<10)/w.Rows)
		if t != nil && n >= 2*grain {
			t.jobs.geluRows = g
			t.run(&t.jobs.geluRows, n, grain)
			t.jobs.geluRows = geluRowsJob{}
		} else {
			g.run(0, n)
		}
	}
	if t != nil {
		t.jobs.packBF16, t.jobs.gemmBF16 = packBF16Job{}, gemmBF16Job{}
		workers.release(t)
	}
}

// geluRowsJob applies GELUTanh in place to rows [lo, hi) of y (cols wide).
type geluRowsJob struct {
	y    []float32
	cols int
}

func (j *geluRowsJob) run(lo, hi int) {
	rows := j.y[lo*j.cols : hi*j.cols]
	active.geluTanh(rows, rows)
}

// rowStrideBF16 is the stride, in bf16 values, of rows of k values that
// the micro-kernel streams 12 at a time: a whole odd number of 64-byte
// lines, so that the 12 rows fall in different L1 sets (a power-of-two
// multiple, such as the 6 KB of k = 3072, puts 6 of them in one set and
// halved the kernel's speed).
func rowStrideBF16(k int) int {
	l := (k + 31) &^ 31
	if l/32%2 == 0 {
		l += 32
	}
	return l
}

// packBF16Job runs items [lo, hi): the first xPanels items round 12 rows
// of X each to bf16 rows of 2*kp values, lda apart, in xh (ties to even;
// zeros past n rows and k); the next nq items pack weight panels q0.. of
// 32 rows as [kp][32][2] (see packWBF16).
type packBF16Job struct {
	xh, wp  []uint16
	x       []float32
	w       *Matrix
	n, k    int
	lda     int
	xPanels int
	q0, nq  int
}

func (j *packBF16Job) run(lo, hi int) {
	k, kp := j.k, (j.k+1)/2
	for it := lo; it < hi; it++ {
		if it >= j.xPanels {
			q := it - j.xPanels
			r0 := (j.q0 + q) * bf16NR
			buf := halfPool.Get().(*[]uint16)
			packWBF16(j.wp[q*kp*bf16NR*2:(q+1)*kp*bf16NR*2], growHalf(buf, 2*kp), j.w, r0, min(bf16NR, j.w.Rows-r0))
			halfPool.Put(buf)
			continue
		}
		for r := it * bf16MR; r < (it+1)*bf16MR; r++ {
			dst := j.xh[r*j.lda : r*j.lda+2*kp]
			if r >= j.n {
				clear(dst)
				continue
			}
			toBF16(active, dst[:k], j.x[r*k:(r+1)*k])
			if k%2 == 1 {
				dst[k] = 0
			}
		}
	}
}

// gemmBF16Job computes items [lo, hi) of Y: item = row block * nq + weight
// panel (of the pass's nq panels from q0), all k, in calls of at most
// bf16KB pairs.
type gemmBF16Job struct {
	y      []float32
	w      *Matrix
	xh, wp []uint16
	lda    int
	n      int
	q0, nq int
	ep     Epilogue
}

func (j *gemmBF16Job) run(lo, hi int) {
	k, rows := j.w.Cols, j.w.Rows
	kp := (k + 1) / 2
	panels := (j.n + bf16MR - 1) / bf16MR
	var tile [bf16MR * bf16NR]float32
	for it := lo; it < hi; it++ {
		rb, q := it/j.nq, it%j.nq
		r0 := (j.q0 + q) * bf16NR
		rn := min(bf16NR, rows-r0)
		wq := j.wp[q*kp*bf16NR*2:]
		for p := rb * bf16RB; p < min(panels, (rb+1)*bf16RB); p++ {
			i0 := p * bf16MR
			in := min(bf16MR, j.n-i0)
			a := j.xh[i0*j.lda:]
			if in == bf16MR && rn == bf16NR {
				j.fullTile(a, wq, kp, i0, r0)
				continue
			}
			// A partial tile: summed over k in tile, then finished per row.
			for k0 := 0; k0 < kp; k0 += bf16KB {
				gemmBF16R(min(bf16KB, kp-k0), &a[2*k0], j.lda, &wq[k0*bf16NR*2], &tile[0], bf16NR, min(k0, 1), nil)
			}
			var bias []float32
			if j.ep.Bias != nil {
				bias = j.ep.Bias[r0 : r0+rn]
			}
			for i := range in {
				epilogueRow(j.y[(i0+i)*rows+r0:(i0+i)*rows+r0+rn], tile[i*bf16NR:i*bf16NR+rn], bias, j.ep)
			}
		}
	}
}

// fullTile computes the 12 x 32 tile of Y at rows i0.., columns r0.. in
// place: the bias (first depth block) and the accumulation into Y in the
// micro-kernel.
func (j *gemmBF16Job) fullTile(a, wq []uint16, kp, i0, r0 int) {
	rows := j.w.Rows
	for k0 := 0; k0 < kp; k0 += bf16KB {
		load := min(k0, 1)
		if j.ep.Accumulate {
			load = 1
		}
		var bias *float32
		if k0 == 0 && j.ep.Bias != nil {
			bias = &j.ep.Bias[r0]
		}
		gemmBF16R(min(bf16KB, kp-k0), &a[2*k0], j.lda, &wq[k0*bf16NR*2], &j.y[i0*rows+r0], rows, load, bias)
	}
}

// packWBF16 stores weight rows r0..r0+rn-1 as [kp][32][2] bf16 (kp pairs
// of columns), zero-padding rows rn..31 and a last odd column; f16 weights
// are rounded to bf16. Groups of 16 full rows go through packRows16 (SIMD
// transposes) for whole blocks of 16 pairs; the rest, a pair at a time,
// through tmp (2*kp values).
func packWBF16(wp, tmp []uint16, w *Matrix, r0, rn int) {
	cols := w.Cols
	kp := (cols + 1) / 2
	dst := words(wp)
	for j0 := 0; j0 < bf16NR; j0 += 16 {
		done := 0
		if j0+16 <= rn {
			done = packRows16(active, dst[j0:], w, r0+j0)
		}
		if done == kp {
			continue
		}
		for j := j0; j < j0+16; j++ {
			if j >= rn {
				for q := done; q < kp; q++ {
					dst[q*bf16NR+j] = 0
				}
				continue
			}
			seg := w.Half[(r0+j)*cols+2*done : (r0+j+1)*cols]
			if w.Type == F16 || len(seg)%2 == 1 {
				t := tmp[:2*(kp-done)]
				if w.Type == F16 {
					f16ToBF16(active, t[:len(seg)], seg)
				} else {
					copy(t, seg)
				}
				if len(seg)%2 == 1 {
					t[len(t)-1] = 0 // pairs the last column with zero
				}
				seg = t
			}
			scatterPairs(dst[done*bf16NR+j:], bf16NR, seg)
		}
	}
}
