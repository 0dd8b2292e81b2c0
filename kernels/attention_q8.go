package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// Attention over a paged KV cache of int8 rows (kvcache.Q8): each row of
// headDim values (one position of one KV head) is stored as int8 with one
// float32 scale (value = scale * int8, see QuantizeQ8Row), the keys of a
// block interleaved by quads of dimensions and stored biased (see
// Q8KeyIndex). Scores are integer dot products of the int8 keys with the
// query heads quantized to int8 (one scale per head, as llama.cpp's q8_0
// queries for its quantized-KV dot products: about 0.65 times the int8
// cache's own error on the attention output, see TestQ8QueryQuantization;
// pretrained-micro's decode-step NLL with a Q8 cache stays within 1e-5 of
// the f32 cache's, see TestDecodeNLLKV in models/llama), 16 positions at a
// time in 16 SIMD lanes (no horizontal sums), scaled by the key row's
// scale, the head's and the softmax scale;
// the weighted sums multiply the int8 value rows by the softmax weights
// times the rows' scales, quantized to int16 per head and span (see
// wsumQ8Generic). Several query rows (prefill)
// de-quantize the visible rows into the contiguous float32 cache of the
// blocked GEMM path, as the f16 form converts them.

// AttentionPagedQ8 is AttentionPaged over blocks of int8 rows: v is laid
// out [kvHeads][blockTokens][headDim] as for AttentionPaged, k holds each KV
// head's blockTokens*headDim keys at the same place but with its positions
// interleaved by quads of dimensions and biased (see Q8KeyIndex: key
// element (t, d) of head h is Q8Key(k[b][h*blockTokens*headDim:],
// blockTokens, headDim, t, d), stored with SetQ8Key), and kScale, vScale hold the rows' scales laid out
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
// int32 dot products of biased int8 keys and int8 queries (and the scores
// kernels' products, see scoresGroupQ8Generic) cannot overflow up to
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

// qHeadsBuf holds the int8 query heads of one attendPagedQ8 call, their scales
// and their key-bias corrections (see quantizeQ8Heads).
type qHeadsBuf struct {
	q  []int8
	sc []float32
	qc []int32
}

var qHeadsPool = sync.Pool{New: func() any { return new(qHeadsBuf) }}

// attendPagedQ8 is attendPaged for int8 blocks: the per query heads q of
// the KV head whose rows start at element off of each block, over
// positions [from, n). Backends without group kernels use the pure-Go
// twins (one head per call then, see headsPerItem).
func attendPagedQ8(b *backend, out, q []float32, src *pagedBlocks, from, n, off, per, hd int, scale float32, s []float32) {
	gk := b.groupKernels()
	m := n - from
	// The query heads in int8, in buffers reused across calls.
	qb := qHeadsPool.Get().(*qHeadsBuf)
	defer qHeadsPool.Put(qb)
	if cap(qb.q) < per*hd || cap(qb.sc) < per {
		qb.q, qb.sc, qb.qc = make([]int8, per*hd), make([]float32, per), make([]int32, per)
	}
	q8, qsc, qc := qb.q[:per*hd], qb.sc[:per], qb.qc[:per]
	quantizeQ8Heads(q8, qsc, qc, q, per, hd, scale)
	scores := s[:per*m]
	if gk.prefetchQ8Values != nil {
		gk.prefetchQ8Values(src.v8, src.vs, src.bt, from, n, off, hd)
	}
	gk.scoresQ8(scores, src.k8, src.ks, src.v8, src.vs, src.bt, from, n, off, q8, qsc, qc, per, hd)
	for h := range per {
		b.softmax(scores[h*m : (h+1)*m])
	}
	clear(out)
	gk.wsumQ8(out, src.v8, src.vs, src.bt, from, n, off, scores, per, hd)
}

