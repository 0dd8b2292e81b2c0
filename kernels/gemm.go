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

// gemmKC splits k into equal blocks of at most gemmMaxKC, rounded up to 8.
func gemmKC(k int) int {
	nb := (k + gemmMaxKC - 1) / gemmMaxKC
	kc := (k + nb - 1) / nb
	return (kc + 7) &^ 7
}

var gemmPool = sync.Pool{New: func() any { return new([]float32) }}

func grow(p *[]float32, n int) []float32 {
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	return (*p)[:n]
}

// gemmMatMul computes Y = X·Wᵀ with the backend's micro-kernel: X is packed
// once into micro-panels of mr rows, then the weight rows are processed in
// panels of nr, each converted to f32 and packed once per depth block and
// reused for every X micro-panel. Panels are spread over the worker pool.
func gemmMatMul(b *backend, y []float32, w *Matrix, x []float32, n int) {
	g := b.gemm
	k := w.Cols
	panels := (n + g.mr - 1) / g.mr
	xbuf := gemmPool.Get().(*[]float32)
	defer gemmPool.Put(xbuf)
	xp := grow(xbuf, panels*k*g.mr)
	packX(xp, x, n, k, g.mr)

	j := gemmJob{b: b, y: y, w: w, xp: xp, n: n, kc: gemmKC(k)}
	items := (w.Rows + g.nr - 1) / g.nr
	if items >= 2 && workers.acquire() {
		pj := &workers.jobs.gemm
		*pj = j
		workers.run(pj, items, 1)
		*pj = gemmJob{}
		workers.release()
		return
	}
	j.run(0, items)
}

// packX stores X (n x k) as micro-panels of mr rows: xp[p*k*mr + c*mr + i]
// = X[p*mr+i, c], zero-padding the last panel.
func packX(xp, x []float32, n, k, mr int) {
	panels := (n + mr - 1) / mr
	for p := 0; p < panels; p++ {
		dst := xp[p*k*mr : (p+1)*k*mr]
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
	buf := gemmPool.Get().(*[]float32)
	defer gemmPool.Put(buf)
	s := grow(buf, j.kc*nr+j.kc+mr*nr)
	wp := s[:j.kc*nr]
	rowBuf := s[j.kc*nr : j.kc*nr+j.kc]
	tile := s[j.kc*nr+j.kc:]
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
// wp[c*nr + r], zero-padding rows rn..nr-1.
func (j *gemmJob) packW(wp, rowBuf []float32, r0, rn, k0, kn, nr int) {
	w, k := j.w, j.w.Cols
	for r := 0; r < nr; r++ {
		if r >= rn {
			for c := 0; c < kn; c++ {
				wp[c*nr+r] = 0
			}
			continue
		}
		off := (r0+r)*k + k0
		var row []float32
		switch w.Type {
		case F32:
			row = w.F32[off : off+kn]
		case F16:
			row = rowBuf
			j.b.f16ToF32(row, w.Half[off:off+kn])
		case BF16:
			row = rowBuf
			j.b.bf16ToF32(row, w.Half[off:off+kn])
		case Q8:
			row = rowBuf
			dequantRow(row, w.Q8[off:off+kn], w.Scale[r0+r])
		}
		for c, v := range row {
			wp[c*nr+r] = v
		}
	}
}
