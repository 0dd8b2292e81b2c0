package kernels

import (
	"fmt"
	"math"
	"sync"
)

// Attention over a paged KV cache of int8 rows (kvcache.Q8): each row of
// headDim values (one position of one KV head) is stored as int8 with one
// float32 scale (value = scale * int8, see QuantizeQ8Row), the keys of a
// block interleaved by pairs of dimensions (see Q8KeyIndex). Scores are
// integer dot products of the int8 keys with the query heads quantized to
// int16 (one scale per head: relative error 1.5e-5, far below the keys'
// own), 16 positions at a time in 16 SIMD lanes (no horizontal sums),
// scaled by the key row's scale, the head's and the softmax scale;
// the weighted sums multiply the int8 value rows by the softmax weights
// times the rows' scales, quantized to int16 per head (see
// wsumQ8Generic). Several query rows (prefill)
// de-quantize the visible rows into the contiguous float32 cache of the
// blocked GEMM path, as the f16 form converts them.

// AttentionPagedQ8 is AttentionPaged over blocks of int8 rows: v is laid
// out [kvHeads][blockTokens][headDim] as for AttentionPaged, k holds each KV
// head's blockTokens*headDim keys at the same place but with its positions
// interleaved by pairs of dimensions (see Q8KeyIndex: key element (t, d) of
// head h is k[b][h*blockTokens*headDim+Q8KeyIndex(blockTokens, headDim, t, d)],
// stored with SetQ8Key), and kScale, vScale hold the rows' scales laid out
// [kvHeads][blockTokens] (a key element is kScale[b][h*blockTokens+t] times
// that int8). It equals AttentionPaged on the de-quantized values (to
// rounding).
func AttentionPagedQ8(out, q []float32, k, v [][]int8, kScale, vScale [][]float32, blockTokens, n, heads, kvHeads, headDim, pos0 int, scale float32) {
	AttentionPagedWindowQ8(out, q, k, v, kScale, vScale, blockTokens, n, heads, kvHeads, headDim, pos0, 0, scale)
}

// AttentionPagedWindowQ8 is AttentionPagedWindow over blocks of int8 rows
// (see AttentionPagedQ8).
func AttentionPagedWindowQ8(out, q []float32, k, v [][]int8, kScale, vScale [][]float32, blockTokens, n, heads, kvHeads, headDim, pos0, window int, scale float32) {
	const fn = "AttentionPagedWindowQ8"
	checkPaged(fn, len(out), len(q), blockTokens, n, heads, kvHeads, headDim, pos0, window)
	checkQ8HeadDim(fn, headDim)
	j := pagedJob{src: pagedBlocks{k8: k, v8: v, ks: kScale, vs: vScale, q8: true, bt: blockTokens}}
	lo, nb := pagedWindow(pos0, n, &window, blockTokens)
	checkBlocks(fn, "k", k, lo, nb, kvHeads*blockTokens*headDim)
	checkBlocks(fn, "v", v, lo, nb, kvHeads*blockTokens*headDim)
	checkBlocks(fn, "kScale", kScale, lo, nb, kvHeads*blockTokens)
	checkBlocks(fn, "vScale", vScale, lo, nb, kvHeads*blockTokens)
	attentionPaged(&j, out, q, blockTokens, n, heads, kvHeads, headDim, pos0, window, scale)
}

// MaxQ8HeadDim bounds the head size of attention over int8 KV blocks: the
// int32 dot products of int8 keys and int16 queries cannot overflow up to
// it. Callers validate it up front (kvcache.NewPool does); the kernels
// panic beyond it.
const MaxQ8HeadDim = 512

func checkQ8HeadDim(fn string, hd int) {
	if hd > MaxQ8HeadDim {
		panic(fmt.Sprintf("kernels.%s: headDim %d above %d is not supported for int8 KV blocks", fn, hd, MaxQ8HeadDim))
	}
}

// decodePrefetchRows is how many positions ahead the decode attention
// kernels prefetch: one block of one KV head takes less than a DRAM
// latency to process (measured at B=16, int8 blocks of 16: 64 positions
// ahead 8-15% faster than 16).
const decodePrefetchRows = 64

// decodeAhead returns how many blocks of bt positions ahead the decode
// attention kernels prefetch: decodePrefetchRows positions, at least one
// block.
func decodeAhead(bt int) int {
	return max(1, decodePrefetchRows/bt)
}