// scoresQ8Generic is groupKernels.scoresQ8 in Go, block by block with
// scoresGroupQ8Generic.
func scoresQ8Generic(s []float32, k [][]int8, ks [][]float32, _ [][]int8, _ [][]float32, bt, from, n, off int, q []int8, qsc []float32, qc []int32, g, hd int) {
	m, so := n-from, off/hd
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		scoresGroupQ8Generic(s[t-from:], m, k[blk][off:off+bt*hd], bt, o, ks[blk][so+o:so+o+c], q, qsc, qc, c, g, hd)
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

// q8KeyBias is what an int8 key byte is stored as: key+128 as an unsigned
// byte (the unsigned operand of the SIMD byte dot products), which is the
// key's bits with the top one flipped; the same XOR reads it back.
const q8KeyBias = -128

// Q8KeyIndex returns where key element (t, d) (position t < bt, dimension
// d < hd) lies among the bt*hd key bytes of one KV head in a block of an
// int8 KV cache (see AttentionPagedQ8): the keys are laid out
// [hd/4][bt][4], the four dimensions 4j..4j+3 of each position side by
// side and the positions one after the other, so that 64 bytes hold
// dimensions 4j..4j+3 of 16 consecutive positions (one SIMD load for the
// scores of 16 positions, without a horizontal sum). The last hd%4
// dimensions follow as [bt][hd%4]. Each key is stored biased, as the
// unsigned byte key+128: read it with Q8Key, store rows with SetQ8Key.
func Q8KeyIndex(bt, hd, t, d int) int {
	if q := hd &^ 3; d >= q {
		return q*bt + t*(hd-q) + d - q
	}
	return (d&^3)*bt + 4*t + d&3
}

// Q8Key returns key element (t, d) of k, the bt*hd key bytes of one KV
// head in a block of an int8 KV cache (see Q8KeyIndex).
func Q8Key(k []int8, bt, hd, t, d int) int8 {
	return k[Q8KeyIndex(bt, hd, t, d)] ^ q8KeyBias
}

// SetQ8Key stores row, the int8 key of one position t < bt (len(row)
// dimensions, as QuantizeQ8Row makes it), into k, the len(row)*bt keys of
// one KV head in a block of bt positions, at the places Q8KeyIndex gives
// (biased, see there). It panics if k is shorter or t out of range.
func SetQ8Key(k []int8, bt, t int, row []int8) {
	hd := len(row)
	if t < 0 || t >= bt || len(k) < bt*hd {
		panic(fmt.Sprintf("kernels.SetQ8Key: position %d of %d with %d keys of %d dimensions", t, bt, len(k), hd))
	}
	q := hd &^ 3
	for d := 0; d < q; d += 4 {
		i := d*bt + 4*t
		k[i], k[i+1], k[i+2], k[i+3] = row[d]^q8KeyBias, row[d+1]^q8KeyBias, row[d+2]^q8KeyBias, row[d+3]^q8KeyBias
	}
	for d := q; d < hd; d++ {
		k[q*bt+t*(hd-q)+d-q] = row[d] ^ q8KeyBias
	}
}

// dequantQ8Keys sets dst to the first len(scales) positions of the int8
// keys k of one KV head in a block of bt positions (laid out as
// Q8KeyIndex says), de-interleaved into rows of hd values, times their
// scales.
func dequantQ8Keys(dst []float32, k []int8, scales []float32, bt, hd int) {
	q := hd &^ 3
	for t, sc := range scales {
		row := dst[t*hd : (t+1)*hd]
		for d := 0; d < q; d += 4 {
			x := k[d*bt+4*t : d*bt+4*t+4]
			row[d], row[d+1] = sc*float32(x[0]^q8KeyBias), sc*float32(x[1]^q8KeyBias)
			row[d+2], row[d+3] = sc*float32(x[2]^q8KeyBias), sc*float32(x[3]^q8KeyBias)
		}
		for d := q; d < hd; d++ {
			row[d] = sc * float32(k[q*bt+t*(hd-q)+d-q]^q8KeyBias)
		}
	}
}

// scoresQ8Tile is how many positions scoresGroupQ8Generic sums at once
// (the SIMD kernels' 16 int32 lanes).
const scoresQ8Tile = 16

// scoresGroupQ8Generic sets s[h*ss+t] = float32(Q[h,:]·K[o+t,:]) *
// (ks[t]*qsc[h]) for t < c and h < g: the exact integer dot products of
// the int8 query heads q with the int8 keys of positions o..o+c-1 of k,
// one KV head's keys in a block of bt positions (see Q8KeyIndex), summed
// as the SIMD kernels do: the unsigned stored bytes key+128 times the
// query, starting from qc[h] = -128·sum(Q[h,:]) (see quantizeQ8Heads).
func scoresGroupQ8Generic(s []float32, ss int, k []int8, bt, o int, ks []float32, q []int8, qsc []float32, qc []int32, c, g, hd int) {
	var acc [scoresQ8Tile]int32 // |255·127·hd| + |128·127·hd| fits for hd <= 512
	quads := hd &^ 3
	for t0 := 0; t0 < c; t0 += scoresQ8Tile {
		n := min(scoresQ8Tile, c-t0)
		p := o + t0 // the tile's first position in the block
		for h := range g {
			qh := q[h*hd : (h+1)*hd]
			for t := range n {
				acc[t] = qc[h]
			}
			for d := 0; d < quads; d += 4 {
				q0, q1, q2, q3 := int32(qh[d]), int32(qh[d+1]), int32(qh[d+2]), int32(qh[d+3])
				quad := k[d*bt+4*p : d*bt+4*(p+n)]
				for t := range n {
					x := quad[4*t : 4*t+4]
					acc[t] += int32(uint8(x[0]))*q0 + int32(uint8(x[1]))*q1 + int32(uint8(x[2]))*q2 + int32(uint8(x[3]))*q3
				}
			}
			if r := hd - quads; r > 0 {
				tail := k[quads*bt+p*r : quads*bt+(p+n)*r]
				for t := range n {
					for i, x := range tail[t*r : (t+1)*r] {
						acc[t] += int32(uint8(x)) * int32(qh[quads+i])
					}
				}
			}
			for t := range n {
				s[h*ss+t0+t] = float32(acc[t]) * (ks[t0+t] * qsc[h])
			}
		}
	}
}

// quantizeQ8Heads sets q to x (per heads of hd values) quantized to int8
// with one scale per head (QuantizeQ8Row), qsc[h] to that scale times
// scale, and qc[h] to -128 times the sum of head h's int8 values: the
// correction that turns the dot product with the biased keys (key+128, see
// Q8KeyIndex) into the dot product with the keys. A head holding a NaN or
// Inf gets a NaN scale (its scores are NaN, as with float32 queries).
func quantizeQ8Heads(q []int8, qsc []float32, qc []int32, x []float32, per, hd int, scale float32) {
	for h := range per {
		qh := q[h*hd : (h+1)*hd]
		qsc[h] = QuantizeQ8Row(qh, x[h*hd:(h+1)*hd]) * scale
		qc[h] = -128 * sumInt8(qh)
	}
}

// sumInt8 returns the sum of x (len(x) <= MaxQ8HeadDim), eight bytes at a
// time: each 64-bit word's bytes biased to unsigned (XOR 0x80) and added in
// pairs into four 16-bit lanes, which hold at most 2·255·64 words.
func sumInt8(x []int8) int32 {
	if len(x) == 0 {
		return 0
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), len(x))
	const lo8, bias = 0x00ff00ff00ff00ff, 0x8080808080808080
	var lanes uint64
	n := len(b) &^ 7
	for i := 0; i < n; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:]) ^ bias
		lanes += w&lo8 + w>>8&lo8
	}
	lanes = lanes&0x0000ffff0000ffff + lanes>>16&0x0000ffff0000ffff
	sum := int32(lanes&0xffffffff+lanes>>32) - 128*int32(n)
	for _, v := range x[n:] {
		sum += int32(v)
	}
	return sum
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
