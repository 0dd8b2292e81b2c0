package kernels

// Attention over a paged KV cache of int8 rows (kvcache.Q8): each row of
// headDim values (one position of one KV head) is stored as int8 with one
// float32 scale (value = scale * int8, see QuantizeQ8Row). The kernels read
// the int8 rows widened to float32: a key row's scale multiplies its scores
// (with the softmax scale, once per position and head), a value row's
// scale the widened row (once for all the heads of a GQA group). Several query rows (prefill)
// de-quantize the visible rows into the contiguous float32 cache of the
// blocked GEMM path, as the f16 form converts them.

// AttentionPagedQ8 is AttentionPaged over blocks of int8 rows: k and v are
// laid out [kvHeads][blockTokens][headDim] as for AttentionPaged, and
// kScale, vScale hold their rows' scales laid out [kvHeads][blockTokens]
// (a key element is kScale[b][h*blockTokens+t] * k[b][(h*blockTokens+t)*headDim+d]).
// It equals AttentionPaged on the de-quantized values (to rounding).
func AttentionPagedQ8(out, q []float32, k, v [][]int8, kScale, vScale [][]float32, blockTokens, n, heads, kvHeads, headDim, pos0 int, scale float32) {
	AttentionPagedWindowQ8(out, q, k, v, kScale, vScale, blockTokens, n, heads, kvHeads, headDim, pos0, 0, scale)
}

// AttentionPagedWindowQ8 is AttentionPagedWindow over blocks of int8 rows
// (see AttentionPagedQ8).
func AttentionPagedWindowQ8(out, q []float32, k, v [][]int8, kScale, vScale [][]float32, blockTokens, n, heads, kvHeads, headDim, pos0, window int, scale float32) {
	const fn = "AttentionPagedWindowQ8"
	checkPaged(fn, len(out), len(q), blockTokens, n, heads, kvHeads, headDim, pos0, window)
	j := pagedJob{src: pagedBlocks{k8: k, v8: v, ks: kScale, vs: vScale, q8: true, bt: blockTokens}}
	lo, nb := pagedWindow(pos0, n, &window, blockTokens)
	checkBlocks(fn, "k", k, lo, nb, kvHeads*blockTokens*headDim)
	checkBlocks(fn, "v", v, lo, nb, kvHeads*blockTokens*headDim)
	checkBlocks(fn, "kScale", kScale, lo, nb, kvHeads*blockTokens)
	checkBlocks(fn, "vScale", vScale, lo, nb, kvHeads*blockTokens)
	attentionPaged(&j, out, q, blockTokens, n, heads, kvHeads, headDim, pos0, window, scale)
}

// attendPagedQ8 is attendPaged for int8 blocks: the per query heads q of
// the KV head whose rows start at element off of each block, over
// positions [from, n). Backends without group kernels use the pure-Go
// twins (one head per call then, see headsPerItem).
func attendPagedQ8(b *backend, out, q []float32, src *pagedBlocks, from, n, off, per, hd int, scale float32, s []float32) {
	gk := b.group
	if gk == nil {
		gk = groupGeneric
	}
	bt, m := src.bt, n-from
	so := off / hd // the KV head's first scale in a block
	last := (n - 1) / bt
	// nxt returns the KV head's rows and scales of the block after blk, if read.
	nxt := func(blocks [][]int8, scales [][]float32, blk int) ([]int8, []float32) {
		if blk >= last {
			return nil, nil
		}
		return blocks[blk+1][off : off+bt*hd], scales[blk+1][so : so+bt]
	}
	scores := s[:per*m]
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		nk, nks := nxt(src.k8, src.ks, blk)
		gk.scoresQ8(scores[t-from:], m, src.k8[blk][off+o*hd:off+(o+c)*hd], nk, src.ks[blk][so+o:so+o+c], nks, scale, q, c, per, hd)
		t += c
	}
	for h := range per {
		b.softmax(scores[h*m : (h+1)*m])
	}
	clear(out)
	for t := from; t < n; {
		blk, o := t/bt, t%bt
		c := min(bt-o, n-t)
		nv, nvs := nxt(src.v8, src.vs, blk)
		gk.wsumQ8(out, src.v8[blk][off+o*hd:off+(o+c)*hd], nv, src.vs[blk][so+o:so+o+c], nvs, scores[t-from:], m, c, per, hd)
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

func scoresGroupQ8Generic(s []float32, ss int, k, _ []int8, ks, _ []float32, scale float32, q []float32, c, g, hd int) {
	for t := range c {
		row, f := k[t*hd:(t+1)*hd], ks[t]*scale
		for h := range g {
			qh := q[h*hd : (h+1)*hd]
			var sum float32
			for d, x := range row {
				sum += float32(x) * qh[d]
			}
			s[h*ss+t] = sum * f
		}
	}
}

func wsumGroupQ8Generic(out []float32, v, _ []int8, vs, _ []float32, p []float32, ps, c, g, hd int) {
	for t := range c {
		row, f := v[t*hd:(t+1)*hd], vs[t]
		for h := range g {
			pt, oh := p[h*ps+t], out[h*hd:(h+1)*hd]
			for d, x := range row {
				oh[d] += pt * (f * float32(x))
			}
		}
	}
}