// q16Buf holds the int16 query heads of one attendPagedQ8 call and their
// scales.
type q16Buf struct {
	q  []int16
	sc []float32
}

var q16Pool = sync.Pool{New: func() any { return new(q16Buf) }}

// attendPagedQ8 is attendPaged for int8 blocks: the per query heads q of
// the KV head whose rows start at element off of each block, over
// positions [from, n). Backends without group kernels use the pure-Go
// twins (one head per call then, see headsPerItem).
func attendPagedQ8(b *backend, out, q []float32, src *pagedBlocks, from, n, off, per, hd int, scale float32, s []float32) {
	gk := b.group
	if gk == nil {
		gk = groupGeneric
	}
	m := n - from
	// The query heads in int16, in buffers reused across calls.
	qb := q16Pool.Get().(*q16Buf)
	defer q16Pool.Put(qb)
	if cap(qb.q) < per*hd || cap(qb.sc) < per {
		qb.q, qb.sc = make([]int16, per*hd), make([]float32, per)
	}
	q16, qsc := qb.q[:per*hd], qb.sc[:per]
	quantizeQ16(q16, qsc, q, per, hd, scale)
	scores := s[:per*m]
	if gk.prefetchQ8Values != nil {
		gk.prefetchQ8Values(src.v8, src.vs, src.bt, from, n, off, hd)
	}
	gk.scoresQ8(scores, src.k8, src.ks, src.v8, src.vs, src.bt, from, n, off, q16, qsc, per, hd)
	for h := range per {
		b.softmax(scores[h*m : (h+1)*m])
	}
	clear(out)
	gk.wsumQ8(out, src.v8, src.vs, src.bt, from, n, off, scores, per, hd)
}

// scoresQ8Generic is groupKernels.scoresQ8 in Go, block by block with
// scoresGroupQ8Generic.
func scoresQ8Generic(s []float32, k [][]int8, ks [][]float32, _ [][]int8, _ [][]float32, bt, from, n, off int, q []int16, qsc []float32, g, hd int) {
	m, so := n-from, off/hd
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		scoresGroupQ8Generic(s[t-from:], m, k[blk][off:off+bt*hd], bt, o, ks[blk][so+o:so+o+c], q, qsc, c, g, hd)
		t += c
	}
}

// dequantQ8Rows sets dst to the rows of hd int8 values of src times their
// scales (len(scales) rows).
func dequantQ8Rows(dst []float32, src []int8, scales []float32, hd int) {
	for r, sc := range scales {
		d, x := dst[r*hd:(r+1)*hd], src[r*hd:(r+1)*hd]
		for i, v := range x {
			d[i] = sc * float32(v)
		}
	}
}

// Q8KeyIndex returns where key element (t, d) (position t < bt, dimension
// d < hd) lies among the bt*hd int8 keys of one KV head in a block of an
// int8 KV cache (see AttentionPagedQ8): the keys are laid out
// [hd/2][bt][2], the two dimensions 2j, 2j+1 of each position side by
// side and the positions one after the other, so that 2*16 bytes hold
// dimensions 2j, 2j+1 of 16 consecutive positions (one SIMD load for the
// scores of 16 positions, without a horizontal sum). An odd hd's last
// dimension follows as [bt].
func Q8KeyIndex(bt, hd, t, d int) int {
	if d == hd-1 && hd%2 == 1 {
		return d*bt + t
	}
	return (d&^1)*bt + 2*t + d&1
}

// SetQ8Key stores row, the int8 key of one position t < bt (len(row)
// dimensions, as QuantizeQ8Row makes it), into k, the len(row)*bt keys of
// one KV head in a block of bt positions, at the places Q8KeyIndex gives.
// It panics if k is shorter or t out of range.
func SetQ8Key(k []int8, bt, t int, row []int8) {
	hd := len(row)
	if t < 0 || t >= bt || len(k) < bt*hd {
		panic(fmt.Sprintf("kernels.SetQ8Key: position %d of %d with %d keys of %d dimensions", t, bt, len(k), hd))
	}
	for d := 0; d+1 < hd; d += 2 {
		i := d*bt + 2*t
		k[i], k[i+1] = row[d], row[d+1]
	}
	if hd%2 == 1 {
		k[(hd-1)*bt+t] = row[hd-1]
	}
}

