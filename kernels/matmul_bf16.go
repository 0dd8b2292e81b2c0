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
	mustValid("MatMulBF16", w)
	if n < 0 {
		panic("kernels.MatMulBF16: negative n")
	}
	mustLen("MatMulBF16", "x", len(x), n*w.Cols)
	mustLen("MatMulBF16", "y", len(y), n*w.Rows)
	if (w.Type != BF16 && w.Type != F16) || n < bf16MR || w.Rows == 0 || w.Cols == 0 || !hasBF16Dot(active) {
		matMul(active, y, w, x, n)
		return
	}
	bf16MatMul(y, w, x, n)
}

// HasBF16Dot reports whether MatMulBF16 runs on the CPU's bf16 dot-product
// instructions with the active kernels (otherwise it is MatMul).
func HasBF16Dot() bool { return hasBF16Dot(active) }

// Tile of the bf16 micro-kernel (gemmBF16x12x32) and the depth block in
// pairs of k (a packed weight panel of 256 pairs x 32 columns is 32 KB).
const (
	bf16MR = 12
	bf16NR = 32
	bf16KB = 256
)

// halfPool holds uint16 scratch buffers (packed bf16 activations).
var halfPool = sync.Pool{New: func() any { return new([]uint16) }}

func growHalf(p *[]uint16, n int) []uint16 {
	if cap(*p) < n {
		*p = make([]uint16, n)
	}
	return (*p)[:n]
}

// bf16MatMul packs X into bf16 pair panels of 12 rows (in parallel), then
// computes the weight panels of 32 rows in parallel, each packed once per
// depth block and run against every X panel.
func bf16MatMul(y []float32, w *Matrix, x []float32, n int) {
	k := w.Cols
	kp := (k + 1) / 2
	panels := (n + bf16MR - 1) / bf16MR
	buf := halfPool.Get().(*[]uint16)
	defer halfPool.Put(buf)
	xp := growHalf(buf, panels*kp*bf16MR*2)
	pack := packBF16Job{xp: xp, x: x, n: n, k: k}
	j := gemmBF16Job{y: y, w: w, xp: xp, n: n}
	items := (w.Rows + bf16NR - 1) / bf16NR
	if items >= 2 {
		if t := workers.acquire(); t != nil {
			pp, pj := &t.jobs.packBF16, &t.jobs.gemmBF16
			*pp, *pj = pack, j
			t.run(pp, panels, 1)
			t.run(pj, items, 1)
			*pp, *pj = packBF16Job{}, gemmBF16Job{}
			workers.release(t)
			return
		}
	}
	pack.run(0, panels)
	j.run(0, items)
}

// packBF16Job packs X panels [lo, hi): panel p holds rows p*12..p*12+11 as
// [kp][12][2] bf16 (rounded to nearest even; zeros past n rows and k).
type packBF16Job struct {
	xp   []uint16
	x    []float32
	n, k int
}

func (j *packBF16Job) run(lo, hi int) {
	k, kp := j.k, (j.k+1)/2
	buf := halfPool.Get().(*[]uint16)
	defer halfPool.Put(buf)
	rows := growHalf(buf, bf16MR*2*kp)
	row := rows[:2*kp]
	row[2*kp-1] = 0 // pads an odd k
	for p := lo; p < hi; p++ {
		dst := words(j.xp[p*kp*bf16MR*2 : (p+1)*kp*bf16MR*2])
		if k%2 == 0 && p*bf16MR+bf16MR <= j.n {
			packXBF16Fast(dst, rows, j.x, p, k)
			continue
		}
		if p*bf16MR+bf16MR > j.n {
			clear(dst)
		}
		for i := range min(bf16MR, j.n-p*bf16MR) {
			r := p*bf16MR + i
			toBF16(active, row[:k], j.x[r*k:(r+1)*k])
			scatterPairs(dst[i:], bf16MR, row)
		}
	}
}

// gemmBF16Job computes the output columns of weight panels [lo, hi).
type gemmBF16Job struct {
	y  []float32
	w  *Matrix
	xp []uint16
	n  int
}

func (j *gemmBF16Job) run(lo, hi int) {
	k, rows := j.w.Cols, j.w.Rows
	kp := (k + 1) / 2
	panels := (j.n + bf16MR - 1) / bf16MR
	buf := halfPool.Get().(*[]uint16)
	defer halfPool.Put(buf)
	hs := growHalf(buf, bf16KB*bf16NR*2+bf16KB*bf16NR*2)
	wp, tmp := hs[:bf16KB*bf16NR*2], hs[bf16KB*bf16NR*2:]
	var tile [bf16MR * bf16NR]float32
	for q := lo; q < hi; q++ {
		r0 := q * bf16NR
		rn := min(bf16NR, rows-r0)
		for k0 := 0; k0 < kp; k0 += bf16KB {
			kn := min(bf16KB, kp-k0)
			packWBF16(wp[:kn*bf16NR*2], tmp, j.w, r0, rn, k0, kn)
			load := min(k0, 1)
			for p := range panels {
				a := &j.xp[(p*kp+k0)*bf16MR*2]
				i0 := p * bf16MR
				in := min(bf16MR, j.n-i0)
				if in == bf16MR && rn == bf16NR {
					gemmBF16(kn, a, &wp[0], &j.y[i0*rows+r0], rows, load)
					continue
				}
				gemmBF16(kn, a, &wp[0], &tile[0], bf16NR, 0)
				for i := range in {
					dst := j.y[(i0+i)*rows+r0 : (i0+i)*rows+r0+rn]
					src := tile[i*bf16NR : i*bf16NR+rn]
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

// packWBF16 stores weight rows r0..r0+rn-1, pairs k0..k0+kn-1 of columns,
// as [kn][32][2] bf16, zero-padding rows rn..31 and a last odd column; f16
// weights are rounded to bf16 through tmp (32*2*kn values).
func packWBF16(wp, tmp []uint16, w *Matrix, r0, rn, k0, kn int) {
	if packWBF16Fast(wp, tmp, w, r0, rn, k0, kn) {
		return
	}
	cols := w.Cols
	dst := words(wp)
	for j := range bf16NR {
		if j >= rn {
			for q := range kn {
				dst[q*bf16NR+j] = 0
			}
			continue
		}
		row := w.Half[(r0+j)*cols : (r0+j+1)*cols]
		seg := row[2*k0 : min(cols, 2*(k0+kn))]
		if w.Type == F16 || len(seg)%2 == 1 {
			t := tmp[:2*kn]
			if w.Type == F16 {
				f16ToBF16(active, t[:len(seg)], seg)
			} else {
				copy(t, seg)
			}
			if len(seg) < 2*kn {
				t[2*kn-1] = 0 // pairs a last odd column with zero
			}
			seg = t
		}
		for q, x := range words(seg) {
			dst[q*bf16NR+j] = x
		}
	}
}
