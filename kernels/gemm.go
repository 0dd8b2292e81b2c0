package kernels

import "sync"

// gemmKernel is a register-tiled GEMM micro-kernel computing an mr x nr tile
// C (+)= Aᵀ·B from A packed [k][mr] and B holding nr floats per k at a
// stride of ldb (see gemm_amd64.s).
type gemmKernel struct {
	mr, nr int
	fn     func(k int, a, b, c *float32, ldb, ldc, load int)
}

// gemmMaxKC bounds the depth of one packed block, so that a packed weight
// panel (kc x nr floats) stays in L2 and an X micro-panel in L1.
const gemmMaxKC = 512

// gemmKC splits k > 0 into equal blocks of at most gemmMaxKC, rounded up to
// a multiple of 8.
func gemmKC(k int) int {
	nb := (k + gemmMaxKC - 1) / gemmMaxKC
	kc := (k + nb - 1) / nb
	return (kc + 7) &^ 7
}

// scratchPool holds float32 buffers reused across calls, so that kernels do
// not allocate in steady state. Unlike a sync.Pool it keeps its buffers
// across garbage collections: a collection in the middle of a long run
// (vision encoding, prefill) would otherwise make every kernel reallocate.
var scratchPool bufPool

// bufPool is a free list of scratch buffers. It holds at most as many
// buffers as kernel calls ever ran at once.
type bufPool struct {
	mu   sync.Mutex
	free []*[]float32
}

// Get returns a buffer (possibly empty; size it with grow).
func (p *bufPool) Get() any {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	return new([]float32)
}

// Put returns a buffer from Get.
func (p *bufPool) Put(b any) {
	p.mu.Lock()
	p.free = append(p.free, b.(*[]float32))
	p.mu.Unlock()
}

// grow returns (*p)[:n], reallocating *p if it is too small.
func grow(p *[]float32, n int) []float32 {
	if cap(*p) < n {
		// Round small sizes up to a power of two, so that a size growing by
		// one per decoded token (attention scores) reallocates only log(n)
		// times; large packing buffers are allocated exactly.
		c := n
		if n <= 1<<20 {
			c = 1024
			for c < n {
				c *= 2
			}
		}
		*p = make([]float32, n, c)
	}
	return (*p)[:n]
}

// gemmMatMul computes Y = X·Wᵀ (w.Cols > 0) with the backend's micro-kernel:
// X is packed once into micro-panels of mr rows (in parallel), then the weight
// rows are processed in panels of nr, each converted to f32 and packed once
// per depth block and reused for every X micro-panel. Panels are spread over
// the worker pool.
func gemmMatMul(b *backend, y []float32, w *Matrix, x []float32, n int) {
	g := b.gemm
	k := w.Cols
	panels := (n + g.mr - 1) / g.mr
	xbuf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(xbuf)
	xp := grow(xbuf, panels*k*g.mr)

	pack := packXJob{xp: xp, x: x, n: n, k: k, mr: g.mr, transpose8: b.transpose8}
	j := gemmJob{b: b, y: y, w: w, xp: xp, n: n, kc: gemmKC(k)}
	items := (w.Rows + g.nr - 1) / g.nr
	if items >= 2 {
		if t := workers.acquire(); t != nil {
			pp, pj := &t.jobs.packX, &t.jobs.gemm
			*pp, *pj = pack, j
			t.run(pp, panels, max(1, 1<<14/(k*g.mr)))
			t.run(pj, items, 1)
			*pp, *pj = packXJob{}, gemmJob{}
			workers.release(t)
			return
		}
	}
	pack.run(0, panels)
	j.run(0, items)
}

// packXJob packs X micro-panels [lo, hi) (see packX).
type packXJob struct {
	xp, x    []float32
	n, k, mr int
	// transpose8 is the backend's SIMD transpose of 8 rows, if any.
	transpose8 func(wp []float32, nr int, src []float32, lds, n int)
}

func (j *packXJob) run(lo, hi int) {
	k, mr := j.k, j.mr
	for p := lo; p < hi; p++ {
		dst := j.xp[p*k*mr : (p+1)*k*mr]
		if j.transpose8 != nil && mr >= 8 && mr <= 16 && k%8 == 0 && (p+1)*mr <= j.n {
			// Full panel: rows 0-7 and mr-8..mr-1 (rows in both are
			// stored twice, identically).
			x := j.x[p*mr*k : (p+1)*mr*k]
			j.transpose8(dst, mr, x, k, k)
			j.transpose8(dst[mr-8:], mr, x[(mr-8)*k:], k, k)
			continue
		}
		packXPanel(dst, j.x, p, j.n, k, mr)
	}
}