// dequantQ8Keys sets dst to the first len(scales) positions of the int8
// keys k of one KV head in a block of bt positions (laid out as
// Q8KeyIndex says), de-interleaved into rows of hd values, times their
// scales.
func dequantQ8Keys(dst []float32, k []int8, scales []float32, bt, hd int) {
	for t, sc := range scales {
		row := dst[t*hd : (t+1)*hd]
		for d := 0; d+1 < hd; d += 2 {
			i := d*bt + 2*t
			row[d], row[d+1] = sc*float32(k[i]), sc*float32(k[i+1])
		}
		if hd%2 == 1 {
			row[hd-1] = sc * float32(k[(hd-1)*bt+t])
		}
	}
}

// scoresQ8Tile is how many positions scoresGroupQ8Generic sums at once
// (the SIMD kernels' 16 int32 lanes).
const scoresQ8Tile = 16

// scoresGroupQ8Generic sets s[h*ss+t] = float32(Q[h,:]·K[o+t,:]) *
// (ks[t]*qsc[h]) for t < c and h < g: the exact integer dot products of
// the int16 query heads q with the int8 keys of positions o..o+c-1 of k,
// one KV head's keys in a block of bt positions (see Q8KeyIndex). It runs
// the pairs of dimensions in the outer loop, as the SIMD kernels do.
func scoresGroupQ8Generic(s []float32, ss int, k []int8, bt, o int, ks []float32, q []int16, qsc []float32, c, g, hd int) {
	var acc [scoresQ8Tile]int32 // |127 * 32767| * hd fits for hd <= 512
	for t0 := 0; t0 < c; t0 += scoresQ8Tile {
		n := min(scoresQ8Tile, c-t0)
		p := o + t0 // the tile's first position in the block
		for h := range g {
			qh := q[h*hd : (h+1)*hd]
			clear(acc[:n])
			for d := 0; d+1 < hd; d += 2 {
				q0, q1 := int32(qh[d]), int32(qh[d+1])
				pair := k[d*bt+2*p : d*bt+2*(p+n)]
				for t := range n {
					acc[t] += int32(pair[2*t])*q0 + int32(pair[2*t+1])*q1
				}
			}
			if hd%2 == 1 {
				qd, last := int32(qh[hd-1]), k[(hd-1)*bt+p:(hd-1)*bt+p+n]
				for t := range n {
					acc[t] += int32(last[t]) * qd
				}
			}
			for t := range n {
				s[h*ss+t0+t] = float32(acc[t]) * (ks[t0+t] * qsc[h])
			}
		}
	}
}

// quantizeQ16 sets q to x (per heads of hd values) quantized to int16 with
// one scale per head, and qsc[h] to that scale times scale: x[h*hd+d] ≈
// qsc[h]/scale * q[h*hd+d], within 1/65534 of the head's largest
// magnitude. A head holding a NaN or Inf gets a NaN scale (its scores are
// NaN, as with float32 queries).
func quantizeQ16(q []int16, qsc, x []float32, per, hd int, scale float32) {
	f := active.quantizeI16Row
	if f == nil {
		f = quantizeI16RowGeneric
	}
	for h := range per {
		qsc[h] = f(q[h*hd:(h+1)*hd], x[h*hd:(h+1)*hd]) * scale
	}
}

// quantizeI16RowGeneric sets dst to src quantized to int16 with one scale,
// which it returns: src[i] ≈ scale·dst[i], scale = max|src| / 32767. A row
// of zeros gives scale 0, a NaN or Inf a NaN scale (and zero dst). The
// SIMD forms (backend.quantizeI16Row) give the same bits.
func quantizeI16RowGeneric(dst []int16, src []float32) float32 {
	var amax float32
	finite := true
	for _, v := range src {
		a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
		finite = finite && a <= math.MaxFloat32
		amax = max(amax, a)
	}
	if !finite || amax == 0 {
		clear(dst)
		if !finite {
			return float32(math.NaN())
		}
		return 0
	}
	inv := 32767 / amax
	for d, v := range src {
		dst[d] = int16(int32((v*inv + 0x1.8p23) - 0x1.8p23)) // round to nearest even, |v*inv| <= 32767
	}
	return amax / 32767
}