// packXPanel stores rows p*mr .. p*mr+mr-1 of X (n x k) as one micro-panel:
// dst[c*mr + i] = X[p*mr+i, c], with zeros for rows past n.
func packXPanel(dst, x []float32, p, n, k, mr int) {
	for i := 0; i < mr; i++ {
		r := p*mr + i
		if r >= n {
			for c := 0; c < k; c++ {
				dst[c*mr+i] = 0
			}
			continue
		}
		row := x[r*k : (r+1)*k]
		for c, v := range row {
			dst[c*mr+i] = v
		}
	}
}

// gemmJob computes the output columns of weight panels [lo, hi).
type gemmJob struct {
	b  *backend
	y  []float32
	w  *Matrix
	xp []float32
	n  int
	kc int
}

func (j *gemmJob) run(lo, hi int) {
	g := j.b.gemm
	mr, nr := g.mr, g.nr
	k, rows := j.w.Cols, j.w.Rows
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	s := grow(buf, j.kc*nr+8*j.kc+mr*nr)
	wp := s[:j.kc*nr]
	rowBuf := s[j.kc*nr : j.kc*nr+8*j.kc]
	tile := s[j.kc*nr+8*j.kc:]
	panels := (j.n + mr - 1) / mr

	for q := lo; q < hi; q++ {
		r0 := q * nr
		rn := min(nr, rows-r0)
		for k0 := 0; k0 < k; k0 += j.kc {
			kn := min(j.kc, k-k0)
			j.packW(wp[:kn*nr], rowBuf[:kn], r0, rn, k0, kn, nr)
			load := 0
			if k0 > 0 {
				load = 1
			}
			for p := 0; p < panels; p++ {
				a := &j.xp[p*k*mr+k0*mr]
				i0 := p * mr
				in := min(mr, j.n-i0)
				if in == mr && rn == nr {
					g.fn(kn, a, &wp[0], &j.y[i0*rows+r0], nr, rows, load)
					continue
				}
				g.fn(kn, a, &wp[0], &tile[0], nr, nr, 0)
				for i := 0; i < in; i++ {
					dst := j.y[(i0+i)*rows+r0 : (i0+i)*rows+r0+rn]
					src := tile[i*nr : i*nr+rn]
					if load == 0 {
						copy(dst, src)
					} else {
						for c, v := range src {
							dst[c] += v
						}
					}
				}
			}
		}
	}
}

// packW stores weight rows r0..r0+rn-1, columns k0..k0+kn-1, as f32 in
// wp[c*nr + r], zero-padding rows rn..nr-1. Groups of 8 rows go through the
// backend's SIMD transpose when it has one; the rest through rowBuf.
func (j *gemmJob) packW(wp, rowBuf []float32, r0, rn, k0, kn, nr int) {
	r := 0
	if p8, n8 := j.w.Type.traits().packW8, kn&^7; p8 != nil && j.b.packW8 != nil && n8 > 0 {
		for ; r+8 <= rn; r += 8 {
			p8(j.b, j.w, wp[r:], nr, r0+r, k0, n8, rowBuf)
			for i := r; i < r+8; i++ {
				j.packRow(wp, rowBuf, nr, i, r0+i, k0+n8, kn-n8, n8)
			}
		}
	}
	for ; r < nr; r++ {
		if r >= rn {
			for c := 0; c < kn; c++ {
				wp[c*nr+r] = 0
			}
			continue
		}
		j.packRow(wp, rowBuf, nr, r, r0+r, k0, kn, 0)
	}
}

// packRow widens columns c0..c0+n-1 of weight row wr into
// wp[(first+c)*nr + r] for c < n.
func (j *gemmJob) packRow(wp, rowBuf []float32, nr, r, wr, c0, n, first int) {
	w := j.w
	var row []float32
	if w.Type == F32 {
		row = w.F32[wr*w.Cols+c0 : wr*w.Cols+c0+n]
	} else {
		row = rowBuf[:n]
		w.Type.traits().widen(j.b, row, w, wr, c0)
	}
	for c, v := range row {
		wp[(first+c)*nr+r] = v
	}
}