// wsumQ8Span is the most positions whose int32 sums the int8 weighted
// sums keep before converting them to float32 (see wsumQ8SpanEnd):
// |int16 weight · int8 value| <= 32767·128, and 512 of those fit in an
// int32.
const wsumQ8Span = 512

// quantizeW16 returns the weight x (a softmax weight times its value
// row's scale) quantized to int16 for a head whose largest weight
// magnitude is amax > 0 (finite), with inv = 32767/amax: round(x·inv), to
// nearest even as the SIMD conversion does, within amax/65534 (plus a
// rounding of the reciprocal); only when inv overflows (amax below 1e-34)
// round((x/amax)·32767). The weights' scale is amax/32767.
func quantizeW16(x, amax, inv float32) int16 {
	y := float32(x * inv) // no fused multiply-add
	if inv > math.MaxFloat32 {
		y = (x / amax) * 32767
	}
	return int16(int32((y + 0x1.8p23) - 0x1.8p23))
}

// wsumQ8SpanEnd returns the end of the span of positions that starts at
// t < n in the int8 weighted sums: the runs of rows of the blocks of bt
// positions from t (each a block's rows from t, at most wsumQ8Span) while
// they total at most wsumQ8Span rows, at least one run. A span's weights
// share one int16 scale per head, and its int32 sums are converted to
// float32 at its end.
func wsumQ8SpanEnd(t, n, bt int) int {
	if n-t <= wsumQ8Span {
		return n
	}
	if bt <= wsumQ8Span {
		// The rows to the block's end, then whole blocks: the loop below
		// without a division per block.
		c := bt - t%bt
		return t + c + (wsumQ8Span-c)/bt*bt
	}
	rows := 0
	for t < n {
		c := min(bt-t%bt, n-t, wsumQ8Span)
		if rows > 0 && rows+c > wsumQ8Span {
			break
		}
		rows += c
		t += c
	}
	return t
}

// wsumQ8Generic is groupKernels.wsumQ8 in Go: it adds sum_t
// p[h*m+t-from]·(vs[t]·V[t,:]) to out[h*hd:] (m = n-from) as integer
// sums, span by span (wsumQ8SpanEnd: all the positions when there are at
// most wsumQ8Span). Each head's weights p·vs in a span are quantized to
// int16 with one scale (quantizeW16 with their largest magnitude amax,
// scale amax/32767; all zero weights give scale 0, any NaN or Inf weight
// a NaN scale and zero weights, so that the head's sums are NaN),
// multiplied with the int8 values and summed exactly in int32, block by
// block, and at the span's end those sums are converted to float32, times
// the scale, and added to out.
func wsumQ8Generic(out []float32, v [][]int8, vs [][]float32, bt, from, n, off int, p []float32, g, hd int) {
	m, so := n-from, off/hd
	var accBuf [MaxQ8HeadDim]int32
	acc := accBuf[:hd]
	for t0 := from; t0 < n; {
		t1 := wsumQ8SpanEnd(t0, n, bt)
		for h := range g {
			ph, oh := p[h*m:(h+1)*m], out[h*hd:(h+1)*hd]
			var amax float32
			finite := true
			for t := t0; t < t1; {
				blk, o := t/bt, t%bt
				c := min(bt-o, t1-t)
				for i, s := range vs[blk][so+o : so+o+c] {
					a := math.Float32frombits(math.Float32bits(ph[t-from+i]*s) &^ (1 << 31))
					finite = finite && a <= math.MaxFloat32
					amax = max(amax, a)
				}
				t += c
			}
			clear(acc)
			inv := 32767 / amax
			for t := t0; t < t1 && finite && amax != 0; {
				blk, o := t/bt, t%bt
				c := min(bt-o, t1-t)
				for i, s := range vs[blk][so+o : so+o+c] {
					wt := int32(quantizeW16(ph[t-from+i]*s, amax, inv))
					for d, x := range v[blk][off+(o+i)*hd : off+(o+i+1)*hd] {
						acc[d] += wt * int32(x)
					}
				}
				t += c
			}
			sc := amax / 32767
			if !finite {
				sc = float32(math.NaN())
			}
			for d, a := range acc {
				oh[d] += float32(float32(a) * sc) // rounded product, as the SIMD kernel
			}
		}
		t0 = t1
	}
}
